//! The instance's heap memory: one reserved, contiguous range of 64-bit
//! words that objects are laid out in, named by 32-bit word offsets.
//!
//! **Invariant.** Every access goes through [`Region::words`] /
//! [`Region::words_mut`], which check the range against the reservation,
//! so an offset, however wrong, reads or writes memory of this region and
//! never anything outside it (the compressed-pointer property: at worst a
//! wrong reference names the wrong object of the same instance).
//!
//! On Unix the range is an anonymous private mapping reserved without
//! swap (`MAP_NORESERVE`): pages cost nothing until first written, so a
//! heap limit of gigabytes costs no memory up front, and pages of free
//! blocks can be handed back to the system ([`Region::release`]). Elsewhere
//! it is one zeroed allocation, which common allocators also map lazily.

use std::ptr::NonNull;

/// Reserved heap memory.
pub(crate) struct Region {
    base: NonNull<u64>,
    /// Length in words.
    len: usize,
    #[cfg(not(unix))]
    _backing: Vec<u64>,
}

// SAFETY: the region is plain memory owned by this value alone; moving it
// to another thread moves that ownership.
unsafe impl Send for Region {}

impl Region {
    /// An empty region (no memory; every access is out of range).
    pub(crate) fn empty() -> Region {
        Region {
            base: NonNull::dangling(),
            len: 0,
            #[cfg(not(unix))]
            _backing: Vec::new(),
        }
    }

    /// Reserves `words` words, zeroed. `None` when the system refuses.
    #[cfg(unix)]
    pub(crate) fn reserve(words: usize) -> Option<Region> {
        use rustix::mm::{MapFlags, ProtFlags, mmap_anonymous};
        if words == 0 {
            return Some(Region::empty());
        }
        let bytes = words.checked_mul(8)?;
        // SAFETY: a fresh anonymous mapping at an address the system
        // chooses; it aliases nothing, and `Drop` unmaps exactly it.
        let p = unsafe {
            mmap_anonymous(
                std::ptr::null_mut(),
                bytes,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }
        .ok()?;
        Some(Region {
            base: NonNull::new(p.cast::<u64>())?,
            len: words,
        })
    }

    /// Reserves `words` words, zeroed. `None` when the system refuses.
    #[cfg(not(unix))]
    pub(crate) fn reserve(words: usize) -> Option<Region> {
        let mut v: Vec<u64> = Vec::new();
        v.try_reserve_exact(words).ok()?;
        v.resize(words, 0);
        Some(Region {
            base: NonNull::new(v.as_mut_ptr())?,
            len: words,
            _backing: v,
        })
    }

    /// The address of word 0, for compiled code, which reads array
    /// headers and elements in place (see `jit::compile`); it stays the
    /// same for the region's life.
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    pub(crate) fn raw_base(&self) -> *mut u64 {
        self.base.as_ptr()
    }

    /// Length in words.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The words `at..at + n`.
    ///
    /// # Panics
    ///
    /// When the range is outside the region (a heap invariant violation).
    #[inline]
    pub(crate) fn words(&self, at: usize, n: usize) -> &[u64] {
        check(at, n, self.len);
        // SAFETY: `check` proved `at + n <= len`; the region's `len` words
        // are mapped, initialized (zero or written) and owned by `self`,
        // which this borrow keeps from being written meanwhile.
        unsafe { std::slice::from_raw_parts(self.base.as_ptr().add(at), n) }
    }

    /// The words `at..at + n`, writable.
    ///
    /// # Panics
    ///
    /// When the range is outside the region (a heap invariant violation).
    #[inline]
    pub(crate) fn words_mut(&mut self, at: usize, n: usize) -> &mut [u64] {
        check(at, n, self.len);
        // SAFETY: as in `words`, and the `&mut self` borrow makes this the
        // only access to the region while the slice lives.
        unsafe { std::slice::from_raw_parts_mut(self.base.as_ptr().add(at), n) }
    }

    /// One word.
    ///
    /// # Panics
    ///
    /// When `at` is outside the region (a heap invariant violation).
    #[inline]
    pub(crate) fn get(&self, at: usize) -> u64 {
        if at >= self.len {
            out_of_region(at, 1, self.len);
        }
        // SAFETY: `at < len` (checked above): the word is mapped,
        // initialized and owned by `self`, and `base` is 8-aligned.
        unsafe { self.base.as_ptr().add(at).read() }
    }

    /// Writes one word.
    ///
    /// # Panics
    ///
    /// When `at` is outside the region (a heap invariant violation).
    #[inline]
    pub(crate) fn set(&mut self, at: usize, w: u64) {
        if at >= self.len {
            out_of_region(at, 1, self.len);
        }
        // SAFETY: as in `get`; `&mut self` makes this the only access.
        unsafe { self.base.as_ptr().add(at).write(w) }
    }

    /// Bytes `0..n` of the words starting at `at`.
    #[inline]
    pub(crate) fn bytes(&self, at: usize, n: usize) -> &[u8] {
        let w = self.words(at, n.div_ceil(8));
        // SAFETY: `w` covers at least `n` bytes of initialized memory, and
        // `u8` has no alignment or validity requirements.
        unsafe { std::slice::from_raw_parts(w.as_ptr().cast::<u8>(), n) }
    }

    /// Bytes `0..n` of the words starting at `at`, writable.
    #[inline]
    pub(crate) fn bytes_mut(&mut self, at: usize, n: usize) -> &mut [u8] {
        let w = self.words_mut(at, n.div_ceil(8));
        // SAFETY: as in `bytes`, through the unique borrow of `w`.
        unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr().cast::<u8>(), n) }
    }

    /// Bytes `0..n` of the words at `src` to read, and bytes `0..m` of the
    /// words at `dst` to write; the two ranges must not overlap.
    ///
    /// # Panics
    ///
    /// When a range is outside the region or they overlap (a heap
    /// invariant violation).
    pub(crate) fn split_bytes(
        &mut self,
        src: usize,
        n: usize,
        dst: usize,
        m: usize,
    ) -> (&[u8], &mut [u8]) {
        let (sw, dw) = (n.div_ceil(8), m.div_ceil(8));
        check(src, sw, self.len);
        check(dst, dw, self.len);
        if sw > 0 && dw > 0 && src < dst + dw && dst < src + sw {
            out_of_region(dst, dw, self.len);
        }
        // SAFETY: both ranges are inside the region (checked above) and do
        // not overlap (checked above), so a shared slice of one and a
        // unique slice of the other alias nothing; `&mut self` keeps any
        // other access out while they live.
        unsafe {
            let base = self.base.as_ptr();
            (
                std::slice::from_raw_parts(base.add(src).cast::<u8>(), n),
                std::slice::from_raw_parts_mut(base.add(dst).cast::<u8>(), m),
            )
        }
    }

    /// Copies `n` words from `from` to `to` (the ranges may overlap).
    pub(crate) fn copy_words(&mut self, from: usize, to: usize, n: usize) {
        check(from, n, self.len);
        check(to, n, self.len);
        // SAFETY: both ranges are inside the region (checked above), and
        // `copy` allows overlap.
        unsafe {
            std::ptr::copy(self.base.as_ptr().add(from), self.base.as_ptr().add(to), n);
        }
    }

    /// Gives the pages of words `at..at + n` back to the system; they read
    /// as zero afterwards. A no-op where the system cannot do it.
    pub(crate) fn release(&mut self, at: usize, n: usize) {
        check(at, n, self.len);
        #[cfg(unix)]
        {
            // SAFETY: the range is inside our own private anonymous mapping
            // (checked above) and nothing borrows it (`&mut self`);
            // `MADV_DONTNEED` on such a mapping makes the pages read as zero
            // afterwards, which every caller expects of free memory.
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let _ = unsafe {
                rustix::mm::madvise(
                    self.base.as_ptr().add(at).cast(),
                    n * 8,
                    rustix::mm::Advice::LinuxDontNeed,
                )
            };
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            self.words_mut(at, n).fill(0);
        }
        #[cfg(not(unix))]
        self.words_mut(at, n).fill(0);
    }
}

