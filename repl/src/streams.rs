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

use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, LineWriter, Read, Write};
use std::sync::{Arc, Mutex};

use crate::output;

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
    inner: BufReader<io::Stdin>,
    out: Arc<Mutex<Out>>,
}

impl In {
    pub fn new(out: Arc<Mutex<Out>>) -> In {
        In {
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
