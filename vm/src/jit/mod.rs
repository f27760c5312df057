//! The x86_64 JIT for hot loops: compiles a loop of the verifier's
//! specialized code to machine code with dynasm, and runs it on the same
//! value-stack frame the interpreter uses.
//!
//! **When.** The interpreter counts instructions down through a budget
//! chunk; when a chunk is spent at a taken backward branch (a loop's back
//! edge), it refuels and asks [`Jit::run`] for the loop from the branch's
//! target (the header) to the branch (the back edge). A loop is compiled
//! once, on that first request; a loop holding any op this compiler does
//! not handle is remembered as such and stays interpreted, as is every
//! loop first asked for once the instance holds [`MAX_CODE_BYTES`] of
//! machine code. Compiling a loop costs in the loop's size: what it needs
//! from its whole function (the operand depth at each op) is computed once
//! per function and kept.
//!
//! **What.** A template compiler: every op becomes a few instructions that
//! read and write the frame's slots in memory, at offsets fixed at compile
//! time (locals by index, operand slots by the stack depth the verifier
//! proved at each op), so the state at every op boundary is exactly the
//! interpreter's. Scalar ops: int and float arithmetic and comparisons,
//! moves between locals, globals and the operand stack, branches and the
//! fused int ops; plus reads, writes and lengths of `array<int>` and
//! `array<float>`: inline with a bounds check when the array is in a local
//! the loop never stores (its data pointer and length are read once, on
//! entry), else through small Rust helpers that check bounds. Nothing
//! that allocates (so no collection can run) or calls Keel or host code.
//!
//! **Aliasing.** A fused op's operands may name the same local (`load i;
//! push 1; add; store i; load i; load i; le; jmpif`): its template does
//! what the sequence does in the sequence's order, so a read that comes
//! after a write of the same local in the sequence sees the written value,
//! also when the template reads early into a register (it then takes the
//! register, not the slot). The only fused op that writes a local and then
//! reads locals is `IncBrLocal`; the others read all their locals before
//! they write (`AddLocalsTo`, `IncLocal`) or write only operand slots,
//! which never alias locals.
//!
//! **Exits.** Leaving the loop, and any op that would trap (an index out of
//! bounds, an int division by zero or by -1), returns to the interpreter
//! *before* that op, with the budget
//! as it was there, so the interpreter runs it itself. A taken branch that
//! finds the budget spent returns a checkpoint: the interpreter charges the
//! chunk (fuel, interrupts) at that branch and re-enters. Instruction
//! counts, fuel and interrupt timing are therefore those of the
//! interpreter.
//!
//! **Safety.** Compiled code touches only slots `0..slots` of the frame it
//! is given, where `slots` = locals + record + the function's `max_stack`,
//! and globals below the highest index it names; [`Jit::run`] refuses a
//! frame or globals shorter than that. Every write stores a value of the
//! type the verifier proved for that slot with its tag, so the frame stays
//! valid for the collector and the interpreter. The heap is reached only
//! through the helpers, which look objects up by index without panicking
//! (a panic must not unwind into machine code).

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::mem::offset_of;

use dynasmrt::x64::Assembler;
use dynasmrt::{AssemblyOffset, DynamicLabel, DynasmApi, DynasmLabelApi, ExecutableBuffer, dynasm};

use crate::heap::{Elem, Heap};
use crate::value::{Tag, Value};
use crate::verify::{Cmp, Const, Op, VerifiedFunc, VerifiedModule};

/// Most ops in one compiled loop.
const MAX_LOOP_OPS: usize = 4096;

/// Most machine code one instance keeps: 32 MiB, counted in whole pages
/// per compiled loop (each loop's code is mapped on its own, so even the
/// smallest takes a page). Past it, loops not compiled yet stay
/// interpreted: a module of very many hot loops cannot grow the process
/// without bound (every loop runs the same either way).
pub(crate) const MAX_CODE_BYTES: usize = 32 << 20;

/// The granularity of executable mappings.
const PAGE: usize = 4096;

/// State crossing into and out of compiled code.
#[repr(C)]
struct JitCtx {
    /// The interpreter's budget counter, in and out.
    budget: i64,
    /// Out: where to resume (or the checkpoint's target).
    pc: u64,
    /// Out: the operand stack depth at `pc`.
    depth: u64,
    /// Out: the branch of a checkpoint.
    branch: u64,
    /// The instance's heap, for the array helpers.
    heap: *mut Heap,
    /// The instance's globals.
    globals: *mut Value,
    /// Data pointer and length of each hoisted array (see `Hoisted`), filled
    /// in by the loop's prologue.
    arrays: *mut [u64; 2],
}

const CTX_BUDGET: i32 = offset_of!(JitCtx, budget) as i32;
const CTX_PC: i32 = offset_of!(JitCtx, pc) as i32;
const CTX_DEPTH: i32 = offset_of!(JitCtx, depth) as i32;
const CTX_BRANCH: i32 = offset_of!(JitCtx, branch) as i32;
const CTX_HEAP: i32 = offset_of!(JitCtx, heap) as i32;
const CTX_GLOBALS: i32 = offset_of!(JitCtx, globals) as i32;
const CTX_ARRAYS: i32 = offset_of!(JitCtx, arrays) as i32;
const SLOT: i32 = size_of::<Value>() as i32;
const TAG: i32 = offset_of!(Value, tag) as i32;
const BITS: i32 = offset_of!(Value, bits) as i32;
const _: () = assert!(SLOT == 16 && TAG == 0 && BITS == 8);

const STATUS_RESUME: i32 = 0;
const STATUS_CHECKPOINT: i32 = 1;

/// Compiled code: `extern "sysv64" fn(frame, ctx) -> status`.
type Entry = unsafe extern "sysv64" fn(*mut Value, *mut JitCtx) -> u32;

/// Where the interpreter goes on after compiled code returns.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Resume interpreting at `pc`, whose operand stack depth is `depth`.
    Resume { pc: usize, depth: usize },
    /// The branch at `branch` was taken to `target` with the budget spent:
    /// charge the chunk there, then go on at `target` (depth `depth`).
    Checkpoint {
        branch: usize,
        target: usize,
        depth: usize,
    },
}

struct Compiled {
    /// The code, mapped on its own.
    buf: ExecutableBuffer,
    entry: AssemblyOffset,
    /// Frame slots the code may touch.
    slots: usize,
    /// Globals the code may touch.
    globals: usize,
    /// How many arrays the prologue hoists.
    hoisted: usize,
}

