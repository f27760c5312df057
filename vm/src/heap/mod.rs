//! The per-instance garbage-collected heap: an object table with a precise
//! mark-sweep collector.
//!
//! Objects live in a table of slots and are named by their index (see
//! [`crate::value`]); freed slots are reused through a free list. The heap is
//! written in safe Rust: a stale index could at worst name another object of
//! the same heap, never freed memory.
//!
//! **GC invariant.** Every object reachable by the running program is
//! reachable from the roots handed to [`Heap::collect`]: the live part of the
//! value stack, the globals, the string constants and the scratch list. The interpreter upholds it by collecting only inside
//! allocation calls (its safepoints), at which point every value the current
//! instruction still needs is below the stack pointer; native functions
//! upholds it because every object they allocate is put on the scratch list
//! until their result is on the stack.
//!
//! **Accounting.** Every object's payload bytes (string bytes, array and map
//! capacity) plus a fixed header count toward `live_bytes`. Allocation and
//! growth go through one chokepoint ([`Heap::charge`]) that triggers a
//! collection when the bytes allocated since the last one exceed the heap
//! that survived it (at least [`MIN_GC_THRESHOLD`]), and fails with out-of-memory when
//! the heap limit would be exceeded even after collecting. The instance's
//! value stack is charged the same way as it grows ([`Heap::charge_stack`]),
//! so objects and stack together stay within the limit.

pub(crate) mod map;
mod object;

pub(crate) use object::{KeyRef, MapKey, MapObj, OBJECT_HEADER_BYTES, Object, RecordObj, Shape};

use std::time::{Duration, Instant};

use crate::value::{Tag, Value};

/// Smallest allocation debt that triggers a collection.
pub const MIN_GC_THRESHOLD: usize = 1 << 20;

/// Counters kept by the collector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    /// Completed collections.
    pub collections: u64,
    /// Bytes currently allocated (live or not yet collected).
    pub live_bytes: u64,
    /// Largest `live_bytes` seen.
    pub peak_bytes: u64,
    /// Total bytes ever allocated.
    pub allocated_bytes: u64,
    /// Time spent collecting.
    pub pause: Duration,
}

/// The heap limit was reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct OutOfMemory;

struct Slot {
    obj: Option<Object>,
    size: usize,
    marked: bool,
}

/// A per-instance heap.
pub(crate) struct Heap {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live_bytes: usize,
    debt: usize,
    /// Debt that triggers the next collection: the live heap after the
    /// last one (at least [`MIN_GC_THRESHOLD`]), so the heap may at most
    /// double between collections.
    threshold: usize,
    limit: usize,
    stress: bool,
    stats: GcStats,
    /// Objects a native function allocated during the current call.
    pub(crate) scratch: Vec<Value>,
    /// Host handles, boxed: rarely used, kept out of the way of the
    /// fields the interpreter touches on every access.
    pub(crate) handles: Box<Handles>,
    /// Names of the instance's callees (module functions, then imports),
    /// for displaying function references.
    pub(crate) callee_names: Vec<Box<str>>,
    /// Bytes of `live_bytes` that are the instance's value stack, not
    /// objects (see [`Heap::charge_stack`]).
    stack_bytes: usize,
}

/// Objects the host holds handles to.
#[derive(Default)]
pub(crate) struct Handles {
    /// Pinned object indices, with how many handles each.
    pinned: std::collections::HashMap<u32, u32>,
    /// Handles dropped by the host since the last collection (a handle's
    /// `Drop` cannot reach the heap, so it leaves its index here).
    pub(crate) released: std::sync::Arc<std::sync::Mutex<Vec<u32>>>,
}

impl Heap {
    pub(crate) fn new(limit: usize, stress: bool) -> Heap {
        Heap {
            slots: Vec::new(),
            free: Vec::new(),
            live_bytes: 0,
            debt: 0,
            threshold: MIN_GC_THRESHOLD,
            limit,
            stress,
            stats: GcStats::default(),
            scratch: Vec::new(),
            handles: Box::default(),
            callee_names: Vec::new(),
            stack_bytes: 0,
        }
    }

    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    pub(crate) fn stats(&self) -> GcStats {
        GcStats {
            live_bytes: self.live_bytes as u64,
            ..self.stats
        }
    }

