//! The value representation: 16-byte tagged slots.
//!
//! A [`Value`] is a one-byte [`Tag`] and a 64-bit payload: the integer, the
//! float's bits, 0/1 for a bool, or the index of a heap object. Why this
//! shape rather than untagged 8-byte slots with per-safepoint type maps:
//!
//! - the garbage collector finds every reference by reading tags, so it is
//!   precise without stack maps, and a missing map can never make it skip a
//!   live object;
//! - `any` needs a run-time tag anyway, and with tags everywhere converting
//!   a typed value to `any` is free;
//! - the layout is `#[repr(C)]` (tag at byte 0, payload at byte 8), so JIT
//!   code reads and writes locals and stack slots with plain `mov`s at fixed
//!   offsets, and specialized instructions never look at the tag.
//!
//! Heap references are 32-bit word offsets into the instance's own heap
//! region, checked on every access, not pointers: the worst a bug could do
//! is name the wrong object of the same instance.

use std::fmt;

/// Run-time type tag of a [`Value`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u8)]
pub enum Tag {
    /// `nil` (only in `any` slots).
    Nil = 0,
    /// An int; payload is the `i64`.
    Int = 1,
    /// A float; payload is the `f64` bits.
    Float = 2,
    /// A bool; payload is 0 or 1.
    Bool = 3,
    /// A string object; payload is the object index.
    Str = 4,
    /// An array object; payload is the object index.
    Array = 5,
    /// A map object; payload is the object index.
    Map = 6,
    /// A record object; payload is the object index.
    Record = 7,
    /// A function reference; payload is the callee index (module functions
    /// first, then imports), not an object.
    Func = 8,
    /// A string buffer object; payload is the object index.
    StrBuf = 9,
}

impl Tag {
    /// True for tags whose payload is an object index.
    #[inline]
    pub fn is_object(self) -> bool {
        matches!(
            self,
            Tag::Str | Tag::Array | Tag::Map | Tag::Record | Tag::StrBuf
        )
    }

    /// The tag with this byte; `Nil` for a byte that is no tag (only a
    /// heap bug could produce one).
    #[inline]
    pub(crate) fn from_u8(b: u8) -> Tag {
        match b {
            1 => Tag::Int,
            2 => Tag::Float,
            3 => Tag::Bool,
            4 => Tag::Str,
            5 => Tag::Array,
            6 => Tag::Map,
            7 => Tag::Record,
            8 => Tag::Func,
            9 => Tag::StrBuf,
            _ => Tag::Nil,
        }
    }

    /// The type name used in error messages.
    pub fn type_name(self) -> &'static str {
        match self {
            Tag::Nil => "nil",
            Tag::Int => "int",
            Tag::Float => "float",
            Tag::Bool => "bool",
            Tag::Str => "str",
            Tag::Array => "array",
            Tag::Map => "map",
            Tag::Record => "record",
            Tag::Func => "fn",
            Tag::StrBuf => "strbuf",
        }
    }
}

/// A Keel value as stored in locals, stack slots, globals and containers.
///
/// Object values are only meaningful together with the instance whose heap
/// holds the object; hosts see them through rooted handles instead.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Value {
    pub(crate) tag: Tag,
    pub(crate) bits: u64,
}

impl Value {
    /// `nil`.
    pub const NIL: Value = Value {
        tag: Tag::Nil,
        bits: 0,
    };

    /// An int value.
    #[inline]
    pub fn int(v: i64) -> Value {
        Value {
            tag: Tag::Int,
            bits: v as u64,
        }
    }

    /// A float value.
    #[inline]
    pub fn float(v: f64) -> Value {
        Value {
            tag: Tag::Float,
            bits: v.to_bits(),
        }
    }

    /// A bool value.
    #[inline]
    pub fn bool(v: bool) -> Value {
        Value {
            tag: Tag::Bool,
            bits: u64::from(v),
        }
    }

    #[inline]
    pub(crate) fn object(tag: Tag, index: u32) -> Value {
        debug_assert!(tag.is_object());
        Value {
            tag,
            bits: u64::from(index),
        }
    }

    /// A reference to callee `index` (module functions first, then imports).
    #[inline]
    pub(crate) fn func_ref(index: u32) -> Value {
        Value {
            tag: Tag::Func,
            bits: u64::from(index),
        }
    }

    /// The run-time tag.
    #[inline]
    pub fn tag(self) -> Tag {
        self.tag
    }

    /// The int, if this is an int.
    pub fn as_int(self) -> Option<i64> {
        (self.tag == Tag::Int).then_some(self.bits as i64)
    }

    /// The float, if this is a float.
    pub fn as_float(self) -> Option<f64> {
        (self.tag == Tag::Float).then(|| f64::from_bits(self.bits))
    }

    /// The bool, if this is a bool.
    pub fn as_bool(self) -> Option<bool> {
        (self.tag == Tag::Bool).then_some(self.bits != 0)
    }

    /// Whether this is `nil`.
    pub fn is_nil(self) -> bool {
        self.tag == Tag::Nil
    }

    /// Payload as int, without looking at the tag (the verifier proved it).
    #[inline(always)]
    pub(crate) fn i(self) -> i64 {
        self.bits as i64
    }

    /// Payload as float, without looking at the tag.
    #[inline(always)]
    pub(crate) fn f(self) -> f64 {
        f64::from_bits(self.bits)
    }

    /// Payload as bool, without looking at the tag.
    #[inline(always)]
    pub(crate) fn b(self) -> bool {
        self.bits != 0
    }

    /// Payload as an object index, without looking at the tag.
    #[inline(always)]
    pub(crate) fn obj(self) -> u32 {
        self.bits as u32
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tag {
            Tag::Nil => f.write_str("nil"),
            Tag::Int => write!(f, "{}", self.i()),
            Tag::Float => write!(f, "{:?}", self.f()),
            Tag::Bool => write!(f, "{}", self.b()),
            t => write!(f, "<{} #{}>", t.type_name(), self.bits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_sixteen_bytes_with_payload_at_eight() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
        assert_eq!(std::mem::offset_of!(Value, tag), 0);
        assert_eq!(std::mem::offset_of!(Value, bits), 8);
    }

    #[test]
    fn accessors_check_tags() {
        assert_eq!(Value::int(-5).as_int(), Some(-5));
        assert_eq!(Value::int(-5).as_float(), None);
        assert_eq!(Value::float(2.5).as_float(), Some(2.5));
        assert_eq!(Value::bool(true).as_bool(), Some(true));
        assert!(Value::NIL.is_nil());
    }
}
