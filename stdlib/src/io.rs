//! Output and input: `print`, `write`, `io.write_bytes`, `io.read_line`,
//! `io.read_bytes`.
//!
//! Every output function writes through the one granted stream (and its
//! buffering), so text and raw bytes come out in the order they were
//! written; input functions share the one input stream the same way.

use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

use keel_vm::internals::Value;
use keel_vm::{FuncType, Linker, NativeCtx, POLL_STEP, Trap, TrapCode, Type};

use crate::bounded::{BoundedBuf, lossy_utf8};

/// The streams a host grants to a module.
#[derive(Clone)]
pub struct Io {
    /// Where `print` and `write` go.
    pub out: Arc<Mutex<dyn Write + Send>>,
    /// Where `io.read_line` and `io.read_bytes` read from.
    ///
    /// An input may end a wait for data with
    /// [`std::io::ErrorKind::Interrupted`] having read nothing (as a read
    /// a signal interrupts does): the read functions then look at the
    /// interrupt flag ([`NativeCtx::poll`]) and read again. An input that
    /// waits in short slices this way (as `vmrun`'s stdin does, a few
    /// milliseconds at a time) makes a blocked read interruptible; one that blocks in a
    /// single wait cannot be interrupted until data or its end arrives.
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

/// Registers `print`, `write`, `io.write_bytes`, `io.read_line` and
/// `io.read_bytes` over `io`.
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
    let out = io.out.clone();
    linker.define_with_doc(
        "io.write_bytes",
        FuncType::new(vec![Type::array(Type::Int)], None),
        "Write each element as one raw byte, in order with print and write; \
         traps on an element outside 0..255, having written none.",
        move |cx, args| {
            write_bytes(cx, args[0], &out)?;
            Ok(None)
        },
    );
    let input = io.input.clone();
    linker.define_with_doc(
        "io.read_line",
        FuncType::new(vec![], Some(Type::Any)),
        "Read a line of input without its newline: a str, or nil at end of input.",
        move |cx, _| {
            let mut input = input.lock().unwrap_or_else(|p| p.into_inner());
            read_line(cx, &mut *input)
        },
    );
    let input = io.input;
    linker.define_with_doc(
        "io.read_bytes",
        FuncType::new(vec![Type::Int], Some(Type::array(Type::Int))),
        "Read up to n bytes of input (fewer only at its end; empty at end), \
         each as an int 0..255; traps when n < 0.",
        move |cx, args| {
            let mut input = input.lock().unwrap_or_else(|p| p.into_inner());
            read_bytes(cx, &mut *input, args[0].as_int().unwrap_or_default())
        },
    );
}

/// Bytes `io.write_bytes` hands to the stream at a time.
const WRITE_CHUNK: usize = 1 << 14;

/// Writes the elements of an `array<int>` as bytes. The whole array is
/// checked first, so a bad element writes nothing; the work (one unit per
/// element) is charged before any of it.
fn write_bytes(
    cx: &mut NativeCtx<'_>,
    arr: Value,
    out: &Mutex<dyn Write + Send>,
) -> Result<(), Trap> {
    let n = cx.array_len(arr);
    cx.charge_work(u64::try_from(n).unwrap_or(u64::MAX))?;
    let handle = cx.interrupt_handle();
    let poll = || handle.take().map_or(Ok(()), Err);
    let xs: &[i64] = cx.int_array_mut(arr);
    for (k, chunk) in xs.chunks(POLL_STEP).enumerate() {
        if let Some(j) = chunk.iter().position(|b| !(0..=255).contains(b)) {
            return Err(Trap::invalid(format!(
                "io.write_bytes: element {} is {}, not a byte (0 to 255)",
                k * POLL_STEP + j,
                chunk[j]
            )));
        }
        poll()?;
    }
    let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
    let mut buf = Vec::with_capacity(n.min(WRITE_CHUNK));
    for chunk in xs.chunks(WRITE_CHUNK) {
        buf.clear();
        // Checked above: every element is 0..=255.
        buf.extend(chunk.iter().map(|b| *b as u8));
        w.write_all(&buf).map_err(io_error)?;
        poll()?;
    }
    Ok(())
}

/// Host bytes each byte `io.read_bytes` reads stands for while it builds
/// its result: the byte read (1), its element in the list the array is
/// built from (16) and in the array itself (8).
pub(crate) const READ_BYTE_COST: usize = 25;

/// Reads until `n` bytes or the end of input, holding no more than the
/// heap has room for ([`BoundedBuf`] at [`READ_BYTE_COST`] a byte), and
/// charging one unit of work per byte as it reads; looks at the interrupt
/// flag as [`read_line`] does.
fn read_bytes(
    cx: &mut NativeCtx<'_>,
    input: &mut dyn BufRead,
    n: i64,
) -> Result<Option<Value>, Trap> {
    if n < 0 {
        return Err(Trap::invalid(format!("io.read_bytes: negative count {n}")));
    }
    let want = usize::try_from(n).unwrap_or(usize::MAX);
    let mut buf = BoundedBuf::new(READ_BYTE_COST, want);
    while buf.len() < want {
        cx.poll()?;
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(e)),
        };
        if chunk.is_empty() {
            break;
        }
        let take = chunk.len().min(want - buf.len());
        cx.charge_work(take as u64)?;
        buf.extend(cx, &chunk[..take])?;
        input.consume(take);
    }
    let items: Vec<Value> = buf
        .into_vec()
        .into_iter()
        .map(|b| Value::int(i64::from(b)))
        .collect();
    Ok(Some(cx.new_array(Type::Int, items)?))
}

/// Reads one line in the input's own buffer-sized steps, so the host holds
/// no more of it than the heap could take ([`BoundedBuf`]), and looks at
/// the interrupt flag before each step, and each time the input ends a
/// wait with `Interrupted` (see [`Io::input`]). A read that blocks in the
/// input itself is not interrupted: the host's watchdog decides.
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
