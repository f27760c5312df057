//! What compiled code and the Rust side agree on: the context block both
//! read and write, the registers compiled code keeps its state in, the
//! status codes it returns, and the native frame every compiled function
//! builds.
//!
//! **Registers.** Compiled code runs with
//! - `r12` = the [`JitCtx`] of the run, for its whole life;
//! - `r13` = the current function's frame (its slot 0 on the value stack),
//!   reloaded from [`JitCtx::stack_base`] plus the frame's offset (kept in
//!   the native frame) after anything that may grow, and so move, the value
//!   stack: every helper and every call;
//! - `r14` = the budget counter of the interpreter's chunk (see
//!   `interp::run`), counted down per basic block, stored to
//!   [`JitCtx::budget`] before a helper looks at it and reloaded after;
//! - `rbx`, `rbp`, `r15` and `xmm8..=xmm15` = pinned `int`, `bool` and
//!   `float` locals (see `cache`); `rsi`, `rdi`, `r8..=r10` and
//!   `xmm2..=xmm7` = operand-stack values; `rax`, `rcx`, `rdx`, `r11`,
//!   `xmm0`, `xmm1` = scratch.
//!
//! **Native frames.** Every compiled function, however entered, pushes
//! those of `rbx`, `rbp`, `r15` its own pins use (its caller's pins), then
//! takes 16 or 24 bytes: `[rsp]` holds its frame's byte offset from the
//! stack base, `[rsp + 8]` the frame's base slot index (for the records of
//! its calls), and padding keeps the native stack 16-byte aligned in its
//! body (helpers are called directly). So every Keel call made by compiled
//! code costs at most [`NATIVE_FRAME`] bytes of native stack.
//!
//! **Calls.** A compiled caller flushes its operands to the frame, checks
//! the fuel budget, the depth limit and the value stack's room (as the
//! interpreter's `enter` does, in the same order, with the same traps),
//! then calls through the function table with `rax` = the callee's frame
//! record, `edx` = the callee's index and `r13` = the callee's frame. The
//! callee returns `eax` = a status, and its result in `rdx` (payload) and
//! `ecx` (tag).

#![allow(unsafe_code)]

use std::mem::offset_of;

use crate::value::Value;

/// Statuses compiled code returns.
pub(super) const STATUS_OK: u32 = 0;
/// A trap: [`JitCtx::trap`] holds it, and `trap_pc` / `trap_frame` /
/// `trap_depth` say where.
pub(super) const STATUS_TRAP: u32 = 1;

/// Native stack bytes per compiled Keel frame: the return address, three
/// saved registers, and the 16-byte offset slot (documentation: the
/// prologue in `compile` is what takes them).
#[allow(dead_code)]
pub(super) const NATIVE_FRAME: usize = 48;

/// Native stack compiled code may use below the point where the outermost
/// compiled code of a thread was entered: 128 KiB, about 2,700 compiled
/// Keel frames. Past it, a call from compiled code runs its callee in the
/// interpreter (which keeps its frames on the value stack), so deep
/// recursion never overflows the host's stack, which must also hold the
/// host calls nested below it (see `crate::DEFAULT_MAX_HOST_DEPTH`).
pub(super) const NATIVE_BUDGET: usize = 128 << 10;

/// Host-call nesting (`NativeCtx::call`) below which compiled code is
/// entered: a run nested deeper in host calls is interpreted, so the
/// native frames of the compiled code and its helpers (large in debug
/// builds) are added at most this many times to those of the host levels.
pub(crate) const JIT_HOST_DEPTH: usize = 2;

/// The state shared by compiled code and the helpers it calls. The
/// `#[repr(C)]` prefix is read and written by machine code at the offsets
/// below; the rest only by Rust.
#[repr(C)]
pub(crate) struct JitCtx {
    /// The interpreter's budget counter, in and out.
    pub(crate) budget: i64,
    /// The chunk the budget counts down from (see `Instance::refuel`).
    pub(crate) chunk: i64,
    /// The absolute call depth of the innermost compiled frame (the
    /// interpreter's `depth + depth_offset`).
    pub(crate) depth: u64,
    /// [`crate::Config::max_call_depth`].
    pub(crate) max_depth: u64,
    /// The value stack's slot 0 and one past its last slot.
    pub(crate) stack_base: *mut Value,
    pub(crate) stack_end: *mut Value,
    /// The instance's globals and string constants.
    pub(crate) globals: *mut Value,
    pub(crate) strings: *const Value,
    /// The heap region's word 0.
    pub(crate) heap_base: *mut u64,
    /// Lowest native stack address compiled calls may reach.
    pub(crate) native_floor: u64,
    /// Keel calls compiled code made (added to `ExecStats::calls`).
    pub(crate) calls: u64,
    /// Fuel compiled calls charged through the budget for their callees'
    /// frames (added to `Instance::frame_fuel`, see `interp::frame_fuel`).
    pub(crate) frame_fuel: u64,
    /// A callee's result, from the Rust side.
    pub(crate) ret_bits: u64,
    pub(crate) ret_tag: u64,
    /// Where a trap happened: the interpreter's `pc` there (one past the
    /// op), the frame's byte offset from the stack base, and the absolute
    /// depth.
    pub(crate) trap_pc: u64,
    pub(crate) trap_frame: u64,
    pub(crate) trap_depth: u64,
    // Rust only from here.
    /// The trap of a `STATUS_TRAP` return.
    pub(crate) trap: Option<crate::Trap>,
    /// The instance, its value stack and the module of the run, for the
    /// helpers (not borrowed otherwise while compiled code runs).
    pub(crate) inst: *mut crate::Instance,
    pub(crate) stack: *mut Vec<Value>,
    pub(crate) module: *const crate::verify::VerifiedModule,
}

