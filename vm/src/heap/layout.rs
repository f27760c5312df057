//! How objects are laid out in the region: one header word, then the
//! object's words.
//!
//! Header word, low to high: kind (8 bits), mark (8), flags (8), a small
//! per-kind field `aux` (8), and a 32-bit per-kind field `n`:
//!
//! | kind | aux | n | words after the header |
//! |---|---|---|---|
//! | `Str` | - | byte length | the UTF-8 bytes, padded to words |
//! | `Array` | element kind | length | `[capacity u32 \| buffer u32]`, `[type id u32]` |
//! | `Map` | key type | live entries | see [`super::map`] |
//! | `Record` | - | shape id | two words per field: tag, payload |
//! | `StrBuf` | - | byte length | `[capacity u32 \| buffer u32]` |
//! | `Buf` | - | payload words | the payload (an array's elements, a buffer's bytes, a map's tables) |
//!
//! Elements of `array<int>` and `array<float>` are one word each (the raw
//! `i64` / `f64` bits), of `array<bool>` one byte each, of any other array
//! two words (tag, payload), like record fields.
//!
//! A buffer (`Buf`) belongs to exactly one object, which points to it and
//! marks it; it is never referenced by a value.

/// Object kinds (the header's low byte). Zero is never a valid kind, so
/// zeroed memory is recognisably not an object.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Kind {
    Str = 1,
    Array = 2,
    Map = 3,
    Record = 4,
    StrBuf = 5,
    Buf = 6,
}

impl Kind {
    pub(crate) fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Str,
            2 => Kind::Array,
            3 => Kind::Map,
            4 => Kind::Record,
            5 => Kind::StrBuf,
            6 => Kind::Buf,
            _ => return None,
        })
    }
}

/// How an array stores its elements (the `aux` byte of an array header).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum Elem {
    /// One word: the `i64`.
    Int = 0,
    /// One word: the `f64` bits.
    Float = 1,
    /// One byte: 0 or 1.
    Bool = 2,
    /// Two words: the value's tag, then its payload.
    Val = 3,
}

impl Elem {
    pub(crate) fn from_u8(b: u8) -> Elem {
        match b {
            0 => Elem::Int,
            1 => Elem::Float,
            2 => Elem::Bool,
            _ => Elem::Val,
        }
    }

    /// Words that `n` elements take.
    pub(crate) fn words_for(self, n: usize) -> usize {
        match self {
            Elem::Int | Elem::Float => n,
            Elem::Bool => n.div_ceil(8),
            Elem::Val => n * 2,
        }
    }
}

/// Flag bit: the object is in the remembered set.
pub(crate) const LOGGED: u8 = 1;

/// A decoded header word.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Header {
    pub(crate) kind: u8,
    pub(crate) mark: u8,
    pub(crate) flags: u8,
    pub(crate) aux: u8,
    pub(crate) n: u32,
}

impl Header {
    pub(crate) fn new(kind: Kind, aux: u8, n: u32) -> Header {
        Header {
            kind: kind as u8,
            mark: 0,
            flags: 0,
            aux,
            n,
        }
    }

    #[inline]
    pub(crate) fn decode(w: u64) -> Header {
        Header {
            kind: w as u8,
            mark: (w >> 8) as u8,
            flags: (w >> 16) as u8,
            aux: (w >> 24) as u8,
            n: (w >> 32) as u32,
        }
    }

    #[inline]
    pub(crate) fn encode(self) -> u64 {
        u64::from(self.kind)
            | u64::from(self.mark) << 8
            | u64::from(self.flags) << 16
            | u64::from(self.aux) << 24
            | u64::from(self.n) << 32
    }
}

/// Words of the object fields after the header, by kind (for buffers and
/// strings, from the header's `n`).
pub(crate) fn body_words(kind: Kind, n: u32, record_words: impl Fn(u32) -> usize) -> usize {
    match kind {
        Kind::Str => (n as usize).div_ceil(8),
        Kind::Array | Kind::StrBuf => 2,
        Kind::Map => super::map::MAP_WORDS,
        Kind::Record => record_words(n),
        Kind::Buf => n as usize,
    }
}

/// Two words (low, high) packed from two u32s, and back.
#[inline]
pub(crate) fn pack(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | u64::from(hi) << 32
}

#[inline]
pub(crate) fn unpack(w: u64) -> (u32, u32) {
    (w as u32, (w >> 32) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let h = Header {
            kind: Kind::Map as u8,
            mark: 2,
            flags: LOGGED,
            aux: 7,
            n: 0xdead_beef,
        };
        assert_eq!(Header::decode(h.encode()), h);
        assert_eq!(unpack(pack(3, u32::MAX)), (3, u32::MAX));
        assert_eq!(Elem::Bool.words_for(9), 2);
        assert_eq!(Elem::Val.words_for(3), 6);
    }
}
