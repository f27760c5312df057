//! The JIT against the interpreter: random loops of int and float code run
//! with the JIT off and with every loop compiled (`JitMode::Eager`) must
//! agree on the result or trap, the instructions counted, and where fuel
//! runs out.

use std::sync::Arc;

use keel_assembler::{NoLibrary, assemble};
use keel_vm::{Config, Instance, JitMode, Linker, Value, verify};
use proptest::prelude::*;

const INT_LOCALS: [&str; 4] = ["a", "b", "c", "d"];
const INT_OPS: [&str; 10] = [
    "add", "sub", "mul", "and", "or", "xor", "shl", "shr", "div", "rem",
];
const CMPS: [&str; 6] = ["lt", "le", "gt", "ge", "eq", "ne"];
const FLOAT_OPS: [&str; 4] = ["add", "sub", "mul", "div"];

/// One statement of a loop body.
#[derive(Clone, Debug)]
enum Stmt {
    /// `load x; load y; op; store z`
    Binary(usize, usize, usize, usize),
    /// `load x; push k; op; store z`
    Const(usize, i64, usize, usize),
    /// `load x; load y; cmp; jmpif/jmpifnot` over the next statement.
    Skip(usize, usize, usize, bool),
    /// `load x; itof; load f; fop; store f`
    Float(usize, usize),
    /// `load f; load g; fcmp; jmpif` over the next statement.
    FloatSkip(usize),
    /// `load x; neg / not; dup; pop; store z`
    Unary(usize, bool, usize),
    /// `load arr; load x; array.get; store z` (may be out of bounds)
    Get(usize, usize),
    /// `load arr; load x; load y; array.set`
    Set(usize, usize),
    /// `load arr; load x; push k; array.set` (fused, inlined when hoisted)
    SetConst(usize, i64),
    /// `load farr; load x; array.get; load fl; add; store fl`
    FloatGet(usize),
    /// `load arr; array.len; store z`
    Len(usize),
    /// `gload gv; load x; add; gstore gv`
    Global(usize),
}

fn stmt() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        (0..4usize, 0..4usize, 0..10usize, 0..4usize)
            .prop_map(|(x, y, o, z)| Stmt::Binary(x, y, o, z)),
        (0..4usize, -3i64..70, 0..10usize, 0..4usize)
            .prop_map(|(x, k, o, z)| Stmt::Const(x, k, o, z)),
        (0..4usize, 0..4usize, 0..6usize, any::<bool>())
            .prop_map(|(x, y, c, t)| Stmt::Skip(x, y, c, t)),
        (0..4usize, 0..4usize).prop_map(|(x, o)| Stmt::Float(x, o)),
        (0..6usize).prop_map(Stmt::FloatSkip),
        (0..4usize, any::<bool>(), 0..4usize).prop_map(|(x, n, z)| Stmt::Unary(x, n, z)),
        (0..4usize, 0..4usize).prop_map(|(x, z)| Stmt::Get(x, z)),
        (0..4usize, 0..4usize).prop_map(|(x, y)| Stmt::Set(x, y)),
        (0..4usize, -5i64..5).prop_map(|(x, k)| Stmt::SetConst(x, k)),
        (0..4usize).prop_map(Stmt::FloatGet),
        (0..4usize).prop_map(Stmt::Len),
        (0..4usize).prop_map(Stmt::Global),
    ]
}

