//! Native functions: the one interface through which the standard library
//! and host applications give Keel code anything beyond pure computation.
//!
//! A [`Linker`] maps qualified names (`print`, `str.len`, `host.log`) to a
//! signature and a Rust closure. The assembler asks it for signatures of
//! library calls; instantiation resolves a module's imports against it and
//! fails on any name it lacks or any signature that differs.
//!
//! A closure receives a [`NativeCtx`] (heap access under the GC invariant:
//! every object it allocates stays rooted until it returns) and its
//! arguments, already type-checked by the verifier against the signature.

use std::sync::Arc;

use indexmap::IndexMap;

use crate::display::{self, DISPLAY_CHUNK};
use crate::heap::{GcStats, Heap, OutOfMemory};
use crate::interp::Instance;
use crate::module::Module;
use crate::trap::Trap;
use crate::types::{FuncType, KeyType, Type};
use crate::value::{Tag, Value};

mod call_value;

/// The closure type of a native function.
pub type NativeFn =
    dyn Fn(&mut NativeCtx<'_>, &[Value]) -> Result<Option<Value>, Trap> + Send + Sync;

/// A named native function with its signature.
#[derive(Clone)]
pub struct NativeFunc {
    /// Qualified name.
    pub name: String,
    /// Signature checked by the verifier at every call site.
    pub ty: FuncType,
    /// One-line description for help texts (may be empty).
    pub doc: String,
    pub(crate) func: Arc<NativeFn>,
    /// Set for the pure float functions of [`Linker::define_pure_float`].
    pub(crate) pure: Option<PureFloat>,
}

/// A pure float function: it reads only its float arguments, returns a
/// float, charges no work and cannot trap. Compiled code calls one of
/// these directly (or, for [`PureFloat::Sqrt`], runs the instruction)
/// instead of through a native call; the interpreter calls it like any
/// other library function. Either way the result and the counts are the
/// same.
#[derive(Clone, Copy, Debug)]
pub enum PureFloat {
    /// `sqrt` (IEEE 754 square root, correctly rounded).
    Sqrt,
    /// A function of one float.
    Unary(fn(f64) -> f64),
    /// A function of two floats.
    Binary(fn(f64, f64) -> f64),
}

impl PureFloat {
    /// Applies the function to `args` (one or two floats).
    fn apply(self, args: &[Value]) -> f64 {
        let x = |i: usize| args.get(i).map_or(f64::NAN, |v| v.f());
        match self {
            PureFloat::Sqrt => x(0).sqrt(),
            PureFloat::Unary(f) => f(x(0)),
            PureFloat::Binary(f) => f(x(0), x(1)),
        }
    }
}

impl std::fmt::Debug for NativeFunc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.name, self.ty)
    }
}

/// The set of native functions available to modules.
#[derive(Clone, Default, Debug)]
pub struct Linker {
    funcs: IndexMap<String, NativeFunc>,
}

impl Linker {
    /// An empty linker: no library, no host functions.
    pub fn new() -> Linker {
        Linker::default()
    }

