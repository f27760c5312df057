//! Stopping a run from outside: the interrupt flag another thread raises
//! and the per-call deadline ([`crate::Instance::set_deadline`]).
//!
//! Invariant: the interpreter, compiled code and long-running library
//! functions look at the handle only through [`InterruptHandle::take`], at
//! their check points; a raised flag is consumed by the first look, a
//! passed deadline gives its trap at every look until the call that armed
//! it ends. The clock is read only while a deadline is armed.

use std::sync::Arc;

use crate::trap::{Trap, TrapCode};

#[allow(unused_imports)] // doc links
use crate::{Instance, NativeCtx};

/// Shared state of an [`InterruptHandle`].
#[derive(Debug, Default)]
struct InterruptState {
    raised: std::sync::atomic::AtomicBool,
    reason: std::sync::Mutex<Option<String>>,
    /// Whether `deadline` holds the current call's deadline (so polls
    /// without one never look at the clock).
    armed: std::sync::atomic::AtomicBool,
    /// The current top-level call's deadline ([`Instance::set_deadline`]):
    /// when it passes, and the duration it was set from.
    deadline: std::sync::Mutex<Option<(std::time::Instant, std::time::Duration)>>,
}

/// Stops a running instance from any thread: the run ends with an
/// `interrupted` trap within one instruction chunk (well under a
/// millisecond of interpretation). Cheap to clone.
///
/// An interrupt stops the call running when it is raised. One raised while
/// no call runs (after a call ended, say) is withdrawn when the next
/// top-level call from the host starts, so it never stops a later,
/// unrelated call, unless the host asked the instance to keep it
/// ([`Instance::keep_pending_interrupt`]). A host function calling back
/// in ([`NativeCtx::call`]) is not a new call: an interrupt raised during
/// the outer call still stops it.
#[derive(Clone, Debug)]
pub struct InterruptHandle(Arc<InterruptState>);

impl InterruptHandle {
    /// A handle with nothing raised and no deadline.
    pub(crate) fn new() -> Self {
        InterruptHandle(Arc::new(InterruptState::default()))
    }

    /// Interrupts the current run; its trap message is `interrupted`.
    pub fn interrupt(&self) {
        self.interrupt_because(None);
    }

    /// Interrupts with a reason: the trap message is `interrupted: REASON`
    /// (for example `interrupted: timeout of 2s exceeded`).
    pub fn interrupt_with(&self, reason: impl Into<String>) {
        self.interrupt_because(Some(reason.into()));
    }

    /// Withdraws an interrupt that no run has seen yet.
    pub fn clear(&self) {
        self.0
            .raised
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Sets (or with `None`, removes) the deadline that polls look at.
    pub(super) fn arm(&self, deadline: Option<(std::time::Instant, std::time::Duration)>) {
        *self.0.deadline.lock().unwrap_or_else(|p| p.into_inner()) = deadline;
        self.0
            .armed
            .store(deadline.is_some(), std::sync::atomic::Ordering::Release);
    }

    /// Whether a deadline is armed.
    pub(super) fn armed(&self) -> bool {
        self.0.armed.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The deadline trap, if the current call's deadline has passed.
    fn deadline_passed(&self) -> Option<Trap> {
        if !self.0.armed.load(std::sync::atomic::Ordering::Acquire) {
            return None;
        }
        let deadline = *self.0.deadline.lock().unwrap_or_else(|p| p.into_inner());
        let (at, d) = deadline?;
        (std::time::Instant::now() >= at).then(|| {
            Trap::new(
                TrapCode::Interrupted,
                format!("interrupted: deadline of {d:?} exceeded"),
            )
        })
    }

    fn interrupt_because(&self, reason: Option<String>) {
        *self.0.reason.lock().unwrap_or_else(|p| p.into_inner()) = reason;
        self.0
            .raised
            .store(true, std::sync::atomic::Ordering::Release);
    }
}

impl InterruptHandle {
    /// Takes a pending interrupt: the `interrupted` trap a run stops with,
    /// clearing the flag as the interpreter's check points do. For host
    /// and library functions that do long work in one call, so they can
    /// stop part-way like the interpreter does.
    ///
    /// Also the deadline of the current call ([`Instance::set_deadline`]):
    /// once it has passed, every look gives its trap, `interrupted:
    /// deadline of D exceeded`, until the call ends.
    pub fn take(&self) -> Option<Trap> {
        if !self
            .0
            .raised
            .swap(false, std::sync::atomic::Ordering::Acquire)
        {
            return self.deadline_passed();
        }
        let reason = self
            .0
            .reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let message = match reason {
            Some(r) => format!("interrupted: {r}"),
            None => "interrupted".to_owned(),
        };
        Some(Trap::new(TrapCode::Interrupted, message))
    }
}
