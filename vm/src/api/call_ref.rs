//! Calling function references from the host: [`Instance::call_ref`] for a
//! reference the host holds, [`NativeCtx::call_ref`] for a host function
//! that received one and calls it back.
//!
//! Invariants: a [`FuncRef`] is accepted only by the instance that made it
//! and only while that instance's callee at its index has the same name and
//! signature, so a reference can never call a function of another instance
//! or one a module edit replaced; arguments are checked against the
//! reference's signature before anything runs (an error, never a panic); a
//! reference may name any function the program handed out, exported or
//! not, and any of its imports.

use super::{CallError, FuncRef, Val, check_args};
use crate::interp::Instance;
use crate::native::NativeCtx;
use crate::value::{Tag, Value};

impl Instance {
    /// Why this instance refuses `f`, if it does: made by another
    /// instance, or no longer naming the same function here.
    pub(super) fn check_ref(&self, f: &FuncRef) -> Result<(), String> {
        if f.owner != self.owner_id() {
            return Err(format!(
                "the function reference to `{}` belongs to another instance",
                f.name()
            ));
        }
        let m = self.module().module();
        if m.callee_name(f.index) != Some(f.name()) || m.callee_type(f.index) != Some(f.ty()) {
            return Err(format!(
                "the function reference to `{}` no longer names a function of this instance (the module changed)",
                f.name()
            ));
        }
        Ok(())
    }

    /// Calls the function `f` refers to with `args`, checked against its
    /// signature first. After a trap the instance stays usable.
    /// A [`FuncRef`] comes out of the instance as a [`Val::Func`]: in a
    /// call's result, or as an argument of a host function.
    ///
    /// # Errors
    ///
    /// [`CallError::ForeignRef`] for a reference this instance did not make
    /// (or whose function a module edit changed); `ArgCount`/`ArgType` for
    /// arguments that do not fit; the trap the call raised.
    pub fn call_ref(&mut self, f: &FuncRef, args: &[Val]) -> Result<Option<Val>, CallError> {
        self.check_ref(f).map_err(CallError::ForeignRef)?;
        check_args(f.name(), f.ty(), args)?;
        let values = self.import_args(args, &[]).map_err(CallError::Trap)?;
        let result = if (f.index as usize) < self.module().module().funcs.len() {
            self.call_index(f.index as usize, &values)
        } else {
            // An import: run it as if called from the host's level, on a
            // stack of its own (it may call back in).
            let mut stack = Vec::new();
            let mut cx = NativeCtx {
                inst: self,
                stack: &mut stack,
                sp: 0,
                depth: 0,
            };
            let r = cx.call_value(Value::func_ref(f.index), &values);
            let out = match r {
                Ok(v) => v.map(|v| self.export(v)).transpose(),
                Err(t) => Err(CallError::Trap(t)),
            };
            self.heap.scratch.clear();
            return out;
        };
        let v = result.map_err(CallError::Trap)?;
        v.map(|v| self.export(v)).transpose()
    }
}

impl NativeCtx<'_> {
    /// The function reference `v` as the host holds it, or `None` when `v`
    /// is `nil` or not a reference to a function of this instance.
    pub fn func_ref(&self, v: Value) -> Option<FuncRef> {
        if v.tag() != Tag::Func {
            return None;
        }
        let m = self.inst.module().module();
        let (name, ty) = (m.callee_name(v.obj())?, m.callee_type(v.obj())?);
        Some(FuncRef::new(v.obj(), name, ty, self.inst.owner_id()))
    }

    /// Calls the function `f` refers to, from a host function (re-entrancy,
    /// as [`NativeCtx::call`] does for exports by name): arguments are
    /// checked against its signature, the call counts against the same
    /// depth, host-nesting ([`crate::Config::max_host_depth`]) and fuel
    /// limits, and what this host function allocated before stays rooted.
    ///
    /// # Errors
    ///
    /// As [`Instance::call_ref`]; the depth limits as traps.
    pub fn call_ref(&mut self, f: &FuncRef, args: &[Val]) -> Result<Option<Val>, CallError> {
        self.inst.check_ref(f).map_err(CallError::ForeignRef)?;
        check_args(f.name(), f.ty(), args)?;
        let mark = self.inst.heap.scratch.len();
        let live = &self.stack[..self.sp];
        let values = match self.inst.import_args(args, live) {
            Ok(v) => v,
            Err(t) => {
                self.inst.heap.scratch.truncate(mark);
                return Err(CallError::Trap(t));
            }
        };
        let result = self.call_value(Value::func_ref(f.index), &values);
        // The result is copied out before anything can collect.
        let out = match result {
            Ok(v) => v.map(|v| self.inst.export(v)).transpose(),
            Err(t) => Err(CallError::Trap(t)),
        };
        self.inst.heap.scratch.truncate(mark);
        out
    }
}
