//! Loop regions: loops whose arrays are read through locals or globals the
//! loop never stores, and in which no Rust code runs, so each array's
//! element data address and length can be read once, where the loop is
//! entered, into the native frame, instead of from the array's header at
//! every access.
//!
//! **Invariant.** Inside a region (ops `head..=last`, `last` its last back
//! edge), a key's native-frame slot holds the data address and length of
//! the array the key refers to. It holds because:
//! - every way into the region from outside goes through the loads at
//!   `head` (fall-through, jumps from outside, OSR entry there), or runs
//!   them itself (OSR entry at a loop nested inside): back edges from
//!   inside jump past the loads, and a loop with a jump from outside into
//!   its middle is not a region;
//! - nothing inside stores to the key (`store`, `gstore`), and no helper or
//!   Keel call runs inside it (the first compile pass records where each
//!   may run, see [`Facts`]), so neither the key nor the array's buffer
//!   can change: only `array.push`, which only Rust code runs, moves a
//!   buffer, and the collector does not move objects. The refuel, grow and
//!   trap stubs that do call Rust there run no Keel code and allocate no
//!   object.
//!
//! A region with inlined calls (see `inline`) also keeps a flag slot: set
//! where the region is entered when the depth limit and the value stack's
//! room would let the largest of its inlined calls through. Neither can
//! get worse inside a region (no Keel frame is pushed, and growing the
//! value stack only adds room), so while the flag is set each inlined call
//! tests it instead of making both checks; when it is clear, the call
//! makes them, out of line, and traps where the interpreter would.
//!
//! The compiler makes a first pass with no regions, recording [`Facts`];
//! [`plan`] turns them into regions; a second pass compiles with them and
//! is kept only if its own facts still make every region clean.

use std::collections::HashSet;

use super::cache::Loc;
use crate::verify::Op;

/// Most keys one function keeps in its native frame (16 bytes each).
pub(super) const MAX_KEYS: usize = 8;

/// What one compile pass saw, by op index from the function's start.
#[derive(Default)]
pub(super) struct Facts {
    /// Ops at which compiled code may run Rust code that can run Keel code
    /// or move an array's buffer (helpers and Keel calls).
    pub(super) rust: Vec<usize>,
    /// Array accesses (`array.get`, `array.set`, `array.len`) through a
    /// key: (op, key).
    pub(super) uses: Vec<(usize, Loc)>,
    /// Stores to a key: (op, key).
    pub(super) stores: Vec<(usize, Loc)>,
    /// Inlined calls: (op, bytes the callee's frame needs past the frame
    /// base, as the value-stack room check takes it).
    pub(super) inlined: Vec<(usize, i32)>,
}

/// A loop region and the native-frame slot of each of its keys.
pub(super) struct Region {
    pub(super) head: usize,
    pub(super) last: usize,
    /// (key, byte offset from `rsp` of its data address; its length is 8
    /// bytes above).
    pub(super) keys: Vec<(Loc, i32)>,
    /// With inlined calls: the most room any of them needs, and the byte
    /// offset from `rsp` of the flag that says it is there.
    pub(super) calls: Option<(i32, i32)>,
}

impl Region {
    pub(super) fn contains(&self, i: usize) -> bool {
        (self.head..=self.last).contains(&i)
    }
}

/// The jump target of `op`, as an index into the function's ops (`start`
/// is the function's first op in the module).
fn target(op: Op, start: usize) -> Option<usize> {
    match op {
        Op::Jmp(t) | Op::JmpIf(t) | Op::JmpIfNot(t) => (t as usize).checked_sub(start),
        _ => None,
    }
}

