//! The interpreter: runs verified, specialized code over the value stack.
//!
//! **Frames.** Keel frames live on the VM's own value stack, never on the
//! native stack. A call reuses the arguments already on the caller's
//! operand stack as the callee's first locals; a frame's slots are
//! `[locals (params first)][record][operand stack up to max_stack]`, where
//! the record is a `nil`-tagged slot holding the caller's resume pc and
//! base (so the collector skips it). Return ops carry the function's local
//! count to find the record. The verifier's `max_stack` bounds every
//! access, and the call depth limit turns runaway recursion into a clean
//! trap.
//!
//! **Specialization.** Specialized ops (`AddInt`, `LtFloat`, ...) read
//! payloads without checking tags: the verifier proved the types. Only the
//! `*Any` ops, `cast` and native calls look at run-time tags.
//!
//! **Safepoints.** The collector runs only inside heap allocation calls.
//! Every allocating op keeps its operands below `sp` until the allocation has
//! returned, so the roots `[stack[..sp], globals, string constants]` (plus
//! the heap's scratch list for natives) cover every live object. A call
//! that grows the value stack is a safepoint too (the growth is charged to
//! the heap, see [`Config::max_stack_bytes`]), with its arguments below `sp`.
//!
//! **Scratch roots nest.** A native call keeps what it allocates on the
//! heap's scratch list until it returns. Natives nest (a host function may
//! call back into the instance, whose code calls natives), so an inner call
//! truncates the list to the length it had on entry, never clears it: the
//! outer host function's objects stay rooted. Only the outermost entry
//! points (`call_index`, `run_snippet`) clear it.

mod dynamic;
mod edit;
mod interrupt;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
pub(crate) mod jit_glue;
mod missing_key;

use std::sync::Arc;

use crate::config::STACK_SLOT_BYTES;
pub use crate::config::{Config, DEFAULT_MAX_HOST_DEPTH, JitMode, MAX_STACK_SLOTS};
use crate::heap::{Heap, OBJECT_HEADER_BYTES, OutOfMemory, Shape};
use crate::isa::ArrayLit;
use crate::module::GlobalInit;
use crate::native::{
    Linker, NativeCtx, NativeFunc, POLL_STEP, WORK_PER_FUEL, conforms, is_type, value_type_name,
};
use crate::trap::{TRACE_HEAD, TRACE_TAIL, TraceFrame, Trap, TrapCode};
use crate::types::Type;
use crate::value::{Tag, Value};
use crate::verify::{Cmp, Const, Op, VerifiedModule};
use dynamic::Arith;
pub use edit::EditError;
pub use interrupt::InterruptHandle;

/// Execution counters of an instance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Instructions executed (a call counts one, whatever its callee's
    /// frame; the fuel charged for frame set-up and library work is not
    /// counted here). The same in every [`JitMode`].
    pub instructions: u64,
    /// Keel and native calls made.
    pub calls: u64,
    /// Loops compiled to machine code (the loops of the compiled
    /// functions).
    pub jit_loops: u64,
    /// Functions the JIT looked at and left to the interpreter (a snippet,
    /// too large, or past the code limit).
    pub jit_rejected: u64,
    /// Functions compiled to machine code.
    pub jit_functions: u64,
    /// Times a loop running in the interpreter was entered as machine code
    /// at its header (on-stack replacement).
    pub jit_osr_entries: u64,
    /// Time spent compiling, in nanoseconds.
    pub jit_compile_ns: u64,
    /// Bytes of machine code generated.
    pub jit_code_bytes: u64,
    /// Budget chunks spent: check points at which the run charged a chunk
    /// and looked at the fuel tank and the interrupt flag. About one per
    /// 65 536 instructions, whatever the fuel.
    pub chunks: u64,
}

/// The machine code the JIT made for one function (`vmrun dis --jit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JitListing {
    /// The address the code runs at.
    pub address: u64,
    /// The code.
    pub code: Vec<u8>,
    /// Where compiled code is entered: a name (`call`, `interpreter`, `osr
    /// at N`) and a byte offset in `code`.
    pub entries: Vec<(String, usize)>,
    /// The code of each op: its index in the module's specialized code
    /// (as `vmrun dis --verified` numbers them) and a byte range of `code`,
    /// in code order. What follows the last range is out-of-line code
    /// (trap and refuel stubs, the epilogue).
    pub ops: Vec<(usize, std::ops::Range<usize>)>,
    /// The 8-byte constants the code reads, placed right after `code`.
    pub constants: Vec<u64>,
}

/// Why a module could not be instantiated.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// An import the linker does not define.
    #[error("unknown function `{name}`: the host provides no function of this name")]
    MissingImport {
        /// The import's name.
        name: String,
    },
    /// An import whose signature differs from the linker's.
    #[error(
        "import `{name}` has signature {expected} in the module, but the host provides {found}"
    )]
    SignatureMismatch {
        /// The import's name.
        name: String,
        /// Signature in the module.
        expected: String,
        /// Signature in the linker.
        found: String,
    },
    /// [`Instance::replace_module`]: the new module drops or retypes a
    /// global of the current one.
    #[error("global `{name}: {ty}` must stay the same when the module is replaced")]
    GlobalChanged {
        /// The global's name in the current module.
        name: String,
        /// Its type.
        ty: String,
    },
    /// [`Instance::replace_module`]: the new module drops or changes a
    /// record type of the current one (values of it may exist).
    #[error("record `{name}` must stay the same when the module is replaced")]
    RecordChanged {
        /// The record's name in the current module.
        name: String,
    },
    /// [`Instance::replace_module`]: code took function references, and
    /// the new module changes the callee one may name.
    #[error(
        "function `{name}` must keep its place and signature when the module is replaced: \
         a function reference to it may be stored"
    )]
    CalleeChanged {
        /// The callee's name in the current module.
        name: String,
    },
    /// String constants did not fit under the heap limit.
    #[error("out of memory: heap limit of {0} bytes exceeded while loading constants")]
    OutOfMemory(usize),
}

/// Instructions the interpreter runs between looks at the interrupt flag
/// and the fuel tank (at most: the look happens at the next call or taken
/// backward jump after the chunk is spent).
const CHUNK: i64 = 1 << 16;

/// Where the interpreter goes on after a check point.
struct Resume {
    chunk: i64,
    budget: i64,
    pc: usize,
    sp: usize,
}

/// The frame record of a suspended caller: where to resume (an index into
/// the module-wide code) and its frame base, packed into a `nil` slot.
#[inline(always)]
fn frame_record(pc: usize, base: usize) -> Value {
    Value {
        tag: Tag::Nil,
        bits: ((pc as u64) << 32) | base as u64,
    }
}

/// Unpacks a [`frame_record`] into (resume pc, base).
#[inline(always)]
fn unpack_record(v: Value) -> (usize, usize) {
    ((v.bits >> 32) as usize, (v.bits & 0xffff_ffff) as usize)
}

/// A running module: its own heap, globals, stack and limits.
pub struct Instance {
    module: Arc<VerifiedModule>,
    imports: Arc<[NativeFunc]>,
    consts: Arc<[Value]>,
    local_defaults: Arc<[Vec<Value>]>,
    /// One shape per record type of the module, shared by its records.
    shapes: Arc<[Arc<Shape>]>,
    /// The heap's id of each shape, for allocating records.
    shape_ids: Vec<u32>,
    /// Whether any module this instance ran could take a function
    /// reference (`fn.ref`): then [`Instance::replace_module`] keeps every
    /// callee's index and signature.
    refs_taken: bool,
    pub(crate) heap: Heap,
    pub(crate) globals: Vec<Value>,
    pub(crate) strings: Vec<Value>,
    stack: Vec<Value>,
    config: Config,
    stats: ExecStats,
    /// Remaining fuel; `None` for unlimited.
    fuel: Option<u64>,
    /// Fuel charged through the budget counter for frame set-up
    /// ([`frame_fuel`]): the part of `stats.instructions` that is not
    /// instructions.
    pub(crate) frame_fuel: u64,
    interrupt: InterruptHandle,
    /// [`Instance::set_deadline`]: each top-level call's time limit.
    deadline: Option<std::time::Duration>,
    /// [`Instance::keep_pending_interrupt`].
    keep_pending_interrupt: bool,
    /// Call depth below the current run: nonzero while a host function
    /// called from Keel code calls back in, so the depth limit counts
    /// across both.
    pub(crate) depth_offset: usize,
    /// How many host calls back into the instance ([`NativeCtx::call`])
    /// are in progress, bounded by [`Config::max_host_depth`].
    pub(crate) host_depth: usize,
    /// Work (bytes compared or hashed) done by string compares and map
    /// lookups since the interrupt flag was last looked at.
    work_since_poll: u64,
    /// Where the operand stack ended when a snippet's `Halt` ran.
    halt_sp: usize,
    /// Compiled loops (boxed: the interpreter loop is sensitive to the
    /// layout of `Instance`).
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    jit: Box<crate::jit::Jit>,
    /// Calls left before each function is compiled, and taken back edges
    /// left before each loop header's function is (by op index); see
    /// `jit_glue`.
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    tier_calls: Vec<i32>,
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    tier_loops: Vec<i32>,
    /// Nonzero while compiled code runs a callee in the interpreter: no
    /// compiled code is entered meanwhile (see `jit_glue`).
    #[cfg(all(feature = "jit", target_arch = "x86_64"))]
    jit_suspended: u32,
    /// The host's per-instance state (see `api/caller.rs`).
    pub(crate) data: Box<dyn std::any::Any + Send>,
}

/// A new array holding the elements of `lit` (`strings`: the instance's
/// string constants, which `str` elements index).
pub(crate) fn new_array_lit(
    heap: &mut Heap,
    lit: &ArrayLit,
    strings: &[Value],
    roots: &[&[Value]],
) -> Result<Value, OutOfMemory> {
    let (elem, items): (Type, Vec<Value>) = match lit {
        ArrayLit::Int(v) => (Type::Int, v.iter().map(|x| Value::int(*x)).collect()),
        ArrayLit::Float(v) => (Type::Float, v.iter().map(|x| Value::float(*x)).collect()),
        ArrayLit::Bool(v) => (Type::Bool, v.iter().map(|b| Value::bool(*b)).collect()),
        ArrayLit::Str(v) => (
            Type::Str,
            v.iter()
                .map(|s| strings.get(*s as usize).copied().unwrap_or(Value::NIL))
                .collect(),
        ),
        ArrayLit::Empty(t) => (t.clone(), Vec::new()),
    };
    heap.new_array_from(&elem, &items, roots)
}

fn shape_of(r: &crate::module::RecordDef) -> Arc<Shape> {
    Arc::new(Shape::new(
        &r.name,
        r.fields.iter().map(|(n, t)| (n.as_str(), t)),
    ))
}

/// What `call.ref` does next.
enum RefCall {
    /// Enter module function `f` (its arguments are below the reference).
    Enter(u32),
    /// The call is done (an import ran, or it trapped): the new stack
    /// pointer or the trap.
    Done(Result<usize, Trap>),
}

/// The trap of `rec.get`/`rec.set` of `rec.field` on `nil`.
#[cold]
#[inline(never)]
fn nil_field(module: &VerifiedModule, rec: u16, field: u16) -> Trap {
    let def = &module.module().records[rec as usize];
    let name = def
        .fields
        .get(field as usize)
        .map_or("?", |(n, _)| n.as_str());
    Trap::nil_reference(format!("{}.{name}", def.name))
}

fn default_value(ty: &Type) -> Value {
    match ty {
        Type::Int => Value::int(0),
        Type::Float => Value::float(0.0),
        Type::Bool => Value::bool(false),
        _ => Value::NIL,
    }
}

