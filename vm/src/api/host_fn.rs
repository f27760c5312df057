//! Typed host functions: the conversions between Rust parameter and result
//! types and Keel values ([`HostArg`], [`HostRet`]), and the closures that
//! [`Linker::func`] registers ([`HostFn`]), with or without a first
//! [`Caller`] parameter.
//!
//! **Invariant.** A closure's Keel signature is computed from its types
//! alone ([`HostFn::signature`]), and every conversion accepts exactly the
//! values of that signature: the verifier proved the arguments' types, and
//! a result is checked against the call site by the interpreter. A value
//! that has the right Keel type but does not fit the Rust type (an `int`
//! above `u32::MAX` for a `u32` parameter) is an `invalid_argument` trap,
//! never a wrap-around or a panic.

use std::fmt;
use std::marker::PhantomData;

use super::{FuncRef, Val, take};
use crate::api::caller::Caller;
use crate::native::{Linker, NativeCtx, value_type_name};
use crate::trap::{Trap, TrapCode};
use crate::types::{FuncType, Type};
use crate::value::{Tag, Value};

/// A Rust type a host function can take as a parameter.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of a Keel host function",
    label = "this parameter type is not a `HostArg`",
    note = "parameters may be i64, i32, i16, i8, u64, u32, u16, u8, isize, usize, f64, f32, bool, String, Val, FuncRef, Option<FuncRef>, Vec<i64 | f64 | bool | String | Val>",
    note = "take text as `String`: a closure with a `&str` parameter is generic over its lifetime, which no impl can name"
)]
pub trait HostArg: Sized {
    /// The Keel type of the parameter.
    fn keel_type() -> Type;
    /// Reads the argument (the verifier proved its Keel type).
    ///
    /// # Errors
    ///
    /// An `out of memory` trap when copying it out would pass
    /// [`crate::Config::max_val_bytes`]; an `invalid_argument` trap when
    /// the value does not fit the Rust type.
    fn from_arg(cx: &NativeCtx<'_>, v: Value) -> Result<Self, Trap>;
}

/// A Rust type a host function can return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a Keel host function",
    label = "this result type is not a `HostRet`",
    note = "results may be (), the parameter types, &'static str, Option<T> (T or nil), Vec<i64 | f64 | bool | String | Val>, or Result<T, E: Display> (an Err becomes a host_error trap)"
)]
pub trait HostRet {
    /// The Keel result type, or `None` for no result.
    fn keel_type() -> Option<Type>;
    /// Converts the result, or turns an error into a host-error trap.
    ///
    /// # Errors
    ///
    /// The host function's error as a trap, out of memory, or an
    /// `invalid_argument` trap for a number Keel's `int` cannot hold.
    fn into_ret(self, cx: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap>;
}

/// Scalars cross as themselves: `$t` is Keel's `$ty`, read with the
/// payload accessor `$get` and written with the constructor `$make`.
macro_rules! scalar {
    ($t:ty, $ty:expr, $get:ident, $make:path) => {
        impl HostArg for $t {
            fn keel_type() -> Type {
                $ty
            }
            fn from_arg(_: &NativeCtx<'_>, v: Value) -> Result<Self, Trap> {
                Ok(v.$get())
            }
        }
        impl HostRet for $t {
            fn keel_type() -> Option<Type> {
                Some($ty)
            }
            fn into_ret(self, _: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
                Ok(Some($make(self)))
            }
        }
    };
}
scalar!(i64, Type::Int, i, Value::int);
scalar!(f64, Type::Float, f, Value::float);
scalar!(bool, Type::Bool, b, Value::bool);

/// The trap of a number that does not fit the Rust type it crosses as.
fn out_of_range(n: impl fmt::Display, rust: &str) -> Trap {
    Trap::invalid(format!(
        "{n} does not fit the host function's {rust} (an int crossing as {rust} must be in its range)"
    ))
}

/// Narrower (or unsigned) integers cross as Keel's `int`, checked both
/// ways: an argument outside the Rust type's range, or a result above
/// `i64::MAX`, is an `invalid_argument` trap.
macro_rules! narrow_int {
    ($($t:ty),*) => {$(
        impl HostArg for $t {
            fn keel_type() -> Type {
                Type::Int
            }
            fn from_arg(_: &NativeCtx<'_>, v: Value) -> Result<Self, Trap> {
                <$t>::try_from(v.i()).map_err(|_| out_of_range(v.i(), stringify!($t)))
            }
        }
        impl HostRet for $t {
            fn keel_type() -> Option<Type> {
                Some(Type::Int)
            }
            fn into_ret(self, _: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
                i64::try_from(self)
                    .map(|i| Some(Value::int(i)))
                    .map_err(|_| out_of_range(self, "int (i64)"))
            }
        }
    )*};
}
narrow_int!(i32, i16, i8, u64, u32, u16, u8, isize, usize);

/// `f32` crosses as `float`, rounded to the nearest `f32` on the way in.
impl HostArg for f32 {
    fn keel_type() -> Type {
        Type::Float
    }
    fn from_arg(_: &NativeCtx<'_>, v: Value) -> Result<Self, Trap> {
        #[allow(clippy::cast_possible_truncation)]
        Ok(v.f() as f32)
    }
}
impl HostRet for f32 {
    fn keel_type() -> Option<Type> {
        Some(Type::Float)
    }
    fn into_ret(self, _: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
        Ok(Some(Value::float(f64::from(self))))
    }
}

impl HostArg for String {
    fn keel_type() -> Type {
        Type::Str
    }
    fn from_arg(cx: &NativeCtx<'_>, v: Value) -> Result<Self, Trap> {
        Ok(cx.str(v).to_owned())
    }
}

/// Any value, copied out (Keel type `any`): records cross as
/// [`Val::Record`], function references as [`Val::Func`].
impl HostArg for Val {
    fn keel_type() -> Type {
        Type::Any
    }
    fn from_arg(cx: &NativeCtx<'_>, v: Value) -> Result<Self, Trap> {
        cx.export_arg(|cx, left| cx.inst.export_val(v, 0, left))
    }
}

/// A function reference, as Keel type `any` (a host function's signature
/// is static; a reference's type is its callee's): any other value,
/// `nil` included, is a type-error trap. Call it with
/// [`NativeCtx::call_ref`] (through [`Caller`]'s `Deref`).
impl HostArg for FuncRef {
    fn keel_type() -> Type {
        Type::Any
    }
    fn from_arg(cx: &NativeCtx<'_>, v: Value) -> Result<Self, Trap> {
        match cx.func_ref(v) {
            Some(f) => Ok(f),
            None => Err(Trap::type_error(
                "a function reference",
                value_type_name(&cx.inst.heap, cx.inst.module().module(), v),
            )),
        }
    }
}

/// A function reference or `nil` (Keel type `any`).
impl HostArg for Option<FuncRef> {
    fn keel_type() -> Type {
        Type::Any
    }
    fn from_arg(cx: &NativeCtx<'_>, v: Value) -> Result<Self, Trap> {
        if v.tag() == Tag::Nil {
            return Ok(None);
        }
        FuncRef::from_arg(cx, v).map(Some)
    }
}

macro_rules! array_arg {
    ($t:ty, $elem:expr, $get:ident) => {
        /// An array argument, copied out.
        impl HostArg for Vec<$t> {
            fn keel_type() -> Type {
                Type::array($elem)
            }
            fn from_arg(cx: &NativeCtx<'_>, v: Value) -> Result<Self, Trap> {
                Ok(cx
                    .array_values(v)
                    .into_iter()
                    .map(|x| x.$get().unwrap_or_default())
                    .collect())
            }
        }
    };
}
array_arg!(i64, Type::Int, as_int);
array_arg!(f64, Type::Float, as_float);
array_arg!(bool, Type::Bool, as_bool);

/// An `array<str>` argument, copied out.
impl HostArg for Vec<String> {
    fn keel_type() -> Type {
        Type::array(Type::Str)
    }
    fn from_arg(cx: &NativeCtx<'_>, v: Value) -> Result<Self, Trap> {
        // The items may all be one long string: count every copy.
        cx.export_arg(|cx, left| {
            cx.array_values(v)
                .into_iter()
                .map(|x| {
                    let s = cx.str(x);
                    take(left, s.len().saturating_add(std::mem::size_of::<String>()))?;
                    Ok(s.to_owned())
                })
                .collect()
        })
    }
}

/// An `array<any>` argument, copied out within the copy limit.
impl HostArg for Vec<Val> {
    fn keel_type() -> Type {
        Type::array(Type::Any)
    }
    fn from_arg(cx: &NativeCtx<'_>, v: Value) -> Result<Self, Trap> {
        cx.export_arg(|cx, left| {
            cx.array_values(v)
                .into_iter()
                .map(|x| cx.inst.export_val(x, 1, left))
                .collect()
        })
    }
}

impl HostRet for () {
    fn keel_type() -> Option<Type> {
        None
    }
    fn into_ret(self, _: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
        Ok(None)
    }
}
impl HostRet for String {
    fn keel_type() -> Option<Type> {
        Some(Type::Str)
    }
    fn into_ret(self, cx: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
        Ok(Some(cx.new_str(self)?))
    }
}
impl HostRet for &'static str {
    fn keel_type() -> Option<Type> {
        Some(Type::Str)
    }
    fn into_ret(self, cx: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
        Ok(Some(cx.new_str(self)?))
    }
}