/// The regions of a function of `code` (its ops, the first at `start` in
/// the module), given the facts of a compile pass without regions (whose
/// lists are in op order, as the pass made them); `base` is the `rsp`
/// offset of the first key slot. Regions never overlap: a clean loop's
/// nested loops are part of it.
///
/// Linear in the function's size: the ranges scanned for loops that turn
/// out not to be regions (and so leave their nested loops to be looked at
/// again) are counted against a budget of a few times the size, past which
/// no more regions are planned.
pub(super) fn plan(code: &[Op], start: usize, facts: &Facts, base: i32) -> Vec<Region> {
    let n = code.len();
    // Each loop header's last back edge, and every jump by target.
    let mut last: Vec<Option<usize>> = vec![None; n];
    let mut into: Vec<(usize, usize)> = Vec::new();
    for (i, op) in code.iter().enumerate() {
        if let Some(t) = target(*op, start).filter(|&t| t < n) {
            into.push((t, i));
            if t <= i {
                last[t] = Some(last[t].map_or(i, |l: usize| l.max(i)));
            }
        }
    }
    into.sort_unstable();
    // Ops at which Rust code may run, counted up to each op.
    let mut rust = vec![0u32; n + 1];
    for &i in &facts.rust {
        if let Some(r) = rust.get_mut(i + 1) {
            *r += 1;
        }
    }
    for i in 0..n {
        rust[i + 1] += rust[i];
    }
    // The entries of an op-ordered list inside `head..=last`.
    fn within<T>(list: &[(usize, T)], head: usize, last: usize) -> &[(usize, T)] {
        let lo = list.partition_point(|&(i, _)| i < head);
        let hi = list.partition_point(|&(i, _)| i <= last);
        &list[lo..hi.max(lo)]
    }
    let mut budget = 4 * n + 4096;
    let mut regions = Vec::new();
    let mut next_slot = 0;
    let mut covered: Option<usize> = None;
    for head in 0..n {
        let Some(last) = last[head] else { continue };
        if covered.is_some_and(|c| head <= c) {
            continue;
        }
        if rust[last + 1] != rust[head] {
            continue;
        }
        let uses = within(&facts.uses, head, last);
        let inlined = within(&facts.inlined, head, last);
        if uses.is_empty() && inlined.is_empty() {
            continue;
        }
        let jumps = within(&into, head + 1, last);
        let stores = within(&facts.stores, head, last);
        let cost = uses.len() + inlined.len() + jumps.len() + stores.len();
        if cost > budget {
            break;
        }
        budget -= cost;
        let inside = |i: usize| (head..=last).contains(&i);
        if jumps.iter().any(|&(_, from)| !inside(from)) {
            continue;
        }
        // The keys used inside and never stored there, most used first.
        let stored: HashSet<Loc> = stores.iter().map(|&(_, k)| k).collect();
        let mut counts: Vec<(Loc, usize)> = Vec::new();
        for &(_, key) in uses {
            if stored.contains(&key) {
                continue;
            }
            if let Some(c) = counts.iter_mut().find(|(k, _)| *k == key) {
                c.1 += 1;
            } else if counts.len() < 4 * MAX_KEYS {
                counts.push((key, 1));
            }
        }
        counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        let flag = !inlined.is_empty() && next_slot < MAX_KEYS;
        counts.truncate(MAX_KEYS.saturating_sub(next_slot + usize::from(flag)));
        if counts.is_empty() && !flag {
            continue;
        }
        let keys = counts
            .into_iter()
            .map(|(k, _)| {
                let off = base + 16 * next_slot as i32;
                next_slot += 1;
                (k, off)
            })
            .collect();
        let calls = flag.then(|| {
            let off = base + 16 * next_slot as i32;
            next_slot += 1;
            let need = inlined.iter().map(|&(_, n)| n).max().unwrap_or(0);
            (need, off)
        });
        regions.push(Region {
            head,
            last,
            keys,
            calls,
        });
        covered = Some(last);
    }
    regions
}

/// Whether the facts of a pass compiled with `regions` keep them clean.
pub(super) fn still_clean(regions: &[Region], facts: &Facts) -> bool {
    regions.iter().all(|r| {
        !facts.rust.iter().any(|&i| r.contains(i))
            && !facts
                .stores
                .iter()
                .any(|&(i, k)| r.contains(i) && r.keys.iter().any(|&(key, _)| key == k))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jmp(t: u32) -> Op {
        Op::Jmp(t)
    }

    #[test]
    fn a_clean_loop_gets_its_keys_and_nested_loops_join_it() {
        // 0: outer header, 2: inner header, 4: inner back edge, 5: outer.
        let code = [Op::Nop, Op::Nop, Op::Nop, Op::Nop, jmp(2), jmp(0), Op::Nop];
        let facts = Facts {
            rust: vec![6],
            uses: vec![(3, Loc::Global(1)), (3, Loc::Local(2)), (1, Loc::Local(2))],
            inlined: vec![(1, 96), (3, 128)],
            stores: vec![],
        };
        let r = plan(&code, 0, &facts, 16);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].head, r[0].last), (0, 5));
        assert_eq!(r[0].keys, vec![(Loc::Local(2), 16), (Loc::Global(1), 32)]);
        // The flag covers the larger call, in the slot after the keys.
        assert_eq!(r[0].calls, Some((128, 48)));
    }

    #[test]
    fn a_loop_with_only_inlined_calls_is_a_region() {
        let code = [Op::Nop, Op::Nop, jmp(0), Op::Nop];
        let facts = Facts {
            inlined: vec![(1, 64)],
            ..Facts::default()
        };
        let r = plan(&code, 0, &facts, 16);
        assert_eq!(r.len(), 1);
        assert!(r[0].keys.is_empty());
        assert_eq!(r[0].calls, Some((64, 16)));
    }

    #[test]
    fn rust_code_or_a_store_keeps_a_key_out() {
        let code = [Op::Nop, Op::Nop, Op::Nop, Op::Nop, jmp(2), jmp(0), Op::Nop];
        // Rust code in the outer loop only: the inner loop is the region.
        let facts = Facts {
            rust: vec![1],
            uses: vec![(3, Loc::Global(1)), (3, Loc::Local(2))],
            stores: vec![(2, Loc::Local(2))],
            inlined: vec![],
        };
        let r = plan(&code, 0, &facts, 16);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].head, r[0].last), (2, 4));
        assert_eq!(r[0].keys, vec![(Loc::Global(1), 16)]);
        assert!(still_clean(&r, &facts));
        let later = Facts {
            rust: vec![3],
            ..Facts::default()
        };
        assert!(!still_clean(&r, &later));
    }

    #[test]
    fn a_loop_entered_in_the_middle_is_not_a_region() {
        // 0 jumps into the loop 1..=3 past its header.
        let code = [jmp(2), Op::Nop, Op::Nop, jmp(1), Op::Nop];
        let facts = Facts {
            uses: vec![(2, Loc::Local(0))],
            ..Facts::default()
        };
        assert!(plan(&code, 0, &facts, 16).is_empty());
    }
}
