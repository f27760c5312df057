//! Every byte `vmrun` writes goes through here, so a failed write is an
//! error path and never a panic (`println!` panics when stdout is closed or
//! full).
//!
//! Rules (spec/repl.md, "Exit status"):
//! - stdout closed by its reader (`EPIPE`, as in `vmrun dis f.kbc | head
//!   -1`): the process ends quietly with status [`EXIT_CLOSED`], what a
//!   shell reports for a tool stopped by `SIGPIPE` (Rust ignores the
//!   signal, so writes see the error instead);
//! - any other stdout error (`ENOSPC` on `/dev/full`, `EIO`): one line,
//!   `error: cannot write to stdout: REASON`, on stderr and status
//!   [`EXIT_WRITE`];
//! - a failed write to stderr is ignored: there is nowhere left to report
//!   it, and the exit status still tells.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

/// Exit status when stdout was closed by its reader: 128 + `SIGPIPE`.
pub const EXIT_CLOSED: u8 = 141;
/// Exit status when stdout failed otherwise.
pub const EXIT_WRITE: u8 = 1;

/// Writes `text` to stdout and flushes it.
///
/// # Errors
///
/// The write or flush error; see [`write_failed`].
pub fn out(text: &str) -> io::Result<()> {
    let mut o = io::stdout().lock();
    o.write_all(text.as_bytes())?;
    o.flush()
}

/// Writes `text` to stderr, in colour when [`colour`] says so; a failure
/// is ignored (see the module docs).
pub fn err(text: &str) {
    let painted;
    let text = if colour() {
        painted = paint(text);
        &painted
    } else {
        text
    };
    let mut e = io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    let _ = e.flush();
}

/// Whether diagnostics on stderr are coloured: stderr is a terminal and
/// `NO_COLOR` is unset or empty (<https://no-color.org>).
pub fn colour() -> bool {
    io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BLUE: &str = "\x1b[1;34m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Colours a rendered diagnostic, line by line: `error:` (and `warning:`)
/// with its message, the `-->` location and the excerpt's gutter, and the
/// caret. Only the rendered forms are recognised; other lines pass as
/// they are. The text stays the same once the escapes are removed.
pub fn paint(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if let Some(rest) = body.strip_prefix("error:") {
            out.push_str(&format!("{RED}error{RESET}{BOLD}:{rest}{RESET}"));
        } else if let Some(rest) = body.strip_prefix("warning:") {
            out.push_str(&format!("{YELLOW}warning{RESET}{BOLD}:{rest}{RESET}"));
        } else if let Some(rest) = body.strip_prefix("  --> ") {
            out.push_str(&format!("  {BLUE}-->{RESET} {rest}"));
        } else if let Some((gutter, code)) = excerpt_line(body) {
            if !code.is_empty() && code.trim_start().chars().all(|c| c == '^') {
                out.push_str(&format!("{BLUE}{gutter}{RESET}{RED}{code}{RESET}"));
            } else {
                out.push_str(&format!("{BLUE}{gutter}{RESET}{code}"));
            }
        } else {
            out.push_str(body);
        }
        out.push_str(nl);
    }
    out
}

/// Splits an excerpt line (` 3 |     ad`, `   |     ^^`) into its gutter
/// (up to and including `|` and a space) and the rest.
fn excerpt_line(line: &str) -> Option<(&str, &str)> {
    let bar = line.find('|')?;
    let (num, _) = line.split_at(bar);
    if !num.starts_with(' ') || !num.trim().chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let end = (bar + 2).min(line.len());
    Some(line.split_at(end))
}

/// How the process ends after stdout failed with `e`.
pub fn write_failed(e: &io::Error) -> ExitCode {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return ExitCode::from(EXIT_CLOSED);
    }
    err(&format!("error: cannot write to stdout: {e}\n"));
    ExitCode::from(EXIT_WRITE)
}

/// The stdout a Keel program's `print` and `write` reach: stdout itself,
/// remembering the first error any write or flush met, so that `vmrun`
/// can tell a trap caused by a closed pipe from the program's own traps.
pub struct Stdout {
    inner: io::Stdout,
    first_error: Arc<Mutex<Option<io::ErrorKind>>>,
}

/// The error a [`Stdout`] met first, shared with whoever made it.
#[derive(Clone, Default)]
pub struct StdoutFailure(Arc<Mutex<Option<io::ErrorKind>>>);

impl StdoutFailure {
    /// Whether a write found stdout closed by its reader.
    pub fn closed(&self) -> bool {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) == Some(io::ErrorKind::BrokenPipe)
    }
}

impl Stdout {
    /// Stdout, and the handle that reports its first failure.
    pub fn new() -> (Stdout, StdoutFailure) {
        let failure = StdoutFailure::default();
        (
            Stdout {
                inner: io::stdout(),
                first_error: failure.0.clone(),
            },
            failure,
        )
    }

    fn note<T>(&self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r {
            let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert(e.kind());
        }
        r
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}
