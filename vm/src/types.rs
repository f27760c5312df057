//! Static types of Keel values and function signatures.
//!
//! Types are structural and compared by equality; there is no subtyping except
//! that every type converts implicitly to `any` where `any` is expected (see
//! [`Type::accepts`]). `Var(n)` appears only in the signatures of library and
//! host functions that are generic (for example `array.sort(array<T>)`); it is
//! bound by the verifier at each call site.

use std::fmt;

/// Maximum nesting depth of a type (`array<array<...>>`), enforced by the
/// assembler and the `.kbc` decoder so no component recurses without bound.
pub const MAX_TYPE_DEPTH: usize = 16;

/// The static type of a value.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Type {
    /// 64-bit signed integer, wrapping arithmetic.
    Int,
    /// IEEE 754 double.
    Float,
    /// `true` or `false`.
    Bool,
    /// Immutable UTF-8 string (heap object).
    Str,
    /// A dynamically typed value, possibly `nil`.
    Any,
    /// Growable array with elements of the given type (heap object).
    Array(Box<Type>),
    /// Insertion-ordered map (heap object).
    Map(KeyType, Box<Type>),
    /// A type variable of a generic library signature.
    Var(u8),
}

/// The key types a map may have.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum KeyType {
    /// `int` keys.
    Int,
    /// `str` keys, compared by content.
    Str,
    /// `bool` keys.
    Bool,
}

impl KeyType {
    /// The key type as a value type.
    pub fn to_type(self) -> Type {
        match self {
            KeyType::Int => Type::Int,
            KeyType::Str => Type::Str,
            KeyType::Bool => Type::Bool,
        }
    }

    /// The key type for a value type, if that type may key a map.
    pub fn from_type(ty: &Type) -> Option<KeyType> {
        match ty {
            Type::Int => Some(KeyType::Int),
            Type::Str => Some(KeyType::Str),
            Type::Bool => Some(KeyType::Bool),
            _ => None,
        }
    }
}

impl Type {
    /// An `array<elem>` type.
    pub fn array(elem: Type) -> Type {
        Type::Array(Box::new(elem))
    }

    /// A `map<key, val>` type.
    pub fn map(key: KeyType, val: Type) -> Type {
        Type::Map(key, Box::new(val))
    }

    /// True for types whose values live on the heap (`str`, arrays, maps).
    /// Locals of these types must be assigned before they are read.
    pub fn is_ref(&self) -> bool {
        matches!(self, Type::Str | Type::Array(_) | Type::Map(..))
    }

    /// True when a value of static type `actual` may be used where `self` is
    /// expected: the types are equal, or `self` is `any`. The `any` rule
    /// holds at the top level only: arrays and maps are invariant, so
    /// `array<any>` does not accept `array<int>` (a callee could store a
    /// `str` into it).
    pub fn accepts(&self, actual: &Type) -> bool {
        *self == Type::Any || self == actual
    }

    /// Nesting depth: 1 for scalars, 1 + the element's depth for containers.
    pub fn depth(&self) -> usize {
        match self {
            Type::Array(e) | Type::Map(_, e) => 1 + e.depth(),
            _ => 1,
        }
    }

    /// True when the type mentions a type variable.
    pub fn has_var(&self) -> bool {
        match self {
            Type::Var(_) => true,
            Type::Array(e) | Type::Map(_, e) => e.has_var(),
            _ => false,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_type().fmt(f)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::Bool => f.write_str("bool"),
            Type::Str => f.write_str("str"),
            Type::Any => f.write_str("any"),
            Type::Array(e) => write!(f, "array<{e}>"),
            Type::Map(k, v) => write!(f, "map<{k},{v}>"),
            // T, U, ... Z for readability in signatures and errors, then
            // T7, T8, ...: one spelling per variable (see `Type::var_named`).
            Type::Var(n) => match TYPE_VAR_NAMES.get(usize::from(*n)) {
                Some(name) => f.write_str(name),
                None => write!(f, "T{n}"),
            },
        }
    }
}

/// A function signature: parameter types and an optional result type.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct FuncType {
    /// Parameter types, first parameter first.
    pub params: Vec<Type>,
    /// Result type, or `None` for a function that returns nothing.
    pub result: Option<Type>,
}

impl FuncType {
    /// A signature from parameters and result.
    pub fn new(params: impl Into<Vec<Type>>, result: Option<Type>) -> FuncType {
        FuncType {
            params: params.into(),
            result,
        }
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (i, p) in self.params.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        f.write_str(")")?;
        if let Some(r) = &self.result {
            write!(f, " -> {r}")?;
        }
        Ok(())
    }
}

/// How the first type variables are written; later ones are `T7`, `T8`, ...
pub const TYPE_VAR_NAMES: [&str; 7] = ["T", "U", "V", "W", "X", "Y", "Z"];

impl Type {
    /// The type variable written `name` (the inverse of its display form):
    /// `T` ... `Z` for the first seven, `T7` ... `T255` for the others.
    pub fn var_named(name: &str) -> Option<Type> {
        if let Some(i) = TYPE_VAR_NAMES.iter().position(|n| *n == name) {
            return Some(Type::Var(i as u8));
        }
        let digits = name.strip_prefix('T')?;
        if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match digits.parse::<u8>() {
            Ok(n) if usize::from(n) >= TYPE_VAR_NAMES.len() => Some(Type::Var(n)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        assert_eq!(
            Type::map(KeyType::Str, Type::array(Type::Int)).to_string(),
            "map<str,array<int>>"
        );
        let sig = FuncType::new(vec![Type::Int, Type::Str], Some(Type::Bool));
        assert_eq!(sig.to_string(), "(int, str) -> bool");
        assert_eq!(Type::Var(0).to_string(), "T");
    }

    #[test]
    fn every_type_variable_has_one_spelling() {
        for n in 0..=u8::MAX {
            let shown = Type::Var(n).to_string();
            assert_eq!(Type::var_named(&shown), Some(Type::Var(n)), "{shown}");
        }
        for not in ["", "A", "T0", "T6", "T07", "T256", "Tx", "t"] {
            assert_eq!(Type::var_named(not), None, "{not}");
        }
    }

    #[test]
    fn any_accepts_everything_but_not_conversely() {
        assert!(Type::Any.accepts(&Type::Int));
        assert!(!Type::Int.accepts(&Type::Any));
        assert!(Type::Str.is_ref() && !Type::Any.is_ref());
    }

    #[test]
    fn containers_are_invariant() {
        let aa = Type::array(Type::Any);
        assert!(!aa.accepts(&Type::array(Type::Int)));
        assert!(aa.accepts(&aa));
        assert!(Type::Any.accepts(&Type::array(Type::Int)));
        let ma = Type::map(KeyType::Str, Type::Any);
        assert!(!ma.accepts(&Type::map(KeyType::Str, Type::Str)));
    }
}