impl Compiled {
    /// The bytes its mapping takes: whole pages, at least one.
    fn mapped(&self) -> usize {
        self.buf.len().div_ceil(PAGE).max(1) * PAGE
    }
}

/// An instance's compiled loops.
pub(crate) struct Jit {
    /// By (header, back edge); `None` for loops that do not compile.
    loops: HashMap<(u32, u32), Option<Compiled>>,
    /// The operand depth at every op of a function (see [`Depths`]), by
    /// function index: computed once per function, the first time one of
    /// its loops compiles, so compiling a loop costs in the loop's size,
    /// not its function's.
    depths: HashMap<usize, Depths>,
    /// Turn in [`EAGER_CHUNKS`].
    eager_turn: usize,
    /// Bytes of code mapped for the compiled loops (whole pages).
    code_bytes: usize,
    /// The most `code_bytes` may reach ([`MAX_CODE_BYTES`]).
    code_limit: usize,
}

impl Default for Jit {
    fn default() -> Self {
        Jit {
            loops: HashMap::new(),
            depths: HashMap::new(),
            eager_turn: 0,
            code_bytes: 0,
            code_limit: MAX_CODE_BYTES,
        }
    }
}

/// Budget chunks in eager mode, in turn: mostly empty, so that nearly
/// every back edge is a check point where its loop gets compiled, and now
/// and then long enough for compiled code to go round its loop before it
/// has to stop at a check point. Chunk sizes change only when the checks
/// happen, never what a run does or counts.
const EAGER_CHUNKS: [i64; 5] = [0, 0, 5, 0, 200];

impl Jit {
    /// The next budget chunk in eager mode.
    pub(crate) fn eager_chunk(&mut self) -> i64 {
        self.eager_turn = (self.eager_turn + 1) % EAGER_CHUNKS.len();
        EAGER_CHUNKS[self.eager_turn]
    }

    /// Forgets every compiled loop (the module changed).
    pub(crate) fn clear(&mut self) {
        self.loops.clear();
        self.depths.clear();
        self.code_bytes = 0;
    }

    /// Runs the loop from `header` to `back_edge` (module-wide op
    /// indices) on `frame` (the function's frame, from its base), compiling
    /// it first if needed. The exit is `None` when the loop does not
    /// compile or the frame is too short (the interpreter then goes on
    /// itself); the second result says whether this call compiled the loop
    /// (`Some(true)`) or found it does not compile (`Some(false)`; also
    /// when the instance's code has reached [`MAX_CODE_BYTES`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run(
        &mut self,
        module: &VerifiedModule,
        header: usize,
        back_edge: usize,
        frame: &mut [Value],
        heap: &mut Heap,
        globals: &mut [Value],
        budget: &mut i64,
    ) -> (Option<Exit>, Option<bool>) {
        let (Ok(h), Ok(b)) = (u32::try_from(header), u32::try_from(back_edge)) else {
            return (None, None);
        };
        let mut fresh = None;
        let (depths, code_bytes) = (&mut self.depths, &mut self.code_bytes);
        let room = self.code_limit.saturating_sub(*code_bytes);
        let compiled = self.loops.entry((h, b)).or_insert_with(|| {
            let fi = module.func_at(header);
            let c = module
                .funcs()
                .get(fi)
                .filter(|_| room > 0)
                .and_then(|f| {
                    let depths = depths.entry(fi).or_insert_with(|| Depths::of(f));
                    compile(module, header, back_edge, depths)
                })
                .filter(|c| c.mapped() <= room);
            if let Some(c) = &c {
                *code_bytes += c.mapped();
            }
            fresh = Some(c.is_some());
            c
        });
        let exit = compiled
            .as_ref()
            .and_then(|c| enter(c, frame, heap, globals, budget));
        (exit, fresh)
    }
}

/// Runs compiled code on `frame`; `None` when the frame is too short.
fn enter(
    compiled: &Compiled,
    frame: &mut [Value],
    heap: &mut Heap,
    globals: &mut [Value],
    budget: &mut i64,
) -> Option<Exit> {
    if frame.len() < compiled.slots || globals.len() < compiled.globals {
        return None;
    }
    let mut arrays = vec![[0u64; 2]; compiled.hoisted];
    let mut ctx = JitCtx {
        budget: *budget,
        pc: 0,
        depth: 0,
        branch: 0,
        heap,
        globals: globals.as_mut_ptr(),
        arrays: arrays.as_mut_ptr(),
    };
    // SAFETY: `entry` is the start of code `compile` emitted into this
    // finalized buffer, with the `Entry` signature. That code reads and
    // writes only frame slots below `compiled.slots` and globals below
    // `compiled.globals`, both checked against the lengths just above,
    // `ctx` fields by their `offset_of!` offsets, the `compiled.hoisted`
    // entries of `arrays`, and the elements of hoisted arrays below the
    // length the prologue read (their buffers cannot move or shrink while
    // the code runs: nothing it does allocates, collects, or changes an
    // array's length). The only calls it
    // makes are to the `helper_*` functions below, with `ctx.heap`, which
    // points to the instance's heap, borrowed mutably for this call and
    // used by nothing else meanwhile. It returns through its exits with
    // the native stack balanced.
    let status = unsafe {
        let entry: Entry = std::mem::transmute(compiled.buf.ptr(compiled.entry));
        entry(frame.as_mut_ptr(), &mut ctx)
    };
    *budget = ctx.budget;
    let (pc, depth) = (ctx.pc as usize, ctx.depth as usize);
    Some(if status == STATUS_CHECKPOINT as u32 {
        Exit::Checkpoint {
            branch: ctx.branch as usize,
            target: pc,
            depth,
        }
    } else {
        Exit::Resume { pc, depth }
    })
}

/// The x86 condition under which `cmp a, b` (signed) makes `cmp` hold.
#[derive(Clone, Copy)]
enum Cc {
    L,
    Le,
    G,
    Ge,
    E,
    Ne,
}

fn cc_of(cmp: Cmp) -> Cc {
    match cmp {
        Cmp::Lt => Cc::L,
        Cmp::Le => Cc::Le,
        Cmp::Gt => Cc::G,
        Cmp::Ge => Cc::Ge,
        Cmp::Eq => Cc::E,
        Cmp::Ne => Cc::Ne,
    }
}

fn invert(cc: Cc) -> Cc {
    match cc {
        Cc::L => Cc::Ge,
        Cc::Le => Cc::G,
        Cc::G => Cc::Le,
        Cc::Ge => Cc::L,
        Cc::E => Cc::Ne,
        Cc::Ne => Cc::E,
    }
}

