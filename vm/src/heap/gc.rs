//! The collector: marking from the roots, sweeping lines and blocks, the
//! write barrier, and the heap verifier.
//!
//! **Minor collection.** Marks young objects (mark != epoch) reachable
//! from the roots and from the children of remembered objects; old
//! objects are taken as live and not traced. Then it sweeps only the
//! blocks allocated into since the last collection and the large objects
//! allocated since then. Survivors keep their mark: they are old now.
//!
//! **Major collection.** Switches the epoch (1 <-> 2), which unmarks every
//! object at once, marks everything reachable, and sweeps every block.
//!
//! **Write barrier.** [`Heap::barrier`] is called after every store of a
//! reference into an object (and after an object gets a new buffer or its
//! elements move): an old object not yet logged is logged and remembered,
//! so the next minor collection traces its children. A store into one
//! element of an array or map calls [`Heap::barrier_element`] instead,
//! which remembers just that element (the card-marking idea at element
//! granularity), so a big old container written a little between
//! collections is not traced whole by every minor collection. Between collections this keeps the
//! generational invariant: an old object that is not remembered refers
//! only to old objects.

use std::time::Instant;

use super::layout::{Elem, Header, Kind, LOGGED, body_words, unpack};
use super::space::{BLOCK_LINES, BLOCK_WORDS, BlockState, LARGE_WORDS, LINE_WORDS};
use super::{Heap, Value};
use crate::value::Tag;

/// The heap verifier's state: objects seen (one bit per word of the
/// heap, kept by the heap between walks, with the words set so they can
/// be cleared in time proportional to the walk) and containers still to
/// look into.
struct Walk<'a> {
    seen: &'a mut Vec<u64>,
    set: Vec<u32>,
    todo: Vec<(u32, bool)>,
}

/// Most array and map elements remembered one by one between collections;
/// past it, their containers are remembered whole.
const MAX_REMEMBERED_ELEMENTS: usize = 1 << 16;

/// Objects traced between calls of the `stop` callback of
/// [`Heap::collect_polled`].
pub(crate) const MARK_STEP: usize = 1 << 16;

impl Heap {
    /// The write barrier: call after storing a reference into the object
    /// at `at` (or giving it a new buffer).
    #[inline]
    pub(super) fn barrier(&mut self, at: usize) {
        let h = self.header(at);
        if h.mark == self.epoch && h.flags & LOGGED == 0 {
            self.remember(at, h);
        }
    }

    /// The write barrier for a store of a reference into element `pos`
    /// of the array or map at `at`: an old container remembers just that
    /// element, so a minor collection looks at it instead of tracing the
    /// whole container (the remembered elements are bounded; past
    /// [`MAX_REMEMBERED_ELEMENTS`] the container itself is remembered).
    #[inline]
    pub(super) fn barrier_element(&mut self, at: usize, pos: usize) {
        let h = self.header(at);
        if h.mark == self.epoch && h.flags & LOGGED == 0 {
            self.remember_element(at, pos, h);
        }
    }

    #[cold]
    fn remember_element(&mut self, at: usize, pos: usize, h: Header) {
        if self.remembered_elements.len() < MAX_REMEMBERED_ELEMENTS {
            self.remembered_elements.push((at as u32, pos as u32));
        } else {
            self.remember(at, h);
        }
    }

    /// Marks what a remembered element holds, if the element is still
    /// one (within the length, not a deleted entry) and its container was
    /// not remembered whole meanwhile.
    fn trace_element(&mut self, at: usize, pos: usize, gray: &mut Vec<u32>) {
        let h = self.header(at);
        if h.flags & LOGGED != 0 {
            return; // traced whole
        }
        match Kind::from_u8(h.kind) {
            Some(Kind::Array) if Elem::from_u8(h.aux) == Elem::Val && pos < h.n as usize => {
                let (_, buf) = unpack(self.space.region.get(at + 1));
                let v = self.read_val(buf as usize + 1 + 2 * pos);
                self.mark_value(v, gray);
            }
            Some(Kind::Map) => {
                if let Some((k, v)) = self.map_entry_at(Value::object(Tag::Map, at as u32), pos) {
                    self.mark_value(k, gray);
                    self.mark_value(v, gray);
                }
            }
            _ => {}
        }
    }

