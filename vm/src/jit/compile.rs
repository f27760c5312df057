//! The function compiler: one pass over a function's specialized code,
//! emitting x86_64 with the operand stack cached in registers.
//!
//! **What it compiles.** A whole function, all its loops included. Fused
//! superinstructions are compiled as the plain sequence they stand for
//! (its later ops stay in the code after it): the register cache gives
//! that sequence the code the superinstruction was fused for, and every
//! constant, however large, is an immediate alike. What the fused form
//! changes for the interpreter is kept where it can be seen: a fused
//! compare-and-branch checks the budget when taken even forward, and an
//! array access fused with its loads that traps counts one instruction.
//!
//! **Invariant at every label** (jump target, loop header, OSR entry):
//! every operand is in its frame slot with its tag, pinned locals are in
//! their registers, and every instruction before the label is charged to
//! the budget. Between labels the operand stack lives in [`Cache`]: a value
//! may be in a register, a constant, or a reference to a local, and is
//! written to its slot only when something could look: a call or helper
//! (the collector scans the slots below the stack pointer; the helper
//! reads its operands there), a branch, a label.
//!
//! **Exactness.** Every op either runs inline, with the interpreter's
//! semantics (wrapping int arithmetic, `idiv` never reached with 0 or -1,
//! IEEE compares with NaN), or through `helpers::op`, which runs the
//! interpreter's own code for it. Instructions are charged per run of
//! straight-line code, before anything that looks at the budget (helpers,
//! checks, trap stubs, returns); a trap stub charges exactly what the
//! interpreter had counted at that trap.

#![allow(clippy::useless_conversion)] // dynasm's `Rq(r)` expands to `r.into()`

use dynasmrt::x64::Assembler;
use dynasmrt::{AssemblyOffset, DynamicLabel, DynasmApi, DynasmLabelApi, ExecutableBuffer, dynasm};

use super::abi::{reg::*, *};
use super::cache::{Cache, Loc, Pin, Rep, Slot, choose_pins};
use super::helpers;
use super::regions::{self, Facts, Region};
use indexmap::IndexMap;

use crate::heap::Shape;
use crate::native::PureFloat;
use crate::types::Type;
use crate::value::Tag;
use crate::verify::{Const, Op, VerifiedFunc, VerifiedModule};

/// Most ops one compiled function may have; larger ones stay interpreted.
pub(super) const MAX_FUNC_OPS: usize = 1 << 20;

/// A compiled function.
pub(crate) struct FuncCode {
    pub(super) buf: ExecutableBuffer,
    /// Entered by compiled callers (writes the frame record and locals).
    pub(super) call_entry: AssemblyOffset,
    /// Entered from the interpreter, whose `enter` set the frame up.
    pub(super) interp_entry: AssemblyOffset,
    /// OSR entries: (loop header pc, entry), by header.
    pub(super) osr: Vec<(u32, AssemblyOffset)>,
    /// Where the code ends and its constants (8 bytes each) begin.
    pub(super) data: usize,
    /// Machine code of each op: (op pc, start, end) code offsets.
    pub(super) ranges: Vec<(u32, u32, u32)>,
}

/// What the compiler needs from the instance's JIT: where calls go.
pub(super) struct Env {
    /// The function table (one entry address per module function).
    pub(super) table: *const u64,
    /// The pure float functions among the imports, by import index.
    pub(super) pure: Vec<Option<PureFloat>>,
}

/// The x86 condition under which a compare makes `cmp` hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cc {
    L,
    Le,
    G,
    Ge,
    E,
    Ne,
    /// Unsigned, for float compares (`ucomisd`).
    A,
    Ae,
}

fn invert(cc: Cc) -> Option<Cc> {
    Some(match cc {
        Cc::L => Cc::Ge,
        Cc::Le => Cc::G,
        Cc::G => Cc::Le,
        Cc::Ge => Cc::L,
        Cc::E => Cc::Ne,
        Cc::Ne => Cc::E,
        // `not above` also holds on NaN, which `below or equal` is.
        Cc::A | Cc::Ae => return None,
    })
}

fn jcc(a: &mut Assembler, cc: Cc, to: DynamicLabel) {
    match cc {
        Cc::L => dynasm!(a ; .arch x64 ; jl =>to),
        Cc::Le => dynasm!(a ; .arch x64 ; jle =>to),
        Cc::G => dynasm!(a ; .arch x64 ; jg =>to),
        Cc::Ge => dynasm!(a ; .arch x64 ; jge =>to),
        Cc::E => dynasm!(a ; .arch x64 ; je =>to),
        Cc::Ne => dynasm!(a ; .arch x64 ; jne =>to),
        Cc::A => dynasm!(a ; .arch x64 ; ja =>to),
        Cc::Ae => dynasm!(a ; .arch x64 ; jae =>to),
    }
}

/// A jump taken when `cc` does not hold.
fn jncc(a: &mut Assembler, cc: Cc, to: DynamicLabel) {
    match cc {
        Cc::A => dynasm!(a ; .arch x64 ; jbe =>to),
        Cc::Ae => dynasm!(a ; .arch x64 ; jb =>to),
        _ => jcc(a, invert(cc).unwrap_or(cc), to),
    }
}

fn setcc(a: &mut Assembler, cc: Cc) {
    match cc {
        Cc::L => dynasm!(a ; .arch x64 ; setl al),
        Cc::Le => dynasm!(a ; .arch x64 ; setle al),
        Cc::G => dynasm!(a ; .arch x64 ; setg al),
        Cc::Ge => dynasm!(a ; .arch x64 ; setge al),
        Cc::E => dynasm!(a ; .arch x64 ; sete al),
        Cc::Ne => dynasm!(a ; .arch x64 ; setne al),
        Cc::A => dynasm!(a ; .arch x64 ; seta al),
        Cc::Ae => dynasm!(a ; .arch x64 ; setae al),
    }
}

/// The plain op a superinstruction replaced (the first of its sequence),
/// or the op itself; `next` is the op after it.
pub(crate) fn plain(op: Op, next: Option<Op>) -> Op {
    op.first_op(next.unwrap_or(Op::Nop))
}

/// How a superinstruction changes what the interpreter does inside its
/// sequence: whether its branch checks the budget even forward, and the
/// instructions its trap counts.
#[derive(Clone, Copy)]
struct Seq {
    /// One past the sequence's last op.
    end: usize,
    /// The branch at `end - 1` checks the budget when taken.
    checks: bool,
    /// A trap inside counts one instruction for the whole sequence.
    traps_count_one: bool,
    start: usize,
}

fn seq_of(op: Op, pc: usize) -> Option<Seq> {
    let span = op.span();
    if span == 1 {
        return None;
    }
    Some(Seq {
        end: pc + span,
        start: pc,
        checks: op.branch_always_checks(),
        traps_count_one: op.trap_counts_one(),
    })
}

/// The condition of an int (or bits) compare op.
fn int_cc(op: Op) -> Option<Cc> {
    Some(match op {
        Op::LtInt => Cc::L,
        Op::LeInt => Cc::Le,
        Op::GtInt => Cc::G,
        Op::GeInt => Cc::Ge,
        Op::EqBits => Cc::E,
        Op::NeBits => Cc::Ne,
        _ => return None,
    })
}

/// A loop header that tests two int operands, each a local or a
/// constant, and branches out (a `.for` loop's test): `plain ops: load or
/// push, load or push, compare, jmpif / jmpifnot`. Its back edges test the
/// loop themselves (see `Cx::rotated_back_edge`).
#[derive(Clone, Copy)]
struct Rotation {
    /// The compare's operands: `Loc::Local` or `Loc::Imm`.
    operands: [Loc; 2],
    /// The compare's condition.
    cc: Cc,
    /// The branch is `jmpif` (out when the compare holds).
    if_true: bool,
    /// Where the branch goes out to.
    exit: usize,
}

/// The rotation of the loop whose header is op `h` of `f`, if it has the
/// shape of one (see [`Rotation`]); `is_target` says which ops are jump
/// targets.
fn rotation(
    m: &VerifiedModule,
    f: &VerifiedFunc,
    h: usize,
    is_target: impl Fn(usize) -> bool,
) -> Option<Rotation> {
    let start = f.start as usize;
    let end = start + f.offsets.len();
    if h + 4 >= end || !f.stack_at(h - start)?.is_empty() || f.stack_at(h + 4 - start).is_none() {
        return None;
    }
    let code = m.code();
    let p = |i: usize| plain(code[i], code.get(i + 1).copied());
    let operand = |op: Op| match op {
        Op::Load(l) if matches!(f.local_types.get(l as usize), Some(Type::Int)) => {
            Some(Loc::Local(l))
        }
        Op::PushSmallInt(k) => Some(Loc::Imm(i64::from(k))),
        Op::PushConst(c) => match m.consts().get(c as usize)? {
            Const::Int(v) => Some(Loc::Imm(*v)),
            Const::Float(_) => None,
        },
        _ => None,
    };
    let operands = [operand(p(h))?, operand(p(h + 1))?];
    let cc = int_cc(p(h + 2))?;
    let (exit, if_true) = match code[h + 3] {
        Op::JmpIf(t) => (t as usize, true),
        Op::JmpIfNot(t) => (t as usize, false),
        _ => return None,
    };
    // Nothing jumps into the test.
    if (h + 1..=h + 3).any(&is_target) {
        return None;
    }
    Some(Rotation {
        operands,
        cc,
        if_true,
        exit,
    })
}

/// A helper argument for a trap stub.
#[derive(Clone, Copy)]
enum Arg {
    Reg(u8),
    Imm(i64),
}

/// Out-of-line code, emitted after the body.
enum Stub {
    /// Raise trap `kind` (see `helpers::trap`) with arguments `a` and
    /// `b` at op `pc`, first charging `charge` instructions.
    Trap {
        pc: usize,
        charge: i64,
        kind: u32,
        a: Arg,
        b: Arg,
    },
    /// The budget is spent at the branch or call at `pc`: refuel (which
    /// may trap there), then go on at `back`.
    Refuel { pc: usize, back: DynamicLabel },
    /// The value stack is too short for a callee needing `need` bytes past
    /// the caller's frame: grow it (may trap at `pc`), then go on at
    /// `back`.
    Grow {
        pc: usize,
        need: i32,
        back: DynamicLabel,
    },
    /// The native stack is low: run the callee in the interpreter, then
    /// go on at `back`.
    Nested { back: DynamicLabel },
    /// Give back `n` instructions charged ahead, then go on at `then`.
    Uncharge { n: i32, then: DynamicLabel },
    /// Write the cached operands `slots` (by depth) to their frame slots,
    /// as a flush would, then go on at `then` (a stub that calls Rust).
    Spill {
        slots: Vec<(usize, Slot)>,
        then: DynamicLabel,
    },
    /// Reload the operands of `slots` cached in registers from their frame
    /// slots (written by a `Spill`; a helper clobbered the registers),
    /// then go on at `back`.
    Reload {
        slots: Vec<(usize, Slot)>,
        back: DynamicLabel,
    },
    /// Load register `r` from the native frame's word at `off` bytes from
    /// `rsp`, then go on at `then`.
    FromFrame { r: u8, off: i32, then: DynamicLabel },
    /// An inlined call's depth limit and value-stack room checks (see
    /// `Cx::enter_checks`), out of line, then go on at `back`.
    EnterChecks {
        need: i32,
        overflow: DynamicLabel,
        grow: DynamicLabel,
        back: DynamicLabel,
    },
}

/// The element kind of an array type the compiler accesses inline.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Inline {
    Int,
    Float,
    Bool,
}

fn inline_elem(t: &Type) -> Option<Inline> {
    match t {
        Type::Array(e) => match **e {
            Type::Int => Some(Inline::Int),
            Type::Float => Some(Inline::Float),
            Type::Bool => Some(Inline::Bool),
            _ => None,
        },
        _ => None,
    }
}

struct Cx<'m> {
    a: Assembler,
    m: &'m VerifiedModule,
    f: &'m VerifiedFunc,
    start: usize,
    end: usize,
    /// Byte offset of operand slot 0 in the frame.
    operands: i32,
    cache: Cache,
    pins: Vec<Option<Pin>>,
    /// (local, pin) of every pinned local.
    pinned: Vec<(u32, Pin)>,
    /// Label of each op that is a jump target, by pc - start.
    labels: Vec<Option<DynamicLabel>>,
    /// Loop headers (targets of backward jumps).
    headers: Vec<usize>,
    /// Instructions run but not yet charged to `r14`.
    pending: i64,
    stubs: Vec<(DynamicLabel, Stub)>,
    /// Returns the status in `eax` through the epilogue.
    propagate: DynamicLabel,
    /// The superinstruction sequence the current op is in.
    seq: Option<Seq>,
    /// After an unconditional jump or return: nothing reaches the code
    /// until the next label.
    dead: bool,
    ranges: Vec<(u32, u32, u32)>,
    table: *const u64,
    pure: &'m [Option<PureFloat>],
    /// The layout of each record type the code accesses, by record index
    /// (computed once each).
    shapes: Vec<Option<Shape>>,
    /// The register allocator ran out (see `alloc_gpr`): give up.
    broken: bool,
    /// The op being compiled.
    pc: usize,
    /// What this pass saw (see `regions`).
    facts: Facts,
    /// Loop regions, and the label past each one's loads (where its back
    /// edges go).
    regions: Vec<Region>,
    inner: Vec<DynamicLabel>,
    /// The loop headers whose back edges test the loop (by header pc).
    rotations: Vec<(usize, Rotation)>,
    /// The 8-byte constants float code loads, emitted after the code in
    /// this order, and the label of each.
    constants: IndexMap<i64, DynamicLabel>,
}

/// The compiled code of function `fi`, or `None` when it cannot be
/// compiled (a snippet, a function too large, or a verifier fact missing).
/// A function with loop regions (see `regions`) is compiled twice: the
/// first pass finds them.
pub(super) fn compile<'m>(module: &'m VerifiedModule, fi: usize, env: &'m Env) -> Option<FuncCode> {
    let (first, facts, _) = pass(module, fi, env, Vec::new())?;
    let f = module.funcs().get(fi)?;
    let start = f.start as usize;
    let code = module.code().get(start..start + f.offsets.len())?;
    let plan = regions::plan(code, start, &facts, KEY_SLOTS);
    if plan.is_empty() {
        return Some(first);
    }
    match pass(module, fi, env, plan) {
        Some((code, facts, plan)) if regions::still_clean(&plan, &facts) => Some(code),
        _ => Some(first),
    }
}

