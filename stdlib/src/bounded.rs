//! Reading input of unknown length within the heap limit.
//!
//! A line from stdin or a file's contents becomes one Keel string (and the
//! bytes `io.read_bytes` reads one array), so the host may hold at most
//! what the heap could still take, counting each byte at what it will cost
//! once built ([`BoundedBuf::new`]). [`BoundedBuf`]
//! checks every growth of its buffer against the heap before the host
//! allocates it: capacity doubles while the heap has room for the doubled
//! size; once it has not, the buffer is capped at the room left after a
//! collection, and input beyond that is an `out of memory` trap. So the
//! host never holds more than the heap limit for one read, and the number
//! of checks (each of which may collect) grows with the logarithm of the
//! input, not its length.

use keel_vm::{NativeCtx, OBJECT_BYTES, Trap};

/// Smallest capacity the buffer grows to.
const MIN_CAPACITY: usize = 256;

/// A byte buffer whose growth the heap limit bounds.
pub(crate) struct BoundedBuf {
    bytes: Vec<u8>,
    /// Set once doubling no longer fits: the most bytes the buffer may hold.
    cap: Option<usize>,
    /// Heap bytes each buffered byte stands for (1 for text that becomes
    /// one string; more when each byte becomes an array element).
    per_byte: usize,
    /// The most bytes the caller will ever append: capacity stops there.
    max: usize,
}

impl Default for BoundedBuf {
    fn default() -> BoundedBuf {
        BoundedBuf::new(1, usize::MAX)
    }
}

impl BoundedBuf {
    /// A buffer whose every byte costs `per_byte` heap bytes once built
    /// into its result, and that will never hold more than `max` bytes.
    pub(crate) fn new(per_byte: usize, max: usize) -> BoundedBuf {
        BoundedBuf {
            bytes: Vec::new(),
            cap: None,
            per_byte: per_byte.max(1),
            max,
        }
    }

    /// Bytes held.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends `more`, checking the heap first when the buffer must grow.
    ///
    /// # Errors
    ///
    /// `out of memory` when the result would not fit under the heap limit.
    pub(crate) fn extend(&mut self, cx: &mut NativeCtx<'_>, more: &[u8]) -> Result<(), Trap> {
        let need = self.bytes.len().saturating_add(more.len());
        if need > self.bytes.capacity() {
            let target = match self.cap {
                Some(cap) if need > cap => return Err(cx.out_of_memory()),
                Some(cap) => cap,
                None => {
                    let doubled = need
                        .max(self.bytes.capacity() * 2)
                        .max(MIN_CAPACITY)
                        .min(self.max.max(need));
                    let heap = doubled.saturating_mul(self.per_byte);
                    if cx.ensure_room(heap.saturating_add(OBJECT_BYTES)).is_ok() {
                        doubled
                    } else {
                        // ensure_room collected: the room left is exact now.
                        let cap = cx.heap_room().saturating_sub(OBJECT_BYTES) / self.per_byte;
                        if need > cap {
                            return Err(cx.out_of_memory());
                        }
                        self.cap = Some(cap);
                        cap
                    }
                }
            };
            self.bytes.reserve_exact(target - self.bytes.len());
        }
        self.bytes.extend_from_slice(more);
        Ok(())
    }

    /// The bytes read so far.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.bytes
    }
}

/// `bytes` as a string, replacing invalid UTF-8 with U+FFFD. The lossy copy
/// is made while the bytes are still held, so the room for both is
/// checked first, from the copy's exact length ([`lossy_len`]).
///
/// # Errors
///
/// `out of memory` when the bytes and the replaced text would not fit.
pub(crate) fn lossy_utf8(cx: &mut NativeCtx<'_>, bytes: Vec<u8>) -> Result<String, Trap> {
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let bytes = e.into_bytes();
            let need = bytes
                .capacity()
                .saturating_add(lossy_len(&bytes))
                .saturating_add(OBJECT_BYTES);
            cx.ensure_room(need)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        }
    }
}

/// The length of `String::from_utf8_lossy(bytes)`, computed without
/// allocating: each invalid sequence becomes one U+FFFD (3 bytes).
pub(crate) fn lossy_len(bytes: &[u8]) -> usize {
    bytes
        .utf8_chunks()
        .map(|c| {
            let bad = if c.invalid().is_empty() { 0 } else { 3 };
            c.valid().len() + bad
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::lossy_len;

    #[test]
    fn lossy_len_is_the_length_of_the_lossy_copy() {
        let cases: &[&[u8]] = &[
            b"",
            b"plain",
            b"\xff",
            b"a\xffb\xfe\xfd",
            b"\xe2\x82",         // a cut 3-byte sequence: one replacement
            b"\xe2\x82\xac\xc3", // a euro sign, then a cut 2-byte one
            "h\u{e9}llo".as_bytes(),
        ];
        for b in cases {
            assert_eq!(lossy_len(b), String::from_utf8_lossy(b).len(), "{b:?}");
        }
    }
}