    /// Reserves `bytes` for an allocation or growth, collecting first when
    /// the debt or the limit says so.
    pub(crate) fn charge(&mut self, bytes: usize, roots: &[&[Value]]) -> Result<(), OutOfMemory> {
        let over_limit = self.live_bytes.saturating_add(bytes) > self.limit;
        if self.stress || over_limit || self.debt.saturating_add(bytes) > self.threshold {
            self.collect(roots);
        }
        if self.live_bytes.saturating_add(bytes) > self.limit {
            return Err(OutOfMemory);
        }
        self.live_bytes += bytes;
        self.debt += bytes;
        self.stats.allocated_bytes += bytes as u64;
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.live_bytes as u64);
        Ok(())
    }

    /// Gives back bytes charged by [`Heap::charge`] that were not used.
    pub(crate) fn uncharge(&mut self, bytes: usize) {
        self.live_bytes -= bytes;
        self.debt = self.debt.saturating_sub(bytes);
        self.stats.allocated_bytes -= bytes as u64;
    }

    /// Allocates `obj`, returning a value tagged `tag` that refers to it.
    /// For objects whose size is only known after building them; large
    /// objects should [`Heap::charge`] first and use [`Heap::insert_charged`].
    pub(crate) fn alloc(
        &mut self,
        tag: Tag,
        obj: Object,
        roots: &[&[Value]],
    ) -> Result<Value, OutOfMemory> {
        let size = obj.size();
        self.charge(size, roots)?;
        Ok(self.insert_charged(tag, obj, size))
    }

    /// Stores an object whose `size` bytes were already charged.
    pub(crate) fn insert_charged(&mut self, tag: Tag, obj: Object, size: usize) -> Value {
        let slot = Slot {
            obj: Some(obj),
            size,
            marked: false,
        };
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                (self.slots.len() - 1) as u32
            }
        };
        Value::object(tag, index)
    }

    /// Charges `delta` more bytes to object `index` (before growing it).
    pub(crate) fn grow(
        &mut self,
        index: u32,
        delta: usize,
        roots: &[&[Value]],
    ) -> Result<(), OutOfMemory> {
        self.charge(delta, roots)?;
        self.slots[index as usize].size += delta;
        Ok(())
    }

    /// Credits `delta` bytes back from object `index` (after shrinking it).
    pub(crate) fn shrink(&mut self, index: u32, delta: usize) {
        let slot = &mut self.slots[index as usize];
        let delta = delta.min(slot.size);
        slot.size -= delta;
        self.live_bytes -= delta;
    }

    #[inline]
    pub(crate) fn get(&self, index: u32) -> &Object {
        match &self.slots[index as usize].obj {
            Some(o) => o,
            None => dangling(index),
        }
    }

    #[inline]
    pub(crate) fn get_mut(&mut self, index: u32) -> &mut Object {
        match &mut self.slots[index as usize].obj {
            Some(o) => o,
            None => dangling(index),
        }
    }

    /// The object at `index`, or `None` for no live object (for callers
    /// that must not panic, such as the JIT's helpers).
    #[inline]
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    pub(crate) fn try_get_mut(&mut self, index: u32) -> Option<&mut Object> {
        self.slots.get_mut(index as usize)?.obj.as_mut()
    }

    /// The text a `str` (or `strbuf`) value refers to.
    #[inline]
    pub(crate) fn str(&self, v: Value) -> &str {
        match self.get(v.obj()) {
            Object::Str(s) => s,
            Object::StrBuf(s) => s,
            _ => wrong_kind(v.obj(), "str"),
        }
    }

    /// Field `i` of record `r`, or `None` when `r` is `nil`.
    #[inline]
    pub(crate) fn field(&self, r: Value, i: u16) -> Option<Value> {
        if r.tag != Tag::Record {
            return None;
        }
        match self.get(r.obj()) {
            Object::Record(o) => o.fields.get(usize::from(i)).copied(),
            _ => wrong_kind(r.obj(), "record"),
        }
    }

    /// Sets field `i` of record `r` to `v`; false when `r` is `nil`.
    #[inline]
    pub(crate) fn set_field(&mut self, r: Value, i: u16, v: Value) -> bool {
        if r.tag != Tag::Record {
            return false;
        }
        match self.get_mut(r.obj()) {
            Object::Record(o) => match o.fields.get_mut(usize::from(i)) {
                Some(slot) => {
                    *slot = v;
                    true
                }
                None => false,
            },
            _ => wrong_kind(r.obj(), "record"),
        }
    }

    /// Marks everything reachable from `roots` and the scratch list, then
    /// frees the rest.
    /// Keeps object `v` alive for a host handle until [`Heap::released`]
    /// reports the handle dropped.
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

    pub(crate) fn collect(&mut self, roots: &[&[Value]]) {
        let finished = self.collect_polled(roots, &mut || false);
        debug_assert!(finished, "a collection that is never stopped finishes");
    }

    /// Objects marked between calls of the `stop` callback of
    /// [`Heap::collect_polled`].
    const MARK_STEP: usize = 1 << 16;

    /// Number of object slots, live or free: the work of one collection.
    pub(crate) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// A full collection that asks `stop` every [`Heap::MARK_STEP`] objects
    /// marked whether to give up (for `gc.collect` under a deadline). On a
    /// stop it clears the marks and frees nothing, leaving the heap as it
    /// was, and returns false; the sweep, once started, always finishes.
    pub(crate) fn collect_polled(
        &mut self,
        roots: &[&[Value]],
        stop: &mut dyn FnMut() -> bool,
    ) -> bool {
        let start = Instant::now();
        self.unpin_released();
        let mut gray: Vec<u32> = Vec::new();
        let mark = |slots: &mut Vec<Slot>, gray: &mut Vec<u32>, v: Value| {
            if v.tag.is_object() {
                let s = &mut slots[v.obj() as usize];
                if !s.marked {
                    s.marked = true;
                    gray.push(v.obj());
                }
            }
        };
        for set in roots {
            for &v in *set {
                mark(&mut self.slots, &mut gray, v);
            }
        }
        for &v in &self.scratch {
            mark(&mut self.slots, &mut gray, v);
        }
        let pinned: Vec<u32> = self.handles.pinned.keys().copied().collect();
        for i in pinned {
            let s = &mut self.slots[i as usize];
            if !s.marked {
                s.marked = true;
                gray.push(i);
            }
        }
        let mut since = 0;
        while let Some(i) = gray.pop() {
            since += 1;
            if since >= Self::MARK_STEP {
                since = 0;
                if stop() {
                    for slot in &mut self.slots {
                        slot.marked = false;
                    }
                    self.stats.pause += start.elapsed();
                    return false;
                }
            }
            // Children are read by index so no borrow of this slot is held
            // while marking others; only value arrays, maps and records
            // have any.
            let n = match &self.slots[i as usize].obj {
                Some(Object::ValArray { items, .. }) => items.len(),
                Some(Object::Map(m)) => m.entries.len(),
                Some(Object::Record(r)) => r.fields.len(),
                _ => continue,
            };
            for k in 0..n {
                let child = match &self.slots[i as usize].obj {
                    Some(Object::ValArray { items, .. }) => items[k],
                    Some(Object::Map(m)) => m.entries.value_at(k).unwrap_or(Value::NIL),
                    Some(Object::Record(r)) => r.fields[k],
                    _ => unreachable!("kind checked above"),
                };
                mark(&mut self.slots, &mut gray, child);
            }
        }
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.marked {
                slot.marked = false;
            } else if slot.obj.is_some() {
                slot.obj = None;
                self.live_bytes -= slot.size;
                slot.size = 0;
                self.free.push(i as u32);
            }
        }
        self.debt = 0;
        self.threshold = self.live_bytes.max(MIN_GC_THRESHOLD);
        self.stats.collections += 1;
        self.stats.pause += start.elapsed();
        true
    }

    /// Checks the heap's internal consistency (for tests): accounting adds
    /// up and every reference inside a live object names a live object.
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let total: usize = self
            .slots
            .iter()
            .filter(|s| s.obj.is_some())
            .map(|s| s.size)
            .sum();
        assert_eq!(
            total + self.stack_bytes,
            self.live_bytes,
            "live byte count drifted"
        );
        for s in self.slots.iter().filter_map(|s| s.obj.as_ref()) {
            let refs: Vec<Value> = match s {
                Object::ValArray { items, .. } => items.clone(),
                Object::Map(m) => m.entries.values().copied().collect(),
                Object::Record(r) => r.fields.to_vec(),
                _ => vec![],
            };
            for v in refs.into_iter().filter(|v| v.tag.is_object()) {
                assert!(
                    self.slots[v.obj() as usize].obj.is_some(),
                    "reference to freed object {}",
                    v.obj()
                );
            }
        }
    }
}

#[cold]
#[inline(never)]
fn dangling(index: u32) -> ! {
    panic!("heap invariant violated: object {index} was freed while referenced")
}

#[cold]
#[inline(never)]
fn wrong_kind(index: u32, want: &str) -> ! {
    panic!("heap invariant violated: object {index} is not a {want}")
}

/// The value stack's share of the heap limit: its memory counts toward
/// `live_bytes` like an object's, so objects and stack together stay
/// within the limit.
impl Heap {
    /// [`Heap::charge`]s `bytes` of value-stack growth.
    pub(crate) fn charge_stack(
        &mut self,
        bytes: usize,
        roots: &[&[Value]],
    ) -> Result<(), OutOfMemory> {
        self.charge(bytes, roots)?;
        self.stack_bytes += bytes;
        Ok(())
    }

    /// Gives back `bytes` charged by [`Heap::charge_stack`].
    pub(crate) fn uncharge_stack(&mut self, bytes: usize) {
        self.stack_bytes -= bytes;
        self.uncharge(bytes);
    }
}

#[cfg(test)]
mod tests;