/// Byte offset from `rsp` of the first key slot (see `Cx::room`).
const KEY_SLOTS: i32 = 16;

/// One compile pass of function `fi` with loop regions `regions`: its
/// code, what it saw, and the regions.
fn pass<'m>(
    module: &'m VerifiedModule,
    fi: usize,
    env: &'m Env,
    regions: Vec<Region>,
) -> Option<(FuncCode, Facts, Vec<Region>)> {
    let f = module.funcs().get(fi)?;
    if module.snippet().is_some_and(|s| s.func == fi) {
        return None;
    }
    let start = f.start as usize;
    let end = start.checked_add(f.offsets.len())?;
    if end - start > MAX_FUNC_OPS || end > u32::MAX as usize / 2 || end > module.code().len() {
        return None;
    }
    let nl = f.num_locals as usize;
    // Every frame offset fits an i32 displacement with room to spare.
    slot(nl.checked_add(f.max_stack as usize)?.checked_add(8)?)?.checked_mul(2)?;
    let code = &module.code()[start..end];
    let mut a = Assembler::new().ok()?;
    let mut labels = vec![None; end - start];
    let mut is_header = vec![false; end - start];
    for (i, op) in code.iter().enumerate() {
        if let Op::Jmp(t) | Op::JmpIf(t) | Op::JmpIfNot(t) = *op {
            let t = t as usize;
            if !(start..end).contains(&t) {
                return None;
            }
            if labels[t - start].is_none() {
                labels[t - start] = Some(a.new_dynamic_label());
            }
            if t <= start + i {
                is_header[t - start] = true;
            }
        }
        if matches!(op, Op::Halt | Op::Unreachable) && f.stack_at(i).is_some() {
            return None;
        }
    }
    let headers: Vec<usize> = (0..end - start)
        .filter(|&i| is_header[i])
        .map(|i| start + i)
        .collect();
    // A rotated back edge jumps to the op after its loop's test.
    let rotations: Vec<(usize, Rotation)> = headers
        .iter()
        .filter_map(|&h| Some((h, rotation(module, f, h, |i| labels[i - start].is_some())?)))
        .collect();
    for &(h, _) in &rotations {
        if labels[h + 4 - start].is_none() {
            labels[h + 4 - start] = Some(a.new_dynamic_label());
        }
    }
    let (pins, pinned) = choose_pins(module, f);
    let propagate = a.new_dynamic_label();
    let inner = regions.iter().map(|_| a.new_dynamic_label()).collect();
    let cx = Cx {
        a,
        m: module,
        f,
        start,
        end,
        operands: slot(nl + 1)?,
        cache: Cache::new(),
        pins,
        pinned,
        labels,
        headers,
        pending: 0,
        stubs: Vec::new(),
        propagate,
        seq: None,
        dead: false,
        ranges: Vec::new(),
        table: env.table,
        pure: &env.pure,
        shapes: Vec::new(),
        broken: false,
        pc: start,
        facts: Facts::default(),
        regions,
        inner,
        rotations,
        constants: IndexMap::new(),
    };
    cx.body_and_entries()
}

