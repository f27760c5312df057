//! A REPL line costs what the line costs, not what the session holds: a
//! piped session of 2N definitions and lines takes at most about twice as
//! long as one of N (each input is assembled and verified alone, see
//! `repl/src/session/piece.rs`). Before, every input re-assembled and
//! re-verified the whole session, so the time grew with the square of its
//! length.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

/// Runs the session through `vmrun repl`; returns its wall time.
fn run(n: usize) -> Duration {
    let input = session(n);
    let start = Instant::now();
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
    let elapsed = start.elapsed();
    writer.join().expect("writer").expect("input written");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the session fails:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    const N: usize = 600;
    // Best of two runs each, against scheduling noise on a shared machine.
    let small = run(N).min(run(N));
    let large = run(2 * N).min(run(2 * N));
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    assert!(
        ratio < 2.5,
        "doubling the session from {N} to {} definitions took {ratio:.2}x as long ({small:?} -> {large:?})",
        2 * N
    );
}
