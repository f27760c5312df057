//! Little-endian, LEB128-based primitive encoding shared by the `.kbc`
//! container and the instruction encoding.
//!
//! Invariant: the reader never reads past its slice and never allocates more
//! than the remaining input could describe (counts are checked against the
//! bytes left before any `Vec::with_capacity`), so hostile input cannot make
//! it panic or exhaust memory.

use crate::isa::ArrayLit;
use crate::types::{FuncType, KeyType, MAX_TYPE_DEPTH, Type};

/// Why a byte sequence could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The input ended in the middle of an item.
    #[error("unexpected end of input while reading {0}")]
    Truncated(&'static str),
    /// A LEB128 number is longer than its type allows.
    #[error("malformed integer ({0} does not fit)")]
    Overflow(&'static str),
    /// The file does not start with the Keel magic number.
    #[error("not a Keel bytecode file (bad magic number)")]
    BadMagic,
    /// The format version is not one this build reads.
    #[error(
        "unsupported .kbc format version {found} (this build reads version {supported}{})",
        if found < supported { "; assemble the source again with this build" } else { "" }
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// An opcode byte that the table does not define.
    #[error("unknown opcode 0x{0:02x}")]
    UnknownOpcode(u8),
    /// A type tag that no type uses.
    #[error("unknown type tag 0x{0:02x}")]
    BadTypeTag(u8),
    /// A type nested deeper than [`MAX_TYPE_DEPTH`].
    #[error("type nested deeper than {MAX_TYPE_DEPTH} levels")]
    TypeTooDeep,
    /// A type that is not valid where it appears.
    #[error("invalid type: {0}")]
    BadType(String),
    /// A string that is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    BadUtf8,
    /// A byte with a fixed set of values had another value.
    #[error("invalid {what} byte 0x{byte:02x}")]
    BadByte {
        /// What the byte encodes.
        what: &'static str,
        /// The value found.
        byte: u8,
    },
    /// Bytes left over after the last section.
    #[error("{0} unexpected trailing bytes")]
    TrailingBytes(usize),
    /// A count that the remaining input cannot possibly satisfy.
    #[error("{what} count {count} exceeds the remaining input")]
    CountTooLarge {
        /// What is being counted.
        what: &'static str,
        /// The count read.
        count: u64,
    },
    /// A debug-info entry that refers to something that does not exist.
    #[error("debug info: {0}")]
    BadDebugInfo(String),
    /// A module, import, global, function, local or label name that is not
    /// a name of the assembly syntax (see `crate::module::is_name`).
    #[error(
        "invalid {what} {}: expected a name (dot-separated parts of ASCII letters, digits and `_`, \
         not starting with a digit, and not true, false, nil, inf or nan)",
        crate::display::quote(.name)
    )]
    BadName {
        /// What the name names.
        what: &'static str,
        /// The name found (its first 64 characters, then `…` if longer).
        name: String,
    },
}

/// A decoding failure with the byte offset where it was detected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid bytecode at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Offset from the start of the input being decoded.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

