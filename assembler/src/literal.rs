//! Decoding literal tokens and type names into values and types.

use keel_vm::{FuncType, KeyType, MAX_TYPE_DEPTH, Type};

use crate::ast::Name;
use crate::error::{AsmError, AsmErrorKind, Span};

/// The built-in type names; a record may not take one.
pub const BUILTIN_TYPES: [&str; 9] = [
    "int", "float", "bool", "str", "any", "strbuf", "array", "map", "fn",
];

/// An integer literal: decimal, `0x` hex or `0b` binary, `_` separators,
/// optional leading `-`. Must fit in i64. The forms are
/// [`keel_vm::parse_int_literal`]'s, shared with `str.parse_int`.
pub fn int(text: &str, span: Span) -> Result<i64, AsmError> {
    keel_vm::parse_int_literal(text).map_err(|e| {
        let kind = match e {
            keel_vm::IntLiteralError::OutOfRange => AsmErrorKind::IntOutOfRange(text.to_owned()),
            keel_vm::IntLiteralError::Malformed => AsmErrorKind::NoDigits(text.to_owned()),
        };
        AsmError::new(span, kind)
    })
}

/// A float literal, including `inf`, `-inf` and `nan`.
pub fn float(text: &str, span: Span) -> Result<f64, AsmError> {
    match text {
        "inf" => return Ok(f64::INFINITY),
        "-inf" => return Ok(f64::NEG_INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    clean
        .parse::<f64>()
        .map_err(|_| AsmError::new(span, AsmErrorKind::NumberOutOfRange(text.to_owned())))
}

/// A string literal (with quotes) starting at byte `at`: decodes `\n \t \r
/// \0 \\ \" \u{HEX}`.
pub fn string(text: &str, at: usize) -> Result<String, AsmError> {
    let inner = &text[1..text.len() - 1];
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let esc_start = at + 1 + i;
        let bad = |end: usize| {
            let end = end.min(inner.len());
            AsmError::new(
                Span::new(esc_start, at + 1 + end),
                AsmErrorKind::BadEscape(inner[i..end].to_owned()),
            )
        };
        let Some((j, e)) = chars.next() else {
            return Err(bad(i + 1));
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            'u' => {
                // \u{1F600}
                let rest = &inner[j + 1..];
                let close = rest.find('}');
                let (Some('{'), Some(close)) = (rest.chars().next(), close) else {
                    return Err(bad(j + 1));
                };
                let hex = &rest[1..close];
                let end = j + 1 + close + 1;
                let ch = u32::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| !hex.is_empty() && hex.len() <= 6)
                    .and_then(char::from_u32);
                match ch {
                    Some(ch) => out.push(ch),
                    None => return Err(bad(end)),
                }
                while chars.peek().is_some_and(|(k, _)| *k < end) {
                    chars.next();
                }
            }
            _ => return Err(bad(j + e.len_utf8())),
        }
    }
    Ok(out)
}

/// Checks a name being declared (a global, parameter, local or label,
/// written `name:`): the reserved words read as literals everywhere else,
/// so they cannot be names.
pub fn declared_name(name: &str, span: Span) -> Result<(), AsmError> {
    if keel_vm::is_reserved(name) {
        return Err(AsmError::new(
            span,
            AsmErrorKind::UnexpectedToken {
                expected: "a name".into(),
                found: format!("reserved word `{name}`"),
            },
        ));
    }
    Ok(())
}

/// A built-in type written as one word (`int`, `strbuf`), if `name` is one.
///
/// # Errors
///
/// `array`, `map` and `fn` without their arguments.
pub fn builtin_type(name: &str, span: Span) -> Result<Option<Type>, AsmError> {
    Ok(Some(match name {
        "int" => Type::Int,
        "float" => Type::Float,
        "bool" => Type::Bool,
        "str" => Type::Str,
        "any" => Type::Any,
        "strbuf" => Type::StrBuf,
        "array" | "map" | "fn" => {
            return Err(AsmError::new(
                span,
                AsmErrorKind::BadType(format!(
                    "`{name}` needs type arguments, as in {}",
                    example(name)
                )),
            ));
        }
        _ => return Ok(None),
    }))
}

/// A type written as one word: a built-in type, or a record name, which
/// is recorded in `records` for `lower` to check (records may be declared
/// after their use).
pub fn named_type<'s>(
    name: &'s str,
    span: Span,
    records: &mut Vec<Name<'s>>,
) -> Result<Type, AsmError> {
    if let Some(t) = builtin_type(name, span)? {
        return Ok(t);
    }
    if name.contains('.') {
        // Record names are one part: a dotted word is no type.
        return Err(AsmError::new(
            span,
            AsmErrorKind::UnknownType {
                name: name.to_owned(),
                hint: EXPECTED_TYPES.into(),
            },
        ));
    }
    records.push(Name { text: name, span });
    Ok(Type::record(name))
}

/// What a type may be, for "unknown type" messages without a suggestion.
pub const EXPECTED_TYPES: &str =
    " (expected int, float, bool, str, any, strbuf, array<T>, map<K,V>, fn(...) or a record name)";

