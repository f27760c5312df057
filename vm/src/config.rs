//! Instance configuration: the limits and switches an [`crate::Instance`]
//! is created with.
//!
//! Invariant: `Config::default()` is a safe configuration for untrusted
//! code except for time (no fuel, no deadline: the host sets those), and
//! every field can be set either through the builder methods or by
//! assigning the public field. The struct is `#[non_exhaustive]`, so new
//! limits can be added without breaking hosts; build it from
//! [`Config::default()`] (or [`Config::new()`]), never with a literal.
//!
//! ```
//! use keel_vm::{Config, JitMode};
//! let config = Config::new()
//!     .fuel(1_000_000)
//!     .max_heap_bytes(64 << 20)
//!     .max_call_depth(10_000)
//!     .jit(JitMode::Off);
//! assert_eq!(config.fuel, Some(1_000_000));
//! assert_eq!(config.max_heap_bytes, 64 << 20);
//! ```

#[allow(unused_imports)] // doc links
use crate::{Instance, InterruptHandle, NativeCtx};

/// Instance configuration: limits and debugging switches.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Deepest Keel call nesting before a stack-overflow trap
    /// (default 100_000).
    pub max_call_depth: usize,
    /// Heap limit in bytes, counting string, array and map payloads plus a
    /// fixed header per object (default 2 GiB).
    pub max_heap_bytes: usize,
    /// Collect garbage at every allocation (slow; finds rooting bugs).
    /// Defaults to on when the crate's `gc-stress` feature is enabled.
    pub gc_stress: bool,
    /// The instance's initial fuel: how many instructions it may execute
    /// over all calls, `None` for no limit (the default). Work that grows
    /// with its size costs fuel too: library functions' work (one unit per
    /// [`crate::WORK_PER_FUEL`] bytes or elements; host functions charge
    /// theirs with [`NativeCtx::charge_work`]), and setting up a call's
    /// frame: one unit per [`crate::WORK_PER_FUEL`] locals of the callee
    /// (parameters included, rounded down), so a loop calling a function
    /// of 60,000 locals stops after about as much work as a spin loop.
    /// Neither counts in [`crate::ExecStats::instructions`]. The host reads and
    /// refills it with [`Instance::fuel`], [`Instance::set_fuel`] and
    /// [`Instance::add_fuel`]. Checked at calls and taken backward jumps
    /// (fused compare-and-branch ops check on every taken branch): a run
    /// stops with `out of fuel` at the first check point at which it has
    /// executed at least this many instructions, so within one loop
    /// iteration of the budget, at the same point on every run of the same
    /// input and in every [`JitMode`].
    pub fuel: Option<u64>,
    /// Checked execution: before every instruction, re-assert what the
    /// verifier proved (operand stack height and the type of every slot
    /// and local) and panic with a description when it does not hold. Slow;
    /// for fuzzing, so a verifier hole shows up as a failed assertion
    /// rather than as silently wrong results.
    pub checked: bool,
    /// Whether hot functions and loops run as machine code (see
    /// [`JitMode`]).
    pub jit: JitMode,
    /// Calls of a function, in [`JitMode::On`], before it is compiled
    /// (default 200).
    pub jit_call_threshold: u32,
    /// Taken back edges of a loop, in [`JitMode::On`], before its function
    /// is compiled and the loop entered as machine code (default 1000).
    pub jit_loop_threshold: u32,
    /// Deepest nesting of host calls back into the instance
    /// ([`NativeCtx::call`]: Keel → host → Keel → host ...) before a
    /// stack-overflow trap (default [`DEFAULT_MAX_HOST_DEPTH`]). Unlike
    /// Keel calls, which live on the VM's own value stack, every such
    /// level nests Rust frames on the native stack of the thread running
    /// the instance, so this bound is what keeps a plugin from overflowing
    /// it. See [`DEFAULT_MAX_HOST_DEPTH`] for the stack each level takes.
    pub max_host_depth: usize,
    /// Largest copy of a value handed to the host as a [`crate::Val`]
    /// (results of [`Instance::call`], `any` and `array<str>` parameters of
    /// typed host functions), in bytes: `size_of::<Val>()` per value
    /// (a map entry is two) plus string bytes (default 64 MiB). A copy
    /// duplicates every shared child, so a small heap can hold a value
    /// whose copy would not fit in memory: past this limit the call fails
    /// with [`crate::CallError::TooLarge`] (or, inside a host function, an
    /// `out of memory` trap) instead. [`Instance::call_keep`] returns a
    /// handle without copying.
    pub max_val_bytes: usize,
    /// Value-stack limit in bytes (default [`MAX_STACK_SLOTS`] slots of 16
    /// bytes: 256 MiB, which is also its cap: a larger value acts as it;
    /// rounded down to whole slots). The value stack holds the frames of
    /// every active Keel call of the instance (locals, a record slot and
    /// the operand stack), host re-entries included. A call whose frame
    /// would pass it traps `stack overflow: value stack limit of N bytes
    /// exceeded`.
    ///
    /// The stack's memory also counts toward [`Config::max_heap_bytes`],
    /// so heap objects and value stack together stay within that limit:
    /// the stack grows by doubling, each growth is charged to the heap
    /// (collecting first when it would not fit) and clamped to the room
    /// left, and a growth that cannot hold the new frame even then traps
    /// `out of memory: heap limit of N bytes exceeded`.
    pub max_stack_bytes: usize,
    /// The most a heap limiter ([`Instance::set_heap_limiter`]) may raise
    /// the heap limit to, in bytes; `None` (the default) for
    /// [`Config::max_heap_bytes`], so without it a limiter can only refuse.
    /// The heap's memory is one contiguous range reserved up front (address
    /// space only: pages cost memory when first used), so it is reserved
    /// at this size; a value below `max_heap_bytes` acts as
    /// `max_heap_bytes`.
    pub max_heap_grant_bytes: Option<usize>,
}