impl Cx<'_> {
    fn local(&self, l: u32) -> i32 {
        l as i32 * SLOT
    }

    fn operand(&self, d: usize) -> i32 {
        self.operands + d as i32 * SLOT
    }

    fn label_at(&self, pc: usize) -> Option<DynamicLabel> {
        self.labels
            .get(pc.checked_sub(self.start)?)
            .copied()
            .flatten()
    }

    fn local_type(&self, l: u32) -> Option<&Type> {
        self.f.local_types.get(l as usize)
    }

    /// The representation of each operand at op `pc`, bottom first.
    fn reps_at(&self, pc: usize) -> Option<Vec<Rep>> {
        let types = self.f.stack_at(pc - self.start)?;
        types
            .iter()
            .map(|&t| self.m.types().get(t as usize).map(Rep::of))
            .collect()
    }

    /// The type of the operand `k` below the top at op `pc`.
    fn operand_type(&self, pc: usize, k: usize) -> Option<&Type> {
        let types = self.f.stack_at(pc - self.start)?;
        let t = *types.get(types.len().checked_sub(k + 1)?)?;
        self.m.types().get(t as usize)
    }

    fn new_stub(&mut self, stub: Stub) -> DynamicLabel {
        let l = self.a.new_dynamic_label();
        self.stubs.push((l, stub));
        l
    }

    /// Charges the pending instructions to `r14`, keeping the flags.
    fn charge(&mut self) {
        if self.pending != 0 {
            let n = i32::try_from(-self.pending).unwrap_or(i32::MIN);
            dynasm!(self.a ; .arch x64 ; lea r14, [r14 + n]);
            self.pending = 0;
        }
    }

    // ---- the operand cache --------------------------------------------

    /// Writes operand `d` to its slot.
    fn store_operand(&mut self, d: usize) {
        let s = self.cache.slots[d];
        let off = self.operand(d);
        self.write_value(s, off);
        if let Loc::Gpr(r) = s.loc {
            self.cache.free_gpr(r);
        }
        if let Loc::Xmm(x) = s.loc {
            self.cache.free_xmm(x);
        }
        self.cache.slots[d].loc = Loc::Mem;
    }

    /// Writes the value `s` (not `Mem`) as a tagged value at frame offset
    /// `off`.
    fn write_value(&mut self, s: Slot, off: i32) {
        let tag = s.tag as i8;
        match s.loc {
            Loc::Mem => {}
            Loc::Gpr(r) => dynasm!(self.a ; .arch x64
                ; mov BYTE [r13 + off + TAG], tag
                ; mov QWORD [r13 + off + BITS], Rq(r)
            ),
            Loc::Xmm(x) => dynasm!(self.a ; .arch x64
                ; mov BYTE [r13 + off + TAG], tag
                ; movsd QWORD [r13 + off + BITS], Rx(x)
            ),
            Loc::Imm(v) => {
                dynasm!(self.a ; .arch x64 ; mov BYTE [r13 + off + TAG], tag);
                self.store_imm(off + BITS, v);
            }
            Loc::Local(l) => match self.pins[l as usize] {
                Some(Pin::Gpr(p)) => dynasm!(self.a ; .arch x64
                    ; mov BYTE [r13 + off + TAG], tag
                    ; mov QWORD [r13 + off + BITS], Rq(p)
                ),
                Some(Pin::Xmm(p)) => dynasm!(self.a ; .arch x64
                    ; mov BYTE [r13 + off + TAG], tag
                    ; movsd QWORD [r13 + off + BITS], Rx(p)
                ),
                None => {
                    let lo = self.local(l);
                    dynasm!(self.a ; .arch x64
                        ; movups xmm0, [r13 + lo]
                        ; movups [r13 + off], xmm0
                    );
                }
            },
            Loc::Global(g) => {
                let go = g as i32 * SLOT;
                dynasm!(self.a ; .arch x64
                    ; mov r11, [r12 + CTX_GLOBALS]
                    ; movups xmm0, [r11 + go]
                    ; movups [r13 + off], xmm0
                );
            }
        }
    }

    fn store_imm(&mut self, off: i32, v: i64) {
        if let Ok(k) = i32::try_from(v) {
            dynasm!(self.a ; .arch x64 ; mov QWORD [r13 + off], k);
        } else {
            dynasm!(self.a ; .arch x64 ; mov r11, QWORD v ; mov [r13 + off], r11);
        }
    }

    /// Writes every cached operand to its slot.
    fn flush(&mut self) {
        for d in 0..self.cache.slots.len() {
            self.store_operand(d);
        }
    }

    /// Before a store to local `l`: operands that still read it take their
    /// value now.
    fn detach_local(&mut self, l: u32) {
        for d in 0..self.cache.slots.len() {
            if self.cache.slots[d].loc == Loc::Local(l) {
                let s = self.cache.slots[d];
                match s.rep {
                    Rep::Int | Rep::Bool => {
                        let r = self.alloc_gpr();
                        self.load_gpr(r, s, d);
                        self.cache.slots[d].loc = Loc::Gpr(r);
                    }
                    Rep::Float => {
                        let x = self.alloc_xmm();
                        self.load_xmm(x, s, d);
                        self.cache.slots[d].loc = Loc::Xmm(x);
                    }
                    Rep::Val => self.store_operand(d),
                }
            }
        }
    }

    fn alloc_gpr(&mut self) -> u8 {
        if let Some(r) = self.cache.take_gpr() {
            return r;
        }
        // Forget held arrays before spilling operands.
        while self.cache.evict_held() {
            if let Some(r) = self.cache.take_gpr() {
                return r;
            }
        }
        // Spill the deepest operand held in a register.
        let held = self
            .cache
            .slots
            .iter()
            .position(|s| matches!(s.loc, Loc::Gpr(_)));
        if let Some(d) = held {
            self.store_operand(d);
        }
        self.cache.take_gpr().unwrap_or_else(|| {
            // Every cache register held by this op's own operands: cannot
            // happen with five registers and ops of at most three
            // operands; if it does, the function stays interpreted.
            self.broken = true;
            R11
        })
    }

    fn alloc_xmm(&mut self) -> u8 {
        if let Some(x) = self.cache.take_xmm() {
            return x;
        }
        let held = self
            .cache
            .slots
            .iter()
            .position(|s| matches!(s.loc, Loc::Xmm(_)));
        if let Some(d) = held {
            self.store_operand(d);
        }
        self.cache.take_xmm().unwrap_or_else(|| {
            self.broken = true;
            1
        })
    }

    fn push(&mut self, loc: Loc, rep: Rep, tag: Tag) {
        self.cache.slots.push(Slot { loc, rep, tag });
    }

    /// Pops the top operand: its slot and depth. Its register, if any,
    /// stays taken until [`Cx::release`].
    fn pop(&mut self) -> Option<(Slot, usize)> {
        let s = self.cache.slots.pop()?;
        Some((s, self.cache.slots.len()))
    }

    fn release(&mut self, s: Slot) {
        match s.loc {
            Loc::Gpr(r) => self.cache.free_gpr(r),
            Loc::Xmm(x) => self.cache.free_xmm(x),
            _ => {}
        }
    }

    /// The payload of `s` (popped from depth `d`) as an operand: a
    /// register, an immediate, or a frame offset.
    fn src(&mut self, s: Slot, d: usize) -> Src {
        match s.loc {
            Loc::Gpr(r) => Src::Reg(r),
            Loc::Imm(v) => match i32::try_from(v) {
                Ok(k) => Src::Imm(k),
                Err(_) => {
                    dynasm!(self.a ; .arch x64 ; mov r11, QWORD v);
                    Src::Reg(R11)
                }
            },
            Loc::Local(l) => match self.pins[l as usize] {
                Some(Pin::Gpr(p)) => Src::Reg(p),
                Some(Pin::Xmm(p)) => {
                    dynasm!(self.a ; .arch x64 ; movq r11, Rx(p));
                    Src::Reg(R11)
                }
                None => Src::Mem(self.local(l) + BITS),
            },
            Loc::Xmm(x) => {
                dynasm!(self.a ; .arch x64 ; movq r11, Rx(x));
                Src::Reg(R11)
            }
            Loc::Global(g) => {
                let go = g as i32 * SLOT + BITS;
                dynasm!(self.a ; .arch x64
                    ; mov r11, [r12 + CTX_GLOBALS]
                    ; mov r11, [r11 + go]
                );
                Src::Reg(R11)
            }
            Loc::Mem => Src::Mem(self.operand(d) + BITS),
        }
    }

    /// Loads the payload of `s` (from depth `d`) into register `r`.
    fn load_gpr(&mut self, r: u8, s: Slot, d: usize) {
        match self.src(s, d) {
            Src::Reg(x) if x == r => {}
            Src::Reg(x) => dynasm!(self.a ; .arch x64 ; mov Rq(r), Rq(x)),
            Src::Imm(k) => dynasm!(self.a ; .arch x64 ; mov Rq(r), QWORD k as i64),
            Src::Mem(o) => dynasm!(self.a ; .arch x64 ; mov Rq(r), QWORD [r13 + o]),
        }
    }

    /// `s` in a register this op may overwrite.
    fn owned_gpr(&mut self, s: Slot, d: usize) -> u8 {
        if let Loc::Gpr(r) = s.loc {
            return r;
        }
        let r = self.alloc_gpr();
        self.load_gpr(r, s, d);
        r
    }

    fn load_xmm(&mut self, x: u8, s: Slot, d: usize) {
        match s.loc {
            Loc::Xmm(y) if y == x => {}
            Loc::Xmm(y) => dynasm!(self.a ; .arch x64 ; movaps Rx(x), Rx(y)),
            Loc::Local(l) => match self.pins[l as usize] {
                Some(Pin::Xmm(p)) => dynasm!(self.a ; .arch x64 ; movaps Rx(x), Rx(p)),
                _ => {
                    let o = self.local(l) + BITS;
                    dynasm!(self.a ; .arch x64 ; movsd Rx(x), QWORD [r13 + o]);
                }
            },
            Loc::Imm(0) => dynasm!(self.a ; .arch x64 ; xorps Rx(x), Rx(x)),
            Loc::Imm(v) => {
                let c = self.constant(v);
                dynasm!(self.a ; .arch x64 ; movsd Rx(x), QWORD [=>c]);
            }
            Loc::Gpr(r) => dynasm!(self.a ; .arch x64 ; movq Rx(x), Rq(r)),
            Loc::Global(g) => {
                let go = g as i32 * SLOT + BITS;
                dynasm!(self.a ; .arch x64
                    ; mov r11, [r12 + CTX_GLOBALS]
                    ; movsd Rx(x), QWORD [r11 + go]
                );
            }
            Loc::Mem => {
                let o = self.operand(d) + BITS;
                dynasm!(self.a ; .arch x64 ; movsd Rx(x), QWORD [r13 + o]);
            }
        }
    }

    fn owned_xmm(&mut self, s: Slot, d: usize) -> u8 {
        if let Loc::Xmm(x) = s.loc {
            return x;
        }
        let x = self.alloc_xmm();
        self.load_xmm(x, s, d);
        x
    }

    /// A float operand as a register or frame offset.
    fn xsrc(&mut self, s: Slot, d: usize) -> XSrc {
        match s.loc {
            Loc::Xmm(x) => XSrc::Reg(x),
            Loc::Local(l) => match self.pins[l as usize] {
                Some(Pin::Xmm(p)) => XSrc::Reg(p),
                _ => XSrc::Mem(self.local(l) + BITS),
            },
            Loc::Mem => XSrc::Mem(self.operand(d) + BITS),
            _ => {
                self.load_xmm(1, s, d);
                XSrc::Reg(1)
            }
        }
    }

    // ---- pins, helpers and calls ----------------------------------------

    fn load_pins(&mut self, xmm_only: bool) {
        for k in 0..self.pinned.len() {
            let (l, p) = self.pinned[k];
            let o = self.local(l) + BITS;
            match p {
                Pin::Gpr(r) if !xmm_only => dynasm!(self.a ; .arch x64 ; mov Rq(r), [r13 + o]),
                Pin::Xmm(x) => dynasm!(self.a ; .arch x64 ; movsd Rx(x), QWORD [r13 + o]),
                _ => {}
            }
        }
    }

    fn store_pins(&mut self, xmm_only: bool) {
        for k in 0..self.pinned.len() {
            let (l, p) = self.pinned[k];
            let o = self.local(l) + BITS;
            match p {
                Pin::Gpr(r) if !xmm_only => dynasm!(self.a ; .arch x64 ; mov [r13 + o], Rq(r)),
                Pin::Xmm(x) => dynasm!(self.a ; .arch x64 ; movsd QWORD [r13 + o], Rx(x)),
                _ => {}
            }
        }
    }

    fn reload_frame(&mut self) {
        dynasm!(self.a ; .arch x64
            ; mov r13, [r12 + CTX_STACK_BASE]
            ; add r13, [rsp]
        );
    }

    /// Calls Rust `helper` with `rdi` = ctx, `rsi` = frame and the given
    /// `rdx`, `rcx`; the budget goes through the context. Leaves the status
    /// in `eax` and jumps to the epilogue when it is a trap. The caller has
    /// flushed the operands.
    fn call_helper(&mut self, helper: usize, arg3: i64, arg4: i64) {
        self.note_rust();
        self.cache.forget_held();
        self.store_pins(true);
        let helper = helper as i64;
        dynasm!(self.a ; .arch x64
            ; mov [r12 + CTX_BUDGET], r14
            ; mov rdi, r12
            ; mov rsi, r13
            ; mov rdx, QWORD arg3
            ; mov rcx, QWORD arg4
            ; mov rax, QWORD helper
            ; call rax
            ; mov r14, [r12 + CTX_BUDGET]
        );
        self.reload_frame();
        let out = self.propagate;
        dynasm!(self.a ; .arch x64 ; test eax, eax ; jnz =>out);
        self.load_pins(true);
    }

    /// Op `pc` through `helpers::op` (the interpreter's code for it).
    fn delegate(&mut self, pc: usize) -> Option<()> {
        let depth = self.cache.slots.len();
        self.flush();
        self.charge();
        self.call_helper(helpers::op as *const () as usize, pc as i64, depth as i64);
        self.after_helper(pc)
    }

    /// The operands after an op done out of line: all in their slots, as
    /// the verifier typed them at the next op.
    fn after_helper(&mut self, pc: usize) -> Option<()> {
        self.cache = Cache::new();
        match self.reps_at(pc + 1) {
            Some(reps) if pc + 1 < self.end => {
                for rep in reps {
                    self.push(Loc::Mem, rep, rep.tag());
                }
            }
            _ => self.dead = true,
        }
        Some(())
    }

    /// A trap stub for op `pc`, charging what the interpreter counted.
    fn trap_stub(&mut self, pc: usize, kind: u32, a: Arg, b: Arg) -> DynamicLabel {
        let mut charge = self.pending;
        if let Some(seq) = self.seq.filter(|s| s.traps_count_one) {
            // The interpreter counted the fused op once; this sequence has
            // run `pc - start + 1` plain ops by now, counted by `pending`.
            charge -= (pc - seq.start) as i64;
        }
        self.new_stub(Stub::Trap {
            pc,
            charge,
            kind,
            a,
            b,
        })
    }

    // ---- the body -------------------------------------------------------

    fn body_and_entries(mut self) -> Option<(FuncCode, Facts, Vec<Region>)> {
        // Entries first, each ending in a jump to the body or a header.
        let body = self.a.new_dynamic_label();
        let nl = self.f.num_locals as usize;
        let np = self.f.num_params as usize;
        let rec = self.local(nl as u32);
        let prologue = |cx: &mut Self| {
            for r in cx.saved() {
                dynasm!(cx.a ; .arch x64 ; push Rq(r));
            }
            let room = cx.room();
            dynasm!(cx.a ; .arch x64
                ; sub rsp, room
                ; mov rcx, r13
                ; sub rcx, [r12 + CTX_STACK_BASE]
                ; mov [rsp], rcx
                ; shr rcx, 4
                ; mov [rsp + 8], rcx
            );
        };
        let call_entry = self.a.offset();
        prologue(&mut self);
        dynasm!(self.a ; .arch x64
            ; mov BYTE [r13 + rec + TAG], Tag::Nil as i8
            ; mov [r13 + rec + BITS], rax
        );
        for l in np..nl {
            let tag = self
                .local_type(l as u32)
                .map_or(Tag::Nil, |t| Rep::of(t).tag_or_nil());
            let o = self.local(l as u32);
            dynasm!(self.a ; .arch x64
                ; mov BYTE [r13 + o + TAG], tag as i8
                ; mov QWORD [r13 + o + BITS], 0
            );
        }
        self.load_pins(false);
        dynasm!(self.a ; .arch x64 ; jmp =>body);
        let interp_entry = self.a.offset();
        prologue(&mut self);
        self.load_pins(false);
        dynasm!(self.a ; .arch x64 ; jmp =>body);
        let mut osr = Vec::new();
        for k in 0..self.headers.len() {
            let h = self.headers[k];
            let label = self.label_at(h)?;
            osr.push((h as u32, self.a.offset()));
            prologue(&mut self);
            self.load_pins(false);
            // A loop inside a region is entered past the region's loads:
            // they run here.
            let label = match self.regions.iter().position(|r| r.contains(h - self.start)) {
                Some(k) => {
                    self.region_loads(k)?;
                    if self.regions[k].head == h - self.start {
                        self.inner[k]
                    } else {
                        label
                    }
                }
                None => label,
            };
            dynasm!(self.a ; .arch x64 ; jmp =>label);
        }
        dynasm!(self.a ; .arch x64 ; =>body);
        let mut pc = self.start;
        while pc < self.end {
            let op = self.m.code()[pc];
            if let Some(seq) = self.seq
                && pc >= seq.end
            {
                self.seq = None;
            }
            if let Some(label) = self.label_at(pc) {
                if !self.dead {
                    self.flush();
                    self.charge();
                }
                dynasm!(self.a ; .arch x64 ; =>label);
                self.dead = false;
                self.cache = Cache::new();
                for rep in self.reps_at(pc)? {
                    self.push(Loc::Mem, rep, rep.tag());
                }
                self.enter_region(pc)?;
            }
            if self.dead || self.f.stack_at(pc - self.start).is_none() {
                self.dead = true;
                pc += 1;
                continue;
            }
            if self.cache.slots.len() != self.reps_at(pc)?.len() {
                return None;
            }
            if let Some(seq) = seq_of(op, pc) {
                self.seq = Some(seq);
            }
            self.pc = pc;
            let from = self.a.offset().0 as u32;
            let next = self.m.code().get(pc + 1).copied();
            let plain = plain(op, next);
            let skip = self.op(pc, plain)?;
            let to = self.a.offset().0 as u32;
            self.ranges.push((pc as u32, from, to));
            pc += 1 + skip;
        }
        if !self.dead || self.broken {
            // Control cannot fall off the end of verified code.
            return None;
        }
        self.epilogue_and_stubs();
        // The constants, read-only with the code.
        dynasm!(self.a ; .arch x64 ; .align 8);
        let data = self.a.offset().0;
        for (&v, &l) in &self.constants {
            dynasm!(self.a ; .arch x64 ; =>l ; .i64 v);
        }
        let buf = self.a.finalize().ok()?;
        let code = FuncCode {
            buf,
            data,
            call_entry,
            interp_entry,
            osr,
            ranges: self.ranges,
        };
        Some((code, self.facts, self.regions))
    }

    // ---- loop regions (see `regions`) -----------------------------------

    /// At the header `pc` of a loop region: reads each key's element data
    /// address and length into its slot, then binds the label its back
    /// edges jump to.
    fn enter_region(&mut self, pc: usize) -> Option<()> {
        let rel = pc - self.start;
        let Some(k) = self.regions.iter().position(|r| r.head == rel) else {
            return Some(());
        };
        self.region_loads(k)?;
        let inner = self.inner[k];
        dynasm!(self.a ; .arch x64 ; =>inner);
        Some(())
    }

    /// Reads the element data address and length of each key of region
    /// `k` into its slot, and sets its inlined calls' flag when their
    /// checks pass.
    fn region_loads(&mut self, k: usize) -> Option<()> {
        if let Some((need, off)) = self.regions[k].calls {
            let no = self.a.new_dynamic_label();
            dynasm!(self.a ; .arch x64
                ; xor ecx, ecx
                ; mov rax, [r12 + CTX_DEPTH]
                ; cmp rax, [r12 + CTX_MAX_DEPTH]
                ; jae =>no
                ; lea rax, [r13 + need]
                ; cmp rax, [r12 + CTX_STACK_END]
                ; ja =>no
                ; mov ecx, 1
                ; =>no
                ; mov [rsp + off], rcx
            );
        }
        for j in 0..self.regions[k].keys.len() {
            let (key, off) = self.regions[k].keys[j];
            let array = Slot {
                loc: key,
                rep: Rep::Val,
                tag: Tag::Nil,
            };
            self.load_ref(array, 0)?;
            self.array_header(RAX, RCX);
            dynasm!(self.a ; .arch x64
                ; mov [rsp + off + 8], rcx
                ; mov [rsp + off], rax
            );
        }
        Some(())
    }

    /// The label a jump from op `from` to op `to` goes to: past the loads
    /// of a region's header when it is a back edge of that region.
    fn jump_label(&self, from: usize, to: usize) -> Option<DynamicLabel> {
        let (f, t) = (from - self.start, to.checked_sub(self.start)?);
        match self
            .regions
            .iter()
            .position(|r| r.head == t && r.contains(f))
        {
            Some(k) => Some(self.inner[k]),
            None => self.label_at(to),
        }
    }

    /// The native-frame slot of array `key` at the current op, if the op
    /// is in a region that keeps it.
    fn key_slot(&self, key: Loc) -> Option<i32> {
        let rel = self.pc - self.start;
        let r = self.regions.iter().find(|r| r.contains(rel))?;
        r.keys.iter().find(|&&(k, _)| k == key).map(|&(_, off)| off)
    }

    /// The flag slot of the region the current op is in, if it has one
    /// and it covers an inlined call needing `need` bytes (see `regions`).
    fn call_flag(&self, need: i32) -> Option<i32> {
        let rel = self.pc - self.start;
        let r = self.regions.iter().find(|r| r.contains(rel))?;
        let (max, off) = r.calls?;
        (need <= max).then_some(off)
    }

    /// The label of 8-byte constant `v` in the function's constants.
    fn constant(&mut self, v: i64) -> DynamicLabel {
        let a = &mut self.a;
        *self
            .constants
            .entry(v)
            .or_insert_with(|| a.new_dynamic_label())
    }

    /// Notes that Rust code able to run Keel code may run at this op.
    fn note_rust(&mut self) {
        let rel = self.pc - self.start;
        self.facts.rust.push(rel);
    }

    /// Notes a store to array key `key` at this op (and forgets the
    /// registers holding it).
    fn note_store(&mut self, key: Loc) {
        let rel = self.pc - self.start;
        self.facts.stores.push((rel, key));
        self.cache.forget_key(key);
    }

    /// The callee-saved registers this function's pins use: its prologue
    /// saves them for its caller.
    fn saved(&self) -> Vec<u8> {
        PIN_GPRS
            .iter()
            .copied()
            .filter(|r| self.pinned.iter().any(|(_, p)| *p == Pin::Gpr(*r)))
            .collect()
    }

    /// The native frame's slots below the saved registers: the frame's
    /// byte offset at `[rsp]`, its base slot index at `[rsp + 8]`, from
    /// [`KEY_SLOTS`] 16 bytes per loop-region key (data address, length),
    /// and padding to keep `rsp` 16-byte aligned in the body.
    fn room(&self) -> i32 {
        let keys: usize = self
            .regions
            .iter()
            .map(|r| r.keys.len() + usize::from(r.calls.is_some()))
            .sum();
        let pad = if self.saved().len() % 2 == 1 { 0 } else { 8 };
        KEY_SLOTS + 16 * keys as i32 + pad
    }

    fn epilogue(&mut self) {
        let room = self.room();
        dynasm!(self.a ; .arch x64 ; add rsp, room);
        for r in self.saved().into_iter().rev() {
            dynasm!(self.a ; .arch x64 ; pop Rq(r));
        }
        dynasm!(self.a ; .arch x64 ; ret);
    }

    fn epilogue_and_stubs(&mut self) {
        let out = self.propagate;
        dynasm!(self.a ; .arch x64 ; =>out);
        self.epilogue();
        let stubs = std::mem::take(&mut self.stubs);
        for (label, stub) in stubs {
            dynasm!(self.a ; .arch x64 ; =>label);
            match stub {
                Stub::Trap {
                    pc,
                    charge,
                    kind,
                    a,
                    b,
                } => {
                    // Arguments first: they may be in registers the call
                    // sequence uses.
                    self.arg_to(R11, a);
                    self.arg_to(R9, b);
                    dynasm!(self.a ; .arch x64 ; mov r8, r11);
                    if charge != 0 {
                        let n = i32::try_from(-charge).unwrap_or(i32::MIN);
                        dynasm!(self.a ; .arch x64 ; lea r14, [r14 + n]);
                    }
                    self.store_pins(false);
                    let helper = helpers::trap as *const () as usize as i64;
                    let (pc, kind) = (pc as i64, kind as i32);
                    dynasm!(self.a ; .arch x64
                        ; mov [r12 + CTX_BUDGET], r14
                        ; mov rdi, r12
                        ; mov rsi, r13
                        ; mov rdx, QWORD pc
                        ; mov ecx, kind
                        ; mov rax, QWORD helper
                        ; call rax
                        ; jmp =>out
                    );
                }
                Stub::Refuel { pc, back } => {
                    self.store_pins(false);
                    let helper = helpers::refuel as *const () as usize as i64;
                    let pc = pc as i64;
                    dynasm!(self.a ; .arch x64
                        ; mov [r12 + CTX_BUDGET], r14
                        ; mov rdi, r12
                        ; mov rsi, r13
                        ; mov rdx, QWORD pc
                        ; mov rax, QWORD helper
                        ; call rax
                        ; mov r14, [r12 + CTX_BUDGET]
                        ; test eax, eax
                        ; jnz =>out
                    );
                    self.load_pins(true);
                    dynasm!(self.a ; .arch x64 ; jmp =>back);
                }
                Stub::Grow { pc, need, back } => {
                    self.store_pins(true);
                    let helper = helpers::grow as *const () as usize as i64;
                    let pc = pc as i64;
                    dynasm!(self.a ; .arch x64
                        ; mov [r12 + CTX_BUDGET], r14
                        ; mov rdi, r12
                        ; mov rsi, r13
                        ; mov rdx, QWORD pc
                        ; mov ecx, need
                        ; mov rax, QWORD helper
                        ; call rax
                        ; mov r14, [r12 + CTX_BUDGET]
                    );
                    self.reload_frame();
                    dynasm!(self.a ; .arch x64 ; test eax, eax ; jnz =>out);
                    self.load_pins(true);
                    dynasm!(self.a ; .arch x64 ; jmp =>back);
                }
                Stub::Uncharge { n, then } => {
                    dynasm!(self.a ; .arch x64 ; lea r14, [r14 + n] ; jmp =>then);
                }
                Stub::Spill { slots, then } => {
                    for (d, s) in slots {
                        let off = self.operand(d);
                        self.write_value(s, off);
                    }
                    dynasm!(self.a ; .arch x64 ; jmp =>then);
                }
                Stub::Reload { slots, back } => {
                    for (d, s) in slots {
                        let o = self.operand(d) + BITS;
                        match s.loc {
                            Loc::Gpr(r) => dynasm!(self.a ; .arch x64 ; mov Rq(r), [r13 + o]),
                            Loc::Xmm(x) => {
                                dynasm!(self.a ; .arch x64 ; movsd Rx(x), QWORD [r13 + o])
                            }
                            _ => {}
                        }
                    }
                    dynasm!(self.a ; .arch x64 ; jmp =>back);
                }
                Stub::FromFrame { r, off, then } => {
                    dynasm!(self.a ; .arch x64 ; mov Rq(r), [rsp + off] ; jmp =>then);
                }
                Stub::EnterChecks {
                    need,
                    overflow,
                    grow,
                    back,
                } => {
                    let roomy = self.a.new_dynamic_label();
                    self.enter_checks(need, overflow, grow, roomy);
                    dynasm!(self.a ; .arch x64 ; jmp =>back);
                }
                Stub::Nested { back } => {
                    let helper = helpers::call_nested as *const () as usize as i64;
                    dynasm!(self.a ; .arch x64
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
                        ; jmp =>back
                    );
                }
            }
        }
    }

    fn arg_to(&mut self, r: u8, a: Arg) {
        match a {
            Arg::Reg(x) if x == r => {}
            Arg::Reg(x) => dynasm!(self.a ; .arch x64 ; mov Rq(r), Rq(x)),
            Arg::Imm(v) => dynasm!(self.a ; .arch x64 ; mov Rq(r), QWORD v),
        }
    }

    /// Emits op `pc` (`op` is its plain form); returns how many following
    /// ops it consumed as well (a compare fused with its branch).
    fn op(&mut self, pc: usize, op: Op) -> Option<usize> {
        self.pending += 1;
        match op {
            Op::Nop => {}
            Op::PushSmallInt(v) => self.push(Loc::Imm(i64::from(v)), Rep::Int, Tag::Int),
            Op::PushConst(i) => match *self.m.consts().get(i as usize)? {
                Const::Int(v) => self.push(Loc::Imm(v), Rep::Int, Tag::Int),
                Const::Float(x) => self.push(Loc::Imm(x.to_bits() as i64), Rep::Float, Tag::Float),
            },
            Op::PushBool(b) => self.push(Loc::Imm(i64::from(b)), Rep::Bool, Tag::Bool),
            Op::PushNil => self.push(Loc::Imm(0), Rep::Val, Tag::Nil),
            Op::FnRef(f) => self.push(Loc::Imm(i64::from(f)), Rep::Val, Tag::Func),
            Op::PushStr(i) => {
                let d = self.cache.slots.len();
                let (from, to) = (slot(i as usize)?, self.operand(d));
                dynasm!(self.a ; .arch x64
                    ; mov r11, [r12 + CTX_STRINGS]
                    ; movups xmm0, [r11 + from]
                    ; movups [r13 + to], xmm0
                );
                self.push(Loc::Mem, Rep::Val, Tag::Str);
            }
            Op::Pop => {
                let (s, _) = self.pop()?;
                self.release(s);
            }
            Op::Dup => {
                let (s, d) = self.pop()?;
                self.cache.slots.push(s);
                self.dup(s, d);
            }
            Op::Over => {
                let (b, _) = self.pop()?;
                let (s, d) = self.pop()?;
                self.cache.slots.push(s);
                self.cache.slots.push(b);
                self.dup(s, d);
            }
            Op::Swap => {
                let (b, db) = self.pop()?;
                let (a, da) = self.pop()?;
                let a = self.unpin_mem(a, da);
                let b = self.unpin_mem(b, db);
                if a.loc == Loc::Mem || b.loc == Loc::Mem {
                    // Both in memory: swap the slots.
                    self.cache.slots.push(a);
                    self.cache.slots.push(b);
                    self.store_operand(da);
                    self.store_operand(db);
                    let (x, y) = (self.operand(da), self.operand(db));
                    dynasm!(self.a ; .arch x64
                        ; movups xmm0, [r13 + x]
                        ; movups xmm1, [r13 + y]
                        ; movups [r13 + x], xmm1
                        ; movups [r13 + y], xmm0
                    );
                    self.cache.slots[da].rep = b.rep;
                    self.cache.slots[da].tag = b.tag;
                    self.cache.slots[db].rep = a.rep;
                    self.cache.slots[db].tag = a.tag;
                } else {
                    self.cache.slots.push(b);
                    self.cache.slots.push(a);
                }
            }
            Op::Load(l) => {
                let rep = Rep::of(self.local_type(l)?);
                self.push(Loc::Local(l), rep, rep.tag());
            }
            Op::Store(l) => self.store_local(l)?,
            Op::GLoad(g) => {
                let ty = &self.m.module().globals.get(g as usize)?.ty;
                let rep = Rep::of(ty);
                let off = slot(g as usize)?;
                if rep != Rep::Val {
                    dynasm!(self.a ; .arch x64 ; mov r11, [r12 + CTX_GLOBALS]);
                }
                match rep {
                    Rep::Int | Rep::Bool => {
                        let r = self.alloc_gpr();
                        dynasm!(self.a ; .arch x64 ; mov Rq(r), [r11 + off + BITS]);
                        self.push(Loc::Gpr(r), rep, rep.tag());
                    }
                    Rep::Float => {
                        let x = self.alloc_xmm();
                        dynasm!(self.a ; .arch x64 ; movsd Rx(x), QWORD [r11 + off + BITS]);
                        self.push(Loc::Xmm(x), rep, rep.tag());
                    }
                    Rep::Val => {
                        // Read where it is used (a `gstore` of it, a call or
                        // a helper first copies it to its slot).
                        self.push(Loc::Global(g), rep, Tag::Nil);
                    }
                }
            }
            Op::GStore(g) => {
                let off = slot(g as usize)?;
                let (s, d) = self.pop()?;
                let s = self.unpin_mem(s, d);
                if s.loc == Loc::Global(g) {
                    return Some(0);
                }
                self.note_store(Loc::Global(g));
                for k in 0..self.cache.slots.len() {
                    if self.cache.slots[k].loc == Loc::Global(g) {
                        self.store_operand(k);
                    }
                }
                if s.loc == Loc::Mem {
                    let from = self.operand(d);
                    dynasm!(self.a ; .arch x64
                        ; mov r11, [r12 + CTX_GLOBALS]
                        ; movups xmm0, [r13 + from]
                        ; movups [r11 + off], xmm0
                    );
                } else {
                    // Through the operand's own slot, which is free now.
                    let to = self.operand(d);
                    self.write_value(s, to);
                    dynasm!(self.a ; .arch x64
                        ; mov r11, [r12 + CTX_GLOBALS]
                        ; movups xmm0, [r13 + to]
                        ; movups [r11 + off], xmm0
                    );
                }
                self.release(s);
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
                let (b, db) = self.pop()?;
                let (a, da) = self.pop()?;
                let in_place = self.in_place(pc, a);
                let dst = match (in_place, op, a.loc_pin(&self.pins), b.loc) {
                    (Some(Pin::Gpr(p)), ..) => p,
                    // `imul dst, a, k` copies `a` itself.
                    (None, Op::MulInt, Some(Pin::Gpr(p)), Loc::Imm(k))
                        if i32::try_from(k).is_ok() =>
                    {
                        let dst = self.alloc_gpr();
                        let k = k as i32;
                        dynasm!(self.a ; .arch x64 ; imul Rq(dst), Rq(p), k);
                        self.push(Loc::Gpr(dst), Rep::Int, Tag::Int);
                        return Some(0);
                    }
                    // `lea` adds a pinned local to a register or a
                    // constant without copying it first.
                    (None, Op::AddInt | Op::SubInt, Some(Pin::Gpr(p)), _) => {
                        let dst = self.alloc_gpr();
                        match (op, self.src(b, db)) {
                            (Op::AddInt, Src::Reg(r)) => {
                                dynasm!(self.a ; .arch x64 ; lea Rq(dst), [Rq(p) + Rq(r)])
                            }
                            (Op::AddInt, Src::Imm(k)) => {
                                dynasm!(self.a ; .arch x64 ; lea Rq(dst), [Rq(p) + k])
                            }
                            (Op::SubInt, Src::Imm(k)) if k != i32::MIN => {
                                dynasm!(self.a ; .arch x64 ; lea Rq(dst), [Rq(p) - k])
                            }
                            (Op::AddInt, Src::Mem(o)) => dynasm!(self.a ; .arch x64
                                ; mov Rq(dst), Rq(p)
                                ; add Rq(dst), [r13 + o]
                            ),
                            (_, Src::Reg(r)) => dynasm!(self.a ; .arch x64
                                ; mov Rq(dst), Rq(p)
                                ; sub Rq(dst), Rq(r)
                            ),
                            (_, Src::Imm(k)) => dynasm!(self.a ; .arch x64
                                ; mov Rq(dst), Rq(p)
                                ; sub Rq(dst), k
                            ),
                            (_, Src::Mem(o)) => dynasm!(self.a ; .arch x64
                                ; mov Rq(dst), Rq(p)
                                ; sub Rq(dst), [r13 + o]
                            ),
                        }
                        self.release(b);
                        self.push(Loc::Gpr(dst), Rep::Int, Tag::Int);
                        return Some(0);
                    }
                    _ => self.owned_gpr(a, da),
                };
                let src = self.src(b, db);
                match (op, src) {
                    (Op::AddInt, Src::Reg(r)) => dynasm!(self.a ; .arch x64 ; add Rq(dst), Rq(r)),
                    (Op::AddInt, Src::Imm(k)) => dynasm!(self.a ; .arch x64 ; add Rq(dst), k),
                    (Op::AddInt, Src::Mem(o)) => {
                        dynasm!(self.a ; .arch x64 ; add Rq(dst), [r13 + o])
                    }
                    (Op::SubInt, Src::Reg(r)) => dynasm!(self.a ; .arch x64 ; sub Rq(dst), Rq(r)),
                    (Op::SubInt, Src::Imm(k)) => dynasm!(self.a ; .arch x64 ; sub Rq(dst), k),
                    (Op::SubInt, Src::Mem(o)) => {
                        dynasm!(self.a ; .arch x64 ; sub Rq(dst), [r13 + o])
                    }
                    (Op::MulInt, Src::Reg(r)) => dynasm!(self.a ; .arch x64 ; imul Rq(dst), Rq(r)),
                    (Op::MulInt, Src::Imm(k)) => {
                        dynasm!(self.a ; .arch x64 ; imul Rq(dst), Rq(dst), k)
                    }
                    (Op::MulInt, Src::Mem(o)) => {
                        dynasm!(self.a ; .arch x64 ; imul Rq(dst), [r13 + o])
                    }
                    (Op::AndInt | Op::AndBool, Src::Reg(r)) => {
                        dynasm!(self.a ; .arch x64 ; and Rq(dst), Rq(r))
                    }
                    (Op::AndInt | Op::AndBool, Src::Imm(k)) => {
                        dynasm!(self.a ; .arch x64 ; and Rq(dst), k)
                    }
                    (Op::AndInt | Op::AndBool, Src::Mem(o)) => {
                        dynasm!(self.a ; .arch x64 ; and Rq(dst), [r13 + o])
                    }
                    (Op::OrInt | Op::OrBool, Src::Reg(r)) => {
                        dynasm!(self.a ; .arch x64 ; or Rq(dst), Rq(r))
                    }
                    (Op::OrInt | Op::OrBool, Src::Imm(k)) => {
                        dynasm!(self.a ; .arch x64 ; or Rq(dst), k)
                    }
                    (Op::OrInt | Op::OrBool, Src::Mem(o)) => {
                        dynasm!(self.a ; .arch x64 ; or Rq(dst), [r13 + o])
                    }
                    (_, Src::Reg(r)) => dynasm!(self.a ; .arch x64 ; xor Rq(dst), Rq(r)),
                    (_, Src::Imm(k)) => dynasm!(self.a ; .arch x64 ; xor Rq(dst), k),
                    (_, Src::Mem(o)) => dynasm!(self.a ; .arch x64 ; xor Rq(dst), [r13 + o]),
                }
                self.release(b);
                if in_place.is_some() {
                    return Some(self.store_in_place(pc));
                }
                let rep = if matches!(op, Op::AndBool | Op::OrBool | Op::XorBool) {
                    Rep::Bool
                } else {
                    Rep::Int
                };
                self.push(Loc::Gpr(dst), rep, rep.tag());
            }
            Op::Shl | Op::Shr => {
                let (b, db) = self.pop()?;
                let (a, da) = self.pop()?;
                let dst = self.owned_gpr(a, da);
                if let Loc::Imm(k) = b.loc {
                    // The hardware masks the count with 63, as Keel does.
                    let k = (k & 63) as i8;
                    if op == Op::Shl {
                        dynasm!(self.a ; .arch x64 ; shl Rq(dst), k);
                    } else {
                        dynasm!(self.a ; .arch x64 ; sar Rq(dst), k);
                    }
                } else {
                    self.load_gpr(RCX, b, db);
                    if op == Op::Shl {
                        dynasm!(self.a ; .arch x64 ; shl Rq(dst), cl);
                    } else {
                        dynasm!(self.a ; .arch x64 ; sar Rq(dst), cl);
                    }
                }
                self.release(b);
                self.push(Loc::Gpr(dst), Rep::Int, Tag::Int);
            }
            Op::NegInt | Op::NotInt | Op::NotBool => {
                let (a, da) = self.pop()?;
                let dst = self.owned_gpr(a, da);
                match op {
                    Op::NegInt => dynasm!(self.a ; .arch x64 ; neg Rq(dst)),
                    Op::NotInt => dynasm!(self.a ; .arch x64 ; not Rq(dst)),
                    _ => dynasm!(self.a ; .arch x64 ; xor Rq(dst), 1),
                }
                let rep = if op == Op::NotBool {
                    Rep::Bool
                } else {
                    Rep::Int
                };
                self.push(Loc::Gpr(dst), rep, rep.tag());
            }
            Op::DivInt | Op::RemInt => self.div(pc, op == Op::RemInt)?,
            Op::AddFloat | Op::SubFloat | Op::MulFloat | Op::DivFloat => {
                let (b, db) = self.pop()?;
                let (a, da) = self.pop()?;
                let in_place = self.in_place(pc, a);
                let dst = match in_place {
                    Some(Pin::Xmm(p)) => p,
                    _ => self.owned_xmm(a, da),
                };
                let src = self.xsrc(b, db);
                match (op, src) {
                    (Op::AddFloat, XSrc::Reg(x)) => {
                        dynasm!(self.a ; .arch x64 ; addsd Rx(dst), Rx(x))
                    }
                    (Op::AddFloat, XSrc::Mem(o)) => {
                        dynasm!(self.a ; .arch x64 ; addsd Rx(dst), QWORD [r13 + o])
                    }
                    (Op::SubFloat, XSrc::Reg(x)) => {
                        dynasm!(self.a ; .arch x64 ; subsd Rx(dst), Rx(x))
                    }
                    (Op::SubFloat, XSrc::Mem(o)) => {
                        dynasm!(self.a ; .arch x64 ; subsd Rx(dst), QWORD [r13 + o])
                    }
                    (Op::MulFloat, XSrc::Reg(x)) => {
                        dynasm!(self.a ; .arch x64 ; mulsd Rx(dst), Rx(x))
                    }
                    (Op::MulFloat, XSrc::Mem(o)) => {
                        dynasm!(self.a ; .arch x64 ; mulsd Rx(dst), QWORD [r13 + o])
                    }
                    (_, XSrc::Reg(x)) => dynasm!(self.a ; .arch x64 ; divsd Rx(dst), Rx(x)),
                    (_, XSrc::Mem(o)) => {
                        dynasm!(self.a ; .arch x64 ; divsd Rx(dst), QWORD [r13 + o])
                    }
                }
                self.release(b);
                if in_place.is_some() {
                    return Some(self.store_in_place(pc));
                }
                self.push(Loc::Xmm(dst), Rep::Float, Tag::Float);
            }
            Op::RemFloat => {
                let (b, db) = self.pop()?;
                let (a, da) = self.pop()?;
                self.flush();
                self.load_xmm(0, a, da);
                self.load_xmm(1, b, db);
                self.release(a);
                self.release(b);
                self.cache.forget_held();
                self.store_pins(true);
                let helper = helpers::fmod as *const () as usize as i64;
                dynasm!(self.a ; .arch x64 ; mov rax, QWORD helper ; call rax);
                self.load_pins(true);
                let x = self.alloc_xmm();
                dynasm!(self.a ; .arch x64 ; movaps Rx(x), xmm0);
                self.push(Loc::Xmm(x), Rep::Float, Tag::Float);
            }
            Op::NegFloat => {
                let (a, da) = self.pop()?;
                let dst = self.owned_xmm(a, da);
                dynasm!(self.a ; .arch x64
                    ; mov r11, QWORD i64::MIN
                    ; movq xmm0, r11
                    ; xorpd Rx(dst), xmm0
                );
                self.push(Loc::Xmm(dst), Rep::Float, Tag::Float);
            }
            Op::IToF => {
                let (a, da) = self.pop()?;
                let x = self.alloc_xmm();
                // `cvtsi2sd` writes only the low half of `x`: zeroing it
                // first breaks the false dependency on whatever `x` held
                // last (a loop's running sum, say), which would otherwise
                // chain every iteration's conversion to the one before.
                dynasm!(self.a ; .arch x64 ; xorps Rx(x), Rx(x));
                match self.src(a, da) {
                    Src::Reg(r) => dynasm!(self.a ; .arch x64 ; cvtsi2sd Rx(x), Rq(r)),
                    Src::Mem(o) => dynasm!(self.a ; .arch x64 ; cvtsi2sd Rx(x), QWORD [r13 + o]),
                    Src::Imm(k) => dynasm!(self.a ; .arch x64
                        ; mov r11, QWORD i64::from(k)
                        ; cvtsi2sd Rx(x), r11
                    ),
                }
                self.release(a);
                self.push(Loc::Xmm(x), Rep::Float, Tag::Float);
            }
            Op::LtInt | Op::LeInt | Op::GtInt | Op::GeInt | Op::EqBits | Op::NeBits => {
                let cc = int_cc(op)?;
                let (b, db) = self.pop()?;
                let (a, da) = self.pop()?;
                return self.compare(pc, a, da, b, db, cc, false);
            }
            Op::LtFloat | Op::LeFloat | Op::GtFloat | Op::GeFloat | Op::EqFloat | Op::NeFloat => {
                let (b, db) = self.pop()?;
                let (a, da) = self.pop()?;
                // `ucomisd x, y` sets the flags of an unsigned compare, and
                // all of ZF, PF, CF on NaN: `above` and `above or equal`
                // are false on NaN, as IEEE wants.
                let ((x, dx), (y, dy)) = match op {
                    Op::LtFloat | Op::LeFloat => ((b, db), (a, da)),
                    _ => ((a, da), (b, db)),
                };
                let cc = match op {
                    Op::LtFloat | Op::GtFloat => Cc::A,
                    Op::LeFloat | Op::GeFloat => Cc::Ae,
                    Op::EqFloat => Cc::E,
                    _ => Cc::Ne,
                };
                return self.compare(pc, x, dx, y, dy, cc, true);
            }
            Op::IsNil => {
                let (a, da) = self.pop()?;
                let a = self.unpin_mem(a, da);
                let r = self.alloc_gpr();
                if let Loc::Imm(_) = a.loc {
                    let nil = i32::from(a.tag == Tag::Nil);
                    dynasm!(self.a ; .arch x64 ; mov Rd(r), nil);
                } else {
                    let o = match a.loc {
                        Loc::Local(l) => self.local(l),
                        _ => self.operand(da),
                    };
                    dynasm!(self.a ; .arch x64
                        ; cmp BYTE [r13 + o + TAG], Tag::Nil as i8
                        ; sete al
                        ; movzx Rd(r), al
                    );
                }
                self.push(Loc::Gpr(r), Rep::Bool, Tag::Bool);
            }
            Op::ArrayLen => {
                let (a, da) = self.pop()?;
                if matches!(a.loc, Loc::Local(_) | Loc::Global(_)) {
                    self.facts.uses.push((pc - self.start, a.loc));
                }
                if let Some(off) = self.key_slot(a.loc) {
                    let r = self.alloc_gpr();
                    let len = off + 8;
                    dynasm!(self.a ; .arch x64 ; mov Rq(r), [rsp + len]);
                    self.push(Loc::Gpr(r), Rep::Int, Tag::Int);
                    return Some(0);
                }
                if let Some(h) = self.cache.held(a.loc) {
                    let r = self.alloc_gpr();
                    // `alloc_gpr` may have evicted it (then `r` is free
                    // again only after this move reads it).
                    dynasm!(self.a ; .arch x64 ; mov Rd(r), Rd(h.len));
                    self.push(Loc::Gpr(r), Rep::Int, Tag::Int);
                    return Some(0);
                }
                self.load_ref(a, da)?;
                let r = self.alloc_gpr();
                dynasm!(self.a ; .arch x64
                    ; mov r11, [r12 + CTX_HEAP_BASE]
                    ; mov Rd(r), [r11 + rax * 8 + 4]
                );
                self.push(Loc::Gpr(r), Rep::Int, Tag::Int);
            }
            Op::ArrayGetInt | Op::ArrayGetFloat | Op::ArrayGetVal => {
                let Some(elem) = inline_elem(self.operand_type(pc, 1)?) else {
                    return self.delegate(pc).map(|()| 0);
                };
                let (i, di) = self.pop()?;
                let (a, da) = self.pop()?;
                let (idx, tmp) = self.index_arg(i, di);
                let b = self.element_address(pc, a, da, idx)?;
                // The index's own register may take the element (the load
                // reads the index before it writes).
                if let Some(t) = tmp {
                    self.cache.free_gpr(t);
                }
                match elem {
                    Inline::Int | Inline::Bool => {
                        let r = self.alloc_gpr();
                        match (elem, idx) {
                            (Inline::Int, Arg::Reg(x)) => {
                                dynasm!(self.a ; .arch x64 ; mov Rq(r), [Rq(b) + Rq(x) * 8])
                            }
                            (Inline::Int, Arg::Imm(k)) => {
                                let k = (k * 8) as i32;
                                dynasm!(self.a ; .arch x64 ; mov Rq(r), [Rq(b) + k])
                            }
                            (_, Arg::Reg(x)) => {
                                dynasm!(self.a ; .arch x64 ; movzx Rd(r), BYTE [Rq(b) + Rq(x)])
                            }
                            (_, Arg::Imm(k)) => {
                                let k = k as i32;
                                dynasm!(self.a ; .arch x64 ; movzx Rd(r), BYTE [Rq(b) + k])
                            }
                        }
                        self.release(i);
                        let rep = if elem == Inline::Int {
                            Rep::Int
                        } else {
                            Rep::Bool
                        };
                        self.push(Loc::Gpr(r), rep, rep.tag());
                    }
                    Inline::Float => {
                        let x = self.alloc_xmm();
                        match idx {
                            Arg::Reg(r) => {
                                dynasm!(self.a ; .arch x64 ; movsd Rx(x), QWORD [Rq(b) + Rq(r) * 8])
                            }
                            Arg::Imm(k) => {
                                let k = (k * 8) as i32;
                                dynasm!(self.a ; .arch x64 ; movsd Rx(x), QWORD [Rq(b) + k])
                            }
                        }
                        self.release(i);
                        self.push(Loc::Xmm(x), Rep::Float, Tag::Float);
                    }
                }
            }
            Op::ArraySetInt | Op::ArraySetFloat | Op::ArraySetVal => {
                let Some(elem) = inline_elem(self.operand_type(pc, 2)?) else {
                    return self.delegate(pc).map(|()| 0);
                };
                let (v, dv) = self.pop()?;
                let (i, di) = self.pop()?;
                let (a, da) = self.pop()?;
                let (idx, tmp) = self.index_arg(i, di);
                // The value in a register or immediate before the address
                // (which takes rax, rcx, rdx, r11).
                let val = match v.loc {
                    Loc::Imm(k) if i32::try_from(k).is_ok() && elem != Inline::Float => Arg::Imm(k),
                    _ if elem == Inline::Float => {
                        let x = self.owned_xmm(v, dv);
                        Arg::Reg(x)
                    }
                    _ => Arg::Reg(self.owned_gpr(v, dv)),
                };
                let b = self.element_address(pc, a, da, idx)?;
                match (elem, idx, val) {
                    (Inline::Int, Arg::Reg(x), Arg::Reg(r)) => {
                        dynasm!(self.a ; .arch x64 ; mov [Rq(b) + Rq(x) * 8], Rq(r))
                    }
                    (Inline::Int, Arg::Reg(x), Arg::Imm(k)) => {
                        let k = k as i32;
                        dynasm!(self.a ; .arch x64 ; mov QWORD [Rq(b) + Rq(x) * 8], k)
                    }
                    (Inline::Int, Arg::Imm(n), Arg::Reg(r)) => {
                        let n = (n * 8) as i32;
                        dynasm!(self.a ; .arch x64 ; mov [Rq(b) + n], Rq(r))
                    }
                    (Inline::Int, Arg::Imm(n), Arg::Imm(k)) => {
                        let (n, k) = ((n * 8) as i32, k as i32);
                        dynasm!(self.a ; .arch x64 ; mov QWORD [Rq(b) + n], k)
                    }
                    (Inline::Float, Arg::Reg(x), Arg::Reg(r)) => {
                        dynasm!(self.a ; .arch x64 ; movsd QWORD [Rq(b) + Rq(x) * 8], Rx(r))
                    }
                    (Inline::Float, Arg::Imm(n), Arg::Reg(r)) => {
                        let n = (n * 8) as i32;
                        dynasm!(self.a ; .arch x64 ; movsd QWORD [Rq(b) + n], Rx(r))
                    }
                    (Inline::Bool, Arg::Reg(x), Arg::Reg(r)) => {
                        dynasm!(self.a ; .arch x64 ; mov BYTE [Rq(b) + Rq(x)], Rb(r))
                    }
                    (Inline::Bool, Arg::Reg(x), Arg::Imm(k)) => {
                        let k = k as i8;
                        dynasm!(self.a ; .arch x64 ; mov BYTE [Rq(b) + Rq(x)], k)
                    }
                    (Inline::Bool, Arg::Imm(n), Arg::Reg(r)) => {
                        let n = n as i32;
                        dynasm!(self.a ; .arch x64 ; mov BYTE [Rq(b) + n], Rb(r))
                    }
                    (Inline::Bool, Arg::Imm(n), Arg::Imm(k)) => {
                        let (n, k) = (n as i32, k as i8);
                        dynasm!(self.a ; .arch x64 ; mov BYTE [Rq(b) + n], k)
                    }
                    (Inline::Float, _, Arg::Imm(_)) => return None,
                }
                if let Arg::Reg(r) = val {
                    if elem == Inline::Float {
                        self.cache.free_xmm(r);
                    } else {
                        self.cache.free_gpr(r);
                    }
                }
                if let Some(t) = tmp {
                    self.cache.free_gpr(t);
                }
                self.release(i);
            }
            Op::Jmp(t) => {
                let t = t as usize;
                self.flush();
                if t <= pc
                    && let Some(&(_, rot)) = self.rotations.iter().find(|(h, _)| *h == t)
                {
                    self.rotated_back_edge(pc, t, rot)?;
                    self.dead = true;
                    return Some(0);
                }
                self.charge();
                let to = self.jump_label(pc, t)?;
                if t <= pc {
                    let cp = self.new_stub(Stub::Refuel { pc, back: to });
                    dynasm!(self.a ; .arch x64 ; test r14, r14 ; jle =>cp);
                }
                dynasm!(self.a ; .arch x64 ; jmp =>to);
                self.dead = true;
            }
            Op::JmpIf(t) | Op::JmpIfNot(t) => {
                let (c, dc) = self.pop()?;
                let cond = match c.loc {
                    Loc::Imm(v) => Err(v != 0),
                    _ => Ok(self.src(c, dc)),
                };
                // Hold a register operand past the flush.
                self.flush();
                self.charge();
                let want = matches!(op, Op::JmpIf(_));
                match cond {
                    Err(b) => {
                        self.release(c);
                        if b == want {
                            self.take_branch(pc, t as usize, None)?;
                            self.dead = true;
                        }
                    }
                    Ok(src) => {
                        match src {
                            Src::Reg(r) => dynasm!(self.a ; .arch x64 ; test Rq(r), Rq(r)),
                            Src::Mem(o) => dynasm!(self.a ; .arch x64 ; cmp QWORD [r13 + o], 0),
                            Src::Imm(_) => unreachable!("immediates are decided above"),
                        }
                        self.release(c);
                        let cc = if want { Cc::Ne } else { Cc::E };
                        self.take_branch(pc, t as usize, Some(cc))?;
                    }
                }
            }
            Op::Call(f) => self.call(pc, f)?,
            Op::Ret(_) => {
                self.charge();
                dynasm!(self.a ; .arch x64 ; xor eax, eax);
                self.epilogue();
                self.dead = true;
            }
            Op::RetVal(_) => {
                let (v, dv) = self.pop()?;
                let v = self.unpin_mem(v, dv);
                self.charge();
                match v.loc {
                    Loc::Mem => {
                        let o = self.operand(dv);
                        dynasm!(self.a ; .arch x64
                            ; mov rdx, [r13 + o + BITS]
                            ; movzx ecx, BYTE [r13 + o + TAG]
                        );
                    }
                    Loc::Local(l) if self.pins[l as usize].is_none() => {
                        let o = self.local(l);
                        dynasm!(self.a ; .arch x64
                            ; mov rdx, [r13 + o + BITS]
                            ; movzx ecx, BYTE [r13 + o + TAG]
                        );
                    }
                    _ => {
                        self.load_gpr(RDX, v, dv);
                        let tag = v.tag as i32;
                        dynasm!(self.a ; .arch x64 ; mov ecx, tag);
                    }
                }
                dynasm!(self.a ; .arch x64 ; xor eax, eax);
                self.epilogue();
                self.dead = true;
            }
            Op::RecGet { rec, field } => return self.rec_get(pc, rec, field).map(|()| 0),
            Op::RecSet { rec, field } => return self.rec_set(pc, rec, field).map(|()| 0),
            Op::CallImport { import, .. }
                if matches!(self.pure.get(import as usize), Some(Some(_))) =>
            {
                let f = self.pure[import as usize]?;
                self.pure_call(f)?;
            }
            _ => {
                if !helpers::delegated(op) {
                    return None;
                }
                self.delegate(pc)?;
            }
        }
        Some(0)
    }

    /// Where field `field` of record type `rec` lies (see
    /// [`Shape::field_slot`]).
    fn field_slot(&mut self, rec: u16, field: u16) -> Option<(u32, Option<Tag>)> {
        let rec = rec as usize;
        let def = self.m.module().records.get(rec)?;
        if self.shapes.len() <= rec {
            self.shapes.resize_with(rec + 1, || None);
        }
        let shape = self.shapes[rec].get_or_insert_with(|| {
            Shape::new(&def.name, def.fields.iter().map(|(n, t)| (n.as_str(), t)))
        });
        shape.field_slot(field as usize)
    }

    /// Leaves `rax` = the address of the header of record operand `r`
    /// (from depth `dr`), trapping at `pc` (`nil` field access) when it is
    /// `nil`.
    fn record_address(
        &mut self,
        pc: usize,
        r: Slot,
        dr: usize,
        rec: u16,
        field: u16,
    ) -> Option<()> {
        let nil = self.trap_stub(
            pc,
            helpers::TRAP_NIL_FIELD,
            Arg::Imm(i64::from(rec)),
            Arg::Imm(i64::from(field)),
        );
        match r.loc {
            Loc::Global(g) => {
                let go = slot(g as usize)?;
                dynasm!(self.a ; .arch x64
                    ; mov r11, [r12 + CTX_GLOBALS]
                    ; cmp BYTE [r11 + go + TAG], Tag::Record as i8
                    ; jne =>nil
                    ; mov eax, [r11 + go + BITS]
                );
            }
            Loc::Mem | Loc::Local(_) => {
                let o = match r.loc {
                    Loc::Local(l) => self.local(l),
                    _ => self.operand(dr),
                };
                dynasm!(self.a ; .arch x64
                    ; cmp BYTE [r13 + o + TAG], Tag::Record as i8
                    ; jne =>nil
                    ; mov eax, [r13 + o + BITS]
                );
            }
            _ => return None,
        }
        dynasm!(self.a ; .arch x64
            ; mov r11, [r12 + CTX_HEAP_BASE]
            ; lea rax, [r11 + rax * 8]
        );
        Some(())
    }

    /// `rec.get`: a load of the field, after the `nil` check.
    fn rec_get(&mut self, pc: usize, rec: u16, field: u16) -> Option<()> {
        let top = *self.cache.slots.last()?;
        let Some((at, tag)) = self.field_slot(rec, field) else {
            return self.delegate(pc);
        };
        if !matches!(top.loc, Loc::Mem | Loc::Local(_) | Loc::Global(_)) {
            return self.delegate(pc);
        }
        let (r, dr) = self.pop()?;
        self.record_address(pc, r, dr, rec, field)?;
        let w = i32::try_from(at).ok()?.checked_mul(8)?.checked_add(8)?;
        let out = self.operand(dr);
        match tag {
            Some(Tag::Int | Tag::Bool) => {
                let x = self.alloc_gpr();
                dynasm!(self.a ; .arch x64 ; mov Rq(x), [rax + w]);
                let rep = if tag == Some(Tag::Int) {
                    Rep::Int
                } else {
                    Rep::Bool
                };
                self.push(Loc::Gpr(x), rep, rep.tag());
            }
            Some(Tag::Float) => {
                let x = self.alloc_xmm();
                dynasm!(self.a ; .arch x64 ; movsd Rx(x), QWORD [rax + w]);
                self.push(Loc::Xmm(x), Rep::Float, Tag::Float);
            }
            Some(Tag::Record) => {
                // 0 is `nil`.
                let skip = self.a.new_dynamic_label();
                dynasm!(self.a ; .arch x64
                    ; mov rdx, [rax + w]
                    ; mov [r13 + out + BITS], rdx
                    ; mov BYTE [r13 + out + TAG], Tag::Nil as i8
                    ; test rdx, rdx
                    ; jz =>skip
                    ; mov BYTE [r13 + out + TAG], Tag::Record as i8
                    ; =>skip
                );
                self.push(Loc::Mem, Rep::Val, Tag::Nil);
            }
            Some(t) => {
                let t = t as i8;
                dynasm!(self.a ; .arch x64
                    ; mov rdx, [rax + w]
                    ; mov [r13 + out + BITS], rdx
                    ; mov BYTE [r13 + out + TAG], t
                );
                self.push(Loc::Mem, Rep::Val, Tag::Nil);
            }
            None => {
                // Two words: the tag (in its low byte), the payload.
                dynasm!(self.a ; .arch x64
                    ; movups xmm0, [rax + w]
                    ; movups [r13 + out], xmm0
                );
                self.push(Loc::Mem, Rep::Val, Tag::Nil);
            }
        }
        Some(())
    }

    /// `rec.set` of an `int`, `float` or `bool` field: a store, after the
    /// `nil` check (no reference is written, so no barrier); other fields
    /// through the interpreter's code, which remembers the record.
    fn rec_set(&mut self, pc: usize, rec: u16, field: u16) -> Option<()> {
        let n = self.cache.slots.len();
        let Some((at, Some(tag @ (Tag::Int | Tag::Float | Tag::Bool)))) =
            self.field_slot(rec, field)
        else {
            return self.delegate(pc);
        };
        let r = *self.cache.slots.get(n.checked_sub(2)?)?;
        if !matches!(r.loc, Loc::Mem | Loc::Local(_) | Loc::Global(_)) {
            return self.delegate(pc);
        }
        let w = i32::try_from(at).ok()?.checked_mul(8)?.checked_add(8)?;
        let (v, dv) = self.pop()?;
        let (r, dr) = self.pop()?;
        let val = match v.loc {
            Loc::Imm(k) if tag != Tag::Float && i32::try_from(k).is_ok() => Arg::Imm(k),
            _ if tag == Tag::Float => Arg::Reg(self.owned_xmm(v, dv)),
            _ => Arg::Reg(self.owned_gpr(v, dv)),
        };
        self.record_address(pc, r, dr, rec, field)?;
        match (tag, val) {
            (Tag::Float, Arg::Reg(x)) => {
                dynasm!(self.a ; .arch x64 ; movsd QWORD [rax + w], Rx(x));
                self.cache.free_xmm(x);
            }
            (_, Arg::Reg(x)) => {
                dynasm!(self.a ; .arch x64 ; mov [rax + w], Rq(x));
                self.cache.free_gpr(x);
            }
            (_, Arg::Imm(k)) => {
                let k = k as i32;
                dynasm!(self.a ; .arch x64 ; mov QWORD [rax + w], k);
            }
        }
        Some(())
    }

    /// A call of a pure float function: `sqrtsd`, or a direct call.
    fn pure_call(&mut self, f: PureFloat) -> Option<()> {
        // The interpreter counts it as a call.
        dynasm!(self.a ; .arch x64 ; add QWORD [r12 + CTX_CALLS], 1);
        if let PureFloat::Sqrt = f {
            let (a, da) = self.pop()?;
            let x = self.owned_xmm(a, da);
            dynasm!(self.a ; .arch x64 ; sqrtsd Rx(x), Rx(x));
            self.push(Loc::Xmm(x), Rep::Float, Tag::Float);
            return Some(());
        }
        let (helper, fp) = match f {
            PureFloat::Unary(g) => (helpers::pure1 as *const () as i64, g as *const () as i64),
            PureFloat::Binary(g) => (helpers::pure2 as *const () as i64, g as *const () as i64),
            PureFloat::Sqrt => return None,
        };
        let b = match f {
            PureFloat::Binary(_) => Some(self.pop()?),
            _ => None,
        };
        let (a, da) = self.pop()?;
        self.flush();
        self.load_xmm(0, a, da);
        self.release(a);
        if let Some((b, db)) = b {
            self.load_xmm(1, b, db);
            self.release(b);
        }
        self.cache.forget_held();
        self.store_pins(true);
        dynasm!(self.a ; .arch x64
            ; mov rdi, QWORD fp
            ; mov rax, QWORD helper
            ; call rax
        );
        self.load_pins(true);
        let x = self.alloc_xmm();
        dynasm!(self.a ; .arch x64 ; movaps Rx(x), xmm0);
        self.push(Loc::Xmm(x), Rep::Float, Tag::Float);
        Some(())
    }

    /// A copy of `s` (at depth `d`, still on the stack) pushed on top.
    fn dup(&mut self, s: Slot, d: usize) {
        match (s.loc, s.rep) {
            (Loc::Imm(_) | Loc::Local(_) | Loc::Global(_), _) => self.cache.slots.push(s),
            (_, Rep::Int | Rep::Bool) => {
                let r = self.alloc_gpr();
                let s = self.cache.slots[d];
                self.load_gpr(r, s, d);
                self.push(Loc::Gpr(r), s.rep, s.tag);
            }
            (_, Rep::Float) => {
                let x = self.alloc_xmm();
                let s = self.cache.slots[d];
                self.load_xmm(x, s, d);
                self.push(Loc::Xmm(x), s.rep, s.tag);
            }
            (_, Rep::Val) => {
                let (from, to) = (self.operand(d), self.operand(self.cache.slots.len()));
                dynasm!(self.a ; .arch x64
                    ; movups xmm0, [r13 + from]
                    ; movups [r13 + to], xmm0
                );
                self.push(Loc::Mem, s.rep, s.tag);
            }
        }
    }

    /// A `Val` operand that refers to a local, copied into its own slot
    /// (so it can move); scalars and slots as they are.
    fn unpin_mem(&mut self, s: Slot, d: usize) -> Slot {
        match (s.loc, s.rep) {
            (Loc::Local(_), Rep::Val) | (Loc::Global(_), _) => {
                let to = self.operand(d);
                self.write_value(s, to);
                Slot { loc: Loc::Mem, ..s }
            }
            _ => s,
        }
    }

    /// Loads the payload (the object's word offset) of a reference
    /// operand into `eax`.
    fn load_ref(&mut self, s: Slot, d: usize) -> Option<()> {
        let o = match s.loc {
            Loc::Mem => self.operand(d),
            Loc::Local(l) => self.local(l),
            Loc::Global(g) => {
                let go = slot(g as usize)? + BITS;
                dynasm!(self.a ; .arch x64
                    ; mov rax, [r12 + CTX_GLOBALS]
                    ; mov eax, [rax + go]
                );
                return Some(());
            }
            _ => return None,
        };
        dynasm!(self.a ; .arch x64 ; mov eax, [r13 + o + BITS]);
        Some(())
    }

    /// An index operand as a register or a small immediate, and the cache
    /// register loaded for it (to free after the access), if any.
    fn index_arg(&mut self, s: Slot, d: usize) -> (Arg, Option<u8>) {
        match (s.loc, s.loc_pin(&self.pins)) {
            (Loc::Imm(k), _) if (0..1 << 27).contains(&k) => (Arg::Imm(k), None),
            (Loc::Gpr(r), _) => (Arg::Reg(r), None),
            (_, Some(Pin::Gpr(p))) => (Arg::Reg(p), None),
            _ => {
                let r = self.alloc_gpr();
                self.load_gpr(r, s, d);
                (Arg::Reg(r), Some(r))
            }
        }
    }

    /// Returns the register holding the element data address of the array
    /// operand `a` (at depth `da`), after checking `idx` against its length
    /// (trapping at `pc`). An array read through a local or global is held
    /// in two cache registers when two are free (see `cache::Held`), so the
    /// next access to it reads no header; otherwise the address is in
    /// `rdx`.
    fn element_address(&mut self, pc: usize, a: Slot, da: usize, idx: Arg) -> Option<u8> {
        let key = match a.loc {
            Loc::Local(_) | Loc::Global(_) => Some(a.loc),
            _ => None,
        };
        if let Some(k) = key {
            self.facts.uses.push((self.pc - self.start, k));
        }
        if let Some(h) = key.and_then(|k| self.cache.held(k)) {
            self.bounds_check(pc, idx, h.len);
            return Some(h.data);
        }
        if let Some(off) = key.and_then(|k| self.key_slot(k)) {
            // Kept by the loop region: no header read, and the bounds
            // check compares with the length in its slot.
            let len = off + 8;
            let trap = self.trap_stub(pc, helpers::TRAP_INDEX, idx, Arg::Reg(RCX));
            let oob = self.new_stub(Stub::FromFrame {
                r: RCX,
                off: len,
                then: trap,
            });
            match idx {
                Arg::Reg(r) => dynasm!(self.a ; .arch x64 ; cmp Rq(r), [rsp + len] ; jae =>oob),
                Arg::Imm(k) => {
                    let k = k as i32;
                    dynasm!(self.a ; .arch x64 ; cmp QWORD [rsp + len], k ; jbe =>oob);
                }
            }
            dynasm!(self.a ; .arch x64 ; mov rdx, [rsp + off]);
            return Some(RDX);
        }
        self.load_ref(a, da)?;
        let held = key.and_then(|k| self.cache.hold(k));
        let (data, len) = held.map_or((RDX, RCX), |h| (h.data, h.len));
        self.array_header(data, len);
        self.bounds_check(pc, idx, len);
        Some(data)
    }

    /// From the array reference in `eax` (see [`Cx::load_ref`]): its
    /// element data address into `data` and its length into `len` (`data`
    /// may be `rax`). Clobbers `rax` and `r11`.
    fn array_header(&mut self, data: u8, len: u8) {
        dynasm!(self.a ; .arch x64
            ; mov r11, [r12 + CTX_HEAP_BASE]
            ; lea rax, [r11 + rax * 8]
            ; mov Rd(len), [rax + 4]
            ; mov Rd(data), [rax + 12]
            ; lea Rq(data), [r11 + Rq(data) * 8 + 8]
        );
    }

    /// Traps at `pc` unless `idx` is below the length in `len`.
    fn bounds_check(&mut self, pc: usize, idx: Arg, len: u8) {
        let oob = self.trap_stub(pc, helpers::TRAP_INDEX, idx, Arg::Reg(len));
        match idx {
            Arg::Reg(r) => dynasm!(self.a ; .arch x64 ; cmp Rq(r), Rq(len) ; jae =>oob),
            Arg::Imm(k) => {
                let k = k as i32;
                dynasm!(self.a ; .arch x64 ; cmp Rq(len), k ; jbe =>oob);
            }
        }
    }

    /// The pin of local `l` when the binary op at `pc`, whose left operand
    /// `a` (popped, as its right one is) reads `l`, is followed by `store
    /// l`: the op can then work in `l`'s register itself. Only when nothing
    /// else on the stack reads `l`, no jump lands on the store, and the
    /// store starts no superinstruction of its own.
    fn in_place(&self, pc: usize, a: Slot) -> Option<Pin> {
        let Loc::Local(l) = a.loc else { return None };
        let pin = self.pins.get(l as usize).copied().flatten()?;
        let code = self.m.code();
        let next = pc + 1;
        let ok = next < self.end
            && self.label_at(next).is_none()
            && plain(code[next], code.get(next + 1).copied()) == Op::Store(l)
            && seq_of(code[next], next).is_none()
            && !self.cache.slots.iter().any(|s| s.loc == Loc::Local(l));
        ok.then_some(pin)
    }

    /// The `store` after an op done in place (see [`Cx::in_place`]): it is
    /// consumed, counted as run.
    fn store_in_place(&mut self, pc: usize) -> usize {
        self.pending += 1;
        self.seq_enter(pc + 1);
        if let Some(Op::Store(l)) = self.m.code().get(pc + 1).map(|&op| plain(op, None)) {
            self.facts.stores.push((pc + 1 - self.start, Loc::Local(l)));
        }
        1
    }

    fn store_local(&mut self, l: u32) -> Option<()> {
        let (s, d) = self.pop()?;
        let rep = Rep::of(self.local_type(l)?);
        if s.loc == Loc::Local(l) {
            return Some(());
        }
        self.detach_local(l);
        self.note_store(Loc::Local(l));
        let o = self.local(l);
        match (self.pins[l as usize], rep) {
            (Some(Pin::Gpr(p)), _) => self.load_gpr(p, s, d),
            (Some(Pin::Xmm(p)), _) => self.load_xmm(p, s, d),
            (None, Rep::Int | Rep::Bool | Rep::Float) => match s.loc {
                Loc::Xmm(x) => dynasm!(self.a ; .arch x64 ; movsd QWORD [r13 + o + BITS], Rx(x)),
                _ => match self.src(s, d) {
                    Src::Reg(r) => dynasm!(self.a ; .arch x64 ; mov [r13 + o + BITS], Rq(r)),
                    Src::Imm(k) => dynasm!(self.a ; .arch x64 ; mov QWORD [r13 + o + BITS], k),
                    Src::Mem(m) => dynasm!(self.a ; .arch x64
                        ; mov r11, [r13 + m]
                        ; mov [r13 + o + BITS], r11
                    ),
                },
            },
            (None, Rep::Val) => {
                let s = self.unpin_mem(s, d);
                match s.loc {
                    Loc::Mem => {
                        let from = self.operand(d);
                        dynasm!(self.a ; .arch x64
                            ; movups xmm0, [r13 + from]
                            ; movups [r13 + o], xmm0
                        );
                    }
                    _ => self.write_value(s, o),
                }
            }
        }
        self.release(s);
        Some(())
    }

    /// A compare of `a` with `b`; fused with the next op when that is a
    /// conditional branch (returns 1: the branch is consumed), else a bool.
    #[allow(clippy::too_many_arguments)]
    fn compare(
        &mut self,
        pc: usize,
        a: Slot,
        da: usize,
        b: Slot,
        db: usize,
        cc: Cc,
        float: bool,
    ) -> Option<usize> {
        let next = self.m.code().get(pc + 1).copied();
        let fuse = match next {
            Some(Op::JmpIf(t) | Op::JmpIfNot(t))
                if pc + 1 < self.end
                    && self.label_at(pc + 1).is_none()
                    && !(float && matches!(cc, Cc::E | Cc::Ne)) =>
            {
                Some((t as usize, matches!(next, Some(Op::JmpIf(_)))))
            }
            _ => None,
        };
        // Operands into a register and an operand.
        let emit_cmp = |cx: &mut Self| {
            if float {
                // `a` into xmm0 unless it is in a register already (`b` may
                // take xmm1).
                let x = match cx.xsrc(a, da) {
                    XSrc::Reg(1) => {
                        dynasm!(cx.a ; .arch x64 ; movaps xmm0, xmm1);
                        0
                    }
                    XSrc::Reg(x) => x,
                    XSrc::Mem(o) => {
                        dynasm!(cx.a ; .arch x64 ; movsd xmm0, QWORD [r13 + o]);
                        0
                    }
                };
                match cx.xsrc(b, db) {
                    XSrc::Reg(y) => dynasm!(cx.a ; .arch x64 ; ucomisd Rx(x), Rx(y)),
                    XSrc::Mem(o) => dynasm!(cx.a ; .arch x64 ; ucomisd Rx(x), QWORD [r13 + o]),
                }
            } else {
                cx.cmp_ints(a, da, b, db);
            }
        };
        match fuse {
            Some((t, if_true)) => {
                // Values of the rest of the stack go to their slots first;
                // the compared ones stay where they are.
                let (a, b) = (self.unpin_mem(a, da), self.unpin_mem(b, db));
                self.flush();
                self.pending += 1;
                self.charge();
                self.seq_enter(pc + 1);
                emit_cmp(self);
                self.release(a);
                self.release(b);
                let cc = if if_true {
                    cc
                } else {
                    match cc {
                        Cc::A | Cc::Ae if !self.branch_checks(pc + 1, t) => {
                            // `not above` (also on NaN): `jbe` / `jb`.
                            let to = self.jump_label(pc + 1, t)?;
                            jncc(&mut self.a, cc, to);
                            return Some(1);
                        }
                        Cc::A | Cc::Ae => {
                            // `not above`: branch when the compare fails.
                            let skip = self.a.new_dynamic_label();
                            jcc(&mut self.a, cc, skip);
                            self.take_branch(pc + 1, t, None)?;
                            dynasm!(self.a ; .arch x64 ; =>skip);
                            return Some(1);
                        }
                        cc => invert(cc)?,
                    }
                };
                self.take_branch(pc + 1, t, Some(cc))?;
                Some(1)
            }
            None => {
                emit_cmp(self);
                self.release(a);
                self.release(b);
                let r = self.alloc_gpr();
                if float && cc == Cc::E {
                    dynasm!(self.a ; .arch x64 ; sete al ; setnp cl ; and al, cl);
                } else if float && cc == Cc::Ne {
                    dynasm!(self.a ; .arch x64 ; setne al ; setp cl ; or al, cl);
                } else {
                    setcc(&mut self.a, cc);
                }
                dynasm!(self.a ; .arch x64 ; movzx Rd(r), al);
                self.push(Loc::Gpr(r), Rep::Bool, Tag::Bool);
                Some(0)
            }
        }
    }

    /// `cmp a, b` of two int operands (popped from depths `da`, `db`).
    fn cmp_ints(&mut self, a: Slot, da: usize, b: Slot, db: usize) {
        let x = match self.src(a, da) {
            // Scratch `r11` would be taken again by `b`.
            Src::Reg(R11) => {
                dynasm!(self.a ; .arch x64 ; mov rax, r11);
                RAX
            }
            Src::Reg(r) => r,
            Src::Imm(k) => {
                dynasm!(self.a ; .arch x64 ; mov rax, QWORD i64::from(k));
                RAX
            }
            Src::Mem(o) => {
                dynasm!(self.a ; .arch x64 ; mov rax, [r13 + o]);
                RAX
            }
        };
        match self.src(b, db) {
            Src::Reg(r) => dynasm!(self.a ; .arch x64 ; cmp Rq(x), Rq(r)),
            Src::Imm(k) => dynasm!(self.a ; .arch x64 ; cmp Rq(x), k),
            Src::Mem(o) => dynasm!(self.a ; .arch x64 ; cmp Rq(x), [r13 + o]),
        }
    }

    /// Whether the branch at `pc` to `t` checks the budget when taken, as
    /// the interpreter's does: backward, or ending a superinstruction that
    /// always checks.
    fn branch_checks(&self, pc: usize, t: usize) -> bool {
        let seq = self.seq.filter(|s| s.end == pc + 1);
        t <= pc || seq.is_some_and(|s| s.checks)
    }

    /// Notes the superinstruction a fused-into op at `pc` belongs to (the
    /// compare's branch may end one).
    fn seq_enter(&mut self, pc: usize) {
        if let Some(seq) = self.seq
            && pc >= seq.end
        {
            self.seq = None;
        }
    }

    /// A conditional (`cc` after the flags are set) or unconditional
    /// branch from op `pc` to `t`; the stack is flushed and charged. A
    /// taken branch checks the budget where the interpreter's does.
    fn take_branch(&mut self, pc: usize, t: usize, cc: Option<Cc>) -> Option<()> {
        let to = self.jump_label(pc, t)?;
        let seq = self.seq.filter(|s| s.end == pc + 1);
        let checks = self.branch_checks(pc, t);
        // The interpreter checks a fused branch at the superinstruction,
        // so a trap there (fuel, interrupt) is reported at its first op.
        let pc = seq.map_or(pc, |s| s.start);
        match (cc, checks) {
            (Some(cc), false) => jcc(&mut self.a, cc, to),
            (None, false) => dynasm!(self.a ; .arch x64 ; jmp =>to),
            (cc, true) => {
                let skip = self.a.new_dynamic_label();
                if let Some(cc) = cc {
                    jncc(&mut self.a, cc, skip);
                }
                let cp = self.new_stub(Stub::Refuel { pc, back: to });
                dynasm!(self.a ; .arch x64
                    ; test r14, r14
                    ; jle =>cp
                    ; jmp =>to
                    ; =>skip
                );
            }
        }
        Some(())
    }

    /// The back edge at `pc` of the loop at `h` whose test is `rot`: it
    /// charges the test's four ops with its own, tests the loop and jumps
    /// straight into the body, so a round takes one jump, not two. Exact:
    /// the budget check of the back edge is made as if the test were not
    /// charged yet (a stop there gives the four back and refuels at the
    /// back edge, going on at the header), and the way out is the header's
    /// own branch.
    fn rotated_back_edge(&mut self, pc: usize, h: usize, rot: Rotation) -> Option<()> {
        const TEST: i32 = 4;
        let body = self.label_at(h + 4)?;
        let header = self.jump_label(pc, h)?;
        self.pending += i64::from(TEST);
        self.charge();
        let refuel = self.new_stub(Stub::Refuel { pc, back: header });
        let undo = self.new_stub(Stub::Uncharge {
            n: TEST,
            then: refuel,
        });
        dynasm!(self.a ; .arch x64 ; cmp r14, -TEST ; jle =>undo);
        let [x, y] = rot.operands.map(|loc| Slot {
            loc,
            rep: Rep::Int,
            tag: Tag::Int,
        });
        self.cmp_ints(x, 0, y, 0);
        // Into the body when the branch out is not taken.
        let stay = if rot.if_true { invert(rot.cc)? } else { rot.cc };
        jcc(&mut self.a, stay, body);
        // Out, as the header's branch goes out (with the budget check of
        // the superinstruction it belongs to, if any).
        let mut seq: Option<Seq> = None;
        for i in h..h + 3 {
            if seq.is_some_and(|s| i >= s.end) {
                seq = None;
            }
            if let Some(s) = seq_of(self.m.code()[i], i) {
                seq = Some(s);
            }
        }
        let saved = std::mem::replace(&mut self.seq, seq);
        self.seq_enter(h + 3);
        let out = self.take_branch(h + 3, rot.exit, None);
        self.seq = saved;
        out
    }

    /// `div` / `rem` on ints: by a constant other than 0 and -1 with a
    /// multiply, else with `idiv` after the checks the interpreter makes.
    fn div(&mut self, pc: usize, rem: bool) -> Option<()> {
        let (b, db) = self.pop()?;
        let (a, da) = self.pop()?;
        if let Loc::Imm(k) = b.loc
            && k != 0
            && k != -1
            && k != i64::MIN
        {
            let n = self.owned_gpr(a, da);
            super::magic::emit_div_const(&mut self.a, n, k, rem);
            self.push(Loc::Gpr(n), Rep::Int, Tag::Int);
            return Some(());
        }
        self.load_gpr(RCX, b, db);
        self.release(b);
        let n = self.owned_gpr(a, da);
        let zero = self.trap_stub(pc, helpers::TRAP_DIV_ZERO, Arg::Imm(0), Arg::Imm(0));
        let (minus, done) = (self.a.new_dynamic_label(), self.a.new_dynamic_label());
        dynasm!(self.a ; .arch x64
            ; test rcx, rcx
            ; jz =>zero
            ; cmp rcx, -1
            ; je =>minus
            ; mov rax, Rq(n)
            ; cqo
            ; idiv rcx
        );
        if rem {
            dynasm!(self.a ; .arch x64 ; mov Rq(n), rdx ; jmp =>done ; =>minus ; xor Rd(n), Rd(n));
        } else {
            dynasm!(self.a ; .arch x64 ; mov Rq(n), rax ; jmp =>done ; =>minus ; neg Rq(n));
        }
        dynasm!(self.a ; .arch x64 ; =>done);
        self.push(Loc::Gpr(n), Rep::Int, Tag::Int);
        Some(())
    }

    /// Charges a call of `callee` through the budget: the call op, and
    /// its frame set-up (the interpreter's `enter!`), which is counted
    /// apart so it is not an instruction. The same for a native and an
    /// inlined call.
    fn charge_call(&mut self, callee: &crate::verify::VerifiedFunc) -> Option<()> {
        let frame_fuel = crate::interp::frame_fuel(callee);
        self.pending += frame_fuel;
        self.charge();
        if frame_fuel > 0 {
            let units = i32::try_from(frame_fuel).ok()?;
            dynasm!(self.a ; .arch x64 ; add QWORD [r12 + CTX_FRAME_FUEL], units);
        }
        Some(())
    }

    /// A call's depth limit and value-stack room (`enter`): jumps to
    /// `overflow` past the depth limit, to `grow` when the callee's frame
    /// (`need` bytes from the stack pointer) passes the stack's end; both
    /// come back, or fall through, at `roomy`.
    fn enter_checks(
        &mut self,
        need: i32,
        overflow: DynamicLabel,
        grow: DynamicLabel,
        roomy: DynamicLabel,
    ) {
        dynasm!(self.a ; .arch x64
            ; mov rax, [r12 + CTX_DEPTH]
            ; cmp rax, [r12 + CTX_MAX_DEPTH]
            ; jae =>overflow
            ; lea rax, [r13 + need]
            ; cmp rax, [r12 + CTX_STACK_END]
            ; ja =>grow
            ; =>roomy
        );
    }

    /// `call f`: the interpreter's `enter`, inline, then a native call
    /// (or the callee's body, when it is a small leaf: `inline_call`).
    fn call(&mut self, pc: usize, f: u32) -> Option<()> {
        if let Some(body) = super::inline::leaf_body(self.m, f as usize) {
            return self.inline_call(pc, f, body);
        }
        let callee = self.m.funcs().get(f as usize)?;
        let np = callee.num_params as usize;
        let depth = self.cache.slots.len();
        let args = self.operand(depth.checked_sub(np)?);
        let need = args.checked_add(slot(
            callee.num_locals as usize + 1 + callee.max_stack as usize,
        )?)?;
        self.flush();
        self.charge_call(callee)?;
        self.note_rust();
        self.cache.forget_held();
        self.store_pins(true);
        // The budget (the interpreter's `check_fuel`).
        let fueled = self.a.new_dynamic_label();
        let refuel = self.new_stub(Stub::Refuel { pc, back: fueled });
        dynasm!(self.a ; .arch x64 ; test r14, r14 ; jle =>refuel ; =>fueled);
        // The depth limit and the value stack's room (`enter`).
        let overflow = self.new_stub(Stub::Trap {
            pc,
            charge: 0,
            kind: helpers::TRAP_DEPTH,
            a: Arg::Imm(0),
            b: Arg::Imm(0),
        });
        let roomy = self.a.new_dynamic_label();
        let grow = self.new_stub(Stub::Grow {
            pc,
            need,
            back: roomy,
        });
        self.enter_checks(need, overflow, grow, roomy);
        // The record: resume after this op, the caller's base.
        let resume = ((pc as i64) + 1) << 32;
        let table = self.table as i64;
        let fo = slot(f as usize)? / 2;
        let join = self.a.new_dynamic_label();
        let nested = self.new_stub(Stub::Nested { back: join });
        dynasm!(self.a ; .arch x64
            ; add QWORD [r12 + CTX_DEPTH], 1
            ; add QWORD [r12 + CTX_CALLS], 1
            ; mov rax, QWORD resume
            ; or rax, [rsp + 8]
            ; mov edx, f as i32
            ; add r13, args
            ; cmp rsp, [r12 + CTX_NATIVE_FLOOR]
            ; jb =>nested
            ; mov r11, QWORD table
            ; call QWORD [r11 + fo]
            ; =>join
            ; sub QWORD [r12 + CTX_DEPTH], 1
        );
        self.reload_frame();
        let out = self.propagate;
        dynasm!(self.a ; .arch x64 ; test eax, eax ; jnz =>out);
        self.load_pins(true);
        // The arguments are gone; the result takes the first one's place.
        for _ in 0..np {
            let (s, _) = self.pop()?;
            self.release(s);
        }
        if callee.has_result {
            let ty = &self.m.module().funcs.get(f as usize)?.ty.result;
            let rep = ty.as_ref().map_or(Rep::Val, Rep::of);
            match rep {
                Rep::Int | Rep::Bool => {
                    let r = self.alloc_gpr();
                    dynasm!(self.a ; .arch x64 ; mov Rq(r), rdx);
                    self.push(Loc::Gpr(r), rep, rep.tag());
                }
                Rep::Float => {
                    let x = self.alloc_xmm();
                    dynasm!(self.a ; .arch x64 ; movq Rx(x), rdx);
                    self.push(Loc::Xmm(x), rep, rep.tag());
                }
                Rep::Val => {
                    dynasm!(self.a ; .arch x64
                        ; mov BYTE [r13 + args + TAG], cl
                        ; mov [r13 + args + BITS], rdx
                    );
                    self.push(Loc::Mem, rep, Tag::Nil);
                }
            }
        }
        Some(())
    }
}

