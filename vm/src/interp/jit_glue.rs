//! The interpreter's side of the JIT: the tiering counters, entering
//! compiled code from the run loop (at a hot call, or by on-stack
//! replacement at a hot loop header), and the interpreter's own code that
//! compiled code calls back into (`jit::helpers`): ops it does not inline,
//! refuelling at a check point, growing the value stack, and calls of
//! functions that run in the interpreter.
//!
//! **Invariant.** Whenever compiled code calls in here, the frame it runs
//! in is the interpreter's: every operand below the stack pointer is in
//! its slot, the frame records of every compiled caller are written, and
//! the budget in the context is the interpreter's counter at this op. So
//! each function here is the interpreter's code for the same thing, run on
//! the same state, with the same fuel settling around natives.

#![cfg(all(feature = "jit", target_arch = "x86_64"))]

use super::{Instance, JitMode, element, enter, grow_stack, nil_field, set_element};
use crate::jit::JitCtx;
use crate::trap::{Trap, TrapCode};
use crate::value::{Tag, Value};
use crate::verify::{Op, VerifiedModule};

/// How compiled code failed in a helper.
pub(crate) enum Failure {
    /// A trap to locate at the op the helper was called for.
    Trap(Trap),
    /// A trap already in the context with its location (raised deeper, by
    /// compiled code).
    Located,
}

impl From<Trap> for Failure {
    fn from(t: Trap) -> Failure {
        Failure::Trap(t)
    }
}

/// What running compiled code from the interpreter came to.
pub(super) enum JitRun {
    /// Nothing ran: interpret on.
    NotRun,
    /// The function returned (with its result, if it has one).
    Returned(Option<Value>),
    /// A trap at (interpreter pc, frame base, run depth).
    Trapped(Trap, usize, usize, usize),
}

/// The ops compiled code runs through [`op`].
pub(crate) fn delegates(op: Op) -> bool {
    metered(op)
        || matches!(
            op,
            Op::AddAny
                | Op::SubAny
                | Op::MulAny
                | Op::DivAny
                | Op::RemAny
                | Op::NegAny
                | Op::FToI
                | Op::Cast(_)
                | Op::ArrayPushInt
                | Op::ArrayPushFloat
                | Op::ArrayPushVal
                | Op::ArrayPopInt
                | Op::ArrayPopFloat
                | Op::ArrayPopVal
                | Op::MapNew(_)
                | Op::MapLen
                | Op::Is(_)
                | Op::RecNew(_)
                | Op::Trap(_)
                | Op::ArrayGetInt
                | Op::ArrayGetFloat
                | Op::ArrayGetVal
                | Op::ArraySetInt
                | Op::ArraySetFloat
                | Op::ArraySetVal
                | Op::RecGet { .. }
                | Op::RecSet { .. }
                | Op::CallRef { .. }
        )
}

/// Ops whose work is charged to the fuel tank: the interpreter settles its
/// chunk before them and trims it after (see its run loop).
fn metered(op: Op) -> bool {
    matches!(
        op,
        Op::CallImport { .. }
            | Op::Concat
            | Op::ArrayNewInt
            | Op::ArrayNewFloat
            | Op::ArrayNewVal(_)
            | Op::MapKeys
            | Op::PushArray(_)
            | Op::EqStr
            | Op::NeStr
            | Op::EqAny
            | Op::NeAny
            | Op::LtStr
            | Op::LeStr
            | Op::GtStr
            | Op::GeStr
            | Op::LtAny
            | Op::LeAny
            | Op::GtAny
            | Op::GeAny
            | Op::MapGet
            | Op::MapGetOr
            | Op::MapHas
            | Op::MapSet
            | Op::MapDel
    )
}

pub(crate) fn division_by_zero() -> Trap {
    super::dynamic::division_by_zero()
}

/// The trap of a field access `rec.field` on `nil`.
pub(crate) fn nil_field_trap(module: &VerifiedModule, rec: u16, field: u16) -> Trap {
    nil_field(module, rec, field)
}

pub(crate) fn depth_trap(max_depth: usize) -> Trap {
    super::depth_trap(max_depth)
}

/// Brings the context's view of the value stack and the heap up to date
/// (after anything that may have grown the stack, or made the heap reserve
/// its region).
pub(crate) fn refresh(cx: &mut JitCtx) {
    cx.refresh();
    cx.heap_base = cx.parts().0.heap.region_raw().0;
}

/// The result compiled function `f` returned in the context.
fn returned(cx: &JitCtx, module: &VerifiedModule, f: usize) -> Option<Value> {
    module.funcs()[f].has_result.then(|| Value {
        tag: Tag::from_u8(cx.ret_tag as u8),
        bits: cx.ret_bits,
    })
}

