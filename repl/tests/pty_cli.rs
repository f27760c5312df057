//! Command-line and REPL behaviour a terminal user sees, through a real
//! pseudo-terminal: a prompt written before `io.read_line` shows before
//! the answer is typed, trap messages are coloured (unless `NO_COLOR`),
//! type-ahead survives a running line, a paste of a definition and a call
//! runs both, Ctrl-C ends a line waiting in `io.read_line` or
//! `io.read_bytes`, and the REPL's limit flags and hints.
//!
//! Robust on a loaded machine: every step waits for the text it needs
//! (prompts included) with a generous timeout, never for a fixed time.

#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use expectrl::session::OsSession as Session;
use expectrl::{Eof, Expect};

const TIMEOUT: Duration = Duration::from_secs(30);

fn dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("keel-pty-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn spawn(cmd: Command) -> Session {
    let mut s = Session::spawn(cmd).expect("spawns in a pty");
    s.set_expect_timeout(Some(TIMEOUT));
    s
}

fn repl(state: &std::path::Path, flags: &[&str]) -> Session {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmrun"));
    cmd.arg("repl")
        .args(flags)
        .env("XDG_STATE_HOME", state)
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let mut s = spawn(cmd);
    s.expect("Keel REPL").expect("banner");
    s.expect("keel> ").expect("prompt");
    s
}

