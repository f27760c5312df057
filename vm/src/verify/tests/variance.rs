//! Type variance at every site where the verifier compares a value's type
//! with an expected one (`spec/types.md`): `any` accepts every type at the
//! top level only, arrays and maps are invariant (`array<int>` is not an
//! `array<any>`), joins need equal types, and type variables of generic
//! signatures bind exactly. Checked exhaustively over a small universe of
//! types and by a property test over generated ones, against a one-line
//! oracle.

use proptest::prelude::*;

use crate::isa::{Instr, Opcode, Operand};
use crate::module::{Func, Global, GlobalInit, Import, Module};
use crate::types::{FuncType, KeyType, Type};
use crate::verify::verify;

/// Every place a value of type `actual` meets an expected type.
#[derive(Clone, Copy, Debug)]
enum Site {
    /// Argument of a module function declared `(expected)`.
    CallArg,
    /// Argument of an imported function declared `(expected)`.
    ImportArg,
    /// Value returned from a function declared `-> expected`.
    Return,
    /// Store into a local of type `expected`.
    LocalStore,
    /// Store into a global of type `expected`.
    GlobalStore,
    /// `array.set` into an `array<expected>`.
    ArraySet,
    /// `array.push` onto an `array<expected>`.
    ArrayPush,
    /// `map.set` into a `map<int,expected>`.
    MapSet,
    /// A branch join with `actual` on one path and `expected` on the other.
    Join,
    /// Generic import `(array<T>, T)` called with `array<expected>, actual`.
    GenericPush,
    /// Generic import `(array<T>, array<T>)` called with
    /// `array<expected>, array<actual>`.
    GenericPair,
}

const SITES: [Site; 11] = [
    Site::CallArg,
    Site::ImportArg,
    Site::Return,
    Site::LocalStore,
    Site::GlobalStore,
    Site::ArraySet,
    Site::ArrayPush,
    Site::MapSet,
    Site::Join,
    Site::GenericPush,
    Site::GenericPair,
];

/// The rule: what the spec says each site accepts.
fn oracle(site: Site, expected: &Type, actual: &Type) -> bool {
    match site {
        Site::Join | Site::GenericPair => expected == actual,
        _ => expected.accepts(actual),
    }
}

fn encode(code: &[Instr]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for i in code {
        i.encode(&mut bytes);
    }
    bytes
}

fn ins(op: Opcode, operand: Operand) -> Instr {
    Instr { op, operand }
}

fn simple(op: Opcode) -> Instr {
    Instr::simple(op)
}

fn func(name: &str, params: Vec<Type>, result: Option<Type>, code: &[Instr]) -> Func {
    Func {
        name: name.into(),
        ty: FuncType::new(params, result),
        locals: vec![],
        exported: false,
        code: encode(code),
    }
}

/// A module in which function `f` (the last) brings a value of type
/// `actual` (its parameter 0) to `site`, where `expected` is wanted.
fn module_for(site: Site, expected: &Type, actual: &Type) -> Module {
    use Opcode as O;
    let load = |i| ins(O::Load, Operand::Local(i));
    let t = Type::Var(0);
    let mut m = Module::default();
    let ret = simple(O::Ret);
    let f = match site {
        Site::CallArg => {
            m.funcs.push(func(
                "g",
                vec![expected.clone()],
                None,
                std::slice::from_ref(&ret),
            ));
            func(
                "f",
                vec![actual.clone()],
                None,
                &[load(0), ins(O::Call, Operand::Func(0)), ret],
            )
        }
        Site::ImportArg | Site::GenericPush | Site::GenericPair => {
            let (params, args) = match site {
                Site::ImportArg => (vec![expected.clone()], vec![actual.clone()]),
                Site::GenericPush => (
                    vec![Type::array(t.clone()), t],
                    vec![Type::array(expected.clone()), actual.clone()],
                ),
                _ => (
                    vec![Type::array(t.clone()), Type::array(t)],
                    vec![Type::array(expected.clone()), Type::array(actual.clone())],
                ),
            };
            m.imports.push(Import {
                name: "host.h".into(),
                ty: FuncType::new(params, None),
            });
            let mut code: Vec<Instr> = (0..args.len() as u32).map(load).collect();
            code.push(ins(O::Call, Operand::Func(1)));
            code.push(ret);
            func("f", args, None, &code)
        }
        Site::Return => func(
            "f",
            vec![actual.clone()],
            Some(expected.clone()),
            &[load(0), ret],
        ),
        Site::LocalStore => {
            let mut f = func(
                "f",
                vec![actual.clone()],
                None,
                &[load(0), ins(O::Store, Operand::Local(1)), ret],
            );
            f.locals.push(expected.clone());
            f
        }
        Site::GlobalStore => {
            m.globals.push(Global {
                name: "g".into(),
                ty: expected.clone(),
                init: GlobalInit::Default,
            });
            func(
                "f",
                vec![actual.clone()],
                None,
                &[load(0), ins(O::GStore, Operand::Global(0)), ret],
            )
        }
        Site::ArraySet => func(
            "f",
            vec![actual.clone(), Type::array(expected.clone())],
            None,
            &[
                load(1),
                ins(O::PushInt, Operand::Int(0)),
                load(0),
                simple(O::ArraySet),
                ret,
            ],
        ),
        Site::ArrayPush => func(
            "f",
            vec![actual.clone(), Type::array(expected.clone())],
            None,
            &[load(1), load(0), simple(O::ArrayPush), ret],
        ),
        Site::MapSet => func(
            "f",
            vec![actual.clone(), Type::map(KeyType::Int, expected.clone())],
            None,
            &[
                load(1),
                ins(O::PushInt, Operand::Int(0)),
                load(0),
                simple(O::MapSet),
                ret,
            ],
        ),
        Site::Join => {
            // push true; jmpif L; load 0; jmp M; L: load 1; M: pop; ret
            let mut code = vec![
                ins(O::PushBool, Operand::Bool(true)),
                ins(O::JmpIf, Operand::Target(0)),
                load(0),
                ins(O::Jmp, Operand::Target(0)),
                load(1),
                simple(O::Pop),
                ret,
            ];
            let at = |code: &[Instr], i: usize| -> u32 {
                code[..i].iter().map(Instr::encoded_len).sum::<usize>() as u32
            };
            let (l, mm) = (at(&code, 4), at(&code, 5));
            code[1] = ins(O::JmpIf, Operand::Target(l));
            code[3] = ins(O::Jmp, Operand::Target(mm));
            func("f", vec![actual.clone(), expected.clone()], None, &code)
        }
    };
    m.funcs.push(f);
    m
}

