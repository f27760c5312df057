//! Per-instance host state: every [`Instance`] carries one value of a type
//! the host chooses (`()` until it sets one), and host functions that take
//! a first `&mut Caller<'_, T>` parameter reach it, and the instance's
//! fuel, while they run: the design of wasmtime's `Store<T>` data with
//! `Caller<'_, T>`, and of mlua's app data, without making `Instance`
//! generic (the data is stored as `Box<dyn Any + Send>`).
//!
//! **Invariant.** A [`Caller<'_, T>`] exists only while the instance's data
//! is a `T`: [`Caller::new`] checks it (a `host_error` trap otherwise)
//! and nothing can replace the data while a host function runs (only
//! [`Instance::set_data`] does, which needs the instance itself), so
//! [`Caller::data`] never fails.

use std::any::Any;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use crate::interp::Instance;
use crate::native::NativeCtx;
use crate::trap::{Trap, TrapCode};

/// What a host function with a first `&mut Caller<'_, T>` parameter gets:
/// the calling instance's host state (a `T`) and fuel, and through
/// `Deref` everything a [`NativeCtx`] offers (calls back into the
/// instance, heap access).
///
/// ```
/// use keel_vm::{Caller, Linker};
/// struct Quota { lines_left: u32 }
/// let mut linker = Linker::new();
/// linker.func("host.log", |c: &mut Caller<'_, Quota>, msg: String| -> Result<(), String> {
///     let q = c.data_mut();
///     if q.lines_left == 0 { return Err("log quota used up".into()); }
///     q.lines_left -= 1;
///     println!("{msg}");
///     Ok(())
/// });
/// assert_eq!(linker.signature("host.log").unwrap().to_string(), "(str)");
/// ```
pub struct Caller<'a, T> {
    cx: NativeCtx<'a>,
    _data: PhantomData<fn() -> T>,
}

impl<'a, T: Send + 'static> Caller<'a, T> {
    /// The caller of a host function running in `cx`'s instance.
    ///
    /// # Errors
    ///
    /// A `host_error` trap when the instance's data is not a `T`.
    pub(crate) fn new(cx: &'a mut NativeCtx<'_>) -> Result<Caller<'a, T>, Trap> {
        if !cx.inst.data.is::<T>() {
            return Err(Trap::new(
                TrapCode::HostError,
                format!(
                    "a host function needs instance data of type {}, but this instance's data is another type (set it with Engine::instantiate_with or Instance::set_data)",
                    std::any::type_name::<T>()
                ),
            ));
        }
        Ok(Caller {
            cx: NativeCtx {
                inst: &mut *cx.inst,
                stack: &mut *cx.stack,
                sp: cx.sp,
                depth: cx.depth,
            },
            _data: PhantomData,
        })
    }

    /// The instance's host state.
    pub fn data(&self) -> &T {
        match self.cx.inst.data.downcast_ref::<T>() {
            Some(d) => d,
            None => unreachable!("Caller::new checked the data's type"),
        }
    }

    /// The instance's host state, to change.
    pub fn data_mut(&mut self) -> &mut T {
        match self.cx.inst.data.downcast_mut::<T>() {
            Some(d) => d,
            None => unreachable!("Caller::new checked the data's type"),
        }
    }

    /// The instance's remaining fuel (`None`: unlimited). Exact: the
    /// interpreter settles its chunk before every host call.
    pub fn fuel(&self) -> Option<u64> {
        self.cx.inst.fuel()
    }

    /// Charges `units` of fuel for work the host function does, and looks
    /// at the interrupt flag. With less fuel left, the tank is emptied and
    /// the call fails with `out of fuel` (return the error to trap).
    ///
    /// # Errors
    ///
    /// `out of fuel`, or `interrupted` when the host interrupted the run.
    pub fn charge_fuel(&mut self, units: u64) -> Result<(), Trap> {
        self.cx.inst.charge_native_work(units)
    }

    /// The underlying native context.
    pub fn ctx(&mut self) -> &mut NativeCtx<'a> {
        &mut self.cx
    }
}

impl<'a, T> Deref for Caller<'a, T> {
    type Target = NativeCtx<'a>;
    fn deref(&self) -> &NativeCtx<'a> {
        &self.cx
    }
}

impl<T> DerefMut for Caller<'_, T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.cx
    }
}

impl Instance {
    /// Replaces the instance's host state with `data`, which host functions
    /// taking a `&mut Caller<'_, T>` reach (`T` must be `data`'s type).
    /// A new instance's data is `()`.
    pub fn set_data<T: Send + 'static>(&mut self, data: T) {
        self.data = Box::new(data);
    }

    /// The host state, when it is a `T`.
    pub fn data<T: 'static>(&self) -> Option<&T> {
        self.data.downcast_ref()
    }

    /// The host state, to change, when it is a `T`.
    pub fn data_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.data.downcast_mut()
    }

    /// Takes the host state out when it is a `T`, leaving `()`; otherwise
    /// leaves it in place and returns `None`.
    pub fn take_data<T: 'static>(&mut self) -> Option<T> {
        if !self.data.is::<T>() {
            return None;
        }
        let data = std::mem::replace(&mut self.data, Box::new(()) as Box<dyn Any + Send>);
        data.downcast::<T>().ok().map(|b| *b)
    }
}
