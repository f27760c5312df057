//! Operations on `any` values, dispatched on run-time tags.
//!
//! Arithmetic on an int mixed with a float promotes to float; everything
//! else of the wrong type traps with `type error: expected ..., found ...`.
//!
//! Comparisons of an int with a float are exact: they compare the two
//! numbers, never the int rounded to a float (`2^53 + 1` is greater than
//! `2^53.0`, `i64::MAX` is less than `2^63.0`). NaN is unordered with every
//! number, so every ordering and `eq` are false on it and `ne` is true;
//! `-0.0` equals `0`. Map keys are never floats, so no hashing mixes the two.

use std::cmp::Ordering;

use crate::heap::Heap;
use crate::native::heap_type_name as value_type_name;
use crate::trap::{Trap, TrapCode};
use crate::value::{Tag, Value};

/// Which arithmetic operation.
#[derive(Clone, Copy)]
pub(crate) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

fn num(heap: &Heap, v: Value) -> Result<(), Trap> {
    match v.tag() {
        Tag::Int | Tag::Float => Ok(()),
        _ => Err(Trap::type_error("int or float", value_type_name(heap, v))),
    }
}

fn as_f64(v: Value) -> f64 {
    if v.tag() == Tag::Int {
        v.i() as f64
    } else {
        v.f()
    }
}

#[cold]
pub(crate) fn division_by_zero() -> Trap {
    Trap::new(TrapCode::DivisionByZero, "division by zero")
}

pub(crate) fn int_arith(op: Arith, a: i64, b: i64) -> Result<i64, Trap> {
    Ok(match op {
        Arith::Add => a.wrapping_add(b),
        Arith::Sub => a.wrapping_sub(b),
        Arith::Mul => a.wrapping_mul(b),
        Arith::Div => {
            if b == 0 {
                return Err(division_by_zero());
            }
            a.wrapping_div(b)
        }
        Arith::Rem => {
            if b == 0 {
                return Err(division_by_zero());
            }
            a.wrapping_rem(b)
        }
    })
}

pub(crate) fn float_arith(op: Arith, a: f64, b: f64) -> f64 {
    match op {
        Arith::Add => a + b,
        Arith::Sub => a - b,
        Arith::Mul => a * b,
        Arith::Div => a / b,
        Arith::Rem => a % b,
    }
}

pub(crate) fn arith(heap: &Heap, op: Arith, a: Value, b: Value) -> Result<Value, Trap> {
    num(heap, a)?;
    num(heap, b)?;
    if a.tag() == Tag::Int && b.tag() == Tag::Int {
        return int_arith(op, a.i(), b.i()).map(Value::int);
    }
    Ok(Value::float(float_arith(op, as_f64(a), as_f64(b))))
}

pub(crate) fn neg(heap: &Heap, a: Value) -> Result<Value, Trap> {
    num(heap, a)?;
    Ok(if a.tag() == Tag::Int {
        Value::int(a.i().wrapping_neg())
    } else {
        Value::float(-a.f())
    })
}

/// The exact order of int `i` and float `f`; `None` when `f` is NaN.
pub(crate) fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    // 2^63, exactly: every float at or above it exceeds every int, every
    // float below -2^63 is below every int.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() {
        return None;
    }
    if f >= TWO_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_63 {
        return Some(Ordering::Greater);
    }
    // -2^63 <= f < 2^63: its integer part is an int (the cast is exact),
    // and the fraction `f - whole` is exact too.
    let whole = f.trunc();
    let frac = f - whole;
    Some(i.cmp(&(whole as i64)).then(if frac > 0.0 {
        Ordering::Less
    } else if frac < 0.0 {
        Ordering::Greater
    } else {
        Ordering::Equal
    }))
}

/// The order of two numbers (each an int or a float), exact; `None` when
/// either is NaN.
fn cmp_num(a: Value, b: Value) -> Option<Ordering> {
    match (a.tag(), b.tag()) {
        (Tag::Int, Tag::Int) => Some(a.i().cmp(&b.i())),
        (Tag::Int, _) => cmp_int_float(a.i(), b.f()),
        (_, Tag::Int) => cmp_int_float(b.i(), a.f()).map(Ordering::reverse),
        _ => a.f().partial_cmp(&b.f()),
    }
}

/// Dynamic equality: numbers by value (int and float compare numerically,
/// exactly), strings by content, arrays and maps by identity, nil equals
/// nil.
pub(crate) fn eq(heap: &Heap, a: Value, b: Value) -> bool {
    match (a.tag(), b.tag()) {
        (Tag::Float, _) | (_, Tag::Float) if is_num(a) && is_num(b) => {
            cmp_num(a, b) == Some(Ordering::Equal)
        }
        (Tag::Str, Tag::Str) => heap.str(a) == heap.str(b),
        (x, y) => x == y && a.bits == b.bits,
    }
}

fn is_num(v: Value) -> bool {
    matches!(v.tag(), Tag::Int | Tag::Float)
}