/// The interpreter's code for op `pc`, in the frame at `base` with `depth`
/// operands.
pub(crate) fn op(cx: &mut JitCtx, base: usize, pc: usize, depth: usize) -> Result<(), Failure> {
    let (inst, stack, module) = cx.parts();
    let code = module.code();
    let op = *code.get(pc).ok_or_else(|| internal("op out of range"))?;
    let f = module.func_at(pc);
    let nl = module.funcs()[f].num_locals as usize;
    let sp = base + nl + 1 + depth;
    if sp > stack.len() {
        return Err(internal("frame past the stack").into());
    }
    let at = cx.depth as usize;
    let imports = inst.imports.clone();
    match op {
        Op::CallRef { ret } => return inst.jit_call_ref(cx, stack, module, pc, base, sp, ret),
        Op::ArrayGetInt | Op::ArrayGetFloat | Op::ArrayGetVal => {
            let (a, i) = (stack[sp - 2], stack[sp - 1].i());
            stack[sp - 2] = element(&inst.heap, a, i).map_err(|len| Trap::index(i, len))?;
        }
        Op::ArraySetInt | Op::ArraySetFloat | Op::ArraySetVal => {
            let (a, i, v) = (stack[sp - 3], stack[sp - 2].i(), stack[sp - 1]);
            set_element(&mut inst.heap, a, i, v).map_err(|len| Trap::index(i, len))?;
        }
        Op::RecGet { rec, field } => match inst.heap.field(stack[sp - 1], field) {
            Some(v) => stack[sp - 1] = v,
            None => return Err(nil_field(module, rec, field).into()),
        },
        Op::RecSet { rec, field } => {
            if !inst.heap.set_field(stack[sp - 2], field, stack[sp - 1]) {
                return Err(nil_field(module, rec, field).into());
            }
        }
        op if metered(op) => {
            let fueled = inst.settle_chunk(&mut cx.chunk, cx.budget);
            let r = match op {
                Op::CallImport { import, ret } => {
                    inst.call_import(import, ret, module, stack, sp, at, &imports)
                }
                _ => inst.slow_op(op, module, stack, sp, at, &imports),
            };
            inst.trim_chunk(fueled, &mut cx.chunk, &mut cx.budget);
            r?;
        }
        op if delegates(op) => {
            inst.slow_op(op, module, stack, sp, at, &imports)?;
        }
        _ => return Err(internal("op not delegated").into()),
    }
    Ok(())
}

/// An internal error of the JIT (a bug, reported as a trap).
fn internal(what: &str) -> Trap {
    Trap::new(
        TrapCode::HostError,
        format!("internal error in compiled code: {what} (please report this)"),
    )
}

/// A check point: charges the chunk, looks at the fuel and the interrupt.
pub(crate) fn refuel(cx: &mut JitCtx) -> Result<(), Failure> {
    let (inst, ..) = cx.parts();
    match inst.refuel(cx.chunk, cx.budget) {
        Ok(next) => {
            cx.chunk = next;
            cx.budget = next;
            Ok(())
        }
        Err(t) => {
            // Already charged: nothing left to count.
            cx.chunk = 0;
            cx.budget = 0;
            Err(t.into())
        }
    }
}

/// Grows the stack so the frame at `base` plus `need` slots fits, for the
/// call at `pc` (whose operands are live).
pub(crate) fn grow(cx: &mut JitCtx, base: usize, pc: usize, need: usize) -> Result<(), Failure> {
    let (inst, stack, module) = cx.parts();
    let f = module.func_at(pc);
    let vf = &module.funcs()[f];
    let depth = vf.stack_at(pc - vf.start as usize).map_or(0, |s| s.len());
    let live = base + vf.num_locals as usize + 1 + depth;
    let roots = [&inst.globals[..], &inst.strings[..], &[][..]];
    grow_stack(
        stack,
        base + need,
        live,
        &mut inst.heap,
        roots,
        &inst.config,
    )?;
    Ok(())
}

/// A call of `f` whose frame is at `base` (arguments in place; `record`
/// the frame record to write): compiled when `jit` allows and it compiles,
/// else in the interpreter. The result goes to the context.
pub(crate) fn call(
    cx: &mut JitCtx,
    f: usize,
    record: u64,
    base: usize,
    jit: bool,
) -> Result<(), Failure> {
    let (inst, stack, module) = cx.parts();
    let vf = module
        .funcs()
        .get(f)
        .ok_or_else(|| internal("callee out of range"))?;
    let (np, nl) = (vf.num_params as usize, vf.num_locals as usize);
    if base + nl + 1 > stack.len() {
        return Err(internal("callee frame past the stack").into());
    }
    stack[base + np..base + nl].copy_from_slice(&inst.local_defaults[f]);
    stack[base + nl] = Value {
        tag: Tag::Nil,
        bits: record,
    };
    let v = inst.jit_run_callee(cx, stack, module, f, base, jit)?;
    if let Some(v) = v {
        cx.ret_bits = v.bits;
        cx.ret_tag = v.tag as u64;
    }
    Ok(())
}