impl Cx<'_> {
    /// `call f` of a leaf `f` whose body is `[start, ret)` (see `inline`):
    /// the checks of `call` (fuel, depth limit, value stack room, with the
    /// same traps at this op) and the call count, then the body compiled
    /// in place, its parameters read from the argument operands. Nothing
    /// is flushed: the checks' slow paths write the cached operands to
    /// their slots before calling Rust and reload them after, so a stop
    /// there sees the frame a flushed call would show. The callee's ops
    /// are counted as instructions as its compiled code would count them.
    fn inline_call(&mut self, pc: usize, f: u32, (start, ret): (usize, usize)) -> Option<()> {
        let callee = self.m.funcs().get(f as usize)?;
        let np = callee.num_params as usize;
        let depth = self.cache.slots.len();
        let base = depth.checked_sub(np)?;
        let args = self.operand(base);
        let need = args.checked_add(slot(
            callee.num_locals as usize + 1 + callee.max_stack as usize,
        )?)?;
        self.charge_call(callee)?;
        // The slow paths call Rust, which may clobber held arrays'
        // registers.
        self.cache.forget_held();
        let cached: Vec<(usize, Slot)> = self
            .cache
            .slots
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, s)| s.loc != Loc::Mem)
            .collect();
        // Each slow path: spill, the stub of `call`, reload, back.
        let slow = |cx: &mut Self, stub: Stub| {
            let l = cx.new_stub(stub);
            cx.new_stub(Stub::Spill {
                slots: cached.clone(),
                then: l,
            })
        };
        let fueled = self.a.new_dynamic_label();
        let reload = self.new_stub(Stub::Reload {
            slots: cached.clone(),
            back: fueled,
        });
        let refuel = slow(self, Stub::Refuel { pc, back: reload });
        dynasm!(self.a ; .arch x64 ; test r14, r14 ; jle =>refuel ; =>fueled);
        let overflow = slow(
            self,
            Stub::Trap {
                pc,
                charge: 0,
                kind: helpers::TRAP_DEPTH,
                a: Arg::Imm(0),
                b: Arg::Imm(0),
            },
        );
        let roomy = self.a.new_dynamic_label();
        let reload = self.new_stub(Stub::Reload {
            slots: cached.clone(),
            back: roomy,
        });
        let grow = slow(
            self,
            Stub::Grow {
                pc,
                need,
                back: reload,
            },
        );
        let rel = self.pc - self.start;
        self.facts.inlined.push((rel, need));
        match self.call_flag(need) {
            // Inside a region whose entry found room for this call.
            Some(flag) => {
                let checks = self.new_stub(Stub::EnterChecks {
                    need,
                    overflow,
                    grow,
                    back: roomy,
                });
                dynasm!(self.a ; .arch x64
                    ; cmp BYTE [rsp + flag], 0
                    ; je =>checks
                    ; =>roomy
                );
            }
            None => self.enter_checks(need, overflow, grow, roomy),
        }
        dynasm!(self.a ; .arch x64 ; add QWORD [r12 + CTX_CALLS], 1);
        // The body: no op of it looks at `seq` (none traps or branches).
        let seq = self.seq.take();
        for i in start..ret {
            let op = plain(self.m.code()[i], self.m.code().get(i + 1).copied());
            match op {
                Op::Load(l) => {
                    self.pending += 1;
                    let d = base + l as usize;
                    let s = *self.cache.slots.get(d)?;
                    self.dup(s, d);
                }
                _ => {
                    if matches!(op, Op::DivInt | Op::RemInt)
                        && !matches!(
                            self.cache.slots.last(),
                            Some(Slot {
                                loc: Loc::Imm(_),
                                ..
                            })
                        )
                    {
                        // `leaf_body` saw the constant divisor; should the
                        // cache not hold it, leave the function interpreted.
                        self.broken = true;
                    }
                    if self.op(i, op)? != 0 {
                        self.broken = true;
                    }
                }
            }
        }
        // The return.
        self.pending += 1;
        self.seq = seq;
        let result = if callee.has_result {
            let (r, dr) = self.pop()?;
            // A result spilled to its slot is above the arguments' place:
            // take it into a register.
            Some(match (r.loc, r.rep) {
                (Loc::Mem, Rep::Float) => Slot {
                    loc: Loc::Xmm(self.owned_xmm(r, dr)),
                    ..r
                },
                (Loc::Mem, _) => Slot {
                    loc: Loc::Gpr(self.owned_gpr(r, dr)),
                    ..r
                },
                _ => r,
            })
        } else {
            None
        };
        for _ in 0..np {
            let (s, _) = self.pop()?;
            self.release(s);
        }
        if let Some(r) = result {
            self.cache.slots.push(r);
        }
        Some(())
    }
}

/// An integer operand.
#[derive(Clone, Copy)]
enum Src {
    Reg(u8),
    Imm(i32),
    /// A frame offset (of the payload).
    Mem(i32),
}

/// A float operand.
#[derive(Clone, Copy)]
enum XSrc {
    Reg(u8),
    Mem(i32),
}
