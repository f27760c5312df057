//! Array literals: the operand of `push [1, 2, 3]` and the initializer of
//! `.global t: array<int> = [1, 2, 3]`.
//!
//! Invariant: the variant is determined by the element type, so every
//! literal has exactly one representation (and one encoding): `int`,
//! `float`, `bool` and `str` elements use their own variant even when
//! empty, every other element type is [`ArrayLit::Empty`]. Build literals
//! with [`ArrayLit::empty`] to keep it.

use crate::types::Type;

/// An array literal.
#[derive(Clone, PartialEq, Debug)]
pub enum ArrayLit {
    /// `array<int>` elements.
    Int(Vec<i64>),
    /// `array<float>` elements.
    Float(Vec<f64>),
    /// `array<bool>` elements.
    Bool(Vec<bool>),
    /// `array<str>` elements, as string constant indices.
    Str(Vec<u32>),
    /// An empty array of any other element type (`push array<Node> []`).
    Empty(Type),
}

impl ArrayLit {
    /// The empty literal of element type `elem`, in its canonical variant.
    pub fn empty(elem: Type) -> ArrayLit {
        match elem {
            Type::Int => ArrayLit::Int(Vec::new()),
            Type::Float => ArrayLit::Float(Vec::new()),
            Type::Bool => ArrayLit::Bool(Vec::new()),
            Type::Str => ArrayLit::Str(Vec::new()),
            other => ArrayLit::Empty(other),
        }
    }

    /// The element type.
    pub fn elem(&self) -> Type {
        match self {
            ArrayLit::Int(_) => Type::Int,
            ArrayLit::Float(_) => Type::Float,
            ArrayLit::Bool(_) => Type::Bool,
            ArrayLit::Str(_) => Type::Str,
            ArrayLit::Empty(t) => t.clone(),
        }
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        match self {
            ArrayLit::Int(v) => v.len(),
            ArrayLit::Float(v) => v.len(),
            ArrayLit::Bool(v) => v.len(),
            ArrayLit::Str(v) => v.len(),
            ArrayLit::Empty(_) => 0,
        }
    }

    /// True when the literal has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
