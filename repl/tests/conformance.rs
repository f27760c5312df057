//! The conformance suite: every file under `spec/conformance/` is run
//! through the real `vmrun` binary and its stdout, stderr and exit status
//! compared with the files beside it (`NAME.out`, `NAME.err`, `NAME.status`;
//! a missing file means empty output or status 0; compared byte for byte, as
//! stdout may be binary). Each file runs four times: plainly, with
//! `--gc-stress --checked`, with `--jit eager` and with `--jit eager
//! --gc-stress`, none of which may change any output.
//!
//! Header lines at the top of a test set its command line:
//! `; args: a b c` (passed to `main`), `; flags: --max-depth 50` (passed to
//! `vmrun`), `; stdin: NAME` (a file beside the test fed to stdin).
//! The programs in `examples/` run through the same runner (plainly only).
//! `BLESS=1 cargo test --test conformance` rewrites the expectations from
//! the plain run; review the diff before committing.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/conformance")
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn read_or_empty(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with(';') || l.trim().is_empty())
        .find_map(|l| {
            l.strip_prefix(';')
                .map(str::trim)
                .and_then(|l| l.strip_prefix(key))
                .map(|v| v.trim().to_owned())
        })
}

/// How a file is run; every mode must give the same output.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    /// `--gc-stress --checked`.
    Stress,
    /// `--jit eager`: every function compiled at its first call.
    Jit,
    /// `--jit eager --gc-stress`.
    JitStress,
}

fn run(rel: &str, mode: Mode) {
    run_in(&root(), rel, mode);
}

fn run_in(root: &Path, rel: &str, mode: Mode) {
    let path = root.join(rel);
    let text =
        String::from_utf8_lossy(&std::fs::read(&path).expect("test file exists")).into_owned();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmrun"));
    cmd.current_dir(root);
    match mode {
        Mode::Plain => {}
        // Also re-checks the verifier's promises before every instruction.
        Mode::Stress => {
            cmd.args(["--gc-stress", "--checked"]);
        }
        Mode::Jit => {
            cmd.args(["--jit", "eager"]);
        }
        Mode::JitStress => {
            cmd.args(["--jit", "eager", "--gc-stress"]);
        }
    }
    if let Some(flags) = header(&text, "flags:") {
        cmd.args(flags.split_whitespace());
    }
    cmd.arg(rel);
    if let Some(args) = header(&text, "args:") {
        cmd.args(args.split_whitespace());
    }
    let stdin = match header(&text, "stdin:") {
        Some(f) => {
            Stdio::from(std::fs::File::open(path.with_file_name(f)).expect("stdin file exists"))
        }
        None => Stdio::null(),
    };
    let out = cmd.stdin(stdin).output().expect("vmrun runs");
    // Compared as bytes: stdout may be binary (`io.write_bytes`).
    let stdout = out.stdout;
    let stderr = out.stderr;
    let status = out
        .status
        .code()
        .map_or("signal".to_owned(), |c| c.to_string());
    let base = path.with_extension("");
    let files = [
        (base.with_extension("out"), stdout, Vec::new()),
        (base.with_extension("err"), stderr, Vec::new()),
        (
            base.with_extension("status"),
            format!("{status}\n").into_bytes(),
            b"0\n".to_vec(),
        ),
    ];
    if std::env::var_os("BLESS").is_some() && mode == Mode::Plain {
        for (file, got, default) in &files {
            if got == default {
                let _ = std::fs::remove_file(file);
            } else {
                std::fs::write(file, got).expect("write expectation");
            }
        }
        return;
    }
    for (file, got, default) in &files {
        let want = if file.exists() {
            read_or_empty(file)
        } else {
            default.clone()
        };
        if got == &want {
            continue;
        }
        let what = format!(
            "{} differs for {rel}{}",
            file.extension().and_then(|e| e.to_str()).unwrap_or(""),
            match mode {
                Mode::Plain => "",
                Mode::Stress => " under --gc-stress --checked",
                Mode::Jit => " under --jit eager",
                Mode::JitStress => " under --jit eager --gc-stress",
            }
        );
        // As text for a readable diff; as bytes when only non-UTF-8 differs.
        assert_eq!(
            String::from_utf8_lossy(got),
            String::from_utf8_lossy(&want),
            "{what}"
        );
        panic!("{what} (in bytes that are not UTF-8)");
    }
}

include!(concat!(env!("OUT_DIR"), "/conformance_tests.rs"));
