//! Pure library functions: strings, formatting, math, arrays, GC.
//!
//! **Bounded work.** A function whose host-side work or memory grows with
//! its input or a count argument first checks that its result fits under
//! the heap limit (before fuel, so an impossible request reports memory), from an exact size (or an upper bound) computed without
//! allocating, including the host buffers it needs while building
//! ([`NativeCtx::ensure_room`]); charges the work to the fuel tank
//! ([`NativeCtx::charge_work`]); and looks at the interrupt flag every
//! [`POLL_STEP`] units of work while it runs ([`NativeCtx::poll`]).

use keel_vm::internals::{Tag, Value};
use keel_vm::{
    FuncType, IntLiteralError, KeyType, Linker, NativeCtx, OBJECT_BYTES, POLL_STEP, PureFloat,
    Trap, TrapCode, Type, parse_int_literal,
};

use crate::sort::sort_polled;

type Native = fn(&mut NativeCtx<'_>, &[Value]) -> Result<Option<Value>, Trap>;

/// One library function: name, parameters, result, description, body.
type Def = (&'static str, Vec<Type>, Option<Type>, &'static str, Native);

const T: Type = Type::Var(0);

fn arr(t: Type) -> Type {
    Type::array(t)
}

/// `fn(T, T) -> bool`: the "less than" of `array.sort_by`.
fn less_than() -> Type {
    Type::func(FuncType::new(vec![T, T], Some(Type::Bool)))
}

/// `fn(T) -> bool`: the predicate of `array.find_by`.
fn predicate() -> Type {
    Type::func(FuncType::new(vec![T], Some(Type::Bool)))
}

/// Registers every pure library function.
pub fn install_core(linker: &mut Linker) {
    use Type::{Any, Float, Int, Str};
    let defs: Vec<Def> = vec![
        ("str.len", vec![Str], Some(Int), "Length in bytes.", str_len),
        (
            "str.slice",
            vec![Str, Int, Int],
            Some(Str),
            "Bytes from..to; traps when out of range or off a char boundary.",
            str_slice,
        ),
        (
            "str.find",
            vec![Str, Str],
            Some(Int),
            "Byte offset of the first occurrence of sub, or -1.",
            str_find,
        ),
        (
            "str.find_from",
            vec![Str, Str, Int],
            Some(Int),
            "Byte offset of the first occurrence of sub at or after from, or -1; \
             traps when from is out of 0..len or off a char boundary.",
            str_find_from,
        ),
        (
            "str.split",
            vec![Str, Str],
            Some(arr(Str)),
            "Split on every occurrence of a non-empty separator.",
            str_split,
        ),
        (
            "str.join",
            vec![arr(Str), Str],
            Some(Str),
            "Join strings with a separator.",
            str_join,
        ),
        (
            "str.from",
            vec![Any],
            Some(Str),
            "The display form of any value.",
            str_from,
        ),
        (
            "str.parse_int",
            vec![Str],
            Some(Int),
            "Parse an int: decimal, 0x hex or 0b binary, _ separators, optional sign \
             (surrounding whitespace allowed); traps on bad input.",
            str_parse_int,
        ),
        (
            "str.parse_float",
            vec![Str],
            Some(Float),
            "Parse a float (surrounding whitespace allowed); traps on bad input.",
            str_parse_float,
        ),
        (
            "str.try_parse_int",
            vec![Str],
            Some(Any),
            "Parse an int as str.parse_int does: the int, or nil on bad input.",
            str_try_parse_int,
        ),
        (
            "str.try_parse_float",
            vec![Str],
            Some(Any),
            "Parse a float as str.parse_float does: the float, or nil on bad input.",
            str_try_parse_float,
        ),
        (
            "str.upper",
            vec![Str],
            Some(Str),
            "Uppercase (Unicode).",
            str_upper,
        ),
        (
            "str.lower",
            vec![Str],
            Some(Str),
            "Lowercase (Unicode).",
            str_lower,
        ),
        (
            "str.trim",
            vec![Str],
            Some(Str),
            "Remove leading and trailing whitespace.",
            str_trim,
        ),
        (
            "str.repeat",
            vec![Str, Int],
            Some(Str),
            "The string n times; traps when n < 0.",
            str_repeat,
        ),
        (
            "str.byte_at",
            vec![Str, Int],
            Some(Int),
            "The byte at an offset, 0..255; traps when out of bounds.",
            str_byte_at,
        ),
        (
            "str.code_at",
            vec![Str, Int],
            Some(Int),
            "The Unicode scalar value of the char starting at a byte offset; \
             traps when out of bounds or off a char boundary.",
            str_code_at,
        ),
        (
            "str.from_code",
            vec![Int],
            Some(Str),
            "The one-char string of a Unicode scalar value (0..0x10ffff except \
             0xd800..0xdfff); traps on any other int.",
            str_from_code,
        ),
        (
            "str.chars",
            vec![Str],
            Some(arr(Str)),
            "The characters, each as a one-char string.",
            str_chars,
        ),
        (
            "fmt.fixed",
            vec![Float, Int],
            Some(Str),
            "Fixed-point with n decimals, like C's %.Nf (0 <= n <= 100).",
            fmt_fixed,
        ),
        (
            "math.sqrt",
            vec![Float],
            Some(Float),
            "Square root.",
            |_, a| f1(a, f64::sqrt),
        ),
        (
            "math.sin",
            vec![Float],
            Some(Float),
            "Sine (radians).",
            |_, a| f1(a, f64::sin),
        ),
        (
            "math.cos",
            vec![Float],
            Some(Float),
            "Cosine (radians).",
            |_, a| f1(a, f64::cos),
        ),
        (
            "math.tan",
            vec![Float],
            Some(Float),
            "Tangent (radians).",
            |_, a| f1(a, f64::tan),
        ),
        (
            "math.exp",
            vec![Float],
            Some(Float),
            "e to the power x.",
            |_, a| f1(a, f64::exp),
        ),
        (
            "math.log",
            vec![Float],
            Some(Float),
            "Natural logarithm.",
            |_, a| f1(a, f64::ln),
        ),
        (
            "math.floor",
            vec![Float],
            Some(Float),
            "Round down.",
            |_, a| f1(a, f64::floor),
        ),
        (
            "math.ceil",
            vec![Float],
            Some(Float),
            "Round up.",
            |_, a| f1(a, f64::ceil),
        ),
        (
            "math.abs",
            vec![Float],
            Some(Float),
            "Absolute value.",
            |_, a| f1(a, f64::abs),
        ),
        (
            "math.pow",
            vec![Float, Float],
            Some(Float),
            "x to the power y.",
            |_, a| f2(a, f64::powf),
        ),
        (
            "math.min",
            vec![Float, Float],
            Some(Float),
            "Smaller of two floats (NaN if either is NaN).",
            |_, a| f2(a, fmin),
        ),
        (
            "math.max",
            vec![Float, Float],
            Some(Float),
            "Larger of two floats (NaN if either is NaN).",
            |_, a| f2(a, fmax),
        ),
        (
            "math.imin",
            vec![Int, Int],
            Some(Int),
            "Smaller of two ints.",
            |_, a| i2(a, i64::min),
        ),
        (
            "math.imax",
            vec![Int, Int],
            Some(Int),
            "Larger of two ints.",
            |_, a| i2(a, i64::max),
        ),
        (
            "math.iabs",
            vec![Int],
            Some(Int),
            "Absolute value (wrapping: iabs of the minimum int is itself).",
            |_, a| Ok(Some(Value::int(int(a[0]).wrapping_abs()))),
        ),
        (
            "array.sort",
            vec![arr(T)],
            None,
            "Sort in place, stable; for array<int>, array<float> (total order) and array<str>.",
            array_sort,
        ),
        (
            "array.sort_by",
            vec![arr(T), less_than()],
            None,
            "Sort in place, stable, with the function as \"less than\" (any element type); its traps propagate.",
            crate::sort::array_sort_by,
        ),
        (
            "array.find_by",
            vec![arr(T), predicate()],
            Some(Int),
            "Index of the first element for which the function is true, or -1.",
            crate::sort::array_find_by,
        ),
        (
            "array.slice",
            vec![arr(T), Int, Int],
            Some(arr(T)),
            "A new array of elements from..to; traps when out of range.",
            array_slice,
        ),
        (
            "array.reverse",
            vec![arr(T)],
            None,
            "Reverse in place.",
            array_reverse,
        ),
        (
            "gc.collect",
            vec![],
            None,
            "Run a full garbage collection now.",
            |cx, _| {
                cx.collect_garbage_polled()?;
                Ok(None)
            },
        ),
        (
            "gc.stats",
            vec![],
            Some(Type::map(KeyType::Str, Int)),
            "Heap counters: collections, minor_collections, major_collections, live_bytes, peak_bytes, allocated_bytes, pause_us (total), max_pause_us (longest collection).",
            gc_stats,
        ),
    ];
    for (name, params, result, doc, f) in defs {
        linker.define_with_doc(name, FuncType::new(params, result), doc, f);
    }
    // The float functions again, as pure functions compiled code calls
    // directly (same place, doc and results).
    let pure: [(&str, PureFloat); 12] = [
        ("math.sqrt", PureFloat::Sqrt),
        ("math.sin", PureFloat::Unary(f64::sin)),
        ("math.cos", PureFloat::Unary(f64::cos)),
        ("math.tan", PureFloat::Unary(f64::tan)),
        ("math.exp", PureFloat::Unary(f64::exp)),
        ("math.log", PureFloat::Unary(f64::ln)),
        ("math.floor", PureFloat::Unary(f64::floor)),
        ("math.ceil", PureFloat::Unary(f64::ceil)),
        ("math.abs", PureFloat::Unary(f64::abs)),
        ("math.pow", PureFloat::Binary(f64::powf)),
        ("math.min", PureFloat::Binary(fmin)),
        ("math.max", PureFloat::Binary(fmax)),
    ];
    for (name, f) in pure {
        let doc = linker.get(name).map(|d| d.doc.clone()).unwrap_or_default();
        linker.define_pure_float(name, &doc, f);
    }
    crate::strbuf::install_strbuf(linker);
}

// Argument accessors: the verifier proved each argument's type from the
// signature, so a wrong tag here is a VM bug, reported as a trap.
fn int(v: Value) -> i64 {
    v.as_int().unwrap_or_default()
}

fn float(v: Value) -> f64 {
    v.as_float().unwrap_or_default()
}

fn f1(a: &[Value], f: fn(f64) -> f64) -> Result<Option<Value>, Trap> {
    Ok(Some(Value::float(f(float(a[0])))))
}

fn f2(a: &[Value], f: fn(f64, f64) -> f64) -> Result<Option<Value>, Trap> {
    Ok(Some(Value::float(f(float(a[0]), float(a[1])))))
}

fn i2(a: &[Value], f: fn(i64, i64) -> i64) -> Result<Option<Value>, Trap> {
    Ok(Some(Value::int(f(int(a[0]), int(a[1])))))
}

fn fmin(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn fmax(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn ret_str(cx: &mut NativeCtx<'_>, s: impl AsRef<str>) -> Result<Option<Value>, Trap> {
    Ok(Some(cx.new_str(s)?))
}

/// Host bytes per element of an `array<str>` under construction: one
/// value each for the element in the list the array takes over, on the
/// native call's root list, and that list's slack when it doubles.
pub(crate) const BUILD_ELEM_BYTES: usize = 3 * std::mem::size_of::<Value>();

/// Bytes needed to build an `array<str>` of `n` strings holding `payload`
/// bytes in all: each string's header and bytes, and the array.
fn str_array_bytes(n: usize, payload: usize) -> usize {
    n.saturating_mul(OBJECT_BYTES + BUILD_ELEM_BYTES)
        .saturating_add(payload)
        .saturating_add(OBJECT_BYTES)
}

fn as_work(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn str_len(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    Ok(Some(Value::int(cx.str(a[0]).len() as i64)))
}

fn str_slice(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.str(a[0]);
    let (from, to) = (int(a[1]), int(a[2]));
    let len = s.len();
    if from < 0 || to < from || to as u64 > len as u64 {
        return Err(Trap::new(
            TrapCode::IndexOutOfBounds,
            format!("str.slice: range {from}..{to} out of bounds for length {len}"),
        ));
    }
    let (from, to) = (from as usize, to as usize);
    let Some(part) = s.get(from..to) else {
        return Err(Trap::invalid(format!(
            "str.slice: range {from}..{to} is not on a char boundary"
        )));
    };
    let n = part.len();
    cx.ensure_room(n.saturating_add(OBJECT_BYTES))?;
    cx.charge_work(as_work(n))?;
    let part = cx.str(a[0])[from..to].to_owned();
    ret_str(cx, part)
}

fn str_find(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    find_at(cx, a[0], a[1], 0)
}

fn str_find_from(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let (len, from) = (cx.str(a[0]).len(), int(a[2]));
    let Some(at) = usize::try_from(from).ok().filter(|f| *f <= len) else {
        return Err(Trap::new(
            TrapCode::IndexOutOfBounds,
            format!("str.find_from: offset {from} out of bounds for length {len}"),
        ));
    };
    if !cx.str(a[0]).is_char_boundary(at) {
        return Err(Trap::invalid(format!(
            "str.find_from: offset {from} is not on a char boundary"
        )));
    }
    find_at(cx, a[0], a[1], at)
}

/// The first occurrence of `sub` in `s` at or after byte `at` (a char
/// boundary), as an absolute offset or -1. The bytes searched are charged
/// as work first.
fn find_at(cx: &mut NativeCtx<'_>, s: Value, sub: Value, at: usize) -> Result<Option<Value>, Trap> {
    cx.charge_work(as_work(cx.str(s).len() - at))?;
    let found = cx.str(s)[at..]
        .find(cx.str(sub))
        .map_or(-1, |i| (at + i) as i64);
    Ok(Some(Value::int(found)))
}

fn str_split(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let (s, sep) = (cx.str(a[0]), cx.str(a[1]));
    if sep.is_empty() {
        return Err(Trap::invalid("str.split: empty separator"));
    }
    // Count first, allocating nothing: n pieces hold all but the separators.
    let n = s.matches(sep).count() + 1;
    let payload = s.len() - (n - 1) * sep.len();
    let len = s.len();
    cx.ensure_room(str_array_bytes(n, payload))?;
    cx.charge_work(as_work(len))?;
    let mut items = Vec::with_capacity(n);
    let mut at = 0;
    loop {
        let (s, sep) = (cx.str(a[0]), cx.str(a[1]));
        let rest = &s[at..];
        let (piece, next) = match rest.find(sep) {
            Some(i) => (&rest[..i], Some(at + i + sep.len())),
            None => (rest, None),
        };
        let piece: Box<str> = piece.into();
        items.push(cx.new_str(piece)?);
        if items.len() % POLL_STEP == 0 {
            cx.poll()?;
        }
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    Ok(Some(cx.new_array(Type::Str, items)?))
}

fn str_join(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let n = cx.array_len(a[0]);
    let mut total = cx.str(a[1]).len().saturating_mul(n.saturating_sub(1));
    for i in 0..n {
        total = total.saturating_add(join_item(cx, a[0], i).len());
    }
    cx.ensure_room(total.saturating_add(OBJECT_BYTES))?;
    cx.charge_work(as_work(total.saturating_add(n)))?;
    let mut out = String::with_capacity(total);
    let mut since = 0;
    for i in 0..n {
        if i > 0 {
            out.push_str(cx.str(a[1]));
        }
        let s = join_item(cx, a[0], i);
        out.push_str(s);
        since += s.len() + 1;
        if since >= POLL_STEP {
            cx.poll()?;
            since = 0;
        }
    }
    ret_str(cx, out)
}

fn join_item<'c>(cx: &'c NativeCtx<'_>, arr: Value, i: usize) -> &'c str {
    cx.array_get(arr, i).map_or("", |v| cx.str(v))
}

fn str_from(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let v = a[0];
    match v.tag() {
        // The common case, without the display machinery: an int's
        // digits, formatted on the stack.
        Tag::Int => {
            let mut buf = [0u8; 20];
            let mut at = buf.len();
            let neg = int(v) < 0;
            let mut n = int(v).unsigned_abs();
            loop {
                at -= 1;
                buf[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            let digits = &buf[at..];
            let len = digits.len() + usize::from(neg);
            let s = cx.new_str_with(len, None, |_, out| {
                if neg {
                    out[0] = b'-';
                }
                out[usize::from(neg)..].copy_from_slice(digits);
            })?;
            Ok(Some(s))
        }
        // A container's display form can be as large as the heap: built in
        // the heap, then copied into the string, both charged.
        Tag::Array | Tag::Map | Tag::Record => {
            let text = cx.display_in_heap(v)?;
            let n = cx.strbuf_text(text).len();
            cx.ensure_room(n.saturating_add(OBJECT_BYTES))?;
            let s = cx.new_str_with(n, Some(text), |src, out| out.copy_from_slice(src))?;
            Ok(Some(s))
        }
        _ => {
            let s = cx.display(v)?;
            ret_str(cx, s)
        }
    }
}

/// `FUNC: WHAT "input"`, the input quoted and cut at 80 chars.
fn parse_error(func: &str, what: &str, input: &str) -> Trap {
    let mut quoted = String::from("\"");
    for c in input.chars().take(80) {
        quoted.extend(c.escape_debug());
    }
    quoted.push('"');
    Trap::invalid(format!("{func}: {what} {quoted}"))
}

/// The int `text` spells: surrounding whitespace, then an optional `+`,
/// then one of the assembler's integer forms ([`parse_int_literal`]).
fn parse_int_text(text: &str) -> Result<i64, IntLiteralError> {
    let t = text.trim();
    match t.strip_prefix('+') {
        // `+` replaces the sign: `+-1` is no form.
        Some(rest) if rest.starts_with('-') => Err(IntLiteralError::Malformed),
        Some(rest) => parse_int_literal(rest),
        None => parse_int_literal(t),
    }
}

fn parse_float_text(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok()
}

fn str_parse_int(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    cx.charge_work(as_work(cx.str(a[0]).len()))?;
    let s = cx.str(a[0]);
    match parse_int_text(s) {
        Ok(v) => Ok(Some(Value::int(v))),
        Err(IntLiteralError::OutOfRange) => {
            Err(parse_error("str.parse_int", "integer out of range", s))
        }
        Err(_) => Err(parse_error("str.parse_int", "invalid integer", s)),
    }
}

fn str_parse_float(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    cx.charge_work(as_work(cx.str(a[0]).len()))?;
    let s = cx.str(a[0]);
    parse_float_text(s)
        .map(|v| Some(Value::float(v)))
        .ok_or_else(|| parse_error("str.parse_float", "invalid float", s))
}

fn str_try_parse_int(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    cx.charge_work(as_work(cx.str(a[0]).len()))?;
    Ok(Some(
        parse_int_text(cx.str(a[0])).map_or(Value::NIL, Value::int),
    ))
}

fn str_try_parse_float(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    cx.charge_work(as_work(cx.str(a[0]).len()))?;
    Ok(Some(
        parse_float_text(cx.str(a[0])).map_or(Value::NIL, Value::float),
    ))
}

fn str_upper(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    case_map(cx, a[0], true)
}

fn str_lower(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    case_map(cx, a[0], false)
}

/// Upper- or lowercases `v`, checking the heap for the exact result length
/// first (a character can map to up to three, so the result can be longer
/// than the input; the final-sigma rule of lowercasing keeps the length).
fn case_map(cx: &mut NativeCtx<'_>, v: Value, upper: bool) -> Result<Option<Value>, Trap> {
    let s = cx.str(v);
    let len = s.len();
    let exact: usize = if upper {
        s.chars()
            .map(|c| c.to_uppercase().map(char::len_utf8).sum::<usize>())
            .sum()
    } else {
        s.chars()
            .map(|c| c.to_lowercase().map(char::len_utf8).sum::<usize>())
            .sum()
    };
    // Written straight into the new string: no host copy of either.
    cx.ensure_room(exact.saturating_add(OBJECT_BYTES))?;
    cx.charge_work(as_work(len))?;
    let v = cx.new_str_with(exact, Some(v), |src, out| {
        let Ok(text) = std::str::from_utf8(src) else {
            return; // cannot happen: a string's bytes are UTF-8
        };
        let mut at = 0;
        let mut put = |c: char| {
            let n = c.len_utf8();
            if let Some(dst) = out.get_mut(at..at + n) {
                c.encode_utf8(dst);
            }
            at += n;
        };
        if upper {
            text.chars().flat_map(char::to_uppercase).for_each(&mut put);
        } else if text.contains('Σ') {
            // Only `Σ` lowercases differently in context (the final-sigma
            // rule `str::to_lowercase` applies, same length either way):
            // text holding one takes the standard library's whole-string
            // mapping, through a host copy.
            text.to_lowercase().chars().for_each(&mut put);
        } else {
            text.chars().flat_map(char::to_lowercase).for_each(&mut put);
        }
    })?;
    Ok(Some(v))
}

fn str_trim(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let n = cx.str(a[0]).trim().len();
    cx.ensure_room(n.saturating_add(OBJECT_BYTES))?;
    cx.charge_work(as_work(n))?;
    let s = cx.str(a[0]).trim().to_owned();
    ret_str(cx, s)
}

fn str_repeat(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let n = int(a[1]);
    if n < 0 {
        return Err(Trap::invalid(format!("str.repeat: negative count {n}")));
    }
    let len = cx.str(a[0]).len();
    if len == 0 || n == 0 {
        return ret_str(cx, "");
    }
    // Check the heap limit before building: a huge count must trap, not
    // exhaust the process's memory.
    let total = (len as u64)
        .checked_mul(n as u64)
        .and_then(|t| usize::try_from(t).ok())
        .unwrap_or(usize::MAX);
    cx.ensure_room(total.saturating_add(OBJECT_BYTES))?;
    cx.charge_work(as_work(total))?;
    // Built in the heap by doubling what is there, so neither the host
    // nor a second heap string holds a copy; the fuel for the whole copy
    // was charged above, and a huge one looks at the interrupt flag
    // first.
    if total > POLL_STEP {
        cx.poll()?;
    }
    let v = cx.new_str_with(total, Some(a[0]), |unit, out| {
        out[..len].copy_from_slice(unit);
        let mut done = len;
        while done < total {
            let step = done.min(total - done);
            out.copy_within(..step, done);
            done += step;
        }
    })?;
    Ok(Some(v))
}

fn str_byte_at(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.str(a[0]).as_bytes();
    let i = int(a[1]);
    match usize::try_from(i).ok().and_then(|i| s.get(i)) {
        Some(b) => Ok(Some(Value::int(i64::from(*b)))),
        None => Err(Trap::index(i, s.len())),
    }
}

fn str_code_at(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.str(a[0]);
    let i = int(a[1]);
    let Some(at) = usize::try_from(i).ok().filter(|i| *i < s.len()) else {
        return Err(Trap::new(
            TrapCode::IndexOutOfBounds,
            format!(
                "str.code_at: offset {i} out of bounds for length {}",
                s.len()
            ),
        ));
    };
    match s.get(at..).and_then(|rest| rest.chars().next()) {
        Some(c) => Ok(Some(Value::int(i64::from(u32::from(c))))),
        None => Err(Trap::invalid(format!(
            "str.code_at: offset {i} is not on a char boundary"
        ))),
    }
}

fn str_from_code(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let n = int(a[0]);
    match u32::try_from(n).ok().and_then(char::from_u32) {
        Some(c) => ret_str(cx, c.to_string()),
        None => {
            let hex = if n >= 0 {
                format!(" (0x{n:x})")
            } else {
                String::new()
            };
            Err(Trap::invalid(format!(
                "str.from_code: {n}{hex} is not a Unicode scalar value \
                 (0 to 0x10ffff, except 0xd800 to 0xdfff)"
            )))
        }
    }
}

fn str_chars(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.str(a[0]);
    let (len, n) = (s.len(), s.chars().count());
    cx.ensure_room(str_array_bytes(n, len))?;
    cx.charge_work(as_work(len))?;
    let mut items = Vec::with_capacity(n);
    let mut at = 0;
    while at < len {
        let s = cx.str(a[0]);
        let width = s[at..].chars().next().map_or(1, char::len_utf8);
        let piece: Box<str> = s[at..at + width].into();
        at += width;
        items.push(cx.new_str(piece)?);
        if items.len() % POLL_STEP == 0 {
            cx.poll()?;
        }
    }
    Ok(Some(cx.new_array(Type::Str, items)?))
}

fn fmt_fixed(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let (x, n) = (float(a[0]), int(a[1]));
    if !(0..=100).contains(&n) {
        return Err(Trap::invalid(format!(
            "fmt.fixed: decimals must be between 0 and 100, found {n}"
        )));
    }
    // Rust's `{:.N}` rounds the exact binary value half-to-even, as glibc's
    // printf does; only the spelling of non-finite values differs.
    let s = if x.is_nan() {
        "nan".to_owned()
    } else if x.is_infinite() {
        if x > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{x:.*}", n as usize)
    };
    ret_str(cx, s)
}

fn sort_type_error(cx: &NativeCtx<'_>, arr: Value) -> Trap {
    Trap::type_error(
        "array<int>, array<float> or array<str>",
        Type::array(cx.array_elem_type(arr)),
    )
}

/// Sorts in place. Work: n * log2(n) comparisons. Host memory, checked
/// against the heap limit first (nothing else allocates while it sorts):
/// one buffer of the array's length (8 bytes an element for int and float
/// arrays; for strings, a copy of the elements plus the buffer, one value
/// each).
fn array_sort(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let elem = cx.array_elem_type(a[0]);
    if !matches!(elem, Type::Int | Type::Float | Type::Str) {
        return Err(sort_type_error(cx, a[0]));
    }
    let n = cx.array_len(a[0]);
    let log = (usize::BITS - n.leading_zeros()) as usize;
    // The merge buffer of elements; for strings also the copy sorted.
    let per = if elem == Type::Str {
        2 * std::mem::size_of::<Value>()
    } else {
        std::mem::size_of::<i64>()
    };
    cx.ensure_room(n.saturating_mul(per))?;
    cx.charge_work(as_work(n.saturating_mul(log)))?;
    let handle = cx.interrupt_handle();
    let poll = || handle.take().map_or(Ok(()), Err);
    match elem {
        Type::Int => sort_polled(cx.int_array_mut(a[0]), i64::cmp, poll),
        Type::Float => sort_polled(cx.float_array_mut(a[0]), f64::total_cmp, poll),
        _ => {
            let mut items = cx.array_values(a[0]);
            let sorted = sort_polled(&mut items, |x, y| cx.str(*x).cmp(cx.str(*y)), poll);
            // Written back even when interrupted: the items are then in
            // some order, all present.
            cx.set_array_values(a[0], items)?;
            sorted
        }
    }?;
    Ok(None)
}

fn array_slice(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let len = cx.array_len(a[0]);
    let (from, to) = (int(a[1]), int(a[2]));
    if from < 0 || to < from || to as u64 > len as u64 {
        return Err(Trap::new(
            TrapCode::IndexOutOfBounds,
            format!("array.slice: range {from}..{to} out of bounds for length {len}"),
        ));
    }
    cx.charge_work(as_work((to - from) as usize))?;
    Ok(Some(cx.slice_array(a[0], from as usize, to as usize)?))
}

fn array_reverse(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    cx.charge_work(as_work(cx.array_len(a[0])))?;
    cx.reverse_array(a[0]);
    Ok(None)
}

fn gc_stats(cx: &mut NativeCtx<'_>, _: &[Value]) -> Result<Option<Value>, Trap> {
    let st = cx.gc_stats();
    let m = cx.new_map(KeyType::Str, Type::Int)?;
    for (k, v) in [
        ("collections", st.collections),
        ("minor_collections", st.minor_collections),
        ("major_collections", st.major_collections),
        ("live_bytes", st.live_bytes),
        ("peak_bytes", st.peak_bytes),
        ("allocated_bytes", st.allocated_bytes),
        ("pause_us", st.pause.as_micros() as u64),
        ("max_pause_us", st.max_pause.as_micros() as u64),
    ] {
        let key = cx.new_str(k)?;
        cx.map_set(m, key, Value::int(v as i64))?;
    }
    Ok(Some(m))
}
