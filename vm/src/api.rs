//! The host-facing side of an instance: owned values that cross the
//! boundary ([`Val`]), calls of exported functions by name with checked
//! arguments, and typed host functions registered from plain closures.
//!
//! Values cross by copy: strings, arrays and maps are converted deeply in
//! both directions, so the host never holds a reference into the heap and a
//! value it holds can never dangle or keep garbage alive.

use crate::heap::{Elem, OutOfMemory};
use crate::interp::Instance;
use crate::native::{NativeCtx, conforms, value_type_name};
use crate::trap::{Trap, TrapCode};
use crate::types::{FuncType, KeyType, Type};
use crate::value::{Tag, Value};

/// Deepest container nesting converted to or from a [`Val`].
pub const MAX_VAL_DEPTH: usize = 64;

/// A Keel value owned by the host.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    /// `nil`.
    Nil,
    /// An int.
    Int(i64),
    /// A float.
    Float(f64),
    /// A bool.
    Bool(bool),
    /// A string.
    Str(String),
    /// An array with its element type.
    Array(Type, Vec<Val>),
    /// A map with its key and value types, entries in order.
    Map(KeyType, Type, Vec<(Val, Val)>),
    /// A record: its type's name and every field as `(name, value)` in
    /// declaration order. A `nil` record crosses as [`Val::Nil`].
    Record(String, Vec<(String, Val)>),
    /// A reference to a function of the instance (see
    /// [`Instance::call_ref`](crate::Instance)). A `nil` reference crosses
    /// as [`Val::Nil`].
    Func(FuncRef),
    /// A string buffer's text (`strbuf`).
    StrBuf(String),
}

/// A function reference as a host holds it: the callee's index, name and
/// signature in the instance it came from. Passing it back in (as an
/// argument, or to [`Instance::call_ref`]) checks that it came from the
/// same instance and that the instance's callee at that index still has
/// the same name and signature (a module edit may have moved it); any
/// other reference is refused.
#[derive(Clone, Debug, PartialEq)]
pub struct FuncRef {
    pub(crate) index: u32,
    /// The instance that made it ([`Instance::owner_id`]).
    owner: usize,
    /// Name and signature, shared: a reference stays small in a [`Val`].
    sig: std::sync::Arc<(String, FuncType)>,
}

impl FuncRef {
    pub(crate) fn new(index: u32, name: &str, ty: &FuncType, owner: usize) -> FuncRef {
        FuncRef {
            index,
            owner,
            sig: std::sync::Arc::new((name.to_owned(), ty.clone())),
        }
    }

    /// The referenced function's name (`fib`, `str.len`).
    pub fn name(&self) -> &str {
        &self.sig.0
    }

    /// The referenced function's signature.
    pub fn ty(&self) -> &FuncType {
        &self.sig.1
    }
}

impl Val {
    /// The value's type (`any` for nil).
    pub fn ty(&self) -> Type {
        match self {
            Val::Nil => Type::Any,
            Val::Int(_) => Type::Int,
            Val::Float(_) => Type::Float,
            Val::Bool(_) => Type::Bool,
            Val::Str(_) => Type::Str,
            Val::Array(e, _) => Type::array(e.clone()),
            Val::Map(k, v, _) => Type::map(*k, v.clone()),
            Val::Record(name, _) => Type::record(name),
            Val::Func(f) => Type::func(f.ty().clone()),
            Val::StrBuf(_) => Type::StrBuf,
        }
    }

