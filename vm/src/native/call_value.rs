//! Calling function references from native code: the library's
//! higher-order functions (`array.sort_by`, `array.find_by`) and host
//! functions that take a callback.
//!
//! Invariants: a call made here counts against the same limits as
//! [`NativeCtx::call`] — the call depth, [`crate::Config::max_host_depth`]
//! (each level nests native frames on the Rust stack), the fuel tank and
//! the interrupt flag — and its arguments stay rooted (on the scratch list)
//! until the callee has them on its stack, so the GC may run inside the
//! callee. What the calling native allocated before the call (below the
//! scratch mark) stays rooted across it.

use super::{NativeCtx, conforms, value_type_name};
use crate::trap::{Trap, TrapCode};
use crate::types::{FuncType, Type};
use crate::value::{Tag, Value};

/// Calls of function reference values with raw [`Value`] arguments.
impl NativeCtx<'_> {
    /// Calls the function reference `f` (a value of a function type: a
    /// module function or an import of this instance) with `args`, and
    /// returns its result, which stays rooted until this native returns.
    /// The callee's frames go on the same value stack, above the caller's.
    ///
    /// # Errors
    ///
    /// `nil reference: call.ref` for a `nil` reference; an invalid-argument
    /// trap when `f` names no function of this instance or `args` do not
    /// fit its signature; `out of fuel` when the tank is empty,
    /// `interrupted`, the depth limits; or the callee's trap, with its
    /// Keel backtrace.
    pub fn call_value(&mut self, f: Value, args: &[Value]) -> Result<Option<Value>, Trap> {
        if f.tag() != Tag::Func {
            return Err(Trap::nil_reference("call.ref"));
        }
        let module = self.inst.module().clone();
        let m = module.module();
        let index = f.obj();
        let (Some(name), Some(ty)) = (m.callee_name(index), m.callee_type(index)) else {
            return Err(Trap::invalid(format!(
                "no function with index {index} in this instance"
            )));
        };
        if args.len() != ty.params.len()
            || args
                .iter()
                .zip(&ty.params)
                .any(|(a, t)| !conforms(&self.inst.heap, m, *a, t))
        {
            return Err(Trap::invalid(format!(
                "function `{name}` expects arguments {ty}"
            )));
        }
        // A call costs at least its call instruction: an empty tank stops
        // a loop of callbacks even when the callee has no check point.
        self.inst.charge_native_work(0)?;
        if self.inst.fuel() == Some(0) {
            return Err(Trap::new(TrapCode::OutOfFuel, "out of fuel"));
        }
        let max_depth = self.inst.config_max_depth();
        if self.depth + 1 >= max_depth {
            return Err(Trap::call_depth(max_depth));
        }
        let host_limit = self.inst.config_max_host_depth();
        if self.inst.host_depth >= host_limit {
            return Err(Trap::host_depth(host_limit));
        }
        let mark = self.inst.heap.scratch.len();
        self.inst
            .heap
            .scratch
            .extend(args.iter().filter(|a| a.tag().is_object()));
        self.inst.host_depth += 1;
        let nf = m.funcs.len();
        let result = if (index as usize) < nf {
            let saved = self.inst.depth_offset;
            self.inst.depth_offset = self.depth + 1;
            let r = self
                .inst
                .call_at(&module, self.stack, self.sp, index as usize, args);
            self.inst.depth_offset = saved;
            r
        } else {
            self.call_import(index as usize - nf, ty, args)
        };
        self.inst.host_depth -= 1;
        self.inst.heap.scratch.truncate(mark);
        if let Ok(Some(v)) = result
            && v.tag().is_object()
        {
            self.inst.heap.scratch.push(v);
        }
        result
    }

    /// Runs import `import` (of signature `ty`, concrete: `fn.ref` refuses
    /// generic callees) as a call from this native, and checks that its
    /// result is what `ty` promises.
    fn call_import(
        &mut self,
        import: usize,
        ty: &FuncType,
        args: &[Value],
    ) -> Result<Option<Value>, Trap> {
        let imports = self.inst.imports();
        let Some(native) = imports.get(import) else {
            return Err(Trap::invalid(format!("no import with index {import}")));
        };
        let mark = self.inst.heap.scratch.len();
        let result = {
            let mut ctx = NativeCtx {
                inst: &mut *self.inst,
                stack: &mut *self.stack,
                sp: self.sp,
                depth: self.depth,
            };
            (native.func)(&mut ctx, args)
        };
        self.inst.heap.scratch.truncate(mark);
        let result = result?;
        let m = self.inst.module().module();
        let fits = match (result, &ty.result) {
            (None, None) => true,
            (Some(v), Some(t)) => conforms(&self.inst.heap, m, v, t),
            _ => false,
        };
        if !fits {
            return Err(Trap::new(
                TrapCode::HostError,
                format!(
                    "host function `{}` returned {}, but its signature promises {}",
                    native.name,
                    result
                        .map(|v| value_type_name(&self.inst.heap, m, v))
                        .unwrap_or_else(|| "nothing".into()),
                    ty.result
                        .as_ref()
                        .map_or_else(|| "nothing".to_owned(), Type::to_string)
                ),
            ));
        }
        Ok(result)
    }
}
