//! A REPL line costs what the line costs, not what the session holds: a
//! piped session of 4N definitions and lines costs at most about four
//! times as much as one of N (each input is assembled and verified alone, see
//! `repl/src/session/piece.rs`). Before, every input re-assembled and
//! re-verified the whole session, so the time grew with the square of its
//! length.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

/// A session of `n` function definitions, each followed by a line that
/// calls it; every tenth input also redefines an earlier function (same
/// signature), defines a global or declares a session local, so every kind
/// of input is measured.
fn session(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let _ = writeln!(
            s,
            ".func f{i}(x: int) -> int\n    load x push {i} add ret\n.end"
        );
        let _ = writeln!(s, "{i} call f{i} pop");
        if i % 10 == 5 {
            let j = i / 2;
            let _ = writeln!(s, ".func f{j}(x: int) -> int load x push 1 sub ret .end");
            let _ = writeln!(s, ".global g{i}: str = \"v{i}\"");
            let _ = writeln!(s, ".local l{i}: int {i} store l{i} gload g{i} pop");
            let _ = writeln!(s, "{i} call f{j} call f{i} pop");
        }
    }
    s.push_str("1 call f0\n");
    s
}

/// CPU time (user + system, in clock ticks) of this process's waited-for
/// children, from `/proc/self/stat`: on a machine shared with other work,
/// much steadier than wall time. This file holds one test, so the only
/// children are its own runs. `None` without procfs.
fn children_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 16 and 17 of proc(5), counted from the state (field 3).
    let cutime: u64 = fields.get(13)?.parse().ok()?;
    let cstime: u64 = fields.get(14)?.parse().ok()?;
    Some(cutime + cstime)
}

/// The tests here measure the CPU time of all this process's finished
/// children, so they must not run at the same time: each holds this lock.
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the session through `vmrun repl`; returns what it cost: CPU ticks
/// where procfs tells, else wall time in microseconds.
fn run(n: usize) -> u64 {
    let (elapsed, stdout) = cost(session(n));
    // Every line pops what it pushed, and f0 adds 0.
    assert!(
        stdout.ends_with("[1: int]\n"),
        "{}",
        &stdout[stdout.len().saturating_sub(200)..]
    );
    elapsed
}

#[test]
fn session_time_grows_linearly_with_its_length() {
    if keel_vm::GC_STRESS_BUILD {
        return; // measures the normal build; under GC stress every allocation collects
    }
    // Two doublings, so the bound (2.5x per doubling: 6.25x) sits well
    // clear of both linear growth (4x) and the old quadratic one (16x)
    // even when other work on the machine skews single runs. Runs are
    // interleaved and the cheapest of each size counts.
    const N: usize = 300;
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    let (mut small, mut large) = (u64::MAX, u64::MAX);
    for _ in 0..3 {
        small = small.min(run(N));
        large = large.min(run(4 * N));
    }
    let ratio = large as f64 / small.max(1) as f64;
    eprintln!("{N} definitions: {small}, {}: {large} ({ratio:.2}x)", 4 * N);
    assert!(
        ratio < 2.5 * 2.5,
        "quadrupling the session from {N} to {} definitions cost {ratio:.2}x as much ({small} -> {large} CPU ticks)",
        4 * N
    );
}

/// Runs `vmrun repl` on `input`; returns its CPU ticks (or wall
/// microseconds without procfs) and its stdout. The session must succeed.
fn cost(input: String) -> (u64, String) {
    let start = Instant::now();
    let cpu = children_cpu_ticks();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .arg("repl")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vmrun starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("vmrun ends");
    let elapsed = match (cpu, children_cpu_ticks()) {
        (Some(before), Some(after)) => after - before,
        _ => start.elapsed().as_micros() as u64,
    };
    writer.join().expect("writer").expect("input written");
    assert!(
        out.status.success(),
        "the session fails:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (elapsed, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `:load` of a file of many items splits it into one chunk per item
/// through one line index: the position of each item was once found by
/// scanning the file from its start (quadratic in the number of items).
#[test]
fn loading_a_file_of_many_items_is_linear() {
    if keel_vm::GC_STRESS_BUILD {
        return; // measures the normal build; under GC stress every allocation collects
    }
    let dir = std::env::temp_dir().join(format!("keel-load-scaling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = |n: usize| {
        let file = dir.join(format!("items-{n}.kasm"));
        let text: String = (0..n)
            .map(|i| format!(".global g{i}: int = {i}  ; padding to make the file longer\n"))
            .collect();
        std::fs::write(&file, text).unwrap();
        format!(":load {}\n", file.display())
    };
    const N: usize = 8000;
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    let (mut small, mut large) = (u64::MAX, u64::MAX);
    for _ in 0..3 {
        small = small.min(cost(input(N)).0);
        large = large.min(cost(input(4 * N)).0);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let ratio = large as f64 / small.max(1) as f64;
    eprintln!("{N} items: {small}, {}: {large} ({ratio:.2}x)", 4 * N);
    assert!(
        ratio < 2.5 * 2.5,
        "quadrupling a loaded file from {N} to {} items cost {ratio:.2}x as much ({small} -> {large})",
        4 * N
    );
}

/// Redefining a global relinks only the functions that name it: it once
/// decoded every function of the session for every redefinition.
#[test]
fn redefining_globals_is_linear() {
    if keel_vm::GC_STRESS_BUILD {
        return; // measures the normal build; under GC stress every allocation collects
    }
    let input = |n: usize| {
        let mut s = String::new();
        for k in 0..n {
            s.push_str(&format!(".func f{k}() -> int\n"));
            s.push_str(&"    push 1 pop\n".repeat(20));
            s.push_str(&format!("    push {k} ret\n.end\n"));
        }
        // One function names `x`: each redefinition relinks just it.
        s.push_str(".func ux() -> int\n    gload x ret\n.end\n");
        for k in 0..n {
            s.push_str(&format!(".global x: int = {k}\n"));
        }
        s
    };
    let input = |n: usize| format!(".global x: int = 0\n{}call ux\n", input(n));
    const N: usize = 300;
    let _one_at_a_time = MEASURING.lock().unwrap_or_else(|p| p.into_inner());
    let (mut small, mut large) = (u64::MAX, u64::MAX);
    for _ in 0..3 {
        small = small.min(cost(input(N)).0);
        large = large.min(cost(input(4 * N)).0);
    }
    let ratio = large as f64 / small.max(1) as f64;
    eprintln!(
        "{N} redefinitions: {small}, {}: {large} ({ratio:.2}x)",
        4 * N
    );
    assert!(
        ratio < 2.5 * 2.5,
        "quadrupling from {N} to {} functions and global redefinitions cost {ratio:.2}x as much ({small} -> {large})",
        4 * N
    );
}
