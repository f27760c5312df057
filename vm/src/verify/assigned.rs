//! Definite assignment (rule V9) in time and memory linear in the code.
//!
//! Two parts:
//!
//! - [`tracked_locals`] picks the locals that need tracking across blocks:
//!   non-parameter `str`/array/map locals with at least one *upward-exposed*
//!   load, a load that no store of the same local precedes in its basic
//!   block. Every other load is preceded by a store on every path (the one
//!   just before it), so untracked locals cost nothing per block.
//! - [`SetTable`] holds the definitely-assigned sets, one per program point
//!   the worklist keeps, as hash-consed persistent radix tries over the
//!   tracked locals' indices: a leaf is a 64-bit word, an inner node has 16
//!   children, node 0 is the empty set at every level. Equal sets are the
//!   same id, so blocks that share a set (every block of code without
//!   stores) share one node; the stores of a basic block are applied
//!   together where the block ends ([`SetTable::insert_all`] builds each
//!   touched node once); an intersection at a join visits only the nodes where the two sets
//!   differ, and is memoized. Every node visited by an intersection is
//!   reported as one unit of work, which the verifier charges against the
//!   same linear budget as instruction visits (rule V13), so the total
//!   time and memory stay linear in the function's size whatever its
//!   control flow.
//!
//! The sets computed are exactly those of the textbook analysis (the
//! intersection over all paths), so which programs are accepted does not
//! depend on the representation.

use std::collections::HashMap;

use crate::isa::{Instr, Opcode, Operand};
use crate::types::Type;

/// Children per inner node.
const FANOUT: usize = 16;
/// Bits of a key consumed per inner level.
const FANOUT_BITS: u32 = 4;

/// Chooses the locals definite assignment must track. Returns, per local,
/// its index among the tracked ones (`u32::MAX` when untracked), and the
/// number tracked. `leader[i]` marks the first instruction of each basic
/// block.
pub(super) fn tracked_locals(
    instrs: &[(u32, Instr)],
    leader: &[bool],
    local_types: &[Type],
    num_params: usize,
) -> (Vec<u32>, u32) {
    let candidate: Vec<bool> = local_types
        .iter()
        .enumerate()
        .map(|(i, t)| i >= num_params && t.is_ref())
        .collect();
    // stored_in[l] == block number + 1 when local l was stored earlier in
    // the current block.
    let mut stored_in = vec![0u32; local_types.len()];
    let mut exposed = vec![false; local_types.len()];
    let mut block = 0u32;
    for (i, (_, ins)) in instrs.iter().enumerate() {
        if leader.get(i).copied().unwrap_or(false) {
            block += 1;
        }
        let Operand::Local(l) = ins.operand else {
            continue;
        };
        let l = l as usize;
        if l >= local_types.len() || !candidate[l] {
            // Out-of-range indices are reported when the instruction is
            // typed (V1).
            continue;
        }
        match ins.op {
            Opcode::Store => stored_in[l] = block,
            Opcode::Load if stored_in[l] != block => exposed[l] = true,
            _ => {}
        }
    }
    let mut index = vec![u32::MAX; local_types.len()];
    let mut n = 0u32;
    for (l, e) in exposed.iter().enumerate() {
        if *e {
            index[l] = n;
            n += 1;
        }
    }
    (index, n)
}

/// An interned set: an id at the table's root level.
pub(super) type SetId = u32;

/// The empty set.
pub(super) const EMPTY: SetId = 0;

/// Hash-consed persistent sets of small integers (see the module docs).
pub(super) struct SetTable {
    /// Level of the root: 0 when every key fits one leaf.
    root_level: u32,
    leaves: Vec<u64>,
    leaf_ids: HashMap<u64, u32>,
    inner: Vec<[u32; FANOUT]>,
    inner_ids: HashMap<[u32; FANOUT], u32>,
    /// Intersections already computed: (level, a, b) with a < b.
    memo: HashMap<(u32, u32, u32), u32>,
}

impl SetTable {
    /// A table for keys `0..keys`.
    pub(super) fn new(keys: u32) -> SetTable {
        let mut root_level = 0;
        let mut span = 64u64;
        while span < u64::from(keys) {
            span <<= FANOUT_BITS;
            root_level += 1;
        }
        let mut t = SetTable {
            root_level,
            leaves: Vec::new(),
            leaf_ids: HashMap::new(),
            inner: Vec::new(),
            inner_ids: HashMap::new(),
            memo: HashMap::new(),
        };
        t.leaf(0);
        t.node([0; FANOUT]);
        t
    }

    fn leaf(&mut self, bits: u64) -> u32 {
        if let Some(&id) = self.leaf_ids.get(&bits) {
            return id;
        }
        let id = self.leaves.len() as u32;
        self.leaves.push(bits);
        self.leaf_ids.insert(bits, id);
        id
    }

    fn node(&mut self, children: [u32; FANOUT]) -> u32 {
        if let Some(&id) = self.inner_ids.get(&children) {
            return id;
        }
        let id = self.inner.len() as u32;
        self.inner.push(children);
        self.inner_ids.insert(children, id);
        id
    }

    /// Which child of a level-`level` node holds `key`.
    fn child_index(level: u32, key: u32) -> usize {
        ((key >> (6 + FANOUT_BITS * (level - 1))) as usize) & (FANOUT - 1)
    }

    /// Whether `key` is in `set`.
    pub(super) fn contains(&self, set: SetId, key: u32) -> bool {
        let mut id = set;
        let mut level = self.root_level;
        while level > 0 {
            if id == 0 {
                return false;
            }
            id = self.inner[id as usize][Self::child_index(level, key)];
            level -= 1;
        }
        self.leaves[id as usize] & (1 << (key % 64)) != 0
    }

