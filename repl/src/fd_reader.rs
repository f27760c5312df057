//! Reading a file descriptor (stdin) in waits of at most [`WAIT_SLICE`],
//! so a program blocked reading it can still be interrupted.
//!
//! Invariant: [`FdReader::read`] waits (`poll(2)`) at most one slice for
//! the descriptor. When nothing came in that time (no data, no end of
//! input, no error) it returns [`io::ErrorKind::Interrupted`] having read
//! nothing, as a read a signal interrupted does, so the caller can look at
//! its interrupt flag and read again: the library's `io.read_line` and
//! `io.read_bytes` do (`NativeCtx::poll`, which traps `interrupted` when
//! Ctrl-C or `--timeout` raised the flag), and std's `read_line`,
//! `read_until` and `read_to_end` retry by themselves, so every other
//! reader still sees one blocking read. Nothing is buffered here: under a
//! `BufReader` the descriptor is only waited on once that buffer is empty,
//! so bytes already read are served first, in order, and a byte is never
//! read before someone asked for it (type-ahead stays in the kernel's
//! queue for whoever reads next). A closed descriptor reads as the end of
//! input, as std's `Stdin` does.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;

/// Longest wait for input before the reader hands back to its caller: the
/// most an interrupt of a blocked read waits to be seen.
pub const WAIT_SLICE: Duration = Duration::from_millis(20);

/// A file descriptor read in waits of at most [`WAIT_SLICE`].
pub struct FdReader<F> {
    fd: F,
}

impl<F: AsFd> FdReader<F> {
    pub fn new(fd: F) -> FdReader<F> {
        FdReader { fd }
    }

    /// Waits up to one slice: whether a read would not block now (data, the
    /// end of input, a hang-up or an error are all for `read` to report).
    fn ready(&self) -> io::Result<bool> {
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        let slice = Timespec {
            tv_sec: 0,
            tv_nsec: i64::from(WAIT_SLICE.subsec_nanos()),
        };
        match poll(&mut fds, Some(&slice)) {
            Ok(0) | Err(Errno::INTR) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(e.into()),
        }
    }
}

impl<F: AsFd> Read for FdReader<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.ready()? {
            return Err(io::ErrorKind::Interrupted.into());
        }
        match rustix::io::read(&self.fd, buf) {
            Ok(n) => Ok(n),
            // Another reader of a shared terminal took the data first, or
            // the descriptor is non-blocking: wait again.
            Err(Errno::AGAIN | Errno::INTR) => Err(io::ErrorKind::Interrupted.into()),
            Err(Errno::BADF) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Mutex};

    #[test]
    fn an_empty_pipe_hands_back_interrupted_then_reads_what_comes() {
        let (r, mut w) = std::io::pipe().unwrap();
        let mut input = BufReader::new(FdReader::new(r));
        let e = input.fill_buf().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
        w.write_all(b"ab\ncd").unwrap();
        let mut line = String::new();
        input.read_line(&mut line).unwrap();
        assert_eq!(line, "ab\n");
        // What is buffered is served without waiting on the pipe.
        assert_eq!(input.fill_buf().unwrap(), b"cd");
        input.consume(2);
        let e = input.fill_buf().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Interrupted);
        drop(w);
        assert_eq!(input.fill_buf().unwrap(), b"", "end of input");
    }

    /// std's readers retry the hand-backs: a line that comes after several
    /// slices is read whole, as by one blocking read.
    #[test]
    fn std_read_line_waits_through_the_slices() {
        let (r, mut w) = std::io::pipe().unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(WAIT_SLICE * 5);
            w.write_all(b"late\n").unwrap();
        });
        let mut line = String::new();
        BufReader::new(FdReader::new(r))
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "late\n");
        writer.join().unwrap();
    }

    /// The library's read functions over such a reader: an interrupt ends
    /// a read that waits for input that never comes, with the
    /// `interrupted` trap; bytes written after it are all there for the
    /// next read.
    #[test]
    fn an_interrupt_ends_a_waiting_library_read() {
        let (r, mut w) = std::io::pipe().unwrap();
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let mut linker = keel_vm::Linker::new();
        keel_stdlib::install_io(
            &mut linker,
            keel_stdlib::Io {
                out: out.clone(),
                input: Arc::new(Mutex::new(BufReader::new(FdReader::new(r)))),
            },
        );
        let src = ".func line()\n    call io.read_line call print\n    ret\n.end\n\
                   .func bytes()\n    push 3 call io.read_bytes call print\n    ret\n.end\n";
        let module = keel_assembler::assemble(src, "read.kasm", &linker).unwrap();
        let v = Arc::new(keel_vm::verify(module).unwrap());
        let mut inst =
            keel_vm::Instance::new(v.clone(), &linker, keel_vm::Config::default()).unwrap();
        for (name, after, shown) in [
            ("bytes", "abc", "[97, 98, 99]\n"),
            ("line", "x\ny\n", "x\n"),
        ] {
            let f = v.module().func_index(name).unwrap();
            let handle = inst.interrupt_handle();
            // Raised while the read (most likely) waits: nothing is ever
            // written before it, so only the interrupt can end the call.
            let raiser = std::thread::spawn(move || {
                std::thread::sleep(WAIT_SLICE * 10);
                handle.interrupt();
            });
            let trap = inst.call_index(f, &[]).unwrap_err();
            raiser.join().unwrap();
            assert_eq!(
                trap.code,
                keel_vm::TrapCode::Interrupted,
                "{name}: {trap:?}"
            );
            assert!(out.lock().unwrap().is_empty(), "{name}");
            w.write_all(after.as_bytes()).unwrap();
            inst.call_index(f, &[]).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.lock().unwrap()),
                shown,
                "{name}"
            );
            out.lock().unwrap().clear();
        }
        // The rest of the first write is still buffered, in order.
        let f = v.module().func_index("line").unwrap();
        inst.call_index(f, &[]).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.lock().unwrap()), "y\n");
    }
}