    #[cold]
    fn remember(&mut self, at: usize, mut h: Header) {
        h.flags |= LOGGED;
        self.write_header(at, h);
        self.remembered.push(at as u32);
    }

    /// Words the object at `at` takes, header included.
    pub(super) fn obj_words(&self, h: &Header) -> usize {
        let Some(kind) = Kind::from_u8(h.kind) else {
            return 1;
        };
        1 + body_words(kind, h.n, |s| {
            self.shapes.get(s as usize).map_or(0, |sh| sh.words())
        })
    }

    /// Marks the object at `at` if it is not marked yet; queues it for
    /// tracing when it has children.
    fn mark_obj(&mut self, at: usize, gray: &mut Vec<u32>) {
        let mut h = self.header(at);
        if h.mark == self.epoch {
            return;
        }
        if let Some(log) = &mut self.mark_log {
            log.push((at as u32, h.mark));
        }
        h.mark = self.epoch;
        self.marked += 1;
        self.write_header(at, h);
        let words = self.obj_words(&h);
        if words <= LARGE_WORDS {
            self.space.mark_lines(at, words, self.epoch);
        }
        if h.kind != Kind::Str as u8 && h.kind != Kind::Buf as u8 {
            gray.push(at as u32);
        }
    }

    #[inline]
    fn mark_value(&mut self, v: Value, gray: &mut Vec<u32>) {
        if v.tag.is_object() {
            self.mark_obj(v.obj() as usize, gray);
        }
    }

    /// Marks the children of the object at `at`.
    fn trace(&mut self, at: usize, gray: &mut Vec<u32>) {
        let h = self.header(at);
        match Kind::from_u8(h.kind) {
            Some(Kind::Array) => {
                let (_, buf) = unpack(self.space.region.get(at + 1));
                self.mark_obj(buf as usize, gray);
                if Elem::from_u8(h.aux) == Elem::Val {
                    for i in 0..h.n as usize {
                        let v = self.read_val(buf as usize + 1 + 2 * i);
                        self.mark_value(v, gray);
                    }
                }
            }
            Some(Kind::StrBuf) => {
                let (_, buf) = unpack(self.space.region.get(at + 1));
                self.mark_obj(buf as usize, gray);
            }
            Some(Kind::Map) => {
                let mut kids = std::mem::take(&mut self.trace_scratch);
                kids.clear();
                let mut bufs = [0usize; 2];
                let mut nb = 0;
                self.map_children(
                    at,
                    |b| {
                        if nb < 2 {
                            bufs[nb] = b;
                            nb += 1;
                        }
                    },
                    |v| kids.push(v),
                );
                for &b in &bufs[..nb] {
                    self.mark_obj(b, gray);
                }
                for &v in &kids {
                    self.mark_obj(v.obj() as usize, gray);
                }
                self.trace_scratch = kids;
            }
            Some(Kind::Record) => {
                let n = self.shapes.get(h.n as usize).map_or(0, |s| s.fields.len());
                for i in 0..n {
                    if let Some(v) = self.get_field(at, h.n, i) {
                        self.mark_value(v, gray);
                    }
                }
            }
            Some(Kind::Str | Kind::Buf) | None => {}
        }
    }

    /// Marks the roots: the given sets, the scratch list and the pinned
    /// objects.
    fn mark_roots(&mut self, roots: &[&[Value]], gray: &mut Vec<u32>) {
        self.unpin_released();
        for set in roots {
            for &v in *set {
                self.mark_value(v, gray);
            }
        }
        for i in 0..self.scratch.len() {
            let v = self.scratch[i];
            self.mark_value(v, gray);
        }
        let pinned: Vec<u32> = self.handles.pinned.keys().copied().collect();
        for at in pinned {
            self.mark_obj(at as usize, gray);
        }
    }

