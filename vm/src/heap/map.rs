//! Maps as tables inside the heap: insertion-ordered, with expected
//! constant-time lookup, insertion and deletion.
//!
//! A map object is its header (key type in `aux`, live entry count in
//! `n`) and [`MAP_WORDS`] words:
//!
//! 1. value type id | entries buffer
//! 2. entries used (live and deleted) | entries capacity
//! 3. index buffer | index capacity
//!
//! The **entries** buffer holds entries in insertion order, four words
//! each: the key's hash, the key's payload (an int, a bool, or a `str`
//! object: keys are shared strings, compared by content), and the value
//! (tag, payload). A deleted entry keeps its place with the hash
//! [`DELETED`] until the entries are compacted. The **index** is an
//! open-addressed table of 32-bit slots (two per word), linear probing:
//! 0 for empty, else an entry's position plus one. It has at least twice
//! as many slots as the entries have room for, so it is never more than
//! half full and every probe ends.
//!
//! **Invariants.** Every entry position `< used` has exactly one index slot
//! naming it; live entries' hashes are the key's keyed hash shifted right
//! by one (so never [`DELETED`]); `n` counts the entries whose hash is not
//! [`DELETED`]. Compaction (when deleted entries outnumber live ones)
//! keeps the live entries' order, so iteration is insertion order: a key
//! set again keeps its place, a key deleted and set again goes last.

use std::hash::BuildHasher;

use super::layout::{Header, Kind, pack, unpack};
use super::{Heap, KeyRef, OutOfMemory};
use crate::types::{KeyType, Type};
use crate::value::{Tag, Value};

/// Words of a map object after its header.
pub(crate) const MAP_WORDS: usize = 3;
/// Words per entry.
const ENTRY: usize = 4;
/// The hash of a deleted entry.
const DELETED: u64 = u64::MAX;
/// Fewest deleted entries worth compacting away.
const MIN_COMPACT: u32 = 8;

/// Where a map's parts are.
#[derive(Clone, Copy)]
struct Parts {
    at: usize,
    h: Header,
    vty: u32,
    entries: usize,
    used: u32,
    ecap: u32,
    index: usize,
    icap: u32,
}

fn key_code(k: KeyType) -> u8 {
    match k {
        KeyType::Int => 0,
        KeyType::Bool => 1,
        KeyType::Str => 2,
    }
}

fn key_type(b: u8) -> KeyType {
    match b {
        0 => KeyType::Int,
        1 => KeyType::Bool,
        _ => KeyType::Str,
    }
}

impl Heap {
    /// A new, empty map.
    pub(crate) fn new_map(
        &mut self,
        key: KeyType,
        val: &Type,
        roots: &[&[Value]],
    ) -> Result<Value, OutOfMemory> {
        let vty = self.type_id(val);
        let at = self.alloc_words(1 + MAP_WORDS, roots)?;
        self.write_header(at, Header::new(Kind::Map, key_code(key), 0));
        let w = self.space.region.words_mut(at + 1, MAP_WORDS);
        w[0] = pack(vty, 0);
        w[1] = 0;
        w[2] = 0;
        Ok(Value::object(Tag::Map, at as u32))
    }

    fn parts(&self, m: Value) -> Parts {
        let (at, h) = self.obj(m, Kind::Map);
        let w = self.space.region.words(at + 1, MAP_WORDS);
        let (vty, entries) = unpack(w[0]);
        let (used, ecap) = unpack(w[1]);
        let (index, icap) = unpack(w[2]);
        Parts {
            at,
            h,
            vty,
            entries: entries as usize,
            used,
            ecap,
            index: index as usize,
            icap,
        }
    }

    fn set_parts(&mut self, p: &Parts) {
        self.write_header(p.at, p.h);
        let w = self.space.region.words_mut(p.at + 1, MAP_WORDS);
        w[0] = pack(p.vty, p.entries as u32);
        w[1] = pack(p.used, p.ecap);
        w[2] = pack(p.index as u32, p.icap);
    }

