//! Where objects go: blocks of lines in the region, bump allocation into
//! free runs of lines, and whole runs of blocks for large objects (a
//! mark-region space in the style of Immix, without evacuation).
//!
//! The region is cut into blocks of [`BLOCK_WORDS`] words, each cut into
//! lines of [`LINE_WORDS`] words. A small object (at most [`LARGE_WORDS`]
//! words) is bump-allocated into a *hole*, a run of free lines of one
//! block; it never crosses a block. A large object takes a run of whole
//! blocks for itself.
//!
//! **Invariants.**
//! - A line is free (mark 0) or holds part of a live object or of an
//!   object allocated since the last collection. The collector marks every
//!   line a marked object covers with the collection's epoch; the sweep
//!   clears every other line of the blocks it looks at, so no stale mark
//!   survives.
//! - Block states are the truth; the free and recyclable lists may hold
//!   blocks that have since changed state and are skipped when popped.
//! - Memory accounting: `used` blocks (anything not free) times the block
//!   size plus the `external` bytes (the value stack) never exceed the
//!   limit, and neither do the *resident* blocks (ever touched and not
//!   released) plus `external`: the process's heap memory is the limit.

use super::region::Region;

/// Words per line (256 bytes).
pub(crate) const LINE_WORDS: usize = 32;
/// Lines per block.
pub(crate) const BLOCK_LINES: usize = 128;
/// Words per block (32 KiB).
pub(crate) const BLOCK_WORDS: usize = LINE_WORDS * BLOCK_LINES;
/// Bytes per block.
pub(crate) const BLOCK_BYTES: usize = BLOCK_WORDS * 8;
/// Largest small object, in words (half a block); larger ones get blocks
/// of their own.
pub(crate) const LARGE_WORDS: usize = BLOCK_WORDS / 2;
/// Most blocks a region may have: word offsets are 32 bits.
pub(crate) const MAX_BLOCKS: usize = (1usize << 32) / BLOCK_WORDS;
/// The line mark that never clears (the first line of block 0, so word
/// offset 0 is never an object).
const PERMANENT: u8 = 255;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum BlockState {
    /// Nothing live; pages may or may not be resident.
    Free { resident: bool },
    /// Small objects, taken by the allocator since the last sweep.
    Active,
    /// Small objects with free lines, waiting to be allocated into.
    Recyclable,
    /// Small objects, no free line.
    Full,
    /// The first block of a large object of `n` blocks.
    LargeHead { n: u32 },
    /// A later block of a large object.
    LargeTail,
}

/// The block and line space of one heap.
pub(crate) struct Space {
    pub(crate) region: Region,
    /// Blocks the region has room for (the limit, in blocks).
    max_blocks: usize,
    /// State of blocks `0..states.len()`; blocks past it were never used.
    pub(crate) states: Vec<BlockState>,
    /// Line marks of the blocks in `states`.
    pub(crate) lines: Vec<u8>,
    free_resident: Vec<u32>,
    free_released: Vec<u32>,
    recyclable: Vec<u32>,
    /// Blocks taken for small objects since the last sweep.
    pub(crate) fresh: Vec<u32>,
    /// Large objects allocated since the last sweep (their first block).
    pub(crate) fresh_large: Vec<u32>,
    /// The current hole: `cursor..limit`.
    cursor: usize,
    limit: usize,
    /// The overflow hole for objects larger than a line that do not fit
    /// the current hole: always in a block that was wholly free.
    ocursor: usize,
    olimit: usize,
    /// Blocks not free.
    pub(crate) used: usize,
    /// Blocks whose pages are resident.
    pub(crate) resident: usize,
    /// Bytes charged from outside the region (the value stack).
    pub(crate) external: usize,
    /// The limit in bytes.
    pub(crate) limit_bytes: usize,
    /// Where the next search for a run of free blocks starts.
    large_hint: usize,
}

impl Space {
    /// A space of `limit_bytes` whose region, once reserved, has room for
    /// `reserve_bytes` (at least the limit: the most it may be raised to).
    pub(crate) fn new(limit_bytes: usize, reserve_bytes: usize) -> Space {
        let max_blocks = (limit_bytes.max(reserve_bytes) / BLOCK_BYTES).clamp(1, MAX_BLOCKS);
        Space {
            region: Region::empty(),
            max_blocks,
            states: Vec::new(),
            lines: Vec::new(),
            free_resident: Vec::new(),
            free_released: Vec::new(),
            recyclable: Vec::new(),
            fresh: Vec::new(),
            fresh_large: Vec::new(),
            cursor: 0,
            limit: 0,
            ocursor: 0,
            olimit: 0,
            used: 0,
            resident: 0,
            external: 0,
            limit_bytes,
            large_hint: 0,
        }
    }