    /// Defines (or replaces) `name` with signature `ty`.
    pub fn define<F>(&mut self, name: &str, ty: FuncType, func: F) -> &mut Linker
    where
        F: Fn(&mut NativeCtx<'_>, &[Value]) -> Result<Option<Value>, Trap> + Send + Sync + 'static,
    {
        self.define_with_doc(name, ty, "", func)
    }

    /// Defines (or replaces) `name` with signature `ty` and a one-line
    /// description that help texts show.
    pub fn define_with_doc<F>(
        &mut self,
        name: &str,
        ty: FuncType,
        doc: &str,
        func: F,
    ) -> &mut Linker
    where
        F: Fn(&mut NativeCtx<'_>, &[Value]) -> Result<Option<Value>, Trap> + Send + Sync + 'static,
    {
        self.funcs.insert(
            name.to_owned(),
            NativeFunc {
                name: name.to_owned(),
                ty,
                doc: doc.to_owned(),
                func: Arc::new(catching(name, func)),
                pure: None,
            },
        );
        self
    }

    /// Defines (or replaces) `name` as pure float function `f`, of type
    /// `(float) -> float` or `(float, float) -> float` (see [`PureFloat`]).
    pub fn define_pure_float(&mut self, name: &str, doc: &str, f: PureFloat) -> &mut Linker {
        let params = match f {
            PureFloat::Binary(_) => vec![Type::Float, Type::Float],
            _ => vec![Type::Float],
        };
        self.define_with_doc(
            name,
            FuncType::new(params, Some(Type::Float)),
            doc,
            move |_, args| Ok(Some(Value::float(f.apply(args)))),
        );
        if let Some(n) = self.funcs.get_mut(name) {
            n.pure = Some(f);
        }
        self
    }

    /// The function named `name`.
    pub fn get(&self, name: &str) -> Option<&NativeFunc> {
        self.funcs.get(name)
    }

    /// The signature of `name`, for the assembler.
    pub fn signature(&self, name: &str) -> Option<&FuncType> {
        self.funcs.get(name).map(|f| &f.ty)
    }

    /// Every defined function, in definition order.
    pub fn iter(&self) -> impl Iterator<Item = &NativeFunc> {
        self.funcs.values()
    }
}

/// `func` with any panic it raises caught and turned into a `host_error`
/// trap: `host function `NAME` panicked: MESSAGE`. The instance stays
/// usable: the call that ran the native unwinds no further than here, and
/// what the native allocated is released as after any trap. (The process's
/// panic hook still runs first and, by default, prints the panic to stderr.)
fn catching<F>(
    name: &str,
    func: F,
) -> impl Fn(&mut NativeCtx<'_>, &[Value]) -> Result<Option<Value>, Trap> + Send + Sync + 'static
where
    F: Fn(&mut NativeCtx<'_>, &[Value]) -> Result<Option<Value>, Trap> + Send + Sync + 'static,
{
    let name = name.to_owned();
    move |cx, args| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| func(cx, args))).unwrap_or_else(
            |payload| {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(a non-text panic payload)".to_owned());
                Err(Trap::new(
                    crate::trap::TrapCode::HostError,
                    format!("host function `{name}` panicked: {what}"),
                ))
            },
        )
    }
}

/// What a native function may do with the instance that called it.
///
/// It holds the instance and its value stack, not borrows of their parts,
/// so a host function can call back into the instance
/// ([`NativeCtx::call`]); the GC roots (live stack, globals, string
/// constants) are taken afresh at every allocation.
pub struct NativeCtx<'a> {
    pub(crate) inst: &'a mut Instance,
    pub(crate) stack: &'a mut Vec<Value>,
    /// The caller's live stack ends here; a re-entrant call starts here.
    pub(crate) sp: usize,
    /// Call depth of the caller, so re-entrant calls count against the
    /// same limit.
    pub(crate) depth: usize,
}

/// The GC roots of a native call: live stack, globals, string constants.
macro_rules! roots {
    ($cx:expr) => {
        [
            &$cx.stack[..$cx.sp],
            &$cx.inst.globals[..],
            &$cx.inst.strings[..],
        ]
    };
}

fn oom(heap: &Heap) -> Trap {
    Trap::out_of_memory(heap.limit())
}

