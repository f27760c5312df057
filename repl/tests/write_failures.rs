//! Every `vmrun` subcommand survives a stdout or stderr it cannot write:
//! a pipe whose reader is gone (`vmrun dis f | head -1`) ends quietly with
//! status 141, a full device (`/dev/full`, ENOSPC) prints one
//! `error: cannot write to stdout: ...` line and exits 1, and a closed
//! stderr changes nothing but the missing message. Never status 101 (a
//! panic such as `failed printing to stdout`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CLOSED: i32 = 141;
const FULL_LINE: &str = "error: cannot write to stdout: No space left on device (os error 28)\n";

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("keel-write-failures-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A file in the temp dir holding `text`. Tests run in parallel and share
/// files, so each is written aside and renamed into place: a reader never
/// sees it half written.
fn file(name: &str, text: &str) -> PathBuf {
    let p = dir().join(name);
    let aside = dir().join(format!("{name}.{:?}", std::thread::current().id()));
    std::fs::write(&aside, text).expect("write test file");
    std::fs::rename(&aside, &p).expect("rename test file");
    p
}

/// A program printing many lines (more than any pipe buffers).
fn chatty() -> PathBuf {
    file(
        "chatty.kasm",
        ".func main()\n  .local i: int\ntop:\n  load i push 1 add store i\n  load i call print\n  load i push 100000 lt jmpif top\n  ret\n.end\n",
    )
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
}

/// The write end of a pipe whose read end is already closed: every write
/// fails with EPIPE.
fn closed_pipe() -> io::PipeWriter {
    let (reader, writer) = io::pipe().expect("pipe");
    drop(reader);
    writer
}

fn full() -> Option<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .ok()
}

fn vmrun(args: &[&str], stdin: Stdio, stdout: Stdio, stderr: Stdio) -> (Option<i32>, Output) {
    let child = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(stdin)
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .expect("vmrun starts");
    let out = child.wait_with_output().expect("vmrun ends");
    (out.status.code(), out)
}

fn no_panic(what: &str, code: Option<i32>, stderr: &[u8]) {
    let text = String::from_utf8_lossy(stderr);
    assert_ne!(code, Some(101), "{what}: exit 101\n{text}");
    assert!(!text.contains("panicked"), "{what}: panicked\n{text}");
}

/// Every command that prints to stdout, with its arguments.
fn printing_commands() -> Vec<(String, Vec<String>)> {
    let sieve = example("sieve.kasm").display().to_string();
    let chatty = chatty().display().to_string();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    vec![
        ("run".into(), s(&["run", &chatty])),
        ("plain run".into(), s(&[&chatty])),
        ("dis".into(), s(&["dis", &sieve])),
        ("dis --verified".into(), s(&["dis", "--verified", &sieve])),
        ("caps".into(), s(&["caps", &sieve])),
        ("--help".into(), s(&["--help"])),
        ("--version".into(), s(&["--version"])),
        ("repl".into(), s(&["repl"])),
    ]
}

fn repl_input() -> Stdio {
    let input = file(
        "session.in",
        "1 2 add\n\"hi\" call print\n:help\n.func f() -> int push 1 ret .end\ncall f\n",
    );
    Stdio::from(std::fs::File::open(input).expect("session input"))
}

fn stdin_for(name: &str) -> Stdio {
    if name == "repl" {
        repl_input()
    } else {
        Stdio::null()
    }
}

#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    for (name, args) in printing_commands() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out) = vmrun(
            &args,
            stdin_for(&name),
            Stdio::from(closed_pipe()),
            Stdio::piped(),
        );
        no_panic(&name, code, &out.stderr);
        assert_eq!(
            code,
            Some(CLOSED),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "{name}: a closed pipe is not an error to report"
        );
    }
}

#[test]
fn a_full_stdout_is_one_error_line_and_status_1() {
    if full().is_none() {
        // Not Linux: there is no full device to write to.
        return;
    }
    for (name, args) in printing_commands() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stdout = Stdio::from(full().expect("/dev/full"));
        let (code, out) = vmrun(&args, stdin_for(&name), stdout, Stdio::piped());
        no_panic(&name, code, &out.stderr);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code, Some(1), "{name}: {err}");
        if name.contains("run") {
            // The program's own `print` fails: a trap, as the program
            // would see it in any host.
            assert!(
                err.starts_with("error: i/o error: No space left on device (os error 28)\n  --> ")
                    && err.contains("\n  at main ("),
                "{name}: {err}"
            );
        } else {
            assert_eq!(err, FULL_LINE, "{name}");
        }
    }
}

/// A program that prints less than the output buffer holds fails at the
/// final flush: that is still reported, not lost with status 0.
#[test]
fn a_short_output_lost_at_the_final_flush_is_reported() {
    if full().is_none() {
        return;
    }
    let hello = example("hello.kasm").display().to_string();
    let stdout = Stdio::from(full().expect("/dev/full"));
    let (code, out) = vmrun(&[&hello], Stdio::null(), stdout, Stdio::piped());
    no_panic("hello", code, &out.stderr);
    assert_eq!(code, Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr), FULL_LINE);
}

#[test]
fn a_closed_stderr_keeps_the_exit_status() {
    let bad = file("bad.kasm", ".func main()\n  pusj 1\n.end\n")
        .display()
        .to_string();
    let trap = file(
        "trap.kasm",
        ".func main()\n  push 1 push 0 div pop ret\n.end\n",
    )
    .display()
    .to_string();
    let missing = dir().join("missing.kasm").display().to_string();
    let out_kbc = dir().join("out.kbc").display().to_string();
    let cases: Vec<(&str, Vec<&str>, i32)> = vec![
        ("check invalid", vec!["check", &bad], 2),
        ("check missing", vec!["check", &missing], 2),
        ("asm invalid", vec!["asm", &bad, "-o", &out_kbc], 2),
        ("dis missing", vec!["dis", &missing], 2),
        ("caps invalid", vec!["caps", &bad], 2),
        ("run trap", vec![&trap], 1),
        ("run stats", vec!["run", "--stats", &trap], 1),
        ("usage", vec!["--no-such-flag"], 2),
        ("no program", vec![], 2),
        ("repl", vec!["repl"], 1),
    ];
    for (name, args, want) in cases {
        let stdin = if name == "repl" {
            let input = file("bad.in", "pusj 1\n1 0 div\n");
            Stdio::from(std::fs::File::open(input).expect("input"))
        } else {
            Stdio::null()
        };
        let (code, out) = vmrun(&args, stdin, Stdio::null(), Stdio::from(closed_pipe()));
        no_panic(name, code, &out.stderr);
        assert_eq!(code, Some(want), "{name}");
    }
}

/// `vmrun FILE | head -1`: the reader goes away after one line while the
/// program is still printing. The program stops and vmrun ends quietly.
#[test]
fn a_reader_that_leaves_early_stops_the_program_quietly() {
    let chatty = chatty();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .arg(&chatty)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vmrun starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 2];
    io::Read::read_exact(&mut stdout, &mut first).expect("first line");
    assert_eq!(&first, b"1\n");
    drop(stdout);
    let out = child.wait_with_output().expect("vmrun ends");
    no_panic("head -1", out.status.code(), &out.stderr);
    assert_eq!(out.status.code(), Some(CLOSED));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
