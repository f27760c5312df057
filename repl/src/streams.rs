//! The stdout and stdin `vmrun` grants a program (and the REPL shares).
//!
//! Invariant: text the program wrote is on the terminal or in the pipe
//! before the process waits for input. stdout is line-buffered when it is
//! a terminal and block-buffered (64 KiB) otherwise; and whenever a read
//! of stdin has to wait for the operating system (its buffer is empty),
//! stdout is flushed first, so a `name? ` prompt written with `write`
//! shows before the answer is typed, and a program driven through pipes
//! by another one answers before it waits. Reads served from the buffer
//! flush nothing, so a filter stays block-buffered.
//!
//! Stdin is read through [`FdReader`] (on Unix): a read that waits hands
//! back `Interrupted` every [`WAIT_SLICE`](crate::fd_reader::WAIT_SLICE),
//! so `io.read_line` sees Ctrl-C in the REPL and `--timeout` while it
//! waits; every other reader (the piped REPL's own line reading) retries,
//! so pipes, files and the end of input read exactly as before.

use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, LineWriter, Read, Write};
use std::sync::{Arc, Mutex};

#[cfg(unix)]
use crate::fd_reader::FdReader;
use crate::output;

/// What stdin is read through: raw reads of descriptor 0 in interruptible
/// waits on Unix (no hidden buffer in std's `Stdin` to keep in step).
#[cfg(unix)]
type StdinReader = FdReader<io::Stdin>;
#[cfg(not(unix))]
type StdinReader = io::Stdin;

/// Stdout with the buffering its kind calls for.
pub enum Out {
    /// A terminal: flushed at each newline.
    Line(LineWriter<output::Stdout>),
    /// A pipe or file: flushed when 64 KiB are buffered (and before reads).
    Block(BufWriter<output::Stdout>),
}

impl Out {
    /// Wraps `stdout`, line-buffered when stdout is a terminal.
    pub fn new(stdout: output::Stdout) -> Out {
        if io::stdout().is_terminal() {
            Out::Line(LineWriter::new(stdout))
        } else {
            Out::Block(BufWriter::with_capacity(1 << 16, stdout))
        }
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Out::Line(w) => w.write(buf),
            Out::Block(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Out::Line(w) => w.write_all(buf),
            Out::Block(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Line(w) => w.flush(),
            Out::Block(w) => w.flush(),
        }
    }
}

/// Stdin, buffered, flushing `out` before each read that would wait.
pub struct In {
    inner: BufReader<StdinReader>,
    out: Arc<Mutex<Out>>,
}

impl In {
    pub fn new(out: Arc<Mutex<Out>>) -> In {
        In {
            #[cfg(unix)]
            inner: BufReader::new(FdReader::new(io::stdin())),
            #[cfg(not(unix))]
            inner: BufReader::new(io::stdin()),
            out,
        }
    }

    fn flush_out(&self) {
        if self.inner.buffer().is_empty() {
            // A failed flush is remembered by `output::Stdout` and
            // reported by the next write or the final flush.
            let _ = self.out.lock().unwrap_or_else(|p| p.into_inner()).flush();
        }
    }
}

impl Read for In {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.flush_out();
        self.inner.read(buf)
    }
}

impl BufRead for In {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.flush_out();
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
    }
}
