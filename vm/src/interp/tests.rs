use super::*;
use crate::isa::{Instr, Opcode, Operand};
use crate::module::{Func, Module};
use crate::types::FuncType;
use crate::verify::verify;

fn run(
    params: Vec<Type>,
    result: Option<Type>,
    locals: Vec<Type>,
    code: &[Instr],
    args: &[Value],
    config: Config,
) -> Result<Option<Value>, Trap> {
    let mut bytes = Vec::new();
    for i in code {
        i.encode(&mut bytes);
    }
    let m = Module {
        funcs: vec![Func {
            name: "f".into(),
            ty: FuncType::new(params, result),
            locals,
            exported: true,
            code: bytes,
        }],
        ..Module::default()
    };
    let v = Arc::new(verify(m).expect("verifies"));
    let mut inst = Instance::new(v, &Linker::new(), config).expect("links");
    let r = inst.call_index(0, args);
    inst.heap.check();
    r
}

fn i(op: Opcode) -> Instr {
    Instr::simple(op)
}

fn int(v: i64) -> Instr {
    Instr {
        op: Opcode::PushInt,
        operand: Operand::Int(v),
    }
}

#[test]
fn int_arithmetic_wraps_and_divides_toward_zero() {
    let r = run(
        vec![],
        Some(Type::Int),
        vec![],
        &[int(i64::MAX), int(1), i(Opcode::Add), i(Opcode::Ret)],
        &[],
        Config::default(),
    );
    assert_eq!(r.unwrap().unwrap().as_int(), Some(i64::MIN));
    let r = run(
        vec![],
        Some(Type::Int),
        vec![],
        &[int(-7), int(2), i(Opcode::Div), i(Opcode::Ret)],
        &[],
        Config::default(),
    );
    assert_eq!(r.unwrap().unwrap().as_int(), Some(-3));
    let r = run(
        vec![],
        Some(Type::Int),
        vec![],
        &[int(1), int(0), i(Opcode::Rem), i(Opcode::Ret)],
        &[],
        Config::default(),
    );
    let t = r.unwrap_err();
    assert_eq!(t.code, TrapCode::DivisionByZero);
    assert_eq!(t.backtrace.len(), 1);
    assert_eq!(t.backtrace[0].offset, 2 + 2);
}

#[test]
fn recursion_hits_the_depth_limit_cleanly() {
    // f(n) = f(n)  (infinite recursion)
    let code = [
        Instr {
            op: Opcode::Load,
            operand: Operand::Local(0),
        },
        Instr {
            op: Opcode::Call,
            operand: Operand::Func(0),
        },
        i(Opcode::Ret),
    ];
    let config = Config {
        max_call_depth: 1000,
        ..Config::default()
    };
    let t = run(
        vec![Type::Int],
        Some(Type::Int),
        vec![],
        &code,
        &[Value::int(1)],
        config,
    )
    .unwrap_err();
    assert_eq!(t.code, TrapCode::StackOverflow);
    assert_eq!(t.message, "stack overflow: call depth limit 1000 exceeded");
    assert_eq!(t.backtrace.len() + t.omitted_frames, 1001);
    assert_eq!(
        t.backtrace.len(),
        crate::trap::TRACE_HEAD + crate::trap::TRACE_TAIL
    );
}

#[test]
fn huge_array_is_out_of_memory_not_an_abort() {
    let code = [
        int(1 << 60),
        int(0),
        i(Opcode::ArrayNew),
        i(Opcode::Pop),
        i(Opcode::Ret),
    ];
    let config = Config {
        max_heap_bytes: 1 << 20,
        ..Config::default()
    };
    let t = run(vec![], None, vec![], &code, &[], config).unwrap_err();
    assert_eq!(
        t.message,
        format!("out of memory: heap limit of {} bytes exceeded", 1 << 20)
    );
}

#[test]
fn gc_stress_keeps_live_objects() {
    // a = array.new 0 ""; loop 100 times: push (concat "x" "y"); ret len
    let code = [
        int(0),
        Instr {
            op: Opcode::PushStr,
            operand: Operand::Str(0),
        },
        i(Opcode::ArrayNew),
        Instr {
            op: Opcode::Store,
            operand: Operand::Local(0),
        },
        Instr {
            op: Opcode::Load,
            operand: Operand::Local(0),
        },
        i(Opcode::ArrayLen),
        i(Opcode::Ret),
    ];
    let mut bytes = Vec::new();
    for c in &code {
        c.encode(&mut bytes);
    }
    let m = Module {
        strings: vec!["s".into()],
        funcs: vec![Func {
            name: "f".into(),
            ty: FuncType::new(vec![], Some(Type::Int)),
            locals: vec![Type::array(Type::Str)],
            exported: true,
            code: bytes,
        }],
        ..Module::default()
    };
    let v = Arc::new(verify(m).unwrap());
    let mut inst = Instance::new(
        v,
        &Linker::new(),
        Config {
            gc_stress: true,
            ..Config::default()
        },
    )
    .unwrap();
    assert_eq!(inst.call_index(0, &[]).unwrap().unwrap().as_int(), Some(0));
    inst.heap.check();
}

fn spin_instance(config: Config) -> Instance {
    // f(): loop forever
    let mut bytes = Vec::new();
    Instr {
        op: Opcode::Jmp,
        operand: Operand::Target(0),
    }
    .encode(&mut bytes);
    let m = Module {
        funcs: vec![Func {
            name: "f".into(),
            ty: FuncType::new(vec![], None),
            locals: vec![],
            exported: true,
            code: bytes,
        }],
        ..Module::default()
    };
    Instance::new(Arc::new(verify(m).unwrap()), &Linker::new(), config).unwrap()
}

#[test]
fn fuel_is_instance_state_that_the_host_reads_and_refills() {
    let mut inst = spin_instance(Config {
        fuel: Some(50_000),
        ..Config::default()
    });
    let t = inst.call_index(0, &[]).unwrap_err();
    assert_eq!(t.code, TrapCode::OutOfFuel);
    assert_eq!(inst.fuel(), Some(0));
    let used = inst.stats().instructions;
    assert!((50_000..50_010).contains(&used), "used {used}");
    // Out of fuel stays out of fuel until the host adds some.
    assert_eq!(
        inst.call_index(0, &[]).unwrap_err().code,
        TrapCode::OutOfFuel
    );
    inst.add_fuel(1_000);
    assert_eq!(
        inst.call_index(0, &[]).unwrap_err().code,
        TrapCode::OutOfFuel
    );
    assert_eq!(inst.fuel(), Some(0));
    // Same input, same fuel: deterministic.
    let mut again = spin_instance(Config {
        fuel: Some(50_000),
        ..Config::default()
    });
    let _ = again.call_index(0, &[]);
    assert_eq!(again.stats().instructions, used);
}

#[test]
fn interrupt_from_another_thread_stops_a_runaway_loop() {
    let mut inst = spin_instance(Config::default());
    let handle = inst.interrupt_handle();
    let t0 = std::time::Instant::now();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        handle.interrupt_with("host said stop");
    });
    let t = inst.call_index(0, &[]).unwrap_err();
    stopper.join().unwrap();
    assert_eq!(t.code, TrapCode::Interrupted);
    assert_eq!(t.message, "interrupted: host said stop");
    // Not a timing assertion: just report how long it took.
    eprintln!("interrupted after {:?}", t0.elapsed());
    // The flag is consumed: the instance can run again (and be stopped again).
    let handle = inst.interrupt_handle();
    handle.interrupt();
    assert_eq!(inst.call_index(0, &[]).unwrap_err().message, "interrupted");
}
