//! Criterion benchmarks by phase. Workloads are small versions of the
//! whole-program comparisons in `benches/compare.sh`, so a run takes
//! seconds; figures and commands are recorded in `benches/README.md`.

use criterion::{Criterion, criterion_group, criterion_main};
use keel_benches::{assemble, library, run_main, run_main_with, source, verified};
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
    // The interpreter alone: `--jit off`.
    let interp = keel_vm::Config::default().jit(keel_vm::JitMode::Off);
    for (name, path, args) in cases {
        let module = verified(path, &lib);
        g.bench_function(name, |b| {
            b.iter(|| run_main_with(&module, &lib, args, interp.clone()))
        });
    }
    g.finish();
}

/// The same workloads as `vmrun` runs them, hot loops compiled (the JIT
/// compiles each loop in the run, so compile time is included).
fn jit_phase(c: &mut Criterion) {
    let lib = library();
    let mut g = c.benchmark_group("jit");
    g.sample_size(20);
    let cases: [(&str, &str, &[&str]); 2] = [
        ("loop 10M", "benches/programs/loop.kasm", &["10000000"]),
        ("sieve 1M", "examples/sieve.kasm", &["1000000"]),
    ];
    for (name, path, args) in cases {
        let module = verified(path, &lib);
        g.bench_function(name, |b| b.iter(|| run_main(&module, &lib, args)));
    }
    g.finish();
}

/// The embedding costs: instantiate + call a trivial export, and a host
/// function call round trip (Keel -> Rust closure -> Keel).
fn embed_phase(c: &mut Criterion) {
    use keel_vm::{Config, Instance, Linker, Val};
    let mut lib = Linker::new();
    lib.func("host.inc", |n: i64| n + 1);
    let src = "
.export answer
.func answer() -> int
    push 42 ret
.end
.export calls
.func calls(n: int) -> int
    .local i: int
    .local acc: int
top:
    load acc call host.inc store acc
    load i push 1 add store i
    load i load n lt jmpif top
    load acc ret
.end
";
    let module = std::sync::Arc::new(
        keel_vm::verify(keel_assembler::assemble(src, "embed.kasm", &lib).unwrap()).unwrap(),
    );
    let mut g = c.benchmark_group("embed");
    g.bench_function("instantiate + call trivial export", |b| {
        b.iter(|| {
            let mut inst = Instance::new(module.clone(), &lib, Config::default()).unwrap();
            inst.call("answer", &[]).unwrap()
        })
    });
    let mut inst = Instance::new(module.clone(), &lib, Config::default()).unwrap();
    const N: i64 = 100_000;
    g.bench_function("100k host function calls from Keel", |b| {
        b.iter(|| inst.call("calls", &[Val::Int(N)]).unwrap())
    });
    g.finish();
    // Memory per idle instance: resident memory grown by 10k instances.
    let rss = || {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
    };
    if let Some(before) = rss() {
        let many: Vec<Instance> = (0..10_000)
            .map(|_| Instance::new(module.clone(), &lib, Config::default()).unwrap())
            .collect();
        if let Some(after) = rss() {
            println!(
                "memory per idle instance: {} bytes (RSS growth over {} instances)",
                (after.saturating_sub(before)) * 1024 / many.len() as u64,
                many.len()
            );
        }
    }
}

criterion_group!(
    benches,
    assemble_phase,
    verify_phase,
    interp_phase,
    jit_phase,
    embed_phase
);
criterion_main!(benches);