    /// Bytes of blocks in use plus external bytes.
    pub(crate) fn committed(&self) -> usize {
        self.used
            .saturating_mul(BLOCK_BYTES)
            .saturating_add(self.external)
    }

    /// Whether `blocks` more blocks fit the limit.
    fn blocks_fit(&self, blocks: usize) -> bool {
        self.used
            .saturating_add(blocks)
            .saturating_mul(BLOCK_BYTES)
            .saturating_add(self.external)
            <= self.limit_bytes
    }

    /// Reserves the region on first use. When the system refuses a
    /// reservation the size of the limit (a strict overcommit policy, or
    /// little address space left), it takes the largest half, quarter, ...
    /// it grants: the instance then runs with that smaller heap.
    fn ensure_region(&mut self) -> bool {
        if self.region.len() == 0 {
            let mut blocks = self.max_blocks;
            loop {
                if let Some(r) = Region::reserve(blocks * BLOCK_WORDS) {
                    self.region = r;
                    self.max_blocks = blocks;
                    break;
                }
                if blocks == 1 {
                    return false;
                }
                blocks /= 2;
            }
        }
        true
    }

    /// Allocates `words` words (zeroed only if the memory was never used:
    /// callers write every word they read). `None` when no room is left
    /// without a collection (or at all).
    #[inline]
    pub(crate) fn alloc(&mut self, words: usize) -> Option<usize> {
        // A large object never goes into a hole, however big the hole: its
        // lines are not marked, so sweeping would reuse them under it.
        if words <= self.limit - self.cursor && words <= LARGE_WORDS {
            let at = self.cursor;
            self.cursor += words;
            return Some(at);
        }
        self.alloc_slow(words)
    }

    #[cold]
    fn alloc_slow(&mut self, words: usize) -> Option<usize> {
        if words > LARGE_WORDS {
            return self.alloc_large(words);
        }
        if words > LINE_WORDS {
            // Medium: keep the current hole for small objects, use the
            // overflow hole.
            if words > self.olimit - self.ocursor {
                let b = self.take_free_block()?;
                self.ocursor = b * BLOCK_WORDS;
                self.olimit = self.ocursor + BLOCK_WORDS;
                if b == 0 {
                    self.ocursor += LINE_WORDS;
                }
            }
            let at = self.ocursor;
            self.ocursor += words;
            return Some(at);
        }
        loop {
            // The next hole of the current block, then recyclable blocks,
            // then free ones.
            if self.limit > 0 {
                let b = (self.limit - 1) / BLOCK_WORDS;
                let from = (self.limit - b * BLOCK_WORDS) / LINE_WORDS;
                if from < BLOCK_LINES && self.next_hole(b, from) {
                    if words <= self.limit - self.cursor {
                        break;
                    }
                    continue;
                }
                self.cursor = 0;
                self.limit = 0;
            }
            let b = match self.take_recyclable() {
                Some(b) => b,
                None => self.take_free_block()?,
            };
            if self.next_hole(b, 0) && words <= self.limit - self.cursor {
                break;
            }
        }
        let at = self.cursor;
        self.cursor += words;
        Some(at)
    }

    /// Moves the current hole to the next run of free lines of block `b`
    /// at or after line `from`; false when there is none.
    fn next_hole(&mut self, b: usize, from: usize) -> bool {
        let marks = &self.lines[b * BLOCK_LINES..(b + 1) * BLOCK_LINES];
        let Some(start) = (from..BLOCK_LINES).find(|&l| marks[l] == 0) else {
            return false;
        };
        let end = (start..BLOCK_LINES)
            .find(|&l| marks[l] != 0)
            .unwrap_or(BLOCK_LINES);
        self.cursor = b * BLOCK_WORDS + start * LINE_WORDS;
        self.limit = b * BLOCK_WORDS + end * LINE_WORDS;
        true
    }