/// Emits a jump to `to` taken when `cc` holds (after a `cmp`).
fn jcc(a: &mut Assembler, cc: Cc, to: DynamicLabel) {
    match cc {
        Cc::L => dynasm!(a ; .arch x64 ; jl =>to),
        Cc::Le => dynasm!(a ; .arch x64 ; jle =>to),
        Cc::G => dynasm!(a ; .arch x64 ; jg =>to),
        Cc::Ge => dynasm!(a ; .arch x64 ; jge =>to),
        Cc::E => dynasm!(a ; .arch x64 ; je =>to),
        Cc::Ne => dynasm!(a ; .arch x64 ; jne =>to),
    }
}

/// Emits `al = 1 if cc holds, else 0` (after a `cmp`).
fn setcc(a: &mut Assembler, cc: Cc) {
    match cc {
        Cc::L => dynasm!(a ; .arch x64 ; setl al),
        Cc::Le => dynasm!(a ; .arch x64 ; setle al),
        Cc::G => dynasm!(a ; .arch x64 ; setg al),
        Cc::Ge => dynasm!(a ; .arch x64 ; setge al),
        Cc::E => dynasm!(a ; .arch x64 ; sete al),
        Cc::Ne => dynasm!(a ; .arch x64 ; setne al),
    }
}

/// An out-of-line exit, emitted after the loop body.
enum Stub {
    /// Resume the interpreter at `pc` (depth `depth`).
    Resume { pc: usize, depth: usize },
    /// Checkpoint at `branch`, going on at `target` (depth `depth`).
    Checkpoint {
        branch: usize,
        target: usize,
        depth: usize,
    },
}

/// The operand stack depth the verifier proved at each op of one function,
/// by op index from the function's start; [`Depths::UNREACHABLE`] for code
/// no path reaches.
pub(crate) struct Depths(Box<[u32]>);

impl Depths {
    const UNREACHABLE: u32 = u32::MAX;

    /// The depths of `f`, in one pass over its stack tree and one over its
    /// ops. A node's parent comes before it in the tree (the verifier adds
    /// a stack after the one it extends); a node that breaks this, or an
    /// op naming no node, gets no depth, so no loop through it compiles.
    fn of(f: &VerifiedFunc) -> Depths {
        let mut nodes: Vec<u32> = Vec::with_capacity(f.stack_nodes.len());
        for (k, &(parent, _)) in f.stack_nodes.iter().enumerate() {
            let d = match (k, nodes.get(parent as usize)) {
                (0, _) => 0,
                (_, Some(&d)) if (parent as usize) < k && d != Self::UNREACHABLE => d + 1,
                _ => Self::UNREACHABLE,
            };
            nodes.push(d);
        }
        let ops = f.offsets.len();
        Depths(
            (0..ops)
                .map(|i| match f.entry_stacks.get(i) {
                    Some(&node) => nodes
                        .get(node as usize)
                        .copied()
                        .unwrap_or(Self::UNREACHABLE),
                    None => Self::UNREACHABLE,
                })
                .collect(),
        )
    }

    /// The depth at op `i` of the function.
    fn at(&self, i: usize) -> Option<usize> {
        self.0
            .get(i)
            .filter(|&&d| d != Self::UNREACHABLE)
            .map(|&d| d as usize)
    }
}

struct Emitter<'m> {
    a: Assembler,
    module: &'m VerifiedModule,
    header: usize,
    back_edge: usize,
    /// Frame offset of operand slot 0.
    operands: i32,
    /// Label of each op of the loop, by op index minus `header`.
    labels: Vec<Option<DynamicLabel>>,
    stubs: Vec<(DynamicLabel, Stub)>,
    /// Operand depth at each op, by op index minus the function's start.
    depths: &'m Depths,
    func_start: usize,
    /// One past the highest global index the code uses.
    globals: usize,
    /// Array locals the loop never stores: their data pointer and length
    /// are read once, in the prologue, and accesses through them are
    /// inlined.
    hoisted: Vec<u16>,
}

