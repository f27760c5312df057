//! The per-instance garbage-collected heap: objects laid out by the VM in
//! memory it reserves itself, bump-allocated, and collected by a precise,
//! non-moving, generational mark-region collector.
//!
//! The pieces, one file each:
//! - [`region`]: the reserved memory and its checked word access (the only
//!   `unsafe` of the heap);
//! - [`layout`]: how each kind of object is laid out in words;
//! - [`space`]: blocks, lines, holes and bump allocation;
//! - [`gc`]: marking, sweeping, the write barrier and the heap verifier;
//! - [`map`]: maps as tables inside the heap;
//! - this file: the object operations the interpreter, the library and
//!   the embedding API use. Nothing outside `heap/` sees an object's
//!   layout.
//!
//! **References.** An object value's payload is the word offset of the
//! object's header in the region. Offsets are checked against the region
//! on every access, so a wrong one names another part of this instance's
//! heap, never memory outside it.
//!
//! **GC invariant.** Every object reachable by the running program is
//! reachable from the roots handed to an allocating call: the live part of
//! the value stack, the globals, the string constants, the scratch list
//! (objects a native function allocated during its call) and the host's
//! handles. Collections happen only inside allocating calls. Objects never
//! move, so values held across a collection stay valid if they are rooted.
//!
//! **Generations.** Objects start young (unmarked). A minor collection
//! marks the young objects reachable from the roots and from the
//! remembered set, and frees the rest of the lines allocated into since the
//! last collection; survivors keep their mark and are old from then on
//! ("sticky" marks). Every store of a reference into an old object goes
//! through the write barrier, which puts that object in the remembered
//! set. A major collection starts a new mark epoch, so every object is
//! unmarked at once, and marks and sweeps everything.

mod gc;
mod layout;
pub(crate) mod map;
#[allow(unsafe_code)]
mod region;
mod space;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use layout::{Elem, Kind};
use layout::{Header, pack, unpack};
use region::{as_f64s_mut, as_i64s_mut, as_str};
use space::Space;

use crate::types::Type;
use crate::value::{Tag, Value};

/// Bytes of an object's header: what each object costs on top of its
/// payload (arrays, maps and string buffers also have a second object,
/// their buffer, with its own header).
pub(crate) const OBJECT_HEADER_BYTES: usize = 8;

/// Bytes allocated between minor collections, at most.
const NURSERY_BYTES: usize = 2 << 20;
/// Smallest heap footprint that starts a major collection.
const MIN_MAJOR_BYTES: usize = 6 << 20;

/// Counters kept by the collector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Completed collections, minor and major.
    pub collections: u64,
    /// Minor collections (young objects only).
    pub minor_collections: u64,
    /// Major collections (the whole heap).
    pub major_collections: u64,
    /// Bytes of heap memory in use: the blocks holding objects (live or
    /// not yet collected) plus the value stack.
    pub live_bytes: u64,
    /// Largest `live_bytes` seen.
    pub peak_bytes: u64,
    /// Total bytes ever allocated for objects.
    pub allocated_bytes: u64,
    /// Time spent collecting.
    pub pause: Duration,
    /// Longest single collection.
    pub max_pause: Duration,
}

/// The heap limit was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutOfMemory;

/// A record type as objects know it: its name (records are typed by
/// name, see [`Type::Record`]), its field names (for display and hosts)
/// and where each field lies in the object.
///
/// **Layout.** Fields follow the header in declaration order. A field
/// whose type fixes its tag takes one word: an `int`, `float` or `bool`
/// its payload, a `str`, `strbuf`, array or map its object's offset, a
/// record type its record's offset or 0 for `nil`. Any other field (`any`,
/// function types) takes two: tag, then payload. So reading a typed field
/// is one load.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) name: Arc<str>,
    pub(crate) fields: Box<[Box<str>]>,
    slots: Box<[FieldSlot]>,
    words: usize,
}

/// Where one field of a record lies, and how it is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FieldSlot {
    /// Word offset after the header.
    at: u32,
    /// The tag a one-word field's value has; `None` for a two-word field.
    tag: Option<Tag>,
}

impl Shape {
    /// The shape of record `name` with `fields` (names and types).
    pub(crate) fn new<'a>(
        name: &str,
        fields: impl IntoIterator<Item = (&'a str, &'a Type)>,
    ) -> Shape {
        let mut names = Vec::new();
        let mut slots = Vec::new();
        let mut at = 0u32;
        for (n, ty) in fields {
            names.push(Box::from(n));
            let tag = match ty {
                Type::Int => Some(Tag::Int),
                Type::Float => Some(Tag::Float),
                Type::Bool => Some(Tag::Bool),
                Type::Str => Some(Tag::Str),
                Type::StrBuf => Some(Tag::StrBuf),
                Type::Array(_) => Some(Tag::Array),
                Type::Map(..) => Some(Tag::Map),
                Type::Record(_) => Some(Tag::Record),
                _ => None,
            };
            slots.push(FieldSlot { at, tag });
            at += if tag.is_some() { 1 } else { 2 };
        }
        Shape {
            name: Arc::from(name),
            fields: names.into(),
            slots: slots.into(),
            words: at as usize,
        }
    }

    /// Words the fields take.
    pub(crate) fn words(&self) -> usize {
        self.words
    }

    /// Where field `i` lies: its word offset after the header, and the tag
    /// its values have when it takes one word (`None`: two words, tag then
    /// payload; a one-word record field holds 0 for `nil`).
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    pub(crate) fn field_slot(&self, i: usize) -> Option<(u32, Option<Tag>)> {
        self.slots.get(i).map(|s| (s.at, s.tag))
    }
}