impl Instance {
    /// Links `module` against `linker` and sets up its heap and globals.
    ///
    /// # Errors
    ///
    /// Every import the linker lacks or types differently, or running out
    /// of heap while creating string constants.
    pub fn new(
        module: Arc<VerifiedModule>,
        linker: &Linker,
        config: Config,
    ) -> Result<Instance, Vec<LinkError>> {
        let mut inst = Instance {
            imports: Arc::new([]),
            consts: Arc::new([]),
            local_defaults: Arc::new([]),
            shapes: Arc::new([]),
            shape_ids: Vec::new(),
            refs_taken: false,
            heap: Heap::with_ceiling(
                config.max_heap_bytes,
                config.max_heap_grant_bytes.unwrap_or(config.max_heap_bytes),
                config.gc_stress,
            ),
            globals: Vec::new(),
            strings: Vec::new(),
            stack: Vec::new(),
            fuel: config.fuel,
            frame_fuel: 0,
            config,
            stats: ExecStats::default(),
            interrupt: InterruptHandle::new(),
            deadline: None,
            keep_pending_interrupt: false,
            depth_offset: 0,
            host_depth: 0,
            work_since_poll: 0,
            halt_sp: 0,
            #[cfg(all(feature = "jit", target_arch = "x86_64"))]
            jit: Box::default(),
            #[cfg(all(feature = "jit", target_arch = "x86_64"))]
            tier_calls: Vec::new(),
            #[cfg(all(feature = "jit", target_arch = "x86_64"))]
            tier_loops: Vec::new(),
            #[cfg(all(feature = "jit", target_arch = "x86_64"))]
            jit_suspended: 0,
            data: Box::new(()),
            module: module.clone(),
        };
        inst.link(module, linker)?;
        Ok(inst)
    }

    /// Switches this instance to `module`, keeping its heap, fuel, counters
    /// and the values of its globals: the new module must declare the
    /// current module's globals first, in the same order and with the same
    /// types (it may add more, which start at their initializers). The REPL
    /// uses this to grow a session's module one definition at a time.
    ///
    /// # Errors
    ///
    /// A global changed or dropped, the linker lacking an import, or no
    /// heap left for the new module's string constants. On error the
    /// instance keeps its current module.
    pub fn replace_module(
        &mut self,
        module: Arc<VerifiedModule>,
        linker: &Linker,
    ) -> Result<(), Vec<LinkError>> {
        let old = self.module.module();
        let new = module.module();
        let changed: Vec<LinkError> = old
            .globals
            .iter()
            .enumerate()
            .filter(|(i, g)| new.globals.get(*i).is_none_or(|n| n.ty != g.ty))
            .map(|(_, g)| LinkError::GlobalChanged {
                name: g.name.clone(),
                ty: g.ty.to_string(),
            })
            .collect();
        let mut changed = changed;
        // Records are typed by name and read by field index: existing ones
        // must stay exactly as they are.
        for (i, r) in old.records.iter().enumerate() {
            if new.records.get(i) != Some(r) {
                changed.push(LinkError::RecordChanged {
                    name: r.name.clone(),
                });
            }
        }
        // A stored function reference is a callee index with the type it
        // had: once code took one, every callee keeps its index and type.
        if self.refs_taken {
            let callees = (old.funcs.len() + old.imports.len()) as u32;
            for i in 0..callees {
                if new.callee_type(i) != old.callee_type(i) {
                    changed.push(LinkError::CalleeChanged {
                        name: old.callee_name(i).unwrap_or("?").to_owned(),
                    });
                }
            }
        }
        if !changed.is_empty() {
            return Err(changed);
        }
        let saved = (
            self.imports.clone(),
            self.consts.clone(),
            self.local_defaults.clone(),
            std::mem::take(&mut self.strings),
            self.globals.len(),
            self.module.clone(),
        );
        self.strings = saved.3.clone();
        match self.link(module, linker) {
            Ok(()) => Ok(()),
            Err(e) => {
                let (imports, consts, local_defaults, strings, globals, module) = saved;
                self.imports = imports;
                self.consts = consts;
                self.local_defaults = local_defaults;
                self.strings = strings;
                self.globals.truncate(globals);
                self.module = module;
                #[cfg(all(feature = "jit", target_arch = "x86_64"))]
                {
                    self.jit.clear();
                    self.reset_tiers();
                }
                Err(e)
            }
        }
    }