impl Instance {
    /// The tiering thresholds of the configured mode.
    fn thresholds(&self) -> (i32, i32) {
        match self.config.jit {
            JitMode::Off => (i32::MAX, i32::MAX),
            JitMode::Eager => (0, 0),
            JitMode::On => (
                i32::try_from(self.config.jit_call_threshold).unwrap_or(i32::MAX),
                i32::try_from(self.config.jit_loop_threshold).unwrap_or(i32::MAX),
            ),
        }
    }

    /// Sizes the counters for the current module (each function and each
    /// op a loop header may be at starts at its threshold).
    pub(super) fn reset_tiers(&mut self) {
        let (calls, loops) = self.thresholds();
        let m = &self.module;
        self.tier_calls = vec![calls; m.funcs().len()];
        self.tier_loops = vec![loops; m.code().len()];
    }

    /// Counts a call of `f`; true once it is hot.
    #[inline(always)]
    pub(super) fn hot_call(&mut self, f: u32) -> bool {
        match self.tier_calls.get_mut(f as usize) {
            Some(c) => {
                *c -= 1;
                *c < 0
            }
            None => false,
        }
    }

    /// Counts a taken back edge to `header`; true once the loop is hot.
    #[inline(always)]
    pub(super) fn hot_loop(&mut self, header: usize) -> bool {
        match self.tier_loops.get_mut(header) {
            Some(c) => {
                *c -= 1;
                *c < 0
            }
            None => false,
        }
    }