/// A borrowed map key for lookups.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum KeyRef<'a> {
    Int(i64),
    Bool(bool),
    Str(&'a str),
}

/// A per-instance heap.
pub(crate) struct Heap {
    space: Space,
    /// The current mark epoch (1 or 2): an object or line whose mark
    /// equals it is marked (old, between collections).
    epoch: u8,
    /// Old objects written with references since the last collection.
    remembered: Vec<u32>,
    /// Elements (container, position) of old arrays and maps written with
    /// references since the last collection.
    remembered_elements: Vec<(u32, u32)>,
    /// Record shapes by id (the `n` of a record header).
    shapes: Vec<Arc<Shape>>,
    shape_ids: HashMap<usize, u32>,
    /// Element and value types by id, for arrays and maps.
    types: Vec<Type>,
    type_ids: HashMap<Type, u32>,
    /// Keyed hashing for map keys, so a module cannot pick colliding keys.
    hasher: std::collections::hash_map::RandomState,
    /// Bytes allocated since the last collection.
    young_bytes: usize,
    /// Heap footprint (bytes) that makes the next collection major.
    major_at: usize,
    /// The next automatic collection is major.
    next_major: bool,
    /// Under stress: the last automatic collection was minor, so the next
    /// is major (they alternate).
    stress_major: bool,
    limit: usize,
    /// The most a limiter may raise `limit` to.
    ceiling: usize,
    /// Asked, with the limit and the limit wanted, when an allocation or
    /// a value-stack growth would pass the limit (after a collection):
    /// whether to raise it. Holds no reference into the heap, so it cannot
    /// touch it while it decides.
    limiter: Option<HeapLimiter>,
    stress: bool,
    /// Check the whole heap after every collection.
    verify: bool,
    stats: GcStats,
    /// During a major collection that may be stopped: every object marked
    /// so far with its old mark, to put back on a stop.
    mark_log: Option<Vec<(u32, u8)>>,
    /// Objects marked, ever (for pacing stoppable collections).
    marked: u64,
    /// The heap verifier's bitmap, all zero between walks.
    verify_seen: Vec<u64>,
    /// Reused by the collector for a map's children.
    trace_scratch: Vec<Value>,
    /// Objects a native function allocated during the current call.
    pub(crate) scratch: Vec<Value>,
    /// Host handles, boxed: rarely used, kept out of the way of the
    /// fields the interpreter touches on every access.
    pub(crate) handles: Box<Handles>,
    /// Names of the instance's callees (module functions, then imports),
    /// for displaying function references.
    pub(crate) callee_names: Vec<Box<str>>,
}

/// Objects the host holds handles to.
#[derive(Default)]
pub(crate) struct Handles {
    /// Pinned objects, with how many handles each.
    pinned: HashMap<u32, u32>,
    /// Handles dropped by the host since the last collection (a handle's
    /// `Drop` cannot reach the heap, so it leaves its object here).
    pub(crate) released: Arc<std::sync::Mutex<Vec<u32>>>,
}

/// A host's heap limiter: `(current limit, desired limit) -> grant?`.
pub(crate) struct HeapLimiter(pub(crate) Box<dyn FnMut(usize, usize) -> bool + Send>);

// The heap is consistent whenever the limiter runs (it is asked before
// anything changes), so a panic unwinding out of it leaves nothing half
// done: the heap and its instance stay as unwind-safe as without it.
impl std::panic::UnwindSafe for HeapLimiter {}
impl std::panic::RefUnwindSafe for HeapLimiter {}

/// Type id of types the heap does not need (int, float and bool arrays).
const NO_TYPE: u32 = u32::MAX;

impl Heap {
    #[cfg(test)]
    pub(crate) fn new(limit: usize, stress: bool) -> Heap {
        Heap::with_ceiling(limit, limit, stress)
    }

