//! Operations on `any` values, dispatched on run-time tags.
//!
//! Int mixed with float promotes to float; everything else of the wrong
//! type traps with `type error: expected ..., found ...`.

use std::cmp::Ordering;

use crate::heap::Heap;
use crate::native::value_type_name;
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

/// Dynamic equality: numbers by value (int and float compare numerically),
/// strings by content, arrays and maps by identity, nil equals nil.
pub(crate) fn eq(heap: &Heap, a: Value, b: Value) -> bool {
    match (a.tag(), b.tag()) {
        (Tag::Float, _) | (_, Tag::Float) if is_num(a) && is_num(b) => as_f64(a) == as_f64(b),
        (Tag::Str, Tag::Str) => heap.str(a) == heap.str(b),
        (x, y) => x == y && a.bits == b.bits,
    }
}

fn is_num(v: Value) -> bool {
    matches!(v.tag(), Tag::Int | Tag::Float)
}

/// Dynamic ordering of two numbers or two strings; `None` for NaN.
pub(crate) fn compare(heap: &Heap, a: Value, b: Value) -> Result<Option<Ordering>, Trap> {
    match (a.tag(), b.tag()) {
        (Tag::Int, Tag::Int) => Ok(Some(a.i().cmp(&b.i()))),
        (Tag::Str, Tag::Str) => Ok(Some(heap.str(a).cmp(heap.str(b)))),
        _ if is_num(a) && is_num(b) => Ok(as_f64(a).partial_cmp(&as_f64(b))),
        (Tag::Str, _) => Err(Trap::type_error("str", value_type_name(heap, b))),
        _ if is_num(a) => Err(Trap::type_error("int or float", value_type_name(heap, b))),
        _ => Err(Trap::type_error(
            "int, float or str",
            value_type_name(heap, a),
        )),
    }
}
