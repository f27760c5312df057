//! Output and input: `print`, `write`, `io.read_line`.

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

use keel_vm::{FuncType, Linker, NativeCtx, Trap, TrapCode, Type, Value};

use crate::bounded::{BoundedBuf, lossy_utf8};

/// The streams a host grants to a module.
#[derive(Clone)]
pub struct Io {
    /// Where `print` and `write` go.
    pub out: Arc<Mutex<dyn Write + Send>>,
    /// Where `io.read_line` reads from.
    pub input: Arc<Mutex<dyn BufRead + Send>>,
}

impl Io {
    /// Output discarded, input empty.
    pub fn null() -> Io {
        Io {
            out: Arc::new(Mutex::new(std::io::sink())),
            input: Arc::new(Mutex::new(std::io::empty())),
        }
    }
}

fn io_error(e: std::io::Error) -> Trap {
    Trap::new(TrapCode::HostError, format!("i/o error: {e}"))
}

/// Registers `print`, `write` and `io.read_line` over `io`.
pub fn install_io(linker: &mut Linker, io: Io) {
    let out = io.out.clone();
    linker.define_with_doc(
        "print",
        FuncType::new(vec![Type::Any], None),
        "Write the display form of a value and a newline.",
        move |cx, args| {
            let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
            cx.display_to(args[0], |s| w.write_all(s.as_bytes()).map_err(io_error))?;
            w.write_all(b"\n").map_err(io_error)?;
            Ok(None)
        },
    );
    let out = io.out.clone();
    linker.define_with_doc(
        "write",
        FuncType::new(vec![Type::Any], None),
        "Write the display form of a value without a newline.",
        move |cx, args| {
            let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
            cx.display_to(args[0], |s| w.write_all(s.as_bytes()).map_err(io_error))?;
            Ok(None)
        },
    );
    let input = io.input;
    linker.define_with_doc(
        "io.read_line",
        FuncType::new(vec![], Some(Type::Any)),
        "Read a line of input without its newline: a str, or nil at end of input.",
        move |cx, _| {
            let mut input = input.lock().unwrap_or_else(|p| p.into_inner());
            read_line(cx, &mut *input)
        },
    );
}

/// Reads one line in the input's own buffer-sized steps, so the host holds
/// no more of it than the heap could take ([`BoundedBuf`]), and looks at
/// the interrupt flag between steps. A read that blocks (a terminal or a
/// pipe with no data) is not interrupted: the host's watchdog decides
/// (`vmrun --timeout` ends the process).
fn read_line(cx: &mut NativeCtx<'_>, input: &mut dyn BufRead) -> Result<Option<Value>, Trap> {
    let mut buf = BoundedBuf::default();
    let mut any = false;
    loop {
        cx.poll()?;
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(e)),
        };
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (take, end) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        cx.charge_work(take as u64)?;
        buf.extend(cx, &chunk[..take])?;
        input.consume(take);
        if end {
            break;
        }
    }
    if !any {
        return Ok(Some(Value::NIL));
    }
    let mut buf = buf.into_vec();
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    let s = lossy_utf8(cx, buf)?;
    Ok(Some(cx.new_str(s)?))
}
