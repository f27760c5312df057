//! The x86_64 JIT: whole functions compiled to machine code with dynasm,
//! running on the same value-stack frames as the interpreter.
//!
//! **When (tiering).** The interpreter counts calls per function and
//! taken back edges per loop header (`interp::jit_glue`, thresholds in
//! [`crate::Config`]; `--jit eager` compiles at the first call or back
//! edge). A hot function is compiled whole, once ([`Jit::compile`]); every
//! later call of it, from the interpreter or from compiled code, runs the
//! machine code, and a hot loop of a function running in the interpreter
//! is entered by on-stack replacement at its header. A function that does
//! not compile (a snippet, one past [`compile::MAX_FUNC_OPS`] ops, or once
//! the instance holds [`MAX_CODE_BYTES`] of code) stays interpreted.
//!
//! **How.** `compile` makes one pass over the verifier's specialized code,
//! keeping the operand stack in registers (`cache`) and the most used
//! scalar locals pinned in registers for the whole function. Calls between
//! compiled functions are native calls through a function table
//! ([`Jit::table`]): a function not compiled yet has the cold stub there,
//! which compiles it (or runs it in the interpreter) and goes on; a call
//! of a small leaf function is compiled as its body instead (`inline`).
//! Ops not compiled inline run the interpreter's own code through a helper
//! (`helpers`), with the frame written back first. The register and frame
//! conventions are in `abi`.
//!
//! **Exactness.** Compiled code produces the interpreter's results, traps
//! (the same message, at the same op: the frames' records are the
//! interpreter's, so the trace is too), instruction counts and fuel stop
//! points: it counts the budget down like the interpreter and checks it at
//! the same branches and calls.
//!
//! **Safety.** Machine code touches the current frame's slots (below the
//! frame's locals + record + `max_stack`, which the caller checked against
//! the stack's end before the call, as the interpreter's `enter` does),
//! the globals and string constants by indices the verifier bounded,
//! `JitCtx` fields, and array headers and elements in the heap region by
//! verified array references, with every element index checked against
//! the length. It writes only ints, floats and bools into arrays (no
//! write barrier needed). Its buffers are mapped writable, then
//! executable, never both. Helpers catch panics; none unwinds into
//! machine code.

#![allow(unsafe_code)]

mod abi;
mod cache;
pub(crate) mod compile;
mod helpers;
mod inline;
mod magic;
mod regions;

use std::time::Instant;

use dynasmrt::x64::Assembler;
use dynasmrt::{AssemblyOffset, DynasmApi, ExecutableBuffer, dynasm};

use abi::*;
pub(crate) use abi::{JIT_HOST_DEPTH, JitCtx};
use compile::{Env, FuncCode};

use crate::value::Value;
use crate::verify::VerifiedModule;

/// Most machine code one instance keeps: 32 MiB, counted in whole pages
/// per function (each function's code is mapped on its own). Past it,
/// functions not compiled yet stay interpreted: a module of very many hot
/// functions cannot grow the process without bound.
pub(crate) const MAX_CODE_BYTES: usize = 32 << 20;

/// The granularity of executable mappings.
const PAGE: usize = 4096;

/// Where a function stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Cold,
    /// Index into `Jit::code`.
    Compiled(usize),
    Failed,
}

/// The trampoline and the cold stub, shared by every function.
struct Stubs {
    buf: ExecutableBuffer,
    trampoline: AssemblyOffset,
    cold: AssemblyOffset,
}

/// `trampoline(ctx, frame, target) -> status`: runs compiled code at
/// `target` (an interpreter or OSR entry) with the compiled-code registers
/// set up, saving the host's.
type Trampoline = unsafe extern "sysv64" fn(*mut JitCtx, *mut Value, *const u8) -> u32;

/// An instance's compiled functions.
pub(crate) struct Jit {
    states: Vec<State>,
    code: Vec<FuncCode>,
    /// The call entry of each function (or the cold stub), read by
    /// compiled call sites; allocated once per module, so its address,
    /// which compiled code embeds, stays put.
    table: Box<[u64]>,
    stubs: Option<Stubs>,
    code_bytes: usize,
    code_limit: usize,
    /// Nested runs of compiled code on this instance, and the native
    /// stack floor of the outermost.
    pub(crate) active: usize,
    pub(crate) floor: u64,
    /// Turn in [`EAGER_CHUNKS`].
    eager_turn: usize,
    pub(crate) stats: JitStats,
}