/// Cursor over untrusted bytes.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Added to `pos` in errors (for nested readers over a sub-slice).
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], base: usize) -> Self {
        Reader {
            bytes,
            pos: 0,
            base,
        }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    #[cold]
    pub(crate) fn err(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.base + self.pos,
            kind,
        }
    }

    #[cold]
    pub(crate) fn err_at(&self, pos: usize, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.base + pos,
            kind,
        }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| self.err(DecodeErrorKind::Truncated(what)))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.remaining() < n {
            return Err(self.err(DecodeErrorKind::Truncated(what)));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u16_le(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32_le(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn f64_le(&mut self, what: &'static str) -> Result<f64, DecodeError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    pub(crate) fn uleb(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let mut result: u64 = 0;
        let mut shift = 0u32;
        loop {
            let b = self.u8(what)?;
            if shift == 63 && b > 1 {
                return Err(self.err(DecodeErrorKind::Overflow(what)));
            }
            result |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(result);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.err(DecodeErrorKind::Overflow(what)));
            }
        }
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let v = self.uleb(what)?;
        u32::try_from(v).map_err(|_| self.err(DecodeErrorKind::Overflow(what)))
    }

    pub(crate) fn sleb(&mut self, what: &'static str) -> Result<i64, DecodeError> {
        // Zigzag on top of ULEB128 keeps small negatives short and the
        // decoder trivially total.
        let z = self.uleb(what)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A count of items each at least `min_item_bytes` long.
    pub(crate) fn count(
        &mut self,
        what: &'static str,
        min_item_bytes: usize,
    ) -> Result<usize, DecodeError> {
        let n = self.uleb(what)?;
        if n.saturating_mul(min_item_bytes.max(1) as u64) > self.remaining() as u64 {
            return Err(self.err(DecodeErrorKind::CountTooLarge { what, count: n }));
        }
        Ok(n as usize)
    }

    pub(crate) fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let n = self.count(what, 1)?;
        let start = self.pos;
        let b = self.take(n, what)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError {
                offset: self.base + start,
                kind: DecodeErrorKind::BadUtf8,
            })
    }

    pub(crate) fn key_type(&mut self) -> Result<KeyType, DecodeError> {
        match self.u8("map key type")? {
            TAG_INT => Ok(KeyType::Int),
            TAG_STR => Ok(KeyType::Str),
            TAG_BOOL => Ok(KeyType::Bool),
            b => {
                self.pos -= 1;
                Err(self.err(DecodeErrorKind::BadByte {
                    what: "map key type",
                    byte: b,
                }))
            }
        }
    }

    pub(crate) fn ty(&mut self) -> Result<Type, DecodeError> {
        self.ty_at_depth(1)
    }

    fn ty_at_depth(&mut self, depth: usize) -> Result<Type, DecodeError> {
        if depth > MAX_TYPE_DEPTH {
            return Err(self.err(DecodeErrorKind::TypeTooDeep));
        }
        Ok(match self.u8("type")? {
            TAG_INT => Type::Int,
            TAG_FLOAT => Type::Float,
            TAG_BOOL => Type::Bool,
            TAG_STR => Type::Str,
            TAG_ANY => Type::Any,
            TAG_ARRAY => Type::array(self.ty_at_depth(depth + 1)?),
            TAG_MAP => {
                let k = self.key_type()?;
                Type::map(k, self.ty_at_depth(depth + 1)?)
            }
            TAG_VAR => Type::Var(self.u8("type variable")?),
            TAG_RECORD => Type::record(&self.record_name()?),
            TAG_FUNC => Type::func(self.functype_at_depth(depth + 1)?),
            TAG_STRBUF => Type::StrBuf,
            b => {
                self.pos -= 1;
                return Err(self.err(DecodeErrorKind::BadTypeTag(b)));
            }
        })
    }

    /// A record type's name: one part of the name syntax (no dots, so
    /// `Body.x` names a field unambiguously).
    pub(crate) fn record_name(&mut self) -> Result<String, DecodeError> {
        self.checked_name("record name", is_record_name)
    }

    /// A string that must pass `ok` (one of the name rules), so that it
    /// prints as one plain token wherever it is shown; the error is at the
    /// string and shows its start.
    pub(crate) fn checked_name(
        &mut self,
        what: &'static str,
        ok: fn(&str) -> bool,
    ) -> Result<String, DecodeError> {
        let at = self.pos;
        let name = self.string(what)?;
        if ok(&name) {
            Ok(name)
        } else {
            Err(self.err_at(
                at,
                DecodeErrorKind::BadName {
                    what,
                    name: shorten(&name),
                },
            ))
        }
    }

    /// A function type: parameter count and types, a result flag byte
    /// (0 none, 1 followed by the result type).
    pub(crate) fn functype(&mut self) -> Result<FuncType, DecodeError> {
        self.functype_at_depth(1)
    }

    fn functype_at_depth(&mut self, depth: usize) -> Result<FuncType, DecodeError> {
        if depth > MAX_TYPE_DEPTH {
            return Err(self.err(DecodeErrorKind::TypeTooDeep));
        }
        let n = self.count("parameter", 1)?;
        let mut params = Vec::with_capacity(n);
        for _ in 0..n {
            params.push(self.ty_at_depth(depth)?);
        }
        let result = match self.u8("result flag")? {
            0 => None,
            1 => Some(self.ty_at_depth(depth)?),
            b => {
                return Err(self.err_at(
                    self.pos() - 1,
                    DecodeErrorKind::BadByte {
                        what: "result flag",
                        byte: b,
                    },
                ));
            }
        };
        Ok(FuncType { params, result })
    }

    /// An array literal: the element type, a count, then the elements in
    /// the element type's literal encoding (`sleb` ints, `f64le` floats,
    /// bool bytes, `uleb` string constant indices). Other element types
    /// allow only the empty literal.
    pub(crate) fn array_lit(&mut self) -> Result<ArrayLit, DecodeError> {
        let at = self.pos;
        let elem = self.ty()?;
        if elem.has_var() {
            return Err(self.err_at(
                at,
                DecodeErrorKind::BadType(format!("array literal of {elem}")),
            ));
        }
        Ok(match elem {
            Type::Int => {
                let n = self.count("array literal element", 1)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.sleb("array literal element")?);
                }
                ArrayLit::Int(v)
            }
            Type::Float => {
                let n = self.count("array literal element", 8)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.f64_le("array literal element")?);
                }
                ArrayLit::Float(v)
            }
            Type::Bool => {
                let n = self.count("array literal element", 1)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(match self.u8("array literal element")? {
                        0 => false,
                        1 => true,
                        b => {
                            return Err(self.err_at(
                                self.pos - 1,
                                DecodeErrorKind::BadByte {
                                    what: "bool",
                                    byte: b,
                                },
                            ));
                        }
                    });
                }
                ArrayLit::Bool(v)
            }
            Type::Str => {
                let n = self.count("array literal element", 1)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.u32("array literal element")?);
                }
                ArrayLit::Str(v)
            }
            elem => {
                let n = self.uleb("array literal element count")?;
                if n != 0 {
                    return Err(self.err(DecodeErrorKind::BadType(format!(
                        "array literal of {elem} must be empty"
                    ))));
                }
                ArrayLit::Empty(elem)
            }
        })
    }
}