impl NativeCtx<'_> {
    /// Roots a value a native function just allocated until its call ends.
    fn rooted(&mut self, r: Result<Value, OutOfMemory>) -> Result<Value, Trap> {
        let v = r.map_err(|OutOfMemory| oom(&self.inst.heap))?;
        self.inst.heap.scratch.push(v);
        Ok(v)
    }

    /// Fails with an out-of-memory trap unless `bytes` more would fit under
    /// the heap limit (after collecting if needed). Call it before building
    /// a large result so the limit holds for the process, not only the heap.
    ///
    /// # Errors
    ///
    /// The out-of-memory trap.
    pub fn ensure_room(&mut self, bytes: usize) -> Result<(), Trap> {
        self.inst
            .heap
            .ensure_room(bytes, &roots!(self))
            .map_err(|OutOfMemory| oom(&self.inst.heap))
    }

    /// The text of a `str` value.
    ///
    /// # Panics
    ///
    /// When `v` is not a string (the verifier rules this out for arguments
    /// declared `str`).
    pub fn str(&self, v: Value) -> &str {
        assert_eq!(
            v.tag(),
            Tag::Str,
            "NativeCtx::str on a {}",
            v.tag().type_name()
        );
        self.inst.heap.str(v)
    }

    /// A new string.
    ///
    /// # Errors
    ///
    /// Out of memory.
    pub fn new_str(&mut self, s: impl AsRef<str>) -> Result<Value, Trap> {
        let r = self.inst.heap.new_str(s.as_ref(), &roots!(self));
        self.rooted(r)
    }

    /// A new string of `len` bytes written in place by `fill`, which also
    /// gets the text of `src` (a `str` or `strbuf` argument) to read, or
    /// nothing: for results built from an input without a copy of either
    /// in host memory. Check the room first ([`NativeCtx::ensure_room`]).
    ///
    /// # Errors
    ///
    /// Out of memory, or an invalid-argument trap when `fill` did not
    /// write UTF-8.
    pub fn new_str_with(
        &mut self,
        len: usize,
        src: Option<Value>,
        fill: impl FnOnce(&[u8], &mut [u8]),
    ) -> Result<Value, Trap> {
        let r = self.inst.heap.new_str_with(len, src, &roots!(self), fill);
        match r {
            Ok(Some(v)) => self.rooted(Ok(v)),
            Ok(None) => Err(Trap::invalid(
                "a library function built text that is not UTF-8",
            )),
            Err(e) => self.rooted(Err(e)),
        }
    }

    /// The display form of `v` built straight into the heap, as a new
    /// string buffer (`strbuf`) holding it: pieces of [`DISPLAY_CHUNK`]
    /// bytes are appended as they are made, each charged as work, so the
    /// host never holds more than one piece and the buffer meets the heap
    /// limit as it grows. A buffer reachable from `v` shows its text as
    /// it is (the new buffer is not reachable from `v`).
    ///
    /// # Errors
    ///
    /// `out of memory`, `out of fuel` or `interrupted`.
    pub fn display_in_heap(&mut self, v: Value) -> Result<Value, Trap> {
        let buf = self.new_strbuf()?;
        let mut piece = String::new();
        let mut cursor = display::Cursor::new(v, false);
        loop {
            piece.clear();
            let done = cursor.fill(&self.inst.heap, &mut piece, DISPLAY_CHUNK);
            self.charge_work(piece.len() as u64)?;
            self.strbuf_reserve(buf, piece.len())?;
            self.inst.heap.strbuf_append_str(buf, &piece);
            if done {
                return Ok(buf);
            }
        }
    }

    /// The display form of `v`, as `str.from` returns it. Values that
    /// share children can have display forms exponentially larger than the
    /// heap, so the text is built in pieces of [`DISPLAY_CHUNK`] bytes,
    /// each charged like [`NativeCtx::display_to`] (fuel, interrupts) and
    /// checked against the heap limit as if the text were already a heap
    /// string: the process holds at most the limit plus one piece.
    ///
    /// # Errors
    ///
    /// `out of memory`, `out of fuel` or `interrupted`.
    pub fn display(&mut self, v: Value) -> Result<String, Trap> {
        let mut out = String::new();
        let mut cursor = display::Cursor::new(v, false);
        loop {
            let before = out.len();
            let done = cursor.fill(
                &self.inst.heap,
                &mut out,
                before.saturating_add(DISPLAY_CHUNK),
            );
            self.ensure_room(out.len())?;
            self.charge_work((out.len() - before) as u64)?;
            if done {
                return Ok(out);
            }
        }
    }

    /// Streams the display form of `v` (as `print` writes it) to `sink` in
    /// pieces of about [`DISPLAY_CHUNK`] bytes. Before handing over each
    /// piece it looks at the interrupt flag and charges it as library work
    /// ([`NativeCtx::charge_work`]: one unit of fuel per [`WORK_PER_FUEL`]
    /// bytes; stopping with `out of fuel` when the tank holds less than
    /// the piece costs: the pieces before it have been written), so a display
    /// form far larger than the heap runs in bounded memory and stops at
    /// the fuel limit or an interrupt like a loop does.
    ///
    /// # Errors
    ///
    /// `out of fuel`, `interrupted`, or the sink's error.
    pub fn display_to(
        &mut self,
        v: Value,
        mut sink: impl FnMut(&str) -> Result<(), Trap>,
    ) -> Result<(), Trap> {
        let mut piece = String::new();
        let mut cursor = display::Cursor::new(v, false);
        loop {
            piece.clear();
            let done = cursor.fill(&self.inst.heap, &mut piece, DISPLAY_CHUNK);
            self.charge_work(piece.len() as u64)?;
            sink(&piece)?;
            if done {
                return Ok(());
            }
        }
    }

    /// Number of elements of an array value.
    ///
    /// # Panics
    ///
    /// When `v` is not an array.
    pub fn array_len(&self, v: Value) -> usize {
        self.inst.heap.array_len(v)
    }

    /// The element type of an array value.
    pub fn array_elem_type(&self, v: Value) -> Type {
        self.inst.heap.array_elem_type(v)
    }

    /// Copies out the elements of an array value.
    pub fn array_values(&self, v: Value) -> Vec<Value> {
        self.inst.heap.array_values(v)
    }

    /// True when `v` is a value of type `ty` (for `any`, always).
    pub fn has_type(&self, v: Value, ty: &Type) -> bool {
        conforms(&self.inst.heap, self.inst.module().module(), v, ty)
    }

    /// A type error unless every item is an `elem`.
    fn check_items(&self, elem: &Type, items: &[Value]) -> Result<(), Trap> {
        match items
            .iter()
            .find(|v| !conforms(&self.inst.heap, self.inst.module().module(), **v, elem))
        {
            Some(bad) => Err(Trap::type_error(
                elem,
                value_type_name(&self.inst.heap, self.inst.module().module(), *bad),
            )),
            None => Ok(()),
        }
    }

    /// A new array of `elem` holding `items`.
    ///
    /// # Errors
    ///
    /// Out of memory, or a type error when an item is not an `elem`.
    pub fn new_array(&mut self, elem: Type, items: Vec<Value>) -> Result<Value, Trap> {
        self.check_items(&elem, &items)?;
        self.ensure_room(items.len().saturating_mul(16))?;
        let r = self.inst.heap.new_array_from(&elem, &items, &roots!(self));
        self.rooted(r)
    }

    /// Replaces the elements of array `arr` with `items` (same length; for
    /// in-place operations such as sorting and reversing).
    ///
    /// # Errors
    ///
    /// A type error when an item is not of the array's element type, or an
    /// invalid-argument trap when the length differs.
    pub fn set_array_values(&mut self, arr: Value, items: Vec<Value>) -> Result<(), Trap> {
        let elem = self.array_elem_type(arr);
        self.check_items(&elem, &items)?;
        if self.inst.heap.array_len(arr) != items.len() {
            return Err(Trap::invalid("set_array_values: length differs"));
        }
        self.inst.heap.set_array_values(arr, &items);
        Ok(())
    }

    /// A new empty map.
    ///
    /// # Errors
    ///
    /// Out of memory.
    pub fn new_map(&mut self, key: KeyType, val: Type) -> Result<Value, Trap> {
        let r = self.inst.heap.new_map(key, &val, &roots!(self));
        self.rooted(r)
    }

    /// Inserts or replaces `key` in map `m`.
    ///
    /// # Errors
    ///
    /// Out of memory, or a type error when key or value do not fit the map.
    pub fn map_set(&mut self, m: Value, key: Value, val: Value) -> Result<(), Trap> {
        let (kt, vt) = self.inst.heap.map_types(m);
        if !conforms(
            &self.inst.heap,
            self.inst.module().module(),
            key,
            &kt.to_type(),
        ) {
            return Err(Trap::type_error(
                kt,
                value_type_name(&self.inst.heap, self.inst.module().module(), key),
            ));
        }
        if !conforms(&self.inst.heap, self.inst.module().module(), val, &vt) {
            return Err(Trap::type_error(
                &vt,
                value_type_name(&self.inst.heap, self.inst.module().module(), val),
            ));
        }
        self.inst
            .heap
            .map_set(m, key, val, &roots!(self))
            .map_err(|OutOfMemory| oom(&self.inst.heap))
    }

    /// The heap's counters.
    pub fn gc_stats(&self) -> GcStats {
        self.inst.heap.stats()
    }

    /// Runs a full collection now.
    pub fn collect_garbage(&mut self) {
        self.inst.heap.collect(&roots!(self));
    }
}