fn program(body: &[Stmt], inits: [i64; 4], n: i64) -> String {
    let mut s = String::from(".global gv: int\n.func f() -> int\n");
    for l in INT_LOCALS {
        s.push_str(&format!("    .local {l}: int\n"));
    }
    s.push_str("    .local i: int\n    .local n: int\n    .local fl: float\n    .local g: float\n");
    s.push_str("    .local arr: array<int>\n    .local farr: array<float>\n");
    s.push_str("    push 8 push 3 array.new store arr push 6 push 1.5 array.new store farr\n");
    for (l, v) in INT_LOCALS.iter().zip(inits) {
        s.push_str(&format!("    push {v} store {l}\n"));
    }
    s.push_str(&format!("    push {n} store n push 0.5 store g\ntop:\n"));
    for (k, st) in body.iter().enumerate() {
        s.push_str(&format!("s{k}:\n    "));
        let next = format!("s{}", k + 1);
        match *st {
            Stmt::Binary(x, y, o, z) => s.push_str(&format!(
                "load {} load {} {} store {}\n",
                INT_LOCALS[x], INT_LOCALS[y], INT_OPS[o], INT_LOCALS[z]
            )),
            Stmt::Const(x, k, o, z) => s.push_str(&format!(
                "load {} push {k} {} store {}\n",
                INT_LOCALS[x], INT_OPS[o], INT_LOCALS[z]
            )),
            Stmt::Skip(x, y, c, t) => s.push_str(&format!(
                "load {} load {} {} {} {next}\n",
                INT_LOCALS[x],
                INT_LOCALS[y],
                CMPS[c],
                if t { "jmpif" } else { "jmpifnot" }
            )),
            Stmt::Float(x, o) => s.push_str(&format!(
                "load {} itof load fl {} store fl\n",
                INT_LOCALS[x], FLOAT_OPS[o]
            )),
            Stmt::FloatSkip(c) => s.push_str(&format!("load fl load g {} jmpif {next}\n", CMPS[c])),
            Stmt::Get(x, z) => s.push_str(&format!(
                "load arr load {} array.get store {}\n",
                INT_LOCALS[x], INT_LOCALS[z]
            )),
            Stmt::Set(x, y) => s.push_str(&format!(
                "load arr load {} load {} array.set\n",
                INT_LOCALS[x], INT_LOCALS[y]
            )),
            Stmt::SetConst(x, k) => s.push_str(&format!(
                "load arr load {} push {k} array.set\n",
                INT_LOCALS[x]
            )),
            Stmt::FloatGet(x) => s.push_str(&format!(
                "load farr load {} array.get load fl add store fl\n",
                INT_LOCALS[x]
            )),
            Stmt::Len(z) => s.push_str(&format!("load arr array.len store {}\n", INT_LOCALS[z])),
            Stmt::Global(x) => {
                s.push_str(&format!("gload gv load {} add gstore gv\n", INT_LOCALS[x]))
            }
            Stmt::Unary(x, neg, z) => s.push_str(&format!(
                "load {} {} dup pop store {}\n",
                INT_LOCALS[x],
                if neg { "neg" } else { "not" },
                INT_LOCALS[z]
            )),
        }
    }
    s.push_str(&format!("s{}:\n", body.len()));
    s.push_str("    load i push 1 add store i load i load n lt jmpif top\n");
    // Fold everything into the result, floats by their bits.
    s.push_str("    load a load b xor load c xor load d xor load fl ftoi xor gload gv xor\n");
    s.push_str("    load arr push 0 array.get xor load arr push 7 array.get xor ret\n.end\n");
    s
}

/// Result or trap message, instructions counted, fuel left.
fn run(
    src: &str,
    jit: JitMode,
    fuel: Option<u64>,
) -> (Result<Option<i64>, String>, u64, Option<u64>) {
    let module = assemble(src, "t.kasm", &NoLibrary).expect("assembles");
    let verified = Arc::new(verify(module).expect("verifies"));
    let config = Config {
        jit,
        fuel,
        gc_stress: false,
        ..Config::default()
    };
    let mut inst = Instance::new(verified, &Linker::new(), config).expect("links");
    let result = inst
        .call_index(0, &[])
        .map(|v| v.and_then(Value::as_int))
        .map_err(|t| t.report());
    (result, inst.stats().instructions, inst.fuel())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn jit_and_interpreter_agree(
        body in prop::collection::vec(stmt(), 1..10),
        inits in prop::array::uniform4(-10i64..12),
        n in 0i64..40,
        fuel in prop::option::of(0u64..3000),
    ) {
        let src = program(&body, inits, n);
        let interpreted = run(&src, JitMode::Off, fuel);
        let compiled = run(&src, JitMode::Eager, fuel);
        prop_assert_eq!(&interpreted, &compiled, "{}", src);
    }
}

/// An instance of `src` that compiles every loop at its first back edge.
fn eager_instance(src: &str) -> Instance {
    let module = assemble(src, "t.kasm", &NoLibrary).expect("assembles");
    let verified = Arc::new(verify(module).expect("verifies"));
    let config = Config {
        jit: JitMode::Eager,
        ..Config::default()
    };
    Instance::new(verified, &Linker::new(), config).expect("links")
}

/// The loop really is compiled: the statistics say so.
#[test]
fn eager_mode_compiles_the_loop() {
    let src = program(&[Stmt::Binary(0, 1, 0, 2)], [1, 2, 3, 4], 10);
    let mut inst = eager_instance(&src);
    inst.call_index(0, &[]).expect("runs");
    assert_eq!(inst.stats().jit_loops, 1);
}

/// Every kind of statement compiles, so the random loops above run as
/// machine code (not just in the interpreter).
#[test]
fn every_statement_kind_compiles() {
    // Chosen so that no iteration traps: every index stays in bounds.
    let body = [
        Stmt::Binary(0, 1, 8, 2),
        Stmt::Const(1, 3, 6, 3),
        Stmt::Skip(2, 3, 1, true),
        Stmt::Float(0, 3),
        Stmt::FloatSkip(4),
        Stmt::Unary(3, true, 3),
        Stmt::Unary(2, false, 2),
        Stmt::Get(0, 1),
        Stmt::Set(1, 0),
        Stmt::SetConst(1, 4),
        Stmt::FloatGet(0),
        Stmt::Len(2),
        Stmt::Global(2),
    ];
    let src = program(&body, [1, 2, 3, 4], 20);
    let mut inst = eager_instance(&src);
    let _ = inst.call_index(0, &[]);
    assert_eq!(
        (inst.stats().jit_loops, inst.stats().jit_rejected),
        (1, 0),
        "{src}"
    );
}
