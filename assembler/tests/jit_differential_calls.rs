//! The JIT against the interpreter on whole programs: random well-typed
//! modules with calls, recursion (bounded, mutual, and deep enough for the
//! depth limit), loops nested in loops, allocation, strings, maps, arrays
//! of every element type, records, `any`, function references and traps
//! inside callees, run with `JitMode::Off` and `JitMode::Eager`. The runs
//! must agree on results, output, trap messages and Keel stack traces,
//! instruction counts, and where fuel runs out (several cut points) with
//! the fuel left; each program also runs under GC stress in one mode.
//!
//! The generator and the runner are shared with the `interp_vs_jit` fuzz
//! target: `fuzz/program_gen.rs` and `fuzz/differential.rs`, included
//! here. `PROPTEST_CASES=N` runs more cases than the default, `PROPTEST_RNG_SEED=N`
//! other ones.

#[path = "../../fuzz/differential.rs"]
mod differential;
#[path = "../../fuzz/program_gen.rs"]
mod program_gen;

use std::collections::BTreeSet;

use keel_vm::JitMode;
use proptest::prelude::*;

/// `cases` cases (or `PROPTEST_CASES`), from a fixed seed unless
/// `PROPTEST_RNG_SEED` names one: the default run is the same on every
/// machine, so that a failure in CI is a regression of the JIT, not a
/// newly drawn program meeting a known bug elsewhere (see
/// `fuzz/findings/`). Explore with `PROPTEST_RNG_SEED=$RANDOM
/// PROPTEST_CASES=500`, or with the fuzz target.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::with_cases(cases);
    if let Some(n) = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.cases = n;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(FIXED_SEED);
    }
    config
}

/// The seed of the default run.
const FIXED_SEED: u64 = 12;

/// Bytes from a fixed xorshift generator: inputs for programs that do not
/// depend on proptest.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn jit_and_interpreter_agree_on_whole_programs(
        data in prop::collection::vec(any::<u8>(), 0..2500),
        seed in any::<u64>(),
    ) {
        let src = program_gen::program(&data);
        let module = differential::build(&src).map_err(TestCaseError::fail)?;
        differential::check(&module, differential::plan_from(seed))
            .map_err(|d| TestCaseError::fail(format!("{d}\n{src}")))?;
    }
}

/// The generator's programs all assemble and verify, use every feature the
/// differential test is meant to cover, and reach every kind of trap,
/// inside callees (traces of more than one frame) too: otherwise the
/// property above would pass while testing little.
#[test]
fn generated_programs_cover_every_feature_and_trap() {
    let mut text = String::new();
    let mut codes = BTreeSet::new();
    let mut deep_traces = 0;
    let mut fuel_stops = 0;
    for seed in 100..160 {
        let src = program_gen::program(&bytes(seed, 2500));
        let module = differential::build(&src).unwrap_or_else(|e| panic!("{e}"));
        let plan = differential::plan_from(seed);
        let outcome = differential::run(&module, JitMode::Off, false, plan.limits);
        for e in &outcome.entries {
            if let Some(rest) = e.split(": trap ").nth(1) {
                let code = rest.split(' ').next().unwrap_or_default().to_owned();
                if rest.matches("\n  at ").count() >= 2 && code != "out_of_fuel" {
                    deep_traces += 1;
                }
                codes.insert(code);
            } else {
                codes.insert("ok".to_owned());
            }
        }
        if outcome.instructions > 20 {
            fuel_stops += 1;
        }
        text.push_str(&src);
    }
    for feature in [
        "call f",
        "call.ref",
        "fn.ref",
        "call countdown",
        "call leaf_float",
        "call leaf_id",
        ".for i2",
        ".break",
        ".continue",
        "is ",
        "cast ",
        "isnil",
        "call strbuf.push",
        "rec.new Node",
        "rec.set Node.",
        "map.set",
        "map.new int any",
        "array.push",
        "array.new",
        "array<bool>",
        "array<str>",
        "array<float>",
        "array<array<int>>",
        "array<any>",
        "concat",
        "call print",
        "gstore",
        "trap \"",
    ] {
        assert!(
            text.contains(feature),
            "no generated program has `{feature}`"
        );
    }
    for code in [
        "ok",
        "index_out_of_bounds",
        "division_by_zero",
        "nil_reference",
        "explicit",
        "stack_overflow",
        "out_of_memory",
        "type_error",
        "out_of_fuel",
    ] {
        assert!(
            codes.contains(code),
            "no generated program ends with {code}: {codes:?}"
        );
    }
    assert!(deep_traces >= 10, "only {deep_traces} traps inside callees");
    assert!(
        fuel_stops >= 40,
        "only {fuel_stops} programs run long enough to cut their fuel"
    );
}

/// Mutation check of the runner itself: a difference in any compared part
/// is reported (the property cannot pass by comparing nothing).
#[test]
fn a_difference_in_fuel_or_counts_is_found() {
    // The first program that does not run out of fuel in full.
    let (src, module, limits, full) = (7..100)
        .map(|seed| {
            let src = program_gen::program(&bytes(seed, 2500));
            let module = differential::build(&src).unwrap_or_else(|e| panic!("{e}"));
            let limits = differential::plan_from(seed).limits;
            let full = differential::run(&module, JitMode::Off, false, limits);
            (src, module, limits, full)
        })
        .find(|(_, _, _, full)| !full.entries.iter().any(|e| e.contains("out_of_fuel")))
        .expect("a program that runs to its end");
    assert!(full.instructions > 2, "{src}");
    let short = differential::Limits {
        fuel: Some(full.instructions / 2),
        ..limits
    };
    let cut = differential::run(&module, JitMode::Off, false, short);
    assert_ne!(full, cut, "{src}");
}

