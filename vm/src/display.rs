//! Display forms of values, as `print` writes them.
//!
//! Ints in decimal; floats as Python's `repr(float)` (shortest round-trip
//! digits, exponent form below 1e-4 and from 1e16); `true`/`false`; `nil`;
//! strings as is at top level and quoted with escapes inside containers;
//! arrays `[1, 2, 3]`; maps `{"a": 1, "b": 2}`; records with every field
//! in declaration order, `Node{left: nil, right: nil}`; string buffers as
//! their text (like strings); function references `<fn NAME>`. A container
//! that contains itself prints as `[...]`, `{...}` or `Node{...}` at the
//! inner occurrence, and nesting deeper than [`MAX_DISPLAY_DEPTH`] prints
//! as `...`.
//!
//! Display never recurses: a `Cursor` keeps the pending pieces on an
//! explicit stack and produces the text piece by piece, each step writing
//! at least one byte. Containers that share children have display forms
//! exponentially larger than the heap, so callers always bound the output:
//! `print` and `write` stream pieces of [`DISPLAY_CHUNK`] bytes, charging
//! fuel and looking at interrupts per piece; `str.from` checks the text
//! against the heap limit as it grows; other callers take a prefix.

use std::fmt::Write;

use crate::heap::{Elem, Heap};
use crate::value::{Tag, Value};

/// Deepest container nesting that display descends into.
pub const MAX_DISPLAY_DEPTH: usize = 64;

/// Formats a float exactly as Python's `repr(float)` does.
pub fn format_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // `{:e}` gives the shortest round-trip digits: "d.ddde<exp>".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} always has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        let body = if exp >= n - 1 {
            // Integral: digits then zeros, plus ".0".
            format!("{digits}{}.0", "0".repeat((exp - (n - 1)) as usize))
        } else if exp >= 0 {
            let (int, frac) = digits.split_at(exp as usize + 1);
            format!("{int}.{frac}")
        } else {
            format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
        };
        format!("{sign}{body}")
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.abs())
    }
}

/// `s` quoted, with the escapes the assembler reads: how strings display
/// inside containers, and how the disassembler writes string literals.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(&mut out, s);
    out
}

/// Appends `s` quoted, with the escapes the assembler reads.
pub(crate) fn quote_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        quote_char(out, c);
    }
    out.push('"');
}

/// Appends one char of a quoted string, escaped as the assembler reads it.
fn quote_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\0' => out.push_str("\\0"),
        c if c.is_control() => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// The display form of `v`, cut after about `max_bytes` bytes: the second
/// part is true when it was cut (the text then ends on a char boundary at
/// or a few bytes past `max_bytes`, and the caller marks the cut).
pub(crate) fn display_prefix(
    heap: &Heap,
    v: Value,
    nested: bool,
    max_bytes: usize,
) -> (String, bool) {
    let mut out = String::new();
    let done = Cursor::new(v, nested).fill(heap, &mut out, max_bytes);
    (out, !done)
}

/// Bytes of display form a streaming display produces per step: `print`
/// and `write` hand the output over, and charge it, in pieces of this
/// size, and `str.from` checks its result against the heap limit as often.
pub const DISPLAY_CHUNK: usize = 64 << 10;

/// Where a string being written comes from.
#[derive(Clone, Copy, Debug)]
enum Text {
    /// A `str` value (a map's string keys included).
    Str(Value),
}

/// One pending piece of a display form.
#[derive(Clone, Copy, Debug)]
enum Frame {
    /// A value still to write (`nested`: inside a container, so strings
    /// are quoted).
    Value { v: Value, nested: bool },
    /// A string written from byte `at` on.
    Text { src: Text, at: usize, quoted: bool },
    /// An array or map written from item `next` on; its closing bracket
    /// comes after the last item. The open containers are the path that
    /// cycle detection and the depth limit look at.
    Items { v: Value, next: usize },
    /// Fixed text.
    Lit(&'static str),
    /// The `name: ` before field `i` of record `v`.
    FieldName { v: Value, i: usize },
}

/// A display form produced piece by piece: [`Cursor::fill`] appends up to
/// a byte budget and can be called again for the rest. Nothing is held
/// across calls but the explicit stack of pending pieces (values, not
/// borrows), so between calls the caller may write the output, charge it
/// or run a collection — as long as the value stays rooted and no object
/// reachable from it changes.
///
/// Each step writes at least one byte, so the work of a fill is
/// proportional to what it writes however values share children: a value
/// whose display form is exponentially larger than the heap costs its
/// output length, which the caller bounds.
#[derive(Debug)]
pub(crate) struct Cursor {
    stack: Vec<Frame>,
}

impl Cursor {
    /// A cursor at the start of the display form of `v` (`nested`: as
    /// inside a container, strings quoted).
    pub(crate) fn new(v: Value, nested: bool) -> Cursor {
        Cursor {
            stack: vec![Frame::Value { v, nested }],
        }
    }

