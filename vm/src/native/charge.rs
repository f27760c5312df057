//! Host memory a library function holds while it runs, charged to the
//! heap for as long as it holds it.
//!
//! [`NativeCtx::ensure_room`] only checks that a result would fit: enough
//! when nothing else allocates between the check and the allocation of the
//! result. A function that holds host buffers while other code allocates
//! (`array.sort_by` keeps a copy of the elements and a merge buffer while
//! its comparator runs Keel code) must count them in the heap for that
//! time, or the comparator could fill the heap to its limit with the
//! buffers on top. [`NativeCtx::charge_scratch`] does so.
//!
//! **Invariant.** Every successful `charge_scratch(n)` is matched by
//! exactly one `release_scratch(n)` with the same `n` before the native
//! function returns, on every path (traps included); until then the bytes
//! count as live in the heap (collections do not free them).

use super::{NativeCtx, oom};
use crate::heap::OutOfMemory;
use crate::trap::Trap;

impl NativeCtx<'_> {
    /// Charges `bytes` of host scratch memory to the heap (collecting
    /// first if needed) until [`NativeCtx::release_scratch`] gives them
    /// back. Call it before allocating the scratch.
    ///
    /// # Errors
    ///
    /// The out-of-memory trap (nothing is charged then).
    pub fn charge_scratch(&mut self, bytes: usize) -> Result<(), Trap> {
        let roots = [
            &self.stack[..self.sp],
            &self.inst.globals[..],
            &self.inst.strings[..],
        ];
        self.inst
            .heap
            .charge(bytes, &roots)
            .map_err(|OutOfMemory| oom(&self.inst.heap))
    }

    /// Gives back `bytes` charged by [`NativeCtx::charge_scratch`], once the
    /// scratch is freed (or handed to a heap object that is charged itself).
    pub fn release_scratch(&mut self, bytes: usize) {
        self.inst.heap.uncharge(bytes);
    }
}
