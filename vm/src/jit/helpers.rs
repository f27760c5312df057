//! The Rust functions compiled code calls. Each takes the run's
//! [`JitCtx`] and the current frame, runs the interpreter's own code for
//! what it was called for (`interp::jit_glue`), and returns a status
//! (`STATUS_OK`, or `STATUS_TRAP` with the trap and where it happened in
//! the context). A panic inside is caught and becomes a trap: it never
//! unwinds into machine code.

#![allow(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::abi::{JitCtx, STATUS_OK, STATUS_TRAP};
use crate::interp::jit_glue::{self, Failure};
use crate::value::Value;
use crate::verify::Op;
use crate::{Trap, TrapCode};

/// Trap kinds of [`trap`].
pub(super) const TRAP_INDEX: u32 = 1;
pub(super) const TRAP_DIV_ZERO: u32 = 2;
pub(super) const TRAP_DEPTH: u32 = 3;
pub(super) const TRAP_NIL_FIELD: u32 = 4;

/// Whether op `op` may be compiled as a call to [`op`].
pub(super) fn delegated(op: Op) -> bool {
    jit_glue::delegates(op)
}

/// Runs `f` on the context, turning its failure (or a panic) into a
/// trap at op `pc` of the current frame (for failures not located yet),
/// and refreshing the value stack's bounds after.
fn guard(
    ctx: *mut JitCtx,
    frame: *mut Value,
    pc: u64,
    f: impl FnOnce(&mut JitCtx, usize) -> Result<(), Failure>,
) -> u32 {
    guard_at(
        ctx,
        frame,
        |cx, base| (pc + 1, base as u64 * 16, cx.depth),
        f,
    )
}

/// [`guard`], with `at` saying where a failure not located yet happened:
/// (the interpreter's pc there, the frame's byte offset, the depth).
fn guard_at(
    ctx: *mut JitCtx,
    frame: *mut Value,
    at: impl FnOnce(&JitCtx, usize) -> (u64, u64, u64),
    f: impl FnOnce(&mut JitCtx, usize) -> Result<(), Failure>,
) -> u32 {
    // SAFETY: compiled code passes the context `Jit::run` gave it, which
    // lives on that function's stack for the whole run and is reached by
    // nothing else while a helper runs (compiled code is suspended in the
    // call).
    let cx = unsafe { &mut *ctx };
    let base = (frame as usize).wrapping_sub(cx.stack_base as usize) / 16;
    let r = catch_unwind(AssertUnwindSafe(|| f(&mut *cx, base)));
    jit_glue::refresh(cx);
    let trap = match r {
        Ok(Ok(())) => return STATUS_OK,
        Ok(Err(Failure::Located)) => return STATUS_TRAP,
        Ok(Err(Failure::Trap(t))) => t,
        Err(_) => Trap::new(
            TrapCode::HostError,
            "internal error: a JIT helper failed (please report this)",
        ),
    };
    let (pc, frame, depth) = at(cx, base);
    cx.trap = Some(trap);
    cx.trap_pc = pc;
    cx.trap_frame = frame;
    cx.trap_depth = depth;
    STATUS_TRAP
}

/// Op `pc`, which compiled code does not inline, with `depth` operands on
/// the frame's stack (all in their slots).
pub(super) extern "sysv64" fn op(ctx: *mut JitCtx, frame: *mut Value, pc: u64, depth: u64) -> u32 {
    guard(ctx, frame, pc, |cx, base| {
        jit_glue::op(cx, base, pc as usize, depth as usize)
    })
}

/// The budget is spent at the branch or call at `pc`: charge the chunk,
/// look at fuel and interrupts.
pub(super) extern "sysv64" fn refuel(ctx: *mut JitCtx, frame: *mut Value, pc: u64) -> u32 {
    guard(ctx, frame, pc, |cx, _| jit_glue::refuel(cx))
}

/// Grows the value stack for a call at `pc` whose callee's frame ends
/// `need` bytes past the caller's frame.
pub(super) extern "sysv64" fn grow(ctx: *mut JitCtx, frame: *mut Value, pc: u64, need: u64) -> u32 {
    guard(ctx, frame, pc, |cx, base| {
        jit_glue::grow(cx, base, pc as usize, need as usize / 16)
    })
}

/// Raises a trap at op `pc`: `kind` with arguments `a`, `b`.
pub(super) extern "sysv64" fn trap(
    ctx: *mut JitCtx,
    frame: *mut Value,
    pc: u64,
    kind: u32,
    a: u64,
    b: u64,
) -> u32 {
    guard(ctx, frame, pc, |cx, _| {
        Err(Failure::Trap(match kind {
            TRAP_INDEX => Trap::index(a as i64, b as usize),
            TRAP_DIV_ZERO => crate::interp::jit_glue::division_by_zero(),
            TRAP_NIL_FIELD => {
                let module = cx.parts().2;
                crate::interp::jit_glue::nil_field_trap(module, a as u16, b as u16)
            }
            _ => crate::interp::jit_glue::depth_trap(cx.max_depth as usize),
        }))
    })
}

/// A call of function `f` (frame record `record`, frame `frame`, set up
/// by the caller but for its locals and record) that the table sends here:
/// compiles `f` and runs it, or interprets it.
pub(super) extern "sysv64" fn call_cold(
    ctx: *mut JitCtx,
    f: u32,
    record: u64,
    frame: *mut Value,
) -> u32 {
    call(ctx, f, record, frame, true)
}

/// As [`call_cold`], always in the interpreter (the native stack is low).
pub(super) extern "sysv64" fn call_nested(
    ctx: *mut JitCtx,
    f: u32,
    record: u64,
    frame: *mut Value,
) -> u32 {
    call(ctx, f, record, frame, false)
}

fn call(ctx: *mut JitCtx, f: u32, record: u64, frame: *mut Value, jit: bool) -> u32 {
    // A failure not inside the callee is the call's: the caller resumes
    // one past it, its base is in the record, and it is one level up.
    let at = |cx: &JitCtx, _| {
        let caller = record & 0xffff_ffff;
        (record >> 32, caller * 16, cx.depth.saturating_sub(1))
    };
    guard_at(ctx, frame, at, |cx, base| {
        jit_glue::call(cx, f as usize, record, base, jit)
    })
}

/// `rem` on floats (Rust's `%`, C's `fmod`).
pub(super) extern "sysv64" fn fmod(a: f64, b: f64) -> f64 {
    a % b
}

/// A pure float function of one argument (`PureFloat::Unary`), called from
/// compiled code with the function in `f`.
pub(super) extern "sysv64" fn pure1(f: usize, x: f64) -> f64 {
    // SAFETY: compiled code passes the pointer of a `fn(f64) -> f64` (see
    // `Cx::pure_call`), which stays valid for the program's life.
    let f = unsafe { std::mem::transmute::<usize, fn(f64) -> f64>(f) };
    f(x)
}

/// As [`pure1`], for `PureFloat::Binary`.
pub(super) extern "sysv64" fn pure2(f: usize, x: f64, y: f64) -> f64 {
    // SAFETY: as in `pure1`, for a `fn(f64, f64) -> f64`.
    let f = unsafe { std::mem::transmute::<usize, fn(f64, f64) -> f64>(f) };
    f(x, y)
}
