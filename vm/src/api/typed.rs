//! Typed handles to exported functions, and the list of a module's
//! exports.
//!
//! [`Instance::typed_func`] looks an export up by name and checks its
//! signature against Rust types once; [`TypedFunc::call`] then converts
//! the arguments straight to values and calls by index, with no lookup
//! and no per-call signature check.
//!
//! **Invariant.** A `TypedFunc` is only ever called on the instance it was
//! made for, while that instance still runs the module it was checked
//! against (the same `Arc<VerifiedModule>`): any other call is refused
//! ([`CallError::ForeignRef`]) before anything runs, so the signature
//! checked once holds at every call.

use std::marker::PhantomData;
use std::sync::Arc;

use super::{CallError, Val};
use crate::interp::Instance;
use crate::trap::Trap;
use crate::types::{FuncType, Type};
use crate::value::{Tag, Value};
use crate::verify::VerifiedModule;

/// One exported function of a module: its name and signature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Export<'m> {
    /// The function's name.
    pub name: &'m str,
    /// Its signature.
    pub ty: &'m FuncType,
}

impl VerifiedModule {
    /// The exported functions, in definition order, so a host can check a
    /// plugin before calling it.
    pub fn exports(&self) -> impl Iterator<Item = Export<'_>> {
        self.module()
            .funcs
            .iter()
            .filter(|f| f.exported)
            .map(|f| Export {
                name: &f.name,
                ty: &f.ty,
            })
    }
}

/// A Rust type a typed handle passes as one argument.
pub trait TypedArg {
    /// Whether a parameter of Keel type `ty` takes this Rust type.
    fn accepts(ty: &Type) -> bool;
    /// The value in `inst`'s heap (rooted until the call ends).
    ///
    /// # Errors
    ///
    /// Out of memory, or a [`Val`] that does not fit `ty`.
    fn into_value(self, inst: &mut Instance, ty: &Type) -> Result<Value, CallError>;
}

macro_rules! scalar_arg {
    ($t:ty, $ty:expr, $make:path) => {
        impl TypedArg for $t {
            fn accepts(ty: &Type) -> bool {
                *ty == $ty
            }
            fn into_value(self, _: &mut Instance, _: &Type) -> Result<Value, CallError> {
                Ok($make(self))
            }
        }
    };
}
scalar_arg!(i64, Type::Int, Value::int);
scalar_arg!(f64, Type::Float, Value::float);
scalar_arg!(bool, Type::Bool, Value::bool);

impl TypedArg for &str {
    fn accepts(ty: &Type) -> bool {
        *ty == Type::Str
    }
    fn into_value(self, inst: &mut Instance, _: &Type) -> Result<Value, CallError> {
        let r = inst
            .heap
            .new_str(self, &[&inst.globals[..], &inst.strings[..]]);
        inst.rooted(r).map_err(CallError::Trap)
    }
}
impl TypedArg for String {
    fn accepts(ty: &Type) -> bool {
        *ty == Type::Str
    }
    fn into_value(self, inst: &mut Instance, ty: &Type) -> Result<Value, CallError> {
        self.as_str().into_value(inst, ty)
    }
}
/// Any parameter type: the value is checked against it at each call, as
/// [`Instance::call`] checks.
impl TypedArg for Val {
    fn accepts(_: &Type) -> bool {
        true
    }
    fn into_value(self, inst: &mut Instance, ty: &Type) -> Result<Value, CallError> {
        if !self.fits(ty) {
            return Err(CallError::Trap(Trap::type_error(ty, self.ty())));
        }
        inst.import_val(&self, 0, &[]).map_err(CallError::Trap)
    }
}

/// The Rust type of a typed handle's result.
pub trait TypedResult: Sized {
    /// Whether a function with Keel result `ty` returns this Rust type.
    fn accepts(ty: Option<&Type>) -> bool;
    /// The Rust value of the call's result.
    ///
    /// # Errors
    ///
    /// [`CallError::TooLarge`] for a [`Val`] past the copy limit.
    fn from_value(inst: &Instance, v: Option<Value>) -> Result<Self, CallError>;
}

macro_rules! scalar_result {
    ($t:ty, $ty:expr, $get:ident) => {
        impl TypedResult for $t {
            fn accepts(ty: Option<&Type>) -> bool {
                ty == Some(&$ty)
            }
            fn from_value(_: &Instance, v: Option<Value>) -> Result<Self, CallError> {
                Ok(v.map_or_else(Default::default, |v| v.$get()))
            }
        }
    };
}
scalar_result!(i64, Type::Int, i);
scalar_result!(f64, Type::Float, f);
scalar_result!(bool, Type::Bool, b);

impl TypedResult for () {
    fn accepts(ty: Option<&Type>) -> bool {
        ty.is_none()
    }
    fn from_value(_: &Instance, _: Option<Value>) -> Result<Self, CallError> {
        Ok(())
    }
}
impl TypedResult for String {
    fn accepts(ty: Option<&Type>) -> bool {
        ty == Some(&Type::Str)
    }
    fn from_value(inst: &Instance, v: Option<Value>) -> Result<Self, CallError> {
        Ok(match v {
            Some(v) if v.tag() == Tag::Str => inst.heap.str(v).to_owned(),
            _ => String::new(),
        })
    }
}
/// Any result (none is `Val::Nil`), copied out within the copy limit.
impl TypedResult for Val {
    fn accepts(_: Option<&Type>) -> bool {
        true
    }
    fn from_value(inst: &Instance, v: Option<Value>) -> Result<Self, CallError> {
        v.map_or(Ok(Val::Nil), |v| inst.export(v))
    }
}

