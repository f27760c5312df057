//! The cost of one call of an exported function from the host: by name
//! (`Instance::call`: lookup and argument type checks at every call, `Val`
//! in and out) against a typed handle (`TypedFunc::call`: looked up and
//! checked once by `Instance::typed_func`). Figures in `benches/README.md`.
//!
//! Each call is timed in the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`),
//! not wall time: on a shared machine the wall time of a sub-microsecond
//! call mostly measures how often the thread was descheduled.

use criterion::{Criterion, criterion_group, criterion_main};
use keel_vm::{Engine, Linker, TypedFunc, Val};
use std::hint::black_box;
use std::time::Duration;

/// The calling thread's CPU time so far.
fn cpu_now() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

/// Criterion's `iter`, timed in thread CPU time.
fn cpu_iter<R>(b: &mut criterion::Bencher<'_>, mut f: impl FnMut() -> R) {
    b.iter_custom(|iters| {
        let start = cpu_now();
        for _ in 0..iters {
            black_box(f());
        }
        cpu_now() - start
    });
}

const SRC: &str = "
.export add
.func add(a: int, b: int) -> int
    load a load b add ret
.end
.export decide
.func decide(limit: int, who: str) -> bool
    load who call str.len load limit lt ret
.end
";

fn calls(c: &mut Criterion) {
    let engine = Engine::default();
    let mut linker = Linker::new();
    keel_stdlib::install_core(&mut linker);
    let module = keel_assembler::load_text(&engine, SRC, "typed_call.kasm", &linker)
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let mut inst = engine.instantiate(&module, &linker).expect("links");
    let add: TypedFunc<(i64, i64), i64> = inst.typed_func("add").expect("add");
    let decide: TypedFunc<(i64, &str), bool> = inst.typed_func("decide").expect("decide");

    let mut g = c.benchmark_group("typed_call");
    g.bench_function("add(int, int) by name", |b| {
        cpu_iter(b, || {
            inst.call("add", black_box(&[Val::Int(1), Val::Int(2)]))
                .unwrap()
        })
    });
    g.bench_function("add(int, int) call_typed by name", |b| {
        cpu_iter(b, || {
            inst.call_typed::<i64>("add", black_box(&[Val::Int(1), Val::Int(2)]))
                .unwrap()
        })
    });
    g.bench_function("add(int, int) typed handle", |b| {
        cpu_iter(b, || add.call(&mut inst, black_box((1, 2))).unwrap())
    });
    let args = [Val::Int(5), Val::from("Ada")];
    g.bench_function("decide(int, str) by name", |b| {
        cpu_iter(b, || inst.call("decide", black_box(&args)).unwrap())
    });
    g.bench_function("decide(int, str) typed handle", |b| {
        cpu_iter(b, || decide.call(&mut inst, black_box((5, "Ada"))).unwrap())
    });
    g.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
