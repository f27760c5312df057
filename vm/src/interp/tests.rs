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

/// A module of one snippet function `line` with `code`, plus one int
/// global `g` (= 1) and a function `helper() -> int` (pushes 7).
fn snippet_module(
    code: &[Instr],
    entry: &[Type],
) -> Result<Arc<VerifiedModule>, crate::VerifyErrors> {
    let mut bytes = Vec::new();
    for i in code {
        i.encode(&mut bytes);
    }
    let mut helper = Vec::new();
    int(7).encode(&mut helper);
    i(Opcode::Ret).encode(&mut helper);
    let m = Module {
        funcs: vec![
            Func {
                name: "helper".into(),
                ty: FuncType::new(vec![], Some(Type::Int)),
                locals: vec![],
                exported: false,
                code: helper,
            },
            Func {
                name: "line".into(),
                ty: FuncType::new(vec![], None),
                locals: vec![],
                exported: false,
                code: bytes,
            },
        ],
        globals: vec![crate::module::Global {
            name: "g".into(),
            ty: Type::Int,
            init: GlobalInit::Int(1),
        }],
        ..Module::default()
    };
    crate::verify::verify_snippet(m, 1, entry).map(Arc::new)
}

fn with(op: Opcode, operand: Operand) -> Instr {
    Instr { op, operand }
}

#[test]
fn snippets_start_with_the_given_stack_and_hand_it_back() {
    // [3, 4] -> add, call helper -> [7, 7]
    let code = [i(Opcode::Add), with(Opcode::Call, Operand::Func(0))];
    let m = snippet_module(&code, &[Type::Int, Type::Int]).expect("verifies");
    assert_eq!(m.snippet().unwrap().exit, Some(vec![Type::Int, Type::Int]));
    let mut inst = Instance::new(m, &Linker::new(), Config::default()).expect("links");
    let out = inst
        .run_snippet(&[Value::int(3), Value::int(4)])
        .expect("runs");
    assert_eq!(
        out.iter().map(|v| v.as_int()).collect::<Vec<_>>(),
        [Some(7), Some(7)]
    );
    // Wrong operands are refused, and the snippet is not callable as a function.
    assert!(inst.run_snippet(&[Value::int(3)]).is_err());
    assert!(inst.call_index(1, &[]).is_err());
}

#[test]
fn a_trapping_snippet_restores_globals() {
    // g := 5, then divide by zero.
    let code = [
        int(5),
        with(Opcode::GStore, Operand::Global(0)),
        int(1),
        int(0),
        i(Opcode::Div),
    ];
    let m = snippet_module(&code, &[]).expect("verifies");
    let mut inst = Instance::new(m, &Linker::new(), Config::default()).expect("links");
    let err = inst.run_snippet(&[]).expect_err("traps");
    assert_eq!(err.code, TrapCode::DivisionByZero);
    assert_eq!(inst.globals[0].as_int(), Some(1));
}

#[test]
fn snippets_may_not_return_or_be_called() {
    let ret = snippet_module(&[i(Opcode::Ret)], &[]).expect_err("ret refused");
    assert_eq!(ret.0[0].kind.rule(), "snippet");
    let call = snippet_module(&[with(Opcode::Call, Operand::Func(1))], &[])
        .expect_err("self call refused");
    assert_eq!(call.0[0].kind.rule(), "snippet");
    // An unreachable end has no exit stack.
    let code = [with(Opcode::Jmp, Operand::Target(0))];
    let m = snippet_module(&code, &[Type::Str]).expect("verifies");
    assert_eq!(m.snippet().unwrap().exit, None);
}

#[test]
fn replacing_the_module_keeps_globals_and_refuses_changed_ones() {
    let m = snippet_module(&[int(9), with(Opcode::GStore, Operand::Global(0))], &[]).unwrap();
    let mut inst = Instance::new(m, &Linker::new(), Config::default()).expect("links");
    inst.run_snippet(&[]).expect("runs");
    let m2 = snippet_module(&[with(Opcode::GLoad, Operand::Global(0))], &[]).unwrap();
    inst.replace_module(m2, &Linker::new())
        .expect("same globals");
    let out = inst.run_snippet(&[]).expect("runs");
    assert_eq!(out[0].as_int(), Some(9));
    let mut changed = (*inst.module().clone()).module().clone();
    changed.globals[0].ty = Type::Float;
    changed.globals[0].init = GlobalInit::Float(0.0);
    let changed = Arc::new(crate::verify::verify_snippet(changed, 1, &[]).unwrap());
    let err = inst
        .replace_module(changed, &Linker::new())
        .expect_err("retyped global");
    assert!(matches!(err[0], LinkError::GlobalChanged { .. }));
    assert_eq!(
        inst.run_snippet(&[]).expect("old module kept")[0].as_int(),
        Some(9)
    );
}

/// f(): counts a local up to `n` in a loop (one check point per iteration).
fn count_instance(n: i64, config: Config) -> Instance {
    let mut bytes = Vec::new();
    let with = |op, operand| Instr { op, operand };
    for ins in [
        with(Opcode::Load, Operand::Local(0)),
        int(1),
        i(Opcode::Add),
        with(Opcode::Store, Operand::Local(0)),
        with(Opcode::Load, Operand::Local(0)),
        int(n),
        i(Opcode::Lt),
        with(Opcode::JmpIf, Operand::Target(0)),
        i(Opcode::Ret),
    ] {
        ins.encode(&mut bytes);
    }
    let m = Module {
        funcs: vec![Func {
            name: "f".into(),
            ty: FuncType::new(vec![], None),
            locals: vec![Type::Int],
            exported: true,
            code: bytes,
        }],
        ..Module::default()
    };
    Instance::new(Arc::new(verify(m).unwrap()), &Linker::new(), config).unwrap()
}

#[test]
fn fuel_above_i64_max_runs_full_chunks() {
    // Fuel of u64::MAX once wrapped to a negative chunk: every check point
    // refuelled, and the loop ran several times slower than without fuel.
    for jit in [JitMode::Off, JitMode::On] {
        let chunks = |fuel: Option<u64>| {
            let mut inst = count_instance(
                1_000_000,
                Config {
                    fuel,
                    jit,
                    ..Config::default()
                },
            );
            inst.call_index(0, &[]).unwrap();
            let st = inst.stats();
            assert!(st.instructions > 5_000_000, "{st:?}");
            (st.chunks, st.instructions)
        };
        let unlimited = chunks(None);
        assert!(unlimited.0 < 200, "{unlimited:?}");
        for fuel in [u64::MAX, u64::MAX - 1, 1 << 63, i64::MAX as u64 + 1] {
            assert_eq!(chunks(Some(fuel)), unlimited, "fuel {fuel}, {jit:?}");
        }
        // Still charged: the tank went down by exactly the instructions run.
        let mut inst = count_instance(
            1_000,
            Config {
                fuel: Some(u64::MAX),
                jit,
                ..Config::default()
            },
        );
        inst.call_index(0, &[]).unwrap();
        assert_eq!(inst.fuel(), Some(u64::MAX - inst.stats().instructions));
    }
}
