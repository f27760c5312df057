//! The integer forms Keel reads: the one parser behind the assembler's
//! integer literals and the library's `str.parse_int`.
//!
//! A form is an optional `-`, then one of: decimal digits (`42`, `007`),
//! `0x`/`0X` and hex digits (`0xff`), or `0b`/`0B` and binary digits
//! (`0b101`). After the first digit (or the radix prefix), `_` may appear
//! anywhere as a separator (`1_000`, `0x_ff`, `1_`), but at least one digit
//! must follow a prefix. The value must fit in an `i64` (`-0x8000000000000000`
//! does). Nothing else is accepted: no `+`, no whitespace, no empty text.

/// Why text is not an integer form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IntLiteralError {
    /// The text is not written in one of the forms.
    #[error("not an integer")]
    Malformed,
    /// The form is right but the value does not fit in an `i64`.
    #[error("integer out of range")]
    OutOfRange,
}

/// Parses one integer form (see the module docs).
///
/// # Errors
///
/// [`IntLiteralError::Malformed`] for text in no form,
/// [`IntLiteralError::OutOfRange`] for a value outside `i64`.
///
/// ```
/// use keel_vm::{IntLiteralError, parse_int_literal};
/// assert_eq!(parse_int_literal("-0x1_0"), Ok(-16));
/// assert_eq!(parse_int_literal("0b1_01"), Ok(5));
/// assert_eq!(parse_int_literal("1__000"), Ok(1000));
/// assert_eq!(parse_int_literal("0x"), Err(IntLiteralError::Malformed));
/// assert_eq!(parse_int_literal("9223372036854775808"), Err(IntLiteralError::OutOfRange));
/// ```
pub fn parse_int_literal(text: &str) -> Result<i64, IntLiteralError> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let bytes = body.as_bytes();
    let (radix, digits): (u32, &[u8]) = match bytes {
        [b'0', b'x' | b'X', rest @ ..] => (16, rest),
        [b'0', b'b' | b'B', rest @ ..] => (2, rest),
        [first, ..] if first.is_ascii_digit() => (10, bytes),
        _ => return Err(IntLiteralError::Malformed),
    };
    let mut magnitude: u64 = 0;
    let mut any = false;
    let mut overflow = false;
    for &b in digits {
        if b == b'_' {
            continue;
        }
        let d = char::from(b)
            .to_digit(radix)
            .ok_or(IntLiteralError::Malformed)?;
        any = true;
        match magnitude
            .checked_mul(u64::from(radix))
            .and_then(|m| m.checked_add(u64::from(d)))
        {
            Some(m) => magnitude = m,
            // Keep reading: a malformed tail is reported as malformed.
            None => overflow = true,
        }
    }
    if !any {
        return Err(IntLiteralError::Malformed);
    }
    if overflow {
        return Err(IntLiteralError::OutOfRange);
    }
    if neg {
        if magnitude == 1 << 63 {
            Ok(i64::MIN)
        } else {
            i64::try_from(magnitude)
                .map(|m| -m)
                .map_err(|_| IntLiteralError::OutOfRange)
        }
    } else {
        i64::try_from(magnitude).map_err(|_| IntLiteralError::OutOfRange)
    }
}

#[cfg(test)]
mod tests {
    use super::IntLiteralError::{Malformed, OutOfRange};
    use super::*;

    #[test]
    fn forms() {
        for (text, want) in [
            ("0", 0),
            ("-0", 0),
            ("007", 7),
            ("1_000", 1000),
            ("1_", 1),
            ("0xff", 255),
            ("0XFF", 255),
            ("0x_f_f", 255),
            ("-0b101", -5),
            ("0B1", 1),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
            ("-0x8000000000000000", i64::MIN),
            ("0x7fff_ffff_ffff_ffff", i64::MAX),
        ] {
            assert_eq!(parse_int_literal(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejections() {
        for (text, want) in [
            ("", Malformed),
            ("-", Malformed),
            ("+1", Malformed),
            (" 1", Malformed),
            ("1 ", Malformed),
            ("_1", Malformed),
            ("0x", Malformed),
            ("0x_", Malformed),
            ("0b2", Malformed),
            ("0o7", Malformed),
            ("12x", Malformed),
            ("--1", Malformed),
            ("1.0", Malformed),
            ("١", Malformed),
            ("9223372036854775808", OutOfRange),
            ("-9223372036854775809", OutOfRange),
            ("0x1_0000_0000_0000_0000", OutOfRange),
            ("99999999999999999999999x", Malformed),
        ] {
            assert_eq!(parse_int_literal(text), Err(want), "{text:?}");
        }
    }
}