/// Builder methods: each sets one field and returns the configuration, so
/// a host writes `Config::new().fuel(10_000).max_heap_bytes(1 << 20)`.
impl Config {
    /// The default configuration (the same as [`Config::default()`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`Config::max_call_depth`].
    #[must_use]
    pub fn max_call_depth(mut self, depth: usize) -> Self {
        self.max_call_depth = depth;
        self
    }

    /// Sets [`Config::max_heap_bytes`].
    #[must_use]
    pub fn max_heap_bytes(mut self, bytes: usize) -> Self {
        self.max_heap_bytes = bytes;
        self
    }

    /// Sets [`Config::gc_stress`].
    #[must_use]
    pub fn gc_stress(mut self, on: bool) -> Self {
        self.gc_stress = on;
        self
    }

    /// Gives the instance this much initial fuel ([`Config::fuel`]).
    #[must_use]
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }

    /// Removes the fuel limit ([`Config::fuel`] = `None`, the default).
    #[must_use]
    pub fn unlimited_fuel(mut self) -> Self {
        self.fuel = None;
        self
    }

    /// Sets [`Config::checked`].
    #[must_use]
    pub fn checked(mut self, on: bool) -> Self {
        self.checked = on;
        self
    }

    /// Sets [`Config::jit`].
    #[must_use]
    pub fn jit(mut self, mode: JitMode) -> Self {
        self.jit = mode;
        self
    }

    /// Sets [`Config::jit_call_threshold`].
    #[must_use]
    pub fn jit_call_threshold(mut self, calls: u32) -> Self {
        self.jit_call_threshold = calls;
        self
    }

    /// Sets [`Config::jit_loop_threshold`].
    #[must_use]
    pub fn jit_loop_threshold(mut self, back_edges: u32) -> Self {
        self.jit_loop_threshold = back_edges;
        self
    }

    /// Sets [`Config::max_host_depth`].
    #[must_use]
    pub fn max_host_depth(mut self, depth: usize) -> Self {
        self.max_host_depth = depth;
        self
    }

    /// Sets [`Config::max_val_bytes`].
    #[must_use]
    pub fn max_val_bytes(mut self, bytes: usize) -> Self {
        self.max_val_bytes = bytes;
        self
    }

    /// Sets [`Config::max_stack_bytes`].
    #[must_use]
    pub fn max_stack_bytes(mut self, bytes: usize) -> Self {
        self.max_stack_bytes = bytes;
        self
    }

    /// Sets [`Config::max_heap_grant_bytes`] to `Some(bytes)`.
    #[must_use]
    pub fn max_heap_grant_bytes(mut self, bytes: usize) -> Self {
        self.max_heap_grant_bytes = Some(bytes);
        self
    }
}

/// The default of [`Config::max_host_depth`]: 32 levels.
///
/// One level of host re-entrancy (the interpreter loop, the native call
/// and [`NativeCtx::call`]) takes about 2 KiB of native stack in release
/// builds and about 25 KiB in debug builds. Compiled code runs only in the
/// outermost two levels (deeper ones interpret), and uses at most 128 KiB
/// of native stack for its own frames, then calls into the interpreter.
/// 32 levels stay under 1 MiB even in a debug build, leaving half of a
/// 2 MiB thread (the smallest Rust gives a spawned thread by default) to
/// the host's own frames and to compiling a function at the innermost
/// level.
/// A host that raises the limit must run the instance on a thread with
/// correspondingly more stack, plus whatever its own host functions use
/// per level.
pub const DEFAULT_MAX_HOST_DEPTH: usize = 32;

/// Whether an instance compiles hot functions to machine code.
///
/// The JIT exists on x86_64 when the `jit` feature (on by default) is
/// enabled; elsewhere every mode interprets. Results, traps, instruction
/// counts and fuel are the same in every mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum JitMode {
    /// Interpret everything.
    Off,
    /// Compile a function once it has been called
    /// [`Config::jit_call_threshold`] times, or once one of its loops has
    /// gone round [`Config::jit_loop_threshold`] times (that loop is then
    /// entered as machine code at its header).
    #[default]
    On,
    /// Compile every function at its first call or first back edge (for
    /// testing the JIT on short programs).
    Eager,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_call_depth: 100_000,
            max_heap_bytes: 2 << 30,
            gc_stress: cfg!(feature = "gc-stress"),
            fuel: None,
            checked: false,
            jit: JitMode::default(),
            jit_call_threshold: 200,
            jit_loop_threshold: 1000,
            max_host_depth: DEFAULT_MAX_HOST_DEPTH,
            max_val_bytes: 64 << 20,
            max_stack_bytes: MAX_STACK_SLOTS * STACK_SLOT_BYTES,
            max_heap_grant_bytes: None,
        }
    }
}

/// Most value-stack slots an instance may use (16 bytes each): the
/// default and the cap of [`Config::max_stack_bytes`].
pub const MAX_STACK_SLOTS: usize = 1 << 24;

/// Bytes of one value-stack slot, as [`Config::max_stack_bytes`] counts
/// them.
pub(crate) const STACK_SLOT_BYTES: usize = 16;