macro_rules! ctx_offset {
    ($($name:ident = $field:ident),* $(,)?) => {
        $(pub(super) const $name: i32 = offset_of!(JitCtx, $field) as i32;)*
    };
}
ctx_offset! {
    CTX_BUDGET = budget,
    CTX_DEPTH = depth,
    CTX_MAX_DEPTH = max_depth,
    CTX_STACK_BASE = stack_base,
    CTX_STACK_END = stack_end,
    CTX_GLOBALS = globals,
    CTX_STRINGS = strings,
    CTX_HEAP_BASE = heap_base,
    CTX_NATIVE_FLOOR = native_floor,
    CTX_CALLS = calls,
    CTX_FRAME_FUEL = frame_fuel,
    CTX_RET_BITS = ret_bits,
    CTX_RET_TAG = ret_tag,
}

/// A value slot: tag byte at 0, payload at 8.
pub(super) const SLOT: i32 = size_of::<Value>() as i32;
pub(super) const TAG: i32 = offset_of!(Value, tag) as i32;
pub(super) const BITS: i32 = offset_of!(Value, bits) as i32;
const _: () = assert!(SLOT == 16 && TAG == 0 && BITS == 8);

/// Register numbers (as dynasm's `Rq(n)` / `Rx(n)` take them).
pub(super) mod reg {
    pub(crate) const RAX: u8 = 0;
    pub(crate) const RCX: u8 = 1;
    pub(crate) const RDX: u8 = 2;
    pub(crate) const RBX: u8 = 3;
    pub(crate) const RBP: u8 = 5;
    pub(crate) const RSI: u8 = 6;
    pub(crate) const RDI: u8 = 7;
    pub(crate) const R8: u8 = 8;
    pub(crate) const R9: u8 = 9;
    pub(crate) const R10: u8 = 10;
    pub(crate) const R11: u8 = 11;
    pub(crate) const R15: u8 = 15;
    /// Pinned int and bool locals (callee-saved: they survive helpers,
    /// and compiled callees save them).
    pub(crate) const PIN_GPRS: [u8; 3] = [RBX, RBP, R15];
    /// Operand-stack values (caller-saved: flushed before every call).
    pub(crate) const CACHE_GPRS: [u8; 5] = [RSI, RDI, R8, R9, R10];
    /// Pinned float locals (caller-saved: stored before a call, reloaded
    /// after).
    pub(crate) const PIN_XMMS: [u8; 8] = [8, 9, 10, 11, 12, 13, 14, 15];
    /// Operand-stack floats.
    pub(crate) const CACHE_XMMS: [u8; 6] = [2, 3, 4, 5, 6, 7];
}

/// The byte offset of frame slot `i`.
pub(super) fn slot(i: usize) -> Option<i32> {
    i32::try_from(i).ok()?.checked_mul(SLOT)
}

impl JitCtx {
    /// The instance, value stack and module of the run this context
    /// belongs to.
    ///
    /// A `JitCtx` exists only inside `Instance::jit_enter`, which fills in
    /// these pointers from the instance, stack and module it was given and
    /// does not use them itself until the compiled code returns; compiled
    /// code hands the context only to helpers, one at a time, which call
    /// this. So the three are valid, and no other reference to them is in
    /// use while the borrows returned here live (the helper's).
    pub(crate) fn parts<'a>(
        &self,
    ) -> (
        &'a mut crate::Instance,
        &'a mut Vec<Value>,
        &'a crate::verify::VerifiedModule,
    ) {
        // SAFETY: see above.
        unsafe { (&mut *self.inst, &mut *self.stack, &*self.module) }
    }

    /// Brings the view of the value stack up to date (after anything that
    /// may have grown, and so moved, it).
    pub(crate) fn refresh(&mut self) {
        // SAFETY: as in `parts`; only the stack is looked at.
        let stack = unsafe { &mut *self.stack };
        self.stack_base = stack.as_mut_ptr();
        self.stack_end = stack.as_mut_ptr_range().end;
    }
}