/// What the JIT did (for `--stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct JitStats {
    pub(crate) functions: u64,
    pub(crate) rejected: u64,
    pub(crate) loops: u64,
    pub(crate) osr_entries: u64,
    pub(crate) compile_ns: u64,
    pub(crate) code_bytes: u64,
}

impl Default for Jit {
    fn default() -> Self {
        Jit {
            states: Vec::new(),
            code: Vec::new(),
            table: Box::new([]),
            stubs: build_stubs(),
            code_bytes: 0,
            code_limit: MAX_CODE_BYTES,
            active: 0,
            floor: 0,
            eager_turn: 0,
            stats: JitStats::default(),
        }
    }
}

/// Budget chunks in eager mode, in turn: mostly tiny, so that compiled
/// code meets many check points, and now and then long enough to go round
/// its loops. Chunk sizes change only when the checks happen, never what
/// a run does or counts.
const EAGER_CHUNKS: [i64; 5] = [0, 0, 5, 0, 200];

impl Jit {
    /// The next budget chunk in eager mode.
    pub(crate) fn eager_chunk(&mut self) -> i64 {
        self.eager_turn = (self.eager_turn + 1) % EAGER_CHUNKS.len();
        EAGER_CHUNKS[self.eager_turn]
    }

    /// Forgets every compiled function (the module changed). Only between
    /// runs.
    pub(crate) fn clear(&mut self) {
        if self.active > 0 {
            return;
        }
        self.states.clear();
        self.code.clear();
        self.table = Box::new([]);
        self.code_bytes = 0;
    }

    /// Sizes the tables for `module` (a new module clears them).
    fn fit(&mut self, module: &VerifiedModule) -> bool {
        let n = module.funcs().len();
        if self.states.len() == n {
            return true;
        }
        if self.active > 0 {
            return false;
        }
        let Some(stubs) = &self.stubs else {
            return false;
        };
        let cold = stubs.buf.ptr(stubs.cold) as u64;
        self.clear();
        self.states = vec![State::Cold; n];
        self.table = vec![cold; n].into_boxed_slice();
        true
    }

    /// Compiles function `f` unless it is already; whether it now is.
    pub(crate) fn compile(
        &mut self,
        module: &VerifiedModule,
        f: usize,
        imports: &[crate::NativeFunc],
    ) -> bool {
        if !self.fit(module) {
            return false;
        }
        match self.states.get(f) {
            Some(State::Compiled(_)) => return true,
            Some(State::Failed) | None => return false,
            Some(State::Cold) => {}
        }
        let t0 = Instant::now();
        let env = Env {
            table: self.table.as_ptr(),
            pure: imports.iter().map(|n| n.pure).collect(),
        };
        let room = self.code_limit.saturating_sub(self.code_bytes);
        let compiled = compile::compile(module, f, &env).filter(|c| mapped(&c.buf) <= room);
        self.stats.compile_ns = self
            .stats
            .compile_ns
            .saturating_add(t0.elapsed().as_nanos() as u64);
        let Some(c) = compiled else {
            self.states[f] = State::Failed;
            self.stats.rejected += 1;
            return false;
        };
        self.code_bytes += mapped(&c.buf);
        self.stats.code_bytes += c.buf.len() as u64;
        self.stats.functions += 1;
        self.stats.loops += c.osr.len() as u64;
        self.table[f] = c.buf.ptr(c.call_entry) as u64;
        self.states[f] = State::Compiled(self.code.len());
        self.code.push(c);
        true
    }

    fn func(&self, f: usize) -> Option<&FuncCode> {
        match self.states.get(f)? {
            State::Compiled(i) => self.code.get(*i),
            _ => None,
        }
    }

    /// The entry of compiled function `f` for the interpreter: at its
    /// start (the frame set up by `enter`), or, for `Some(header)`, at that
    /// loop header.
    pub(crate) fn entry(&self, f: usize, header: Option<usize>) -> Option<Entry> {
        let c = self.func(f)?;
        let at = match header {
            None => c.interp_entry,
            Some(h) => {
                let k = c.osr.binary_search_by_key(&(h as u32), |e| e.0).ok()?;
                c.osr[k].1
            }
        };
        Some(Entry(c.buf.ptr(at)))
    }