    /// Links `module`: resolves its imports, creates its string constants
    /// and the globals beyond those the instance already has, and derives
    /// the interpreter's tables.
    fn link(&mut self, module: Arc<VerifiedModule>, linker: &Linker) -> Result<(), Vec<LinkError>> {
        let m = module.module();
        let mut errors = Vec::new();
        let mut imports = Vec::with_capacity(m.imports.len());
        for im in &m.imports {
            match linker.get(&im.name) {
                None => errors.push(LinkError::MissingImport {
                    name: im.name.clone(),
                }),
                Some(f) if f.ty != im.ty => errors.push(LinkError::SignatureMismatch {
                    name: im.name.clone(),
                    expected: im.ty.to_string(),
                    found: f.ty.to_string(),
                }),
                Some(f) => imports.push(f.clone()),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let oom = |OutOfMemory| vec![LinkError::OutOfMemory(self.config.max_heap_bytes)];
        let heap = &mut self.heap;
        // The current string constants stay rooted until the new ones exist
        // (a REPL may still hold values that are old constants).
        let old_strings = std::mem::take(&mut self.strings);
        let mut strings = Vec::with_capacity(m.strings.len());
        for s in &m.strings {
            let v = heap
                .new_str(s, &[&strings, &old_strings, &self.globals])
                .map_err(oom)?;
            strings.push(v);
        }
        let globals = &mut self.globals;
        for g in &m.globals[globals.len().min(m.globals.len())..] {
            let v = match (&g.init, &g.ty) {
                (GlobalInit::Int(v), _) => Value::int(*v),
                (GlobalInit::Float(v), _) => Value::float(*v),
                (GlobalInit::Bool(v), _) => Value::bool(*v),
                (GlobalInit::Str(i), _) => strings[*i as usize],
                (GlobalInit::Nil, _) => Value::NIL,
                (GlobalInit::Array(lit), _) => {
                    new_array_lit(heap, lit, &strings, &[&strings, &old_strings, globals])
                        .map_err(oom)?
                }
                (GlobalInit::Default, ty) => {
                    match new_empty_object(heap, ty, &[&strings, &old_strings, globals]) {
                        Some(v) => v.map_err(oom)?,
                        None => default_value(ty),
                    }
                }
            };
            globals.push(v);
        }
        self.consts = module
            .consts()
            .iter()
            .map(|c| match c {
                Const::Int(i) => Value::int(*i),
                Const::Float(f) => Value::float(*f),
            })
            .collect();
        self.local_defaults = module
            .funcs()
            .iter()
            .map(|f| {
                f.local_types[f.num_params as usize..]
                    .iter()
                    .map(default_value)
                    .collect()
            })
            .collect();
        self.imports = imports.into();
        self.strings = strings;
        self.refs_taken |= module.code().iter().any(|op| matches!(op, Op::FnRef(_)));
        self.module = module;
        self.install_names();
        // Compiled code names op indices of the old module.
        #[cfg(all(feature = "jit", target_arch = "x86_64"))]
        {
            self.jit.clear();
            self.reset_tiers();
        }
        Ok(())
    }

    /// Derives the record shapes and the callee names (for displaying
    /// function references) from the current module.
    pub(crate) fn install_names(&mut self) {
        let m = self.module.module();
        self.shapes = m.records.iter().map(shape_of).collect();
        self.shape_ids = self.shapes.iter().map(|s| self.heap.shape_id(s)).collect();
        self.heap.callee_names = m
            .funcs
            .iter()
            .map(|f| f.name.as_str())
            .chain(m.imports.iter().map(|im| im.name.as_str()))
            .map(Box::from)
            .collect();
    }

    pub(crate) fn shape_count(&self) -> usize {
        self.shapes.len()
    }

    /// Adds shapes for records appended to the module.
    pub(crate) fn append_shapes(&mut self) {
        let m = self.module.module();
        let mut all = self.shapes.to_vec();
        all.extend(m.records[all.len()..].iter().map(shape_of));
        self.shapes = all.into();
        self.shape_ids = self.shapes.iter().map(|s| self.heap.shape_id(s)).collect();
    }

    /// Collects everything (the roots between calls: globals and string
    /// constants) and runs the heap verifier, panicking on any
    /// inconsistency (for tests).
    #[cfg(test)]
    pub(crate) fn check_heap(&mut self) {
        self.heap.collect(&[&self.globals, &self.strings]);
        if let Err(e) = self.heap.verify_heap(&[&self.globals, &self.strings]) {
            panic!("heap verifier: {e}");
        }
    }

    /// The heap's id of record type `index`'s shape.
    pub(crate) fn shape_id(&self, index: usize) -> u32 {
        self.shape_ids[index]
    }

    /// The module this instance runs.
    pub fn module(&self) -> &Arc<VerifiedModule> {
        &self.module
    }

    /// The machine code of function `func`, compiling it first; `None`
    /// when there is no JIT (other targets, or the `jit` feature off) or
    /// the function does not compile (a snippet, or too large).
    pub fn jit_listing(&mut self, func: usize) -> Option<JitListing> {
        #[cfg(all(feature = "jit", target_arch = "x86_64"))]
        {
            let module = self.module.clone();
            if !self.jit.compile(&module, func, &self.imports.clone()) {
                return None;
            }
            self.jit.listing(func)
        }
        #[cfg(not(all(feature = "jit", target_arch = "x86_64")))]
        {
            let _ = func;
            None
        }
    }

    /// Execution counters so far.
    pub fn stats(&self) -> ExecStats {
        #[cfg_attr(not(all(feature = "jit", target_arch = "x86_64")), allow(unused_mut))]
        let mut st = self.stats;
        st.instructions = st.instructions.saturating_sub(self.frame_fuel);
        #[cfg(all(feature = "jit", target_arch = "x86_64"))]
        {
            let j = self.jit.stats;
            st.jit_loops = j.loops;
            st.jit_rejected = j.rejected;
            st.jit_functions = j.functions;
            st.jit_osr_entries = j.osr_entries;
            st.jit_compile_ns = j.compile_ns;
            st.jit_code_bytes = j.code_bytes;
        }
        st
    }

    pub(crate) fn config_max_depth(&self) -> usize {
        self.config.max_call_depth
    }

    pub(crate) fn config_max_val_bytes(&self) -> usize {
        self.config.max_val_bytes
    }

    pub(crate) fn config_max_host_depth(&self) -> usize {
        self.config.max_host_depth
    }

    /// Remaining fuel (`None`: unlimited).
    pub fn fuel(&self) -> Option<u64> {
        self.fuel
    }

    /// Sets the remaining fuel (`None`: unlimited).
    pub fn set_fuel(&mut self, fuel: Option<u64>) {
        self.fuel = fuel;
    }

    /// Adds fuel (no effect when fuel is unlimited).
    pub fn add_fuel(&mut self, more: u64) {
        if let Some(f) = &mut self.fuel {
            *f = f.saturating_add(more);
        }
    }

    /// A handle that interrupts this instance's runs from any thread.
    pub fn interrupt_handle(&self) -> InterruptHandle {
        self.interrupt.clone()
    }

    /// Lets the host grow or refuse the heap at run time, as wasmtime's
    /// `ResourceLimiter` does: when an allocation or a value-stack growth
    /// would pass the heap limit even after a collection, `limiter` is
    /// called with `(current, desired)`: the limit in bytes now and the one
    /// the heap asks for (the larger of what the request needs and twice
    /// the current limit, at most [`Config::max_heap_grant_bytes`]).
    /// Returning `true` raises the limit to `desired` (the request then
    /// goes on, asking again if it still does not fit); `false` keeps it,
    /// and the request fails with the usual `out of memory: heap limit of
    /// N bytes exceeded` trap. A request that could not fit even at the
    /// ceiling fails without asking. A raised limit stays raised (it is
    /// the new [`Instance::heap_limit`]); nothing lowers it.
    ///
    /// The limiter runs on the thread running the instance, between
    /// allocations (the heap is consistent), and sees only the two numbers:
    /// it cannot reach the instance, so it is never called re-entrantly.
    /// It should be quick; a panic in it unwinds out of the call like a
    /// panic in the VM. Replaces an earlier limiter.
    pub fn set_heap_limiter(&mut self, limiter: impl FnMut(usize, usize) -> bool + Send + 'static) {
        self.heap
            .set_limiter(Some(crate::heap::HeapLimiter(Box::new(limiter))));
    }

    /// Removes the limiter of [`Instance::set_heap_limiter`]: the heap
    /// limit stays where it is.
    pub fn clear_heap_limiter(&mut self) {
        self.heap.set_limiter(None);
    }

    /// The heap limit in bytes: [`Config::max_heap_bytes`], or what a heap
    /// limiter raised it to.
    pub fn heap_limit(&self) -> usize {
        self.heap.limit()
    }

    /// Gives every following top-level call from the host (`call`,
    /// `call_index`, typed handles, `call_ref`, `run_snippet` ...) its own
    /// time limit of `limit`, measured from that call's start: a call still
    /// running then stops with an `interrupted` trap whose message is
    /// `interrupted: deadline of D exceeded` (`D` as `Duration` debug-prints:
    /// `50ms`, `1.5s`). It is looked at where interrupts are, so a call
    /// stops well under a millisecond after its deadline, compiled code
    /// included. Calls back in from host functions ([`NativeCtx::call`])
    /// run under the deadline of the call they are part of. Replaces any
    /// earlier deadline; [`Instance::clear_deadline`] removes it.
    pub fn set_deadline(&mut self, limit: std::time::Duration) {
        self.deadline = Some(limit);
    }

    /// Removes the deadline of [`Instance::set_deadline`]: following calls
    /// have no time limit (the default).
    pub fn clear_deadline(&mut self) {
        self.deadline = None;
    }

    /// The time limit each top-level call gets ([`Instance::set_deadline`]).
    pub fn deadline(&self) -> Option<std::time::Duration> {
        self.deadline
    }

    /// Whether an interrupt raised while no call runs stays pending until
    /// the next call, and stops it (`true`), or is withdrawn when the next
    /// top-level call starts (`false`, the default: an interrupt raised
    /// after a call ended, by a watchdog that fired late, say, must not
    /// stop a later, unrelated call). A host that interrupts on purpose
    /// before a call ("cancel whatever runs next") sets it to `true`.
    pub fn keep_pending_interrupt(&mut self, keep: bool) {
        self.keep_pending_interrupt = keep;
    }

    /// Starts a top-level call from the host: withdraws an interrupt raised
    /// since the last one (unless kept) and arms this call's deadline.
    /// Host functions calling back in do not come here.
    fn start_call(&mut self) {
        if self.host_depth > 0 {
            return;
        }
        if !self.keep_pending_interrupt {
            self.interrupt.clear();
        }
        // The clock is read, and the deadline's lock taken, only when the
        // host set a deadline: a call without one costs an atomic load.
        match self.deadline {
            Some(d) => {
                let at = std::time::Instant::now().checked_add(d);
                self.interrupt.arm(at.map(|at| (at, d)));
            }
            None if self.interrupt.armed() => self.interrupt.arm(None),
            None => {}
        }
    }

    /// Ends a top-level call: its deadline no longer applies.
    fn end_call(&mut self) {
        if self.host_depth == 0 && self.deadline.is_some() {
            self.interrupt.arm(None);
        }
    }

    /// The next budget chunk: up to [`CHUNK`] instructions of the remaining
    /// fuel.
    fn next_chunk(&mut self) -> i64 {
        #[cfg(all(feature = "jit", target_arch = "x86_64"))]
        let chunk = if self.config.jit == JitMode::Eager {
            self.jit.eager_chunk()
        } else {
            CHUNK
        };
        #[cfg(not(all(feature = "jit", target_arch = "x86_64")))]
        let chunk = CHUNK;
        // Clamp in u64: fuel above i64::MAX must not wrap to a negative
        // (empty) chunk.
        self.fuel.map_or(chunk, |f| {
            i64::try_from(f.min(chunk.max(0) as u64)).unwrap_or(0)
        })
    }

    /// Charges a spent chunk (`chunk - budget` instructions) to the fuel
    /// tank and the counters.
    fn charge_chunk(&mut self, chunk: i64, budget: i64) {
        let used = u64::try_from(chunk.saturating_sub(budget)).unwrap_or(0);
        self.stats.instructions = self.stats.instructions.saturating_add(used);
        if let Some(f) = &mut self.fuel {
            *f = f.saturating_sub(used);
        }
    }

    /// Before an op whose work is charged to the fuel tank: with a fuel
    /// limit, charges the chunk so far so the tank is exact during the op.
    /// Returns whether it did (the run loop's metered ops do the same
    /// inline, keeping its counters in registers).
    fn settle_chunk(&mut self, chunk: &mut i64, budget: i64) -> bool {
        let metered = self.fuel.is_some();
        if metered {
            self.charge_chunk(*chunk, budget);
            *chunk = budget;
        }
        metered
    }

    /// After such an op: shrinks what is left of the chunk to what the
    /// tank still holds.
    fn trim_chunk(&self, metered: bool, chunk: &mut i64, budget: &mut i64) {
        if let (true, Some(f)) = (metered, self.fuel) {
            let f = i64::try_from(f).unwrap_or(i64::MAX);
            if *budget > f {
                *budget = f;
                *chunk = f;
            }
        }
    }

    /// Called when the budget chunk runs out at a check point: charges the
    /// spent chunk, looks at the interrupt flag and the fuel tank, and
    /// returns the next chunk. (By value: taking the loop's counters by
    /// reference would force them out of registers.)
    #[cold]
    #[inline(never)]
    fn refuel(&mut self, chunk: i64, budget: i64) -> Result<i64, Trap> {
        self.charge_chunk(chunk, budget);
        self.stats.chunks = self.stats.chunks.saturating_add(1);
        self.take_interrupt()?;
        if self.fuel == Some(0) {
            return Err(Trap::new(TrapCode::OutOfFuel, "out of fuel"));
        }
        Ok(self.next_chunk())
    }

    /// The `interrupted` trap if the interrupt flag is raised (lowering
    /// it: one interrupt stops one run).
    fn take_interrupt(&mut self) -> Result<(), Trap> {
        match self.interrupt.take() {
            Some(trap) => Err(trap),
            None => Ok(()),
        }
    }

    /// Work done by a native function (bytes of display form written,
    /// say): looks at the interrupt flag, then takes `units` from the fuel
    /// tank, or empties it and fails with `out of fuel` when it holds less.
    /// The interpreter settles its current chunk before every native call,
    /// so the tank is exact here and the run stops at the same point in
    /// every JIT mode.
    pub(crate) fn charge_native_work(&mut self, units: u64) -> Result<(), Trap> {
        self.take_interrupt()?;
        if let Some(f) = &mut self.fuel {
            if *f < units {
                *f = 0;
                return Err(Trap::new(TrapCode::OutOfFuel, "out of fuel"));
            }
            *f -= units;
        }
        Ok(())
    }

    /// Work proportional to a string an instruction compares or hashes
    /// (`eq`/`lt`... on strings, map lookups by a string key): `bytes`
    /// cost fuel at the library rate ([`WORK_PER_FUEL`]), and the interrupt
    /// flag is looked at once such work adds up to [`POLL_STEP`] bytes, so
    /// a loop comparing huge strings stops at its fuel or an interrupt
    /// like any loop, while short strings pay nothing but an addition.
    fn charge_op_work(&mut self, bytes: usize) -> Result<(), Trap> {
        let bytes = bytes as u64;
        self.work_since_poll = self.work_since_poll.saturating_add(bytes);
        if self.work_since_poll >= POLL_STEP as u64 {
            self.work_since_poll = 0;
            self.take_interrupt()?;
        }
        let units = bytes / WORK_PER_FUEL;
        if let (Some(f), true) = (&mut self.fuel, units > 0) {
            if *f < units {
                *f = 0;
                return Err(Trap::new(TrapCode::OutOfFuel, "out of fuel"));
            }
            *f -= units;
        }
        Ok(())
    }

    /// Bytes of string the compare or map op `op` will look at: the
    /// shorter operand of a string compare, a map op's string key.
    fn op_work(&self, op: Op, stack: &[Value], sp: usize) -> usize {
        let str_len = |v: Value| {
            if v.tag() == Tag::Str {
                self.heap.str(v).len()
            } else {
                0
            }
        };
        match op {
            Op::EqStr
            | Op::NeStr
            | Op::LtStr
            | Op::LeStr
            | Op::GtStr
            | Op::GeStr
            | Op::EqAny
            | Op::NeAny
            | Op::LtAny
            | Op::LeAny
            | Op::GtAny
            | Op::GeAny => str_len(stack[sp - 2]).min(str_len(stack[sp - 1])),
            Op::MapGet | Op::MapHas | Op::MapDel => str_len(stack[sp - 1]),
            Op::MapGetOr => str_len(stack[sp - 2]),
            Op::MapSet => str_len(stack[sp - 2]),
            _ => 0,
        }
    }

    /// Heap counters so far.
    pub fn gc_stats(&self) -> crate::heap::GcStats {
        self.heap.stats()
    }

    /// Creates a string value (for arguments to `main`, say). The value is
    /// only guaranteed to stay alive until the next call into the instance.
    ///
    /// # Errors
    ///
    /// Out of memory.
    pub fn new_str_array(&mut self, items: &[String]) -> Result<Value, Trap> {
        let mut no_stack = Vec::new();
        let mut ctx = NativeCtx {
            inst: self,
            stack: &mut no_stack,
            sp: 0,
            depth: 0,
        };
        let mut vals = Vec::with_capacity(items.len());
        for s in items {
            vals.push(ctx.new_str(s.as_str())?);
        }
        let arr = ctx.new_array(Type::Str, vals);
        self.heap.scratch.clear();
        arr
    }

    /// Displays a value of this instance as `print` would. Values that
    /// share children can have display forms exponentially larger than the
    /// heap, so the text is cut after [`Config::max_heap_bytes`] bytes, and
    /// then ends in `...`.
    pub fn display(&self, v: Value) -> String {
        self.bounded(v, false, self.config.max_heap_bytes)
    }

    /// The display form of a value as it appears inside a container
    /// (strings quoted): `"hi"`, `[1, 2]`. Cut like [`Instance::display`].
    pub fn repr(&self, v: Value) -> String {
        self.bounded(v, true, self.config.max_heap_bytes)
    }

    /// The first `max_bytes` bytes or so of [`Instance::repr`] (a few more
    /// to end on a char boundary), and whether the form was cut there
    /// (nothing is appended: the caller marks the cut). Costs time and
    /// memory in proportion to `max_bytes`, whatever the value.
    pub fn repr_prefix(&self, v: Value, max_bytes: usize) -> (String, bool) {
        crate::display::display_prefix(&self.heap, v, true, max_bytes)
    }

    fn bounded(&self, v: Value, nested: bool, max_bytes: usize) -> String {
        let (mut s, cut) = crate::display::display_prefix(&self.heap, v, nested, max_bytes);
        if cut {
            s.push_str("...");
        }
        s
    }

    /// Calls function `func` (an index into the module's functions) with
    /// `args`, which must match its parameters.
    ///
    /// # Errors
    ///
    /// A [`Trap`] with a backtrace when the code traps, or an
    /// invalid-argument trap when `args` do not fit the signature.
    pub fn call_index(&mut self, func: usize, args: &[Value]) -> Result<Option<Value>, Trap> {
        let module = self.module.clone();
        if func >= module.funcs().len() {
            return Err(Trap::invalid(format!("no function with index {func}")));
        }
        let sig = &module.module().funcs[func].ty;
        if args.len() != sig.params.len()
            || args
                .iter()
                .zip(&sig.params)
                .any(|(a, t)| !conforms(&self.heap, self.module.module(), *a, t))
        {
            return Err(Trap::invalid(format!(
                "function `{}` expects arguments {}",
                module.module().funcs[func].name,
                sig
            )));
        }
        self.call_conforming(&module, func, args)
    }

    /// [`Instance::call_index`] once the arguments are known to conform to
    /// `func`'s parameter types: a typed handle checked its Rust types
    /// once, and wrote each argument for its parameter's type.
    pub(crate) fn call_conforming(
        &mut self,
        module: &Arc<VerifiedModule>,
        func: usize,
        args: &[Value],
    ) -> Result<Option<Value>, Trap> {
        debug_assert!(
            args.len() == module.module().funcs[func].ty.params.len()
                && args
                    .iter()
                    .zip(&module.module().funcs[func].ty.params)
                    .all(|(a, t)| conforms(&self.heap, module.module(), *a, t))
        );
        let mut stack = std::mem::take(&mut self.stack);
        self.start_call();
        let result = self.call_at(module, &mut stack, 0, func, args);
        self.end_call();
        self.stack = stack;
        self.heap.scratch.clear();
        result
    }

    /// Runs `func` with `args` in a new frame at `base` of `stack` (0 for
    /// a call from the host, the caller's stack pointer for a host function
    /// calling back in).
    pub(crate) fn call_at(
        &mut self,
        module: &Arc<VerifiedModule>,
        stack: &mut Vec<Value>,
        base: usize,
        func: usize,
        args: &[Value],
    ) -> Result<Option<Value>, Trap> {
        if module.snippet().is_some_and(|s| s.func == func) {
            return Err(Trap::invalid(
                "a snippet function runs only through Instance::run_snippet",
            ));
        }
        let f = &module.funcs()[func];
        let need = base + f.num_locals as usize + 1 + f.max_stack as usize;
        if stack.len() < need {
            let roots = [&self.globals[..], &self.strings[..], args];
            grow_stack(stack, need, base, &mut self.heap, roots, &self.config)?;
        }
        // The entry frame's set-up, charged as a call's is (the tank is
        // exact here: a host function calling back in has settled its
        // caller's chunk); the run stops at its first check point when this
        // empties the tank.
        if let Some(fuel) = &mut self.fuel {
            *fuel = fuel.saturating_sub(frame_fuel(f) as u64);
        }
        stack[base..base + args.len()].copy_from_slice(args);
        let defaults = &self.local_defaults[func];
        stack[base + args.len()..base + args.len() + defaults.len()].copy_from_slice(defaults);
        // The entry frame's record slot is never read, but it is below the
        // stack pointer: clear it so a value left there by an earlier call
        // is not kept alive as a root.
        stack[base + f.num_locals as usize] = Value::NIL;
        if self.config.checked {
            self.run::<true>(module, stack, func as u32, base, 0)
        } else {
            self.run::<false>(module, stack, func as u32, base, 0)
        }
    }

    /// Runs the snippet function of a module from
    /// [`crate::verify_snippet`] with `operands` (bottom first, of the
    /// snippet's entry types) on its operand stack, and returns the operand
    /// stack it ends with.
    ///
    /// A run that traps changes no global: their values are restored to
    /// what they were before the run (changes made inside heap objects,
    /// such as an `array.set`, stay). While the snippet runs, the saved
    /// globals and `operands` sit below its frame on the value stack, so
    /// they stay alive whatever the snippet pops.
    ///
    /// # Errors
    ///
    /// The snippet's trap, or an invalid-argument trap when the module has
    /// no snippet or `operands` do not fit its entry types.
    pub fn run_snippet(&mut self, operands: &[Value]) -> Result<Vec<Value>, Trap> {
        let module = self.module.clone();
        let Some(snippet) = module.snippet() else {
            return Err(Trap::invalid("the module has no snippet function"));
        };
        if operands.len() != snippet.entry.len()
            || operands
                .iter()
                .zip(&snippet.entry)
                .any(|(v, t)| !conforms(&self.heap, self.module.module(), *v, t))
        {
            return Err(Trap::invalid(
                "the operands do not fit the snippet's entry stack",
            ));
        }
        let func = snippet.func;
        let f = &module.funcs()[func];
        let nglobals = self.globals.len();
        let base = nglobals + operands.len();
        let locals = f.num_locals as usize;
        let need = base + locals + 1 + f.max_stack as usize;
        let mut stack = std::mem::take(&mut self.stack);
        if stack.len() < need {
            let roots = [&self.globals[..], &self.strings[..], operands];
            if let Err(t) = grow_stack(&mut stack, need, 0, &mut self.heap, roots, &self.config) {
                self.stack = stack;
                return Err(t);
            }
        }
        stack[..nglobals].copy_from_slice(&self.globals);
        stack[nglobals..base].copy_from_slice(operands);
        stack[base..base + locals].copy_from_slice(&self.local_defaults[func]);
        stack[base + locals] = Value::NIL;
        let first_operand = base + locals + 1;
        stack[first_operand..first_operand + operands.len()].copy_from_slice(operands);
        self.start_call();
        let result = if self.config.checked {
            self.run::<true>(&module, &mut stack, func as u32, base, operands.len())
        } else {
            self.run::<false>(&module, &mut stack, func as u32, base, operands.len())
        };
        self.end_call();
        let result = match result {
            Ok(_) => Ok(stack[first_operand..self.halt_sp].to_vec()),
            Err(trap) => {
                self.globals.copy_from_slice(&stack[..nglobals]);
                Err(trap)
            }
        };
        self.stack = stack;
        self.heap.scratch.clear();
        result
    }

    /// Collects garbage now. Roots: globals, string constants and the
    /// values host handles hold.
    pub fn collect_garbage(&mut self) {
        self.heap.collect(&[&self.globals, &self.strings]);
    }

    /// The interpreter loop. Runs `func` whose frame is already set up at
    /// `entry_base` of `stack`, until it returns.
    fn run<const CHECKED: bool>(
        &mut self,
        module: &VerifiedModule,
        stack: &mut Vec<Value>,
        func: u32,
        entry_base: usize,
        entry_operands: usize,
    ) -> Result<Option<Value>, Trap> {
        let funcs = module.funcs();
        let imports = self.imports.clone();
        let consts = self.consts.clone();
        let local_defaults = self.local_defaults.clone();
        let max_depth = self.config.max_call_depth;
        let mut depth = 0usize;
        let code: &[Op] = module.code();
        let mut base = entry_base;
        // The entry frame's record slot stays unused: returning at depth 0
        // ends the run.
        let mut sp = base + funcs[func as usize].num_locals as usize + 1 + entry_operands;
        let mut pc = funcs[func as usize].start as usize;
        // Counts down one per instruction through a chunk of at most CHUNK
        // instructions; once it is spent (zero or below), the next check
        // point (a call or taken backward jump) charges the chunk to the
        // fuel tank, looks at the interrupt flag and starts the next chunk.
        // A chunk never exceeds the fuel left, so the run stops at the
        // first check point at which it has used all its fuel, however the
        // chunks fall (the eager JIT's empty chunks included). One counter
        // serves fuel, interrupts and `--stats`, so the loop pays a single
        // decrement and compare for all three.
        let mut chunk: i64 = self.next_chunk();
        let mut budget: i64 = chunk;
        let mut calls: u64 = 0;

        macro_rules! binop {
            ($f:expr) => {{
                sp -= 1;
                let b = stack[sp];
                let a = stack[sp - 1];
                stack[sp - 1] = $f(a, b);
            }};
        }
        // What compiled code came to: a return from the function whose
        // frame is at `base` (its record at `base + $rec`), or a trap.
        #[cfg(all(feature = "jit", target_arch = "x86_64"))]
        macro_rules! jit_ran {
            ($run:lifetime, $outcome:expr, $rec:expr) => {{
                match $outcome {
                    jit_glue::JitRun::NotRun => {}
                    jit_glue::JitRun::Returned(v) => ret!($run, $rec, v),
                    jit_glue::JitRun::Trapped(t, at, at_base, at_depth) => {
                        pc = at;
                        base = at_base;
                        depth = at_depth;
                        break $run Err(t);
                    }
                }
            }};
        }
        // Enters function `f` whose arguments are on top of the stack;
        // `pc` must already point at the instruction to resume at.
        macro_rules! enter {
            ($run:lifetime, $f:expr) => {{
                let callee: u32 = $f;
                let cost = frame_fuel(&funcs[callee as usize]);
                if cost > 0 {
                    budget -= cost;
                    self.frame_fuel += cost as u64;
                }
                check_fuel!($run);
                let roots = [&self.globals[..], &self.strings[..], &[][..]];
                match enter(depth + self.depth_offset, stack, funcs, &local_defaults, max_depth, callee, sp, pc, base, &mut self.heap, roots, &self.config) {
                    Ok((new_base, new_sp, new_pc)) => {
                        calls += 1;
                        depth += 1;
                        base = new_base;
                        sp = new_sp;
                        pc = new_pc;
                    }
                    Err(t) => break $run Err(t),
                }
                #[cfg(all(feature = "jit", target_arch = "x86_64"))]
                if self.hot_call(callee) {
                    let run = self.jit_enter(module, stack, callee as usize, base, depth, None, &mut chunk, &mut budget);
                    jit_ran!($run, run, funcs[callee as usize].num_locals);
                }
            }};
        }
        // At calls and backward jumps (every loop and every recursion passes
        // one): when the chunk is spent, refuel or stop the run.
        macro_rules! check_fuel {
            ($run:lifetime) => {
                if budget <= 0 {
                    match self.refuel(chunk, budget) {
                        Ok(next) => {
                            chunk = next;
                            budget = next;
                        }
                        Err(t) => {
                            // Already charged: nothing left to count.
                            chunk = 0;
                            budget = 0;
                            break $run Err(t);
                        }
                    }
                }
            };
        }

        // A taken branch to `$target` that checks the budget (every
        // backward jump, and every fused compare-and-branch): when the
        // chunk is spent, refuel or stop; a hot loop goes on compiled.
        macro_rules! take_branch {
            ($run:lifetime, $target:expr) => {{
                let target: usize = $target;
                #[cfg(all(feature = "jit", target_arch = "x86_64"))]
                let branch_at = pc - 1;
                if budget <= 0 {
                    match self.check_point(module, stack, base, sp, pc - 1, target, chunk, budget) {
                        Ok(next) => {
                            chunk = next.chunk;
                            budget = next.budget;
                            pc = next.pc;
                            sp = next.sp;
                        }
                        Err((t, at)) => {
                            // Already charged: nothing left to count.
                            chunk = 0;
                            budget = 0;
                            pc = at;
                            break $run Err(t);
                        }
                    }
                } else {
                    pc = target;
                }
                // A hot loop of a function running here goes on as
                // machine code from its header.
                #[cfg(all(feature = "jit", target_arch = "x86_64"))]
                if target <= branch_at && self.hot_loop(target) {
                    let f = module.func_at(target);
                    let run = self.jit_enter(module, stack, f, base, depth, Some(target), &mut chunk, &mut budget);
                    jit_ran!($run, run, funcs[f].num_locals);
                }
            }};
        }

        // Returns `$result` to the caller whose record is at `base + $rec`,
        // or ends the run at depth 0.
        macro_rules! ret {
            ($run:lifetime, $rec:expr, $result:expr) => {{
                let result: Option<Value> = $result;
                if depth == 0 {
                    break $run Ok(result);
                }
                let (resume, caller_base) = unpack_record(stack[base + $rec as usize]);
                sp = base;
                if let Some(v) = result {
                    stack[sp] = v;
                    sp += 1;
                }
                depth -= 1;
                pc = resume;
                base = caller_base;
            }};
        }

        // A hot function called from the host runs compiled from its start.
        #[cfg(all(feature = "jit", target_arch = "x86_64"))]
        let early = if self.hot_call(func) {
            match self.jit_enter(
                module,
                stack,
                func as usize,
                base,
                0,
                None,
                &mut chunk,
                &mut budget,
            ) {
                jit_glue::JitRun::NotRun => None,
                jit_glue::JitRun::Returned(v) => Some(Ok(v)),
                jit_glue::JitRun::Trapped(t, at, at_base, at_depth) => {
                    pc = at;
                    base = at_base;
                    depth = at_depth;
                    Some(Err(t))
                }
            }
        } else {
            None
        };
        #[cfg(not(all(feature = "jit", target_arch = "x86_64")))]
        let early: Option<Result<Option<Value>, Trap>> = None;
        let outcome: Result<Option<Value>, Trap> = if let Some(early) = early {
            early
        } else {
            'run: loop {
                if CHECKED {
                    self.check_state(module, stack, pc, sp, base);
                }
                let op = code[pc];
                pc += 1;
                budget -= 1;
                match op {
                    Op::Nop => {}
                    Op::PushSmallInt(v) => {
                        stack[sp] = Value::int(i64::from(v));
                        sp += 1;
                    }
                    Op::PushConst(i) => {
                        stack[sp] = consts[i as usize];
                        sp += 1;
                    }
                    Op::PushStr(i) => {
                        stack[sp] = self.strings[i as usize];
                        sp += 1;
                    }
                    Op::PushBool(b) => {
                        stack[sp] = Value::bool(b);
                        sp += 1;
                    }
                    Op::PushNil => {
                        stack[sp] = Value::NIL;
                        sp += 1;
                    }
                    Op::Pop => sp -= 1,
                    Op::Dup => {
                        stack[sp] = stack[sp - 1];
                        sp += 1;
                    }
                    Op::Swap => stack.swap(sp - 1, sp - 2),
                    Op::Over => {
                        stack[sp] = stack[sp - 2];
                        sp += 1;
                    }
                    Op::Load(l) => {
                        stack[sp] = stack[base + l as usize];
                        sp += 1;
                    }
                    Op::Store(l) => {
                        sp -= 1;
                        stack[base + l as usize] = stack[sp];
                    }
                    Op::GLoad(g) => {
                        stack[sp] = self.globals[g as usize];
                        sp += 1;
                    }
                    Op::GStore(g) => {
                        sp -= 1;
                        self.globals[g as usize] = stack[sp];
                    }
                    Op::AddInt => {
                        binop!(|a: Value, b: Value| Value::int(a.i().wrapping_add(b.i())))
                    }
                    Op::SubInt => {
                        binop!(|a: Value, b: Value| Value::int(a.i().wrapping_sub(b.i())))
                    }
                    Op::MulInt => {
                        binop!(|a: Value, b: Value| Value::int(a.i().wrapping_mul(b.i())))
                    }
                    Op::DivInt | Op::RemInt => {
                        let (a, b) = (stack[sp - 2].i(), stack[sp - 1].i());
                        let arith = if matches!(op, Op::DivInt) {
                            Arith::Div
                        } else {
                            Arith::Rem
                        };
                        match dynamic::int_arith(arith, a, b) {
                            Ok(r) => {
                                sp -= 1;
                                stack[sp - 1] = Value::int(r);
                            }
                            Err(t) => break 'run Err(t),
                        }
                    }
                    Op::AddFloat => binop!(|a: Value, b: Value| Value::float(a.f() + b.f())),
                    Op::SubFloat => binop!(|a: Value, b: Value| Value::float(a.f() - b.f())),
                    Op::MulFloat => binop!(|a: Value, b: Value| Value::float(a.f() * b.f())),
                    Op::DivFloat => binop!(|a: Value, b: Value| Value::float(a.f() / b.f())),
                    Op::RemFloat => binop!(|a: Value, b: Value| Value::float(a.f() % b.f())),
                    Op::NegInt => stack[sp - 1] = Value::int(stack[sp - 1].i().wrapping_neg()),
                    Op::NegFloat => stack[sp - 1] = Value::float(-stack[sp - 1].f()),
                    Op::AndBool => binop!(|a: Value, b: Value| Value::bool(a.b() & b.b())),
                    Op::AndInt => binop!(|a: Value, b: Value| Value::int(a.i() & b.i())),
                    Op::OrBool => binop!(|a: Value, b: Value| Value::bool(a.b() | b.b())),
                    Op::OrInt => binop!(|a: Value, b: Value| Value::int(a.i() | b.i())),
                    Op::XorBool => binop!(|a: Value, b: Value| Value::bool(a.b() ^ b.b())),
                    Op::XorInt => binop!(|a: Value, b: Value| Value::int(a.i() ^ b.i())),
                    Op::NotBool => stack[sp - 1] = Value::bool(!stack[sp - 1].b()),
                    Op::NotInt => stack[sp - 1] = Value::int(!stack[sp - 1].i()),
                    Op::Shl => {
                        binop!(|a: Value, b: Value| Value::int(
                            a.i().wrapping_shl((b.i() & 63) as u32)
                        ))
                    }
                    Op::Shr => {
                        binop!(|a: Value, b: Value| Value::int(
                            a.i().wrapping_shr((b.i() & 63) as u32)
                        ))
                    }
                    Op::EqBits => binop!(|a: Value, b: Value| Value::bool(a.bits == b.bits)),
                    Op::NeBits => binop!(|a: Value, b: Value| Value::bool(a.bits != b.bits)),
                    Op::EqFloat => binop!(|a: Value, b: Value| Value::bool(a.f() == b.f())),
                    Op::NeFloat => binop!(|a: Value, b: Value| Value::bool(a.f() != b.f())),
                    Op::LtInt => binop!(|a: Value, b: Value| Value::bool(a.i() < b.i())),
                    Op::LeInt => binop!(|a: Value, b: Value| Value::bool(a.i() <= b.i())),
                    Op::GtInt => binop!(|a: Value, b: Value| Value::bool(a.i() > b.i())),
                    Op::GeInt => binop!(|a: Value, b: Value| Value::bool(a.i() >= b.i())),
                    Op::LtFloat => binop!(|a: Value, b: Value| Value::bool(a.f() < b.f())),
                    Op::LeFloat => binop!(|a: Value, b: Value| Value::bool(a.f() <= b.f())),
                    Op::GtFloat => binop!(|a: Value, b: Value| Value::bool(a.f() > b.f())),
                    Op::GeFloat => binop!(|a: Value, b: Value| Value::bool(a.f() >= b.f())),
                    Op::IToF => stack[sp - 1] = Value::float(stack[sp - 1].i() as f64),
                    Op::ArrayGetInt | Op::ArrayGetFloat | Op::ArrayGetVal => {
                        let a = stack[sp - 2];
                        let i = stack[sp - 1].i();
                        let got = element(&self.heap, a, i);
                        match got {
                            Ok(v) => {
                                sp -= 1;
                                stack[sp - 1] = v;
                            }
                            Err(len) => break 'run Err(Trap::index(i, len)),
                        }
                    }
                    Op::ArraySetInt | Op::ArraySetFloat | Op::ArraySetVal => {
                        let a = stack[sp - 3];
                        let i = stack[sp - 2].i();
                        let v = stack[sp - 1];
                        if let Err(len) = set_element(&mut self.heap, a, i, v) {
                            break 'run Err(Trap::index(i, len));
                        }
                        sp -= 3;
                    }
                    Op::ArrayLen => {
                        let len = self.heap.array_len(stack[sp - 1]);
                        stack[sp - 1] = Value::int(len as i64);
                    }
                    Op::Jmp(t) => {
                        if (t as usize) < pc {
                            take_branch!('run, t as usize);
                        } else {
                            pc = t as usize;
                        }
                    }
                    Op::JmpIf(t) => {
                        sp -= 1;
                        if stack[sp].b() {
                            if (t as usize) < pc {
                                take_branch!('run, t as usize);
                            } else {
                                pc = t as usize;
                            }
                        } else {
                            pc = branch_not_taken(pc, 0);
                        }
                    }
                    Op::JmpIfNot(t) => {
                        sp -= 1;
                        if !stack[sp].b() {
                            if (t as usize) < pc {
                                take_branch!('run, t as usize);
                            } else {
                                pc = t as usize;
                            }
                        } else {
                            pc = branch_not_taken(pc, 0);
                        }
                    }
                    Op::Call(f) => enter!('run, f),
                    Op::IsNil => {
                        stack[sp - 1] = Value::bool(stack[sp - 1].tag() == Tag::Nil);
                    }
                    Op::FnRef(f) => {
                        stack[sp] = Value::func_ref(f);
                        sp += 1;
                    }
                    Op::RecGet { rec, field } => match self.heap.field(stack[sp - 1], field) {
                        Some(v) => stack[sp - 1] = v,
                        None => break 'run Err(nil_field(module, rec, field)),
                    },
                    Op::RecSet { rec, field } => {
                        if self.heap.set_field(stack[sp - 2], field, stack[sp - 1]) {
                            sp -= 2;
                        } else {
                            break 'run Err(nil_field(module, rec, field));
                        }
                    }
                    Op::CallRef { ret } => {
                        // Out of line: the run loop's frame is on the native
                        // stack once per host-call nesting level.
                        let at = depth + self.depth_offset;
                        match self.call_ref_op(
                            module,
                            stack,
                            sp,
                            at,
                            &imports,
                            ret,
                            &mut chunk,
                            &mut budget,
                        ) {
                            RefCall::Enter(f) => {
                                sp -= 1;
                                enter!('run, f);
                            }
                            RefCall::Done(Ok(new_sp)) => sp = new_sp,
                            RefCall::Done(Err(t)) => break 'run Err(t),
                        }
                    }
                    Op::AddIntRet(rec) => {
                        budget -= 1;
                        let v = Value::int(stack[sp - 2].i().wrapping_add(stack[sp - 1].i()));
                        ret!('run, rec, Some(v));
                    }
                    Op::Ret(rec) => ret!('run, rec, None),
                    Op::RetVal(rec) => {
                        let v = stack[sp - 1];
                        ret!('run, rec, Some(v));
                    }
                    Op::Unreachable => {
                        unreachable!("verifier marks only unreachable code Unreachable")
                    }
                    Op::Halt => break 'run Ok(self.halted(sp)),
                    // Superinstructions: `pc` already points past the first op
                    // of the sequence; skip the rest and count all of it.
                    Op::LoadLoad(a, b) => {
                        stack[sp] = stack[base + a as usize];
                        stack[sp + 1] = stack[base + b as usize];
                        sp += 2;
                        pc += 1;
                        budget -= 1;
                    }
                    Op::AddLocalConst(a, k) => {
                        stack[sp] =
                            Value::int(stack[base + a as usize].i().wrapping_add(i64::from(k)));
                        sp += 1;
                        pc += 2;
                        budget -= 2;
                    }
                    Op::IncLocal(x, k) => {
                        // An int local (fusion checks): only the payload changes.
                        let slot = &mut stack[base + x as usize];
                        slot.bits = slot.i().wrapping_add(i64::from(k)) as u64;
                        pc += 3;
                        budget -= 3;
                    }
                    Op::BrLocalConst { cmp, a, k, rel } => {
                        budget -= 3;
                        if cmp.eval(stack[base + a as usize].i(), i64::from(k)) {
                            take_branch!('run, jump(pc, rel));
                        } else {
                            pc = branch_not_taken(pc, 3);
                        }
                    }
                    Op::BrLocalLocal { cmp, a, b, rel } => {
                        budget -= 3;
                        if cmp.eval(stack[base + a as usize].i(), stack[base + b as usize].i()) {
                            take_branch!('run, jump(pc, rel));
                        } else {
                            pc = branch_not_taken(pc, 3);
                        }
                    }
                    Op::BrCmp { cmp, t } => {
                        budget -= 1;
                        sp -= 2;
                        if cmp.eval(stack[sp].i(), stack[sp + 1].i()) {
                            if (t as usize) < pc {
                                take_branch!('run, t as usize);
                            } else {
                                pc = t as usize;
                            }
                        } else {
                            pc = branch_not_taken(pc, 1);
                        }
                    }
                    Op::RetLocal(a, rec) => {
                        budget -= 1;
                        let v = stack[base + a as usize];
                        ret!('run, rec, Some(v));
                    }
                    Op::AddLocalsTo { a, b, dst } => {
                        let v = stack[base + a as usize]
                            .i()
                            .wrapping_add(stack[base + b as usize].i());
                        stack[base + dst as usize] = Value::int(v);
                        pc += 3;
                        budget -= 3;
                    }
                    Op::AddIntStore(x) => {
                        sp -= 2;
                        stack[base + x as usize] =
                            Value::int(stack[sp].i().wrapping_add(stack[sp + 1].i()));
                        pc += 1;
                        budget -= 1;
                    }
                    Op::IncBrLocal { cmp, k, i, n, rel } => {
                        budget -= 7;
                        // The local is an int (fusion checks), so only the
                        // payload changes.
                        let slot = &mut stack[base + i as usize];
                        let v = slot.i().wrapping_add(i64::from(k));
                        slot.bits = v as u64;
                        let bound = stack[base + n as usize].i();
                        // `i < n` is the common loop test: a plain compare.
                        let holds = if cmp == Cmp::Lt {
                            v < bound
                        } else {
                            cmp.eval(v, bound)
                        };
                        if holds {
                            take_branch!('run, jump(pc, rel));
                        } else {
                            pc = branch_not_taken(pc, 7);
                        }
                    }
                    Op::ArraySetIntLocalsConst { arr, i, k } => {
                        let a = stack[base + arr as usize];
                        let idx = stack[base + i as usize].i();
                        let res = set_at(self.heap.ints_mut(a), idx, i64::from(k));
                        pc += 3;
                        if let Err(len) = res {
                            break 'run Err(Trap::index(idx, len));
                        }
                        budget -= 3;
                    }
                    // The twins of the forms above whose constant is too wide
                    // for the op: it is read from the constant table (an int
                    // there, fusion checks); counting, traps and budget checks
                    // are the twins'.
                    Op::AddLocalConstWide(a, c) => {
                        let k = consts[c as usize].i();
                        stack[sp] = Value::int(stack[base + a as usize].i().wrapping_add(k));
                        sp += 1;
                        pc += 2;
                        budget -= 2;
                    }
                    Op::IncLocalWide(x, c) => {
                        let k = consts[c as usize].i();
                        // An int local (fusion checks): only the payload changes.
                        let slot = &mut stack[base + x as usize];
                        slot.bits = slot.i().wrapping_add(k) as u64;
                        pc += 3;
                        budget -= 3;
                    }
                    Op::BrLocalConstWide { cmp, a, c, rel } => {
                        budget -= 3;
                        let k = consts[c as usize].i();
                        if cmp.eval(stack[base + a as usize].i(), k) {
                            take_branch!('run, jump(pc, rel));
                        } else {
                            pc = branch_not_taken(pc, 3);
                        }
                    }
                    Op::IncBrLocalWide { cmp, i, n, c, rel } => {
                        budget -= 7;
                        let k = consts[c as usize].i();
                        // The local is an int (fusion checks), so only the
                        // payload changes.
                        let slot = &mut stack[base + i as usize];
                        let v = slot.i().wrapping_add(k);
                        slot.bits = v as u64;
                        let bound = stack[base + n as usize].i();
                        let holds = if cmp == Cmp::Lt {
                            v < bound
                        } else {
                            cmp.eval(v, bound)
                        };
                        if holds {
                            take_branch!('run, jump(pc, rel));
                        } else {
                            pc = branch_not_taken(pc, 7);
                        }
                    }
                    Op::ArraySetIntLocalsConstWide { arr, i, c } => {
                        let a = stack[base + arr as usize];
                        let idx = stack[base + i as usize].i();
                        let res = set_at(self.heap.ints_mut(a), idx, consts[c as usize].i());
                        pc += 3;
                        if let Err(len) = res {
                            break 'run Err(Trap::index(idx, len));
                        }
                        budget -= 3;
                    }
                    Op::ArrayGetIntLocals(a, i) | Op::ArrayGetFloatLocals(a, i) => {
                        let arr = stack[base + a as usize];
                        let i = stack[base + i as usize].i();
                        let got = element(&self.heap, arr, i);
                        match got {
                            Ok(v) => {
                                stack[sp] = v;
                                sp += 1;
                                pc += 2;
                                budget -= 2;
                            }
                            Err(len) => {
                                // Report the trap at the `array.get` itself.
                                pc += 2;
                                break 'run Err(Trap::index(i, len));
                            }
                        }
                    }
                    // Ops whose work grows with their operands (a native call,
                    // and the instructions that build a string, an array or a
                    // list of keys) charge that work to the fuel tank: settle
                    // the chunk so far first, so the tank is exact during the
                    // op, and afterwards shrink what is left of the chunk to
                    // what the tank still holds. (Without a fuel limit there is
                    // nothing to settle.)
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
                    | Op::MapDel => {
                        let metered = self.fuel.is_some();
                        if metered {
                            self.charge_chunk(chunk, budget);
                            chunk = budget;
                        }
                        let at = depth + self.depth_offset;
                        let r = match op {
                            Op::CallImport { import, ret } => {
                                self.call_import(import, ret, module, stack, sp, at, &imports)
                            }
                            _ => self.slow_op(op, module, stack, sp, at, &imports),
                        };
                        if let (true, Some(f)) = (metered, self.fuel) {
                            let f = i64::try_from(f).unwrap_or(i64::MAX);
                            if budget > f {
                                budget = f;
                                chunk = f;
                            }
                        }
                        match r {
                            Ok(new_sp) => sp = new_sp,
                            Err(t) => break 'run Err(t),
                        }
                    }
                    // Everything else runs out of line, so the hot loop above
                    // keeps its state in registers.
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
                    | Op::Trap(_) => {
                        match self.slow_op(
                            op,
                            module,
                            stack,
                            sp,
                            depth + self.depth_offset,
                            &imports,
                        ) {
                            Ok(new_sp) => sp = new_sp,
                            Err(t) => break 'run Err(t),
                        }
                    }
                }
            }
        };

        self.charge_chunk(chunk, budget);
        self.stats.calls += calls;
        outcome.map_err(|trap| self.backtrace(module, stack, trap, pc, base, depth))
    }

    /// `trap` with the Keel backtrace of a run that stopped at `pc` in the
    /// frame at `base`, `depth` calls deep. Out of line (and cold): the
    /// interpreter loop's native frame stays small, as every level of host
    /// re-entrancy nests one.
    ///
    /// Walks every frame record, keeping the innermost [`TRACE_HEAD`] and
    /// the outermost [`TRACE_TAIL`] frames of very deep stacks. A trap
    /// raised inside a function that a native of this run called back
    /// (`array.sort_by`'s comparator, a host callback through
    /// `NativeCtx::call`) already holds that callee's frames: they are the
    /// inner part, and the whole is cut again ([`join_traces`]).
    #[cold]
    #[inline(never)]
    fn backtrace(
        &self,
        module: &VerifiedModule,
        stack: &[Value],
        mut trap: Trap,
        pc: usize,
        base: usize,
        depth: usize,
    ) -> Trap {
        let funcs = module.funcs();
        let total = depth + 1;
        let keep = |n: usize| n < TRACE_HEAD || n >= total.saturating_sub(TRACE_TAIL);
        let mut trace = Vec::with_capacity(total.min(TRACE_HEAD + TRACE_TAIL));
        let (mut at, mut frame_base) = (pc.saturating_sub(1), base);
        for n in 0..total {
            if keep(n) {
                trace.push(self.trace_frame(module, at));
            }
            if n + 1 == total {
                break;
            }
            let nl = funcs[module.func_at(at)].num_locals as usize;
            let (resume, caller_base) = unpack_record(stack[frame_base + nl]);
            at = resume.saturating_sub(1);
            frame_base = caller_base;
        }
        let inner = std::mem::take(&mut trap.backtrace);
        let outer_omitted = total - trace.len();
        let (backtrace, omitted) = join_traces(inner, trap.omitted_frames, trace, outer_omitted);
        trap.backtrace = backtrace;
        trap.omitted_frames = omitted;
        trap
    }

    /// A check point at a taken branch from op `branch` to `target` whose
    /// budget chunk is spent: charges the chunk and looks at fuel and
    /// interrupts (a trap here is reported at the branch). Returns where
    /// the interpreter goes on.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn check_point(
        &mut self,
        _module: &VerifiedModule,
        _stack: &mut [Value],
        _base: usize,
        sp: usize,
        branch: usize,
        target: usize,
        chunk: i64,
        budget: i64,
    ) -> Result<Resume, (Trap, usize)> {
        let chunk = self.refuel(chunk, budget).map_err(|t| (t, branch + 1))?;
        Ok(Resume {
            chunk,
            budget: chunk,
            pc: target,
            sp,
        })
    }

    /// A snippet's end: notes where its operand stack ends (for
    /// `run_snippet`); out of line, as it runs once per snippet.
    #[cold]
    #[inline(never)]
    fn halted(&mut self, sp: usize) -> Option<Value> {
        self.halt_sp = sp;
        None
    }

    /// `call.ref` with the reference on top of `stack[..sp]`: a module
    /// function is entered by the run loop ([`RefCall::Enter`]); an import
    /// runs here, its work settled against the fuel tank like any native
    /// call's.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn call_ref_op(
        &mut self,
        module: &VerifiedModule,
        stack: &mut Vec<Value>,
        sp: usize,
        depth: usize,
        imports: &[NativeFunc],
        ret: u16,
        chunk: &mut i64,
        budget: &mut i64,
    ) -> RefCall {
        let f = stack[sp - 1];
        if f.tag() != Tag::Func {
            return RefCall::Done(Err(Trap::nil_reference("call.ref")));
        }
        let nf = module.funcs().len() as u32;
        if f.obj() < nf {
            return RefCall::Enter(f.obj());
        }
        let metered = self.settle_chunk(chunk, *budget);
        let import = (f.obj() - nf) as u16;
        let r = self.call_import(import, ret, module, stack, sp - 1, depth, imports);
        self.trim_chunk(metered, chunk, budget);
        RefCall::Done(r)
    }

    /// A call of import `import` with its arguments on top of
    /// `stack[..sp]`; `ret` is the call site's result type (see
    /// `Op::CallImport`). Its own function, apart from `slow_op`, so that
    /// each level of Keel -> native -> Keel nesting puts only this small
    /// frame on the native stack.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn call_import(
        &mut self,
        import: u16,
        ret: u16,
        module: &VerifiedModule,
        stack: &mut Vec<Value>,
        mut sp: usize,
        depth: usize,
        imports: &[NativeFunc],
    ) -> Result<usize, Trap> {
        let types = module.types();
        let native = &imports[import as usize];
        let np = native.ty.params.len();
        let args_at = sp - np;
        self.stats.calls += 1;
        // The arguments stay on the stack (rooted) during the call; the
        // native reads a copy, so it may call back into the instance,
        // which pushes frames above them.
        let mut buf = [Value::NIL; 8];
        let spilled: Vec<Value>;
        let args: &[Value] = if np <= buf.len() {
            buf[..np].copy_from_slice(&stack[args_at..sp]);
            &buf[..np]
        } else {
            spilled = stack[args_at..sp].to_vec();
            &spilled
        };
        // The native's scratch roots go above the mark and are
        // dropped when it returns; those below belong to a host
        // function further out that called back into this run, and
        // must outlive this call.
        let mark = self.heap.scratch.len();
        let result = {
            let mut ctx = NativeCtx {
                inst: self,
                stack,
                sp,
                depth,
            };
            (native.func)(&mut ctx, args)
        };
        self.heap.scratch.truncate(mark);
        // A native's result must be what the verifier assumed at this
        // call site (its signature with type variables bound).
        let want = types.get(ret as usize);
        match (result, want) {
            (Ok(None), None) => sp = args_at,
            (Ok(Some(v)), Some(ty)) if conforms(&self.heap, self.module.module(), v, ty) => {
                sp = args_at;
                stack[sp] = v;
                sp += 1;
            }
            (Ok(r), _) => {
                return Err(Trap::new(
                    TrapCode::HostError,
                    format!(
                        "host function `{}` returned {}, but this call expects {}",
                        native.name,
                        r.map(|v| value_type_name(&self.heap, self.module.module(), v))
                            .unwrap_or_else(|| "nothing".into()),
                        want.map_or_else(|| "nothing".to_owned(), Type::to_string)
                    ),
                ));
            }
            (Err(t), _) => return Err(t),
        }
        Ok(sp)
    }

    /// The ops that call into the heap, natives or dynamic typing: kept
    /// out of the interpreter loop so its registers stay free. Returns the
    /// new stack pointer.
    #[inline(never)]
    fn slow_op(
        &mut self,
        op: Op,
        module: &VerifiedModule,
        stack: &mut Vec<Value>,
        mut sp: usize,
        depth: usize,
        imports: &[NativeFunc],
    ) -> Result<usize, Trap> {
        let types = module.types();
        macro_rules! roots {
            () => {
                [&stack[..sp], &self.globals[..], &self.strings[..]]
            };
        }
        macro_rules! oom {
            () => {
                Trap::new(
                    TrapCode::OutOfMemory,
                    format!(
                        "out of memory: heap limit of {} bytes exceeded",
                        self.heap.limit()
                    ),
                )
            };
        }
        let work = self.op_work(op, stack, sp);
        if work > 0 {
            self.charge_op_work(work)?;
        }
        match op {
            Op::AddAny | Op::SubAny | Op::MulAny | Op::DivAny | Op::RemAny => {
                let arith = match op {
                    Op::AddAny => Arith::Add,
                    Op::SubAny => Arith::Sub,
                    Op::MulAny => Arith::Mul,
                    Op::DivAny => Arith::Div,
                    _ => Arith::Rem,
                };
                match dynamic::arith(&self.heap, arith, stack[sp - 2], stack[sp - 1]) {
                    Ok(r) => {
                        sp -= 1;
                        stack[sp - 1] = r;
                    }
                    Err(t) => return Err(t),
                }
            }
            Op::NegAny => match dynamic::neg(&self.heap, stack[sp - 1]) {
                Ok(r) => stack[sp - 1] = r,
                Err(t) => return Err(t),
            },
            Op::EqStr | Op::NeStr => {
                let eq = self.heap.str(stack[sp - 2]) == self.heap.str(stack[sp - 1]);
                sp -= 1;
                stack[sp - 1] = Value::bool(eq == matches!(op, Op::EqStr));
            }
            Op::EqAny | Op::NeAny => {
                let eq = dynamic::eq(&self.heap, stack[sp - 2], stack[sp - 1]);
                sp -= 1;
                stack[sp - 1] = Value::bool(eq == matches!(op, Op::EqAny));
            }
            Op::LtStr | Op::LeStr | Op::GtStr | Op::GeStr => {
                let ord = self
                    .heap
                    .str(stack[sp - 2])
                    .cmp(self.heap.str(stack[sp - 1]));
                sp -= 1;
                stack[sp - 1] = Value::bool(match op {
                    Op::LtStr => ord.is_lt(),
                    Op::LeStr => ord.is_le(),
                    Op::GtStr => ord.is_gt(),
                    _ => ord.is_ge(),
                });
            }
            Op::LtAny | Op::LeAny | Op::GtAny | Op::GeAny => {
                match dynamic::compare(&self.heap, stack[sp - 2], stack[sp - 1]) {
                    Ok(ord) => {
                        sp -= 1;
                        stack[sp - 1] = Value::bool(ord.is_some_and(|o| match op {
                            Op::LtAny => o.is_lt(),
                            Op::LeAny => o.is_le(),
                            Op::GtAny => o.is_gt(),
                            _ => o.is_ge(),
                        }));
                    }
                    Err(t) => return Err(t),
                }
            }
            Op::FToI => {
                let x = stack[sp - 1].f();
                // 2^63 is exactly representable; every float below it
                // and at or above -2^63 truncates into range.
                if !(-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x) {
                    let what = if x.is_nan() {
                        "nan cannot be converted to int".to_owned()
                    } else {
                        format!(
                            "{} is out of range for int",
                            crate::display::format_float(x)
                        )
                    };
                    return Err(Trap::invalid(format!("invalid conversion: {what}")));
                }
                stack[sp - 1] = Value::int(x as i64);
            }
            Op::Cast(t) => {
                let v = stack[sp - 1];
                let ty = &types[t as usize];
                if !conforms(&self.heap, self.module.module(), v, ty) {
                    return Err(Trap::type_error(
                        ty,
                        value_type_name(&self.heap, self.module.module(), v),
                    ));
                }
            }
            Op::Concat => {
                let len = self.heap.str(stack[sp - 2]).len() + self.heap.str(stack[sp - 1]).len();
                let bytes = OBJECT_HEADER_BYTES.saturating_add(len);
                if bytes > self.heap.max_limit() {
                    return Err(oom!());
                }
                self.charge_native_work(len as u64 / WORK_PER_FUEL)?;
                let v = match self.heap.concat(stack[sp - 2], stack[sp - 1], &roots!()) {
                    Ok(v) => v,
                    Err(OutOfMemory) => return Err(oom!()),
                };
                sp -= 1;
                stack[sp - 1] = v;
            }
            Op::ArrayNewInt | Op::ArrayNewFloat | Op::ArrayNewVal(_) => {
                let n = stack[sp - 2].i();
                let fill = stack[sp - 1];
                if n < 0 {
                    return Err(Trap::invalid(format!("negative array length {n}")));
                }
                let elem = match op {
                    Op::ArrayNewInt => Type::Int,
                    Op::ArrayNewFloat => Type::Float,
                    Op::ArrayNewVal(t) => types[t as usize].clone(),
                    _ => unreachable!(),
                };
                let elem_bytes: u64 = match elem {
                    Type::Bool => 1,
                    Type::Int | Type::Float => 8,
                    _ => 16,
                };
                let bytes = (n as u64)
                    .checked_mul(elem_bytes)
                    .and_then(|b| b.checked_add(4 * OBJECT_HEADER_BYTES as u64))
                    .and_then(|b| usize::try_from(b).ok());
                if bytes.is_none_or(|b| b > self.heap.max_limit()) {
                    return Err(oom!());
                }
                self.charge_native_work(n as u64 / WORK_PER_FUEL)?;
                let v = match self.heap.new_array(&elem, n as usize, fill, &roots!()) {
                    Ok(v) => v,
                    Err(OutOfMemory) => return Err(oom!()),
                };
                sp -= 1;
                stack[sp - 1] = v;
            }
            Op::ArrayPushInt | Op::ArrayPushFloat | Op::ArrayPushVal => {
                let a = stack[sp - 2];
                let v = stack[sp - 1];
                if self.heap.array_push(a, v, &roots!()).is_err() {
                    return Err(oom!());
                }
                sp -= 2;
            }
            Op::ArrayPopInt | Op::ArrayPopFloat | Op::ArrayPopVal => {
                let a = stack[sp - 1];
                match self.heap.array_pop(a) {
                    Some(v) => stack[sp - 1] = v,
                    None => {
                        return Err(Trap::new(
                            TrapCode::IndexOutOfBounds,
                            "pop from empty array",
                        ));
                    }
                }
            }
            Op::MapNew(t) => {
                let Type::Map(key, val) = &types[t as usize] else {
                    unreachable!("verified map type")
                };
                match self.heap.new_map(*key, val, &roots!()) {
                    Ok(v) => {
                        stack[sp] = v;
                        sp += 1;
                    }
                    Err(OutOfMemory) => return Err(oom!()),
                }
            }
            Op::MapGet => {
                let key = self.heap.key_ref(stack[sp - 1]);
                match self.heap.map_get(stack[sp - 2], key) {
                    Some(v) => {
                        sp -= 1;
                        stack[sp - 1] = v;
                    }
                    None => return Err(missing_key::key_not_found(&key)),
                }
            }
            Op::MapGetOr => {
                let got = self
                    .heap
                    .map_get(stack[sp - 3], self.heap.key_ref(stack[sp - 2]));
                let v = got.unwrap_or(stack[sp - 1]);
                sp -= 2;
                stack[sp - 1] = v;
            }
            Op::MapHas => {
                let has = self
                    .heap
                    .map_has(stack[sp - 2], self.heap.key_ref(stack[sp - 1]));
                sp -= 1;
                stack[sp - 1] = Value::bool(has);
            }
            Op::MapSet => {
                let (m, k, v) = (stack[sp - 3], stack[sp - 2], stack[sp - 1]);
                if self.heap.map_set(m, k, v, &roots!()).is_err() {
                    return Err(oom!());
                }
                sp -= 3;
            }
            Op::MapDel => {
                let (m, k) = (stack[sp - 2], stack[sp - 1]);
                self.heap.map_del_value(m, k);
                sp -= 2;
            }
            Op::MapLen => {
                let n = self.heap.map_len(stack[sp - 1]);
                stack[sp - 1] = Value::int(n as i64);
            }
            Op::MapKeys => {
                let m = stack[sp - 1];
                let len = self.heap.map_len(m);
                // The array (16 bytes a key) must fit before anything is
                // built; `str` keys are the map's own key strings, shared.
                let array_bytes = len
                    .checked_mul(16)
                    .and_then(|b| b.checked_add(4 * OBJECT_HEADER_BYTES))
                    .filter(|&b| b <= self.heap.max_limit());
                if array_bytes.is_none() {
                    return Err(oom!());
                }
                self.charge_native_work(len as u64 / WORK_PER_FUEL)?;
                let elem = self.heap.map_types(m).0.to_type();
                let mut items = Vec::with_capacity(len);
                let mut pos = 0;
                while let Some(p) = self.heap.map_next_slot(m, pos) {
                    pos = p + 1;
                    if let Some((k, _)) = self.heap.map_entry_at(m, p) {
                        items.push(k);
                    }
                }
                // The keys are reachable from the map, which is rooted.
                match self.heap.new_array_from(&elem, &items, &roots!()) {
                    Ok(v) => stack[sp - 1] = v,
                    Err(OutOfMemory) => return Err(oom!()),
                }
            }
            Op::CallImport { import, ret } => {
                return self.call_import(import, ret, module, stack, sp, depth, imports);
            }
            Op::Trap(i) => {
                return Err(Trap::new(
                    TrapCode::Explicit,
                    module.module().strings[i as usize].clone(),
                ));
            }
            Op::Is(t) => {
                let v = stack[sp - 1];
                let ty = &types[t as usize];
                stack[sp - 1] = Value::bool(is_type(&self.heap, module.module(), v, ty));
            }
            Op::RecNew(r) => {
                let n = module.module().records[r as usize].fields.len();
                let shape = self.shape_ids[r as usize];
                let v = self
                    .heap
                    .new_record(shape, &stack[sp - n..sp], &roots!())
                    .map_err(|_| oom!())?;
                sp -= n;
                stack[sp] = v;
                sp += 1;
            }
            Op::PushArray(i) => {
                let lit = &module.array_lits()[i as usize];
                let n = lit.len();
                self.charge_native_work(n as u64 / WORK_PER_FUEL)?;
                let v = new_array_lit(&mut self.heap, lit, &self.strings, &roots!())
                    .map_err(|_| oom!())?;
                stack[sp] = v;
                sp += 1;
            }
            _ => unreachable!("the interpreter loop handles {op:?}"),
        }
        Ok(sp)
    }

    /// Checked mode: asserts that the frame at `base` matches what the
    /// verifier proved for op `pc`.
    ///
    /// # Panics
    ///
    /// When it does not: that is a verifier hole or an interpreter bug.
    #[cold]
    #[inline(never)]
    fn check_state(
        &self,
        module: &VerifiedModule,
        stack: &[Value],
        pc: usize,
        sp: usize,
        base: usize,
    ) {
        let fi = module.func_at(pc);
        let f = &module.funcs()[fi];
        let name = &module.module().funcs[fi].name;
        let at = pc - f.start as usize;
        let Some(expected) = f.stack_at(at) else {
            panic!("checked mode: fn {name} op {at} was proved unreachable but runs");
        };
        let nl = f.num_locals as usize;
        let height = sp.checked_sub(base + nl + 1).unwrap_or_else(|| {
            panic!("checked mode: fn {name} op {at}: stack pointer {sp} below the frame (base {base}, {nl} locals)")
        });
        assert_eq!(
            height,
            expected.len(),
            "checked mode: fn {name} op {at}: operand stack height differs from the verifier's"
        );
        let types = module.types();
        for (k, t) in expected.iter().enumerate() {
            let v = stack[base + nl + 1 + k];
            assert!(
                conforms(&self.heap, self.module.module(), v, &types[*t as usize]),
                "checked mode: fn {name} op {at}: stack slot {k} holds {}, proved {}",
                value_type_name(&self.heap, self.module.module(), v),
                types[*t as usize]
            );
        }
        for (l, ty) in f.local_types.iter().enumerate() {
            let v = stack[base + l];
            // Reference locals start nil until their first store.
            let ok =
                conforms(&self.heap, self.module.module(), v, ty) || (ty.is_ref() && v.is_nil());
            assert!(
                ok,
                "checked mode: fn {name} op {at}: local {l} holds {}, declared {ty}",
                value_type_name(&self.heap, self.module.module(), v)
            );
        }
    }

    fn trace_frame(&self, module: &VerifiedModule, pc: usize) -> TraceFrame {
        let m = module.module();
        let func = module.func_at(pc);
        let f = &module.funcs()[func];
        let offset = f.offsets.get(pc - f.start as usize).copied().unwrap_or(0);
        let debug = m.func_debug(func);
        TraceFrame {
            func: m.funcs[func].name.clone(),
            offset,
            file: m.debug.as_ref().map(|d| d.file.clone()),
            pos: debug.and_then(|d| d.pos_at(offset)),
        }
    }
}

/// Fuel a call charges for setting up its callee's frame, on top of the
/// call instruction itself: one unit per [`WORK_PER_FUEL`] locals of the
/// callee (parameters included), rounded down, so entering a frame of
/// 60,000 locals costs 3,750 units, and one of fewer than 16 locals
/// nothing extra. A Keel call charges it through the budget counter just
/// before its fuel check (as if the call were that many instructions
/// longer, so the run stops at the same point in every [`JitMode`]); a
/// call from the host takes it from the tank before the run starts. It is
/// fuel only: [`ExecStats::instructions`] does not count it (the counter
/// takes what went through the budget, less this instance's frame charges).
pub(crate) fn frame_fuel(callee: &crate::verify::VerifiedFunc) -> i64 {
    i64::from(callee.num_locals) / WORK_PER_FUEL as i64
}

/// Pushes a frame for a call of `f` whose arguments are the top of
/// `stack[..sp]`, returning the callee's base, stack pointer and first pc.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn enter(
    depth: usize,
    stack: &mut Vec<Value>,
    funcs: &[crate::verify::VerifiedFunc],
    local_defaults: &[Vec<Value>],
    max_depth: usize,
    f: u32,
    sp: usize,
    pc: usize,
    base: usize,
    heap: &mut Heap,
    roots: [&[Value]; 3],
    config: &Config,
) -> Result<(usize, usize, usize), Trap> {
    let callee = &funcs[f as usize];
    if depth >= max_depth {
        return Err(depth_trap(max_depth));
    }
    let np = callee.num_params as usize;
    let nl = callee.num_locals as usize;
    let new_base = sp - np;
    let need = new_base + nl + 1 + callee.max_stack as usize;
    if need > stack.len() {
        grow_stack(stack, need, sp, heap, roots, config)?;
    }
    if nl > np {
        stack[new_base + np..new_base + nl].copy_from_slice(&local_defaults[f as usize]);
    }
    stack[new_base + nl] = frame_record(pc, base);
    Ok((new_base, new_base + nl + 1, callee.start as usize))
}

/// The trap of a call past [`Config::max_call_depth`].
fn depth_trap(max_depth: usize) -> Trap {
    Trap::new(
        TrapCode::StackOverflow,
        format!("stack overflow: call depth limit {max_depth} exceeded"),
    )
}

/// Grows `stack` to at least `need` slots, of which the first `live` are
/// in use (roots of a collection, with `roots`).
///
/// Past [`Config::max_stack_bytes`] this is a `stack overflow` trap. The
/// stack's memory counts toward the heap limit: the growth (doubling, so
/// amortized, and at least [`MIN_STACK_SLOTS`]) is charged to the heap, and
/// when that does not fit even after the collection the charge made, the
/// growth shrinks to the room left, so a program just under the limit still
/// runs; when that room cannot hold `need` slots, an `out of memory` trap.
/// The stack never shrinks, so its length is what stays charged.
#[cold]
#[inline(never)]
fn grow_stack(
    stack: &mut Vec<Value>,
    need: usize,
    live: usize,
    heap: &mut Heap,
    roots: [&[Value]; 3],
    config: &Config,
) -> Result<(), Trap> {
    let max_slots = (config.max_stack_bytes / STACK_SLOT_BYTES).min(MAX_STACK_SLOTS);
    if need > max_slots {
        return Err(Trap::value_stack(max_slots));
    }
    let len = stack.len();
    if need <= len {
        return Ok(());
    }
    let slot = std::mem::size_of::<Value>();
    let want = need.max(len * 2).max(MIN_STACK_SLOTS).min(max_slots);
    let mut extra = want - len;
    let rooted = [&stack[..live], roots[0], roots[1], roots[2]];
    if heap.charge_stack(extra * slot, &rooted).is_err() {
        let used = usize::try_from(heap.stats().live_bytes).unwrap_or(usize::MAX);
        extra = extra.min(heap.limit().saturating_sub(used) / slot);
        if len + extra < need || heap.charge_stack(extra * slot, &rooted).is_err() {
            return Err(Trap::out_of_memory(heap.limit()));
        }
    }
    if stack.try_reserve_exact(extra).is_err() {
        heap.uncharge_stack(extra * slot);
        return Err(Trap::out_of_memory(heap.limit()));
    }
    stack.resize(len + extra, Value::NIL);
    Ok(())
}

/// Slots the value stack starts with at its first growth.
const MIN_STACK_SLOTS: usize = 1024;

/// The fall-through pc of a fused branch, `skip` ops on. Written so the
/// compiler emits a real branch: computing the next pc with a conditional
/// move would make every following fetch wait for the comparison, where a
/// predicted branch lets the CPU run ahead.
#[inline(always)]
fn branch_not_taken(pc: usize, skip: usize) -> usize {
    // An opaque no-op: a block with an effect cannot be flattened into a
    // select, so this stays a predicted branch.
    std::hint::black_box(());
    pc + skip
}

/// The target of a fused branch: `rel` counts from the fused op, which is
/// at `pc - 1` once fetched.
#[inline(always)]
fn jump(pc: usize, rel: i16) -> usize {
    (pc as isize - 1 + rel as isize) as usize
}

/// Element `i` of array `a`, or the array's length when `i` is out of
/// bounds.
#[inline(always)]
fn element(heap: &Heap, a: Value, i: i64) -> Result<Value, usize> {
    usize::try_from(i)
        .ok()
        .and_then(|i| heap.array_get(a, i))
        .ok_or_else(|| heap.array_len(a))
}

/// Sets element `i` of array `a`, or gives the array's length when `i` is
/// out of bounds.
#[inline(always)]
fn set_element(heap: &mut Heap, a: Value, i: i64, v: Value) -> Result<(), usize> {
    match usize::try_from(i) {
        Ok(i) if heap.array_set(a, i, v) => Ok(()),
        _ => Err(heap.array_len(a)),
    }
}

fn set_at<T>(xs: &mut [T], i: i64, v: T) -> Result<(), usize> {
    let len = xs.len();
    match usize::try_from(i).ok().and_then(|i| xs.get_mut(i)) {
        Some(slot) => {
            *slot = v;
            Ok(())
        }
        None => Err(len),
    }
}

/// A new object of the default value of type `ty` (an empty string,
/// string buffer, array or map), or `None` for a type whose default is
/// not an object.
pub(crate) fn new_empty_object(
    heap: &mut Heap,
    ty: &Type,
    roots: &[&[Value]],
) -> Option<Result<Value, OutOfMemory>> {
    Some(match ty {
        Type::Str => heap.new_str("", roots),
        Type::StrBuf => heap.new_strbuf(roots),
        Type::Array(e) => heap.new_array_from(e, &[], roots),
        Type::Map(k, v) => heap.new_map(*k, v, roots),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;

impl Instance {
    /// The natives the module's imports resolved to, in import order (for
    /// a native calling an import through a function reference).
    pub(crate) fn imports(&self) -> Arc<[NativeFunc]> {
        self.imports.clone()
    }
}

/// One backtrace from an inner one (innermost first, with its omitted
/// count) and the frames outside it, cut again to the innermost
/// [`TRACE_HEAD`] and outermost [`TRACE_TAIL`] frames of the whole. Each
/// part keeps its own head and tail, which covers every frame the whole
/// keeps. Out of line: the interpreter loop's native frame stays small.
#[cold]
#[inline(never)]
fn join_traces(
    inner: Vec<TraceFrame>,
    inner_omitted: usize,
    outer: Vec<TraceFrame>,
    outer_omitted: usize,
) -> (Vec<TraceFrame>, usize) {
    if inner.is_empty() && inner_omitted == 0 {
        return (outer, outer_omitted);
    }
    // Position of frame `i` of a part within that part, counting the
    // frames it left out (they sit after its first TRACE_HEAD).
    let pos = |i: usize, omitted: usize| if i < TRACE_HEAD { i } else { i + omitted };
    let inner_total = inner.len() + inner_omitted;
    let total = inner_total + outer.len() + outer_omitted;
    let keep = |n: usize| n < TRACE_HEAD || n >= total.saturating_sub(TRACE_TAIL);
    let mut out = Vec::with_capacity(total.min(TRACE_HEAD + TRACE_TAIL));
    for (i, f) in inner.into_iter().enumerate() {
        if keep(pos(i, inner_omitted)) {
            out.push(f);
        }
    }
    for (i, f) in outer.into_iter().enumerate() {
        if keep(inner_total + pos(i, outer_omitted)) {
            out.push(f);
        }
    }
    let omitted = total - out.len();
    (out, omitted)
}
