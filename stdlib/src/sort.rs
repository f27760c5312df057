//! A stable sort that stops part-way when the run is interrupted.
//!
//! `array.sort` of tens of millions of elements takes long enough that the
//! deadline must be honoured inside it. The slice is sorted in runs of
//! [`RUN`] elements with the standard library's stable sort, then the runs
//! are merged pairwise, bottom-up, between the slice and one buffer of the
//! same length, looking at the interrupt flag every [`POLL_STEP`] elements.
//!
//! **Invariant.** Whether it finishes or stops, the slice holds a
//! permutation of its original elements: a merge pass only reads its
//! source, so on an interrupt the source (slice or buffer) is intact and is
//! copied back if it is the buffer.

use std::cmp::Ordering;

use keel_vm::{POLL_STEP, Trap};

/// Elements per initial run, each sorted in one call.
const RUN: usize = 4096;

/// Sorts `v` stably by `cmp`, calling `poll` every [`POLL_STEP`] elements
/// of work; stops with its error, leaving `v` a permutation of itself.
pub(crate) fn sort_polled<T: Copy>(
    v: &mut [T],
    mut cmp: impl FnMut(&T, &T) -> Ordering,
    mut poll: impl FnMut() -> Result<(), Trap>,
) -> Result<(), Trap> {
    let n = v.len();
    let mut since = 0;
    for run in v.chunks_mut(RUN) {
        run.sort_by(&mut cmp);
        since += run.len();
        if since >= POLL_STEP {
            poll()?;
            since = 0;
        }
    }
    if n <= RUN {
        return Ok(());
    }
    let mut buf: Vec<T> = v.to_vec();
    let mut width = RUN;
    let mut in_v = true;
    while width < n {
        let done = if in_v {
            merge_pass(v, &mut buf, width, &mut cmp, &mut poll)
        } else {
            merge_pass(&buf, v, width, &mut cmp, &mut poll)
        };
        if let Err(t) = done {
            if !in_v {
                v.copy_from_slice(&buf);
            }
            return Err(t);
        }
        in_v = !in_v;
        width = width.saturating_mul(2);
    }
    if !in_v {
        v.copy_from_slice(&buf);
    }
    Ok(())
}

/// Merges each pair of adjacent sorted runs of `width` from `src` into
/// `dst` (a lone last run is copied).
fn merge_pass<T: Copy>(
    src: &[T],
    dst: &mut [T],
    width: usize,
    cmp: &mut impl FnMut(&T, &T) -> Ordering,
    poll: &mut impl FnMut() -> Result<(), Trap>,
) -> Result<(), Trap> {
    let n = src.len();
    let mut since = 0;
    let mut start = 0;
    while start < n {
        let mid = start.saturating_add(width).min(n);
        let end = mid.saturating_add(width).min(n);
        let (mut i, mut j, mut k) = (start, mid, start);
        while i < mid && j < end {
            // Take from the right only when strictly smaller: stable.
            if cmp(&src[j], &src[i]) == Ordering::Less {
                dst[k] = src[j];
                j += 1;
            } else {
                dst[k] = src[i];
                i += 1;
            }
            k += 1;
            since += 1;
            if since >= POLL_STEP {
                poll()?;
                since = 0;
            }
        }
        dst[k..k + (mid - i)].copy_from_slice(&src[i..mid]);
        k += mid - i;
        dst[k..k + (end - j)].copy_from_slice(&src[j..end]);
        start = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 33
    }

    #[test]
    fn sorts_stably_at_every_size_around_the_run_length() {
        let mut seed = 7;
        for n in [0, 1, 2, 100, RUN - 1, RUN, RUN + 1, 3 * RUN + 17, 70_000] {
            // (key, original position): stability shows in the positions.
            let mut v: Vec<(u64, usize)> = (0..n).map(|i| (lcg(&mut seed) % 50, i)).collect();
            let mut want = v.clone();
            want.sort_by_key(|p| p.0);
            sort_polled(&mut v, |a, b| a.0.cmp(&b.0), || Ok(())).unwrap();
            assert_eq!(v, want, "n = {n}");
        }
    }

    #[test]
    fn an_interrupt_leaves_a_permutation() {
        let mut seed = 3;
        for stop_after in 0..6 {
            let orig: Vec<u64> = (0..200_000).map(|_| lcg(&mut seed)).collect();
            let mut v = orig.clone();
            let mut polls = 0;
            let r = sort_polled(
                &mut v,
                |a, b| a.cmp(b),
                || {
                    polls += 1;
                    if polls > stop_after {
                        Err(Trap::new(keel_vm::TrapCode::Interrupted, "interrupted"))
                    } else {
                        Ok(())
                    }
                },
            );
            assert!(r.is_err());
            let (mut a, mut b) = (orig, v);
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b, "stopped after {stop_after} polls");
        }
    }
}