impl Emitter<'_> {
    fn local(&self, l: impl Into<u32>) -> i32 {
        l.into() as i32 * SLOT
    }

    fn operand(&self, depth: usize) -> i32 {
        self.operands + depth as i32 * SLOT
    }

    fn depth_at(&self, pc: usize) -> Option<usize> {
        self.depths.at(pc.checked_sub(self.func_start)?)
    }

    /// The label of op `pc` when it is inside the loop.
    fn inside(&self, pc: usize) -> Option<DynamicLabel> {
        if pc < self.header || pc > self.back_edge {
            return None;
        }
        self.labels[pc - self.header]
    }

    fn stub(&mut self, stub: Stub) -> DynamicLabel {
        let l = self.a.new_dynamic_label();
        self.stubs.push((l, stub));
        l
    }

    /// A label that leaves the loop before op `pc` runs.
    fn resume_before(&mut self, pc: usize) -> Option<DynamicLabel> {
        let depth = self.depth_at(pc)?;
        Some(self.stub(Stub::Resume { pc, depth }))
    }

    fn copy(&mut self, from: i32, to: i32) {
        dynasm!(self.a ; .arch x64
            ; movups xmm0, [rdi + from]
            ; movups [rdi + to], xmm0
        );
    }

    fn set_int_tag(&mut self, slot: i32) {
        dynasm!(self.a ; .arch x64 ; mov BYTE [rdi + slot + TAG], Tag::Int as i8);
    }

    fn charge(&mut self, n: usize) {
        let n = n as i32;
        dynasm!(self.a ; .arch x64 ; sub r10, n);
    }

    /// A branch from op `pc` to `target`, after a `cmp` whose `cc` says
    /// whether it is taken; `budget` counts the op (already charged with
    /// `lea`, which keeps the flags); `check` says whether a taken branch
    /// looks at the budget (as the interpreter's `check_fuel` does).
    fn branch(&mut self, pc: usize, target: usize, cc: Cc, check: bool) -> Option<()> {
        let span = Op::span(self.module.code()[pc]) as i32;
        match self.inside(target) {
            None => {
                // Leave before the branch runs; the interpreter takes it.
                let out = self.resume_before(pc)?;
                jcc(&mut self.a, cc, out);
                dynasm!(self.a ; .arch x64 ; sub r10, span);
            }
            Some(to) => {
                let neg = -span;
                dynasm!(self.a ; .arch x64 ; lea r10, [r10 + neg]);
                if check {
                    let depth = self.depth_at(target)?;
                    let cp = self.stub(Stub::Checkpoint {
                        branch: pc,
                        target,
                        depth,
                    });
                    let not_taken = self.a.new_dynamic_label();
                    jcc(&mut self.a, invert(cc), not_taken);
                    dynasm!(self.a ; .arch x64
                        ; test r10, r10
                        ; jle =>cp
                        ; jmp =>to
                        ; =>not_taken
                    );
                } else {
                    jcc(&mut self.a, cc, to);
                }
            }
        }
        Some(())
    }

    /// Emits op `pc` at operand depth `d`; `None` when it is not supported.
    fn op(&mut self, pc: usize, d: usize) -> Option<()> {
        let op = self.module.code()[pc];
        // Operand slots: top, second, and the next free one.
        let top = |e: &Self| e.operand(d.wrapping_sub(1));
        let second = |e: &Self| e.operand(d.wrapping_sub(2));
        let next = self.operand(d);
        match op {
            Op::Nop | Op::Pop => self.charge(1),
            Op::PushSmallInt(v) => {
                self.set_int_tag(next);
                dynasm!(self.a ; .arch x64 ; mov QWORD [rdi + next + BITS], v);
                self.charge(1);
            }
            Op::PushConst(i) => {
                let (tag, bits) = match *self.module.consts().get(i as usize)? {
                    Const::Int(v) => (Tag::Int, v),
                    Const::Float(f) => (Tag::Float, f.to_bits() as i64),
                };
                dynasm!(self.a ; .arch x64
                    ; mov BYTE [rdi + next + TAG], tag as i8
                    ; mov rax, QWORD bits
                    ; mov [rdi + next + BITS], rax
                );
                self.charge(1);
            }
            Op::PushBool(b) => {
                dynasm!(self.a ; .arch x64
                    ; mov BYTE [rdi + next + TAG], Tag::Bool as i8
                    ; mov QWORD [rdi + next + BITS], b as i32
                );
                self.charge(1);
            }
            Op::PushNil => {
                dynasm!(self.a ; .arch x64
                    ; mov BYTE [rdi + next + TAG], Tag::Nil as i8
                    ; mov QWORD [rdi + next + BITS], 0
                );
                self.charge(1);
            }
            Op::Dup => {
                self.copy(top(self), next);
                self.charge(1);
            }
            Op::Over => {
                self.copy(second(self), next);
                self.charge(1);
            }
            Op::Swap => {
                let (a, b) = (second(self), top(self));
                dynasm!(self.a ; .arch x64
                    ; movups xmm0, [rdi + a]
                    ; movups xmm1, [rdi + b]
                    ; movups [rdi + a], xmm1
                    ; movups [rdi + b], xmm0
                );
                self.charge(1);
            }
            Op::Load(l) => {
                let from = self.local(l);
                self.copy(from, next);
                self.charge(1);
            }
            Op::Store(l) => {
                let to = self.local(l);
                self.copy(top(self), to);
                self.charge(1);
            }
            Op::AddInt
            | Op::SubInt
            | Op::MulInt
            | Op::AndInt
            | Op::OrInt
            | Op::XorInt
            | Op::AndBool
            | Op::OrBool
            | Op::XorBool => {
                let (a, b) = (second(self) + BITS, top(self) + BITS);
                dynasm!(self.a ; .arch x64 ; mov rax, [rdi + a]);
                match op {
                    Op::AddInt => dynasm!(self.a ; .arch x64 ; add rax, [rdi + b]),
                    Op::SubInt => dynasm!(self.a ; .arch x64 ; sub rax, [rdi + b]),
                    Op::MulInt => dynasm!(self.a ; .arch x64 ; imul rax, [rdi + b]),
                    Op::AndInt | Op::AndBool => dynasm!(self.a ; .arch x64 ; and rax, [rdi + b]),
                    Op::OrInt | Op::OrBool => dynasm!(self.a ; .arch x64 ; or rax, [rdi + b]),
                    _ => dynasm!(self.a ; .arch x64 ; xor rax, [rdi + b]),
                }
                dynasm!(self.a ; .arch x64 ; mov [rdi + a], rax);
                self.charge(1);
            }
            Op::DivInt | Op::RemInt => {
                let (a, b) = (second(self) + BITS, top(self) + BITS);
                // Zero traps and -1 may overflow: the interpreter does those.
                let out = self.resume_before(pc)?;
                dynasm!(self.a ; .arch x64
                    ; mov rcx, [rdi + b]
                    ; test rcx, rcx
                    ; jz =>out
                    ; cmp rcx, -1
                    ; je =>out
                    ; mov rax, [rdi + a]
                    ; cqo
                    ; idiv rcx
                );
                if op == Op::DivInt {
                    dynasm!(self.a ; .arch x64 ; mov [rdi + a], rax);
                } else {
                    dynasm!(self.a ; .arch x64 ; mov [rdi + a], rdx);
                }
                self.charge(1);
            }
            Op::Shl | Op::Shr => {
                let (a, b) = (second(self) + BITS, top(self) + BITS);
                // The hardware masks a 64-bit shift count with 63, as the
                // interpreter does.
                dynasm!(self.a ; .arch x64 ; mov rcx, [rdi + b]);
                if op == Op::Shl {
                    dynasm!(self.a ; .arch x64 ; shl QWORD [rdi + a], cl);
                } else {
                    dynasm!(self.a ; .arch x64 ; sar QWORD [rdi + a], cl);
                }
                self.charge(1);
            }
            Op::NegInt => {
                let a = top(self) + BITS;
                dynasm!(self.a ; .arch x64 ; neg QWORD [rdi + a]);
                self.charge(1);
            }
            Op::NotInt => {
                let a = top(self) + BITS;
                dynasm!(self.a ; .arch x64 ; not QWORD [rdi + a]);
                self.charge(1);
            }
            Op::NotBool => {
                let a = top(self) + BITS;
                dynasm!(self.a ; .arch x64 ; xor QWORD [rdi + a], 1);
                self.charge(1);
            }
            Op::EqBits | Op::NeBits | Op::LtInt | Op::LeInt | Op::GtInt | Op::GeInt => {
                let (a, b) = (second(self), top(self));
                let cc = match op {
                    Op::EqBits => Cc::E,
                    Op::NeBits => Cc::Ne,
                    Op::LtInt => Cc::L,
                    Op::LeInt => Cc::Le,
                    Op::GtInt => Cc::G,
                    _ => Cc::Ge,
                };
                dynasm!(self.a ; .arch x64
                    ; mov rax, [rdi + a + BITS]
                    ; cmp rax, [rdi + b + BITS]
                );
                setcc(&mut self.a, cc);
                self.store_bool(a);
                self.charge(1);
            }
            Op::AddFloat | Op::SubFloat | Op::MulFloat | Op::DivFloat => {
                let (a, b) = (second(self) + BITS, top(self) + BITS);
                dynasm!(self.a ; .arch x64 ; movsd xmm0, [rdi + a]);
                match op {
                    Op::AddFloat => dynasm!(self.a ; .arch x64 ; addsd xmm0, [rdi + b]),
                    Op::SubFloat => dynasm!(self.a ; .arch x64 ; subsd xmm0, [rdi + b]),
                    Op::MulFloat => dynasm!(self.a ; .arch x64 ; mulsd xmm0, [rdi + b]),
                    _ => dynasm!(self.a ; .arch x64 ; divsd xmm0, [rdi + b]),
                }
                dynasm!(self.a ; .arch x64 ; movsd [rdi + a], xmm0);
                self.charge(1);
            }
            Op::NegFloat => {
                let a = top(self) + BITS;
                dynasm!(self.a ; .arch x64 ; btc QWORD [rdi + a], 63);
                self.charge(1);
            }
            Op::LtFloat | Op::LeFloat | Op::GtFloat | Op::GeFloat | Op::EqFloat | Op::NeFloat => {
                let (a, b) = (second(self), top(self));
                // `ucomisd x, y` sets CF/ZF like an unsigned compare of x
                // and y, and all of ZF, PF, CF when either is NaN: `above`
                // and `above or equal` are false on NaN, as IEEE wants.
                let (x, y) = match op {
                    Op::LtFloat | Op::LeFloat => (b, a),
                    _ => (a, b),
                };
                dynasm!(self.a ; .arch x64
                    ; movsd xmm0, [rdi + x + BITS]
                    ; ucomisd xmm0, [rdi + y + BITS]
                );
                match op {
                    Op::LtFloat | Op::GtFloat => dynasm!(self.a ; .arch x64 ; seta al),
                    Op::LeFloat | Op::GeFloat => dynasm!(self.a ; .arch x64 ; setae al),
                    Op::EqFloat => dynasm!(self.a ; .arch x64 ; sete al ; setnp cl ; and al, cl),
                    _ => dynasm!(self.a ; .arch x64 ; setne al ; setp cl ; or al, cl),
                }
                self.store_bool(a);
                self.charge(1);
            }
            Op::IToF => {
                let a = top(self);
                dynasm!(self.a ; .arch x64
                    ; cvtsi2sd xmm0, QWORD [rdi + a + BITS]
                    ; movsd [rdi + a + BITS], xmm0
                    ; mov BYTE [rdi + a + TAG], Tag::Float as i8
                );
                self.charge(1);
            }
            Op::Jmp(t) => {
                let t = t as usize;
                match self.inside(t) {
                    None => {
                        let out = self.resume_before(pc)?;
                        dynasm!(self.a ; .arch x64 ; jmp =>out);
                    }
                    Some(to) => {
                        self.charge(1);
                        if t <= pc {
                            let depth = self.depth_at(t)?;
                            let cp = self.stub(Stub::Checkpoint {
                                branch: pc,
                                target: t,
                                depth,
                            });
                            dynasm!(self.a ; .arch x64 ; test r10, r10 ; jle =>cp);
                        }
                        dynasm!(self.a ; .arch x64 ; jmp =>to);
                    }
                }
            }
            Op::JmpIf(t) | Op::JmpIfNot(t) => {
                let c = top(self) + BITS;
                dynasm!(self.a ; .arch x64 ; cmp QWORD [rdi + c], 0);
                let cc = if matches!(op, Op::JmpIf(_)) {
                    Cc::Ne
                } else {
                    Cc::E
                };
                self.branch(pc, t as usize, cc, t as usize <= pc)?;
            }
            Op::BrCmp { cmp, t } => {
                let (a, b) = (second(self), top(self));
                dynasm!(self.a ; .arch x64
                    ; mov rax, [rdi + a + BITS]
                    ; cmp rax, [rdi + b + BITS]
                );
                self.branch(pc, t as usize, cc_of(cmp), t as usize <= pc)?;
            }
            Op::BrLocalConst { cmp, a, k, rel } => {
                let a = self.local(a) + BITS;
                let k = i32::from(k);
                dynasm!(self.a ; .arch x64 ; cmp QWORD [rdi + a], k);
                self.branch(pc, pc.checked_add_signed(rel.into())?, cc_of(cmp), true)?;
            }
            Op::BrLocalLocal { cmp, a, b, rel } => {
                let (a, b) = (self.local(a) + BITS, self.local(b) + BITS);
                dynasm!(self.a ; .arch x64
                    ; mov rax, [rdi + a]
                    ; cmp rax, [rdi + b]
                );
                self.branch(pc, pc.checked_add_signed(rel.into())?, cc_of(cmp), true)?;
            }
            Op::IncBrLocal { cmp, k, i, n, rel } => {
                // The sequence stores `i` before it loads the bound: when
                // the bound is `i` itself, it compares the new value with
                // itself.
                let aliased = i == n;
                let (i, n) = (self.local(i) + BITS, self.local(n) + BITS);
                let k = i32::from(k);
                let target = pc.checked_add_signed(rel.into())?;
                dynasm!(self.a ; .arch x64 ; mov rax, [rdi + i] ; add rax, k);
                if self.inside(target).is_none() {
                    // Leave before the increment: the interpreter redoes it.
                    // Nothing is stored yet, so the bound is read from `rax`
                    // when it is `i`, not from `i`'s (old) slot.
                    let out = self.resume_before(pc)?;
                    if aliased {
                        dynasm!(self.a ; .arch x64 ; cmp rax, rax);
                    } else {
                        dynasm!(self.a ; .arch x64 ; cmp rax, [rdi + n]);
                    }
                    jcc(&mut self.a, cc_of(cmp), out);
                    dynasm!(self.a ; .arch x64 ; mov [rdi + i], rax ; sub r10, 8);
                } else {
                    dynasm!(self.a ; .arch x64 ; mov [rdi + i], rax ; cmp rax, [rdi + n]);
                    self.branch(pc, target, cc_of(cmp), true)?;
                }
            }
            Op::IncLocal(x, k) => {
                let x = self.local(x) + BITS;
                dynasm!(self.a ; .arch x64 ; add QWORD [rdi + x], k);
                self.charge(Op::span(op));
            }
            Op::AddLocalConst(a, k) => {
                let a = self.local(a) + BITS;
                dynasm!(self.a ; .arch x64
                    ; mov rax, [rdi + a]
                    ; add rax, k
                    ; mov [rdi + next + BITS], rax
                );
                self.set_int_tag(next);
                self.charge(Op::span(op));
            }
            Op::LoadLoad(a, b) => {
                let (a, b) = (self.local(a), self.local(b));
                self.copy(a, next);
                self.copy(b, next + SLOT);
                self.charge(Op::span(op));
            }
            Op::AddLocalsTo { a, b, dst } => {
                let (a, b, dst) = (self.local(a), self.local(b), self.local(dst));
                dynasm!(self.a ; .arch x64
                    ; mov rax, [rdi + a + BITS]
                    ; add rax, [rdi + b + BITS]
                    ; mov [rdi + dst + BITS], rax
                );
                self.set_int_tag(dst);
                self.charge(Op::span(op));
            }
            Op::AddIntStore(x) => {
                let (a, b, x) = (second(self), top(self), self.local(x));
                dynasm!(self.a ; .arch x64
                    ; mov rax, [rdi + a + BITS]
                    ; add rax, [rdi + b + BITS]
                    ; mov [rdi + x + BITS], rax
                );
                self.set_int_tag(x);
                self.charge(Op::span(op));
            }
            Op::GLoad(g) | Op::GStore(g) => {
                self.globals = self.globals.max(g as usize + 1);
                let g = i32::try_from(g).ok()?.checked_mul(SLOT)?;
                dynasm!(self.a ; .arch x64 ; mov rax, [rsi + CTX_GLOBALS]);
                if matches!(op, Op::GLoad(_)) {
                    dynasm!(self.a ; .arch x64
                        ; movups xmm0, [rax + g]
                        ; movups [rdi + next], xmm0
                    );
                } else {
                    let t = top(self);
                    dynasm!(self.a ; .arch x64
                        ; movups xmm0, [rdi + t]
                        ; movups [rax + g], xmm0
                    );
                }
                self.charge(1);
            }
            Op::ArrayGetInt | Op::ArrayGetFloat => {
                let (arr, idx) = (second(self), top(self));
                self.array_get(pc, arr, idx, arr, op == Op::ArrayGetFloat)?;
                self.charge(1);
            }
            Op::ArrayGetIntLocals(a, i) | Op::ArrayGetFloatLocals(a, i) => {
                let (arr, idx) = (self.local(a), self.local(i));
                let float = matches!(op, Op::ArrayGetFloatLocals(..));
                match self.hoisted.iter().position(|&h| h == a) {
                    Some(k) => {
                        self.hoisted_element(pc, k, idx)?;
                        let tag = if float { Tag::Float } else { Tag::Int } as i8;
                        dynasm!(self.a ; .arch x64
                            ; mov rax, [rdx + rax * 8]
                            ; mov [rdi + next + BITS], rax
                            ; mov BYTE [rdi + next + TAG], tag
                        );
                    }
                    None => self.array_get(pc, arr, idx, next, float)?,
                }
                self.charge(Op::span(op));
            }
            Op::ArraySetInt | Op::ArraySetFloat => {
                let (arr, idx, val) = (self.operand(d - 3), second(self), top(self));
                self.array_set(pc, arr, idx, Arg::Payload(val), op == Op::ArraySetFloat)?;
                self.charge(1);
            }
            Op::ArraySetIntLocalsConst { arr: a, i, k } => {
                let (arr, idx) = (self.local(a), self.local(i));
                match self.hoisted.iter().position(|&h| h == a) {
                    Some(h) => {
                        self.hoisted_element(pc, h, idx)?;
                        let k = i32::from(k);
                        dynasm!(self.a ; .arch x64 ; mov QWORD [rdx + rax * 8], k);
                    }
                    None => self.array_set(pc, arr, idx, Arg::Const(i64::from(k)), false)?,
                }
                self.charge(Op::span(op));
            }
            Op::ArrayLen => {
                let arr = top(self);
                self.call_helper(
                    helper_len as *const () as usize,
                    [Arg::Payload(arr), Arg::PayloadAddr(arr), Arg::Const(0)],
                );
                self.set_int_tag(arr);
                self.charge(1);
            }
            // Everything else allocates, calls, reads the heap or globals,
            // dispatches on run-time types, or returns: not jittable, the
            // loop stays in the interpreter.
            _ => return None,
        }
        Some(())
    }

    /// Calls `helper(heap, a1, a2, a3)` with each argument either a slot's
    /// payload or a constant, keeping the pinned registers; leaves the
    /// helper's status in `eax`. The native stack is 16-byte aligned at the
    /// call: the entry's return address plus three pushes.
    fn call_helper(&mut self, helper: usize, args: [Arg; 3]) {
        dynasm!(self.a ; .arch x64
            ; push rdi
            ; push rsi
            ; push r10
            ; mov r11, rdi
            ; mov rax, rsi
            ; mov rdi, [rsi + CTX_HEAP]
        );
        for (i, arg) in args.into_iter().enumerate() {
            match (i, arg) {
                (1, Arg::Hoisted(k)) => {
                    let off = k as i32 * 16;
                    dynasm!(self.a ; .arch x64 ; mov rdx, [rax + CTX_ARRAYS] ; add rdx, off)
                }
                (_, Arg::Hoisted(_)) => unreachable!("hoisted arrays are the second argument"),
                (0, Arg::Payload(off)) => dynasm!(self.a ; .arch x64 ; mov rsi, [r11 + off + BITS]),
                (1, Arg::Payload(off)) => dynasm!(self.a ; .arch x64 ; mov rdx, [r11 + off + BITS]),
                (_, Arg::Payload(off)) => dynasm!(self.a ; .arch x64 ; mov rcx, [r11 + off + BITS]),
                (0, Arg::Const(k)) => dynasm!(self.a ; .arch x64 ; mov rsi, QWORD k),
                (1, Arg::Const(k)) => dynasm!(self.a ; .arch x64 ; mov rdx, QWORD k),
                (_, Arg::Const(k)) => dynasm!(self.a ; .arch x64 ; mov rcx, QWORD k),
                (0, Arg::PayloadAddr(off)) => {
                    dynasm!(self.a ; .arch x64 ; lea rsi, [r11 + off + BITS])
                }
                (1, Arg::PayloadAddr(off)) => {
                    dynasm!(self.a ; .arch x64 ; lea rdx, [r11 + off + BITS])
                }
                (_, Arg::PayloadAddr(off)) => {
                    dynasm!(self.a ; .arch x64 ; lea rcx, [r11 + off + BITS])
                }
            }
        }
        let helper = helper as i64;
        dynasm!(self.a ; .arch x64
            ; mov rax, QWORD helper
            ; call rax
            ; pop r10
            ; pop rsi
            ; pop rdi
        );
    }

    /// Leaves `rdx` = hoisted array `k`'s data and `rax` = the index in
    /// slot `idx`, or leaves the loop before op `pc` when the index is out
    /// of bounds (the unsigned compare also catches negative indices).
    fn hoisted_element(&mut self, pc: usize, k: usize, idx: i32) -> Option<()> {
        let leave = self.resume_before(pc)?;
        let entry = k as i32 * 16;
        dynasm!(self.a ; .arch x64
            ; mov rax, [rdi + idx + BITS]
            ; mov rdx, [rsi + CTX_ARRAYS]
            ; cmp rax, [rdx + entry + 8]
            ; jae =>leave
            ; mov rdx, [rdx + entry]
        );
        Some(())
    }

    /// An array read: the element of the array in slot `arr` at the index
    /// in slot `idx`, into slot `out` (tagged `tag`); out of bounds leaves
    /// before op `pc` so the interpreter traps.
    fn array_get(&mut self, pc: usize, arr: i32, idx: i32, out: i32, float: bool) -> Option<()> {
        let leave = self.resume_before(pc)?;
        let helper = if float {
            helper_get_float as *const () as usize
        } else {
            helper_get_int as *const () as usize
        };
        self.call_helper(
            helper,
            [Arg::Payload(arr), Arg::Payload(idx), Arg::PayloadAddr(out)],
        );
        let tag = if float { Tag::Float } else { Tag::Int } as i8;
        dynasm!(self.a ; .arch x64
            ; test eax, eax
            ; jnz =>leave
            ; mov BYTE [rdi + out + TAG], tag
        );
        Some(())
    }

    /// An array write of `val` at the index in slot `idx` of the array in
    /// slot `arr`; out of bounds leaves before op `pc`.
    fn array_set(&mut self, pc: usize, arr: i32, idx: i32, val: Arg, float: bool) -> Option<()> {
        let leave = self.resume_before(pc)?;
        let helper = if float {
            helper_set_float as *const () as usize
        } else {
            helper_set_int as *const () as usize
        };
        self.call_helper(helper, [Arg::Payload(arr), Arg::Payload(idx), val]);
        dynasm!(self.a ; .arch x64 ; test eax, eax ; jnz =>leave);
        Some(())
    }

    fn store_bool(&mut self, slot: i32) {
        dynasm!(self.a ; .arch x64
            ; movzx eax, al
            ; mov [rdi + slot + BITS], rax
            ; mov BYTE [rdi + slot + TAG], Tag::Bool as i8
        );
    }
}