    /// Traces until nothing is left; asks `stop` whenever another
    /// [`MARK_STEP`] objects have been marked whether to give up (false
    /// then).
    fn drain(&mut self, gray: &mut Vec<u32>, stop: &mut dyn FnMut() -> bool) -> bool {
        let mut next_poll = self.marked + MARK_STEP as u64;
        while let Some(at) = gray.pop() {
            self.trace(at as usize, gray);
            if self.marked >= next_poll {
                next_poll = self.marked + MARK_STEP as u64;
                if stop() {
                    return false;
                }
            }
        }
        true
    }

    /// A collection chosen by the policy: minor, unless the heap grew past
    /// the major threshold (under stress, minor and major in turn).
    pub(super) fn collect_auto(&mut self, roots: &[&[Value]]) {
        let major = if self.stress {
            self.stress_major = !self.stress_major;
            !self.stress_major
        } else {
            self.next_major
        };
        if major {
            self.collect_major(roots);
        } else {
            self.collect_minor(roots);
        }
    }

    /// A minor collection.
    pub(crate) fn collect_minor(&mut self, roots: &[&[Value]]) {
        let start = Instant::now();
        let local_check = self.verify && !self.stress;
        if local_check {
            self.mark_log = Some(Vec::new());
        }
        self.space.reset_holes();
        let mut gray = Vec::new();
        self.mark_roots(roots, &mut gray);
        for (at, pos) in std::mem::take(&mut self.remembered_elements) {
            self.trace_element(at as usize, pos as usize, &mut gray);
        }
        for at in std::mem::take(&mut self.remembered) {
            let mut h = self.header(at as usize);
            h.flags &= !LOGGED;
            self.write_header(at as usize, h);
            // The verifier looks into what this collection traced.
            if let Some(log) = &mut self.mark_log {
                log.push((at, h.mark));
            }
            self.trace(at as usize, &mut gray);
        }
        self.drain(&mut gray, &mut || false);
        for b in std::mem::take(&mut self.space.fresh) {
            if self.space.states[b as usize] == BlockState::Active {
                self.space.sweep_block(b as usize, self.epoch);
            }
        }
        for b in std::mem::take(&mut self.space.fresh_large) {
            self.sweep_large(b as usize);
        }
        if !self.stress && self.space.committed() > self.major_at {
            self.next_major = true;
        }
        let survivors = self.mark_log.take();
        self.finish(start, false, roots, survivors);
    }

    /// A major (full) collection.
    pub(crate) fn collect_major(&mut self, roots: &[&[Value]]) {
        let done = self.major(roots, None);
        debug_assert!(done, "a collection that is never stopped finishes");
    }

    /// A full collection, for `gc.collect` and hosts.
    pub(crate) fn collect(&mut self, roots: &[&[Value]]) {
        self.collect_major(roots);
    }

    /// A full collection that asks `stop` every [`MARK_STEP`] objects
    /// traced whether to give up (for `gc.collect` under a deadline). On a
    /// stop it restores every mark and frees nothing, leaving the heap as
    /// it was, and returns false; the sweep, once started, always finishes.
    pub(crate) fn collect_polled(
        &mut self,
        roots: &[&[Value]],
        stop: &mut dyn FnMut() -> bool,
    ) -> bool {
        self.major(roots, Some(stop))
    }