    /// Key and value types of map `m`.
    pub(crate) fn map_types(&self, m: Value) -> (KeyType, Type) {
        let p = self.parts(m);
        (key_type(p.h.aux), self.types[p.vty as usize].clone())
    }

    /// Number of entries of map `m`.
    pub(crate) fn map_len(&self, m: Value) -> usize {
        self.obj(m, Kind::Map).1.n as usize
    }

    fn hash_key(&self, k: KeyRef<'_>) -> u64 {
        let h = match k {
            KeyRef::Int(i) => self.hasher.hash_one(i),
            KeyRef::Bool(b) => self.hasher.hash_one(b),
            KeyRef::Str(s) => self.hasher.hash_one(s),
        };
        h >> 1
    }

    fn entry_key_is(&self, kt: u8, bits: u64, k: KeyRef<'_>) -> bool {
        match (key_type(kt), k) {
            (KeyType::Int, KeyRef::Int(i)) => bits as i64 == i,
            (KeyType::Bool, KeyRef::Bool(b)) => (bits != 0) == b,
            (KeyType::Str, KeyRef::Str(s)) => self.str(Value::object(Tag::Str, bits as u32)) == s,
            _ => false,
        }
    }

    #[inline]
    fn slot(&self, p: &Parts, i: u32) -> u32 {
        let w = self.space.region.get(p.index + 1 + (i / 2) as usize);
        (w >> (32 * (i & 1))) as u32
    }

    #[inline]
    fn set_slot(&mut self, p: &Parts, i: u32, v: u32) {
        let at = p.index + 1 + (i / 2) as usize;
        let w = self.space.region.get(at);
        let shift = 32 * (i & 1);
        let w = (w & !(0xffff_ffffu64 << shift)) | u64::from(v) << shift;
        self.space.region.set(at, w);
    }

    /// The position of `k`'s entry.
    fn find(&self, p: &Parts, k: KeyRef<'_>) -> Option<u32> {
        if p.icap == 0 {
            return None;
        }
        let h = self.hash_key(k);
        let mask = p.icap - 1;
        let mut i = h as u32 & mask;
        loop {
            let s = self.slot(p, i);
            if s == 0 {
                return None;
            }
            let e = p.entries + 1 + (s as usize - 1) * ENTRY;
            let w = self.space.region.words(e, 2);
            if w[0] == h && self.entry_key_is(p.h.aux, w[1], k) {
                return Some(s - 1);
            }
            i = (i + 1) & mask;
        }
    }

    /// The value of `k` in map `m`.
    pub(crate) fn map_get(&self, m: Value, k: KeyRef<'_>) -> Option<Value> {
        let p = self.parts(m);
        let pos = self.find(&p, k)?;
        Some(self.read_val(p.entries + 1 + pos as usize * ENTRY + 2))
    }

    /// Whether map `m` has key `k`.
    pub(crate) fn map_has(&self, m: Value, k: KeyRef<'_>) -> bool {
        let p = self.parts(m);
        self.find(&p, k).is_some()
    }

