//! The JIT against the interpreter: random loops of int and float code run
//! with the JIT off and with every loop compiled (`JitMode::Eager`) must
//! agree on the result or trap, the instructions counted, and where fuel
//! runs out.
//!
//! The statements are chosen so that the verifier fuses them into every
//! superinstruction (see `vm/src/verify/fuse.rs`), with operands that may
//! alias (the same local read and written by one fused op), and with
//! branches both inside the compiled loop and out of it.

use std::sync::Arc;

use keel_assembler::{NoLibrary, assemble};
use keel_vm::internals::{Op, Value};
use keel_vm::{Config, Instance, JitMode, Linker, verify};
use proptest::prelude::*;

const INT_LOCALS: [&str; 4] = ["a", "b", "c", "d"];
const INT_OPS: [&str; 10] = [
    "add", "sub", "mul", "and", "or", "xor", "shl", "shr", "div", "rem",
];
const CMPS: [&str; 6] = ["lt", "le", "gt", "ge", "eq", "ne"];
const FLOAT_OPS: [&str; 4] = ["add", "sub", "mul", "div"];
/// Locals a loop's increment-and-branch may compare the counter with:
/// `i` itself aliases the local the fused op writes.
const BOUNDS: [&str; 6] = ["n", "i", "a", "b", "c", "d"];

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
    /// `load x; load y; mul; load z; add; store w` (`add; store` fuses,
    /// and `w` may be `z`)
    MulAdd(usize, usize, usize, usize),
    /// `load x; load y; cmp; jmpif out`: leaves the loop.
    Break(usize, usize, usize),
    /// `load x; push k; cmp; jmpif out`: leaves the loop.
    BreakConst(usize, i64, usize),
    /// `load x; load y; add; push k; cmp; jmpif L` (the compare and branch
    /// fuse): to the next statement, or out of the loop.
    SumSkip(usize, usize, i64, usize, bool),
}

/// How the loop goes round: the counter's increment-and-branch
/// `load i; push step; add|sub; store i; load i; load bound; cmp;
/// jmpif|jmpifnot L`, which fuses into one op.
#[derive(Clone, Debug)]
struct Latch {
    step: i64,
    sub: bool,
    /// Index into [`BOUNDS`].
    bound: usize,
    /// Index into [`CMPS`].
    cmp: usize,
    jmpif: bool,
    shape: Shape,
}

#[derive(Clone, Debug)]
enum Shape {
    /// The branch goes back to `top`: it is the loop's back edge.
    Back,
    /// The branch leaves the loop (to `out`) and `jmp top` is the back
    /// edge; the first `skips` rounds jump over it, so that it also runs
    /// as compiled code (a branch that leaves at once would never run
    /// there).
    Exit { skips: i64 },
}

impl Latch {
    /// `for i in 0..n`: the loop every program had before latches varied.
    fn counted() -> Latch {
        Latch {
            step: 1,
            sub: false,
            bound: 0,
            cmp: 0,
            jmpif: true,
            shape: Shape::Back,
        }
    }

    /// Whether the loop surely ends (`i` goes up by one to `n`, which the
    /// body never stores); other loops run under fuel.
    fn ends(&self) -> bool {
        self.step == 1
            && !self.sub
            && self.bound == 0
            && self.cmp == 0
            && self.jmpif
            && matches!(self.shape, Shape::Back)
    }
}

fn latch() -> impl Strategy<Value = Latch> {
    let any_latch = (
        -3i64..4,
        any::<bool>(),
        // Often the counter itself, the bound that aliases.
        prop_oneof![Just(1), 0..BOUNDS.len()],
        0..CMPS.len(),
        any::<bool>(),
        prop_oneof![
            Just(Shape::Back),
            (0i64..6).prop_map(|skips| Shape::Exit { skips })
        ],
    )
        .prop_map(|(step, sub, bound, cmp, jmpif, shape)| Latch {
            step,
            sub,
            bound,
            cmp,
            jmpif,
            shape,
        });
    prop_oneof![1 => Just(Latch::counted()), 2 => any_latch]
}

