//! Array literals: `push [1, 2, 3]`, `push array<Node> []`, and
//! `.global t: array<int> = [1, 2, 3]`.
//!
//! Elements are int, float, bool or string literals of one kind (ints and
//! floats do not mix); the element type comes from the first element, or
//! from the written or declared `array<T>` (which an empty literal needs).
//! The result is always the canonical [`ArrayLit`] for its element type
//! (`ArrayLit::empty`), so a literal has one encoding and `dis` prints it
//! back to the same bytes. Strings are interned in element order.

use keel_vm::Type;
use keel_vm::internals::isa::ArrayLit;

use super::{Lowerer, err};
use crate::ast::{ArrayExpr, LitValue};
use crate::error::{AsmError, AsmErrorKind, Span};

/// The class of a literal element, as named in messages.
fn class(v: &LitValue) -> Option<Type> {
    match v {
        LitValue::Int(_) => Some(Type::Int),
        LitValue::Float(_) => Some(Type::Float),
        LitValue::Bool(_) => Some(Type::Bool),
        LitValue::Str(_) => Some(Type::Str),
        LitValue::Nil => None,
    }
}

fn bad(span: Span, msg: String) -> AsmError {
    err(span, AsmErrorKind::BadArray(msg))
}

impl Lowerer<'_, '_> {
    /// Lowers `a`; `elem` is the element type the context declares (a
    /// global's `array<T>`), if any.
    pub(super) fn array_lit(
        &mut self,
        a: &ArrayExpr,
        elem: Option<&Type>,
    ) -> Result<ArrayLit, AsmError> {
        let written = match &a.ty {
            None => None,
            Some(Type::Array(e)) => Some((**e).clone()),
            Some(t) => {
                return Err(bad(
                    a.span,
                    format!("an array literal's type is array<T>, found {t}"),
                ));
            }
        };
        let elem = match (written, elem) {
            (Some(w), Some(d)) if w != *d => {
                return Err(bad(
                    a.span,
                    format!("array literal of array<{w}> where array<{d}> is declared"),
                ));
            }
            (Some(t), _) => t,
            (None, Some(d)) => d.clone(),
            (None, None) => match a.items.first() {
                None => {
                    return Err(bad(
                        a.span,
                        "an empty array literal needs its type, as in `push array<int> []`".into(),
                    ));
                }
                Some(first) => match class(&first.value) {
                    Some(t) => t,
                    None => {
                        return Err(bad(
                            first.span,
                            "array literal elements are int, float, bool or string literals, found `nil`"
                                .into(),
                        ));
                    }
                },
            },
        };
        let mut lit = ArrayLit::empty(elem.clone());
        if a.items.is_empty() {
            return Ok(lit);
        }
        if matches!(lit, ArrayLit::Empty(_)) {
            return Err(bad(
                a.items[0].span,
                format!(
                    "a literal of array<{elem}> must be empty (elements are int, float, bool or string literals)"
                ),
            ));
        }
        for item in &a.items {
            match (&mut lit, &item.value) {
                (ArrayLit::Int(v), LitValue::Int(x)) => v.push(*x),
                (ArrayLit::Float(v), LitValue::Float(x)) => v.push(*x),
                (ArrayLit::Bool(v), LitValue::Bool(x)) => v.push(*x),
                (ArrayLit::Str(v), LitValue::Str(s)) => {
                    let i = self.intern(s);
                    v.push(i);
                }
                (_, found) => {
                    return Err(bad(
                        item.span,
                        format!(
                            "elements of an array<{elem}> literal are {elem} literals, found {}",
                            found.describe()
                        ),
                    ));
                }
            }
        }
        Ok(lit)
    }
}
