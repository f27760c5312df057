//! The VM's own representation, for the crates built beside it: the
//! assembler (which encodes the instruction set), the standard library
//! (whose native functions read and write [`Value`]s through
//! [`crate::NativeCtx`]), the REPL, the fuzzers and the differential tests.
//!
//! Nothing here is needed to embed Keel: a host loads text or `.kbc`,
//! links host functions with [`crate::Linker::func`] and passes
//! [`crate::Val`]s through [`crate::Engine`] and [`crate::Instance`]. These
//! types follow the interpreter's design and may change in any release;
//! the stable surface is the crate root.

/// The instruction set: opcodes, their operands and their encoding, the
/// one table that the encoder, decoder, verifier, disassembler, REPL help
/// and the spec's instruction list derive from.
pub mod isa {
    pub use crate::isa::*;
}

pub use crate::value::{Tag, Value};
pub use crate::verify::{Cmp, Const, Op};