fn stmt() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        (0..4usize, 0..4usize, 0..10usize, 0..4usize)
            .prop_map(|(x, y, o, z)| Stmt::Binary(x, y, o, z)),
        (
            0..4usize,
            prop_oneof![
                8 => -3i64..70,
                // Powers of two and other constants past 32 bits.
                1 => prop::sample::select(vec![1 << 31, -(1 << 33), 1 << 40, 1 << 62, -(1 << 62), 3 << 40]),
            ],
            0..10usize,
            0..4usize
        )
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
        (0..4usize, 0..4usize, 0..4usize, 0..4usize)
            .prop_map(|(x, y, z, w)| Stmt::MulAdd(x, y, z, w)),
        (0..4usize, 0..4usize, 0..6usize).prop_map(|(x, y, c)| Stmt::Break(x, y, c)),
        (0..4usize, -20i64..40, 0..6usize).prop_map(|(x, k, c)| Stmt::BreakConst(x, k, c)),
        (0..4usize, 0..4usize, -20i64..40, 0..6usize, any::<bool>())
            .prop_map(|(x, y, k, c, out)| Stmt::SumSkip(x, y, k, c, out)),
    ]
}

fn program(body: &[Stmt], inits: [i64; 4], n: i64) -> String {
    program_with(body, &Latch::counted(), inits, n)
}

fn program_with(body: &[Stmt], latch: &Latch, inits: [i64; 4], n: i64) -> String {
    let mut s = String::from(".global gv: int\n.func f() -> int\n");
    for l in INT_LOCALS {
        s.push_str(&format!("    .local {l}: int\n"));
    }
    s.push_str("    .local i: int\n    .local n: int\n    .local fl: float\n    .local g: float\n");
    s.push_str("    .local t: int\n");
    s.push_str("    .local arr: array<int>\n    .local farr: array<float>\n");
    s.push_str("    push 8 push 3 array.new store arr push 6 push 1.5 array.new store farr\n");
    for (l, v) in INT_LOCALS.iter().zip(inits) {
        s.push_str(&format!("    push {v} store {l}\n"));
    }
    s.push_str(&format!("    push {n} store n push 0.5 store g\ntop:\n"));
    // Rounds started, so that an exit latch can be skipped at first.
    s.push_str("    load t push 1 add store t\n");
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
            Stmt::MulAdd(x, y, z, w) => s.push_str(&format!(
                "load {} load {} mul load {} add store {}\n",
                INT_LOCALS[x], INT_LOCALS[y], INT_LOCALS[z], INT_LOCALS[w]
            )),
            Stmt::Break(x, y, c) => s.push_str(&format!(
                "load {} load {} {} jmpif out\n",
                INT_LOCALS[x], INT_LOCALS[y], CMPS[c]
            )),
            Stmt::BreakConst(x, k, c) => s.push_str(&format!(
                "load {} push {k} {} jmpif out\n",
                INT_LOCALS[x], CMPS[c]
            )),
            Stmt::SumSkip(x, y, k, c, out) => s.push_str(&format!(
                "load {} load {} add push {k} {} jmpif {}\n",
                INT_LOCALS[x],
                INT_LOCALS[y],
                CMPS[c],
                if out { "out" } else { &next }
            )),
            Stmt::Unary(x, neg, z) => s.push_str(&format!(
                "load {} {} dup pop store {}\n",
                INT_LOCALS[x],
                if neg { "neg" } else { "not" },
                INT_LOCALS[z]
            )),
        }
    }
    s.push_str(&format!("s{}:\n", body.len()));
    let target = match latch.shape {
        Shape::Back => "top",
        Shape::Exit { skips } => {
            s.push_str(&format!("    load t push {skips} le jmpif skip\n"));
            "out"
        }
    };
    s.push_str(&format!(
        "    load i push {} {} store i load i load {} {} {} {target}\n",
        latch.step,
        if latch.sub { "sub" } else { "add" },
        BOUNDS[latch.bound],
        CMPS[latch.cmp],
        if latch.jmpif { "jmpif" } else { "jmpifnot" },
    ));
    if let Shape::Exit { .. } = latch.shape {
        s.push_str("skip:\n    jmp top\n");
    }
    // Fold everything into the result, floats by their bits.
    s.push_str("out:\n    load a load b xor load c xor load d xor load fl ftoi xor gload gv xor\n");
    s.push_str("    load i xor load t xor\n");
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
    let config = {
        let mut config = Config::default().jit(jit).gc_stress(false);
        config.fuel = fuel;
        config
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
        latch in latch(),
        inits in prop::array::uniform4(-10i64..12),
        n in 0i64..40,
        fuel in prop::option::of(0u64..3000),
    ) {
        let src = program_with(&body, &latch, inits, n);
        // A loop that may not end runs under fuel.
        let fuel = if latch.ends() { fuel } else { fuel.or(Some(20_000)) };
        let interpreted = run(&src, JitMode::Off, fuel);
        let compiled = run(&src, JitMode::Eager, fuel);
        prop_assert_eq!(&interpreted, &compiled, "{}", src);
    }
}

