//! Runs a generated program ([`crate::program_gen`]) with the JIT off and
//! with `JitMode::Eager`, and says where the two runs differ.
//!
//! Shared by the property test `assembler/tests/jit_differential_calls.rs`
//! (which includes this file) and the `interp_vs_jit` fuzz target. A run
//! calls every entry point of the program in order on one instance (so
//! globals and fuel carry over from one to the next, and a trap in one
//! entry does not hide the others), and records for each: the result's
//! display form or the trap's code, message and Keel stack trace as
//! displayed ([`Trap::report`]), then the instructions counted
//! (`ExecStats::instructions`) and the fuel left; and the whole output of
//! `print`. Two runs agree when all of that is equal.

use std::io::Write;
use std::sync::{Arc, Mutex};

use keel_vm::{Config, Instance, JitMode, Linker, VerifiedModule, verify};

/// What one run of a program showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// One line per entry point: its result or trap (with the trace),
    /// instructions counted so far and fuel left.
    pub entries: Vec<String>,
    /// Everything the program printed.
    pub output: String,
    /// Instructions counted over the whole run.
    pub instructions: u64,
}

/// Limits of a run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Fuel for the whole run (every entry draws on it).
    pub fuel: Option<u64>,
    /// `Config::max_heap_bytes`.
    pub heap: usize,
    /// `Config::max_call_depth`.
    pub depth: usize,
}

/// An output stream shared between the linker and the runner.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The standard library with `print` and `write` going to `out`.
fn library(out: &Captured) -> Linker {
    let mut l = Linker::new();
    let io = keel_stdlib::Io {
        out: Arc::new(Mutex::new(out.clone())),
        input: Arc::new(Mutex::new(std::io::empty())),
    };
    keel_stdlib::install_io(&mut l, io);
    keel_stdlib::install_core(&mut l);
    l
}

/// Assembles and verifies a generated program. A failure is a bug of the
/// generator (its programs are well-typed by construction), reported with
/// the source.
pub fn build(src: &str) -> Result<Arc<VerifiedModule>, String> {
    let lib = library(&Captured::default());
    let module = keel_assembler::assemble(src, "gen.kasm", &lib).map_err(|errs| {
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        format!("generated program does not assemble: {msgs:?}\n{src}")
    })?;
    let verified =
        verify(module).map_err(|e| format!("generated program does not verify: {e}\n{src}"))?;
    Ok(Arc::new(verified))
}

/// Runs every entry point of `module` (functions named by
/// [`crate::program_gen::is_entry`], no parameters) in order.
pub fn run(module: &Arc<VerifiedModule>, jit: JitMode, gc_stress: bool, limits: Limits) -> Outcome {
    let out = Captured::default();
    let lib = library(&out);
    let config = {
        let mut config = Config::default()
            .jit(jit)
            .gc_stress(gc_stress)
            .max_heap_bytes(limits.heap)
            .max_call_depth(limits.depth)
            .checked(false);
        config.fuel = limits.fuel;
        config
    };
    let mut entries = Vec::new();
    let mut inst = match Instance::new(module.clone(), &lib, config) {
        Ok(i) => i,
        Err(e) => {
            entries.push(format!("link error: {e:?}"));
            return Outcome {
                entries,
                output: String::new(),
                instructions: 0,
            };
        }
    };
    for (i, f) in module.module().funcs.iter().enumerate() {
        if !crate::program_gen::is_entry(&f.name) {
            continue;
        }
        let shown = match inst.call_index(i, &[]) {
            Ok(v) => format!("ok {}", v.map(|v| inst.display(v)).unwrap_or_default()),
            Err(t) => format!("trap {} {}", t.code.name(), t.report()),
        };
        entries.push(format!(
            "{}: {shown}; {} instructions; fuel {:?}",
            f.name,
            inst.stats().instructions,
            inst.fuel()
        ));
    }
    let output =
        String::from_utf8_lossy(&out.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    Outcome {
        entries,
        output,
        instructions: inst.stats().instructions,
    }
}

/// The first difference between two outcomes, described.
fn differ(what: &str, a: &Outcome, b: &Outcome) -> Option<String> {
    if a == b {
        return None;
    }
    for (x, y) in a.entries.iter().zip(&b.entries) {
        if x != y {
            return Some(format!(
                "{what}: entry differs:\n  off:   {x}\n  eager: {y}"
            ));
        }
    }
    if a.entries.len() != b.entries.len() {
        return Some(format!(
            "{what}: entries differ: {:?} vs {:?}",
            a.entries, b.entries
        ));
    }
    if a.output != b.output {
        return Some(format!(
            "{what}: output differs:\n--- off\n{}\n--- eager\n{}",
            a.output, b.output
        ));
    }
    Some(format!(
        "{what}: instructions differ: {} vs {}",
        a.instructions, b.instructions
    ))
}

/// Most fuel of the GC-stress runs.
pub const STRESS_FUEL: u64 = 15_000;

/// Largest heap of the GC-stress runs (each collection traces what is
/// live, and a stress run collects at every allocation).
pub const STRESS_HEAP: usize = 512 << 10;

/// How a program is checked: the limits of its full run and which fuel
/// stop points are tried.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Limits of the full run (its fuel caps programs that would run long).
    pub limits: Limits,
    /// A number that picks one of the fuel stop points.
    pub salt: u64,
}

