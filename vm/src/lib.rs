//! Keel's virtual machine: the bytecode model, the `.kbc` format, the
//! verifier, the interpreter and the garbage-collected heap.
//!
//! The pipeline runs one way: text goes through the assembler
//! (`keel_assembler`, which depends on this crate, not the other way
//! round) to a [`Module`], or `.kbc` bytes are read with [`Engine::load`];
//! the verifier makes it a [`VerifiedModule`], and only that can be
//! instantiated and run.
//!
//! # Embedding
//!
//! A host uses one path: an [`Engine`] (the [`Config`] every instance
//! starts with) loads and verifies a module, a [`Linker`] holds the host
//! functions a module may import, and an [`Instance`] runs the module with
//! its own heap, limits and host state. `spec/embedding.md` documents it
//! all; `examples/embed` is a complete host.
//!
//! The plugin here is `doc/greeter.kasm`:
//!
//! ```text
//! .import host.log(line: str) -> int
//! .export greet
//! .func greet(name: str) -> int
//!     push "hello, " load name concat call host.log ret
//! .end
//! ```
//!
//! From text, `keel_assembler::load_text(&engine, src, "greeter.kasm",
//! &linker)?` assembles and verifies it; this crate cannot call the
//! assembler, so the example loads the same plugin assembled to `.kbc`
//! bytes (`vmrun asm doc/greeter.kasm`), which [`Engine::load`] verifies
//! like any other bytes.
//!
//! ```
//! use keel_vm::{Caller, Config, Engine, Linker, Val};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::new(Config::new().fuel(1_000_000).max_heap_bytes(1 << 20));
//!
//! // Host functions take their Keel signature from the closure's types; a
//! // first `&mut Caller<'_, T>` parameter reaches the instance's own `T`.
//! let mut linker = Linker::new();
//! linker.func("host.log", |c: &mut Caller<'_, Vec<String>>, line: String| {
//!     c.data_mut().push(line);
//!     c.data().len() as i64
//! });
//!
//! let module = engine.load(include_bytes!("../doc/greeter.kbc"))?; // always verified
//! let exports: Vec<String> = module.exports().map(|e| format!("{}{}", e.name, e.ty)).collect();
//! assert_eq!(exports, ["greet(str) -> int"]);
//!
//! // One instance per plugin, with its host state (here: its log).
//! let mut instance = engine.instantiate_with(&module, &linker, Vec::<String>::new())?;
//!
//! // By name, with the arguments checked at each call ...
//! assert_eq!(instance.call("greet", &[Val::from("Ada")])?, Some(Val::Int(1)));
//! // ... or through a typed handle, looked up and checked once.
//! let greet = instance.typed_func::<(&str,), i64>("greet")?;
//! assert_eq!(greet.call(&mut instance, ("Grace",))?, 2);
//!
//! let log: &Vec<String> = instance.data().expect("the Vec<String> set above");
//! assert_eq!(log, &["hello, Ada", "hello, Grace"]);
//! assert!(instance.fuel().is_some_and(|left| left < 1_000_000));
//! # Ok(()) }
//! ```
//!
//! Every error (a [`LoadError`], [`LinkErrors`], a [`CallError`] with its
//! [`Trap`]) implements [`std::error::Error`], so `?` passes it on to a
//! `Box<dyn Error>` or an `anyhow::Error`.
//!
//! # Sources of unsafety
//!
//! The crate is `#![deny(unsafe_code)]`, with two exceptions. The heap's
//! memory (`heap/region.rs`) is one reserved range the heap lays objects
//! out in; every access to it is range-checked first, so a wrong
//! reference reaches another part of the same instance's heap, never
//! memory outside it. The x86_64
//! JIT (`jit`, feature `jit`, on by default) must run the machine
//! code it writes. Its one `unsafe` block calls compiled code on a frame
//! slice at least as long as the slots that code touches (checked before
//! every call); the code touches only those slots, at offsets derived from
//! the verifier's proved stack depths and local indices, and writes only
//! values of the types the verifier proved. `benches/README.md` has the
//! benchmark that justifies it (the 100M-iteration loop), and
//! `assembler/tests/jit_differential.rs` checks it against the interpreter.
//!
//! Everything else is safe Rust: heap references are checked word offsets
//! into the instance's own region and the interpreter indexes checked
//! slices, so a verifier bug shows up as a panic or a wrong object of the
//! same instance, never as memory corruption.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod bytes;
mod config;
mod display;
mod engine;
mod heap;
mod int_literal;
pub mod internals;
mod interp;
mod isa;
#[cfg(all(feature = "jit", target_arch = "x86_64"))]
mod jit;
mod module;
mod native;
mod trap;
mod types;
mod value;
mod verify;

/// Whether this build collects at every allocation (the `gc-stress`
/// feature, which CI runs the whole suite under). Tests that measure time
/// or memory growth skip themselves then: they would measure the stress.
pub const GC_STRESS_BUILD: bool = cfg!(feature = "gc-stress");

pub use api::{
    CallError, Caller, Export, FromVal, FuncRef, Handle, HostArg, HostFn, HostRet, MAX_VAL_DEPTH,
    TypedArg, TypedFunc, TypedParams, TypedResult, Val, WithCaller,
};
pub use bytes::{DecodeError, DecodeErrorKind};
pub use display::DISPLAY_CHUNK;
pub use display::{format_float, quote};
pub use engine::{Engine, LinkErrors, LoadError};
pub use heap::GcStats;
pub use int_literal::{IntLiteralError, parse_int_literal};
pub use interp::DEFAULT_MAX_HOST_DEPTH;
pub use interp::{
    Config, EditError, ExecStats, Instance, InterruptHandle, JitListing, JitMode, LinkError,
    MAX_STACK_SLOTS,
};
pub use module::{
    DebugInfo, FORMAT_VERSION, Func, FuncDebug, Global, GlobalInit, Import, MAGIC, Module, Pos,
    RESERVED_WORDS, RecordDef, is_name, is_reserved,
};
pub use native::{Linker, NativeCtx, NativeFn, NativeFunc, PureFloat};
pub use native::{OBJECT_BYTES, POLL_STEP, WORK_PER_FUEL};
pub use trap::{TRACE_HEAD, TRACE_TAIL, TraceFrame, Trap, TrapCode};
pub use types::{FuncType, KeyType, MAX_TYPE_DEPTH, TYPE_VAR_NAMES, Type};
pub use verify::{
    MAX_LOCALS, MAX_RECORDS, MAX_STACK, ModuleEdit, Snippet, VerifiedFunc, VerifiedModule,
    VerifyError, VerifyErrorKind, VerifyErrors, verify, verify_snippet,
};
