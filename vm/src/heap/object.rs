//! Heap object kinds and their byte sizes.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::map::MapEntries;
use crate::types::{KeyType, Type};
use crate::value::Value;

/// Fixed cost charged for every object on top of its payload.
pub(crate) const OBJECT_HEADER_BYTES: usize = 32;
/// Bytes charged per map entry (key, value, hash, index and table slack);
/// a map's size is its entry count times this, so inserting and deleting
/// change it by exactly this much.
pub(crate) const MAP_ENTRY_BYTES: usize = 48;

/// A heap object.
pub(crate) enum Object {
    /// An immutable string.
    Str(Box<str>),
    /// `array<int>`, unboxed so the JIT can index it directly.
    IntArray(Vec<i64>),
    /// `array<float>`, unboxed.
    FloatArray(Vec<f64>),
    /// Any other array; `elem` is the element type (for `cast` and display).
    ValArray { elem: Type, items: Vec<Value> },
    /// A map.
    Map(Box<MapObj>),
    /// A record: its type's name and its fields in declaration order.
    Record(RecordObj),
    /// A string buffer (`strbuf`), appended to in place.
    StrBuf(String),
}

/// A record object. Record-typed fields hold `nil` or a record; the
/// verifier proved every field access's type, so fields are read by index.
pub(crate) struct RecordObj {
    /// The record type: its name and field names, shared by every record
    /// of the type.
    pub(crate) shape: Arc<Shape>,
    /// Field values in declaration order.
    pub(crate) fields: Box<[Value]>,
}

/// What a record value knows about its type: the name (records are typed
/// by name, see [`Type::Record`]) and the field names, for display and for
/// hosts.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) name: Arc<str>,
    pub(crate) fields: Box<[Box<str>]>,
}

/// An insertion-ordered map.
pub(crate) struct MapObj {
    pub(crate) key: KeyType,
    pub(crate) val: Type,
    pub(crate) entries: MapEntries,
}

/// A map key, owned: string keys hold their content so hashing and equality
/// are by content and a key never refers to another object.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum MapKey {
    Int(i64),
    Bool(bool),
    Str(Box<str>),
}

/// A borrowed map key for lookups without allocating.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum KeyRef<'a> {
    Int(i64),
    Bool(bool),
    Str(&'a str),
}

impl MapKey {
    /// Bytes charged for one entry with this key.
    pub(crate) fn cost(&self) -> usize {
        self.as_ref().cost()
    }

    pub(crate) fn as_ref(&self) -> KeyRef<'_> {
        match self {
            MapKey::Int(i) => KeyRef::Int(*i),
            MapKey::Bool(b) => KeyRef::Bool(*b),
            MapKey::Str(s) => KeyRef::Str(s),
        }
    }
}

impl KeyRef<'_> {
    /// Bytes charged for one entry with this key.
    pub(crate) fn cost(self) -> usize {
        MAP_ENTRY_BYTES
            + if let KeyRef::Str(s) = self {
                s.len()
            } else {
                0
            }
    }

    pub(crate) fn to_owned(self) -> MapKey {
        match self {
            KeyRef::Int(i) => MapKey::Int(i),
            KeyRef::Bool(b) => MapKey::Bool(b),
            KeyRef::Str(s) => MapKey::Str(s.into()),
        }
    }
}

// MapKey and KeyRef must hash identically for `Equivalent` lookups.
impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            KeyRef::Int(i) => {
                h.write_u8(0);
                i.hash(h);
            }
            KeyRef::Bool(b) => {
                h.write_u8(1);
                b.hash(h);
            }
            KeyRef::Str(s) => {
                h.write_u8(2);
                s.hash(h);
            }
        }
    }
}

impl Hash for MapKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_ref().hash(h);
    }
}

impl indexmap::Equivalent<MapKey> for KeyRef<'_> {
    fn equivalent(&self, key: &MapKey) -> bool {
        *self == key.as_ref()
    }
}

impl Object {
    /// Bytes charged for this object.
    pub(crate) fn size(&self) -> usize {
        OBJECT_HEADER_BYTES
            + match self {
                Object::Str(s) => s.len(),
                Object::IntArray(v) => v.capacity() * 8,
                Object::FloatArray(v) => v.capacity() * 8,
                Object::ValArray { items, .. } => items.capacity() * 16,
                Object::Map(m) => m.entries.keys().map(MapKey::cost).sum(),
                Object::Record(r) => r.fields.len() * 16,
                Object::StrBuf(s) => s.capacity(),
            }
    }

    /// The object's full static type.
    pub(crate) fn ty(&self) -> Type {
        match self {
            Object::Str(_) => Type::Str,
            Object::IntArray(_) => Type::array(Type::Int),
            Object::FloatArray(_) => Type::array(Type::Float),
            Object::ValArray { elem, .. } => Type::array(elem.clone()),
            Object::Map(m) => Type::map(m.key, m.val.clone()),
            Object::Record(r) => Type::Record(r.shape.name.clone()),
            Object::StrBuf(_) => Type::StrBuf,
        }
    }

    /// Number of elements of an array object.
    pub(crate) fn array_len(&self) -> Option<usize> {
        match self {
            Object::IntArray(v) => Some(v.len()),
            Object::FloatArray(v) => Some(v.len()),
            Object::ValArray { items, .. } => Some(items.len()),
            _ => None,
        }
    }
}