/// Whether `v` is a value of static type `ty`: what `cast` checks. `nil`
/// is a value of every nullable type (`any`, records, function types);
/// `is` excludes it (see [`is_type`]). Function references are typed by
/// their callee's signature in `m`.
pub(crate) fn conforms(heap: &Heap, m: &Module, v: Value, ty: &Type) -> bool {
    match ty {
        Type::Any | Type::Var(_) => true,
        Type::Nil => v.tag() == Tag::Nil,
        Type::Int => v.tag() == Tag::Int,
        Type::Float => v.tag() == Tag::Float,
        Type::Bool => v.tag() == Tag::Bool,
        Type::Str => v.tag() == Tag::Str,
        Type::StrBuf => v.tag() == Tag::StrBuf,
        Type::Record(name) => match v.tag() {
            Tag::Nil => true,
            Tag::Record => *heap.record_shape(v).name == **name,
            _ => false,
        },
        Type::Func(ft) => match v.tag() {
            Tag::Nil => true,
            Tag::Func => m.callee_type(v.obj()) == Some(&**ft),
            _ => false,
        },
        Type::Array(_) | Type::Map(..) => {
            matches!(v.tag(), Tag::Array | Tag::Map) && heap.ty(v) == *ty
        }
    }
}

/// What `is T` answers: `v` is a `T` and, unless `T` is `any`, not `nil`.
pub(crate) fn is_type(heap: &Heap, m: &Module, v: Value, ty: &Type) -> bool {
    (v.tag() != Tag::Nil || *ty == Type::Any) && conforms(heap, m, v, ty)
}

