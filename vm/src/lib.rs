//! Keel's virtual machine: the bytecode model, the `.kbc` format, the
//! verifier, the interpreter and the garbage-collected heap.
//!
//! The pipeline runs one way: a [`Module`] (built by the assembler or read
//! from `.kbc` bytes with [`Module::from_bytes`]) goes through [`verify`],
//! which yields a [`VerifiedModule`]; only that can be instantiated and run.
//!
//! ```
//! use std::sync::Arc;
//! use keel_vm::{internals::isa::{Instr, Opcode, Operand}, Config, FuncType, Func, Instance, Linker, Module, Type, verify};
//!
//! // fn answer() -> int { push 42; ret }
//! let mut code = Vec::new();
//! Instr { op: Opcode::PushInt, operand: Operand::Int(42) }.encode(&mut code);
//! Instr::simple(Opcode::Ret).encode(&mut code);
//! let module = Module {
//!     funcs: vec![Func { name: "answer".into(), ty: FuncType::new(vec![], Some(Type::Int)),
//!                        locals: vec![], exported: true, code }],
//!     ..Module::default()
//! };
//! let verified = Arc::new(verify(module).expect("valid"));
//! let mut instance = Instance::new(verified, &Linker::new(), Config::default()).expect("links");
//! let result = instance.call_index(0, &[]).expect("runs");
//! assert_eq!(result.and_then(|v| v.as_int()), Some(42));
//! ```
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