/// Type names a record may not take: `Body` in a type position must not
/// read as a builtin type (and the assembler could not read the record
/// back).
pub(crate) const BUILTIN_TYPE_NAMES: [&str; 9] = [
    "int", "float", "bool", "str", "any", "strbuf", "array", "map", "fn",
];

/// The first 64 characters of `name`, with `…` when there were more.
fn shorten(name: &str) -> String {
    const SHOWN: usize = 64;
    let mut out: String = name.chars().take(SHOWN).collect();
    if out.len() < name.len() {
        out.push('…');
    }
    out
}

/// Whether `name` may name a record type: one part of the name syntax (no
/// dots, so `Body.x` names a field unambiguously) and not a builtin type
/// name.
pub(crate) fn is_record_name(name: &str) -> bool {
    crate::module::is_name(name) && !name.contains('.') && !BUILTIN_TYPE_NAMES.contains(&name)
}

/// Whether `name` may name a record field: one part of the name syntax.
pub(crate) fn is_field_name(name: &str) -> bool {
    crate::module::is_name(name) && !name.contains('.')
}

const TAG_INT: u8 = 0x01;
const TAG_FLOAT: u8 = 0x02;
const TAG_BOOL: u8 = 0x03;
const TAG_STR: u8 = 0x04;
const TAG_ANY: u8 = 0x05;
const TAG_ARRAY: u8 = 0x06;
const TAG_MAP: u8 = 0x07;
const TAG_VAR: u8 = 0x08;
const TAG_RECORD: u8 = 0x09;
const TAG_FUNC: u8 = 0x0a;
const TAG_STRBUF: u8 = 0x0b;