    /// A major collection; one with a `stop` callback logs what it marks
    /// (and saves the line marks) so a stop can put everything back.
    fn major(&mut self, roots: &[&[Value]], stop: Option<&mut dyn FnMut() -> bool>) -> bool {
        let start = Instant::now();
        let old_epoch = self.epoch;
        let stoppable = stop.is_some();
        let mut never = || false;
        let stop = stop.unwrap_or(&mut never);
        let saved_lines = if stoppable {
            self.mark_log = Some(Vec::new());
            self.space.lines.clone()
        } else {
            Vec::new()
        };
        self.space.reset_holes();
        self.epoch = 3 - self.epoch;
        let mut gray = Vec::new();
        self.mark_roots(roots, &mut gray);
        if !self.drain(&mut gray, stop) {
            // Put every mark back as it was.
            for (at, mark) in self.mark_log.take().unwrap_or_default() {
                let mut h = self.header(at as usize);
                h.mark = mark;
                self.write_header(at as usize, h);
            }
            self.space.lines = saved_lines;
            self.epoch = old_epoch;
            let t = start.elapsed();
            self.stats.pause += t;
            return false;
        }
        self.mark_log = None;
        drop(saved_lines);
        for at in std::mem::take(&mut self.remembered) {
            let mut h = self.header(at as usize);
            h.flags &= !LOGGED;
            self.write_header(at as usize, h);
        }
        self.remembered_elements.clear();
        self.space.fresh.clear();
        self.space.fresh_large.clear();
        self.space.clear_lists();
        let mut b = 0;
        while b < self.space.states.len() {
            match self.space.states[b] {
                BlockState::Free { resident } => self.space.file_free(b, resident),
                BlockState::Active | BlockState::Recyclable | BlockState::Full => {
                    self.space.sweep_block(b, self.epoch);
                }
                BlockState::LargeHead { n } => {
                    self.sweep_large(b);
                    b += n as usize;
                    continue;
                }
                BlockState::LargeTail => {}
            }
            b += 1;
        }
        self.next_major = false;
        self.major_at = self
            .space
            .committed()
            .saturating_mul(2)
            .max(super::MIN_MAJOR_BYTES)
            .min(self.limit);
        self.space.make_resident_room(0);
        self.finish(start, true, roots, None);
        true
    }

    /// Frees the large object starting block `b` unless it is marked.
    fn sweep_large(&mut self, b: usize) {
        if !matches!(self.space.states.get(b), Some(BlockState::LargeHead { .. })) {
            return;
        }
        if self.header(b * BLOCK_WORDS).mark != self.epoch {
            self.space.free_large(b);
        }
    }

    /// Counts the collection and runs the verifier when it is on: the
    /// whole heap after a major collection or under stress; after a minor
    /// one outside stress, the objects it marked or traced (`survivors`)
    /// with their children, and the roots, so debug builds keep
    /// collections proportional to what they touch.
    fn finish(
        &mut self,
        start: Instant,
        major: bool,
        roots: &[&[Value]],
        survivors: Option<Vec<(u32, u8)>>,
    ) {
        self.young_bytes = 0;
        let t = start.elapsed();
        self.stats.collections += 1;
        if major {
            self.stats.major_collections += 1;
        } else {
            self.stats.minor_collections += 1;
        }
        self.stats.pause += t;
        self.stats.max_pause = self.stats.max_pause.max(t);
        if !self.verify {
            return;
        }
        let checked = match survivors {
            Some(log) => {
                let start: Vec<u32> = log.into_iter().map(|(at, _)| at).collect();
                self.verify_walk(roots, &start, false)
            }
            None => self.verify_heap(roots),
        };
        if let Err(e) = checked {
            panic!("heap verifier: {e}");
        }
    }

    /// Walks everything reachable from the roots and checks every header,
    /// reference, buffer, line mark, map table and the accounting. Run
    /// after each collection under GC stress and in debug builds.
    pub(crate) fn verify_heap(&mut self, roots: &[&[Value]]) -> Result<(), String> {
        self.verify_walk(roots, &[], true)
    }