/// Runs `module` both ways under `plan` and returns the first difference:
/// the full run; the same under GC stress (collecting at every
/// allocation); and runs with fuel cut to several points before the end (half
/// way, one instruction short, one instruction, and one picked by
/// `plan.salt`), which must stop at the same place with the same trace,
/// counts and fuel left.
pub fn check(module: &Arc<VerifiedModule>, plan: Plan) -> Result<(), String> {
    let limits = plan.limits;
    let off = run(module, JitMode::Off, false, limits);
    let eager = run(module, JitMode::Eager, false, limits);
    if let Some(d) = differ("full run", &off, &eager) {
        return Err(d);
    }
    // GC stress in both modes, compared with each other: under stress a
    // heap runs out sooner than without it (a known difference of the
    // collector, not of the JIT: see `fuzz/findings/`), so the stressed
    // runs are not compared with the plain ones.
    // Collecting at every allocation is slow, and slower the more is
    // live: these runs stop sooner and hold less.
    let stress = Limits {
        fuel: Some(limits.fuel.map_or(STRESS_FUEL, |f| f.min(STRESS_FUEL))),
        heap: limits.heap.min(STRESS_HEAP),
        ..limits
    };
    let stressed_off = run(module, JitMode::Off, true, stress);
    let stressed_eager = run(module, JitMode::Eager, true, stress);
    if let Some(d) = differ("gc stress", &stressed_off, &stressed_eager) {
        return Err(d);
    }
    let total = off.instructions;
    let mut cuts = vec![total / 2, total.saturating_sub(1), 1];
    if total > 0 {
        cuts.push(plan.salt % total);
    }
    cuts.sort_unstable();
    cuts.dedup();
    for n in cuts {
        let cut = Limits {
            fuel: Some(n),
            ..limits
        };
        let off = run(module, JitMode::Off, false, cut);
        let eager = run(module, JitMode::Eager, false, cut);
        if let Some(d) = differ(&format!("fuel {n}"), &off, &eager) {
            return Err(d);
        }
    }
    Ok(())
}

/// A plan picked from a few bytes (the fuzz target's input tail).
pub fn plan_from(seed: u64) -> Plan {
    let heaps = [256 << 10, 1 << 20, 16 << 20, 256 << 20];
    let depths = [30, 60, 200];
    Plan {
        limits: Limits {
            fuel: Some(200_000),
            heap: heaps[(seed % 4) as usize],
            depth: depths[((seed >> 2) % 3) as usize],
        },
        salt: seed >> 4,
    }
}