/// Types that exercise variance: scalars, `any`, and containers of both.
fn universe() -> Vec<Type> {
    let base = [Type::Int, Type::Str, Type::Any];
    let mut out: Vec<Type> = base.to_vec();
    for b in &base {
        out.push(Type::array(b.clone()));
        out.push(Type::map(KeyType::Str, b.clone()));
    }
    out.push(Type::map(KeyType::Int, Type::Any));
    out.push(Type::array(Type::array(Type::Int)));
    out.push(Type::array(Type::array(Type::Any)));
    out.push(Type::map(KeyType::Str, Type::array(Type::Any)));
    out.push(Type::map(KeyType::Str, Type::array(Type::Int)));
    out
}

fn check(site: Site, expected: &Type, actual: &Type) -> Result<(), String> {
    let m = module_for(site, expected, actual);
    let got = verify(m);
    let want = oracle(site, expected, actual);
    match (&got, want) {
        (Ok(_), true) => Ok(()),
        (Err(e), false) => {
            let rule = e.0[0].kind.rule();
            let ok_rule = matches!(
                rule,
                "call_mismatch" | "bad_return" | "type_mismatch" | "stack_mismatch"
            );
            if ok_rule {
                Ok(())
            } else {
                Err(format!(
                    "{site:?}: expected {expected}, given {actual}: wrong rule {e}"
                ))
            }
        }
        (Ok(_), false) => Err(format!(
            "{site:?}: expected {expected}, given {actual}: accepted, but the types do not fit"
        )),
        (Err(e), true) => Err(format!(
            "{site:?}: expected {expected}, given {actual}: rejected: {e}"
        )),
    }
}

#[test]
fn every_site_is_invariant_inside_containers() {
    let u = universe();
    let mut failures = Vec::new();
    for site in SITES {
        for e in &u {
            for a in &u {
                if let Err(msg) = check(site, e, a) {
                    failures.push(msg);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_known_holes_are_closed() {
    // The two shapes that used to run and panic the host.
    let ai = Type::array(Type::Int);
    let aa = Type::array(Type::Any);
    assert!(verify(module_for(Site::CallArg, &aa, &ai)).is_err());
    let ms = Type::map(KeyType::Str, Type::Str);
    let ma = Type::map(KeyType::Str, Type::Any);
    assert!(verify(module_for(Site::ImportArg, &ma, &ms)).is_err());
    // And what must keep working: any at the top, generic push onto an
    // array<any>, equal containers.
    assert!(verify(module_for(Site::CallArg, &Type::Any, &ai)).is_ok());
    assert!(verify(module_for(Site::GenericPush, &Type::Any, &Type::Int)).is_ok());
    assert!(verify(module_for(Site::GenericPush, &Type::Int, &Type::Int)).is_ok());
    assert!(verify(module_for(Site::GenericPair, &ai, &ai)).is_ok());
}

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::Int),
        Just(Type::Float),
        Just(Type::Bool),
        Just(Type::Str),
        Just(Type::Any),
    ];
    leaf.prop_recursive(4, 16, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::array),
            (
                prop_oneof![Just(KeyType::Int), Just(KeyType::Str), Just(KeyType::Bool)],
                inner
            )
                .prop_map(|(k, v)| Type::map(k, v)),
        ]
    })
}

/// Replaces some components of `ty` by `any` (or keeps it): a type close
/// to `ty`, so that equal and nearly-equal pairs are common.
fn loosen(ty: &Type, mask: u32) -> Type {
    if mask & 1 == 1 {
        return Type::Any;
    }
    match ty {
        Type::Array(e) => Type::array(loosen(e, mask >> 1)),
        Type::Map(k, v) => Type::map(*k, loosen(v, mask >> 1)),
        t => t.clone(),
    }
}

fn arb_pair() -> impl Strategy<Value = (Type, Type)> {
    prop_oneof![
        (arb_type(), arb_type()),
        (arb_type(), 0u32..64).prop_map(|(t, mask)| (loosen(&t, mask), t)),
        (arb_type(), 0u32..64).prop_map(|(t, mask)| (t.clone(), loosen(&t, mask))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn verifier_agrees_with_the_variance_rule(
        (expected, actual) in arb_pair(),
        site in 0..SITES.len(),
    ) {
        let r = check(SITES[site], &expected, &actual);
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}