/// The words as `i64`s.
pub(crate) fn as_i64s_mut(w: &mut [u64]) -> &mut [i64] {
    // SAFETY: `u64` and `i64` have the same size, alignment and validity
    // (every bit pattern is valid for both); the unique borrow of `w`
    // moves to the result.
    unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr().cast(), w.len()) }
}

/// The words as `f64`s.
pub(crate) fn as_f64s_mut(w: &mut [u64]) -> &mut [f64] {
    // SAFETY: `u64` and `f64` have the same size and alignment, and every
    // bit pattern is a valid `f64`; the unique borrow of `w` moves to the
    // result.
    unsafe { std::slice::from_raw_parts_mut(w.as_mut_ptr().cast(), w.len()) }
}

/// The bytes of a string object as text. Only `Heap::new_str`,
/// `Heap::concat` and the string-buffer appends write string bytes, and
/// they copy whole `&str`s (or whole strings), so the bytes are UTF-8;
/// debug builds check it anyway.
pub(crate) fn as_str(b: &[u8]) -> &str {
    if cfg!(debug_assertions) {
        return std::str::from_utf8(b).expect("heap invariant violated: string is not UTF-8");
    }
    // SAFETY: see above: string objects and buffers are only ever filled
    // from valid UTF-8 in whole strings, and a reference is checked to
    // name a string object before its bytes are read.
    unsafe { std::str::from_utf8_unchecked(b) }
}

#[cfg(unix)]
impl Drop for Region {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: `base`/`len` are exactly the mapping `reserve` made,
            // and nothing borrows it any more.
            let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len * 8) };
        }
    }
}

#[inline]
fn check(at: usize, n: usize, len: usize) {
    if at > len || n > len - at {
        out_of_region(at, n, len);
    }
}

#[cold]
#[inline(never)]
fn out_of_region(at: usize, n: usize, len: usize) -> ! {
    panic!("heap invariant violated: words {at}..+{n} outside the region of {len}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_zeroed_words_and_checks_ranges() {
        let mut r = Region::reserve(1 << 20).expect("reserve 8 MiB");
        assert_eq!(r.get(12345), 0);
        r.set(12345, 7);
        assert_eq!(r.words(12344, 3), &[0, 7, 0]);
        r.bytes_mut(10, 3).copy_from_slice(b"abc");
        assert_eq!(r.bytes(10, 3), b"abc");
        r.copy_words(12345, 5, 1);
        assert_eq!(r.get(5), 7);
        r.release(0, 4096);
        assert_eq!(r.get(5), 0);
        let out = std::panic::catch_unwind(|| r.get(1 << 20));
        assert!(out.is_err(), "an offset past the region is refused");
    }

    #[test]
    fn a_huge_reservation_costs_no_memory_until_touched() {
        // 16 GiB of address space: only the touched page is resident.
        let mut r = Region::reserve(2 << 30).expect("reserve 16 GiB");
        r.set((2 << 30) - 1, 1);
        assert_eq!(r.get((2 << 30) - 1), 1);
    }
}
