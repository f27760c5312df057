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
    inst.check_heap();
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
    inst.check_heap();
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
    // The flag is consumed: the instance can run again (and be stopped again,
    // by an interrupt raised before the call when the host keeps it).
    inst.keep_pending_interrupt(true);
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

/// Records, function references, type tests and array literals run under
/// checked mode (the verifier's proved types asserted at every op) and GC
/// stress (a collection at every allocation), as a hostile plugin would
/// use them.
mod records {
    use std::collections::HashMap;
    use std::sync::Arc;

    use crate::api::{CallError, Val};
    use crate::isa::{ArrayLit, Instr, Opcode, Operand};
    use crate::module::{Func, Global, GlobalInit, Import, Module, RecordDef};
    use crate::types::{FuncType, KeyType, Type};
    use crate::value::Value;
    use crate::verify::verify;
    use crate::{Config, Instance, Linker, TrapCode};

    enum It {
        I(Instr),
        L(&'static str),
        J(Opcode, &'static str),
    }

    fn i(op: Opcode) -> It {
        It::I(Instr::simple(op))
    }

    fn w(op: Opcode, operand: Operand) -> It {
        It::I(Instr { op, operand })
    }

    fn int(v: i64) -> It {
        w(Opcode::PushInt, Operand::Int(v))
    }

    fn load(l: u32) -> It {
        w(Opcode::Load, Operand::Local(l))
    }

    fn store(l: u32) -> It {
        w(Opcode::Store, Operand::Local(l))
    }

    fn asm(items: &[It]) -> Vec<u8> {
        let mut labels = HashMap::new();
        let mut off = 0;
        let mut buf = Vec::new();
        for it in items {
            buf.clear();
            match it {
                It::I(ins) => ins.encode(&mut buf),
                It::L(name) => {
                    labels.insert(*name, off as u32);
                }
                It::J(op, _) => Instr {
                    op: *op,
                    operand: Operand::Target(0),
                }
                .encode(&mut buf),
            }
            off += buf.len();
        }
        let mut out = Vec::new();
        for it in items {
            match it {
                It::I(ins) => ins.encode(&mut out),
                It::L(_) => {}
                It::J(op, l) => Instr {
                    op: *op,
                    operand: Operand::Target(labels[l]),
                }
                .encode(&mut out),
            }
        }
        out
    }

    fn body() -> Type {
        Type::record("Body")
    }

    fn node() -> Type {
        Type::record("Node")
    }

    fn int_fn() -> Type {
        Type::func(FuncType::new(vec![Type::Int], Some(Type::Int)))
    }

    const BODY: u32 = 0;
    const NODE: u32 = 1;
    const PAIR: u32 = 2;
    const BODY_X: Operand = Operand::Field(BODY, 0);
    const NODE_LEFT: Operand = Operand::Field(NODE, 0);
    const NODE_V: Operand = Operand::Field(NODE, 1);

    /// The functions of the test module, by name: (params, result,
    /// locals, code).
    type Def = (&'static str, Vec<Type>, Option<Type>, Vec<Type>, Vec<It>);

    fn defs() -> Vec<Def> {
        let any = || vec![Type::Any];
        let test = |ty: Type| vec![load(0), w(Opcode::Is, Operand::Type(ty)), i(Opcode::Ret)];
        vec![
            ("is_body", any(), Some(Type::Bool), vec![], test(body())),
            ("is_any", any(), Some(Type::Bool), vec![], test(Type::Any)),
            ("is_int_fn", any(), Some(Type::Bool), vec![], test(int_fn())),
            (
                "is_nil",
                any(),
                Some(Type::Bool),
                vec![],
                vec![load(0), i(Opcode::IsNil), i(Opcode::Ret)],
            ),
            (
                "cast_body",
                any(),
                Some(body()),
                vec![],
                vec![
                    load(0),
                    w(Opcode::Cast, Operand::Type(body())),
                    i(Opcode::Ret),
                ],
            ),
            (
                "cast_int_fn",
                any(),
                Some(int_fn()),
                vec![],
                vec![
                    load(0),
                    w(Opcode::Cast, Operand::Type(int_fn())),
                    i(Opcode::Ret),
                ],
            ),
            (
                "make_body",
                vec![Type::Int],
                Some(Type::Any),
                vec![],
                vec![
                    load(0),
                    w(Opcode::RecNew, Operand::Record(BODY)),
                    i(Opcode::Ret),
                ],
            ),
            (
                "twice",
                vec![Type::Int],
                Some(Type::Int),
                vec![],
                vec![load(0), load(0), i(Opcode::Add), i(Opcode::Ret)],
            ),
            (
                "shout",
                vec![Type::Str],
                Some(Type::Str),
                vec![],
                vec![load(0), i(Opcode::Ret)],
            ),
            (
                "ref_twice",
                vec![],
                Some(int_fn()),
                vec![],
                vec![w(Opcode::FnRef, Operand::Func(7)), i(Opcode::Ret)],
            ),
            (
                "ref_shout",
                vec![],
                Some(Type::Any),
                vec![],
                vec![w(Opcode::FnRef, Operand::Func(8)), i(Opcode::Ret)],
            ),
            (
                "ref_triple",
                vec![],
                Some(int_fn()),
                vec![],
                // The first import: callee index = number of functions.
                vec![w(Opcode::FnRef, Operand::Func(FUNCS)), i(Opcode::Ret)],
            ),
            (
                "apply",
                vec![int_fn(), Type::Int],
                Some(Type::Int),
                vec![],
                vec![load(1), load(0), i(Opcode::CallRef), i(Opcode::Ret)],
            ),
            (
                "eq_any",
                vec![Type::Any, Type::Any],
                Some(Type::Bool),
                vec![],
                vec![load(0), load(1), i(Opcode::Eq), i(Opcode::Ret)],
            ),
            (
                "eq_node",
                vec![node(), node()],
                Some(Type::Bool),
                vec![],
                vec![load(0), load(1), i(Opcode::Eq), i(Opcode::Ret)],
            ),
            (
                "get_nil",
                vec![],
                Some(Type::Int),
                vec![],
                vec![
                    i(Opcode::PushNil),
                    w(Opcode::RecGet, BODY_X),
                    i(Opcode::Ret),
                ],
            ),
            (
                "set_nil",
                vec![node()],
                None,
                vec![],
                vec![load(0), int(5), w(Opcode::RecSet, NODE_V), i(Opcode::Ret)],
            ),
            (
                "call_nil",
                vec![],
                Some(Type::Int),
                vec![],
                vec![
                    int(1),
                    w(Opcode::GLoad, Operand::Global(0)),
                    i(Opcode::CallRef),
                    i(Opcode::Ret),
                ],
            ),
            (
                "list_sum",
                vec![Type::Int],
                Some(Type::Int),
                vec![Type::Int, Type::Int, Type::Str],
                list_sum(),
            ),
            (
                "cycle",
                vec![],
                Some(node()),
                vec![],
                vec![
                    i(Opcode::PushNil),
                    int(1),
                    w(Opcode::RecNew, Operand::Record(NODE)),
                    i(Opcode::Dup),
                    i(Opcode::Dup),
                    w(Opcode::RecSet, NODE_LEFT),
                    i(Opcode::Ret),
                ],
            ),
            (
                "dag",
                vec![Type::Int],
                Some(Type::record("Pair")),
                vec![],
                dag(),
            ),
            (
                "node_v",
                vec![node()],
                Some(Type::Int),
                vec![],
                vec![load(0), w(Opcode::RecGet, NODE_V), i(Opcode::Ret)],
            ),
            (
                "fresh_literal",
                vec![],
                Some(Type::Str),
                vec![],
                fresh_literal(),
            ),
            (
                "global_literal",
                vec![],
                Some(Type::Int),
                vec![],
                vec![
                    w(Opcode::GLoad, Operand::Global(1)),
                    int(2),
                    i(Opcode::ArrayGet),
                    i(Opcode::Ret),
                ],
            ),
            (
                "in_containers",
                vec![],
                Some(Type::Int),
                vec![
                    node(),
                    Type::array(node()),
                    Type::map(KeyType::Str, node()),
                    Type::Any,
                ],
                in_containers(),
            ),
        ]
    }

    const FUNCS: u32 = 25;

    /// Builds a list of n nodes on the operand stack (the loop head is
    /// reached with `nil` first, then with a Node), allocating garbage at
    /// every step, then sums it walking the `left` fields.
    fn list_sum() -> Vec<It> {
        let garbage = || {
            vec![
                w(Opcode::PushStr, Operand::Str(0)),
                w(Opcode::PushStr, Operand::Str(1)),
                i(Opcode::Concat),
                store(3),
            ]
        };
        let mut code = vec![i(Opcode::PushNil), It::L("build")];
        code.extend([
            load(1),
            load(0),
            i(Opcode::Lt),
            It::J(Opcode::JmpIfNot, "walk"),
        ]);
        code.extend(garbage());
        code.extend([
            load(1),
            w(Opcode::RecNew, Operand::Record(NODE)),
            load(1),
            int(1),
            i(Opcode::Add),
            store(1),
            It::J(Opcode::Jmp, "build"),
            It::L("walk"),
            i(Opcode::Dup),
            i(Opcode::IsNil),
            It::J(Opcode::JmpIf, "done"),
        ]);
        code.extend(garbage());
        code.extend([
            i(Opcode::Dup),
            w(Opcode::RecGet, NODE_V),
            load(2),
            i(Opcode::Add),
            store(2),
            w(Opcode::RecGet, NODE_LEFT),
            It::J(Opcode::Jmp, "walk"),
            It::L("done"),
            i(Opcode::Pop),
            load(2),
            i(Opcode::Ret),
        ]);
        code
    }

    /// p = nil; n times: p = Pair{a: p, b: p}: 2^n paths to the bottom.
    fn dag() -> Vec<It> {
        vec![
            i(Opcode::PushNil),
            It::L("loop"),
            load(0),
            int(0),
            i(Opcode::Gt),
            It::J(Opcode::JmpIfNot, "done"),
            i(Opcode::Dup),
            w(Opcode::RecNew, Operand::Record(PAIR)),
            load(0),
            int(1),
            i(Opcode::Sub),
            store(0),
            It::J(Opcode::Jmp, "loop"),
            It::L("done"),
            i(Opcode::Ret),
        ]
    }

    /// Each `push ["a", "b"]` is a new array: writing one leaves the next
    /// untouched.
    fn fresh_literal() -> Vec<It> {
        let lit = || {
            w(
                Opcode::PushArray,
                Operand::ArrayLit(ArrayLit::Str(vec![0, 1])),
            )
        };
        vec![
            lit(),
            int(0),
            w(Opcode::PushStr, Operand::Str(2)),
            i(Opcode::ArraySet),
            lit(),
            int(0),
            i(Opcode::ArrayGet),
            i(Opcode::Ret),
        ]
    }

    /// A Node stored in an array<Node>, a map<str,Node> and an any, read
    /// back through each: 3 * 7.
    fn in_containers() -> Vec<It> {
        vec![
            i(Opcode::PushNil),
            int(7),
            w(Opcode::RecNew, Operand::Record(NODE)),
            store(0),
            w(
                Opcode::PushArray,
                Operand::ArrayLit(ArrayLit::empty(node())),
            ),
            store(1),
            load(1),
            load(0),
            i(Opcode::ArrayPush),
            w(Opcode::MapNew, Operand::MapTypes(KeyType::Str, node())),
            store(2),
            load(2),
            w(Opcode::PushStr, Operand::Str(0)),
            load(0),
            i(Opcode::MapSet),
            load(0),
            store(3),
            load(3),
            w(Opcode::Cast, Operand::Type(node())),
            w(Opcode::RecGet, NODE_V),
            load(1),
            int(0),
            i(Opcode::ArrayGet),
            w(Opcode::RecGet, NODE_V),
            i(Opcode::Add),
            load(2),
            w(Opcode::PushStr, Operand::Str(0)),
            i(Opcode::MapGet),
            w(Opcode::RecGet, NODE_V),
            i(Opcode::Add),
            i(Opcode::Ret),
        ]
    }

    fn module() -> Module {
        let pair = Type::record("Pair");
        let funcs: Vec<Func> = defs()
            .into_iter()
            .map(|(name, params, result, locals, code)| Func {
                name: name.into(),
                ty: FuncType::new(params, result),
                locals,
                exported: true,
                code: asm(&code),
            })
            .collect();
        assert_eq!(funcs.len(), FUNCS as usize);
        Module {
            strings: vec!["a".into(), "b".into(), "z".into()],
            records: vec![
                RecordDef {
                    name: "Body".into(),
                    fields: vec![("x".into(), Type::Int)],
                },
                RecordDef {
                    name: "Node".into(),
                    fields: vec![("left".into(), node()), ("v".into(), Type::Int)],
                },
                RecordDef {
                    name: "Pair".into(),
                    fields: vec![("a".into(), pair.clone()), ("b".into(), pair)],
                },
            ],
            imports: vec![Import {
                name: "host.triple".into(),
                ty: FuncType::new(vec![Type::Int], Some(Type::Int)),
            }],
            globals: vec![
                Global {
                    name: "f".into(),
                    ty: int_fn(),
                    init: GlobalInit::Default,
                },
                Global {
                    name: "t".into(),
                    ty: Type::array(Type::Int),
                    init: GlobalInit::Array(ArrayLit::Int(vec![10, 20, 30])),
                },
            ],
            funcs,
            ..Module::default()
        }
    }

    fn instance() -> Instance {
        let mut l = Linker::new();
        l.func("host.triple", |n: i64| -> Result<i64, String> { Ok(3 * n) });
        let config = Config {
            checked: true,
            gc_stress: true,
            ..Config::default()
        };
        Instance::new(Arc::new(verify(module()).expect("verifies")), &l, config).expect("links")
    }

    fn index(name: &str) -> usize {
        defs().iter().position(|d| d.0 == name).unwrap()
    }

    fn call(inst: &mut Instance, name: &str, args: &[Value]) -> Result<Option<Value>, crate::Trap> {
        let r = inst.call_index(index(name), args);
        inst.check_heap();
        r
    }

    fn value(inst: &mut Instance, name: &str, args: &[Value]) -> Value {
        call(inst, name, args).unwrap().unwrap()
    }

    fn yes(inst: &mut Instance, name: &str, v: Value) -> bool {
        value(inst, name, &[v]).as_bool().unwrap()
    }

    #[test]
    fn nil_references_trap_with_what_was_accessed() {
        let mut inst = instance();
        for (name, args, msg) in [
            ("get_nil", vec![], "nil reference: Body.x"),
            ("set_nil", vec![Value::NIL], "nil reference: Node.v"),
            ("call_nil", vec![], "nil reference: call.ref"),
        ] {
            let t = call(&mut inst, name, &args).unwrap_err();
            assert_eq!((t.code, t.message.as_str()), (TrapCode::NilReference, msg));
        }
        // The instance stays usable.
        let f = value(&mut inst, "ref_twice", &[]);
        assert_eq!(
            value(&mut inst, "apply", &[f, Value::int(21)]).as_int(),
            Some(42)
        );
    }

    #[test]
    fn type_tests_of_nil_records_and_references() {
        let mut inst = instance();
        let b = value(&mut inst, "make_body", &[Value::int(1)]);
        let twice = value(&mut inst, "ref_twice", &[]);
        let shout = value(&mut inst, "ref_shout", &[]);
        let triple = value(&mut inst, "ref_triple", &[]);
        // (value, is Body, is any, isnil, is fn(int) -> int)
        for (v, want) in [
            (Value::NIL, [false, true, true, false]),
            (b, [true, true, false, false]),
            (twice, [false, true, false, true]),
            (triple, [false, true, false, true]),
            (shout, [false, true, false, false]),
            (Value::int(3), [false, true, false, false]),
        ] {
            let got = ["is_body", "is_any", "is_nil", "is_int_fn"].map(|f| yes(&mut inst, f, v));
            assert_eq!(got, want, "{}", inst.display(v));
        }
        // `cast Body` of nil succeeds and gives nil; of a Body, the Body.
        assert!(value(&mut inst, "cast_body", &[Value::NIL]).is_nil());
        assert_eq!(value(&mut inst, "cast_body", &[b]).bits, b.bits);
        assert!(value(&mut inst, "cast_int_fn", &[Value::NIL]).is_nil());
        assert_eq!(value(&mut inst, "cast_int_fn", &[triple]).bits, triple.bits);
        for (f, v, found) in [
            ("cast_body", twice, "fn(int) -> int"),
            ("cast_body", Value::int(3), "int"),
            ("cast_int_fn", shout, "fn(str) -> str"),
            ("cast_int_fn", b, "Body"),
        ] {
            let t = call(&mut inst, f, &[v]).unwrap_err();
            assert_eq!(t.code, TrapCode::TypeError, "{t}");
            assert!(t.message.ends_with(&format!("found {found}")), "{t}");
        }
    }

    #[test]
    fn equality_is_identity_for_records_and_callee_for_references() {
        let mut inst = instance();
        // Held: under GC stress, making the next one collects unrooted ones.
        let mut held = Vec::new();
        let mut make = |inst: &mut Instance, name: &str, args: &[Value]| {
            let v = value(inst, name, args);
            held.push(inst.hold(v));
            v
        };
        let a = make(&mut inst, "make_body", &[Value::int(1)]);
        let b = make(&mut inst, "make_body", &[Value::int(1)]);
        let n = make(&mut inst, "cycle", &[]);
        let f1 = value(&mut inst, "ref_twice", &[]);
        let f2 = value(&mut inst, "ref_twice", &[]);
        let g = value(&mut inst, "ref_triple", &[]);
        for (x, y, want) in [
            (a, a, true),
            (a, b, false),
            (a, Value::NIL, false),
            (Value::NIL, Value::NIL, true),
            (f1, f2, true),
            (f1, g, false),
            (f1, Value::NIL, false),
            // Object and callee indices may coincide: tags differ.
            (a, Value::func_ref(a.obj()), false),
        ] {
            let r = value(&mut inst, "eq_any", &[x, y]).as_bool();
            assert_eq!(r, Some(want), "{} == {}", inst.display(x), inst.display(y));
        }
        for (x, y, want) in [
            (n, n, true),
            (n, Value::NIL, false),
            (Value::NIL, Value::NIL, true),
        ] {
            assert_eq!(value(&mut inst, "eq_node", &[x, y]).as_bool(), Some(want));
        }
    }

    #[test]
    fn call_ref_reaches_module_functions_and_imports() {
        let mut inst = instance();
        let twice = value(&mut inst, "ref_twice", &[]);
        let triple = value(&mut inst, "ref_triple", &[]);
        assert_eq!(
            value(&mut inst, "apply", &[twice, Value::int(5)]).as_int(),
            Some(10)
        );
        assert_eq!(
            value(&mut inst, "apply", &[triple, Value::int(5)]).as_int(),
            Some(15)
        );
        assert_eq!(inst.display(twice), "<fn twice>");
        assert_eq!(inst.display(triple), "<fn host.triple>");
    }

    #[test]
    fn records_reachable_only_through_fields_survive_collections() {
        let mut inst = instance();
        let n = 300;
        assert_eq!(
            value(&mut inst, "list_sum", &[Value::int(n)]).as_int(),
            Some(n * (n - 1) / 2)
        );
        assert!(
            inst.gc_stats().collections > 2 * n as u64,
            "{:?}",
            inst.gc_stats()
        );
    }

    #[test]
    fn cyclic_records_display_cut_and_copy_out_bounded() {
        let mut inst = instance();
        let n = value(&mut inst, "cycle", &[]);
        assert_eq!(inst.display(n), "Node{left: Node{...}, v: 1}");
        // Copied out, the cycle is cut at the nesting limit.
        let Ok(Some(v)) = inst.call("cycle", &[]) else {
            panic!("cycle copies out");
        };
        let mut depth = 0;
        let mut at = &v;
        while let Val::Record(name, fields) = at {
            assert_eq!(name, "Node");
            depth += 1;
            at = &fields[0].1;
        }
        assert_eq!(*at, Val::Nil);
        assert!(depth <= crate::MAX_VAL_DEPTH + 1, "{depth}");
        // 2^40 paths through 40 shared records: refused, not copied.
        let r = inst.call("dag", &[Val::Int(40)]);
        assert!(matches!(r, Err(CallError::TooLarge { .. })), "{r:?}");
        let d = value(&mut inst, "dag", &[Value::int(2)]);
        assert_eq!(
            inst.display(d),
            "Pair{a: Pair{a: nil, b: nil}, b: Pair{a: nil, b: nil}}"
        );
    }

    #[test]
    fn records_and_references_cross_to_and_from_the_host() {
        let mut inst = instance();
        let node = |left: Val, v: i64| {
            Val::Record(
                "Node".into(),
                vec![("left".into(), left), ("v".into(), Val::Int(v))],
            )
        };
        let two = node(node(Val::Nil, 1), 2);
        assert_eq!(inst.call("node_v", &[two]).unwrap(), Some(Val::Int(2)));
        assert_eq!(
            inst.call("node_v", &[Val::Nil]).map_err(|e| e.to_string()),
            Err("nil reference: Node.v".into())
        );
        // Wrong record, wrong field order, wrong field type: refused.
        let body = Val::Record("Body".into(), vec![("x".into(), Val::Int(1))]);
        assert!(inst.call("node_v", &[body]).is_err());
        let swapped = Val::Record(
            "Node".into(),
            vec![("v".into(), Val::Int(1)), ("left".into(), Val::Nil)],
        );
        assert!(inst.call("node_v", &[swapped]).is_err());
        let bad = node(Val::Int(3), 1);
        assert!(inst.call("node_v", &[bad]).is_err());
        // A reference comes out and goes back in.
        let Ok(Some(Val::Func(f))) = inst.call("ref_triple", &[]) else {
            panic!("a reference");
        };
        assert_eq!(f.name(), "host.triple");
        let r = inst.call("apply", &[Val::Func(f), Val::Int(4)]);
        assert_eq!(r.unwrap(), Some(Val::Int(12)));
    }

    #[test]
    fn array_literals_are_fresh_arrays_and_globals_start_with_theirs() {
        let mut inst = instance();
        let s = value(&mut inst, "fresh_literal", &[]);
        assert_eq!(inst.display(s), "a");
        assert_eq!(value(&mut inst, "global_literal", &[]).as_int(), Some(30));
        assert_eq!(value(&mut inst, "in_containers", &[]).as_int(), Some(21));
    }
}

/// A module edit that changes the signature of a function some code took a
/// `fn.ref` to is refused: references typed by the old signature may be
/// stored anywhere, and calling one would pass the old argument types (an
/// int read as a string: a host panic before this rule).
#[test]
fn an_edit_cannot_retype_a_referenced_function() {
    use crate::interp::edit::EditError;
    use crate::module::FuncDebug;
    use crate::verify::ModuleEdit;
    let enc = |code: &[Instr]| {
        let mut out = Vec::new();
        for ins in code {
            ins.encode(&mut out);
        }
        out
    };
    let func = |name: &str, params: Vec<Type>, result: Type, code: &[Instr]| Func {
        name: name.into(),
        ty: FuncType::new(params, Some(result)),
        locals: vec![],
        exported: true,
        code: enc(code),
    };
    let load0 = Instr {
        op: Opcode::Load,
        operand: Operand::Local(0),
    };
    let ret = i(Opcode::Ret);
    let id = |name: &str| {
        func(
            name,
            vec![Type::Int],
            Type::Int,
            &[load0.clone(), ret.clone()],
        )
    };
    let caller = func(
        "g",
        vec![],
        Type::Int,
        &[
            int(12345),
            Instr {
                op: Opcode::FnRef,
                operand: Operand::Func(0),
            },
            i(Opcode::CallRef),
            ret.clone(),
        ],
    );
    let m = Module {
        funcs: vec![id("f"), caller, id("h")],
        ..Module::default()
    };
    let config = Config {
        checked: true,
        ..Config::default()
    };
    let mut inst = Instance::new(Arc::new(verify(m).unwrap()), &Linker::new(), config).unwrap();
    assert_eq!(
        inst.call_index(1, &[]).unwrap().unwrap().as_int(),
        Some(12345)
    );
    let concat = |name: &str| {
        func(
            name,
            vec![Type::Str],
            Type::Str,
            &[load0.clone(), load0.clone(), i(Opcode::Concat), ret.clone()],
        )
    };
    let edit = |i: usize, f: Func| ModuleEdit {
        funcs: vec![(i, f, FuncDebug::default())],
        ..ModuleEdit::default()
    };
    match inst.edit_module(edit(0, concat("f")), &Linker::new()) {
        Err(EditError::Verify(e)) => assert!(e.to_string().contains("fn.ref"), "{e}"),
        other => panic!("the edit went through: {other:?}"),
    }
    assert_eq!(
        inst.call_index(1, &[]).unwrap().unwrap().as_int(),
        Some(12345)
    );
    // Same signature: fine. An unreferenced function may change its own.
    let twice = func(
        "f",
        vec![Type::Int],
        Type::Int,
        &[load0.clone(), load0.clone(), i(Opcode::Add), ret.clone()],
    );
    inst.edit_module(edit(0, twice), &Linker::new()).unwrap();
    assert_eq!(
        inst.call_index(1, &[]).unwrap().unwrap().as_int(),
        Some(24690)
    );
    inst.edit_module(edit(2, concat("h")), &Linker::new())
        .unwrap();
    // A reference taken by code an edit brings counts from then on.
    let takes_h = func(
        "g",
        vec![],
        Type::Str,
        &[
            Instr {
                op: Opcode::FnRef,
                operand: Operand::Func(2),
            },
            i(Opcode::Pop),
            Instr {
                op: Opcode::PushStr,
                operand: Operand::Str(0),
            },
            ret.clone(),
        ],
    );
    let mut e = edit(1, takes_h);
    e.strings = vec!["s".into()];
    inst.edit_module(e, &Linker::new()).unwrap();
    assert!(inst.edit_module(edit(2, id("h")), &Linker::new()).is_err());
}

/// Replacing the module must not change a record type or, once code took
/// a function reference, any callee: a record or reference stored in a
/// global would be read by the new code with the new layout or signature
/// (an out-of-bounds field index or a payload of the wrong type: before
/// the check, the first probe's `rec.get` panicked the host).
#[test]
fn replace_module_keeps_records_and_referenced_callees() {
    use crate::isa::{Instr, Opcode, Operand};
    use crate::module::{Func, Global, GlobalInit, Module, RecordDef};
    use crate::types::{FuncType, Type};
    fn code(v: &[Instr]) -> Vec<u8> {
        let mut o = Vec::new();
        for i in v {
            i.encode(&mut o);
        }
        o
    }
    let push = |v: i64| Instr {
        op: Opcode::PushInt,
        operand: Operand::Int(v),
    };
    let module = |field: Type, result: Type, body: Vec<Instr>| Module {
        strings: vec!["s".into()],
        records: vec![RecordDef {
            name: "Body".into(),
            fields: vec![("x".into(), field)],
        }],
        globals: vec![Global {
            name: "g".into(),
            ty: Type::record("Body"),
            init: GlobalInit::Nil,
        }],
        funcs: vec![Func {
            name: "f".into(),
            ty: FuncType::new(vec![], Some(result)),
            locals: vec![],
            exported: true,
            code: code(&body),
        }],
        ..Module::default()
    };
    let store = vec![
        push(777),
        Instr {
            op: Opcode::RecNew,
            operand: Operand::Record(0),
        },
        Instr {
            op: Opcode::GStore,
            operand: Operand::Global(0),
        },
        push(0),
        Instr::simple(Opcode::Ret),
    ];
    let m1 = module(Type::Int, Type::Int, store.clone());
    let mut inst = Instance::new(
        Arc::new(crate::verify(m1).unwrap()),
        &Linker::new(),
        Config::default(),
    )
    .unwrap();
    inst.call_index(0, &[]).unwrap();
    let m2 = module(
        Type::Str,
        Type::Int,
        vec![push(0), Instr::simple(Opcode::Ret)],
    );
    let err = inst
        .replace_module(Arc::new(crate::verify(m2).unwrap()), &Linker::new())
        .unwrap_err();
    assert!(
        matches!(&err[..], [LinkError::RecordChanged { name }] if name == "Body"),
        "{err:?}"
    );
    // The same records, and no references taken: the function may change.
    let m3 = module(
        Type::Int,
        Type::Bool,
        vec![
            Instr {
                op: Opcode::PushBool,
                operand: Operand::Bool(true),
            },
            Instr::simple(Opcode::Ret),
        ],
    );
    inst.replace_module(Arc::new(crate::verify(m3).unwrap()), &Linker::new())
        .unwrap();
    // Once a module takes `fn.ref`, callees keep their signatures.
    let mut refs = module(
        Type::Int,
        Type::Bool,
        vec![
            Instr {
                op: Opcode::FnRef,
                operand: Operand::Func(0),
            },
            Instr::simple(Opcode::Pop),
            Instr {
                op: Opcode::PushBool,
                operand: Operand::Bool(true),
            },
            Instr::simple(Opcode::Ret),
        ],
    );
    inst.replace_module(
        Arc::new(crate::verify(refs.clone()).unwrap()),
        &Linker::new(),
    )
    .unwrap();
    refs.funcs[0].ty = FuncType::new(vec![], Some(Type::Int));
    refs.funcs[0].code = code(&[push(1), Instr::simple(Opcode::Ret)]);
    let err = inst
        .replace_module(Arc::new(crate::verify(refs).unwrap()), &Linker::new())
        .unwrap_err();
    assert!(
        matches!(&err[..], [LinkError::CalleeChanged { name }] if name == "f"),
        "{err:?}"
    );
}