/// The argument tuple of a typed handle: `()`, `(i64,)`, `(i64, String)`,
/// ... up to 10 elements, each a [`TypedArg`].
pub trait TypedParams {
    /// How many arguments.
    const COUNT: usize;
    /// Whether each parameter type takes the Rust type in its place.
    fn accept(params: &[Type]) -> bool;
    /// Writes the arguments into `out[..COUNT]`.
    ///
    /// # Errors
    ///
    /// As [`TypedArg::into_value`].
    fn write(
        self,
        inst: &mut Instance,
        params: &[Type],
        out: &mut [Value],
    ) -> Result<(), CallError>;
}

macro_rules! typed_params {
    ($n:expr; $($a:ident $i:tt),*) => {
        impl<$($a: TypedArg),*> TypedParams for ($($a,)*) {
            const COUNT: usize = $n;
            #[allow(unused_variables)]
            fn accept(params: &[Type]) -> bool {
                params.len() == $n $(&& $a::accepts(&params[$i]))*
            }
            #[allow(unused_variables)]
            fn write(self, inst: &mut Instance, params: &[Type], out: &mut [Value]) -> Result<(), CallError> {
                $(out[$i] = self.$i.into_value(inst, &params[$i])?;)*
                Ok(())
            }
        }
    };
}
typed_params!(0;);
typed_params!(1; A 0);
typed_params!(2; A 0, B 1);
typed_params!(3; A 0, B 1, C 2);
typed_params!(4; A 0, B 1, C 2, D 3);
typed_params!(5; A 0, B 1, C 2, D 3, E 4);
typed_params!(6; A 0, B 1, C 2, D 3, E 4, G 5);
typed_params!(7; A 0, B 1, C 2, D 3, E 4, G 5, H 6);
typed_params!(8; A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7);
typed_params!(9; A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7, J 8);
typed_params!(10; A 0, B 1, C 2, D 3, E 4, G 5, H 6, I 7, J 8, K 9);

/// Most arguments a typed handle passes.
const MAX_TYPED_ARGS: usize = 10;

/// A handle to an exported function, checked once against the Rust types
/// `P` (argument tuple) and `R` (result); see [`Instance::typed_func`].
pub struct TypedFunc<P, R> {
    index: usize,
    owner: usize,
    module: Arc<VerifiedModule>,
    _sig: PhantomData<fn(P) -> R>,
}

impl<P, R> Clone for TypedFunc<P, R> {
    fn clone(&self) -> Self {
        TypedFunc {
            index: self.index,
            owner: self.owner,
            module: self.module.clone(),
            _sig: PhantomData,
        }
    }
}

impl<P, R> std::fmt::Debug for TypedFunc<P, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let func = &self.module.module().funcs[self.index];
        write!(f, "TypedFunc({}{})", func.name, func.ty)
    }
}

/// The Rust-side signature of a typed handle, for the mismatch error.
fn asked<P: TypedParams, R: TypedResult>() -> String {
    format!(
        "{} argument(s) {} -> {}",
        P::COUNT,
        std::any::type_name::<P>(),
        std::any::type_name::<R>()
    )
}

impl Instance {
    /// A typed handle to the exported function `name`, which must take
    /// arguments of the Rust types `P` and return an `R`: checked here,
    /// once, so [`TypedFunc::call`] does no lookup or signature check.
    ///
    /// `i64` matches `int`, `f64` `float`, `bool` `bool`, `String`/`&str`
    /// `str`, `()` no result; `Val` matches any type (checked per call for
    /// an argument).
    ///
    /// # Errors
    ///
    /// [`CallError::UnknownFunction`], [`CallError::NotExported`],
    /// [`CallError::ArgCount`], or [`CallError::Signature`] when the types
    /// differ.
    pub fn typed_func<P: TypedParams, R: TypedResult>(
        &self,
        name: &str,
    ) -> Result<TypedFunc<P, R>, CallError> {
        let index = self.export_index(name, P::COUNT)?;
        let ty = &self.module().module().funcs[index].ty;
        if !P::accept(&ty.params) || !R::accepts(ty.result.as_ref()) {
            return Err(CallError::Signature {
                name: name.to_owned(),
                expected: ty.to_string(),
                found: asked::<P, R>(),
            });
        }
        Ok(TypedFunc {
            index,
            owner: self.owner_id(),
            module: self.module().clone(),
            _sig: PhantomData,
        })
    }
}

impl<P: TypedParams, R: TypedResult> TypedFunc<P, R> {
    /// Calls the function on `inst`, the instance the handle was made for.
    /// After a trap the instance stays usable, as after [`Instance::call`].
    ///
    /// # Errors
    ///
    /// The trap the call raised; [`CallError::ForeignRef`] when `inst` is
    /// another instance or has since switched modules; out of memory while
    /// copying arguments in; [`CallError::TooLarge`] for a `Val` result.
    pub fn call(&self, inst: &mut Instance, args: P) -> Result<R, CallError> {
        if inst.owner_id() != self.owner || !Arc::ptr_eq(inst.module(), &self.module) {
            return Err(CallError::ForeignRef(format!(
                "the typed handle of `{}` belongs to another instance, or to this one before its module changed",
                self.module.module().funcs[self.index].name
            )));
        }
        let params = &self.module.module().funcs[self.index].ty.params;
        let mut values = [Value::NIL; MAX_TYPED_ARGS];
        args.write(inst, params, &mut values)?;
        // The handle's module is the instance's (checked above), and each
        // argument was written for its parameter's type.
        let result = inst
            .call_conforming(&self.module, self.index, &values[..P::COUNT])
            .map_err(CallError::Trap)?;
        R::from_value(inst, result)
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.module.module().funcs[self.index].name
    }
}