/// Dynamic ordering of two numbers (exact, as [`cmp_int_float`]) or two
/// strings; `None` for NaN.
pub(crate) fn compare(heap: &Heap, a: Value, b: Value) -> Result<Option<Ordering>, Trap> {
    match (a.tag(), b.tag()) {
        (Tag::Int, Tag::Int) => Ok(Some(a.i().cmp(&b.i()))),
        (Tag::Str, Tag::Str) => Ok(Some(heap.str(a).cmp(heap.str(b)))),
        _ if is_num(a) && is_num(b) => Ok(cmp_num(a, b)),
        (Tag::Str, _) => Err(Trap::type_error("str", value_type_name(heap, b))),
        _ if is_num(a) => Err(Trap::type_error("int or float", value_type_name(heap, b))),
        _ => Err(Trap::type_error(
            "int, float or str",
            value_type_name(heap, a),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering::{self, Equal, Greater, Less};

    use super::{cmp_int_float, compare, eq};
    use crate::heap::Heap;
    use crate::value::Value;

    const TWO_53: i64 = 1 << 53;
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;

    /// An independent exact order: through i128, where every int and every
    /// integral float below 2^126 is exact.
    fn oracle(i: i64, f: f64) -> Option<Ordering> {
        if f.is_nan() {
            return None;
        }
        if f.abs() >= 2f64.powi(126) {
            return Some(if f > 0.0 { Less } else { Greater });
        }
        let floor = f.floor() as i128;
        let i = i128::from(i);
        Some(if f == f.floor() {
            i.cmp(&floor)
        } else if i <= floor {
            Less
        } else {
            Greater
        })
    }

    fn ints() -> Vec<i64> {
        let mut v = vec![
            0,
            1,
            -1,
            2,
            TWO_53,
            TWO_53 + 1,
            TWO_53 - 1,
            TWO_53 + 2,
            -TWO_53,
            -TWO_53 + 1,
            -TWO_53 - 1,
            1 << 62,
            i64::MAX,
            i64::MAX - 1,
            i64::MAX - 512,
            i64::MIN,
            i64::MIN + 1,
        ];
        // Some spread-out ones (xorshift), deterministic.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(x as i64 >> (x % 64));
        }
        v
    }

    fn floats() -> Vec<f64> {
        let mut v = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            1.5,
            TWO_53 as f64,
            TWO_53 as f64 + 2.0,
            TWO_53 as f64 - 1.0,
            -(TWO_53 as f64),
            4_503_599_627_370_495.5,
            TWO_63,
            -TWO_63,
            9_223_372_036_854_774_784.0,
            -9_223_372_036_854_774_784.0,
            2.0 * TWO_63,
            1e300,
            -1e300,
            1e-300,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = f64::from_bits(x);
            // Mostly numbers near the int range.
            v.push(if f.is_finite() { f % 1e19 } else { f });
        }
        v
    }

    #[test]
    fn int_float_order_is_exact_on_edge_values() {
        for i in ints() {
            for f in floats() {
                assert_eq!(cmp_int_float(i, f), oracle(i, f), "{i} vs {f:e}");
            }
        }
    }

    #[test]
    fn eq_and_compare_on_mixed_numbers_are_exact() {
        let heap = Heap::new(1 << 20, false);
        let (i, f) = (Value::int, Value::float);
        let two_53 = TWO_53 as f64;
        // Lossy before: `2^53 + 1` and `i64::MAX` round onto the float.
        assert!(!eq(&heap, i(TWO_53 + 1), f(two_53)));
        assert!(!eq(&heap, f(two_53), i(TWO_53 + 1)));
        assert!(!eq(&heap, i(i64::MAX), f(TWO_63)));
        assert_eq!(compare(&heap, i(TWO_53 + 1), f(two_53)), Ok(Some(Greater)));
        assert_eq!(compare(&heap, f(two_53), i(TWO_53 + 1)), Ok(Some(Less)));
        assert_eq!(compare(&heap, i(i64::MAX), f(TWO_63)), Ok(Some(Less)));
        assert_eq!(compare(&heap, i(TWO_53 - 1), f(two_53)), Ok(Some(Less)));
        // Exact ones stay equal.
        assert!(eq(&heap, i(TWO_53), f(two_53)));
        assert!(eq(&heap, i(-TWO_53), f(-two_53)));
        assert!(eq(&heap, i(i64::MIN), f(-TWO_63)));
        assert_eq!(compare(&heap, i(i64::MIN), f(-TWO_63)), Ok(Some(Equal)));
        assert!(eq(&heap, i(0), f(-0.0)));
        assert!(eq(&heap, f(-0.0), i(0)));
        assert!(eq(&heap, f(-0.0), f(0.0)));
        // Infinities are beyond every int; NaN is unordered with everything.
        for n in [i64::MIN, 0, i64::MAX] {
            assert_eq!(compare(&heap, i(n), f(f64::INFINITY)), Ok(Some(Less)));
            assert_eq!(
                compare(&heap, i(n), f(f64::NEG_INFINITY)),
                Ok(Some(Greater))
            );
            assert_eq!(compare(&heap, i(n), f(f64::NAN)), Ok(None));
            assert_eq!(compare(&heap, f(f64::NAN), i(n)), Ok(None));
            assert!(!eq(&heap, i(n), f(f64::NAN)));
            assert!(!eq(&heap, f(f64::NAN), i(n)));
        }
        assert!(!eq(&heap, f(f64::NAN), f(f64::NAN)));
        assert_eq!(compare(&heap, f(f64::NAN), f(f64::NAN)), Ok(None));
        // Both orders agree with each other, for every pair.
        for n in ints() {
            for x in floats() {
                let ab = compare(&heap, i(n), f(x)).expect("numbers");
                let ba = compare(&heap, f(x), i(n)).expect("numbers");
                assert_eq!(ab, ba.map(Ordering::reverse), "{n} vs {x:e}");
                assert_eq!(eq(&heap, i(n), f(x)), ab == Some(Equal), "{n} vs {x:e}");
                assert_eq!(eq(&heap, f(x), i(n)), ab == Some(Equal), "{n} vs {x:e}");
            }
        }
    }
}
