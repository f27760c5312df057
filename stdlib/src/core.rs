//! Pure library functions: strings, formatting, math, arrays, GC.

use keel_vm::{FuncType, KeyType, Linker, NativeCtx, Trap, TrapCode, Type, Value};

type Native = fn(&mut NativeCtx<'_>, &[Value]) -> Result<Option<Value>, Trap>;

/// One library function: name, parameters, result, description, body.
type Def = (&'static str, Vec<Type>, Option<Type>, &'static str, Native);

const T: Type = Type::Var(0);

fn arr(t: Type) -> Type {
    Type::array(t)
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
            "Parse a decimal int (surrounding whitespace allowed); traps on bad input.",
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
                cx.collect_garbage();
                Ok(None)
            },
        ),
        (
            "gc.stats",
            vec![],
            Some(Type::map(KeyType::Str, Int)),
            "Heap counters: collections, live_bytes, peak_bytes, allocated_bytes.",
            gc_stats,
        ),
    ];
    for (name, params, result, doc, f) in defs {
        linker.define_with_doc(name, FuncType::new(params, result), doc, f);
    }
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

fn ret_str(cx: &mut NativeCtx<'_>, s: impl Into<Box<str>>) -> Result<Option<Value>, Trap> {
    Ok(Some(cx.new_str(s)?))
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
    let part = part.to_owned();
    ret_str(cx, part)
}

fn str_find(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let found = cx.str(a[0]).find(cx.str(a[1])).map_or(-1, |i| i as i64);
    Ok(Some(Value::int(found)))
}

fn str_split(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let sep = cx.str(a[1]).to_owned();
    if sep.is_empty() {
        return Err(Trap::invalid("str.split: empty separator"));
    }
    let parts: Vec<String> = cx
        .str(a[0])
        .split(sep.as_str())
        .map(str::to_owned)
        .collect();
    strings_to_array(cx, parts)
}

fn strings_to_array(cx: &mut NativeCtx<'_>, parts: Vec<String>) -> Result<Option<Value>, Trap> {
    let mut items = Vec::with_capacity(parts.len());
    for p in parts {
        items.push(cx.new_str(p)?);
    }
    Ok(Some(cx.new_array(Type::Str, items)?))
}

fn str_join(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let items = cx.array_values(a[0]);
    let sep = cx.str(a[1]);
    let total: usize = items.iter().map(|v| cx.str(*v).len()).sum::<usize>()
        + sep.len() * items.len().saturating_sub(1);
    cx.ensure_room(total)?;
    let mut out = String::with_capacity(total);
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(cx.str(a[1]));
        }
        out.push_str(cx.str(*v));
    }
    ret_str(cx, out)
}

fn str_from(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.display(a[0])?;
    ret_str(cx, s)
}

fn parse_error(func: &str, what: &str, input: &str) -> Trap {
    let mut quoted = String::from("\"");
    for c in input.chars().take(80) {
        quoted.extend(c.escape_debug());
    }
    quoted.push('"');
    Trap::invalid(format!("{func}: invalid {what} {quoted}"))
}

fn str_parse_int(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.str(a[0]);
    s.trim()
        .parse::<i64>()
        .map(|v| Some(Value::int(v)))
        .map_err(|_| parse_error("str.parse_int", "integer", s))
}

fn str_parse_float(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.str(a[0]);
    s.trim()
        .parse::<f64>()
        .map(|v| Some(Value::float(v)))
        .map_err(|_| parse_error("str.parse_float", "float", s))
}

fn str_upper(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.str(a[0]).to_uppercase();
    ret_str(cx, s)
}

fn str_lower(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.str(a[0]).to_lowercase();
    ret_str(cx, s)
}

fn str_trim(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.str(a[0]).trim().to_owned();
    ret_str(cx, s)
}

fn str_repeat(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let n = int(a[1]);
    if n < 0 {
        return Err(Trap::invalid(format!("str.repeat: negative count {n}")));
    }
    let len = cx.str(a[0]).len();
    // Check the heap limit before building: a huge count must trap, not
    // exhaust the process's memory.
    let total = (len as u64)
        .checked_mul(n as u64)
        .and_then(|t| usize::try_from(t).ok())
        .unwrap_or(usize::MAX);
    cx.ensure_room(total)?;
    let s = cx.str(a[0]).repeat(n as usize);
    ret_str(cx, s)
}

fn str_byte_at(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let s = cx.str(a[0]).as_bytes();
    let i = int(a[1]);
    match usize::try_from(i).ok().and_then(|i| s.get(i)) {
        Some(b) => Ok(Some(Value::int(i64::from(*b)))),
        None => Err(Trap::index(i, s.len())),
    }
}

fn str_chars(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let parts: Vec<String> = cx.str(a[0]).chars().map(String::from).collect();
    cx.ensure_room(parts.len().saturating_mul(48))?;
    strings_to_array(cx, parts)
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

fn array_sort(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let elem = cx.array_elem_type(a[0]);
    let mut items = cx.array_values(a[0]);
    match elem {
        Type::Int => items.sort_by_key(|v| int(*v)),
        Type::Float => items.sort_by(|x, y| float(*x).total_cmp(&float(*y))),
        Type::Str => items.sort_by(|x, y| cx.str(*x).cmp(cx.str(*y))),
        _ => return Err(sort_type_error(cx, a[0])),
    }
    cx.set_array_values(a[0], items)?;
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
    let elem = cx.array_elem_type(a[0]);
    let items = cx.array_values(a[0])[from as usize..to as usize].to_vec();
    Ok(Some(cx.new_array(elem, items)?))
}

fn array_reverse(cx: &mut NativeCtx<'_>, a: &[Value]) -> Result<Option<Value>, Trap> {
    let mut items = cx.array_values(a[0]);
    items.reverse();
    cx.set_array_values(a[0], items)?;
    Ok(None)
}

fn gc_stats(cx: &mut NativeCtx<'_>, _: &[Value]) -> Result<Option<Value>, Trap> {
    let st = cx.gc_stats();
    let m = cx.new_map(KeyType::Str, Type::Int)?;
    for (k, v) in [
        ("collections", st.collections),
        ("live_bytes", st.live_bytes),
        ("peak_bytes", st.peak_bytes),
        ("allocated_bytes", st.allocated_bytes),
    ] {
        let key = cx.new_str(k)?;
        cx.map_set(m, key, Value::int(v as i64))?;
    }
    Ok(Some(m))
}