/// The run-time type of `v` for messages (`int`, `array<str>`, `Body`,
/// `fn(int) -> int`, `nil`).
pub(crate) fn value_type_name(heap: &Heap, m: &Module, v: Value) -> String {
    match (v.tag(), m.callee_type(v.obj())) {
        (Tag::Func, Some(ft)) => format!("fn{ft}"),
        _ => heap_type_name(heap, v),
    }
}

/// [`value_type_name`] without the module: a function reference is `fn`.
pub(crate) fn heap_type_name(heap: &Heap, v: Value) -> String {
    match v.tag() {
        Tag::Array | Tag::Map | Tag::Record => heap.ty(v).to_string(),
        t => t.type_name().to_owned(),
    }
}

/// Units of library work (bytes or elements a library function reads,
/// writes, compares or moves) that cost one unit of fuel.
pub const WORK_PER_FUEL: u64 = 16;

/// Most units of work a long library operation does between looks at the
/// interrupt flag (and so the deadline): about the work of one
/// interpreter chunk.
pub const POLL_STEP: usize = 1 << 16;

/// Library work: fuel, interrupts and bounded in-place array access, so a
/// library function whose work grows with its input or a count argument
/// can pay for it and stop part-way like the interpreter does.
impl NativeCtx<'_> {
    /// Charges `work` units of library work to the fuel tank
    /// (`work / WORK_PER_FUEL` units of fuel, rounded down) before doing
    /// it, and looks at the interrupt flag. With too little fuel left the
    /// call traps `out of fuel` without doing any of the work and the tank
    /// is empty afterwards, as when instructions use it up.
    ///
    /// # Errors
    ///
    /// `out of fuel`, or `interrupted` when the host interrupted the run.
    pub fn charge_work(&mut self, work: u64) -> Result<(), Trap> {
        self.inst.charge_native_work(work / WORK_PER_FUEL)
    }

    /// Looks at the interrupt flag: the `interrupted` trap when the host
    /// (or `vmrun --timeout`) interrupted the run. Cheap; call it every
    /// [`POLL_STEP`] units of a long operation.
    ///
    /// # Errors
    ///
    /// `interrupted`.
    pub fn poll(&self) -> Result<(), Trap> {
        match self.inst.interrupt_handle().take() {
            Some(t) => Err(t),
            None => Ok(()),
        }
    }

    /// The instance's interrupt handle, for polling while a borrow of the
    /// context is held (see [`crate::InterruptHandle::take`]).
    pub fn interrupt_handle(&self) -> crate::InterruptHandle {
        self.inst.interrupt_handle()
    }

    /// Bytes that may still be allocated before the heap limit, counting
    /// uncollected garbage as used (no collection happens).
    pub fn heap_room(&self) -> usize {
        self.inst.heap.room()
    }

    /// Runs a full collection now, charging one unit of work per 256-byte
    /// line of the heap blocks in use and stopping part-way (having freed
    /// nothing) when the run is interrupted.
    ///
    /// # Errors
    ///
    /// `out of fuel` or `interrupted`.
    pub fn collect_garbage_polled(&mut self) -> Result<(), Trap> {
        let slots = self.inst.heap.gc_work();
        self.charge_work(u64::try_from(slots).unwrap_or(u64::MAX))?;
        let handle = self.inst.interrupt_handle();
        let mut interrupted = None;
        let mut stop = || {
            interrupted = handle.take();
            interrupted.is_some()
        };
        self.inst.heap.collect_polled(&roots!(self), &mut stop);
        interrupted.map_or(Ok(()), Err)
    }

    /// The `out of memory` trap for this instance's heap limit, for a
    /// library function that finds its result would not fit.
    pub fn out_of_memory(&self) -> Trap {
        oom(&self.inst.heap)
    }

    /// The elements of an `array<int>`, for in-place operations.
    ///
    /// # Panics
    ///
    /// When `v` is not an `array<int>`.
    pub fn int_array_mut(&mut self, v: Value) -> &mut [i64] {
        self.inst.heap.ints_mut(v)
    }

    /// The elements of an `array<float>`, for in-place operations.
    ///
    /// # Panics
    ///
    /// When `v` is not an `array<float>`.
    pub fn float_array_mut(&mut self, v: Value) -> &mut [f64] {
        self.inst.heap.floats_mut(v)
    }

    /// Element `i` of an array value (`None` out of bounds), without
    /// copying the array.
    pub fn array_get(&self, v: Value, i: usize) -> Option<Value> {
        self.inst.heap.array_get(v, i)
    }

    /// Reverses an array in place.
    pub fn reverse_array(&mut self, v: Value) {
        self.inst.heap.array_reverse(v);
    }

    /// A new array of the elements `from..to` of array `v` (in bounds,
    /// checked by the caller), charged before it is built.
    ///
    /// # Errors
    ///
    /// Out of memory.
    pub fn slice_array(&mut self, v: Value, from: usize, to: usize) -> Result<Value, Trap> {
        let r = self.inst.heap.slice_array(v, from, to, &roots!(self));
        self.rooted(r)
    }
}