    /// Appends to `out` until it holds at least `max_len` bytes (a few more
    /// at most: one number, escape or char) or the form is complete.
    /// Returns true once the form is complete.
    pub(crate) fn fill(&mut self, heap: &Heap, out: &mut String, max_len: usize) -> bool {
        while out.len() < max_len {
            let Some(frame) = self.stack.pop() else {
                return true;
            };
            match frame {
                Frame::Lit(s) => out.push_str(s),
                Frame::FieldName { v, i } => {
                    if let Some(name) = heap.record_shape(v).fields.get(i) {
                        out.push_str(name);
                    }
                    out.push_str(": ");
                }
                Frame::Value { v, nested } => self.start(heap, out, v, nested),
                Frame::Text { src, at, quoted } => {
                    let Text::Str(sv) = src;
                    let s = heap.str(sv);
                    if quoted && at == 0 {
                        out.push('"');
                    }
                    let at = if quoted {
                        let mut at = at;
                        for c in s[at..].chars() {
                            quote_char(out, c);
                            at += c.len_utf8();
                            if out.len() >= max_len {
                                break;
                            }
                        }
                        at
                    } else {
                        let mut end = at.saturating_add(max_len - out.len()).min(s.len());
                        while !s.is_char_boundary(end) {
                            end += 1;
                        }
                        out.push_str(&s[at..end]);
                        end
                    };
                    if at < s.len() {
                        self.stack.push(Frame::Text { src, at, quoted });
                    } else if quoted {
                        out.push('"');
                    }
                }
                Frame::Items { v, next } => self.item(heap, out, v, next),
            }
        }
        self.stack.is_empty()
    }

    /// Writes a scalar, or starts a string or container.
    fn start(&mut self, heap: &Heap, out: &mut String, v: Value, nested: bool) {
        match v.tag() {
            Tag::Func => {
                let name = heap.callee_names.get(v.obj() as usize);
                let _ = write!(out, "<fn {}>", name.map_or("?", |n| n));
            }
            Tag::StrBuf => self.stack.push(Frame::Text {
                src: Text::Str(v),
                at: 0,
                quoted: nested,
            }),
            Tag::Nil => out.push_str("nil"),
            Tag::Int => {
                let _ = write!(out, "{}", v.i());
            }
            Tag::Float => out.push_str(&format_float(v.f())),
            Tag::Bool => out.push_str(if v.b() { "true" } else { "false" }),
            Tag::Str => self.stack.push(Frame::Text {
                src: Text::Str(v),
                at: 0,
                quoted: nested,
            }),
            Tag::Array | Tag::Map | Tag::Record => {
                let name = if v.tag() == Tag::Record {
                    &*heap.record_shape(v).name
                } else {
                    ""
                };
                let (open, cut) = match v.tag() {
                    Tag::Array => ("[", "[...]"),
                    Tag::Map => ("{", "{...}"),
                    _ => ("{", "{...}"),
                };
                let mut depth = 0;
                for f in &self.stack {
                    if let Frame::Items { v: open, .. } = f {
                        if open.obj() == v.obj() {
                            out.push_str(name);
                            out.push_str(cut);
                            return;
                        }
                        depth += 1;
                    }
                }
                if depth >= MAX_DISPLAY_DEPTH {
                    out.push_str("...");
                    return;
                }
                out.push_str(name);
                out.push_str(open);
                self.stack.push(Frame::Items { v, next: 0 });
            }
        }
    }

