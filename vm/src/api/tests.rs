use std::sync::Arc;

use super::*;
use crate::Linker;
use crate::isa::{Instr, Opcode, Operand};
use crate::module::{Func, Import, Module};
use crate::value::Value;
use crate::verify::verify;
use crate::{Config, FuncType, Trap, TrapCode};

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
    inst.check_heap();
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

/// Function references through the host API ([`Instance::call_ref`],
/// [`NativeCtx::call_ref`]), with modules written one instruction a line.
mod func_refs {
    use super::*;
    use crate::isa::OperandKind;

    /// Encodes `body` (`load 0`, `fn.ref inc`, `call host.apply`): the
    /// opcode of that mnemonic whose operand kind fits the argument; names
    /// are callees (`funcs` first, then `imports`).
    fn encode(body: &str, funcs: &[&str], imports: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for line in body.split(';').map(str::trim).filter(|l| !l.is_empty()) {
            let (mn, arg) = line.split_once(' ').unwrap_or((line, ""));
            let operand = match arg.parse::<i64>() {
                _ if arg.is_empty() => Operand::None,
                Ok(i) => Operand::Int(i),
                Err(_) => {
                    let i = funcs.iter().position(|f| *f == arg).or_else(|| {
                        imports
                            .iter()
                            .position(|m| *m == arg)
                            .map(|i| i + funcs.len())
                    });
                    Operand::Func(i.unwrap_or_else(|| panic!("unknown callee {arg}")) as u32)
                }
            };
            let op = Opcode::by_mnemonic(mn)
                .find(|o| match (o.operand_kind(), &operand) {
                    (OperandKind::Local | OperandKind::Int, Operand::Int(_)) => true,
                    (k, o) => k == o.kind(),
                })
                .unwrap_or_else(|| panic!("no opcode for `{line}`"));
            let operand = match (op.operand_kind(), operand) {
                (OperandKind::Local, Operand::Int(i)) => Operand::Local(i as u32),
                (_, o) => o,
            };
            Instr { op, operand }.encode(&mut out);
        }
        out
    }

    fn int_fn() -> Type {
        Type::func(FuncType::new(vec![Type::Int], Some(Type::Int)))
    }

    /// The callback of `host.apply(f, n)`: `f(n)` through
    /// [`NativeCtx::call_ref`], traps passed on with their frames.
    fn apply(cx: &mut NativeCtx<'_>, args: &[Value]) -> Result<Option<Value>, Trap> {
        let Some(f) = cx.func_ref(args[0]) else {
            return Err(Trap::nil_reference("host.apply"));
        };
        let n = args[1].as_int().unwrap_or(0);
        match cx.call_ref(&f, &[Val::Int(n)]) {
            Ok(Some(Val::Int(r))) => Ok(Some(Value::int(r))),
            Ok(other) => Err(Trap::new(
                TrapCode::HostError,
                format!("unexpected {other:?}"),
            )),
            Err(CallError::Trap(t)) => Err(t),
            Err(e) => Err(Trap::new(TrapCode::HostError, e.to_string())),
        }
    }

    fn linker() -> Linker {
        let mut l = super::linker();
        l.define(
            "host.apply",
            FuncType::new(vec![int_fn(), Type::Int], Some(Type::Int)),
            apply,
        );
        l
    }

    /// `inc` (not exported) adds one; `get_*` hand out references; `fail`
    /// divides by zero; `apply_*` and `deep` pass references to the host,
    /// which calls them back (`deep` recursing through the host).
    fn instance(config: Config) -> Instance {
        Instance::new(module(false), &linker(), config).unwrap()
    }

    /// The module of [`instance`]; with `pad`, a function `pad` comes
    /// first, so every other function's index is one higher.
    fn module(pad: bool) -> Arc<crate::VerifiedModule> {
        let fi = || FuncType::new(vec![Type::Int], Some(Type::Int));
        let getter = || FuncType::new(vec![], Some(int_fn()));
        let mut defs: Vec<(&str, FuncType, &str)> = vec![
            ("inc", fi(), "load 0; push 1; add; ret"),
            ("get_inc", getter(), "fn.ref inc; ret"),
            ("get_twice", getter(), "fn.ref host.twice; ret"),
            ("fail", fi(), "load 0; push 0; div; ret"),
            ("get_fail", getter(), "fn.ref fail; ret"),
            (
                "apply_inc",
                fi(),
                "fn.ref inc; load 0; call host.apply; ret",
            ),
            (
                "apply_fail",
                fi(),
                "fn.ref fail; load 0; call host.apply; ret",
            ),
            ("deep", fi(), "fn.ref deep; load 0; call host.apply; ret"),
            (
                "take",
                FuncType::new(vec![int_fn()], Some(Type::Int)),
                "push 20; load 0; call.ref; ret",
            ),
            (
                "echo",
                FuncType::new(vec![Type::Any], Some(Type::Any)),
                "load 0; ret",
            ),
        ];
        if pad {
            defs.insert(0, ("pad", fi(), "load 0; ret"));
        }
        let imports = ["host.twice", "host.apply"];
        let names: Vec<&str> = defs.iter().map(|d| d.0).collect();
        let l = linker();
        let m = Module {
            imports: imports
                .iter()
                .map(|n| Import {
                    name: (*n).into(),
                    ty: l.signature(n).unwrap().clone(),
                })
                .collect(),
            funcs: defs
                .iter()
                .map(|(name, ty, body)| Func {
                    name: (*name).into(),
                    ty: ty.clone(),
                    locals: vec![],
                    exported: *name != "inc",
                    code: encode(body, &names, &imports),
                })
                .collect(),
            ..Module::default()
        };
        Arc::new(verify(m).unwrap())
    }