    fn take_recyclable(&mut self) -> Option<usize> {
        while let Some(b) = self.recyclable.pop() {
            if self.states[b as usize] == BlockState::Recyclable {
                self.states[b as usize] = BlockState::Active;
                self.fresh.push(b);
                return Some(b as usize);
            }
        }
        None
    }

    /// A wholly free block for small objects, counted as used.
    fn take_free_block(&mut self) -> Option<usize> {
        if !self.blocks_fit(1) || !self.ensure_region() {
            return None;
        }
        let b = self.pop_free()?;
        self.states[b] = BlockState::Active;
        self.used += 1;
        self.fresh.push(b as u32);
        Some(b)
    }

    /// A free block, resident ones first, else a never-used one; marks it
    /// resident.
    fn pop_free(&mut self) -> Option<usize> {
        while let Some(b) = self.free_resident.pop() {
            if self.states[b as usize] == (BlockState::Free { resident: true }) {
                return Some(b as usize);
            }
        }
        while let Some(b) = self.free_released.pop() {
            if self.states[b as usize] == (BlockState::Free { resident: false }) {
                self.resident += 1;
                return Some(b as usize);
            }
        }
        if self.states.len() < self.max_blocks {
            let b = self.states.len();
            self.states.push(BlockState::Free { resident: true });
            self.lines.extend_from_slice(&[0; BLOCK_LINES]);
            if b == 0 {
                self.lines[0] = PERMANENT;
            }
            self.resident += 1;
            return Some(b);
        }
        None
    }

    /// A run of whole blocks for a large object.
    fn alloc_large(&mut self, words: usize) -> Option<usize> {
        let n = words.div_ceil(BLOCK_WORDS);
        if !self.blocks_fit(n) || !self.ensure_region() {
            return None;
        }
        let start = self.find_run(n)?;
        while self.states.len() < start + n {
            if self.states.is_empty() {
                // Block 0 exists before any other, with its reserved line.
                self.states.push(BlockState::Free { resident: false });
                self.lines.extend_from_slice(&[0; BLOCK_LINES]);
                self.lines[0] = PERMANENT;
                self.free_released.push(0);
                continue;
            }
            self.states.push(BlockState::Free { resident: false });
            self.lines.extend_from_slice(&[0; BLOCK_LINES]);
        }
        for b in start..start + n {
            if self.states[b] == (BlockState::Free { resident: false }) {
                self.resident += 1;
            }
            self.states[b] = BlockState::LargeTail;
        }
        self.states[start] = BlockState::LargeHead { n: n as u32 };
        self.used += n;
        self.fresh_large.push(start as u32);
        self.large_hint = start + n;
        self.make_resident_room(0);
        Some(start * BLOCK_WORDS)
    }

    /// Makes the large object at word `at` (the start of its first
    /// block) `words` words long by taking the free blocks right after
    /// it; false (nothing changed) when it is not such an object or they
    /// are not free or do not fit the limit.
    pub(crate) fn extend_large(&mut self, at: usize, words: usize) -> bool {
        if !at.is_multiple_of(BLOCK_WORDS) {
            return false;
        }
        let b = at / BLOCK_WORDS;
        let Some(BlockState::LargeHead { n }) = self.states.get(b).copied() else {
            return false;
        };
        let have = n as usize;
        let want = words.div_ceil(BLOCK_WORDS);
        if want <= have {
            return true;
        }
        if b + want > self.max_blocks || !self.blocks_fit(want - have) {
            return false;
        }
        let free = |s: Option<&BlockState>| matches!(s, None | Some(BlockState::Free { .. }));
        if !(b + have..b + want).all(|k| free(self.states.get(k))) {
            return false;
        }
        while self.states.len() < b + want {
            self.states.push(BlockState::Free { resident: false });
            self.lines.extend_from_slice(&[0; BLOCK_LINES]);
        }
        for k in b + have..b + want {
            if self.states[k] == (BlockState::Free { resident: false }) {
                self.resident += 1;
            }
            self.states[k] = BlockState::LargeTail;
        }
        self.states[b] = BlockState::LargeHead { n: want as u32 };
        self.used += want - have;
        self.make_resident_room(0);
        true
    }

