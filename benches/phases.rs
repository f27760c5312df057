//! Criterion benchmarks by phase. Workloads are small versions of the
//! whole-program comparisons in `benches/compare.sh`, so a run takes
//! seconds; figures and commands are recorded in `benches/README.md`.

use criterion::{Criterion, criterion_group, criterion_main};
use keel_benches::{assemble, library, run_main, source, verified};
use std::hint::black_box;

fn assemble_phase(c: &mut Criterion) {
    let lib = library();
    let mut g = c.benchmark_group("assemble");
    for path in ["examples/nbody.kasm", "examples/word_count.kasm"] {
        let src = source(path);
        g.bench_function(path, |b| {
            b.iter(|| keel_assembler::assemble(black_box(&src), path, &lib).unwrap())
        });
    }
    g.finish();
}

fn verify_phase(c: &mut Criterion) {
    let lib = library();
    let mut g = c.benchmark_group("verify");
    for path in ["examples/nbody.kasm", "examples/word_count.kasm"] {
        let bytes = assemble(path, &lib).to_bytes();
        g.bench_function(format!("decode+verify {path}"), |b| {
            b.iter(|| {
                keel_vm::verify(keel_vm::Module::from_bytes(black_box(&bytes)).unwrap()).unwrap()
            })
        });
    }
    g.finish();
}

fn interp_phase(c: &mut Criterion) {
    let lib = library();
    let mut g = c.benchmark_group("interp");
    g.sample_size(20);
    let cases: [(&str, &str, &[&str]); 5] = [
        ("fib(25)", "examples/fib.kasm", &["25"]),
        ("loop 10M", "benches/programs/loop.kasm", &["10000000"]),
        ("sieve 1M", "examples/sieve.kasm", &["1000000"]),
        ("binary_trees 12", "examples/binary_trees.kasm", &["12"]),
        ("nbody 10k steps", "examples/nbody.kasm", &["10000"]),
    ];
    for (name, path, args) in cases {
        let module = verified(path, &lib);
        g.bench_function(name, |b| b.iter(|| run_main(&module, &lib, args)));
    }
    g.finish();
}

criterion_group!(benches, assemble_phase, verify_phase, interp_phase);
criterion_main!(benches);
