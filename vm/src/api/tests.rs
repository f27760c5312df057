use std::sync::Arc;

use super::*;
use crate::isa::{Instr, Opcode, Operand};
use crate::module::{Func, Import, Module};
use crate::verify::verify;
use crate::{Config, FuncType};

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