/// A helper argument.
#[derive(Clone, Copy)]
enum Arg {
    /// The payload of the frame slot at this offset.
    Payload(i32),
    /// The address of that payload (for results).
    PayloadAddr(i32),
    /// A constant.
    Const(i64),
    /// The address of hoisted array `k`'s (pointer, length) entry.
    Hoisted(usize),
}

/// The elements (as raw words) of the verified array operand `arr`
/// stored as `elem`, or `None` when it is not one.
///
/// # Safety
///
/// `heap` is `JitCtx::heap`: valid, and not otherwise borrowed while
/// compiled code runs (see `enter`).
unsafe fn words<'h>(heap: *mut Heap, arr: u64, elem: Elem) -> Option<&'h mut [u64]> {
    // SAFETY: the caller's contract. (The payload of a verified array
    // operand names a live array; a helper must not unwind into compiled
    // code, so even so a wrong one is an answer, not a panic.)
    unsafe { (*heap).try_words_mut(arr as u32, elem) }
}

/// `array.get` on `array<int>`: 0 with the element in `*out`, or 1 when
/// the index is out of bounds (nothing written).
extern "sysv64" fn helper_get_int(heap: *mut Heap, arr: u64, idx: i64, out: *mut i64) -> u32 {
    // SAFETY: called only by compiled code, with `ctx.heap` (see `words`).
    let xs = unsafe { words(heap, arr, Elem::Int) };
    match xs.and_then(|xs| usize::try_from(idx).ok().and_then(|i| xs.get(i))) {
        Some(x) => {
            // SAFETY: `out` is the payload address of a frame slot below
            // `Compiled::slots` (see `enter`).
            unsafe { *out = *x as i64 };
            0
        }
        None => 1,
    }
}

