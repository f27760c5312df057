//! REPL sessions driven through a pipe: every `tests/sessions/NAME.in` runs
//! as `vmrun repl < NAME.in` (working directory `tests/sessions`, so
//! `:load` finds its files) and must print `NAME.out` on stdout, `NAME.err`
//! on stderr and exit with `NAME.status`. Timings vary, so `time: N ms`
//! lines compare as `time: <ms>`. `BLESS=1` rewrites the expectations.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sessions")
}

fn mask_times(s: &str) -> String {
    s.lines()
        .map(|l| match l.strip_prefix("time: ") {
            Some(rest) if rest.ends_with(" ms") => "time: <ms>".to_owned(),
            _ => l.to_owned(),
        })
        .map(|l| l + "\n")
        .collect()
}

fn check(name: &str) {
    check_with(name, &[]);
}

fn check_with(name: &str, flags: &[&str]) {
    let dir = dir();
    let input = std::fs::File::open(dir.join(format!("{name}.in"))).expect("session input");
    let out = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .arg("repl")
        .args(flags)
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::from(input))
        .output()
        .expect("vmrun runs");
    let stdout = mask_times(&String::from_utf8_lossy(&out.stdout));
    let stderr = mask_times(&String::from_utf8_lossy(&out.stderr));
    let status = format!("{}\n", out.status.code().unwrap_or(-1));
    let expect = |ext: &str, actual: &str| {
        let path = dir.join(format!("{name}.{ext}"));
        if std::env::var_os("BLESS").is_some() && flags.is_empty() {
            std::fs::write(&path, actual).expect("bless");
            return;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(actual, want, "{name}.{ext} differs (BLESS=1 to accept)");
    };
    expect("out", &stdout);
    expect("err", &stderr);
    expect("status", &status);
}

#[test]
fn basics() {
    check("basics");
}

#[test]
fn definitions() {
    check("definitions");
}

#[test]
fn locals() {
    check("locals");
}

#[test]
fn errors() {
    check("errors");
}

#[test]
fn commands() {
    check("commands");
}

#[test]
fn read_line() {
    check("read_line");
}

/// Functions that name a global are relinked each time it is redefined,
/// including after they are redefined themselves (the REPL finds them
/// through an index of each global's users).
#[test]
fn relink_globals() {
    check("relink_globals");
}

/// Every session again in checked mode: the interpreter re-asserts the
/// verifier's stack types before every instruction, snippets included.
#[test]
fn sessions_pass_checked() {
    for name in LISTED {
        check_with(name, &["--checked"]);
    }
}

const LISTED: [&str; 8] = [
    "basics",
    "definitions",
    "locals",
    "errors",
    "commands",
    "read_line",
    "readme",
    "relink_globals",
];

#[test]
fn every_session_file_has_a_test() {
    let listed = LISTED;
    for entry in std::fs::read_dir(dir()).expect("sessions dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "in") {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            assert!(listed.contains(&stem), "{stem}.in has no test");
        }
    }
}

/// The transcript in README.md.
#[test]
fn readme() {
    check("readme");
}

/// Without a file and without a terminal, plain `vmrun` is a usage error.
#[test]
fn plain_vmrun_without_a_terminal_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .stdin(Stdio::null())
        .output()
        .expect("vmrun runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("vmrun repl"));
}
