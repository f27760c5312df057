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

use std::io::{self, Write};
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

/// Writes `text` to stderr; a failure is ignored (see the module docs).
pub fn err(text: &str) {
    let mut e = io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    let _ = e.flush();
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
