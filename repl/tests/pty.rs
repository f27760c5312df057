//! The interactive REPL through a real pseudo-terminal: tab completion, a
//! multi-line definition with its continuation prompt, an error, Ctrl-C
//! during a running line and at the prompt, Ctrl-D, and the history file.

#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use expectrl::{ControlCode, Eof, Expect, Session};

#[test]
fn interactive_session_in_a_pty() {
    let state = std::env::temp_dir().join(format!("keel-pty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmrun"));
    cmd.arg("repl")
        .env("XDG_STATE_HOME", &state)
        .env("TERM", "xterm");
    let mut s = Session::spawn(cmd).expect("spawns in a pty");
    s.set_expect_timeout(Some(Duration::from_secs(20)));
    s.expect("Keel REPL").expect("banner");
    s.expect("keel> ").expect("prompt");

    // Completion: `pu` + Tab completes to the only mnemonic, `push`.
    s.send("pu\t").expect("send");
    s.expect("push").expect("completed");
    s.send_line(" 41").expect("send");
    s.expect("[41: int]").expect("stack after push");

    // A multi-line definition: the continuation prompt until `.end`.
    s.send_line(".func inc(x: int) -> int").expect("send");
    s.expect("....> ").expect("continuation prompt");
    s.send_line("    load x push 1 add ret").expect("send");
    // Every keystroke redraws the current line, prompt included, so wait
    // for the line's end before the next prompt: text sent while this
    // line is still being read could be read with it and dropped.
    s.expect("\r\n").expect("line accepted");
    s.expect("....> ").expect("still continuing");
    s.send_line(".end").expect("send");
    s.expect("defined inc(x: int) -> int").expect("defined");
    s.send_line("call inc").expect("send");
    s.expect("[42: int]").expect("called");

    // An error, with its caret, leaves the stack alone.
    s.send_line("pusj 1").expect("send");
    s.expect("did you mean `push`?").expect("error message");
    s.expect("^^^^").expect("caret");

    // Ctrl-C interrupts a line that never ends; the stack is restored.
    s.expect("keel> ").expect("prompt");
    s.send_line("push 0 top: jmp top").expect("send");
    // Until the line runs the terminal may still be raw, where Ctrl-C only
    // clears the prompt: retry until the run reports the interrupt.
    s.set_expect_timeout(Some(Duration::from_secs(1)));
    let interrupted = (0..20).any(|_| {
        std::thread::sleep(Duration::from_millis(200));
        s.send(ControlCode::EndOfText).expect("ctrl-c");
        s.expect("interrupted").is_ok()
    });
    assert!(interrupted, "Ctrl-C did not interrupt the running line");
    s.set_expect_timeout(Some(Duration::from_secs(20)));
    s.send_line("dup").expect("send");
    s.expect("[42: int, 42: int]").expect("stack restored");

    // Ctrl-C at the prompt drops the typed text (once the prompt is up:
    // before that the terminal is not raw yet).
    s.expect("keel> ").expect("prompt");
    s.send("garbage that never runs").expect("send");
    s.expect("runs").expect("echoed");
    s.send(ControlCode::EndOfText).expect("ctrl-c");
    s.expect("keel> ").expect("fresh prompt");
    s.send_line("add").expect("send");
    s.expect("[84: int]").expect("garbage dropped");

    // Ctrl-D leaves; history was saved. (Sent once the prompt is up: a
    // Ctrl-D that arrives while the terminal is still in cooked mode,
    // between the stack line and the prompt, can be lost when the line
    // editor switches it to raw mode.)
    s.expect("keel> ").expect("prompt before ctrl-d");
    s.send(ControlCode::EndOfTransmission).expect("ctrl-d");
    s.expect(Eof).expect("exits");
    let history = std::fs::read_to_string(state.join("keel/history")).expect("history file");
    assert!(history.contains("call inc"), "{history}");
    let _ = std::fs::remove_dir_all(&state);
}

/// Plain `vmrun` with no file opens the REPL when stdin is a terminal.
#[test]
fn plain_vmrun_on_a_terminal_opens_the_repl() {
    let state = std::env::temp_dir().join(format!("keel-pty-plain-{}", std::process::id()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmrun"));
    cmd.env("XDG_STATE_HOME", &state).env("TERM", "xterm");
    let mut s = Session::spawn(cmd).expect("spawns in a pty");
    s.set_expect_timeout(Some(Duration::from_secs(20)));
    s.expect("Keel REPL").expect("banner");
    s.expect("keel> ").expect("prompt");
    s.send_line(":quit").expect("send");
    s.expect(Eof).expect("exits");
    let _ = std::fs::remove_dir_all(&state);
}