    /// Whether the value may be passed where `ty` is expected (`nil` where
    /// `any`, a record type or a function type is).
    pub fn fits(&self, ty: &Type) -> bool {
        match self {
            Val::Nil => ty.is_nullable(),
            v => *ty == Type::Any || v.ty() == *ty,
        }
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::Float(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Bool(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Str(v.to_owned())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Str(v)
    }
}

/// Why a host's call into an instance failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No function of that name.
    #[error("no function named `{0}`")]
    UnknownFunction(String),
    /// The function exists but is not exported.
    #[error("function `{0}` is not exported")]
    NotExported(String),
    /// Wrong number of arguments.
    #[error("function `{name}` takes {expected} argument(s), found {found}")]
    ArgCount {
        /// The function.
        name: String,
        /// Its parameter count.
        expected: usize,
        /// Arguments given.
        found: usize,
    },
    /// An argument of the wrong type.
    #[error("argument {index} of `{name}`: expected {expected}, found {found}")]
    ArgType {
        /// The function.
        name: String,
        /// Which argument, from 0.
        index: usize,
        /// The parameter type.
        expected: String,
        /// The argument's type.
        found: String,
    },
    /// [`Instance::typed_func`]: the function's signature differs from the
    /// Rust types asked for.
    #[error("function `{name}` has signature {expected}, but the typed handle asks for {found}")]
    Signature {
        /// The function.
        name: String,
        /// Its signature.
        expected: String,
        /// The Rust argument tuple and result asked for.
        found: String,
    },
    /// The call ran and trapped.
    #[error("{0}")]
    Trap(Trap),
    /// A function reference that this instance did not make, or whose
    /// function a module edit has since removed or changed.
    #[error("{0}")]
    ForeignRef(String),
    /// The value is too large to copy out as a [`Val`]: its copy would
    /// take more than [`crate::Config::max_val_bytes`] (a copy duplicates
    /// every child the value shares). Keep it in the instance with a
    /// [`Handle`] instead ([`Instance::call_keep`]).
    #[error(
        "the value is too large to copy out to the host: more than {limit} bytes as a Val (keep it in the instance with Instance::call_keep)"
    )]
    TooLarge {
        /// The limit, [`crate::Config::max_val_bytes`].
        limit: usize,
    },
}

impl Instance {
    /// Calls the exported function `name` with `args`. Arguments are
    /// checked against its signature first: calling an unknown or
    /// unexported function, or with wrong arguments, is an error, never a
    /// panic. After a trap the instance stays usable.
    ///
    /// # Errors
    ///
    /// [`CallError`]: a bad name or arguments, or the trap the call raised.
    pub fn call(&mut self, name: &str, args: &[Val]) -> Result<Option<Val>, CallError> {
        let index = self.exported(name, args)?;
        let values = self.import_args(args, &[]).map_err(CallError::Trap)?;
        let result = self.call_index(index, &values).map_err(CallError::Trap)?;
        result.map(|v| self.export(v)).transpose()
    }

    /// The index of exported function `name`, after checking that it takes
    /// `nargs` arguments.
    fn export_index(&self, name: &str, nargs: usize) -> Result<usize, CallError> {
        let m = self.module().module();
        let index = m
            .func_index(name)
            .ok_or_else(|| CallError::UnknownFunction(name.to_owned()))?;
        let f = &m.funcs[index];
        if !f.exported {
            return Err(CallError::NotExported(name.to_owned()));
        }
        if nargs != f.ty.params.len() {
            return Err(CallError::ArgCount {
                name: name.to_owned(),
                expected: f.ty.params.len(),
                found: nargs,
            });
        }
        Ok(index)
    }

    /// The index of exported function `name`, after checking `args`
    /// against its signature.
    fn exported(&self, name: &str, args: &[Val]) -> Result<usize, CallError> {
        let index = self.export_index(name, args.len())?;
        check_args(name, &self.module().module().funcs[index].ty, args)?;
        Ok(index)
    }