/// Calls of small leaf functions, which the JIT inlines, with operands
/// held in registers across them: the two tiers agree at every fuel stop
/// point (each instruction of the run), and on the depth limit reached at
/// an inlined call (its trap and trace), at several limits.
#[test]
fn inlined_leaf_calls_agree_at_every_fuel_stop_and_depth_limit() {
    let src = "\
.func leaf(a: int, b: int) -> int
    load a load b add load a push 7 mul push 3 div sub load b push 5 rem xor ret
.end
.func leaf_f(x: float, i: int) -> float
    load x load i itof push 0.25 mul add ret
.end
.func same(a: int) -> int
    load a ret
.end
.func walk(n: int) -> int
    load n push 0 le .if push 0 ret .endif
    load n load n call leaf pop load n call same push 1 sub call walk push 1 add ret
.end
.func entry0() -> int
    .local s: int
    .local f: float
    .local i: int
    push 0.5 store f
    .for i = 0, 40
        load s load i load s call leaf load i push 3 mul call same call leaf add store s
        load f load f load i call leaf_f push 0.001 mul add store f
    .endfor
    load s load f push 1000.0 mul ftoi add ret
.end
.func entry1() -> int
    push 100 call walk ret
.end
";
    let module = differential::build(src).unwrap_or_else(|e| panic!("{e}"));
    for depth in [30, 101, 102, 103, 200] {
        let limits = differential::Limits {
            fuel: None,
            heap: 1 << 20,
            depth,
        };
        let off = differential::run(&module, JitMode::Off, false, limits);
        let eager = differential::run(&module, JitMode::Eager, false, limits);
        assert_eq!(off, eager, "depth limit {depth}");
        if depth == 30 {
            assert!(
                off.entries[1].contains("stack_overflow"),
                "{:?}",
                off.entries
            );
        }
        if depth == 200 {
            assert!(off.entries.iter().all(|e| e.contains(": ok ")), "{off:?}");
            for fuel in 1..=off.instructions + 1 {
                let cut = differential::Limits {
                    fuel: Some(fuel),
                    ..limits
                };
                let a = differential::run(&module, JitMode::Off, false, cut);
                let b = differential::run(&module, JitMode::Eager, false, cut);
                assert_eq!(a, b, "fuel {fuel}");
            }
        }
    }
}

/// Arrays whose data pointer and length compiled code holds in registers
/// between accesses: the array local or global stored to, the array grown
/// by `array.push` (its buffer may move) and shrunk by `array.pop` (an
/// index past the new length traps), an inlined call between accesses.
/// The tiers agree at every fuel stop point, and under GC stress.
#[test]
fn held_arrays_agree_after_stores_pushes_pops_and_at_every_fuel_stop() {
    let src = "\
.global g: array<int>
.global h: array<int>
.func twice(a: int) -> int
    load a push 2 mul ret
.end
.func entry0() -> int
    .local a: array<int>
    .local s: int
    .local i: int
    .local c: array<int>
    push 4 push 1 array.new store a
    push 6 push 100 array.new store c
    push 3 push 5 array.new gstore g
    push 2 push 1000 array.new gstore h
    .for i = 0, 30
        load a push 0 load a push 0 array.get load i add array.set
        load s load a push 0 array.get add load a array.len add store s
        load a load i array.push
        load s load a load a array.len push 1 sub array.get load i call twice add add store s
        gload g push 1 gload g push 1 array.get load s xor array.set
        load i push 7 rem push 3 eq
        .if
            load a array.len push 2 add push 9 array.new store a
            gload g array.len push 1 add push 2 array.new gstore g
        .endif
        load s gload g push 1 array.get add gload g array.len add store s
        load s load a push 0 array.get add store s
        load a load c store a store c
        load s load a push 0 array.get add load a array.len add store s
        gload g gload h gstore g gstore h
        load s gload g push 1 array.get add gload g array.len add store s
    .endfor
    load s ret
.end
.func entry1() -> int
    .local a: array<int>
    .local s: int
    .local i: int
    push 3 push 2 array.new store a
    .for i = 0, 10
        load s load a push 2 array.get add store s
        load a array.pop load s add store s
    .endfor
    load s ret
.end
";
    let module = differential::build(src).unwrap_or_else(|e| panic!("{e}"));
    let limits = differential::Limits {
        fuel: None,
        heap: 1 << 20,
        depth: 100,
    };
    let off = differential::run(&module, JitMode::Off, false, limits);
    assert!(off.entries[0].contains(": ok "), "{off:?}");
    assert!(off.entries[1].contains("index_out_of_bounds"), "{off:?}");
    for gc_stress in [false, true] {
        let a = differential::run(&module, JitMode::Off, gc_stress, limits);
        let b = differential::run(&module, JitMode::Eager, gc_stress, limits);
        assert_eq!(a, b, "gc stress {gc_stress}");
    }
    for fuel in 1..=off.instructions + 1 {
        let cut = differential::Limits {
            fuel: Some(fuel),
            ..limits
        };
        let a = differential::run(&module, JitMode::Off, false, cut);
        let b = differential::run(&module, JitMode::Eager, false, cut);
        assert_eq!(a, b, "fuel {fuel}");
    }
}