    /// Runs function `func`, whose frame at `base` the interpreter set up
    /// at run depth `depth`, as machine code: from its start, or (`osr`)
    /// from that loop header with the frame as the interpreter left it.
    /// The chunk and budget go in and come back.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn jit_enter(
        &mut self,
        module: &VerifiedModule,
        stack: &mut Vec<Value>,
        func: usize,
        base: usize,
        depth: usize,
        osr: Option<usize>,
        chunk: &mut i64,
        budget: &mut i64,
    ) -> JitRun {
        let counter = |inst: &mut Instance, v: i32| match osr {
            Some(h) => {
                if let Some(c) = inst.tier_loops.get_mut(h) {
                    *c = v;
                }
            }
            None => {
                if let Some(c) = inst.tier_calls.get_mut(func) {
                    *c = v;
                }
            }
        };
        if self.config.jit == JitMode::Off || self.config.checked {
            counter(self, i32::MAX);
            return JitRun::NotRun;
        }
        if self.jit_suspended > 0 || self.host_depth >= crate::jit::JIT_HOST_DEPTH {
            // Inside a run compiled code started in the interpreter: ask
            // again later.
            counter(self, 64);
            return JitRun::NotRun;
        }
        if !self.jit.compile(module, func, &self.imports.clone()) {
            counter(self, i32::MAX);
            return JitRun::NotRun;
        }
        let (Some(target), Some(trampoline)) = (self.jit.entry(func, osr), self.jit.trampoline())
        else {
            counter(self, i32::MAX);
            return JitRun::NotRun;
        };
        let here = &raw const *chunk as u64;
        if self.jit.active == 0 {
            self.jit.floor = crate::jit::floor_below(here);
        } else if here < self.jit.floor {
            counter(self, 64);
            return JitRun::NotRun;
        }
        let nl = module.funcs()[func].num_locals as usize;
        if base + nl + 1 > stack.len() {
            return JitRun::NotRun;
        }
        let abs = depth + self.depth_offset;
        let (heap_base, _) = self.heap.region_raw();
        if osr.is_some() {
            self.jit.stats.osr_entries += 1;
        }
        self.jit.active += 1;
        let (globals, strings) = (self.globals.as_mut_ptr(), self.strings.as_ptr());
        let (max_depth, floor) = (self.config.max_call_depth as u64, self.jit.floor);
        // From here until the code returns, the instance is reached only
        // through this pointer (the helpers take it from the context).
        let inst: *mut Instance = self;
        let mut cx = JitCtx {
            budget: *budget,
            chunk: *chunk,
            depth: abs as u64,
            max_depth,
            stack_base: stack.as_mut_ptr(),
            stack_end: stack.as_mut_ptr_range().end,
            globals,
            strings,
            heap_base,
            native_floor: floor,
            calls: 0,
            frame_fuel: 0,
            ret_bits: 0,
            ret_tag: 0,
            trap_pc: 0,
            trap_frame: 0,
            trap_depth: 0,
            trap: None,
            inst,
            stack,
            module,
        };
        let status = trampoline.run(&mut cx, base, target);
        // The code has returned: back to the instance.
        let this = cx.parts().0;
        this.jit.active -= 1;
        *budget = cx.budget;
        *chunk = cx.chunk;
        this.stats.calls = this.stats.calls.saturating_add(cx.calls);
        this.frame_fuel = this.frame_fuel.saturating_add(cx.frame_fuel);
        if status == 0 {
            return JitRun::Returned(returned(&cx, module, func));
        }
        let trap = cx
            .trap
            .take()
            .unwrap_or_else(|| internal("a trap without its cause"));
        let rel = (cx.trap_depth as usize)
            .saturating_sub(abs)
            .saturating_add(depth);
        JitRun::Trapped(trap, cx.trap_pc as usize, cx.trap_frame as usize / 16, rel)
    }

    /// Runs callee `f`, its frame at `base` set up, for compiled code:
    /// compiled (nested) when allowed and possible, else interpreted with
    /// the JIT held off (so native frames stop growing).
    fn jit_run_callee(
        &mut self,
        cx: &mut JitCtx,
        stack: &mut Vec<Value>,
        module: &VerifiedModule,
        f: usize,
        base: usize,
        jit: bool,
    ) -> Result<Option<Value>, Failure> {
        let here = &raw const base as u64;
        if jit && here > cx.native_floor && self.jit.compile(module, f, &self.imports.clone()) {
            let entry = self.jit.entry(f, None);
            let tramp = self.jit.trampoline();
            if let (Some(target), Some(trampoline)) = (entry, tramp) {
                let status = trampoline.run(cx, base, target);
                return match status {
                    0 => Ok(returned(cx, module, f)),
                    _ => Err(Failure::Located),
                };
            }
        }
        // In the interpreter, the chunk settled around it like a native's.
        let fueled = self.settle_chunk(&mut cx.chunk, cx.budget);
        let saved = self.depth_offset;
        self.depth_offset = cx.depth as usize;
        self.jit_suspended += 1;
        let r = self.run::<false>(module, stack, f as u32, base, 0);
        self.jit_suspended -= 1;
        self.depth_offset = saved;
        self.trim_chunk(fueled, &mut cx.chunk, &mut cx.budget);
        Ok(r?)
    }

    /// `call.ref` for compiled code: an import runs like `CallImport`; a
    /// module function is entered as the interpreter's `enter!` does.
    #[allow(clippy::too_many_arguments)]
    fn jit_call_ref(
        &mut self,
        cx: &mut JitCtx,
        stack: &mut Vec<Value>,
        module: &VerifiedModule,
        pc: usize,
        base: usize,
        sp: usize,
        ret: u16,
    ) -> Result<(), Failure> {
        let fref = stack[sp - 1];
        if fref.tag() != Tag::Func {
            return Err(Trap::nil_reference("call.ref").into());
        }
        let nf = module.funcs().len() as u32;
        let at = cx.depth as usize;
        if fref.obj() >= nf {
            let imports = self.imports.clone();
            let fueled = self.settle_chunk(&mut cx.chunk, cx.budget);
            let import = (fref.obj() - nf) as u16;
            let r = self.call_import(import, ret, module, stack, sp - 1, at, &imports);
            self.trim_chunk(fueled, &mut cx.chunk, &mut cx.budget);
            r?;
            return Ok(());
        }
        let f = fref.obj();
        let cost = super::frame_fuel(&module.funcs()[f as usize]);
        cx.budget -= cost;
        self.frame_fuel = self.frame_fuel.saturating_add(cost as u64);
        if cx.budget <= 0 {
            refuel(cx)?;
        }
        let local_defaults = self.local_defaults.clone();
        let roots = [&self.globals[..], &self.strings[..], &[][..]];
        let (new_base, _, _) = enter(
            at,
            stack,
            module.funcs(),
            &local_defaults,
            self.config.max_call_depth,
            f,
            sp - 1,
            pc + 1,
            base,
            &mut self.heap,
            roots,
            &self.config,
        )?;
        cx.calls += 1;
        cx.depth += 1;
        let r = self.jit_run_callee(cx, stack, module, f as usize, new_base, true);
        cx.depth -= 1;
        if let Some(v) = r? {
            stack[new_base] = v;
        }
        Ok(())
    }
}
