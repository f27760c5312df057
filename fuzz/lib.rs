//! Shared bodies of the fuzz targets.

use std::sync::Arc;

pub mod differential;
pub mod program_gen;

use keel_vm::{Config, Instance, Linker, Type, VerifiedModule};
use keel_vm::internals::{Value};

/// The standard library with output discarded: what modules link against.
pub fn library() -> Linker {
    let mut l = Linker::new();
    keel_stdlib::install_io(&mut l, keel_stdlib::Io::null());
    keel_stdlib::install_core(&mut l);
    keel_stdlib::install_rand(&mut l, 1);
    l
}

/// Runs every function whose parameters are scalars under small limits.
/// Traps are fine; a panic or a crash is a bug.
pub fn run_limited(module: VerifiedModule, lib: &Linker) {
    let config = Config::default()
        .max_call_depth(64)
        .max_heap_bytes(4 << 20)
        .gc_stress(false)
        .fuel(100_000)
        // Re-assert the verifier's promises at every instruction, so a
        // verifier hole is a crash here rather than a silent wrong result.
        .checked(true)
        // Checked mode interprets; `fuzz_interp_vs_jit` covers the JIT.
        .jit(keel_vm::JitMode::Off);
    let module = Arc::new(module);
    let Ok(mut inst) = Instance::new(module.clone(), lib, config) else {
        return;
    };
    for (i, f) in module.module().funcs.iter().enumerate() {
        if let Some(args) = scalar_args(&f.ty.params) {
            inst.add_fuel(100_000);
            let _ = inst.call_index(i, &args);
        }
    }
}

/// Bytes -> `.kbc` reader -> verifier -> limited run.
pub fn kbc(data: &[u8], lib: &Linker) {
    if let Ok(m) = keel_vm::Module::from_bytes(data)
        && let Ok(v) = keel_vm::verify(m)
    {
        run_limited(v, lib);
    }
}

/// Runs every function whose parameters are scalars twice, interpreted
/// and with every loop compiled (`JitMode::Eager`), and panics when the two
/// disagree on the result or trap, the instructions counted or the fuel
/// left.
pub fn interp_vs_jit(module: VerifiedModule, lib: &Linker) {
    let module = Arc::new(module);
    let run = |jit: keel_vm::JitMode| -> Option<Vec<String>> {
        let config = Config::default()
            .max_call_depth(64)
            .max_heap_bytes(4 << 20)
            .gc_stress(false)
            .fuel(50_000)
            .checked(false)
            .jit(jit);
        let mut inst = Instance::new(module.clone(), lib, config).ok()?;
        let mut seen = Vec::new();
        for (i, f) in module.module().funcs.iter().enumerate() {
            let Some(args) = scalar_args(&f.ty.params) else {
                continue;
            };
            inst.set_fuel(Some(50_000));
            let outcome = match inst.call_index(i, &args) {
                Ok(v) => format!("ok {}", v.map(|v| inst.display(v)).unwrap_or_default()),
                Err(t) => format!("trap {:?} {}", t.code, t.message),
            };
            seen.push(format!(
                "{}: {outcome}; {} instructions; fuel {:?}",
                f.name,
                inst.stats().instructions,
                inst.fuel()
            ));
        }
        Some(seen)
    };
    let interpreted = run(keel_vm::JitMode::Off);
    let compiled = run(keel_vm::JitMode::Eager);
    assert_eq!(
        interpreted, compiled,
        "the JIT and the interpreter disagree"
    );
}

/// Arguments for a function whose parameters are all scalars (`None`
/// otherwise).
fn scalar_args(params: &[Type]) -> Option<Vec<Value>> {
    params
        .iter()
        .map(|t| match t {
            Type::Int => Some(Value::int(7)),
            Type::Float => Some(Value::float(1.5)),
            Type::Bool => Some(Value::bool(false)),
            Type::Any => Some(Value::NIL),
            _ => None,
        })
        .collect()
}

/// Bytes -> a generated well-typed program ([`program_gen::program`]) ->
/// the interpreter against `JitMode::Eager` ([`differential::check`]); the
/// last eight bytes (when there are more than eight) pick the limits and
/// fuel cut points. Panics on any difference, and when a generated program
/// does not assemble or verify (a generator bug).
pub fn generated_interp_vs_jit(data: &[u8]) {
    let (body, tail) = if data.len() > 8 {
        data.split_at(data.len() - 8)
    } else {
        (data, &[][..])
    };
    let mut seed = [0u8; 8];
    seed[..tail.len()].copy_from_slice(tail);
    let src = program_gen::program(body);
    let module = match differential::build(&src) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    if let Err(d) = differential::check(&module, differential::plan_from(u64::from_le_bytes(seed)))
    {
        panic!("the JIT and the interpreter disagree: {d}\n{src}");
    }
}
