//! Command-line behaviour through pipes: `vmrun -`, trap carets and
//! folded recursion without colour, and the REPL's hints, limit flags and
//! grouped `:help`.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn vmrun(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vmrun runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("feed stdin");
    child.wait_with_output().expect("vmrun ends")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn dash_reads_the_program_from_stdin() {
    let prog =
        ".func main(args: array<str>)\n    load args push 1 array.get call print\n    ret\n.end\n";
    let out = vmrun(&["-", "a", "b"], prog);
    assert_eq!(text(&out.stdout), "b\n", "{}", text(&out.stderr));
    assert!(out.status.success());
    let out = vmrun(&["-"], ".func main()\n    pusj 1\n.end\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--> <stdin>:2:5"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_trap_shows_its_line_and_folds_recursion_without_colour_on_a_pipe() {
    let prog = ".func f(n: int) -> int\n    load n push 0 eq\n    .if\n        push 1 push 0 div ret\n    .endif\n    load n push 1 sub call f ret\n.end\n.func main()\n    push 30 call f call print ret\n.end\n";
    let out = vmrun(&["-"], prog);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(!err.contains('\x1b'), "coloured on a pipe: {err:?}");
    let expected = "error: division by zero\n  --> <stdin>:4:23\n   |\n 4 |         push 1 push 0 div ret\n   |                       ^^^\n  at f (<stdin>:4:23)\n  at f (<stdin>:6:23)\n  ... 29 more frames of f\n  at main (<stdin>:9:13)\n";
    assert_eq!(err, expected);
}

#[test]
fn the_repl_names_the_flag_of_a_capability_not_granted() {
    let out = vmrun(&["repl"], "push \"x\" call fs.read\n");
    let err = text(&out.stderr);
    assert!(err.contains("`fs.read` needs a capability"), "{err}");
    assert!(err.contains("--allow-read"), "{err}");
}

#[test]
fn bare_exit_quit_and_help_say_what_to_type() {
    let out = vmrun(&["repl"], "exit\nquit\nhelp\n");
    let shown = text(&out.stdout);
    assert_eq!(
        shown.matches("`:quit` or Ctrl-D leaves").count(),
        2,
        "{shown}"
    );
    assert!(shown.contains("`:help` lists"), "{shown}");
    assert!(!text(&out.stderr).contains("unknown instruction"));
}

#[test]
fn repl_limit_flags_apply_to_each_line() {
    let out = vmrun(
        &["repl", "--fuel", "500", "--stats"],
        "push 0 top: jmp top\npush 1 push 2 add\n",
    );
    let err = text(&out.stderr);
    assert!(err.contains("out of fuel"), "{err}");
    assert_eq!(err.matches("instructions executed:").count(), 2, "{err}");
    assert!(text(&out.stdout).contains("[3: int]"));
    let out = vmrun(&["repl", "--timeout", "200ms"], "push 0 top: jmp top\n");
    assert!(
        text(&out.stderr).contains("timeout of 200ms exceeded"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn help_fits_a_screen_and_lists_a_group() {
    let out = vmrun(&["repl"], ":help\n");
    let shown = text(&out.stdout);
    assert!(shown.lines().count() <= 24, "{shown}");
    assert!(shown.lines().all(|l| l.chars().count() <= 80), "{shown}");
    assert!(shown.contains("array ("), "{shown}");
    let out = vmrun(&["repl"], ":help arrays\n");
    let shown = text(&out.stdout);
    assert!(shown.contains("array.get"), "{shown}");
    assert!(!shown.contains("str.len"), "{shown}");
    let out = vmrun(&["repl"], ":help all\n");
    assert!(text(&out.stdout).contains("str.len"));
}

#[test]
fn a_paste_runs_each_piece_with_its_own_line_numbers() {
    let out = vmrun(
        &["repl"],
        ".func five() -> int\n    push 5 ret\n.end\ncall five\n",
    );
    let shown = text(&out.stdout);
    assert!(shown.contains("defined five"), "{shown}");
    assert!(shown.contains("[5: int]"), "{shown}");
}
