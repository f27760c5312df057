//! Constants of any size: the same loops with a constant that fits the
//! fused ops' own fields and with one that does not (a compare past i16, a
//! counted loop's step past i8). Each pair does the same work, so the two
//! times should match, interpreted and with the JIT.
//! `cargo bench -p keel-benches --bench constants`.

use criterion::{Criterion, criterion_group, criterion_main};
use keel_vm::{Config, Instance, JitMode, Linker};
use std::sync::Arc;

/// 1M rounds of `s += i; i += 1; i < k` (i from `k - 1000`, 1000 times).
fn compare(k: i64) -> String {
    format!(
        "
.export run
.func run() -> int
    .local i: int
    .local s: int
    .local o: int
outer:
    push {k} push 1000 sub store i
inner:
    load s load i add store s
    load i push 1 add store i
    load i push {k} lt jmpif inner
    load o push 1 add store o
    load o push 1000 lt jmpif outer
    load s ret
.end
"
    )
}

/// 1M rounds of `s += i; i += k; i < n` with `n = k * 1M`.
fn step(k: i64) -> String {
    format!(
        "
.export run
.func run() -> int
    .local i: int
    .local s: int
    .local n: int
    push {k} push 1000000 mul store n
top:
    load s load i add store s
    load i push {k} add store i load i load n lt jmpif top
    load s ret
.end
"
    )
}

fn constants(c: &mut Criterion) {
    let lib = Linker::new();
    let mut g = c.benchmark_group("constants");
    g.sample_size(20);
    let cases = [
        ("compare 32767", compare(32_767)),
        ("compare 1000000", compare(1_000_000)),
        ("step 100", step(100)),
        ("step 1000", step(1_000)),
    ];
    for (jit, tier) in [(JitMode::Off, "jit off"), (JitMode::On, "jit on")] {
        for (name, src) in &cases {
            let module = keel_assembler::assemble(src, "constants.kasm", &lib).unwrap();
            let module = Arc::new(keel_vm::verify(module).unwrap());
            let config = Config::default().jit(jit);
            g.bench_function(format!("{name}, {tier}"), |b| {
                b.iter(|| {
                    let mut inst = Instance::new(module.clone(), &lib, config.clone()).unwrap();
                    inst.call("run", &[]).unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, constants);
criterion_main!(benches);
