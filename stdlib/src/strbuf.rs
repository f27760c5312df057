//! String buffers: `strbuf.new`, `strbuf.push`, `strbuf.str` and the small
//! conveniences `strbuf.len` and `strbuf.clear`.
//!
//! A `strbuf` is a heap object holding text that grows in place: appending
//! is amortized O(1) per byte (the capacity doubles), so building a string
//! piece by piece in a loop is linear in total, where `concat` copies the
//! whole string each time. Its capacity is charged to the heap as it grows
//! and an append that would pass the heap limit traps `out of memory`
//! before allocating (the growth rule is documented with
//! [`NativeCtx::strbuf_push`] in keel-vm).

use keel_vm::internals::{Tag, Value};
use keel_vm::{FuncType, Linker, NativeCtx, OBJECT_BYTES, Trap, Type};

type Native = fn(&mut NativeCtx<'_>, &[Value]) -> Result<Option<Value>, Trap>;

/// One library function: name, parameters, result, description, body.
type Def = (&'static str, Vec<Type>, Option<Type>, &'static str, Native);

/// Registers the `strbuf.*` functions.
pub(crate) fn install_strbuf(linker: &mut Linker) {
    use Type::{Any, Int, Str, StrBuf};
    let defs: Vec<Def> = vec![
        (
            "strbuf.new",
            vec![],
            Some(StrBuf),
            "A new, empty string buffer.",
            |cx, _| Ok(Some(cx.new_strbuf()?)),
        ),
        (
            "strbuf.push",
            vec![StrBuf, Any],
            None,
            "Append the display form of a value (as print shows it; a str as is); amortized O(1) per byte.",
            strbuf_push,
        ),
        (
            "strbuf.str",
            vec![StrBuf],
            Some(Str),
            "The buffer's text, as a new str (the buffer is unchanged).",
            strbuf_str,
        ),
        (
            "strbuf.len",
            vec![StrBuf],
            Some(Int),
            "Length of the buffer's text in bytes.",
            |cx, a| Ok(Some(Value::int(cx.strbuf_text(a[0]).len() as i64))),
        ),
        (
            "strbuf.clear",
            vec![StrBuf],
            None,
            "Empty the buffer (its capacity is kept for the next appends).",
            |cx, a| {
                cx.strbuf_clear(a[0]);
                Ok(None)
            },
        ),
    ];
    for (name, params, result, doc, f) in defs {
        linker.define_with_doc(name, FuncType::new(params, result), doc, f);
    }
}

/// Appends `a[1]` to buffer `a[0]`. A container (whose display form can
/// be as large as the heap) is first displayed into a buffer of its own in
/// the heap ([`NativeCtx::display_in_heap`]), so that while the buffer
/// grows the text it copies from is charged to the heap like the buffer,
/// and a buffer reachable from the container shows the text it had before
/// the call. Strings are copied from the heap, and a scalar's display form
/// is a few bytes.
fn strbuf_push(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let v = match a[1].tag() {
        Tag::Array | Tag::Map | Tag::Record => cx.display_in_heap(a[1])?,
        _ => a[1],
    };
    cx.strbuf_push(a[0], v)?;
    Ok(None)
}

/// Copies the text out, checking the heap for it first.
fn strbuf_str(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let n = cx.strbuf_text(a[0]).len();
    cx.ensure_room(n.saturating_add(OBJECT_BYTES))?;
    cx.charge_work(u64::try_from(n).unwrap_or(u64::MAX))?;
    let text: Box<str> = cx.strbuf_text(a[0]).into();
    Ok(Some(cx.new_str(text)?))
}

/// The reference's section on string buffers (in `spec/stdlib.md`).
pub(crate) fn section() -> String {
    format!(
        "\n## String buffers\n\n\
     Building a string piece by piece with `concat` copies everything built so far at every \
     step, so a loop of n appends costs O(n²). Collect the pieces into a `strbuf` instead and \
     take the result with `strbuf.str` at the end: each `strbuf.push` appends in place \
     (amortized O(1) per byte), so the loop is linear in total.\n\n\
     ```\n\
     \x20   call strbuf.new store b\n\
     loop:\n\
     \x20   load b load i call strbuf.push      ; any value: appended as print shows it\n\
     \x20   load b push \", \" call strbuf.push   ; a str is appended as is\n\
     \x20   ...\n\
     \x20   load b call strbuf.str call print\n\
     ```\n\n\
     - `strbuf.push(b, v)` appends the display form of `v`, exactly what `print` would write \
     for it: a `str` or `strbuf` as its text, containers as in `str.from` (strings inside them \
     quoted). Appending a buffer to itself doubles its text; a buffer reachable from the \
     value appended contributes its text as it was before the call.\n\
     - The buffer's capacity is charged to the heap: it doubles when an append does not fit \
     (when the doubled capacity would pass the heap limit, it grows by what the append needs \
     plus half of the room left). An append whose bytes do not fit under the limit traps \
     `out of memory` and leaves the buffer unchanged. The display form of a container is \
     built as `str.from` builds it: checked against the heap limit and charged as work piece \
     by piece, so a value whose display form is larger than the heap traps `out of memory` \
     instead of exhausting the process; it is a heap string while the buffer grows to take \
     it, so the buffer's growth must fit beside it.\n\
     - Appends cost fuel like other library work (one unit per {wpf} bytes appended; for a \
     container, building its display form costs as much again); \
     `strbuf.str` checks the heap for its copy before making it.\n\
     - `strbuf.clear` keeps the capacity, so a buffer reused in a loop stops growing.\n\
     - A `strbuf` global starts as an empty buffer; a `strbuf` local must be assigned before \
     it is read (like `str`, arrays and maps). A buffer displays as its text (quoted inside \
     containers, like a string), and `cast strbuf` / `is strbuf` test for one.\n",
        wpf = keel_vm::WORK_PER_FUEL,
    )
}