/// `array.get` on `array<float>`, as [`helper_get_int`].
extern "sysv64" fn helper_get_float(heap: *mut Heap, arr: u64, idx: i64, out: *mut f64) -> u32 {
    // SAFETY: called only by compiled code, with `ctx.heap` (see `words`).
    let xs = unsafe { words(heap, arr, Elem::Float) };
    match xs.and_then(|xs| usize::try_from(idx).ok().and_then(|i| xs.get(i))) {
        Some(x) => {
            // SAFETY: as in `helper_get_int`.
            unsafe { *out = f64::from_bits(*x) };
            0
        }
        None => 1,
    }
}

/// `array.set` on `array<int>`: 0, or 1 when out of bounds (no change).
extern "sysv64" fn helper_set_int(heap: *mut Heap, arr: u64, idx: i64, val: i64) -> u32 {
    // SAFETY: called only by compiled code, with `ctx.heap` (see `words`).
    let xs = unsafe { words(heap, arr, Elem::Int) };
    match xs.and_then(|xs| usize::try_from(idx).ok().and_then(|i| xs.get_mut(i))) {
        Some(x) => {
            *x = val as u64;
            0
        }
        None => 1,
    }
}

/// `array.set` on `array<float>` (the value as its bits), as
/// [`helper_set_int`].
extern "sysv64" fn helper_set_float(heap: *mut Heap, arr: u64, idx: i64, val: u64) -> u32 {
    // SAFETY: called only by compiled code, with `ctx.heap` (see `words`).
    let xs = unsafe { words(heap, arr, Elem::Float) };
    match xs.and_then(|xs| usize::try_from(idx).ok().and_then(|i| xs.get_mut(i))) {
        Some(x) => {
            *x = val;
            0
        }
        None => 1,
    }
}

