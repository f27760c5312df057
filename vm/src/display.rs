//! Display forms of values, as `print` writes them.
//!
//! Ints in decimal; floats as Python's `repr(float)` (shortest round-trip
//! digits, exponent form below 1e-4 and from 1e16); `true`/`false`; `nil`;
//! strings as is at top level and quoted with escapes inside containers;
//! arrays `[1, 2, 3]`; maps `{"a": 1, "b": 2}`. A container that contains
//! itself prints as `[...]` or `{...}` at the inner occurrence, and nesting
//! deeper than [`MAX_DISPLAY_DEPTH`] prints as `...`, so display never
//! recurses without bound.

use std::fmt::Write;

use crate::heap::{Heap, MapKey, Object};
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
    out.push('"');
}

/// Appends the display form of `v`.
pub(crate) fn display_into(out: &mut String, heap: &Heap, v: Value) {
    let mut path = Vec::new();
    write_value(out, heap, v, false, &mut path);
}

/// Appends the display form of `v` as inside a container (strings quoted).
pub(crate) fn repr_into(out: &mut String, heap: &Heap, v: Value) {
    let mut path = Vec::new();
    write_value(out, heap, v, true, &mut path);
}

fn write_value(out: &mut String, heap: &Heap, v: Value, nested: bool, path: &mut Vec<u32>) {
    match v.tag() {
        Tag::Nil => out.push_str("nil"),
        Tag::Int => {
            let _ = write!(out, "{}", v.i());
        }
        Tag::Float => out.push_str(&format_float(v.f())),
        Tag::Bool => out.push_str(if v.b() { "true" } else { "false" }),
        Tag::Str => {
            if nested {
                quote_into(out, heap.str(v));
            } else {
                out.push_str(heap.str(v));
            }
        }
        Tag::Array | Tag::Map => {
            let (open, close) = if v.tag() == Tag::Array {
                ('[', ']')
            } else {
                ('{', '}')
            };
            if path.contains(&v.obj()) {
                let _ = write!(out, "{open}...{close}");
                return;
            }
            if path.len() >= MAX_DISPLAY_DEPTH {
                out.push_str("...");
                return;
            }
            path.push(v.obj());
            out.push(open);
            match heap.get(v.obj()) {
                Object::IntArray(items) => {
                    for (i, x) in items.iter().enumerate() {
                        sep(out, i);
                        let _ = write!(out, "{x}");
                    }
                }
                Object::FloatArray(items) => {
                    for (i, x) in items.iter().enumerate() {
                        sep(out, i);
                        out.push_str(&format_float(*x));
                    }
                }
                Object::ValArray { items, .. } => {
                    for (i, x) in items.iter().enumerate() {
                        sep(out, i);
                        write_value(out, heap, *x, true, path);
                    }
                }
                Object::Map(m) => {
                    for (i, (k, x)) in m.entries.iter().enumerate() {
                        sep(out, i);
                        match k {
                            MapKey::Int(n) => {
                                let _ = write!(out, "{n}");
                            }
                            MapKey::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                            MapKey::Str(s) => quote_into(out, s),
                        }
                        out.push_str(": ");
                        write_value(out, heap, *x, true, path);
                    }
                }
                Object::Str(_) => {}
            }
            out.push(close);
            path.pop();
        }
    }
}

fn sep(out: &mut String, i: usize) {
    if i > 0 {
        out.push_str(", ");
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
