//! Loop regions (`vm/src/jit/regions.rs`): loops whose arrays' data
//! addresses and lengths compiled code reads once, where the loop is
//! entered. Each program runs interpreted, with loops compiled when hot
//! (entered by on-stack replacement, nested loops included), and with
//! everything compiled at once; all three must agree on the result or
//! trap, the instructions counted and the fuel left.

use std::sync::Arc;

use keel_assembler::{NoLibrary, assemble};
use keel_vm::internals::Value;
use keel_vm::{Config, Instance, JitMode, Linker, verify};

type Outcome = (Result<Option<i64>, String>, u64, Option<u64>);

fn run(src: &str, jit: JitMode, fuel: Option<u64>) -> (Outcome, u64) {
    let module = assemble(src, "t.kasm", &NoLibrary).expect("assembles");
    let verified = Arc::new(verify(module).expect("verifies"));
    let mut config = Config::default()
        .jit(jit)
        .gc_stress(false)
        .jit_loop_threshold(50)
        .jit_call_threshold(1_000_000);
    config.fuel = fuel;
    let mut inst = Instance::new(verified, &Linker::new(), config).expect("links");
    let result = inst
        .call_index(0, &[])
        .map(|v| v.and_then(Value::as_int))
        .map_err(|t| t.report());
    let osr = inst.stats().jit_osr_entries;
    ((result, inst.stats().instructions, inst.fuel()), osr)
}

/// Runs `src` the three ways, at each fuel given, and returns the
/// interpreter's outcome without fuel and whether a loop was entered by
/// OSR.
fn agree(src: &str, fuels: &[u64]) -> (Outcome, bool) {
    let mut entered = false;
    for fuel in std::iter::once(None).chain(fuels.iter().map(|&f| Some(f))) {
        let (interpreted, _) = run(src, JitMode::Off, fuel);
        let (hot, osr) = run(src, JitMode::default(), fuel);
        let (eager, _) = run(src, JitMode::Eager, fuel);
        assert_eq!(interpreted, hot, "hot loops, fuel {fuel:?}\n{src}");
        assert_eq!(interpreted, eager, "eager, fuel {fuel:?}\n{src}");
        entered |= osr > 0;
    }
    (run(src, JitMode::Off, None).0, entered)
}

/// Nested loops over a global and a local array, the hot inner loop entered
/// by OSR from the interpreter (so past the outer loop's header), and an
/// index past the end on the last round.
fn nested(inner: i64) -> String {
    format!(
        "
.global g: array<int> = [1, 2, 3, 4, 5, 6, 7]
.func main() -> int
    .local a: array<int>
    .local f: array<float>
    .local i: int
    .local j: int
    .local s: int
    push 7 push 3 array.new store a
    push 7 push 0.5 array.new store f
    .for i = 0, 3
        .for j = 0, {inner}
            load s  gload g load j push 2857 div array.get  add
            load a load j push 7 rem array.get  add
            load f array.len add  gload g array.len add  store s
            load a  load j push 7 rem  load s push 1000 rem  array.set
            load f  load j push 7 rem  load f load j push 7 rem array.get push 1.0001 mul  array.set
        .endfor
    .endfor
    load s  load f push 6 array.get ftoi add  ret
.end
"
    )
}

#[test]
fn nested_loops_entered_inside_agree() {
    let (out, osr) = agree(&nested(19_999), &[1_000, 70_000, 250_000]);
    assert!(out.0.is_ok(), "{out:?}");
    assert!(osr, "the inner loop is entered by OSR");
}

#[test]
fn an_index_past_the_end_traps_alike() {
    // j = 19_999 reads g[7]: an index trap inside the compiled region.
    let (out, osr) = agree(&nested(20_003), &[]);
    let msg = out.0.expect_err("traps");
    assert!(msg.contains("out of bounds"), "{msg}");
    assert!(osr);
}

#[test]
fn an_array_local_stored_in_the_loop_is_read_afresh() {
    // `a` and `b` (of other lengths) swap every 1000 rounds: the length
    // the bounds check uses must be the current array's.
    let src = "
.func main() -> int
    .local a: array<int>
    .local b: array<int>
    .local c: array<int>
    .local i: int
    .local s: int
    push 7 push 1 array.new store a
    push 3 push 2 array.new store b
    .for i = 0, 5000
        load i push 1000 rem push 999 eq
        .if
            load a store c  load b store a  load c store b
        .endif
        load s  load a load i push 3 rem array.get  add  load a array.len add  store s
    .endfor
    load s  load a push 5 array.get  add ret
.end
";
    let (out, _) = agree(src, &[3_000, 40_000]);
    assert!(out.0.is_err(), "a is the short array at the end: {out:?}");
}

#[test]
fn a_call_that_grows_the_array_keeps_the_loop_out_of_regions() {
    // `push_one` is not a leaf: the loop runs Rust code (array.push may
    // move the buffer), so it reads the header at every access.
    let src = "
.global g: array<int> = [1, 2, 3]
.func main() -> int
    .local i: int
    .local s: int
    .for i = 0, 3000
        load i call push_one
        load s  gload g load i array.get  add  gload g array.len add  store s
    .endfor
    load s ret
.end
.func push_one(k: int)
    gload g load k array.push
    ret
.end
";
    let (out, _) = agree(src, &[2_000, 30_000]);
    assert!(out.0.is_ok(), "{out:?}");
}

/// `.for` loops, whose back edges test the loop themselves (rotated), over
/// a local bound, a small constant and a large one, stopped by fuel at
/// every instruction of their first rounds and of their last.
#[test]
fn rotated_loops_stop_where_the_interpreter_does() {
    for bound in ["n", "25", "40000"] {
        let src = format!(
            "
.func main() -> int
    .local n: int
    .local i: int
    .local s: int
    push 25 store n
    .for i = 0, {bound}
        load s load i push 31 mul push 7 add push 1009 rem add store s
        load s load i add store s
    .endfor
    load s ret
.end
"
        );
        let total = run(&src, JitMode::Off, None).0.1;
        let fuels: Vec<u64> = (0..60).chain(total.saturating_sub(40)..total + 2).collect();
        let (out, _) = agree(&src, &fuels);
        assert!(out.0.is_ok(), "{out:?}");
    }
}