/// A one-word type or a type variable (`T`, `U`, ... as printed by
/// [`Type`]'s display form), for `.import` signatures.
pub fn sig_named_type<'s>(
    name: &'s str,
    span: Span,
    records: &mut Vec<Name<'s>>,
) -> Result<Type, AsmError> {
    match Type::var_named(name) {
        Some(var) => Ok(var),
        None => named_type(name, span, records),
    }
}

fn example(name: &str) -> &'static str {
    match name {
        "array" => "array<int>",
        "map" => "map<str,int>",
        _ => "fn(int, str) -> bool",
    }
}

/// `fn(PARAMS) -> RESULT`: `name` must be `fn`.
pub fn fn_type(
    name: &str,
    params: Vec<Type>,
    result: Option<Type>,
    span: Span,
) -> Result<Type, AsmError> {
    if name != "fn" {
        return Err(AsmError::new(
            span,
            AsmErrorKind::BadType(format!(
                "`{name}(...)` is not a type (function types are written fn(int, str) -> bool)"
            )),
        ));
    }
    let ty = Type::func(FuncType::new(params, result));
    if ty.depth() > MAX_TYPE_DEPTH {
        return Err(AsmError::new(
            span,
            AsmErrorKind::BadType(format!("type nested deeper than {MAX_TYPE_DEPTH} levels")),
        ));
    }
    Ok(ty)
}

/// `array<T>` or `map<K,V>`.
pub fn generic_type(name: &str, mut args: Vec<Type>, span: Span) -> Result<Type, AsmError> {
    let bad = |msg: String| Err(AsmError::new(span, AsmErrorKind::BadType(msg)));
    let ty = match (name, args.len()) {
        ("array", 1) => Type::array(args.pop().expect("one argument")),
        ("map", 2) => {
            let v = args.pop().expect("two arguments");
            let k = args.pop().expect("two arguments");
            let Some(key) = KeyType::from_type(&k) else {
                return bad(format!("map keys must be int, str or bool, found {k}"));
            };
            Type::map(key, v)
        }
        ("array" | "map", n) => {
            return bad(format!(
                "`{name}` takes {} type argument(s), found {n}",
                if name == "array" { 1 } else { 2 }
            ));
        }
        _ => {
            return Err(AsmError::new(
                span,
                AsmErrorKind::BadType(format!(
                    "`{name}<...>` is not a type (only array<T> and map<K,V> take type arguments)"
                )),
            ));
        }
    };
    if ty.depth() > MAX_TYPE_DEPTH {
        return bad(format!("type nested deeper than {MAX_TYPE_DEPTH} levels"));
    }
    Ok(ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Span = Span { start: 0, end: 0 };

    #[test]
    fn ints() {
        assert_eq!(int("1_000", S).unwrap(), 1000);
        assert_eq!(int("0xff", S).unwrap(), 255);
        assert_eq!(int("-0b101", S).unwrap(), -5);
        assert_eq!(int("-9223372036854775808", S).unwrap(), i64::MIN);
        for big in [
            "9223372036854775808",
            "-9223372036854775809",
            "0x1_0000_0000_0000_0000",
            "99999999999999999999999999",
        ] {
            assert_eq!(
                int(big, S).unwrap_err().kind,
                AsmErrorKind::IntOutOfRange(big.into()),
                "{big}"
            );
        }
        assert_eq!(int("9223372036854775807", S).unwrap(), i64::MAX);
        assert_eq!(
            int("0x_", S).unwrap_err().kind,
            AsmErrorKind::NoDigits("0x_".into())
        );
    }

    #[test]
    fn strings() {
        assert_eq!(string(r#""a\n\t\\\"\u{e9}""#, 0).unwrap(), "a\n\t\\\"é");
        let e = string(r#""ab\qc""#, 10).unwrap_err();
        assert_eq!(e.kind, AsmErrorKind::BadEscape("\\q".into()));
        assert_eq!(e.span, Span::new(13, 15));
        assert!(string(r#""\u{110000}""#, 0).is_err());
        assert!(string(r#""\u{zz}""#, 0).is_err());
    }

    #[test]
    fn types() {
        assert_eq!(
            generic_type("map", vec![Type::Str, Type::Int], S)
                .unwrap()
                .to_string(),
            "map<str,int>"
        );
        assert!(generic_type("map", vec![Type::Float, Type::Int], S).is_err());
        assert_eq!(builtin_type("integer", S).unwrap(), None);
        assert_eq!(builtin_type("strbuf", S).unwrap(), Some(Type::StrBuf));
        assert!(builtin_type("fn", S).is_err());
        let mut records = Vec::new();
        assert_eq!(
            named_type("Body", S, &mut records).unwrap(),
            Type::record("Body")
        );
        assert_eq!(records[0].text, "Body");
        assert!(named_type("a.b", S, &mut records).is_err());
        assert_eq!(
            fn_type("fn", vec![Type::Int], Some(Type::Bool), S)
                .unwrap()
                .to_string(),
            "fn(int) -> bool"
        );
        assert!(fn_type("f", vec![], None, S).is_err());
    }
}