    /// `set` with `key` added (the verifier adds a block's keys together
    /// with [`SetTable::insert_all`]).
    #[cfg(test)]
    pub(super) fn insert(&mut self, set: SetId, key: u32) -> SetId {
        self.insert_at(self.root_level, set, key)
    }

    #[cfg(test)]
    fn insert_at(&mut self, level: u32, id: u32, key: u32) -> u32 {
        if level == 0 {
            let bits = self.leaves[id as usize] | (1 << (key % 64));
            return self.leaf(bits);
        }
        let mut children = self.inner[id as usize];
        let c = Self::child_index(level, key);
        children[c] = self.insert_at(level - 1, children[c], key);
        self.node(children)
    }

    /// `set` with every key of `keys` added (`keys` is sorted in place).
    /// Each node on the touched paths is built once, however many keys
    /// share it: this is how the stores of one basic block are applied.
    pub(super) fn insert_all(&mut self, set: SetId, keys: &mut [u32]) -> SetId {
        keys.sort_unstable();
        self.insert_run(self.root_level, set, keys)
    }

    fn insert_run(&mut self, level: u32, id: u32, keys: &[u32]) -> u32 {
        if keys.is_empty() {
            return id;
        }
        if level == 0 {
            let bits = keys
                .iter()
                .fold(self.leaves[id as usize], |b, k| b | (1 << (k % 64)));
            return self.leaf(bits);
        }
        let mut children = self.inner[id as usize];
        let mut rest = keys;
        while let Some(&first) = rest.first() {
            let c = Self::child_index(level, first);
            let run = rest.partition_point(|k| Self::child_index(level, *k) == c);
            children[c] = self.insert_run(level - 1, children[c], &rest[..run]);
            rest = &rest[run..];
        }
        self.node(children)
    }

    /// The intersection of `a` and `b`, adding the nodes it visited to
    /// `work`.
    pub(super) fn intersect(&mut self, a: SetId, b: SetId, work: &mut usize) -> SetId {
        self.intersect_at(self.root_level, a, b, work)
    }

    fn intersect_at(&mut self, level: u32, a: u32, b: u32, work: &mut usize) -> u32 {
        if a == b {
            return a;
        }
        if a == 0 || b == 0 {
            return 0;
        }
        let key = (level, a.min(b), a.max(b));
        if let Some(&id) = self.memo.get(&key) {
            return id;
        }
        *work += 1;
        let id = if level == 0 {
            let bits = self.leaves[a as usize] & self.leaves[b as usize];
            self.leaf(bits)
        } else {
            let (ca, cb) = (self.inner[a as usize], self.inner[b as usize]);
            let mut children = [0; FANOUT];
            for (c, (x, y)) in children.iter_mut().zip(ca.iter().zip(&cb)) {
                *c = self.intersect_at(level - 1, *x, *y, work);
            }
            self.node(children)
        };
        self.memo.insert(key, id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference model: sets as `BTreeSet`s.
    fn model_check(keys: u32, seed: u64) {
        use std::collections::BTreeSet;
        let mut t = SetTable::new(keys);
        let mut rng = seed;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut sets: Vec<(SetId, BTreeSet<u32>)> = vec![(EMPTY, BTreeSet::new())];
        let mut touched: BTreeSet<u32> = [0, keys - 1].into();
        let mut work = 0;
        for _ in 0..400 {
            let i = (next() % sets.len() as u64) as usize;
            if next() % 3 == 0 {
                let j = (next() % sets.len() as u64) as usize;
                let id = t.intersect(sets[i].0, sets[j].0, &mut work);
                let m = sets[i].1.intersection(&sets[j].1).copied().collect();
                sets.push((id, m));
            } else {
                let k = (next() % u64::from(keys)) as u32;
                let k2 = (next() % u64::from(keys)) as u32;
                touched.extend([k, k2, (k + 1) % keys]);
                let mut m = sets[i].1.clone();
                let id = if next() % 2 == 0 {
                    m.insert(k);
                    t.insert(sets[i].0, k)
                } else {
                    m.extend([k, k2, (k + 1) % keys]);
                    t.insert_all(sets[i].0, &mut [k2, k, (k + 1) % keys])
                };
                sets.push((id, m));
            }
        }
        for (id, m) in &sets {
            for k in &touched {
                assert_eq!(t.contains(*id, *k), m.contains(k), "key {k}");
            }
        }
        // Hash-consing: equal sets have equal ids.
        for (a, ma) in &sets {
            for (b, mb) in &sets {
                assert_eq!(a == b, ma == mb);
            }
        }
    }

    #[test]
    fn sets_match_a_model_at_every_height() {
        for (keys, seed) in [(1, 1), (64, 2), (65, 3), (1000, 4), (5000, 5), (65_535, 6)] {
            model_check(keys, seed);
        }
    }

    #[test]
    fn an_intersection_visits_only_what_differs() {
        let mut t = SetTable::new(65_535);
        let mut all = EMPTY;
        for k in 0..65_535 {
            all = t.insert(all, k);
        }
        let seven = t.insert(EMPTY, 7);
        let fewer = t.insert(seven, 60_000);
        let mut almost = EMPTY;
        for k in 0..65_535 {
            if k != 30_000 {
                almost = t.insert(almost, k);
            }
        }
        let mut work = 0;
        assert_eq!(t.intersect(all, all, &mut work), all);
        assert_eq!(work, 0);
        let i = t.intersect(all, almost, &mut work);
        assert_eq!(i, almost);
        // One path: root, two inner levels below it, one leaf.
        assert!(work <= 4, "{work}");
        let j = t.intersect(fewer, almost, &mut work);
        assert_eq!(j, fewer);
    }
}