    /// The borrowed key of a key value (tag int, bool or str).
    pub(crate) fn key_ref(&self, k: Value) -> KeyRef<'_> {
        match k.tag() {
            Tag::Int => KeyRef::Int(k.i()),
            Tag::Bool => KeyRef::Bool(k.b()),
            _ => KeyRef::Str(self.str(k)),
        }
    }

    /// Sets `key` (a value of the map's key type) to `val` in map `m`: a
    /// new key goes last, an existing one keeps its place. `m`, `key` and
    /// `val` must be rooted.
    pub(crate) fn map_set(
        &mut self,
        m: Value,
        key: Value,
        val: Value,
        roots: &[&[Value]],
    ) -> Result<(), OutOfMemory> {
        let p = self.parts(m);
        if let Some(pos) = self.find(&p, self.key_ref(key)) {
            self.write_val(p.entries + 1 + pos as usize * ENTRY + 2, val);
            if val.tag.is_object() {
                self.barrier_element(p.at, pos as usize);
            }
            return Ok(());
        }
        if p.used == p.ecap {
            self.map_make_room(m, roots)?;
        }
        let mut p = self.parts(m);
        let hash = self.hash_key(self.key_ref(key));
        let pos = p.used;
        let e = p.entries + 1 + pos as usize * ENTRY;
        let w = self.space.region.words_mut(e, ENTRY);
        w[0] = hash;
        w[1] = key.bits;
        w[2] = val.tag as u64;
        w[3] = val.bits;
        p.used += 1;
        p.h.n += 1;
        self.index_insert(&p, hash, pos);
        self.set_parts(&p);
        if key.tag.is_object() || val.tag.is_object() {
            self.barrier_element(p.at, pos as usize);
        }
        Ok(())
    }

    fn index_insert(&mut self, p: &Parts, hash: u64, pos: u32) {
        let mask = p.icap - 1;
        let mut i = hash as u32 & mask;
        while self.slot(p, i) != 0 {
            i = (i + 1) & mask;
        }
        self.set_slot(p, i, pos + 1);
    }

    /// Makes room for one more entry: compacts deleted entries away when
    /// they are many, else moves to buffers of twice the capacity.
    fn map_make_room(&mut self, m: Value, roots: &[&[Value]]) -> Result<(), OutOfMemory> {
        let p = self.parts(m);
        let dead = p.used - p.h.n;
        if dead >= MIN_COMPACT && dead * 2 >= p.used {
            self.map_compact(m);
            return Ok(());
        }
        let ecap = if p.ecap == 0 {
            4
        } else {
            p.ecap.checked_mul(2).ok_or(OutOfMemory)?
        };
        let icap = ecap.checked_mul(2).ok_or(OutOfMemory)?;
        let ewords = ecap as usize * ENTRY;
        let iwords = (icap as usize).div_ceil(2);
        // Both buffers in one allocation: nothing between them can collect.
        let at = self.alloc_words(1 + ewords + 1 + iwords, roots)?;
        let (entries, index) = (at, at + 1 + ewords);
        self.init_buf(entries, ewords);
        self.init_buf(index, iwords);
        self.space.region.words_mut(index + 1, iwords).fill(0);
        let mut p = self.parts(m);
        // Copy the live entries in order.
        let mut n = 0;
        for pos in 0..p.used as usize {
            let from = p.entries + 1 + pos * ENTRY;
            if self.space.region.get(from) != DELETED {
                self.space
                    .region
                    .copy_words(from, entries + 1 + n * ENTRY, ENTRY);
                n += 1;
            }
        }
        p.entries = entries;
        p.index = index;
        p.ecap = ecap;
        p.icap = icap;
        p.used = n as u32;
        for pos in 0..p.used {
            let hash = self.space.region.get(entries + 1 + pos as usize * ENTRY);
            self.index_insert(&p, hash, pos);
        }
        self.set_parts(&p);
        self.barrier(p.at);
        Ok(())
    }

    /// Moves the live entries of `m` down over the deleted ones, keeping
    /// their order, and rebuilds the index.
    fn map_compact(&mut self, m: Value) {
        let mut p = self.parts(m);
        let mut n = 0;
        for pos in 0..p.used as usize {
            let from = p.entries + 1 + pos * ENTRY;
            if self.space.region.get(from) != DELETED {
                if n != pos {
                    self.space
                        .region
                        .copy_words(from, p.entries + 1 + n * ENTRY, ENTRY);
                }
                n += 1;
            }
        }
        p.used = n as u32;
        let iwords = (p.icap as usize).div_ceil(2);
        self.space.region.words_mut(p.index + 1, iwords).fill(0);
        for pos in 0..p.used {
            let hash = self.space.region.get(p.entries + 1 + pos as usize * ENTRY);
            self.index_insert(&p, hash, pos);
        }
        self.set_parts(&p);
        // Entries moved: a remembered entry's position no longer holds it.
        self.barrier(p.at);
    }

    /// Deletes key `k` (a value of the map's key type) from map `m`;
    /// returns its value. Never allocates.
    pub(crate) fn map_del_value(&mut self, m: Value, k: Value) -> Option<Value> {
        let mut p = self.parts(m);
        let pos = self.find(&p, self.key_ref(k))?;
        let e = p.entries + 1 + pos as usize * ENTRY;
        let val = self.read_val(e + 2);
        let w = self.space.region.words_mut(e, ENTRY);
        w[0] = DELETED;
        w[1] = 0;
        w[2] = Tag::Nil as u64;
        w[3] = 0;
        p.h.n -= 1;
        self.set_parts(&p);
        let dead = p.used - p.h.n;
        if dead >= MIN_COMPACT && dead > p.h.n {
            self.map_compact(m);
        }
        Some(val)
    }

    /// Positions in insertion order, deleted ones included: entries are
    /// at positions `0..map_slots()`, and positions stay put until an
    /// entry is deleted (for cursors that walk a map in steps).
    pub(crate) fn map_slots(&self, m: Value) -> usize {
        self.parts(m).used as usize
    }

    /// The first live position at or after `from`.
    pub(crate) fn map_next_slot(&self, m: Value, from: usize) -> Option<usize> {
        let p = self.parts(m);
        (from..p.used as usize)
            .find(|&pos| self.space.region.get(p.entries + 1 + pos * ENTRY) != DELETED)
    }

    /// The key and value at position `pos` (`None` for a deleted entry or
    /// past the end). A `str` key is the map's own key string.
    pub(crate) fn map_entry_at(&self, m: Value, pos: usize) -> Option<(Value, Value)> {
        let p = self.parts(m);
        if pos >= p.used as usize {
            return None;
        }
        let e = p.entries + 1 + pos * ENTRY;
        let w = self.space.region.words(e, 2);
        if w[0] == DELETED {
            return None;
        }
        let key = match key_type(p.h.aux) {
            KeyType::Int => Value::int(w[1] as i64),
            KeyType::Bool => Value::bool(w[1] != 0),
            KeyType::Str => Value::object(Tag::Str, w[1] as u32),
        };
        Some((key, self.read_val(e + 2)))
    }

    /// Visits the buffers and the referenced keys and values of map `m`
    /// (for the collector): `buf(at)` per buffer, `val(v)` per value.
    pub(crate) fn map_children(
        &self,
        at: usize,
        mut buf: impl FnMut(usize),
        mut val: impl FnMut(Value),
    ) {
        let p = self.parts(Value::object(Tag::Map, at as u32));
        if p.ecap == 0 {
            return;
        }
        buf(p.entries);
        buf(p.index);
        let str_keys = key_type(p.h.aux) == KeyType::Str;
        for pos in 0..p.used as usize {
            let w = self.space.region.words(p.entries + 1 + pos * ENTRY, ENTRY);
            if w[0] == DELETED {
                continue;
            }
            if str_keys {
                val(Value::object(Tag::Str, w[1] as u32));
            }
            let v = Value {
                tag: Tag::from_u8(w[2] as u8),
                bits: w[3],
            };
            if v.tag.is_object() {
                val(v);
            }
        }
    }

    /// Checks map `m`'s invariants (for the heap verifier).
    pub(crate) fn map_check(&self, m: Value) -> Result<(), String> {
        let p = self.parts(m);
        if p.used > p.ecap || (p.ecap > 0 && p.icap < 2 * p.ecap) {
            return Err(format!(
                "map {}: used {} of {} entries, {} index slots",
                p.at, p.used, p.ecap, p.icap
            ));
        }
        let mut live = 0;
        for pos in 0..p.used {
            let e = p.entries + 1 + pos as usize * ENTRY;
            let w = self.space.region.words(e, 2);
            if w[0] == DELETED {
                continue;
            }
            live += 1;
            let key = self.map_entry_at(m, pos as usize).map(|(k, _)| k);
            let Some(key) = key else { continue };
            if key.tag == Tag::Str && self.kind(key) != Some(Kind::Str) {
                return Err(format!("map {}: key at {pos} is not a string", p.at));
            }
            if self.find(&p, self.key_ref(key)) != Some(pos) {
                return Err(format!("map {}: the index does not find entry {pos}", p.at));
            }
        }
        if live != p.h.n {
            return Err(format!(
                "map {}: {} live entries, header says {}",
                p.at, live, p.h.n
            ));
        }
        Ok(())
    }
}
