use std::sync::Arc;

use super::*;
use crate::isa::{Instr, Opcode, Operand};
use crate::module::{Func, Import, Module};
use crate::verify::verify;
use crate::{Config, FuncType, Trap, TrapCode, Value};

fn code(instrs: &[Instr]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in instrs {
        i.encode(&mut out);
    }
    out
}

fn load(i: u32) -> Instr {
    Instr {
        op: Opcode::Load,
        operand: Operand::Local(i),
    }
}

/// add(a, b) = a + b (exported); secret() (not exported);
/// echo(x: any) -> any; twice_via_host(n) = host.twice(n).
fn instance(linker: &Linker) -> Instance {
    let m = Module {
        imports: vec![Import {
            name: "host.twice".into(),
            ty: FuncType::new(vec![Type::Int], Some(Type::Int)),
        }],
        funcs: vec![
            Func {
                name: "add".into(),
                ty: FuncType::new(vec![Type::Int, Type::Int], Some(Type::Int)),
                locals: vec![],
                exported: true,
                code: code(&[
                    load(0),
                    load(1),
                    Instr::simple(Opcode::Add),
                    Instr::simple(Opcode::Ret),
                ]),
            },
            Func {
                name: "secret".into(),
                ty: FuncType::default(),
                locals: vec![],
                exported: false,
                code: code(&[Instr::simple(Opcode::Ret)]),
            },
            Func {
                name: "echo".into(),
                ty: FuncType::new(vec![Type::Any], Some(Type::Any)),
                locals: vec![],
                exported: true,
                code: code(&[load(0), Instr::simple(Opcode::Ret)]),
            },
            Func {
                name: "twice_via_host".into(),
                ty: FuncType::new(vec![Type::Int], Some(Type::Int)),
                locals: vec![],
                exported: true,
                code: code(&[
                    load(0),
                    Instr {
                        op: Opcode::Call,
                        operand: Operand::Func(4),
                    },
                    Instr::simple(Opcode::Ret),
                ]),
            },
        ],
        ..Module::default()
    };
    Instance::new(Arc::new(verify(m).unwrap()), linker, Config::default()).unwrap()
}

fn linker() -> Linker {
    let mut l = Linker::new();
    l.func("host.twice", |n: i64| -> Result<i64, String> {
        if n < 0 {
            Err(format!("negative input {n}"))
        } else {
            Ok(n * 2)
        }
    });
    l
}

#[test]
fn calls_exports_by_name_with_checked_arguments() {
    let mut inst = instance(&linker());
    assert_eq!(
        inst.call("add", &[2.into(), 40.into()]).unwrap(),
        Some(Val::Int(42))
    );
    assert_eq!(
        inst.call_typed::<i64>("add", &[1.into(), 2.into()])
            .unwrap(),
        3
    );
    assert_eq!(
        inst.call("nope", &[]),
        Err(CallError::UnknownFunction("nope".into()))
    );
    assert_eq!(
        inst.call("secret", &[]),
        Err(CallError::NotExported("secret".into()))
    );
    assert!(matches!(
        inst.call("add", &[1.into()]),
        Err(CallError::ArgCount {
            expected: 2,
            found: 1,
            ..
        })
    ));
    assert!(matches!(
        inst.call("add", &[1.into(), "x".into()]),
        Err(CallError::ArgType { index: 1, .. })
    ));
}

#[test]
fn strings_arrays_and_maps_pass_both_ways() {
    let mut inst = instance(&linker());
    let nested = Val::Map(
        KeyType::Str,
        Type::array(Type::Any),
        vec![(
            Val::Str("k".into()),
            Val::Array(
                Type::Any,
                vec![Val::Int(1), Val::Str("two".into()), Val::Nil],
            ),
        )],
    );
    for v in [
        Val::Str("héllo".into()),
        Val::Array(Type::Int, vec![Val::Int(1), Val::Int(2)]),
        Val::Array(Type::Float, vec![Val::Float(0.5)]),
        nested,
        Val::Nil,
        Val::Bool(true),
    ] {
        assert_eq!(
            inst.call("echo", std::slice::from_ref(&v)).unwrap(),
            Some(v)
        );
    }
    // A malformed value (element of the wrong type) is a trap, not a panic.
    let bad = Val::Array(Type::Int, vec![Val::Str("x".into())]);
    assert!(matches!(inst.call("echo", &[bad]), Err(CallError::Trap(_))));
}

#[test]
fn typed_host_functions_and_their_errors() {
    let mut inst = instance(&linker());
    assert_eq!(
        inst.call_typed::<i64>("twice_via_host", &[21.into()])
            .unwrap(),
        42
    );
    match inst.call("twice_via_host", &[(-1).into()]) {
        Err(CallError::Trap(t)) => {
            assert_eq!(t.code, TrapCode::HostError);
            assert_eq!(t.message, "negative input -1");
            assert_eq!(t.backtrace[0].func, "twice_via_host");
        }
        other => panic!("expected a host error trap, got {other:?}"),
    }
    // The instance stays usable after a trap.
    assert_eq!(
        inst.call_typed::<i64>("add", &[1.into(), 1.into()])
            .unwrap(),
        2
    );
}