    /// Writes item `i` of container `v` (or its closing bracket).
    fn item(&mut self, heap: &Heap, out: &mut String, v: Value, i: usize) {
        // Something was written before this item iff it is not the first.
        let first = i == 0;
        // A map is walked by insertion-order position, skipping the
        // places of deleted entries.
        let (i, len) = match v.tag() {
            Tag::Array => (i, heap.array_len(v)),
            Tag::Map => (
                heap.map_next_slot(v, i).unwrap_or(usize::MAX),
                heap.map_slots(v),
            ),
            Tag::Record => (i, heap.record_shape(v).fields.len()),
            _ => (i, 0),
        };
        if i >= len {
            out.push(if v.tag() == Tag::Array { ']' } else { '}' });
            return;
        }
        self.stack.push(Frame::Items { v, next: i + 1 });
        if !first {
            out.push_str(", ");
        }
        match v.tag() {
            Tag::Array => {
                let Some(x) = heap.array_get(v, i) else {
                    return;
                };
                match heap.array_elem(v) {
                    Elem::Int => {
                        let _ = write!(out, "{}", x.i());
                    }
                    Elem::Float => out.push_str(&format_float(x.f())),
                    Elem::Bool | Elem::Val => self.stack.push(Frame::Value { v: x, nested: true }),
                }
            }
            Tag::Map => {
                let Some((k, x)) = heap.map_entry_at(v, i) else {
                    return; // next_slot found it live
                };
                self.stack.push(Frame::Value { v: x, nested: true });
                self.stack.push(Frame::Lit(": "));
                match k.tag() {
                    Tag::Int => {
                        let _ = write!(out, "{}", k.i());
                    }
                    Tag::Bool => out.push_str(if k.b() { "true" } else { "false" }),
                    _ => self.stack.push(Frame::Text {
                        src: Text::Str(k),
                        at: 0,
                        quoted: true,
                    }),
                }
            }
            Tag::Record => {
                let Some(x) = heap.field(v, i as u16) else {
                    return;
                };
                self.stack.push(Frame::Value { v: x, nested: true });
                self.stack.push(Frame::FieldName { v, i });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_float as f;

    #[test]
    fn floats_print_like_python_repr() {
        let cases: &[(f64, &str)] = &[
            (3.0, "3.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345.6, "123456789012345.6"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5, "-2.5"),
            (-0.0, "-0.0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (2.0 / 3.0, "0.6666666666666666"),
            (100.0, "100.0"),
            (1.25e20, "1.25e+20"),
        ];
        for (x, want) in cases {
            assert_eq!(f(*x), *want, "{x:?}");
        }
    }
}

#[cfg(test)]
mod cursor_tests {
    use super::*;
    use crate::types::{KeyType, Type};

    fn keep_(keep: &mut Vec<Value>, v: Result<Value, crate::heap::OutOfMemory>) -> Value {
        let v = v.expect("fits");
        keep.push(v);
        v
    }

    fn whole(heap: &Heap, v: Value, nested: bool) -> String {
        let (s, cut) = display_prefix(heap, v, nested, usize::MAX);
        assert!(!cut);
        s
    }

    #[test]
    fn pieces_of_any_size_join_into_the_whole_form() {
        let mut heap = Heap::new(1 << 20, false);
        let mut keep = Vec::new();
        let s = heap.new_str("é\"q\n✓x", &[&keep]);
        let s = keep_(&mut keep, s);
        let inner = heap.new_array_from(
            &Type::Float,
            &[Value::float(0.5), Value::float(1e20)],
            &[&keep],
        );
        let inner = keep_(&mut keep, inner);
        let m = heap.new_map(KeyType::Str, &Type::Any, &[&keep]);
        let m = keep_(&mut keep, m);
        // A deleted first entry leaves a place the display skips.
        for (k, x) in [("gone", s), ("k\t✓", s), ("", inner)] {
            let k = heap.new_str(k, &[&keep]);
            let k = keep_(&mut keep, k);
            heap.map_set(m, k, x, &[&keep]).expect("fits");
            if k == keep[3] {
                heap.map_del_value(m, k);
            }
        }
        let items = [s, m, Value::int(-7), Value::NIL, Value::bool(true), inner];
        let top = heap.new_array_from(&Type::Any, &items, &[&keep]);
        let top = keep_(&mut keep, top);
        // Make it contain itself too.
        heap.array_push(top, top, &[&keep]).expect("fits");
        let want = r#"["é\"q\n✓x", {"k\t✓": "é\"q\n✓x", "": [0.5, 1e+20]}, -7, nil, true, [0.5, 1e+20], [...]]"#;
        assert_eq!(whole(&heap, top, false), want);
        assert_eq!(whole(&heap, s, false), "é\"q\n✓x");
        assert_eq!(whole(&heap, s, true), r#""é\"q\n✓x""#);
        for step in 1..9 {
            for (v, nested) in [(top, false), (s, false), (s, true), (m, true)] {
                let mut c = Cursor::new(v, nested);
                let mut out = String::new();
                let mut rounds = 0;
                loop {
                    let to = out.len() + step;
                    if c.fill(&heap, &mut out, to) {
                        break;
                    }
                    rounds += 1;
                    assert!(rounds < 1000);
                }
                assert_eq!(out, whole(&heap, v, nested), "step {step}");
            }
        }
    }

    #[test]
    fn a_shared_dag_costs_only_the_prefix_asked_for() {
        // 40 arrays, each holding the one before twice: a display form of
        // about 2^40 * 4 bytes from a few kilobytes of heap.
        let mut heap = Heap::new(1 << 20, false);
        let mut keep = Vec::new();
        let mut x = Value::int(0);
        for _ in 0..40 {
            let a = heap.new_array_from(&Type::Any, &[x, x], &[&keep]);
            x = keep_(&mut keep, a);
        }
        let (s, cut) = display_prefix(&heap, x, false, 1000);
        assert!(cut);
        assert!((1000..1010).contains(&s.len()), "{}", s.len());
        assert!(s.starts_with("[[[[[[[["));
    }
}