/// Heap bytes an object takes at most on top of its payload (a string's
/// bytes, 8 per int or float array element, 1 per bool, 16 per other
/// array element): its header, an array's or map's buffer header and
/// fields, and padding to whole words. What a library function adds up
/// to check a result fits before it builds it.
pub const OBJECT_BYTES: usize = 4 * crate::heap::OBJECT_HEADER_BYTES;

/// Smallest capacity a string buffer grows to on its first append.
const STRBUF_MIN_CAPACITY: usize = 16;

/// String buffers (`strbuf`): text appended in place, with its capacity
/// charged to the heap as it grows.
///
/// **Growth.** An append that does not fit the capacity doubles it (at
/// least to the length needed, at least `STRBUF_MIN_CAPACITY` (16 bytes)), charging
/// the new bytes to the heap before reserving them, so appends in a loop
/// cost linear time in total. When the doubled capacity would pass the
/// heap limit (after a collection), the buffer takes the bytes it needs
/// plus half of the room left, so it can still fill the heap with few
/// copies; when even the bytes needed do not fit, the append traps
/// `out of memory` having changed nothing.
impl NativeCtx<'_> {
    /// A new, empty string buffer.
    ///
    /// # Errors
    ///
    /// Out of memory.
    pub fn new_strbuf(&mut self) -> Result<Value, Trap> {
        let r = self.inst.heap.new_strbuf(&roots!(self));
        self.rooted(r)
    }

    /// The text of a `strbuf` value.
    ///
    /// # Panics
    ///
    /// When `b` is not a string buffer (the verifier rules this out for
    /// arguments declared `strbuf`).
    pub fn strbuf_text(&self, b: Value) -> &str {
        assert_eq!(
            b.tag(),
            Tag::StrBuf,
            "NativeCtx::strbuf_text on a {}",
            b.tag().type_name()
        );
        self.inst.heap.str(b)
    }

    /// Appends the display form of `v` (as `print` shows it: a `str` or
    /// `strbuf` as its text) to buffer `b`. A string's text is copied
    /// straight in (a buffer appended to itself doubles its text); any
    /// other value's display form is first built like `str.from` builds
    /// it ([`NativeCtx::display`]: in pieces, each checked against the
    /// heap limit and charged as work), so a buffer reachable from `v`
    /// contributes its text as it was before the call. The buffer grows
    /// as described on this `impl` block: doubling, charged to the heap
    /// before it reserves.
    ///
    /// # Errors
    ///
    /// `out of memory` (the buffer is unchanged), `out of fuel` or
    /// `interrupted`.
    pub fn strbuf_push(&mut self, b: Value, v: Value) -> Result<(), Trap> {
        match v.tag() {
            Tag::Str | Tag::StrBuf => {
                let n = self.inst.heap.str(v).len();
                self.strbuf_reserve(b, n)?;
                self.charge_work(n as u64)?;
                self.inst.heap.strbuf_append(b, v);
            }
            _ => {
                let text = self.display(v)?;
                self.strbuf_reserve(b, text.len())?;
                self.inst.heap.strbuf_append_str(b, &text);
            }
        }
        Ok(())
    }

    /// Empties buffer `b`, keeping its capacity (and the bytes charged
    /// for it) for the next appends.
    pub fn strbuf_clear(&mut self, b: Value) {
        self.inst.heap.strbuf_clear(b);
    }

    /// Makes room in buffer `b` for `n` more bytes, charging any new
    /// capacity to the heap first (see the growth rule above).
    fn strbuf_reserve(&mut self, b: Value, n: usize) -> Result<(), Trap> {
        let (len, cap) = self.inst.heap.strbuf_len_cap(b);
        let Some(need) = len.checked_add(n) else {
            return Err(self.out_of_memory());
        };
        if need <= cap {
            return Ok(());
        }
        // Doubling first; when that does not fit (the failed attempt
        // collected), the bytes needed plus half the room left; then just
        // the bytes needed.
        let doubled = cap.saturating_mul(2).max(need).max(STRBUF_MIN_CAPACITY);
        if self
            .inst
            .heap
            .strbuf_set_capacity(b, doubled, &roots!(self))
            .is_ok()
        {
            return Ok(());
        }
        let half_room = need.saturating_add(self.inst.heap.room() / 2);
        for want in [half_room, need] {
            if self
                .inst
                .heap
                .strbuf_set_capacity(b, want, &roots!(self))
                .is_ok()
            {
                return Ok(());
            }
        }
        Err(self.out_of_memory())
    }
}

mod charge;