/// Any value, copied in (Keel type `any`): a [`Val::Record`] must name a
/// record type of the calling module and give every field in order; a
/// [`Val::Func`] must come from the calling instance.
impl HostRet for Val {
    fn keel_type() -> Option<Type> {
        Some(Type::Any)
    }
    fn into_ret(self, cx: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
        let live = &cx.stack[..cx.sp];
        Ok(Some(cx.inst.import_val(&self, 0, live)?))
    }
}

/// A function reference of the calling instance (Keel type `any`).
impl HostRet for FuncRef {
    fn keel_type() -> Option<Type> {
        Some(Type::Any)
    }
    fn into_ret(self, cx: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
        Val::Func(self).into_ret(cx)
    }
}

/// `Some(x)` returns `x`, `None` returns `nil` (Keel type `any`).
impl<T: HostRet> HostRet for Option<T> {
    fn keel_type() -> Option<Type> {
        Some(Type::Any)
    }
    fn into_ret(self, cx: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
        match self {
            Some(x) => Ok(Some(x.into_ret(cx)?.unwrap_or(Value::NIL))),
            None => Ok(Some(Value::NIL)),
        }
    }
}

/// A result array: `Vec<T>` returns an `array<T>` (`Vec<Val>`:
/// `array<any>`), each element converted like a result of type `T`.
macro_rules! array_ret {
    ($t:ty, $elem:expr) => {
        impl HostRet for Vec<$t> {
            fn keel_type() -> Option<Type> {
                Some(Type::array($elem))
            }
            fn into_ret(self, cx: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
                let mut items = Vec::with_capacity(self.len());
                for x in self {
                    items.push(x.into_ret(cx)?.unwrap_or(Value::NIL));
                }
                Ok(Some(cx.new_array($elem, items)?))
            }
        }
    };
}
array_ret!(i64, Type::Int);
array_ret!(f64, Type::Float);
array_ret!(bool, Type::Bool);
array_ret!(String, Type::Str);
array_ret!(Val, Type::Any);