    /// First run of `n` free blocks (block 0 excluded: its first line is
    /// reserved), searching from the hint, then from the start, and
    /// extending past the used blocks.
    fn find_run(&mut self, n: usize) -> Option<usize> {
        let known = self.states.len();
        let free = |s: &BlockState| matches!(s, BlockState::Free { .. });
        for from in [self.large_hint.clamp(1, known.max(1)), 1] {
            let mut run = 0;
            for b in from..known {
                if free(&self.states[b]) {
                    run += 1;
                    if run == n {
                        return Some(b + 1 - n);
                    }
                } else {
                    run = 0;
                }
            }
        }
        // A run of free blocks at the end continues into never-used ones.
        let trailing = self.states[1.min(known)..]
            .iter()
            .rev()
            .take_while(|s| free(s))
            .count();
        let start = (known - trailing).max(1);
        (start + n <= self.max_blocks).then_some(start)
    }

    /// Empties the free and recyclable lists (a major sweep refiles
    /// every block).
    pub(crate) fn clear_lists(&mut self) {
        self.free_resident.clear();
        self.free_released.clear();
        self.recyclable.clear();
    }

    /// Files free block `b` on its free list.
    pub(crate) fn file_free(&mut self, b: usize, resident: bool) {
        if resident {
            self.free_resident.push(b as u32);
        } else {
            self.free_released.push(b as u32);
        }
    }

    /// Forgets the current holes (before a collection's sweep).
    pub(crate) fn reset_holes(&mut self) {
        self.cursor = 0;
        self.limit = 0;
        self.ocursor = 0;
        self.olimit = 0;
    }

    /// Marks the lines covering `words` words at `at` (a small object).
    #[inline]
    pub(crate) fn mark_lines(&mut self, at: usize, words: usize, epoch: u8) {
        let first = at / LINE_WORDS;
        let last = (at + words.max(1) - 1) / LINE_WORDS;
        for l in first..=last.min(self.lines.len().saturating_sub(1)) {
            if self.lines[l] != PERMANENT {
                self.lines[l] = epoch;
            }
        }
    }

    /// Sweeps small-object block `b`: clears line marks other than
    /// `epoch`, then files the block as free, recyclable or full.
    /// Returns the live lines.
    pub(crate) fn sweep_block(&mut self, b: usize, epoch: u8) -> usize {
        let marks = &mut self.lines[b * BLOCK_LINES..(b + 1) * BLOCK_LINES];
        let mut live = 0;
        for m in marks.iter_mut() {
            if *m == epoch || *m == PERMANENT {
                live += 1;
            } else {
                *m = 0;
            }
        }
        if live == 0 {
            self.free_block(b);
        } else if live < BLOCK_LINES {
            self.states[b] = BlockState::Recyclable;
            self.recyclable.push(b as u32);
        } else {
            self.states[b] = BlockState::Full;
        }
        live
    }

    /// Frees block `b` (its pages stay resident).
    pub(crate) fn free_block(&mut self, b: usize) {
        self.lines[b * BLOCK_LINES..(b + 1) * BLOCK_LINES].fill(0);
        if b == 0 {
            self.lines[0] = PERMANENT;
        }
        self.states[b] = BlockState::Free { resident: true };
        self.free_resident.push(b as u32);
        self.used -= 1;
    }

    /// Frees the large object whose first block is `b`.
    pub(crate) fn free_large(&mut self, b: usize) {
        if let BlockState::LargeHead { n } = self.states[b] {
            for k in b..b + n as usize {
                self.states[k] = BlockState::LargeTail;
                self.free_block(k);
            }
        }
    }

    /// Gives resident free blocks back to the system until `extra` more
    /// external bytes would keep the resident memory within the limit.
    /// False when that is impossible.
    pub(crate) fn make_resident_room(&mut self, extra: usize) -> bool {
        let fits = |s: &Space| {
            s.resident
                .saturating_mul(BLOCK_BYTES)
                .saturating_add(s.external)
                .saturating_add(extra)
                <= s.limit_bytes
        };
        while !fits(self) {
            let Some(b) = self.free_resident.pop() else {
                break;
            };
            let b = b as usize;
            if self.states[b] != (BlockState::Free { resident: true }) {
                continue;
            }
            self.states[b] = BlockState::Free { resident: false };
            self.region.release(b * BLOCK_WORDS, BLOCK_WORDS);
            if b == 0 {
                // The reserved first line reads as zero now, as before.
            }
            self.resident -= 1;
            self.free_released.push(b as u32);
        }
        fits(self)
    }

    /// Room left under the limit, in bytes.
    pub(crate) fn room(&self) -> usize {
        self.limit_bytes.saturating_sub(self.committed())
    }
}