/// The data pointer and length of an `array<int>` or `array<float>` into
/// `*out`: 0, or 1 for any other object (nothing written). The pointer
/// stays valid while the loop runs: compiled loops do not allocate, and
/// heap objects never move.
extern "sysv64" fn helper_array_raw(heap: *mut Heap, arr: u64, out: *mut [u64; 2], _: u64) -> u32 {
    // SAFETY: called only by compiled code, with `ctx.heap` (see `words`).
    let xs = unsafe { words(heap, arr, Elem::Int) }
        // SAFETY: as above.
        .or_else(|| unsafe { words(heap, arr, Elem::Float) });
    let Some(xs) = xs else {
        return 1;
    };
    let raw = [xs.as_mut_ptr() as u64, xs.len() as u64];
    // SAFETY: `out` is an entry of the `arrays` buffer `enter` passes in
    // `ctx`, which has one entry per hoisted array.
    unsafe { *out = raw };
    0
}

/// The array locals of the loop that its fused array ops read or write
/// through and that no op of the loop stores to: the ones whose data the
/// prologue can look up once.
fn invariant_arrays(module: &VerifiedModule, header: usize, back_edge: usize) -> Vec<u16> {
    let mut used = Vec::new();
    let mut stored = Vec::new();
    let mut pc = header;
    while pc <= back_edge {
        let op = module.code()[pc];
        match op {
            Op::ArrayGetIntLocals(a, _)
            | Op::ArrayGetFloatLocals(a, _)
            | Op::ArraySetIntLocalsConst { arr: a, .. } => used.push(a),
            Op::Store(l) | Op::AddIntStore(l) => stored.push(l),
            Op::IncLocal(l, _) | Op::AddLocalsTo { dst: l, .. } => stored.push(u32::from(l)),
            Op::IncBrLocal { i, .. } => stored.push(u32::from(i)),
            _ => {}
        }
        pc += op.span();
    }
    used.sort_unstable();
    used.dedup();
    used.retain(|a| !stored.contains(&u32::from(*a)));
    used
}