/// An `Err` becomes a `host_error` trap carrying the error's message.
impl<T: HostRet, E: fmt::Display> HostRet for Result<T, E> {
    fn keel_type() -> Option<Type> {
        T::keel_type()
    }
    fn into_ret(self, cx: &mut NativeCtx<'_>) -> Result<Option<Value>, Trap> {
        match self {
            Ok(v) => v.into_ret(cx),
            Err(e) => Err(Trap::new(TrapCode::HostError, e.to_string())),
        }
    }
}

/// A host value the host can ask back from a call.
pub trait FromVal: Sized {
    /// The type name used in errors.
    fn type_name() -> &'static str;
    /// Converts, or returns the found type's name.
    ///
    /// # Errors
    ///
    /// The name of the type found instead.
    fn from_val(v: Val) -> Result<Self, String>;
}

macro_rules! from_val {
    ($t:ty, $name:literal, $variant:ident) => {
        impl FromVal for $t {
            fn type_name() -> &'static str {
                $name
            }
            fn from_val(v: Val) -> Result<Self, String> {
                match v {
                    Val::$variant(x) => Ok(x),
                    other => Err(other.ty().to_string()),
                }
            }
        }
    };
}
from_val!(i64, "int", Int);
from_val!(f64, "float", Float);
from_val!(bool, "bool", Bool);
from_val!(String, "str", Str);

impl FromVal for Val {
    fn type_name() -> &'static str {
        "any"
    }
    fn from_val(v: Val) -> Result<Self, String> {
        Ok(v)
    }
}

impl FromVal for () {
    fn type_name() -> &'static str {
        "nothing"
    }
    fn from_val(v: Val) -> Result<Self, String> {
        match v {
            Val::Nil => Ok(()),
            other => Err(other.ty().to_string()),
        }
    }
}

/// The `Args` of a [`HostFn`] whose closure takes a `&mut Caller<'_, T>`
/// first and then the parameters `P` (a tuple). A marker: never built.
pub struct WithCaller<T, P>(PhantomData<fn() -> (T, P)>);

/// A Rust closure usable as a host function: its signature comes from its
/// parameter and return types. Implemented for closures of up to 10
/// parameters, each a [`HostArg`], returning a [`HostRet`], optionally
/// taking a `&mut Caller<'_, T>` first (not part of the Keel signature).
#[diagnostic::on_unimplemented(
    message = "this closure cannot be a Keel host function",
    label = "some parameter or the result has no Keel form",
    note = "each parameter must be a `HostArg` (i64, i32, u32, ..., f64, bool, String, Val, FuncRef, Vec<...>), at most 10 of them, optionally after a first `&mut Caller<'_, T>`; the result must be a `HostRet`",
    note = "take text as `String`, not `&str` (a closure with a `&str` parameter is generic over its lifetime); annotate every parameter's type"
)]
pub trait HostFn<Args>: Send + Sync + 'static {
    /// The Keel signature.
    fn signature() -> FuncType;
    /// Calls the closure with arguments read from `args`.
    ///
    /// # Errors
    ///
    /// The closure's error as a trap.
    fn invoke(&self, cx: &mut NativeCtx<'_>, args: &[Value]) -> Result<Option<Value>, Trap>;
}