#[test]
fn a_prompt_shows_before_the_answer_is_typed() {
    let d = dir("prompt");
    let prog = d.join("ask.kasm");
    std::fs::write(
        &prog,
        ".func main()\n    push \"name? \" call write\n    call io.read_line cast str\n    push \"hello \" swap concat call print\n    ret\n.end\n",
    )
    .expect("write program");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmrun"));
    cmd.arg(&prog).env("TERM", "xterm");
    let mut s = spawn(cmd);
    // Nothing is typed until the prompt is seen: a program that prints it
    // only at exit fails here.
    s.expect("name? ").expect("prompt before the read");
    s.send_line("Bob").expect("send");
    s.expect("hello Bob").expect("answer");
    s.expect(Eof).expect("exits");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn traps_are_coloured_on_a_terminal_unless_no_color() {
    let d = dir("colour");
    let prog = d.join("t.kasm");
    std::fs::write(
        &prog,
        ".func main()\n    push 1 push 0 div call print ret\n.end\n",
    )
    .expect("write program");
    for no_color in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmrun"));
        cmd.arg(&prog).env("TERM", "xterm");
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let mut s = spawn(cmd);
        let found = s.expect(Eof).expect("exits");
        let mut bytes = found.before().to_vec();
        bytes.extend(found.get(0).unwrap_or_default());
        let text = String::from_utf8_lossy(&bytes).into_owned();
        assert!(text.contains("division by zero"), "{text:?}");
        assert!(text.contains("^^^"), "{text:?}");
        assert_eq!(
            text.contains("\x1b["),
            !no_color,
            "NO_COLOR={no_color}: {text:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn type_ahead_survives_a_running_line() {
    let d = dir("typeahead");
    let mut s = repl(&d, &[]);
    // Both lines at once, each time: `add` must run on the pushed values.
    for round in 0..6 {
        s.send("1 2\radd\r").expect("send both lines");
        s.expect("[1: int, 2: int]").expect("first line ran");
        s.expect("[3: int]")
            .unwrap_or_else(|e| panic!("round {round}: `add` was lost: {e}"));
        s.expect("keel> ").expect("prompt");
        s.send_line(":clear").expect("send");
        s.expect("[]").expect("cleared");
        s.expect("keel> ").expect("prompt");
    }
    s.send_line(":quit").expect("send");
    s.expect(Eof).expect("exits");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_pasted_definition_and_call_both_run() {
    let d = dir("paste");
    let mut s = repl(&d, &[]);
    // Bracketed paste: the line editor takes it as one input.
    s.send("\x1b[200~.func five() -> int\n    push 5 ret\n.end\ncall five\npusj 1\x1b[201~\r")
        .expect("paste");
    s.expect("defined five() -> int").expect("definition ran");
    s.expect("[5: int]").expect("call ran");
    // The third piece's error points at its own line of the paste.
    s.expect("<repl>:5:1").expect("error at the paste's line 5");
    s.send_line(":quit").expect("send");
    s.expect(Eof).expect("exits");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn history_recalls_a_definition_as_one_entry() {
    let d = dir("history");
    let mut s = repl(&d, &[]);
    s.send_line(".func two() -> int").expect("send");
    s.expect("....> ").expect("continuation");
    s.send_line("    push 2 ret").expect("send");
    s.expect("\r\n").expect("line accepted");
    s.expect("....> ").expect("continuation");
    s.send_line(".end").expect("send");
    s.expect("defined two() -> int").expect("defined");
    s.expect("keel> ").expect("prompt");
    // Up recalls the whole definition; Enter redefines it.
    s.send("\x1b[A\r").expect("up, enter");
    s.expect("redefined two() -> int").expect("recalled whole");
    s.expect("keel> ").expect("prompt");
    s.send_line(":quit").expect("send");
    s.expect(Eof).expect("exits");
    let history = std::fs::read_to_string(d.join("keel/history")).expect("history file");
    let _ = std::fs::remove_dir_all(&d);
    assert!(!history.lines().any(|l| l.trim() == ".end"), "{history}");
}

#[test]
fn ctrl_c_in_a_read_ends_the_line() {
    let d = dir("ctrl-c-read");
    let mut s = repl(&d, &[]);
    s.send_line("push 40 push 2").expect("send");
    s.expect("[40: int, 2: int]").expect("stack");
    s.expect("keel> ").expect("prompt");
    for call in ["call io.read_line", "push 5 call io.read_bytes"] {
        // `waiting` is printed (and flushed) by the running line, so the
        // terminal is out of the line editor's raw mode when Ctrl-C is
        // sent: the key is a signal, not an edit.
        s.send_line(format!("push \"waiting\" call print {call}"))
            .expect("send");
        s.expect("waiting\r\n").expect("the line runs");
        s.send("\x03").expect("ctrl-c");
        s.expect("interrupted")
            .unwrap_or_else(|e| panic!("{call}: Ctrl-C did not end the read: {e}"));
        s.expect("keel> ").expect("fresh prompt");
        // What is typed next goes to the REPL, and the stack is restored.
        s.send_line("add").expect("send");
        s.expect("[42: int]").expect("the next line ran");
        s.expect("keel> ").expect("prompt");
        s.send_line("pop push 40 push 2").expect("send");
        s.expect("[40: int, 2: int]").expect("stack");
        s.expect("keel> ").expect("prompt");
    }
    // A read after an interrupted one gets what is typed for it (once it
    // asks: text sent with the line could be read by the line editor).
    s.send_line("push \"name?\" call print call io.read_line")
        .expect("send");
    s.expect("name?\r\n").expect("the line runs");
    s.send_line("hello").expect("answer");
    s.expect("\"hello\"").expect("read the answer");
    s.expect("keel> ").expect("prompt");
    s.send_line(":quit").expect("send");
    s.expect(Eof).expect("exits");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn bare_exit_and_limit_flags_in_a_terminal_session() {
    let d = dir("flags");
    let mut s = repl(&d, &["--fuel", "1000", "--timeout", "5s"]);
    s.send_line("exit").expect("send");
    s.expect("`:quit` or Ctrl-D leaves").expect("hint");
    s.expect("keel> ").expect("prompt");
    s.send_line("push 0 top: jmp top").expect("send");
    s.expect("out of fuel").expect("the line's fuel ran out");
    s.expect("keel> ").expect("prompt");
    // The next line has its own budget.
    s.send_line("push 1 push 2 add").expect("send");
    s.expect("[3: int]").expect("ran");
    s.send_line(":quit").expect("send");
    s.expect(Eof).expect("exits");
    let _ = std::fs::remove_dir_all(&d);
}
