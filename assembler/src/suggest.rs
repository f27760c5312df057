//! "Did you mean" suggestions: the closest known name within a small edit
//! distance. One helper for every kind of name the assembler reports as
//! unknown (instructions, labels, locals, globals, functions).
//!
//! Work is bounded: the distance is computed in a band of width
//! `2 * MAX_EDITS + 1` (linear in the name), candidates whose length is too
//! far off are skipped, and one assembly shares a [`Budget`] of character
//! comparisons after which no more suggestions are made, so a hostile file
//! with many unknown names and many long declared names stays fast.

/// The most edits a suggestion may be away from the unknown word.
pub const MAX_EDITS: usize = 2;

/// Character comparisons one assembly may spend on suggestions.
const WORK: usize = 1 << 24;

/// What is left of an assembly's suggestion work.
pub struct Budget(usize);

impl Budget {
    /// The budget of one assembly.
    pub fn new() -> Budget {
        Budget(WORK)
    }

    fn spend(&mut self, work: usize) -> bool {
        match self.0.checked_sub(work) {
            Some(left) => {
                self.0 = left;
                true
            }
            None => {
                self.0 = 0;
                false
            }
        }
    }
}

/// The candidate closest to `word`, when it is at most [`MAX_EDITS`]
/// edits away and fewer edits than `word` has characters (so a one-letter
/// word is never "corrected" to another). Ties go to the candidate that
/// sorts first, so the answer does not depend on the candidates' order.
pub fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    budget: &mut Budget,
) -> Option<&'a str> {
    let w: Vec<char> = word.chars().collect();
    let mut best: Option<(usize, &'a str)> = None;
    let mut c = Vec::new();
    for cand in candidates {
        // Byte lengths bound character counts: a candidate whose byte
        // length is off by more than 4 * MAX_EDITS cannot be close.
        if cand.len().abs_diff(word.len()) > 4 * MAX_EDITS || cand == word {
            continue;
        }
        if !budget.spend(cand.len() * (2 * MAX_EDITS + 1) + 1) {
            break;
        }
        c.clear();
        c.extend(cand.chars());
        let Some(d) = distance_within(&w, &c, MAX_EDITS) else {
            continue;
        };
        if d < w.len() && best.is_none_or(|b| (d, cand) < b) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// `"; did you mean `NAME`?"` for the closest candidate, or nothing.
pub fn hint<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    budget: &mut Budget,
) -> String {
    match closest(word, candidates, budget) {
        Some(c) => format!("; did you mean `{c}`?"),
        None => String::new(),
    }
}

/// The Levenshtein distance of `a` and `b` when it is at most `k`.
/// Only cells within `k` of the diagonal are computed.
fn distance_within(a: &[char], b: &[char], k: usize) -> Option<usize> {
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > k {
        return None;
    }
    let inf = k + 1;
    let mut prev: Vec<usize> = (0..=m).map(|j| if j <= k { j } else { inf }).collect();
    let mut cur = vec![inf; m + 1];
    for i in 1..=n {
        let lo = i.saturating_sub(k).max(1);
        let hi = (i + k).min(m);
        cur[lo - 1] = if lo == 1 && i <= k { i } else { inf };
        let mut row_min = cur[lo - 1];
        for j in lo..=hi {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            let v = sub.min(prev[j] + 1).min(cur[j - 1] + 1).min(inf);
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if hi < m {
            cur[hi + 1] = inf;
        }
        if row_min > k {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[m] <= k).then_some(prev[m])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain full-table distance.
    fn full(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1; b.len() + 1];
            for (j, cb) in b.iter().enumerate() {
                cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1);
            }
            prev = cur;
        }
        prev[b.len()]
    }

    #[test]
    fn banded_distance_agrees_with_the_full_table() {
        let words = [
            "", "a", "ab", "ba", "abc", "acb", "loop", "lop", "lopo", "looop", "top", "stop", "éa",
            "aé", "kitten", "sitting", "sittin", "xyzzy",
        ];
        for a in words {
            for b in words {
                let ca: Vec<char> = a.chars().collect();
                let cb: Vec<char> = b.chars().collect();
                for k in 0..4 {
                    let d = full(a, b);
                    let want = (d <= k).then_some(d);
                    assert_eq!(distance_within(&ca, &cb, k), want, "{a:?} {b:?} k={k}");
                }
            }
        }
    }

    #[test]
    fn picks_the_closest_and_breaks_ties_by_name() {
        let mut b = Budget::new();
        assert_eq!(
            closest("lop", ["loop", "top", "stop"], &mut b),
            Some("loop")
        );
        assert_eq!(closest("x", ["y", "xy"], &mut b), None);
        assert_eq!(closest("cnt", ["cat", "cut"], &mut b), Some("cat"));
        assert_eq!(closest("cnt", ["cut", "cat"], &mut b), Some("cat"));
        assert_eq!(closest("counter", ["total"], &mut b), None);
        assert_eq!(hint("totl", ["total"], &mut b), "; did you mean `total`?");
    }

    #[test]
    fn a_spent_budget_stops_suggesting() {
        let mut b = Budget(10);
        let long = "x".repeat(100);
        let cands = [long.as_str()];
        assert_eq!(closest(&"x".repeat(99), cands, &mut b), None);
        assert_eq!(b.0, 0);
    }
}
