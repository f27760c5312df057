//! Static types of Keel values and function signatures.
//!
//! Types are structural and compared by equality; there is no subtyping except
//! that every type converts implicitly to `any` where `any` is expected (see
//! [`Type::accepts`]). `Var(n)` appears only in the signatures of library and
//! host functions that are generic (for example `array.sort(array<T>)`); it is
//! bound by the verifier at each call site.

use std::fmt;
use std::sync::Arc;

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
    /// A record type, by its declared name (`.record Body`). A record value
    /// may be `nil`. The name is resolved against the module's record table
    /// by the verifier; an unknown name is a verification error.
    Record(Arc<str>),
    /// A function reference type, `fn(int, str) -> bool`. A value of this
    /// type may be `nil`.
    Func(Arc<FuncType>),
    /// A growable string buffer (heap object), `strbuf`.
    StrBuf,
    /// The type of the literal `nil` on the verifier's stack. It is never
    /// declared and has no encoding: it is accepted where `any`, a record
    /// type or a function type is expected, and joins with them.
    Nil,
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

    /// A record type named `name`.
    pub fn record(name: &str) -> Type {
        Type::Record(Arc::from(name))
    }

    /// A function reference type.
    pub fn func(ty: FuncType) -> Type {
        Type::Func(Arc::new(ty))
    }

    /// True for types whose values are heap objects that cannot be `nil`
    /// (`str`, arrays, maps, `strbuf`). Locals of these types must be
    /// assigned before they are read.
    pub fn is_ref(&self) -> bool {
        matches!(
            self,
            Type::Str | Type::Array(_) | Type::Map(..) | Type::StrBuf
        )
    }

    /// True for types whose values may be `nil` and default to it: `any`,
    /// record types and function types.
    pub fn is_nullable(&self) -> bool {
        matches!(self, Type::Any | Type::Record(_) | Type::Func(_))
    }

    /// True when a value of static type `actual` may be used where `self` is
    /// expected: the types are equal, or `self` is `any`. The `any` rule
    /// holds at the top level only: arrays and maps are invariant, so
    /// `array<any>` does not accept `array<int>` (a callee could store a
    /// `str` into it).
    ///
    /// The literal `nil` (type [`Type::Nil`]) is accepted where a nullable
    /// type ([`Type::is_nullable`]) is expected.
    pub fn accepts(&self, actual: &Type) -> bool {
        *self == Type::Any || self == actual || (*actual == Type::Nil && self.is_nullable())
    }

    /// Nesting depth: 1 for scalars, 1 + the element's depth for containers.
    /// For a function type, 1 + the deepest of its parameters and result.
    pub fn depth(&self) -> usize {
        match self {
            Type::Array(e) | Type::Map(_, e) => 1 + e.depth(),
            Type::Func(f) => 1 + f.types().map(Type::depth).max().unwrap_or(0),
            _ => 1,
        }
    }

    /// True when the type mentions a type variable.
    pub fn has_var(&self) -> bool {
        match self {
            Type::Var(_) => true,
            Type::Array(e) | Type::Map(_, e) => e.has_var(),
            Type::Func(f) => f.types().any(Type::has_var),
            _ => false,
        }
    }

    /// Calls `f` on every record name the type mentions (inside containers
    /// and function types too).
    pub fn for_each_record(&self, f: &mut dyn FnMut(&str)) {
        match self {
            Type::Record(name) => f(name),
            Type::Array(e) | Type::Map(_, e) => e.for_each_record(f),
            Type::Func(ft) => ft.types().for_each(|t| t.for_each_record(f)),
            _ => {}
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
            Type::Record(name) => f.write_str(name),
            Type::Func(ft) => write!(f, "fn{ft}"),
            Type::StrBuf => f.write_str("strbuf"),
            Type::Nil => f.write_str("nil"),
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

    /// The parameter types, then the result type if any.
    pub fn types(&self) -> impl Iterator<Item = &Type> {
        self.params.iter().chain(self.result.as_ref())
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
        let f = Type::func(FuncType::new(vec![Type::Int], Some(Type::record("Node"))));
        assert_eq!(f.to_string(), "fn(int) -> Node");
        assert_eq!(Type::func(FuncType::default()).to_string(), "fn()");
        assert_eq!(Type::array(f).depth(), 3);
    }

    #[test]
    fn nil_fits_only_nullable_types() {
        for t in [
            Type::Any,
            Type::record("Body"),
            Type::func(FuncType::default()),
        ] {
            assert!(t.accepts(&Type::Nil), "{t}");
        }
        for t in [Type::Int, Type::Str, Type::StrBuf, Type::array(Type::Any)] {
            assert!(!t.accepts(&Type::Nil), "{t}");
        }
        assert!(!Type::Nil.accepts(&Type::Any));
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
