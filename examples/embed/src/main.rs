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
//! Limits per plugin: 20M instructions of fuel, 16 MiB of heap, call depth
//! 1000, one second of wall time (an interrupt from a watchdog thread), and
//! a 16 MiB copy of the result (a value sharing its children would
//! otherwise copy out exponentially large).

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_vm::{CallError, Config, Instance, Linker, Val};

/// The host functions every plugin gets. `log` lines are collected per
/// plugin; the store is shared by all plugins.
fn host_linker(log: Arc<Mutex<Vec<String>>>, store: Arc<Mutex<HashMap<String, String>>>) -> Linker {
    let mut linker = Linker::new();
    keel_stdlib::install_core(&mut linker);
    linker.func("host.log", move |msg: String| {
        log.lock().unwrap_or_else(|p| p.into_inner()).push(msg);
    });
    let s = store.clone();
    linker.func("host.get", move |key: String| -> Option<String> {
        s.lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
    });
    linker.func(
        "host.set",
        move |key: String, value: String| -> Result<(), String> {
            let mut map = store.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= 1000 && !map.contains_key(&key) {
                return Err("store full: at most 1000 keys".into());
            }
            map.insert(key, value);
            Ok(())
        },
    );
    linker
}

fn show(v: &Option<Val>) -> String {
    match v {
        None | Some(Val::Nil) => "nil".into(),
        Some(Val::Int(i)) => i.to_string(),
        Some(Val::Float(f)) => keel_vm::format_float(*f),
        Some(Val::Bool(b)) => b.to_string(),
        Some(Val::Str(s)) => format!("{s:?}"),
        Some(other) => format!("{other:?}"),
    }
}

/// Runs one plugin and returns its report line.
fn run_plugin(path: &Path, linker: &Linker, log: &Arc<Mutex<Vec<String>>>) -> String {
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
    let verified = match keel_vm::verify(module) {
        Ok(v) => Arc::new(v),
        Err(errors) => return format!("{name}: rejected: {}", errors.0[0]),
    };
    let config = Config::default()
        .fuel(20_000_000)
        .max_heap_bytes(16 << 20)
        .max_call_depth(1000)
        // This host always runs at full speed; GC stress is for testing the
        // VM itself, and would make the allocation bomb hit the watchdog
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
        .max_stack_bytes(16 << 20);
    let mut instance = match Instance::new(verified, linker, config) {
        Ok(i) => i,
        Err(errors) => return format!("{name}: rejected: {}", errors[0]),
    };
    // The watchdog interrupts the plugin if it is still running after 1s.
    let handle = instance.interrupt_handle();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if done_rx.recv_timeout(Duration::from_secs(1)).is_err() {
            handle.interrupt_with("plugin ran longer than 1s");
        }
    });
    log.lock().unwrap_or_else(|p| p.into_inner()).clear();
    let outcome = instance.call("run", &[]);
    let _ = done_tx.send(());
    let _ = watchdog.join();
    let logged = log.lock().unwrap_or_else(|p| p.into_inner()).join(" | ");
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
    let log = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::new(Mutex::new(HashMap::new()));
    let linker = host_linker(log.clone(), store);
    for p in &plugins {
        println!("{}", run_plugin(p, &linker, &log));
    }
    if let Some(kib) = peak_rss_kib() {
        eprintln!("peak rss: {kib} KiB");
    }
}