    fn get(inst: &mut Instance, name: &str) -> FuncRef {
        match inst.call(name, &[]).unwrap() {
            Some(Val::Func(f)) => f,
            other => panic!("expected a function reference, got {other:?}"),
        }
    }

    #[test]
    fn call_ref_calls_module_functions_and_imports_with_checked_arguments() {
        let mut inst = instance(Config::default());
        let inc = get(&mut inst, "get_inc");
        assert_eq!(
            (inc.name(), inc.ty().to_string().as_str()),
            ("inc", "(int) -> int")
        );
        // Not exported, but the program handed it out.
        assert_eq!(
            inst.call_ref(&inc, &[41.into()]).unwrap(),
            Some(Val::Int(42))
        );
        let twice = get(&mut inst, "get_twice");
        assert_eq!(twice.name(), "host.twice");
        assert_eq!(
            inst.call_ref(&twice, &[21.into()]).unwrap(),
            Some(Val::Int(42))
        );
        match inst.call_ref(&twice, &[(-1).into()]) {
            Err(CallError::Trap(t)) => assert_eq!(t.message, "negative input -1"),
            other => panic!("expected the host's error, got {other:?}"),
        }
        assert!(matches!(
            inst.call_ref(&inc, &[]),
            Err(CallError::ArgCount {
                expected: 1,
                found: 0,
                ..
            })
        ));
        assert!(matches!(
            inst.call_ref(&inc, &["x".into()]),
            Err(CallError::ArgType { index: 0, .. })
        ));
        // A trap carries the callee's frames; the instance stays usable.
        let fail = get(&mut inst, "get_fail");
        match inst.call_ref(&fail, &[1.into()]) {
            Err(CallError::Trap(t)) => {
                assert_eq!(t.code, TrapCode::DivisionByZero);
                assert_eq!(t.backtrace[0].func, "fail");
            }
            other => panic!("expected a trap, got {other:?}"),
        }
        assert_eq!(inst.call_ref(&inc, &[1.into()]).unwrap(), Some(Val::Int(2)));
        // A reference passes back in as an argument and is called there.
        assert_eq!(
            inst.call("take", &[Val::Func(inc.clone())]).unwrap(),
            Some(Val::Int(21))
        );
        assert_eq!(
            inst.call("echo", &[Val::Func(twice.clone())]).unwrap(),
            Some(Val::Func(twice))
        );
    }