    /// A heap of `limit` bytes that a limiter ([`Heap::set_limiter`]) may
    /// raise up to `ceiling` bytes (the region is reserved that large).
    pub(crate) fn with_ceiling(limit: usize, ceiling: usize, stress: bool) -> Heap {
        let ceiling = ceiling.max(limit);
        Heap {
            space: Space::new(limit, ceiling),
            ceiling,
            limiter: None,
            epoch: 1,
            remembered: Vec::new(),
            remembered_elements: Vec::new(),
            shapes: Vec::new(),
            shape_ids: HashMap::new(),
            types: Vec::new(),
            type_ids: HashMap::new(),
            hasher: Default::default(),
            young_bytes: 0,
            major_at: MIN_MAJOR_BYTES.min(limit / 2),
            next_major: false,
            stress_major: true,
            limit,
            stress,
            verify: stress || cfg!(debug_assertions),
            stats: GcStats::default(),
            mark_log: None,
            marked: 0,
            verify_seen: Vec::new(),
            trace_scratch: Vec::new(),
            scratch: Vec::new(),
            handles: Box::default(),
            callee_names: Vec::new(),
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Installs (or with `None` removes) the limiter asked before an
    /// allocation or stack growth passes the limit.
    pub(crate) fn set_limiter(&mut self, limiter: Option<HeapLimiter>) {
        self.limiter = limiter;
    }

    /// The largest the limit can become: the ceiling with a limiter, the
    /// limit without one. A single request larger than this can never fit.
    pub(crate) fn max_limit(&self) -> usize {
        if self.limiter.is_some() {
            self.ceiling
        } else {
            self.limit
        }
    }

    /// Asks the limiter to raise the limit so that `bytes` more than the
    /// heap holds now fit, and raises it if the limiter agrees. It asks
    /// for the larger of what is needed and twice the current limit, at
    /// most the ceiling, so a growing program asks a few times, not at
    /// every allocation. Called only between allocations, after a
    /// collection did not make room: the heap is consistent, and the
    /// limiter sees only the two numbers.
    fn grow_limit(&mut self, bytes: usize) -> bool {
        let needed = self
            .space
            .committed()
            .saturating_add(bytes.next_multiple_of(space::BLOCK_BYTES));
        if needed > self.ceiling {
            return false;
        }
        let desired = needed.max(self.limit.saturating_mul(2)).min(self.ceiling);
        if desired <= self.limit {
            return false;
        }
        let current = self.limit;
        let Some(limiter) = self.limiter.as_mut() else {
            return false;
        };
        if !(limiter.0)(current, desired) {
            return false;
        }
        self.limit = desired;
        self.space.limit_bytes = desired;
        true
    }

    pub(crate) fn stats(&self) -> GcStats {
        GcStats {
            live_bytes: self.space.committed() as u64,
            ..self.stats
        }
    }

    /// Bytes that may still be allocated before the limit, counting
    /// uncollected garbage as used.
    pub(crate) fn room(&self) -> usize {
        self.space.room()
    }

    /// Work of a full collection, for charging it: the lines of the
    /// blocks in use.
    pub(crate) fn gc_work(&self) -> usize {
        self.space.used * space::BLOCK_LINES
    }

    // ----- accounting -------------------------------------------------

    /// Charges `bytes` of memory kept outside the heap's blocks (the value
    /// stack) against the limit, collecting first if that makes room.
    pub(crate) fn charge(&mut self, bytes: usize, roots: &[&[Value]]) -> Result<(), OutOfMemory> {
        if self.space.room() < bytes {
            self.collect_major(roots);
        }
        while self.space.room() < bytes || !self.space.make_resident_room(bytes) {
            if !self.grow_limit(bytes) {
                return Err(OutOfMemory);
            }
        }
        self.space.external += bytes;
        self.note_peak();
        Ok(())
    }

    /// Charges `bytes` of value-stack growth: the stack's memory counts
    /// toward the limit with the objects' (see [`Heap::charge`]).
    pub(crate) fn charge_stack(
        &mut self,
        bytes: usize,
        roots: &[&[Value]],
    ) -> Result<(), OutOfMemory> {
        self.charge(bytes, roots)
    }

    /// Gives back `bytes` charged by [`Heap::charge_stack`].
    pub(crate) fn uncharge_stack(&mut self, bytes: usize) {
        self.uncharge(bytes);
    }

    /// Gives back bytes charged by [`Heap::charge`].
    pub(crate) fn uncharge(&mut self, bytes: usize) {
        self.space.external = self.space.external.saturating_sub(bytes);
    }

    /// Whether `bytes` more would fit (after collecting if needed),
    /// without taking them: for a library function that builds a result
    /// in host memory before it allocates it.
    pub(crate) fn ensure_room(
        &mut self,
        bytes: usize,
        roots: &[&[Value]],
    ) -> Result<(), OutOfMemory> {
        self.charge(bytes, roots)?;
        self.uncharge(bytes);
        Ok(())
    }

    fn note_peak(&mut self) {
        let now = self.space.committed() as u64;
        if now > self.stats.peak_bytes {
            self.stats.peak_bytes = now;
        }
    }

    /// Allocates `words` words, collecting when the nursery is full (or
    /// under stress at every allocation) and, if the space is full, once
    /// more with a major collection. The words are not initialized.
    fn alloc_words(&mut self, words: usize, roots: &[&[Value]]) -> Result<usize, OutOfMemory> {
        let bytes = words.saturating_mul(8);
        if bytes > self.max_limit() {
            return Err(OutOfMemory);
        }
        if self.stress || self.young_bytes >= NURSERY_BYTES.min(self.limit / 4).max(1 << 16) {
            self.collect_auto(roots);
        }
        let at = match self.space.alloc(words) {
            Some(at) => at,
            None => {
                self.collect_major(roots);
                loop {
                    if let Some(at) = self.space.alloc(words) {
                        break at;
                    }
                    if !self.grow_limit(bytes) {
                        return Err(OutOfMemory);
                    }
                }
            }
        };
        self.young_bytes += bytes;
        self.stats.allocated_bytes += bytes as u64;
        self.note_peak();
        Ok(at)
    }

    #[inline]
    fn header(&self, at: usize) -> Header {
        Header::decode(self.space.region.get(at))
    }

    #[inline]
    fn write_header(&mut self, at: usize, h: Header) {
        self.space.region.set(at, h.encode());
    }

    /// Writes a buffer header at `at` for `words` payload words.
    fn init_buf(&mut self, at: usize, words: usize) {
        self.write_header(at, Header::new(Kind::Buf, 0, words as u32));
    }

    /// The header of object `v`, checked to be of `kind`.
    #[inline]
    fn obj(&self, v: Value, kind: Kind) -> (usize, Header) {
        let at = v.obj() as usize;
        let h = self.header(at);
        if h.kind != kind as u8 {
            wrong_kind(v.obj(), kind);
        }
        (at, h)
    }

    /// The kind of object value `v`.
    pub(crate) fn kind(&self, v: Value) -> Option<Kind> {
        Kind::from_u8(self.header(v.obj() as usize).kind)
    }

    // ----- interning --------------------------------------------------

    fn type_id(&mut self, t: &Type) -> u32 {
        if let Some(&id) = self.type_ids.get(t) {
            return id;
        }
        let id = self.types.len() as u32;
        self.types.push(t.clone());
        self.type_ids.insert(t.clone(), id);
        id
    }

    /// The id records of `shape` carry; the same `Arc` gets the same id.
    pub(crate) fn shape_id(&mut self, shape: &Arc<Shape>) -> u32 {
        let key = Arc::as_ptr(shape) as usize;
        if let Some(&id) = self.shape_ids.get(&key) {
            return id;
        }
        let id = self.shapes.len() as u32;
        self.shapes.push(shape.clone());
        self.shape_ids.insert(key, id);
        id
    }

    // ----- values in words --------------------------------------------

    #[inline]
    fn read_val(&self, at: usize) -> Value {
        Value {
            tag: Tag::from_u8(self.space.region.get(at) as u8),
            bits: self.space.region.get(at + 1),
        }
    }

    #[inline]
    fn write_val(&mut self, at: usize, v: Value) {
        let w = self.space.region.words_mut(at, 2);
        w[0] = v.tag as u64;
        w[1] = v.bits;
    }

    // ----- strings ----------------------------------------------------

    /// A new string.
    pub(crate) fn new_str(&mut self, s: &str, roots: &[&[Value]]) -> Result<Value, OutOfMemory> {
        let len = u32::try_from(s.len()).map_err(|_| OutOfMemory)?;
        let at = self.alloc_words(1 + s.len().div_ceil(8), roots)?;
        self.write_header(at, Header::new(Kind::Str, 0, len));
        self.space
            .region
            .bytes_mut(at + 1, s.len())
            .copy_from_slice(s.as_bytes());
        Ok(Value::object(Tag::Str, at as u32))
    }

    /// A new string of `len` bytes that `fill` writes in place, given the
    /// bytes of `src` (a rooted `str` or `strbuf`, or `None`) to read from
    /// meanwhile: a result is built in the heap directly, never first in
    /// host memory. `Ok(None)` (the new object left as garbage) when the
    /// bytes written are not UTF-8.
    pub(crate) fn new_str_with(
        &mut self,
        len: usize,
        src: Option<Value>,
        roots: &[&[Value]],
        fill: impl FnOnce(&[u8], &mut [u8]),
    ) -> Result<Option<Value>, OutOfMemory> {
        let len32 = u32::try_from(len).map_err(|_| OutOfMemory)?;
        let at = self.alloc_words(1 + len.div_ceil(8), roots)?;
        // A buffer until the bytes are known to be text.
        self.write_header(at, Header::new(Kind::Buf, 0, len.div_ceil(8) as u32));
        let (src_at, n) = match src {
            Some(v) => self.text_at(v),
            None => (0, 0),
        };
        let (input, out) = self.space.region.split_bytes(src_at, n, at + 1, len);
        fill(input, out);
        if std::str::from_utf8(out).is_err() {
            return Ok(None);
        }
        self.write_header(at, Header::new(Kind::Str, 0, len32));
        Ok(Some(Value::object(Tag::Str, at as u32)))
    }

    /// `a` and `b` joined (both `str`, rooted by the caller).
    pub(crate) fn concat(
        &mut self,
        a: Value,
        b: Value,
        roots: &[&[Value]],
    ) -> Result<Value, OutOfMemory> {
        let (la, lb) = (self.str(a).len(), self.str(b).len());
        let len = la.checked_add(lb).ok_or(OutOfMemory)?;
        let len32 = u32::try_from(len).map_err(|_| OutOfMemory)?;
        let at = self.alloc_words(1 + len.div_ceil(8), roots)?;
        self.write_header(at, Header::new(Kind::Str, 0, len32));
        // The sources are rooted, so the allocation left them in place,
        // and the new object overlaps neither.
        let mut off = 0;
        for src in [a, b] {
            let (from, n) = self.text_at(src);
            let (input, out) = self.space.region.split_bytes(from, n, at + 1, len);
            out[off..off + n].copy_from_slice(input);
            off += n;
        }
        Ok(Value::object(Tag::Str, at as u32))
    }

    /// Where the text of a `str` or `strbuf` value is: its first word and
    /// its length in bytes.
    #[inline]
    fn text_at(&self, v: Value) -> (usize, usize) {
        let at = v.obj() as usize;
        let h = self.header(at);
        if h.kind == Kind::Str as u8 {
            (at + 1, h.n as usize)
        } else if h.kind == Kind::StrBuf as u8 {
            let (_, buf) = unpack(self.space.region.get(at + 1));
            (buf as usize + 1, h.n as usize)
        } else {
            wrong_kind(v.obj(), Kind::Str)
        }
    }

    /// The text of a `str` or `strbuf` value.
    #[inline]
    pub(crate) fn str(&self, v: Value) -> &str {
        let (at, n) = self.text_at(v);
        as_str(self.space.region.bytes(at, n))
    }

    // ----- arrays -----------------------------------------------------

    fn elem_of(t: &Type) -> Elem {
        match t {
            Type::Int => Elem::Int,
            Type::Float => Elem::Float,
            Type::Bool => Elem::Bool,
            _ => Elem::Val,
        }
    }

    /// A new array of `n` elements of type `elem`, each `fill`.
    pub(crate) fn new_array(
        &mut self,
        elem: &Type,
        n: usize,
        fill: Value,
        roots: &[&[Value]],
    ) -> Result<Value, OutOfMemory> {
        let v = self.alloc_array(elem, n, roots)?;
        let (data, _) = self.array_data(v);
        let e = Self::elem_of(elem);
        let words = e.words_for(n);
        let w = self.space.region.words_mut(data, words);
        match e {
            Elem::Int | Elem::Float => w.fill(fill.bits),
            Elem::Bool => w.fill(if fill.b() { 0x0101_0101_0101_0101 } else { 0 }),
            Elem::Val => {
                for pair in w.chunks_exact_mut(2) {
                    pair[0] = fill.tag as u64;
                    pair[1] = fill.bits;
                }
            }
        }
        Ok(v)
    }

    /// A new array holding `items` (each already of type `elem`).
    pub(crate) fn new_array_from(
        &mut self,
        elem: &Type,
        items: &[Value],
        roots: &[&[Value]],
    ) -> Result<Value, OutOfMemory> {
        let v = self.alloc_array(elem, items.len(), roots)?;
        self.write_elems(v, 0, items);
        Ok(v)
    }

    /// An array of `n` elements with its buffer, elements unwritten.
    fn alloc_array(
        &mut self,
        elem: &Type,
        n: usize,
        roots: &[&[Value]],
    ) -> Result<Value, OutOfMemory> {
        let n32 = u32::try_from(n).map_err(|_| OutOfMemory)?;
        let e = Self::elem_of(elem);
        let data_words = e.words_for(n);
        let ty = if e == Elem::Val {
            self.type_id(elem)
        } else {
            NO_TYPE
        };
        let at = self.alloc_words(3 + 1 + data_words, roots)?;
        let buf = at + 3;
        self.write_header(at, Header::new(Kind::Array, e as u8, n32));
        self.space.region.set(at + 1, pack(n32, buf as u32));
        self.space.region.set(at + 2, u64::from(ty));
        self.init_buf(buf, data_words);
        Ok(Value::object(Tag::Array, at as u32))
    }

    /// The first word of array `v`'s elements and its length.
    #[inline]
    fn array_data(&self, v: Value) -> (usize, usize) {
        let (at, h) = self.obj(v, Kind::Array);
        let (_, buf) = unpack(self.space.region.get(at + 1));
        (buf as usize + 1, h.n as usize)
    }

    /// Number of elements of array `v`.
    #[inline]
    pub(crate) fn array_len(&self, v: Value) -> usize {
        self.obj(v, Kind::Array).1.n as usize
    }

    /// How array `v` stores its elements.
    #[inline]
    pub(crate) fn array_elem(&self, v: Value) -> Elem {
        Elem::from_u8(self.obj(v, Kind::Array).1.aux)
    }

    /// The element type of array `v`.
    pub(crate) fn array_elem_type(&self, v: Value) -> Type {
        let (at, h) = self.obj(v, Kind::Array);
        match Elem::from_u8(h.aux) {
            Elem::Int => Type::Int,
            Elem::Float => Type::Float,
            Elem::Bool => Type::Bool,
            Elem::Val => self.types[self.space.region.get(at + 2) as usize].clone(),
        }
    }

    /// The elements of an `array<int>`, writable.
    #[inline]
    pub(crate) fn ints_mut(&mut self, v: Value) -> &mut [i64] {
        let (data, n) = self.array_data(v);
        as_i64s_mut(self.space.region.words_mut(data, n))
    }

    /// The elements of an `array<float>`, writable.
    #[inline]
    pub(crate) fn floats_mut(&mut self, v: Value) -> &mut [f64] {
        let (data, n) = self.array_data(v);
        as_f64s_mut(self.space.region.words_mut(data, n))
    }

    /// Element `i` of array `v`, or `None` out of bounds.
    #[inline]
    pub(crate) fn array_get(&self, v: Value, i: usize) -> Option<Value> {
        let (at, h) = self.obj(v, Kind::Array);
        if i >= h.n as usize {
            return None;
        }
        let (_, buf) = unpack(self.space.region.get(at + 1));
        let data = buf as usize + 1;
        Some(match Elem::from_u8(h.aux) {
            Elem::Int => Value::int(self.space.region.get(data + i) as i64),
            Elem::Float => Value::float(f64::from_bits(self.space.region.get(data + i))),
            Elem::Bool => Value::bool(self.space.region.bytes(data, i + 1)[i] != 0),
            Elem::Val => self.read_val(data + 2 * i),
        })
    }

    /// Sets element `i` of array `v` to `x` (of the element type); false
    /// out of bounds.
    #[inline]
    pub(crate) fn array_set(&mut self, v: Value, i: usize, x: Value) -> bool {
        let (at, h) = self.obj(v, Kind::Array);
        if i >= h.n as usize {
            return false;
        }
        let (_, buf) = unpack(self.space.region.get(at + 1));
        let data = buf as usize + 1;
        match Elem::from_u8(h.aux) {
            Elem::Int | Elem::Float => self.space.region.set(data + i, x.bits),
            Elem::Bool => self.space.region.bytes_mut(data, i + 1)[i] = u8::from(x.b()),
            Elem::Val => {
                self.write_val(data + 2 * i, x);
                if x.tag.is_object() {
                    self.barrier_element(at, i);
                }
            }
        }
        true
    }

    /// Writes `items` as elements `from..` of array `v` (in bounds).
    fn write_elems(&mut self, v: Value, from: usize, items: &[Value]) {
        let (at, h) = self.obj(v, Kind::Array);
        let (_, buf) = unpack(self.space.region.get(at + 1));
        let data = buf as usize + 1;
        let e = Elem::from_u8(h.aux);
        match e {
            Elem::Int | Elem::Float => {
                let w = self.space.region.words_mut(data + from, items.len());
                for (w, x) in w.iter_mut().zip(items) {
                    *w = x.bits;
                }
            }
            Elem::Bool => {
                let b = &mut self.space.region.bytes_mut(data, from + items.len())[from..];
                for (b, x) in b.iter_mut().zip(items) {
                    *b = u8::from(x.b());
                }
            }
            Elem::Val => {
                let w = self
                    .space
                    .region
                    .words_mut(data + 2 * from, 2 * items.len());
                let mut any_ref = false;
                for (pair, x) in w.chunks_exact_mut(2).zip(items) {
                    pair[0] = x.tag as u64;
                    pair[1] = x.bits;
                    any_ref |= x.tag.is_object();
                }
                if any_ref {
                    self.barrier(at);
                }
            }
        }
    }

    /// All elements of array `v`, copied out.
    pub(crate) fn array_values(&self, v: Value) -> Vec<Value> {
        (0..self.array_len(v))
            .filter_map(|i| self.array_get(v, i))
            .collect()
    }

    /// Replaces the elements of array `v` with `items` (same length, of
    /// the element type).
    pub(crate) fn set_array_values(&mut self, v: Value, items: &[Value]) {
        let n = self.array_len(v).min(items.len());
        self.write_elems(v, 0, &items[..n]);
    }

    /// Reverses array `v` in place.
    pub(crate) fn array_reverse(&mut self, v: Value) {
        let (data, n) = self.array_data(v);
        // Elements move: a remembered element's position no longer holds it.
        self.barrier(v.obj() as usize);
        match self.array_elem(v) {
            Elem::Int | Elem::Float => self.space.region.words_mut(data, n).reverse(),
            Elem::Bool => self.space.region.bytes_mut(data, n).reverse(),
            Elem::Val => {
                let w = self.space.region.words_mut(data, 2 * n);
                for i in 0..n / 2 {
                    let j = n - 1 - i;
                    w.swap(2 * i, 2 * j);
                    w.swap(2 * i + 1, 2 * j + 1);
                }
            }
        }
    }

    /// A new array of elements `from..to` of array `v` (in bounds).
    pub(crate) fn slice_array(
        &mut self,
        v: Value,
        from: usize,
        to: usize,
        roots: &[&[Value]],
    ) -> Result<Value, OutOfMemory> {
        let elem = self.array_elem_type(v);
        let n = to.saturating_sub(from);
        let r = self.alloc_array(&elem, n, roots)?;
        let e = Self::elem_of(&elem);
        let (src, _) = self.array_data(v);
        let (dst, _) = self.array_data(r);
        match e {
            Elem::Bool => {
                let bytes = self.space.region.bytes(src, to)[from..].to_vec();
                self.space.region.bytes_mut(dst, n).copy_from_slice(&bytes);
            }
            _ => {
                let k = e.words_for(1);
                self.space.region.copy_words(src + k * from, dst, k * n);
            }
        }
        Ok(r)
    }

    /// Appends `x` to array `v`, growing its buffer (doubling) when full.
    pub(crate) fn array_push(
        &mut self,
        v: Value,
        x: Value,
        roots: &[&[Value]],
    ) -> Result<(), OutOfMemory> {
        let (at, h) = self.obj(v, Kind::Array);
        let (cap, _) = unpack(self.space.region.get(at + 1));
        let len = h.n;
        if len == cap {
            let new_cap = cap
                .checked_mul(2)
                .map_or(u32::MAX, |c| c.max(4))
                .max(cap.saturating_add(1));
            if new_cap == cap {
                return Err(OutOfMemory);
            }
            self.grow_array(v, new_cap, roots)?;
        }
        let (at, mut h) = self.obj(v, Kind::Array);
        h.n = len + 1;
        self.write_header(at, h);
        self.array_set(v, len as usize, x);
        Ok(())
    }

    /// Gives array `v` a buffer of `cap` elements holding its elements:
    /// its own buffer grown in place when that is a large object with
    /// free blocks after it, else a new one.
    fn grow_array(&mut self, v: Value, cap: u32, roots: &[&[Value]]) -> Result<(), OutOfMemory> {
        let e = self.array_elem(v);
        let words = e.words_for(cap as usize);
        let (at, _) = self.obj(v, Kind::Array);
        let (_, old) = unpack(self.space.region.get(at + 1));
        if self.grow_buf_in_place(old as usize, words) {
            self.space.region.set(at + 1, pack(cap, old));
            return Ok(());
        }
        // `v` is rooted by the caller, so it and its old buffer survive.
        let buf = self.alloc_words(1 + words, roots)?;
        self.init_buf(buf, words);
        let (at, h) = self.obj(v, Kind::Array);
        let (_, old) = unpack(self.space.region.get(at + 1));
        let used = e.words_for(h.n as usize);
        self.space
            .region
            .copy_words(old as usize + 1, buf + 1, used);
        self.space.region.set(at + 1, pack(cap, buf as u32));
        self.barrier(at);
        Ok(())
    }
    /// The address of the heap's word 0 and its length in words, for
    /// compiled code (see `Region::raw_base`).
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    pub(crate) fn region_raw(&self) -> (*mut u64, usize) {
        (self.space.region.raw_base(), self.space.region.len())
    }

    /// Removes and returns the last element of array `v`.
    pub(crate) fn array_pop(&mut self, v: Value) -> Option<Value> {
        let (at, mut h) = self.obj(v, Kind::Array);
        let last = h.n.checked_sub(1)?;
        let x = self.array_get(v, last as usize);
        if Elem::from_u8(h.aux) == Elem::Val {
            // Drop the reference so the collector need not keep it.
            let (data, _) = self.array_data(v);
            self.write_val(data + 2 * last as usize, Value::NIL);
        }
        h.n = last;
        self.write_header(at, h);
        x
    }

    // ----- records ----------------------------------------------------

    /// A new record of shape `shape` (from [`Heap::shape_id`]) with
    /// `fields` in declaration order.
    pub(crate) fn new_record(
        &mut self,
        shape: u32,
        fields: &[Value],
        roots: &[&[Value]],
    ) -> Result<Value, OutOfMemory> {
        let words = self.shapes[shape as usize].words;
        let at = self.alloc_words(1 + words, roots)?;
        self.write_header(at, Header::new(Kind::Record, 0, shape));
        for (i, &x) in fields.iter().enumerate() {
            self.put_field(at, shape, i, x);
        }
        Ok(Value::object(Tag::Record, at as u32))
    }

    /// Field `i` of record `r`, or `None` when `r` is `nil`.
    #[inline]
    pub(crate) fn field(&self, r: Value, i: u16) -> Option<Value> {
        if r.tag != Tag::Record {
            return None;
        }
        let (at, h) = self.obj(r, Kind::Record);
        self.get_field(at, h.n, usize::from(i))
    }

    /// Field `i` of the record at `at` of shape `shape`.
    #[inline]
    fn get_field(&self, at: usize, shape: u32, i: usize) -> Option<Value> {
        let slot = *self.shapes.get(shape as usize)?.slots.get(i)?;
        let w = at + 1 + slot.at as usize;
        Some(match slot.tag {
            Some(Tag::Record) => match self.space.region.get(w) {
                0 => Value::NIL,
                bits => Value {
                    tag: Tag::Record,
                    bits,
                },
            },
            Some(tag) => Value {
                tag,
                bits: self.space.region.get(w),
            },
            None => self.read_val(w),
        })
    }

    /// Writes field `i` of the record at `at` of shape `shape` (no
    /// barrier); false past the fields.
    #[inline]
    fn put_field(&mut self, at: usize, shape: u32, i: usize, v: Value) -> bool {
        let Some(slot) = self
            .shapes
            .get(shape as usize)
            .and_then(|s| s.slots.get(i))
            .copied()
        else {
            return false;
        };
        let w = at + 1 + slot.at as usize;
        match slot.tag {
            // `nil` is 0: no record is at offset 0.
            Some(_) => self
                .space
                .region
                .set(w, if v.tag == Tag::Nil { 0 } else { v.bits }),
            None => self.write_val(w, v),
        }
        true
    }

    /// Sets field `i` of record `r` to `v`; false when `r` is `nil`.
    #[inline]
    pub(crate) fn set_field(&mut self, r: Value, i: u16, v: Value) -> bool {
        if r.tag != Tag::Record {
            return false;
        }
        let (at, h) = self.obj(r, Kind::Record);
        if !self.put_field(at, h.n, usize::from(i), v) {
            return false;
        }
        if v.tag.is_object() {
            self.barrier(at);
        }
        true
    }

    /// The shape of record `r`.
    pub(crate) fn record_shape(&self, r: Value) -> &Arc<Shape> {
        let (_, h) = self.obj(r, Kind::Record);
        &self.shapes[h.n as usize]
    }

    /// The fields of record `r`, copied out.
    pub(crate) fn record_fields(&self, r: Value) -> Vec<Value> {
        let (at, h) = self.obj(r, Kind::Record);
        let n = self.shapes[h.n as usize].fields.len();
        (0..n).filter_map(|i| self.get_field(at, h.n, i)).collect()
    }

    // ----- string buffers ---------------------------------------------

    /// A new, empty string buffer.
    pub(crate) fn new_strbuf(&mut self, roots: &[&[Value]]) -> Result<Value, OutOfMemory> {
        let at = self.alloc_words(3, roots)?;
        self.write_header(at, Header::new(Kind::StrBuf, 0, 0));
        self.init_buf(at + 2, 0);
        self.space.region.set(at + 1, pack(0, at as u32 + 2));
        Ok(Value::object(Tag::StrBuf, at as u32))
    }

    /// Grows buffer `buf` to `words` payload words where it lies, when it
    /// is a large object of its own and the blocks after it are free (as
    /// `realloc` does): no copy, and no second buffer held until the next
    /// collection.
    fn grow_buf_in_place(&mut self, buf: usize, words: usize) -> bool {
        let mut h = self.header(buf);
        if h.kind != Kind::Buf as u8 || words <= h.n as usize {
            return false;
        }
        let Ok(n) = u32::try_from(words) else {
            return false;
        };
        if !self.space.extend_large(buf, 1 + words) {
            return false;
        }
        let added = (words - h.n as usize) * 8;
        h.n = n;
        self.write_header(buf, h);
        self.young_bytes += added;
        self.stats.allocated_bytes += added as u64;
        self.note_peak();
        true
    }

    /// Length and capacity in bytes of buffer `b`.
    pub(crate) fn strbuf_len_cap(&self, b: Value) -> (usize, usize) {
        let (at, h) = self.obj(b, Kind::StrBuf);
        let (cap, _) = unpack(self.space.region.get(at + 1));
        (h.n as usize, cap as usize)
    }

    /// Gives buffer `b` a capacity of `cap` bytes (at least its length).
    pub(crate) fn strbuf_set_capacity(
        &mut self,
        b: Value,
        cap: usize,
        roots: &[&[Value]],
    ) -> Result<(), OutOfMemory> {
        let cap32 = u32::try_from(cap).map_err(|_| OutOfMemory)?;
        let words = cap.div_ceil(8);
        let (at, _) = self.obj(b, Kind::StrBuf);
        let (_, old) = unpack(self.space.region.get(at + 1));
        if self.grow_buf_in_place(old as usize, words) {
            self.space.region.set(at + 1, pack(cap32, old));
            return Ok(());
        }
        let buf = self.alloc_words(1 + words, roots)?;
        self.init_buf(buf, words);
        let (at, h) = self.obj(b, Kind::StrBuf);
        let (_, old) = unpack(self.space.region.get(at + 1));
        let used = (h.n as usize).div_ceil(8);
        self.space
            .region
            .copy_words(old as usize + 1, buf + 1, used);
        self.space.region.set(at + 1, pack(cap32, buf as u32));
        self.barrier(at);
        Ok(())
    }

    /// Appends the text of `src` (a `str` or `strbuf`, possibly `b`
    /// itself) to buffer `b`, whose capacity must already hold it.
    pub(crate) fn strbuf_append(&mut self, b: Value, src: Value) {
        let n = self.str(src).len();
        let (len, cap) = self.strbuf_len_cap(b);
        if len + n > cap {
            wrong_kind(b.obj(), Kind::StrBuf);
        }
        let text = self.str(src).to_owned();
        self.strbuf_append_str(b, &text);
    }

    /// Appends `s` to buffer `b`, whose capacity must already hold it.
    pub(crate) fn strbuf_append_str(&mut self, b: Value, s: &str) {
        let (at, mut h) = self.obj(b, Kind::StrBuf);
        let (cap, buf) = unpack(self.space.region.get(at + 1));
        let len = h.n as usize;
        let end = len + s.len();
        if end > cap as usize {
            wrong_kind(b.obj(), Kind::StrBuf);
        }
        self.space.region.bytes_mut(buf as usize + 1, end)[len..].copy_from_slice(s.as_bytes());
        h.n = end as u32;
        self.write_header(at, h);
    }

    /// Empties buffer `b`, keeping its capacity.
    pub(crate) fn strbuf_clear(&mut self, b: Value) {
        let (at, mut h) = self.obj(b, Kind::StrBuf);
        h.n = 0;
        self.write_header(at, h);
    }

    // ----- types ------------------------------------------------------

    /// The full static type of object value `v`.
    pub(crate) fn ty(&self, v: Value) -> Type {
        match self.kind(v) {
            Some(Kind::Str) => Type::Str,
            Some(Kind::StrBuf) => Type::StrBuf,
            Some(Kind::Array) => Type::array(self.array_elem_type(v)),
            Some(Kind::Map) => {
                let (k, val) = self.map_types(v);
                Type::map(k, val)
            }
            Some(Kind::Record) => Type::Record(self.record_shape(v).name.clone()),
            _ => wrong_kind(v.obj(), Kind::Str),
        }
    }

    // ----- host handles -----------------------------------------------

    /// Keeps object `v` alive for a host handle until the handle's drop
    /// is reported through [`Handles::released`].
    pub(crate) fn pin(&mut self, v: Value) {
        if v.tag.is_object() {
            *self.handles.pinned.entry(v.obj()).or_insert(0) += 1;
        }
    }

    /// Applies the handle drops reported since the last call.
    fn unpin_released(&mut self) {
        let h = &mut *self.handles;
        let released = std::mem::take(&mut *h.released.lock().unwrap_or_else(|p| p.into_inner()));
        for i in released {
            if let Some(n) = h.pinned.get_mut(&i) {
                *n -= 1;
                if *n == 0 {
                    h.pinned.remove(&i);
                }
            }
        }
    }
}

#[cold]
#[inline(never)]
fn wrong_kind(index: u32, want: Kind) -> ! {
    panic!("heap invariant violated: object {index} is not a {want:?}")
}

#[cfg(test)]
mod tests;