/// An instance of `src` that compiles every loop at its first back edge.
fn eager_instance(src: &str) -> Instance {
    let module = assemble(src, "t.kasm", &NoLibrary).expect("assembles");
    let verified = Arc::new(verify(module).expect("verifies"));
    let config = Config::default().jit(JitMode::Eager);
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
        Stmt::MulAdd(0, 1, 2, 2),
        Stmt::Break(0, 0, 5),
        Stmt::BreakConst(2, 1000, 2),
        Stmt::SumSkip(0, 1, 5, 0, false),
        Stmt::SumSkip(0, 0, -1000, 0, true),
        Stmt::Binary(2, 2, 0, 2),
        Stmt::Const(3, 1, 0, 3),
        Stmt::Const(2, 2, 0, 3),
    ];
    let src = program(&body, [1, 2, 3, 4], 20);
    let mut inst = eager_instance(&src);
    let _ = inst.call_index(0, &[]);
    assert_eq!(
        (inst.stats().jit_loops, inst.stats().jit_rejected),
        (1, 0),
        "{src}"
    );
    // The statements fuse into every superinstruction a loop can hold
    // (the fused returns end functions, not loops).
    let module = assemble(&src, "t.kasm", &NoLibrary).expect("assembles");
    let verified = verify(module).expect("verifies");
    let mut fused: Vec<&str> = verified
        .code()
        .iter()
        .filter_map(|op| {
            Some(match op {
                Op::LoadLoad(..) => "LoadLoad",
                Op::AddLocalConst(..) => "AddLocalConst",
                Op::IncLocal(..) => "IncLocal",
                Op::BrLocalConst { .. } => "BrLocalConst",
                Op::BrLocalLocal { .. } => "BrLocalLocal",
                Op::BrCmp { .. } => "BrCmp",
                Op::AddLocalsTo { .. } => "AddLocalsTo",
                Op::AddIntStore(..) => "AddIntStore",
                Op::IncBrLocal { .. } => "IncBrLocal",
                Op::ArraySetIntLocalsConst { .. } => "ArraySetIntLocalsConst",
                Op::ArrayGetIntLocals(..) => "ArrayGetIntLocals",
                Op::ArrayGetFloatLocals(..) => "ArrayGetFloatLocals",
                _ => return None,
            })
        })
        .collect();
    fused.sort_unstable();
    fused.dedup();
    assert_eq!(
        fused,
        [
            "AddIntStore",
            "AddLocalConst",
            "AddLocalsTo",
            "ArrayGetFloatLocals",
            "ArrayGetIntLocals",
            "ArraySetIntLocalsConst",
            "BrCmp",
            "BrLocalConst",
            "BrLocalLocal",
            "IncBrLocal",
            "IncLocal",
            "LoadLoad",
        ],
        "{src}"
    );
}