    #[test]
    fn a_reference_from_another_instance_is_refused() {
        let mut a = instance(Config::default());
        let mut b = instance(Config::default());
        let inc = get(&mut a, "get_inc");
        match b.call_ref(&inc, &[1.into()]) {
            Err(CallError::ForeignRef(msg)) => assert_eq!(
                msg,
                "the function reference to `inc` belongs to another instance"
            ),
            other => panic!("expected a refusal, got {other:?}"),
        }
        match b.call("take", &[Val::Func(inc.clone())]) {
            Err(CallError::Trap(t)) => {
                assert_eq!(t.code, TrapCode::InvalidArgument);
                assert!(
                    t.message.contains("belongs to another instance"),
                    "{}",
                    t.message
                );
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Both stay usable, and the reference still works where it belongs.
        assert_eq!(a.call_ref(&inc, &[1.into()]).unwrap(), Some(Val::Int(2)));
        let own = get(&mut b, "get_inc");
        assert_eq!(b.call_ref(&own, &[2.into()]).unwrap(), Some(Val::Int(3)));
    }

    #[test]
    fn a_replacement_that_moves_referenced_callees_is_refused() {
        let mut inst = instance(Config::default());
        let inc = get(&mut inst, "get_inc");
        // The module took references, so a replacement that moves its
        // callees is refused outright (a stored reference names a callee
        // by index), and the reference keeps working.
        let err = inst.replace_module(module(true), &linker()).unwrap_err();
        assert!(
            err.iter()
                .any(|e| matches!(e, crate::LinkError::CalleeChanged { .. })),
            "{err:?}"
        );
        assert_eq!(inst.call_ref(&inc, &[1.into()]).unwrap(), Some(Val::Int(2)));
    }

    #[test]
    fn host_functions_call_references_back_with_complete_traces() {
        let mut inst = instance(Config::default());
        assert_eq!(
            inst.call("apply_inc", &[5.into()]).unwrap(),
            Some(Val::Int(6))
        );
        match inst.call("apply_fail", &[5.into()]) {
            Err(CallError::Trap(t)) => {
                let frames: Vec<&str> = t.backtrace.iter().map(|f| f.func.as_str()).collect();
                assert_eq!(frames, ["fail", "apply_fail"]);
            }
            other => panic!("expected a trap, got {other:?}"),
        }
    }

    #[test]
    fn recursion_through_call_ref_stops_at_max_host_depth() {
        let mut inst = instance(Config {
            max_host_depth: 10,
            ..Config::default()
        });
        match inst.call("deep", &[1.into()]) {
            Err(CallError::Trap(t)) => {
                assert_eq!(t.code, TrapCode::StackOverflow);
                assert_eq!(
                    t.message,
                    "stack overflow: host call nesting limit 10 exceeded"
                );
                // Every level's frame, innermost first.
                assert_eq!(t.backtrace.len(), 11);
                assert!(t.backtrace.iter().all(|f| f.func == "deep"));
            }
            other => panic!("expected a stack overflow, got {other:?}"),
        }
        assert_eq!(
            inst.call("apply_inc", &[1.into()]).unwrap(),
            Some(Val::Int(2))
        );
    }
}

/// The value stack: its own limit ([`Config::max_stack_bytes`]) and its
/// share of the heap limit.
mod value_stack {
    use super::*;

    /// `deep(n) = deep(n)` with `locals` int locals besides `n`, recursing
    /// until a limit stops it. Each level takes `locals + 2` slots: the
    /// parameter, the locals and the record slot (its one operand slot is
    /// the next level's parameter).
    fn instance(locals: usize, config: Config) -> Instance {
        let m = Module {
            funcs: vec![Func {
                name: "deep".into(),
                ty: FuncType::new(vec![Type::Int], Some(Type::Int)),
                locals: vec![Type::Int; locals],
                exported: true,
                code: code(&[
                    load(0),
                    Instr {
                        op: Opcode::Call,
                        operand: Operand::Func(0),
                    },
                    Instr::simple(Opcode::Ret),
                ]),
            }],
            ..Module::default()
        };
        Instance::new(Arc::new(verify(m).unwrap()), &Linker::new(), config).unwrap()
    }

    fn trap(inst: &mut Instance) -> Trap {
        let r = inst.call("deep", &[Val::Int(0)]);
        inst.check_heap();
        match r {
            Err(CallError::Trap(t)) => t,
            other => panic!("expected a trap, got {other:?}"),
        }
    }

    #[test]
    fn max_stack_bytes_sets_the_value_stack_limit() {
        let mut inst = instance(
            0,
            Config {
                max_stack_bytes: 1 << 20,
                ..Config::default()
            },
        );
        for _ in 0..2 {
            let t = trap(&mut inst);
            assert_eq!(t.code, TrapCode::StackOverflow);
            assert_eq!(
                t.message,
                "stack overflow: value stack limit of 1048576 bytes exceeded"
            );
            // Two slots a level: the frame that no longer fits is the
            // 32,768th.
            let depth = t.backtrace.len() + t.omitted_frames;
            assert_eq!(depth, (1 << 20) / 32 - 1);
        }
        // The default is the 256 MiB cap.
        assert_eq!(
            Config::default().max_stack_bytes,
            crate::MAX_STACK_SLOTS * 16
        );
    }

    #[test]
    fn the_value_stack_counts_toward_the_heap_limit() {
        // 1000 locals (16 KB frames) and a depth limit of 10,000 would take
        // 160 MB of value stack: under a 4 MiB heap it runs out of memory
        // instead, however often it is called.
        let mut inst = instance(
            1000,
            Config {
                max_heap_bytes: 4 << 20,
                max_call_depth: 10_000,
                ..Config::default()
            },
        );
        for _ in 0..2 {
            let t = trap(&mut inst);
            assert_eq!(t.code, TrapCode::OutOfMemory);
            assert_eq!(
                t.message,
                format!("out of memory: heap limit of {} bytes exceeded", 4 << 20)
            );
            // As many levels as 4 MiB holds.
            let depth = t.backtrace.len() + t.omitted_frames;
            assert_eq!(depth, (4 << 20) / (1002 * 16));
            assert!(inst.gc_stats().live_bytes <= 4 << 20);
        }
    }

    #[test]
    fn a_stack_just_under_the_heap_limit_still_fits() {
        // 200 levels of 1002 slots need 3.2 MB under a 3.5 MiB heap: the
        // growth that would double the stack to 4 MiB is cut to the room
        // left, so the run reaches its depth limit rather than running out
        // of memory.
        let mut inst = instance(
            1000,
            Config {
                max_heap_bytes: 7 << 19,
                max_call_depth: 200,
                ..Config::default()
            },
        );
        let t = trap(&mut inst);
        assert_eq!(t.message, "stack overflow: call depth limit 200 exceeded");
        assert!(inst.gc_stats().live_bytes <= 7 << 19);
    }
}