macro_rules! host_fn {
    ($($a:ident $i:tt),*) => {
        impl<F, R, $($a: HostArg),*> HostFn<($($a,)*)> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            R: HostRet,
        {
            fn signature() -> FuncType {
                FuncType::new(vec![$($a::keel_type()),*], R::keel_type())
            }
            #[allow(unused_variables)]
            fn invoke(&self, cx: &mut NativeCtx<'_>, args: &[Value]) -> Result<Option<Value>, Trap> {
                let r = self($($a::from_arg(cx, args[$i])?),*);
                r.into_ret(cx)
            }
        }

        impl<F, R, T, $($a: HostArg),*> HostFn<WithCaller<T, ($($a,)*)>> for F
        where
            F: Fn(&mut Caller<'_, T>, $($a),*) -> R + Send + Sync + 'static,
            R: HostRet,
            T: Send + 'static,
        {
            fn signature() -> FuncType {
                FuncType::new(vec![$($a::keel_type()),*], R::keel_type())
            }
            #[allow(unused_variables, non_snake_case)]
            fn invoke(&self, cx: &mut NativeCtx<'_>, args: &[Value]) -> Result<Option<Value>, Trap> {
                $(let $a = $a::from_arg(cx, args[$i])?;)*
                let mut caller = Caller::<T>::new(cx)?;
                let r = self(&mut caller, $($a),*);
                r.into_ret(caller.ctx())
            }
        }
    };
}
host_fn!();
host_fn!(A 0);
host_fn!(A 0, B 1);
host_fn!(A 0, B 1, C 2);
host_fn!(A 0, B 1, C 2, D 3);
host_fn!(A 0, B 1, C 2, D 3, E 4);
host_fn!(A 0, B 1, C 2, D 3, E 4, G 5);
host_fn!(A 0, B 1, C 2, D 3, E 4, G 5, H 6);
host_fn!(A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7);
host_fn!(A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7, J 8);
host_fn!(A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7, J 8, K 9);

impl Linker {
    /// Registers a typed host function: the signature is taken from the
    /// closure's parameter types ([`HostArg`]: `i64` and the narrower or
    /// unsigned integers for `int`, `f64`/`f32` for `float`, `bool`,
    /// `String` for `str`, `Val` for `any`, `FuncRef` for a function
    /// reference, `Vec<_>` for arrays) and return type ([`HostRet`]: those,
    /// `()`, `Option<T>` for T-or-nil, `Vec<_>`, or a `Result` whose error
    /// becomes a `host_error` trap with the error's message). Up to 10
    /// parameters; a first `&mut Caller<'_, T>` parameter gives the
    /// instance's host state and fuel ([`Caller`]). A panic in the closure
    /// becomes a `host_error` trap.
    ///
    /// An integer that does not fit a narrower Rust type (`u32`, `i32`,
    /// ...) is an `invalid_argument` trap: `invalid argument: 5000000000
    /// does not fit the host function's u32 ...`.
    ///
    /// ```
    /// let mut linker = keel_vm::Linker::new();
    /// linker.func("host.add", |a: i64, b: i64| a.wrapping_add(b));
    /// linker.func("host.check", |s: String| -> Result<(), String> {
    ///     if s.is_empty() { Err("empty".into()) } else { Ok(()) }
    /// });
    /// linker.func("host.port", |p: u16| u32::from(p) + 1);
    /// linker.func("host.words", |s: String| -> Vec<String> {
    ///     s.split(' ').map(str::to_owned).collect()
    /// });
    /// assert_eq!(linker.signature("host.add").unwrap().to_string(), "(int, int) -> int");
    /// assert_eq!(linker.signature("host.words").unwrap().to_string(), "(str) -> array<str>");
    /// ```
    ///
    /// A parameter with no Keel form is a compile error naming the
    /// closure and listing the accepted types:
    ///
    /// ```compile_fail
    /// let mut linker = keel_vm::Linker::new();
    /// // error: this closure cannot be a Keel host function
    /// linker.func("host.bad", |c: char| c.is_alphabetic());
    /// ```
    pub fn func<Args, F: HostFn<Args>>(&mut self, name: &str, f: F) -> &mut Linker {
        let sig = F::signature();
        self.define(name, sig, move |cx, args| f.invoke(cx, args))
    }
}