    /// The trampoline, to run compiled code with.
    pub(crate) fn trampoline(&self) -> Option<Tramp> {
        let s = self.stubs.as_ref()?;
        // SAFETY: `build_stubs` emitted the trampoline at this offset of
        // the finalized buffer, with the `Trampoline` signature; the buffer
        // lives as long as `self` (the instance's), which outlives every
        // run of compiled code.
        Some(Tramp(unsafe {
            std::mem::transmute::<*const u8, Trampoline>(s.buf.ptr(s.trampoline))
        }))
    }

    /// The machine code of compiled function `f`, for listings.
    pub(crate) fn listing(&self, f: usize) -> Option<crate::JitListing> {
        let c = self.func(f)?;
        let mut entries = vec![
            ("call".to_owned(), c.call_entry.0),
            ("interpreter".to_owned(), c.interp_entry.0),
        ];
        entries.extend(c.osr.iter().map(|(h, at)| (format!("osr at {h}"), at.0)));
        Some(crate::JitListing {
            address: c.buf.ptr(AssemblyOffset(0)) as u64,
            code: c.buf[..c.data].to_vec(),
            constants: c.buf[c.data..]
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
                .collect(),
            entries,
            ops: c
                .ranges
                .iter()
                .map(|&(pc, from, to)| (pc as usize, from as usize..to as usize))
                .collect(),
        })
    }
}

/// An entry into compiled code (see [`Jit::entry`]).
#[derive(Clone, Copy)]
pub(crate) struct Entry(*const u8);

/// The trampoline (see [`Jit::trampoline`]).
#[derive(Clone, Copy)]
pub(crate) struct Tramp(Trampoline);

impl Tramp {
    /// Runs compiled code from `entry` on the frame at slot `base` of the
    /// context's stack; returns its status (result or trap in `cx`).
    ///
    /// The caller (`Instance::jit_enter` and the calls compiled code makes
    /// into the interpreter's side) guarantees what the code relies on:
    /// `entry` belongs to the function whose frame is at `base`, set up as
    /// the interpreter's `enter` does (locals, record; for an OSR entry the
    /// operands the verifier proved at that header), with room below the
    /// stack's end for the function's `max_stack`; `cx` describes the live
    /// instance, and nothing else touches the instance, its stack or heap
    /// until this returns.
    pub(crate) fn run(self, cx: &mut JitCtx, base: usize, entry: Entry) -> u32 {
        cx.refresh();
        let frame = cx.stack_base.wrapping_add(base);
        // SAFETY: the caller's guarantees above, which are what the code
        // `compile` emits needs (see the module doc's **Safety**).
        unsafe { (self.0)(cx, frame, entry.0) }
    }
}

/// The bytes a buffer's mapping takes: whole pages, at least one.
fn mapped(buf: &ExecutableBuffer) -> usize {
    buf.len().div_ceil(PAGE).max(1) * PAGE
}

/// The trampoline and the cold stub (see `abi` for the registers).
fn build_stubs() -> Option<Stubs> {
    let mut a = Assembler::new().ok()?;
    let trampoline = a.offset();
    dynasm!(a ; .arch x64
        ; push rbx
        ; push rbp
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; sub rsp, 8
        ; mov r12, rdi
        ; mov r13, rsi
        ; mov r14, [r12 + CTX_BUDGET]
        ; call rdx
        ; mov [r12 + CTX_BUDGET], r14
        ; mov [r12 + CTX_RET_BITS], rdx
        ; mov [r12 + CTX_RET_TAG], rcx
        ; add rsp, 8
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbp
        ; pop rbx
        ; ret
    );
    let cold = a.offset();
    let helper = helpers::call_cold as *const () as usize as i64;
    dynasm!(a ; .arch x64
        ; sub rsp, 8
        ; mov [r12 + CTX_BUDGET], r14
        ; mov rdi, r12
        ; mov esi, edx
        ; mov rdx, rax
        ; mov rcx, r13
        ; mov rax, QWORD helper
        ; call rax
        ; mov r14, [r12 + CTX_BUDGET]
        ; mov rdx, [r12 + CTX_RET_BITS]
        ; mov rcx, [r12 + CTX_RET_TAG]
        ; add rsp, 8
        ; ret
    );
    let buf = a.finalize().ok()?;
    Some(Stubs {
        buf,
        trampoline,
        cold,
    })
}

/// The native stack floor for an outermost entry made with the stack
/// pointer about `sp`.
pub(crate) fn floor_below(sp: u64) -> u64 {
    sp.saturating_sub(NATIVE_BUDGET as u64)
}

#[cfg(test)]
mod tests;