    /// The verifier's walk from the roots and the objects at `extra`;
    /// `deep`: through everything reachable, else only one step from
    /// each of them.
    fn verify_walk(&mut self, roots: &[&[Value]], extra: &[u32], deep: bool) -> Result<(), String> {
        if !self.remembered.is_empty() || !self.remembered_elements.is_empty() {
            return Err("remembered set not empty after a collection".into());
        }
        let used = self
            .space
            .states
            .iter()
            .filter(|s| !matches!(s, BlockState::Free { .. }))
            .count();
        if used != self.space.used {
            return Err(format!(
                "{} blocks in use, counted {}",
                used, self.space.used
            ));
        }
        let mut bits = std::mem::take(&mut self.verify_seen);
        bits.resize((self.space.states.len() * BLOCK_WORDS).div_ceil(64), 0);
        let mut walk = Walk {
            seen: &mut bits,
            set: Vec::new(),
            todo: Vec::new(),
        };
        let result = self.verify_walk_from(&mut walk, roots, extra, deep);
        for w in walk.set {
            bits[w as usize] = 0;
        }
        self.verify_seen = bits;
        result
    }

    fn verify_walk_from(
        &self,
        walk: &mut Walk<'_>,
        roots: &[&[Value]],
        extra: &[u32],
        deep: bool,
    ) -> Result<(), String> {
        // What a minor collection traced first, looked into; then the
        // roots (looked into only by a full walk: a minor collection did
        // not trace old roots' children either).
        for &at in extra {
            let v = self.as_value(at)?;
            self.visit(walk, v, true)?;
        }
        for set in roots {
            for &v in *set {
                self.visit(walk, v, deep)?;
            }
        }
        for &v in &self.scratch {
            self.visit(walk, v, deep)?;
        }
        for &at in self.handles.pinned.keys() {
            let v = self.as_value(at)?;
            self.visit(walk, v, deep)?;
        }
        while let Some((at, inside)) = walk.todo.pop() {
            let at = at as usize;
            let h = self.header(at);
            match Kind::from_u8(h.kind) {
                Some(Kind::Array) => {
                    let (cap, buf) = unpack(self.space.region.get(at + 1));
                    let bh = self.check_object(buf as usize, "array buffer")?;
                    let e = Elem::from_u8(h.aux);
                    if bh.kind != Kind::Buf as u8
                        || h.n > cap
                        || (bh.n as usize) < e.words_for(cap as usize)
                    {
                        return Err(format!(
                            "array {at}: length {}, capacity {cap}, buffer {buf} of {} words",
                            h.n, bh.n
                        ));
                    }
                    if e == Elem::Val {
                        let ty = self.space.region.get(at + 2) as usize;
                        if ty >= self.types.len() {
                            return Err(format!("array {at}: type id {ty}"));
                        }
                        if inside {
                            for i in 0..h.n as usize {
                                let x = self.read_val(buf as usize + 1 + 2 * i);
                                self.visit(walk, x, deep)?;
                            }
                        }
                    }
                }
                Some(Kind::StrBuf) => {
                    let (cap, buf) = unpack(self.space.region.get(at + 1));
                    let bh = self.check_object(buf as usize, "strbuf buffer")?;
                    if bh.kind != Kind::Buf as u8 || h.n > cap || (bh.n as usize) * 8 < cap as usize
                    {
                        return Err(format!("strbuf {at}: length {}, capacity {cap}", h.n));
                    }
                }
                Some(Kind::Map) => {
                    let m = Value::object(Tag::Map, at as u32);
                    // Finding every entry through the index hashes every
                    // key: full walks only.
                    if inside && deep {
                        self.map_check(m)?;
                    }
                    let mut bufs = Vec::new();
                    let mut vals = Vec::new();
                    self.map_children(
                        at,
                        |b| bufs.push(b),
                        |x| {
                            if inside {
                                vals.push(x);
                            }
                        },
                    );
                    for b in bufs {
                        let bh = self.check_object(b, "map buffer")?;
                        if bh.kind != Kind::Buf as u8 {
                            return Err(format!("map {at}: buffer {b} of kind {}", bh.kind));
                        }
                    }
                    for x in vals {
                        self.visit(walk, x, deep)?;
                    }
                }
                Some(Kind::Record) => {
                    let Some(shape) = self.shapes.get(h.n as usize) else {
                        return Err(format!("record {at}: shape id {}", h.n));
                    };
                    if inside {
                        for i in 0..shape.fields.len() {
                            if let Some(x) = self.get_field(at, h.n, i) {
                                self.visit(walk, x, deep)?;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// A value for the object at `at` (for starting points named by
    /// offset); `nil` for a buffer, which its owner's check covers.
    fn as_value(&self, at: u32) -> Result<Value, String> {
        let kind = self.header(at as usize).kind;
        let tag = match Kind::from_u8(kind) {
            Some(Kind::Str) => Tag::Str,
            Some(Kind::Array) => Tag::Array,
            Some(Kind::Map) => Tag::Map,
            Some(Kind::Record) => Tag::Record,
            Some(Kind::StrBuf) => Tag::StrBuf,
            Some(Kind::Buf) => return Ok(Value::NIL),
            None => return Err(format!("object {at} has kind {kind}")),
        };
        Ok(Value::object(tag, at))
    }

    /// Checks value `v` where the walk meets it: an object of its tag's
    /// kind, marked; a string's text is checked at once, containers are
    /// queued (`inside`: to look at their children too).
    fn visit(&self, walk: &mut Walk<'_>, v: Value, inside: bool) -> Result<(), String> {
        if !v.tag.is_object() {
            return Ok(());
        }
        let at = v.obj() as usize;
        let h = self.check_object(at, "object")?;
        let (word, bit) = (at / 64, 1u64 << (at % 64));
        if walk.seen[word] & bit != 0 {
            return Ok(());
        }
        if walk.seen[word] == 0 {
            walk.set.push(word as u32);
        }
        walk.seen[word] |= bit;
        let want = match v.tag {
            Tag::Str => Kind::Str,
            Tag::Array => Kind::Array,
            Tag::Map => Kind::Map,
            Tag::Record => Kind::Record,
            _ => Kind::StrBuf,
        };
        if h.kind != want as u8 {
            return Err(format!(
                "a {:?} value names object {at} of kind {}",
                v.tag, h.kind
            ));
        }
        if want == Kind::Str {
            std::str::from_utf8(self.space.region.bytes(at + 1, h.n as usize))
                .map_err(|_| format!("string {at} is not UTF-8"))?;
        } else {
            walk.todo.push((at as u32, inside));
        }
        Ok(())
    }

    /// Checks the header at `at`: a known kind, marked in this epoch, not
    /// logged, in a block in use, and (for a small object) inside one
    /// block with its lines marked.
    fn check_object(&self, at: usize, what: &str) -> Result<Header, String> {
        if at == 0 || at >= self.space.states.len() * BLOCK_WORDS {
            return Err(format!("{what} at {at} is outside the heap"));
        }
        let h = self.header(at);
        if Kind::from_u8(h.kind).is_none() {
            return Err(format!(
                "{what} at {at}: no object there (kind byte {})",
                h.kind
            ));
        }
        if h.mark != self.epoch {
            return Err(format!("{what} at {at}: reachable but not marked"));
        }
        if h.flags & LOGGED != 0 {
            return Err(format!("{what} at {at}: still logged"));
        }
        let b = at / BLOCK_WORDS;
        let words = self.obj_words(&h);
        match self.space.states[b] {
            BlockState::Free { .. } => return Err(format!("{what} at {at} is in free block {b}")),
            BlockState::LargeHead { n } => {
                if at + words > (b + n as usize) * BLOCK_WORDS {
                    return Err(format!("{what} at {at} runs past its large object"));
                }
            }
            BlockState::LargeTail => {
                // Inside a large object's run (a buffer allocated with it).
            }
            _ => {
                if words > LARGE_WORDS || (at + words - 1) / BLOCK_WORDS != b {
                    return Err(format!("{what} at {at} ({words} words) crosses block {b}"));
                }
                let first = at / LINE_WORDS;
                let last = (at + words - 1) / LINE_WORDS;
                for l in first..=last {
                    let m = self.space.lines[l];
                    if m != self.epoch && m != 255 {
                        return Err(format!(
                            "{what} at {at}: line {} of block {b} is not marked",
                            l % BLOCK_LINES
                        ));
                    }
                }
            }
        }
        Ok(h)
    }
}