    /// Copies arguments into the heap; `live` is the part of the value
    /// stack in use (rooted while allocating).
    fn import_args(&mut self, args: &[Val], live: &[Value]) -> Result<Vec<Value>, Trap> {
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            let v = self.import_val(a, 0, live)?;
            // Rooted until the call has them on its stack.
            self.heap.scratch.push(v);
            values.push(v);
        }
        Ok(values)
    }

    /// Typed convenience over [`Instance::call`]:
    /// `instance.call_typed::<i64>("fib", &[30.into()])`.
    ///
    /// # Errors
    ///
    /// As [`Instance::call`], plus a type error when the result is not a `R`.
    pub fn call_typed<R: FromVal>(&mut self, name: &str, args: &[Val]) -> Result<R, CallError> {
        let v = self.call(name, args)?.unwrap_or(Val::Nil);
        R::from_val(v).map_err(|found| CallError::Trap(Trap::type_error(R::type_name(), found)))
    }

    /// Copies a host value into the heap.
    fn import_val(&mut self, v: &Val, depth: usize, live: &[Value]) -> Result<Value, Trap> {
        if depth > MAX_VAL_DEPTH {
            return Err(Trap::invalid("value nested too deeply"));
        }
        Ok(match v {
            Val::Nil => Value::NIL,
            Val::Int(i) => Value::int(*i),
            Val::Float(f) => Value::float(*f),
            Val::Bool(b) => Value::bool(*b),
            Val::Str(s) => {
                let roots = [live, &self.globals[..], &self.strings[..]];
                let r = self.heap.new_str(s, &roots);
                self.rooted(r)?
            }
            Val::Array(elem, items) => {
                let mut vals = Vec::with_capacity(items.len());
                for it in items {
                    if !it.fits(elem) {
                        return Err(Trap::type_error(elem, it.ty()));
                    }
                    let x = self.import_val(it, depth + 1, live)?;
                    self.heap.scratch.push(x);
                    vals.push(x);
                }
                let roots = [live, &self.globals[..], &self.strings[..]];
                let r = self.heap.new_array_from(elem, &vals, &roots);
                self.rooted(r)?
            }
            Val::Map(k, vt, entries) => {
                let roots = [live, &self.globals[..], &self.strings[..]];
                let r = self.heap.new_map(*k, vt, &roots);
                let m = self.rooted(r)?;
                for (key, val) in entries {
                    let key = match (k, key) {
                        (KeyType::Int, Val::Int(i)) => Value::int(*i),
                        (KeyType::Bool, Val::Bool(b)) => Value::bool(*b),
                        (KeyType::Str, Val::Str(_)) => self.import_val(key, depth + 1, live)?,
                        _ => return Err(Trap::type_error(k, key.ty())),
                    };
                    if !val.fits(vt) {
                        return Err(Trap::type_error(vt, val.ty()));
                    }
                    let x = self.import_val(val, depth + 1, live)?;
                    self.heap.scratch.push(x);
                    let roots = [live, &self.globals[..], &self.strings[..]];
                    self.heap
                        .map_set(m, key, x, &roots)
                        .map_err(|_| self.oom())?;
                }
                m
            }
            Val::Record(name, fields) => {
                let m = self.module().clone();
                let Some(ri) = m.module().record_index(name) else {
                    return Err(Trap::invalid(format!("unknown record type {name}")));
                };
                let def = &m.module().records[ri];
                if fields.len() != def.fields.len()
                    || fields
                        .iter()
                        .zip(&def.fields)
                        .any(|((a, _), (b, _))| a != b)
                {
                    return Err(Trap::invalid(format!(
                        "record {name} needs the fields {} in order",
                        def.fields
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                let mut vals = Vec::with_capacity(fields.len());
                for ((_, fv), (_, ft)) in fields.iter().zip(&def.fields) {
                    if !fv.fits(ft) {
                        return Err(Trap::type_error(ft, fv.ty()));
                    }
                    let x = self.import_val(fv, depth + 1, live)?;
                    self.heap.scratch.push(x);
                    vals.push(x);
                }
                let shape = self.shape_id(ri);
                let roots = [live, &self.globals[..], &self.strings[..]];
                let r = self.heap.new_record(shape, &vals, &roots);
                self.rooted(r)?
            }
            Val::Func(f) => {
                self.check_ref(f).map_err(Trap::invalid)?;
                Value::func_ref(f.index)
            }
            Val::StrBuf(s) => {
                let roots = [live, &self.globals[..], &self.strings[..]];
                let r = self.heap.new_strbuf(&roots);
                let b = self.rooted(r)?;
                let roots = [live, &self.globals[..], &self.strings[..]];
                self.heap
                    .strbuf_set_capacity(b, s.len(), &roots)
                    .map_err(|_| self.oom())?;
                self.heap.strbuf_append_str(b, s);
                b
            }
        })
    }

    /// Roots a value just allocated (on the scratch list) until the call
    /// that imports it ends.
    fn rooted(&mut self, r: Result<Value, OutOfMemory>) -> Result<Value, Trap> {
        let v = r.map_err(|_| self.oom())?;
        self.heap.scratch.push(v);
        Ok(v)
    }

    fn oom(&self) -> Trap {
        Trap::out_of_memory(self.heap.limit())
    }

    /// Copies a heap value out for the host, within
    /// [`crate::Config::max_val_bytes`].
    fn export(&self, v: Value) -> Result<Val, CallError> {
        let limit = self.config_max_val_bytes();
        let mut left = limit;
        self.export_val(v, 0, &mut left)
            .map_err(|TooLarge| CallError::TooLarge { limit })
    }

    /// Copies a heap value out for the host, taking its size from `left`
    /// (the copy's bytes still allowed) as it goes, so a value that shares
    /// children stops at the limit instead of growing without bound.
    /// Cycles and nesting deeper than [`MAX_VAL_DEPTH`] are cut off as
    /// `nil`.
    fn export_val(&self, v: Value, depth: usize, left: &mut usize) -> Result<Val, TooLarge> {
        take(left, VAL_BYTES)?;
        Ok(match v.tag() {
            Tag::Nil => Val::Nil,
            Tag::Int => Val::Int(v.i()),
            Tag::Float => Val::Float(v.f()),
            Tag::Bool => Val::Bool(v.b()),
            Tag::Str => {
                let s = self.heap.str(v);
                take(left, s.len())?;
                Val::Str(s.to_owned())
            }
            Tag::StrBuf => {
                let s = self.heap.str(v);
                take(left, s.len())?;
                Val::StrBuf(s.to_owned())
            }
            Tag::Func => {
                let m = self.module().module();
                match (m.callee_name(v.obj()), m.callee_type(v.obj())) {
                    (Some(name), Some(ty)) => {
                        Val::Func(FuncRef::new(v.obj(), name, ty, self.owner_id()))
                    }
                    _ => Val::Nil,
                }
            }
            _ if depth >= MAX_VAL_DEPTH => Val::Nil,
            Tag::Array => {
                let n = self.heap.array_len(v);
                match self.heap.array_elem(v) {
                    Elem::Int | Elem::Float | Elem::Bool => {
                        take(left, n.saturating_mul(VAL_BYTES))?;
                        let elem = self.heap.array_elem_type(v);
                        let out = (0..n)
                            .filter_map(|i| self.heap.array_get(v, i))
                            .map(|x| match x.tag() {
                                Tag::Int => Val::Int(x.i()),
                                Tag::Float => Val::Float(x.f()),
                                _ => Val::Bool(x.b()),
                            })
                            .collect();
                        Val::Array(elem, out)
                    }
                    Elem::Val => {
                        let mut out = Vec::with_capacity(n.min(*left / VAL_BYTES));
                        for i in 0..n {
                            let x = self.heap.array_get(v, i).unwrap_or(Value::NIL);
                            out.push(self.export_val(x, depth + 1, left)?);
                        }
                        Val::Array(self.heap.array_elem_type(v), out)
                    }
                }
            }
            Tag::Map => {
                let (kt, vt) = self.heap.map_types(v);
                let mut out = Vec::with_capacity(self.heap.map_len(v).min(*left / VAL_BYTES));
                let mut pos = 0;
                while let Some(p) = self.heap.map_next_slot(v, pos) {
                    pos = p + 1;
                    let Some((k, x)) = self.heap.map_entry_at(v, p) else {
                        continue;
                    };
                    take(left, VAL_BYTES)?;
                    let key = match k.tag() {
                        Tag::Int => Val::Int(k.i()),
                        Tag::Bool => Val::Bool(k.b()),
                        _ => {
                            let s = self.heap.str(k);
                            take(left, s.len())?;
                            Val::Str(s.to_string())
                        }
                    };
                    out.push((key, self.export_val(x, depth + 1, left)?));
                }
                Val::Map(kt, vt, out)
            }
            Tag::Record => {
                let shape = self.heap.record_shape(v).clone();
                let fields = self.heap.record_fields(v);
                let mut out = Vec::with_capacity(fields.len());
                for (name, x) in shape.fields.iter().zip(fields) {
                    take(left, name.len())?;
                    out.push((name.to_string(), self.export_val(x, depth + 1, left)?));
                }
                Val::Record(shape.name.to_string(), out)
            }
        })
    }
}

/// Bytes a copy out counts per value (besides string bytes).
const VAL_BYTES: usize = std::mem::size_of::<Val>();

/// A copy out would pass [`crate::Config::max_val_bytes`].
#[derive(Debug)]
struct TooLarge;

/// Takes `n` bytes from the copy's allowance.
fn take(left: &mut usize, n: usize) -> Result<(), TooLarge> {
    *left = left.checked_sub(n).ok_or(TooLarge)?;
    Ok(())
}

impl NativeCtx<'_> {
    /// Copies a value out for a host function's parameter, within
    /// [`crate::Config::max_val_bytes`] (an `out of memory` trap past it).
    fn export_arg<T>(
        &self,
        f: impl FnOnce(&Self, &mut usize) -> Result<T, TooLarge>,
    ) -> Result<T, Trap> {
        let limit = self.inst.config_max_val_bytes();
        let mut left = limit;
        f(self, &mut left).map_err(|TooLarge| {
            Trap::new(
                TrapCode::OutOfMemory,
                format!(
                    "out of memory: copying a value out to the host would exceed the limit of {limit} bytes"
                ),
            )
        })
    }
}

impl NativeCtx<'_> {
    /// Calls an exported function of the instance that called this host
    /// function (re-entrancy). The new frames go on the same value stack,
    /// above the caller's, and count against the same depth limit and fuel.
    /// The nesting of such calls is bounded by [`crate::Config::max_host_depth`]
    /// (`stack overflow: host call nesting limit N exceeded`), as each level
    /// nests native frames.
    ///
    /// # Errors
    ///
    /// As [`Instance::call`].
    pub fn call(&mut self, name: &str, args: &[Val]) -> Result<Option<Val>, CallError> {
        let index = self.inst.exported(name, args)?;
        if self.depth + 1 >= self.inst.config_max_depth() {
            return Err(CallError::Trap(Trap::call_depth(
                self.inst.config_max_depth(),
            )));
        }
        let host_limit = self.inst.config_max_host_depth();
        if self.inst.host_depth >= host_limit {
            return Err(CallError::Trap(Trap::host_depth(host_limit)));
        }
        // The arguments are rooted on the scratch list only until the call
        // has them on its stack; what this host function allocated before
        // (below the mark) stays rooted across the call.
        let mark = self.inst.heap.scratch.len();
        let live = &self.stack[..self.sp];
        let values = self.inst.import_args(args, live);
        let values = match values {
            Ok(v) => v,
            Err(t) => {
                self.inst.heap.scratch.truncate(mark);
                return Err(CallError::Trap(t));
            }
        };
        let module = self.inst.module().clone();
        let saved = self.inst.depth_offset;
        self.inst.depth_offset = self.depth + 1;
        self.inst.host_depth += 1;
        let result = self
            .inst
            .call_at(&module, self.stack, self.sp, index, &values);
        self.inst.host_depth -= 1;
        self.inst.depth_offset = saved;
        self.inst.heap.scratch.truncate(mark);
        let result = result.map_err(CallError::Trap)?;
        result.map(|v| self.inst.export(v)).transpose()
    }
}

/// A handle to a value inside one instance's heap, held by the host. While
/// it exists its object stays alive (it is a GC root); dropping it releases
/// the object. A handle avoids copying a large result out, and passes it
/// back into a later call without copying it in
/// ([`Instance::call_with_handles`]). Only the instance that made it
/// accepts it.
#[derive(Debug)]
pub struct Handle {
    value: Value,
    owner: usize,
    released: std::sync::Arc<std::sync::Mutex<Vec<u32>>>,
}

impl Handle {
    /// The value held, for [`Instance::display`] or
    /// [`Instance::run_snippet`] on the instance that made the handle.
    pub fn value(&self) -> Value {
        self.value
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.value.tag().is_object() {
            self.released
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(self.value.obj());
        }
    }
}

impl Instance {
    fn owner_id(&self) -> usize {
        std::sync::Arc::as_ptr(&self.heap.handles.released) as usize
    }

    /// Keeps `value` (of this instance) alive until the returned handle is
    /// dropped; a tool holding values between calls (the REPL's stack)
    /// roots them this way.
    pub fn hold(&mut self, value: Value) -> Handle {
        self.handle(value)
    }

    fn handle(&mut self, value: Value) -> Handle {
        self.heap.pin(value);
        Handle {
            value,
            owner: self.owner_id(),
            released: self.heap.handles.released.clone(),
        }
    }

    /// Like [`Instance::call`], but keeps the result inside the instance and
    /// returns a handle to it instead of a copy.
    ///
    /// # Errors
    ///
    /// As [`Instance::call`].
    pub fn call_keep(&mut self, name: &str, args: &[Val]) -> Result<Option<Handle>, CallError> {
        let index = self.exported(name, args)?;
        let values = self.import_args(args, &[]).map_err(CallError::Trap)?;
        let result = self.call_index(index, &values).map_err(CallError::Trap)?;
        Ok(result.map(|v| self.handle(v)))
    }

    /// Calls `name` with values held by handles, without copying them.
    ///
    /// # Errors
    ///
    /// As [`Instance::call`]; a handle made by another instance is an
    /// argument type error.
    pub fn call_with_handles(
        &mut self,
        name: &str,
        args: &[&Handle],
    ) -> Result<Option<Val>, CallError> {
        let index = self.export_index(name, args.len())?;
        let module = self.module().clone();
        let f = &module.module().funcs[index];
        let mut values = Vec::with_capacity(args.len());
        for (index, (h, p)) in args.iter().zip(&f.ty.params).enumerate() {
            let foreign = h.owner != self.owner_id();
            if foreign || !conforms(&self.heap, self.module().module(), h.value, p) {
                return Err(CallError::ArgType {
                    name: name.to_owned(),
                    index,
                    expected: p.to_string(),
                    found: if foreign {
                        "a handle of another instance".into()
                    } else {
                        value_type_name(&self.heap, self.module().module(), h.value)
                    },
                });
            }
            values.push(h.value);
        }
        let result = self.call_index(index, &values).map_err(CallError::Trap)?;
        result.map(|v| self.export(v)).transpose()
    }

    /// A copy of the value a handle holds.
    ///
    /// # Errors
    ///
    /// A type error trap when the handle belongs to another instance;
    /// [`CallError::TooLarge`] past [`crate::Config::max_val_bytes`].
    pub fn get(&self, h: &Handle) -> Result<Val, CallError> {
        if h.owner != self.owner_id() {
            return Err(CallError::Trap(Trap::invalid(
                "the handle belongs to another instance",
            )));
        }
        self.export(h.value)
    }
}

/// Checks `args` against the signature `ty` of the function `name`.
fn check_args(name: &str, ty: &FuncType, args: &[Val]) -> Result<(), CallError> {
    if args.len() != ty.params.len() {
        return Err(CallError::ArgCount {
            name: name.to_owned(),
            expected: ty.params.len(),
            found: args.len(),
        });
    }
    for (index, (a, p)) in args.iter().zip(&ty.params).enumerate() {
        if !a.fits(p) {
            return Err(CallError::ArgType {
                name: name.to_owned(),
                index,
                expected: p.to_string(),
                found: a.ty().to_string(),
            });
        }
    }
    Ok(())
}

mod call_ref;
mod caller;
mod host_fn;
mod typed;

pub use caller::Caller;
pub use host_fn::WithCaller;
pub use host_fn::{FromVal, HostArg, HostFn, HostRet};
pub use typed::{Export, TypedArg, TypedFunc, TypedParams, TypedResult};

#[cfg(test)]
mod tests;