/// Appends encoded primitives to a byte vector.
pub(crate) trait Writer {
    fn uleb(&mut self, v: u64);
    fn sleb(&mut self, v: i64);
    fn string(&mut self, s: &str);
    fn ty(&mut self, t: &Type);
    fn key_type(&mut self, k: KeyType);
    fn functype(&mut self, t: &FuncType);
    fn array_lit(&mut self, lit: &ArrayLit);
}

impl Writer for Vec<u8> {
    fn uleb(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.push(b);
                return;
            }
            self.push(b | 0x80);
        }
    }

    fn sleb(&mut self, v: i64) {
        self.uleb(((v << 1) ^ (v >> 63)) as u64);
    }

    fn string(&mut self, s: &str) {
        self.uleb(s.len() as u64);
        self.extend_from_slice(s.as_bytes());
    }

    fn key_type(&mut self, k: KeyType) {
        self.push(match k {
            KeyType::Int => TAG_INT,
            KeyType::Str => TAG_STR,
            KeyType::Bool => TAG_BOOL,
        });
    }

    fn ty(&mut self, t: &Type) {
        match t {
            Type::Int => self.push(TAG_INT),
            Type::Float => self.push(TAG_FLOAT),
            Type::Bool => self.push(TAG_BOOL),
            Type::Str => self.push(TAG_STR),
            Type::Any => self.push(TAG_ANY),
            Type::Array(e) => {
                self.push(TAG_ARRAY);
                self.ty(e);
            }
            Type::Map(k, v) => {
                self.push(TAG_MAP);
                self.key_type(*k);
                self.ty(v);
            }
            Type::Var(n) => {
                self.push(TAG_VAR);
                self.push(*n);
            }
            Type::Record(name) => {
                self.push(TAG_RECORD);
                self.string(name);
            }
            Type::Func(f) => {
                self.push(TAG_FUNC);
                self.functype(f);
            }
            Type::StrBuf => self.push(TAG_STRBUF),
            // `nil` is a verifier-only type with no encoding; 0x00 is no
            // type tag, so a reader rejects it.
            Type::Nil => self.push(0),
        }
    }

    fn functype(&mut self, t: &FuncType) {
        self.uleb(t.params.len() as u64);
        for p in &t.params {
            self.ty(p);
        }
        match &t.result {
            Some(r) => {
                self.push(1);
                self.ty(r);
            }
            None => self.push(0),
        }
    }

    fn array_lit(&mut self, lit: &ArrayLit) {
        self.ty(&lit.elem());
        self.uleb(lit.len() as u64);
        match lit {
            ArrayLit::Int(v) => v.iter().for_each(|x| self.sleb(*x)),
            ArrayLit::Float(v) => v
                .iter()
                .for_each(|x| self.extend_from_slice(&x.to_le_bytes())),
            ArrayLit::Bool(v) => v.iter().for_each(|b| self.push(u8::from(*b))),
            ArrayLit::Str(v) => v.iter().for_each(|i| self.uleb(u64::from(*i))),
            ArrayLit::Empty(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb_round_trips_extremes() {
        for v in [0i64, 1, -1, 63, -64, 64, i64::MAX, i64::MIN] {
            let mut w = Vec::new();
            w.sleb(v);
            assert_eq!(Reader::new(&w, 0).sleb("x").unwrap(), v);
        }
        let mut w = Vec::new();
        w.uleb(u64::MAX);
        assert_eq!(Reader::new(&w, 0).uleb("x").unwrap(), u64::MAX);
    }

    #[test]
    fn overlong_leb_is_rejected() {
        let bytes = [0xffu8; 11];
        let e = Reader::new(&bytes, 0).uleb("x").unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::Overflow(_)));
    }

    #[test]
    fn deep_type_is_rejected_without_recursing_far() {
        let mut bytes = vec![TAG_ARRAY; 10_000];
        bytes.push(TAG_INT);
        let e = Reader::new(&bytes, 0).ty().unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TypeTooDeep);
    }

    #[test]
    fn huge_count_is_rejected_before_allocating() {
        let mut w = Vec::new();
        w.uleb(1 << 40);
        let e = Reader::new(&w, 0).count("items", 1).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::CountTooLarge { .. }));
    }
}