#[test]
fn instantiation_names_missing_and_mismatched_imports() {
    let m = Module {
        imports: vec![Import {
            name: "host.twice".into(),
            ty: FuncType::new(vec![Type::Int], Some(Type::Int)),
        }],
        ..Module::default()
    };
    let v = Arc::new(verify(m).unwrap());
    let errs = Instance::new(v.clone(), &Linker::new(), Config::default())
        .err()
        .unwrap();
    assert_eq!(
        errs[0].to_string(),
        "unknown function `host.twice`: the host provides no function of this name"
    );
    let mut l = Linker::new();
    l.func("host.twice", |s: String| s);
    let errs = Instance::new(v, &l, Config::default()).err().unwrap();
    assert_eq!(
        errs[0].to_string(),
        "import `host.twice` has signature (int) -> int in the module, but the host provides (str) -> str"
    );
}

#[test]
fn instances_are_send() {
    fn assert_send<T: Send>() {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send::<Instance>();
    assert_send_sync::<crate::VerifiedModule>();
    assert_send_sync::<Linker>();
}

/// `square(n) = n * n` (exported); `outer(n) = host.apply(n) + 1` where
/// the host calls back into `square`; `rec(n)`: if n == 0 then 0 else
/// host.down(n) (which calls `rec(n - 1)` back), to count depth across both.
fn reentrant_instance(config: Config) -> Instance {
    let mut l = Linker::new();
    l.define(
        "host.apply",
        FuncType::new(vec![Type::Int], Some(Type::Int)),
        |cx, args| {
            let n = args[0].as_int().unwrap_or(0);
            match cx.call("square", &[Val::Int(n)]) {
                Ok(Some(Val::Int(r))) => Ok(Some(Value::int(r))),
                Ok(other) => Err(Trap::new(
                    TrapCode::HostError,
                    format!("unexpected {other:?}"),
                )),
                Err(CallError::Trap(t)) => Err(t),
                Err(e) => Err(Trap::new(TrapCode::HostError, e.to_string())),
            }
        },
    );
    l.define(
        "host.down",
        FuncType::new(vec![Type::Int], Some(Type::Int)),
        |cx, args| {
            let n = args[0].as_int().unwrap_or(0);
            match cx.call("rec", &[Val::Int(n - 1)]) {
                Ok(Some(Val::Int(r))) => Ok(Some(Value::int(r + 1))),
                Ok(other) => Err(Trap::new(
                    TrapCode::HostError,
                    format!("unexpected {other:?}"),
                )),
                Err(CallError::Trap(t)) => Err(t),
                Err(e) => Err(Trap::new(TrapCode::HostError, e.to_string())),
            }
        },
    );
    let call = |f: u32| Instr {
        op: Opcode::Call,
        operand: Operand::Func(f),
    };
    let int = |v: i64| Instr {
        op: Opcode::PushInt,
        operand: Operand::Int(v),
    };
    let rec_code = {
        // load n; push 0; eq; jmpif zero; load n; call host.down; ret; zero: push 0; ret
        let mut c = code(&[load(0), int(0), Instr::simple(Opcode::Eq)]);
        let jmpif_at = c.len();
        c.extend(code(&[Instr {
            op: Opcode::JmpIf,
            operand: Operand::Target(0),
        }]));
        c.extend(code(&[load(0), call(4), Instr::simple(Opcode::Ret)]));
        let zero = c.len() as u32;
        c.extend(code(&[int(0), Instr::simple(Opcode::Ret)]));
        c[jmpif_at + 1..jmpif_at + 5].copy_from_slice(&zero.to_le_bytes());
        c
    };
    let m = Module {
        imports: vec![
            Import {
                name: "host.apply".into(),
                ty: FuncType::new(vec![Type::Int], Some(Type::Int)),
            },
            Import {
                name: "host.down".into(),
                ty: FuncType::new(vec![Type::Int], Some(Type::Int)),
            },
        ],
        funcs: vec![
            Func {
                name: "square".into(),
                ty: FuncType::new(vec![Type::Int], Some(Type::Int)),
                locals: vec![],
                exported: true,
                code: code(&[
                    load(0),
                    load(0),
                    Instr::simple(Opcode::Mul),
                    Instr::simple(Opcode::Ret),
                ]),
            },
            Func {
                name: "outer".into(),
                ty: FuncType::new(vec![Type::Int], Some(Type::Int)),
                locals: vec![],
                exported: true,
                code: code(&[
                    load(0),
                    call(3),
                    int(1),
                    Instr::simple(Opcode::Add),
                    Instr::simple(Opcode::Ret),
                ]),
            },
            Func {
                name: "rec".into(),
                ty: FuncType::new(vec![Type::Int], Some(Type::Int)),
                locals: vec![],
                exported: true,
                code: rec_code,
            },
        ],
        ..Module::default()
    };
    Instance::new(Arc::new(verify(m).unwrap()), &l, config).unwrap()
}

#[test]
fn host_functions_can_call_back_into_the_instance() {
    let mut inst = reentrant_instance(Config::default());
    assert_eq!(inst.call_typed::<i64>("outer", &[7.into()]).unwrap(), 50);
    assert_eq!(inst.call_typed::<i64>("rec", &[20.into()]).unwrap(), 20);
}

#[test]
fn the_depth_limit_counts_keel_and_host_frames_together() {
    let mut inst = reentrant_instance(Config {
        max_call_depth: 50,
        // Above the call depth limit, so that one stops the recursion.
        max_host_depth: 60,
        ..Config::default()
    });
    assert_eq!(inst.call_typed::<i64>("rec", &[10.into()]).unwrap(), 10);
    match inst.call("rec", &[1000.into()]) {
        Err(CallError::Trap(t)) => {
            assert_eq!(t.code, TrapCode::StackOverflow);
            assert_eq!(t.message, "stack overflow: call depth limit 50 exceeded");
        }
        other => panic!("expected a stack overflow, got {other:?}"),
    }
    // Still usable afterwards.
    assert_eq!(inst.call_typed::<i64>("outer", &[3.into()]).unwrap(), 10);
}

/// make(n) -> array<int> of n ones; sum(a) -> int; collect() runs the GC.
fn handle_instance() -> Instance {
    let mut l = Linker::new();
    l.define("gc.collect", FuncType::default(), |cx, _| {
        cx.collect_garbage();
        Ok(None)
    });
    let int = |v: i64| Instr {
        op: Opcode::PushInt,
        operand: Operand::Int(v),
    };
    let m = Module {
        imports: vec![Import {
            name: "gc.collect".into(),
            ty: FuncType::default(),
        }],
        funcs: vec![
            Func {
                name: "make".into(),
                ty: FuncType::new(vec![Type::Int], Some(Type::array(Type::Int))),
                locals: vec![],
                exported: true,
                code: code(&[
                    load(0),
                    int(1),
                    Instr::simple(Opcode::ArrayNew),
                    Instr::simple(Opcode::Ret),
                ]),
            },
            Func {
                name: "len".into(),
                ty: FuncType::new(vec![Type::array(Type::Int)], Some(Type::Int)),
                locals: vec![],
                exported: true,
                code: code(&[
                    load(0),
                    Instr::simple(Opcode::ArrayLen),
                    Instr::simple(Opcode::Ret),
                ]),
            },
            Func {
                name: "collect".into(),
                ty: FuncType::default(),
                locals: vec![],
                exported: true,
                code: code(&[
                    Instr {
                        op: Opcode::Call,
                        operand: Operand::Func(3),
                    },
                    Instr::simple(Opcode::Ret),
                ]),
            },
        ],
        ..Module::default()
    };
    Instance::new(Arc::new(verify(m).unwrap()), &l, Config::default()).unwrap()
}

#[test]
fn handles_keep_objects_alive_until_dropped() {
    let mut inst = handle_instance();
    let h = inst.call_keep("make", &[100_000.into()]).unwrap().unwrap();
    inst.call("collect", &[]).unwrap();
    let held = inst.gc_stats().live_bytes;
    assert!(
        held >= 800_000,
        "the array survived the collection: {held} live bytes"
    );
    // Passed back without copying, and readable.
    assert_eq!(
        inst.call_with_handles("len", &[&h]).unwrap(),
        Some(Val::Int(100_000))
    );
    match inst.get(&h).unwrap() {
        Val::Array(Type::Int, xs) => assert_eq!(xs.len(), 100_000),
        other => panic!("unexpected {other:?}"),
    }
    // Another instance does not accept it.
    let mut other = handle_instance();
    assert!(matches!(
        other.call_with_handles("len", &[&h]),
        Err(CallError::ArgType { .. })
    ));
    assert!(other.get(&h).is_err());
    // Dropping the handle releases the array at the next collection.
    drop(h);
    inst.call("collect", &[]).unwrap();
    let after = inst.gc_stats().live_bytes;
    assert!(after < held - 700_000, "released: {held} -> {after}");
    inst.heap.check();
}

#[test]
fn typed_host_functions_take_values_and_arrays() {
    let mut l = Linker::new();
    l.func("host.sum", |xs: Vec<i64>| xs.iter().sum::<i64>());
    l.func("host.describe", |v: Val| format!("{v:?}"));
    assert_eq!(
        l.signature("host.sum").unwrap().to_string(),
        "(array<int>) -> int"
    );
    assert_eq!(
        l.signature("host.describe").unwrap().to_string(),
        "(any) -> str"
    );
}
