//! A small host application embedding Keel: it loads every plugin in a
//! folder, gives each the same host functions (`host.log`, and a key-value
//! store `host.get`/`host.set`) and nothing else but the pure standard
//! library, runs each plugin's exported `run` under limits, and prints one
//! line per plugin: its result or why it failed.
//!
//! ```text
//! cargo run --release --bin plugin-host -- examples/embed/plugins
//! ```
//!
//! Limits per plugin: 20M units of fuel, 16 MiB of heap, call depth 1000,
//! one second of wall time per call (`Instance::set_deadline`: each call
//! gets its own deadline, so nothing from one call can stop a later one),
//! and a 16 MiB copy of the result (a value sharing its children would
//! otherwise copy out exponentially large).
//!
//! Each plugin's instance carries its own host state ([`PluginState`]:
//! its log lines, and the store all plugins share), which the host
//! functions reach through their `Caller`; `run` is called through a typed
//! handle, looked up and checked once.

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_vm::{CallError, Caller, Config, Engine, Linker, Val};

/// What one plugin's instance carries for the host functions.
struct PluginState {
    /// `host.log` lines of this plugin.
    log: Vec<String>,
    /// The key-value store, shared by all plugins.
    store: Arc<Mutex<HashMap<String, String>>>,
}

/// The host functions every plugin gets: `host.log` into its own state,
/// `host.get`/`host.set` on the shared store, and the pure standard
/// library.
fn host_linker() -> Linker {
    let mut linker = Linker::new();
    keel_stdlib::install_core(&mut linker);
    linker.func(
        "host.log",
        |c: &mut Caller<'_, PluginState>, msg: String| {
            c.data_mut().log.push(msg);
        },
    );
    linker.func(
        "host.get",
        |c: &mut Caller<'_, PluginState>, key: String| -> Option<String> {
            let store = c.data().store.lock().unwrap_or_else(|p| p.into_inner());
            store.get(&key).cloned()
        },
    );
    linker.func(
        "host.set",
        |c: &mut Caller<'_, PluginState>, key: String, value: String| -> Result<(), String> {
            let mut map = c.data().store.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= 1000 && !map.contains_key(&key) {
                return Err("store full: at most 1000 keys".into());
            }
            map.insert(key, value);
            Ok(())
        },
    );
    linker
}

/// The limits every plugin runs under (the deadline is per instance:
/// [`run_plugin`] sets it).
fn plugin_config() -> Config {
    Config::default()
        .fuel(20_000_000)
        .max_heap_bytes(16 << 20)
        .max_call_depth(1000)
        // This host always runs at full speed; GC stress is for testing the
        // VM itself, and would make the allocation bomb hit the deadline
        // before the heap limit.
        .gc_stress(false)
        .checked(false)
        .jit(keel_vm::JitMode::On)
        // Plugins run briefly: compile a function after 100 calls or a loop
        // after 500 rounds.
        .jit_call_threshold(100)
        .jit_loop_threshold(500)
        // Each level of Keel -> host -> Keel nests native frames.
        .max_host_depth(keel_vm::DEFAULT_MAX_HOST_DEPTH)
        // A result is copied out: no copy may outgrow the plugin's heap
        // (a value sharing its children copies each share again).
        .max_val_bytes(16 << 20)
        // The value stack (every active call's frame) also counts toward
        // max_heap_bytes, so heap and stack together stay within 16 MiB.
        .max_stack_bytes(16 << 20)
}

fn show(v: &Val) -> String {
    match v {
        Val::Nil => "nil".into(),
        Val::Int(i) => i.to_string(),
        Val::Float(f) => keel_vm::format_float(*f),
        Val::Bool(b) => b.to_string(),
        Val::Str(s) => format!("{s:?}"),
        other => format!("{other:?}"),
    }
}

/// Runs one plugin and returns its report line.
fn run_plugin(
    path: &Path,
    engine: &Engine,
    linker: &Linker,
    store: &Arc<Mutex<HashMap<String, String>>>,
) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => return format!("{name}: cannot read: {e}"),
    };
    let module = match keel_assembler::assemble(&src, &name, linker) {
        Ok(m) => m,
        Err(errors) => {
            let e = &errors[0];
            let (line, col) = keel_assembler::diag::line_col(&src, e.span.start);
            return format!("{name}: rejected: {e} at {line}:{col}");
        }
    };
    let verified = match engine.verify(module) {
        Ok(v) => v,
        Err(errors) => return format!("{name}: rejected: {}", errors.0[0]),
    };
    let state = PluginState {
        log: Vec::new(),
        store: store.clone(),
    };
    let mut instance = match engine.instantiate_with(&verified, linker, state) {
        Ok(i) => i,
        Err(errors) => return format!("{name}: rejected: {}", errors.0[0]),
    };
    // Every call of this instance stops after 1s of wall time, measured
    // from its own start.
    instance.set_deadline(Duration::from_secs(1));
    let outcome = instance
        .typed_func::<(), Val>("run")
        .and_then(|run| run.call(&mut instance, ()));
    let logged = instance
        .data::<PluginState>()
        .map(|s| s.log.join(" | "))
        .unwrap_or_default();
    let logged = if logged.is_empty() {
        String::new()
    } else {
        format!(" (log: {logged})")
    };
    match outcome {
        Ok(v) => format!("{name}: ok {}{logged}", show(&v)),
        Err(CallError::Trap(t)) => format!("{name}: trap {}: {}{logged}", t.code.name(), t.message),
        Err(e @ CallError::TooLarge { .. }) => format!("{name}: result refused: {e}{logged}"),
        Err(e) => format!("{name}: cannot call run: {e}"),
    }
}

/// Peak resident memory of this process in KiB (Linux), if known.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "examples/embed/plugins".into());
    let mut plugins: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "kasm"))
            .collect(),
        Err(e) => {
            eprintln!("error: cannot read {dir}: {e}");
            std::process::exit(2);
        }
    };
    plugins.sort();
    let engine = Engine::new(plugin_config());
    let linker = host_linker();
    let store = Arc::new(Mutex::new(HashMap::new()));
    for p in &plugins {
        println!("{}", run_plugin(p, &engine, &linker, &store));
    }
    if let Some(kib) = peak_rss_kib() {
        eprintln!("peak rss: {kib} KiB");
    }
}