/// `array.len`: the length into `*out`; returns 0.
extern "sysv64" fn helper_len(heap: *mut Heap, arr: u64, out: *mut i64, _: u64) -> u32 {
    // SAFETY: called only by compiled code, with `ctx.heap` (see `words`).
    let len = unsafe { (*heap).try_array_len(arr as u32) }.unwrap_or(0);
    // SAFETY: as in `helper_get_int`.
    unsafe { *out = len as i64 };
    0
}

/// Compiles the loop `header..=back_edge`, or `None` when it holds an op
/// the compiler does not handle (or is not a loop of one function).
/// `depths` are those of the loop's function. The work is linear in the
/// loop's size.
fn compile(
    module: &VerifiedModule,
    header: usize,
    back_edge: usize,
    depths: &Depths,
) -> Option<Compiled> {
    // Op indices and depths are written as 32-bit immediates.
    if header > back_edge || back_edge - header >= MAX_LOOP_OPS || back_edge + 8 > i32::MAX as usize
    {
        return None;
    }
    let fi = module.func_at(header);
    if module.func_at(back_edge) != fi {
        return None;
    }
    let f = &module.funcs()[fi];
    let start = f.start as usize;
    let slots = f.num_locals as usize + 1 + f.max_stack as usize;
    let mut a = Assembler::new().ok()?;
    // Ops of the loop, each with a label (jump targets are never inside a
    // fused sequence, so these are all the places control can enter).
    let mut labels = vec![None; back_edge - header + 1];
    let mut pc = header;
    while pc <= back_edge {
        labels[pc - header] = Some(a.new_dynamic_label());
        pc += Op::span(module.code()[pc]);
    }
    let mut e = Emitter {
        a,
        module,
        header,
        back_edge,
        operands: (f.num_locals as i32 + 1) * SLOT,
        labels,
        stubs: Vec::new(),
        depths,
        func_start: start,
        globals: 0,
        hoisted: invariant_arrays(module, header, back_edge),
    };
    let entry = e.a.offset();
    // rdi: frame; rsi: ctx; r10: budget.
    dynasm!(e.a ; .arch x64 ; mov r10, [rsi + CTX_BUDGET]);
    // The prologue: pointer and length of each hoisted array.
    if !e.hoisted.is_empty() {
        let leave = e.resume_before(header)?;
        for k in 0..e.hoisted.len() {
            let local = e.local(e.hoisted[k]);
            e.call_helper(
                helper_array_raw as *const () as usize,
                [Arg::Payload(local), Arg::Hoisted(k), Arg::Const(0)],
            );
            dynasm!(e.a ; .arch x64 ; test eax, eax ; jnz =>leave);
        }
    }
    let mut pc = header;
    while pc <= back_edge {
        let label = e.labels[pc - header]?;
        dynasm!(e.a ; .arch x64 ; =>label);
        let d = e.depth_at(pc)?;
        e.op(pc, d)?;
        pc += Op::span(module.code()[pc]);
    }
    // Falling out of the back edge leaves the loop (no depth: nothing
    // falls out, the back edge is an unconditional jump).
    if let Some(after) = e.depth_at(pc) {
        let out = e.stub(Stub::Resume { pc, depth: after });
        dynasm!(e.a ; .arch x64 ; jmp =>out);
    }
    let stubs = std::mem::take(&mut e.stubs);
    for (label, stub) in stubs {
        let (status, pc, depth, branch) = match stub {
            Stub::Resume { pc, depth } => (STATUS_RESUME, pc, depth, 0),
            Stub::Checkpoint {
                branch,
                target,
                depth,
            } => (STATUS_CHECKPOINT, target, depth, branch),
        };
        let (pc, depth, branch) = (pc as i32, depth as i32, branch as i32);
        dynasm!(e.a ; .arch x64
            ; =>label
            ; mov [rsi + CTX_BUDGET], r10
            ; mov QWORD [rsi + CTX_PC], pc
            ; mov QWORD [rsi + CTX_DEPTH], depth
            ; mov QWORD [rsi + CTX_BRANCH], branch
            ; mov eax, status
            ; ret
        );
    }
    let buf = e.a.finalize().ok()?;
    let globals = e.globals;
    let hoisted = e.hoisted.len();
    Some(Compiled {
        buf,
        entry,
        slots,
        globals,
        hoisted,
    })
}

#[cfg(test)]
mod tests;
