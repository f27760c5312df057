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

/// A loop of inlined leaf calls (a region with no arrays: its entry tests
/// the depth limit and the value stack's room once, see `regions`), run at
/// the bottom of a recursion of each depth around the limits: the call
/// depth limit, and a value stack that must grow, up to a limit. Where the
/// leaf call cannot be made, it traps on the loop's first round, as in the
/// interpreter; elsewhere all three modes agree, at several fuels too.
#[test]
fn inlined_calls_in_a_region_check_depth_and_room_alike() {
    let src = "
.func start(d: int) -> int
    load d call down ret
.end
.func down(d: int) -> int
    .local i: int
    .local s: int
    load d push 0 gt
    .if
        load d push 1 sub call down ret
    .endif
    .for i = 0, 400
        load s  load i load s call mix  add store s
    .endfor
    load s ret
.end
.func mix(a: int, b: int) -> int
    load a push 31 mul load b push 7 rem add push 3 div
    ret
.end
";
    let module = assemble(src, "t.kasm", &NoLibrary).expect("assembles");
    let verified = Arc::new(verify(module).expect("verifies"));
    let mut outcomes = std::collections::BTreeSet::new();
    for (depth, stack) in [(60, 1 << 20), (10_000, 64 << 10)] {
        for d in [
            0, 1, 2, 20, 56, 57, 58, 59, 60, 61, 250, 400, 1000, 1200, 1500,
        ] {
            let config = || {
                Config::default()
                    .max_call_depth(depth)
                    .max_stack_bytes(stack)
            };
            let one = |jit, fuel| {
                let mut c = config()
                    .jit(jit)
                    .gc_stress(false)
                    .jit_loop_threshold(50)
                    .jit_call_threshold(1_000_000);
                c.fuel = fuel;
                let mut inst = Instance::new(verified.clone(), &Linker::new(), c).expect("links");
                let r = inst
                    .call_index(0, &[Value::int(d)])
                    .map(|v| v.and_then(Value::as_int))
                    .map_err(|t| t.report());
                (r, inst.stats().instructions, inst.fuel())
            };
            for fuel in [None, Some(5_000), Some(d as u64 * 9 + 700)] {
                let interpreted = one(JitMode::Off, fuel);
                for jit in [JitMode::default(), JitMode::Eager] {
                    assert_eq!(
                        interpreted,
                        one(jit, fuel),
                        "d = {d}, {jit:?}, fuel {fuel:?}"
                    );
                }
                if fuel.is_none() {
                    outcomes.insert(match &interpreted.0 {
                        Ok(_) => "ok".to_string(),
                        Err(e) => e.lines().next().unwrap_or("").to_string(),
                    });
                }
            }
        }
    }
    eprintln!("{outcomes:?}");
    // Both limits were reached somewhere, and the loop ran elsewhere.
    assert!(outcomes.len() >= 3, "{outcomes:?}");
}