/// The latches fuse into the increment-and-branch, with the bound aliasing
/// the counter too, both as the back edge and as a branch out of the loop;
/// such loops compile, and the interpreter and the JIT agree on them.
#[test]
fn aliased_latches_fuse_compile_and_agree() {
    // `i < i` never holds: the back edge is not taken. `i <= i` always
    // holds: the exit is taken the first time it is not skipped.
    for (cmp, shape) in [(0, Shape::Back), (1, Shape::Exit { skips: 2 })] {
        let latch = Latch {
            step: 1,
            sub: false,
            bound: 1,
            cmp,
            jmpif: true,
            shape,
        };
        let src = program_with(&[Stmt::Binary(0, 1, 0, 2)], &latch, [1, 2, 3, 4], 10);
        let module = assemble(&src, "t.kasm", &NoLibrary).expect("assembles");
        let verified = verify(module).expect("verifies");
        assert!(
            verified
                .code()
                .iter()
                .any(|op| matches!(op, Op::IncBrLocal { i, n, .. } if i == n)),
            "{src}"
        );
        let config = Config::default().jit(JitMode::Eager).fuel(100_000);
        let mut inst = Instance::new(Arc::new(verified), &Linker::new(), config).expect("links");
        let _ = inst.call_index(0, &[]);
        let fuel = Some(100_000);
        assert_eq!(
            run(&src, JitMode::Off, fuel),
            run(&src, JitMode::Eager, fuel),
            "{src}"
        );
        if matches!(latch.shape, Shape::Exit { .. }) {
            assert_eq!(inst.stats().jit_loops, 1, "{src}");
        }
    }
}

/// Division and remainder by constants (multiplications, shifts for powers
/// of two) agree with the interpreter's `idiv` for dividends of both signs
/// and all magnitudes, including `i64::MIN` and `i64::MAX`.
#[test]
fn division_by_constants_agrees() {
    let divisors: [i64; 20] = [
        1,
        2,
        -2,
        3,
        4,
        -4,
        7,
        8,
        -16,
        1009,
        -1009,
        1 << 31,
        -(1 << 31),
        -(1 << 33),
        3 << 40,
        1 << 40,
        1 << 62,
        -(1 << 62),
        i64::MAX,
        i64::MIN + 1,
    ];
    let mut body = String::new();
    for (k, d) in divisors.iter().enumerate() {
        // Each result is folded in with a different weight, so a wrong
        // quotient or remainder of any one divisor changes the sum.
        body.push_str(&format!(
            "        load s load x push {d} div push {} mul add store s\n        \
             load s load x push {d} rem push {} mul add store s\n",
            2 * k + 3,
            2 * k + 4
        ));
    }
    let src = format!(
        "
.func main() -> int
    .local i: int
    .local x: int
    .local s: int
    .for i = 0, 400
        ; Dividends of every size and both signs: i * 2^(i % 63), negated
        ; for odd i, and the two ends of the range.
        load i push 1 load i push 63 rem shl mul store x
        load i push 2 rem push 1 eq
        .if
            push 0 load x sub store x
        .endif
        load i push 398 eq
        .if
            push 9223372036854775807 store x
        .endif
        load i push 399 eq
        .if
            push -9223372036854775807 push 1 sub store x
        .endif
{body}    .endfor
    load s ret
.end
"
    );
    let interpreted = run(&src, JitMode::Off, None);
    let compiled = run(&src, JitMode::Eager, None);
    assert!(interpreted.0.is_ok(), "{interpreted:?}");
    assert_eq!(interpreted, compiled, "{src}");
    let mut inst = eager_instance(&src);
    inst.call_index(0, &[]).expect("runs");
    assert_eq!(inst.stats().jit_rejected, 0, "{src}");
}
