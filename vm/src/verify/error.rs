//! Verification errors: one per failed rule, with where it failed.

use std::fmt;

use crate::module::Pos;

/// Which rule of `spec/verifier.md` a module broke, with the specifics.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyErrorKind {
    /// V1: an index names no local, global, constant, function or import.
    #[error("{what} index {index} out of range (the module has {len})")]
    IndexOutOfRange {
        /// What kind of index.
        what: &'static str,
        /// The index found.
        index: u32,
        /// How many there are.
        len: usize,
    },
    /// V2: a jump target is not the start of an instruction of the function.
    #[error("jump target {target} is not the start of an instruction in this function")]
    BadJumpTarget {
        /// The byte offset found.
        target: u32,
    },
    /// V3: paths reach an instruction with different stacks.
    #[error(
        "stack mismatch where paths join: one path has [{expected}]{}, another has [{found}]{}",
        .via[0],
        .via[1]
    )]
    StackMismatch {
        /// The stack the first path brought.
        expected: String,
        /// The stack of the conflicting path.
        found: String,
        /// How each path came, first path first: ` from the jmp at 14:5`
        /// for a jump (its source position, or ` at offset N` without
        /// debug info); empty for a fall-through or the function's entry.
        /// Boxed to keep errors small.
        via: Box<[String; 2]>,
    },
    /// V4: an instruction needs more operands than the stack holds.
    #[error("stack underflow: `{instr}` needs {needed} operand(s), found {found}")]
    StackUnderflow {
        /// The instruction's mnemonic.
        instr: &'static str,
        /// Operands needed.
        needed: usize,
        /// Operands on the stack.
        found: usize,
    },
    /// V5: operand types do not fit the instruction.
    #[error("type mismatch: `{instr}` expected {expected}, found {found}")]
    TypeMismatch {
        /// The instruction's mnemonic.
        instr: &'static str,
        /// What the instruction accepts.
        expected: String,
        /// What the stack holds.
        found: String,
    },
    /// V6: the stack at `ret` is not exactly the declared result.
    #[error("bad return: expected stack [{expected}] at `ret`, found [{found}]")]
    BadReturn {
        /// The declared result.
        expected: String,
        /// The stack found.
        found: String,
    },
    /// V7: control can run past the last instruction.
    #[error("control falls off the end of the function (end it with `ret`, `jmp` or `trap`)")]
    FallsOffEnd,
    /// V8: a call's arguments do not match the callee's parameters.
    #[error("call to `{callee}` expected arguments ({expected}), found ({found})")]
    CallMismatch {
        /// The callee's name.
        callee: String,
        /// Its parameter list.
        expected: String,
        /// The stack's top types.
        found: String,
    },
    /// V9: a `str`/`array`/`map` local may be read before any store.
    #[error("local `{local}` of type {ty} may be used before it is stored")]
    Unassigned {
        /// The local's name or index.
        local: String,
        /// Its type.
        ty: String,
    },
    /// V10: `main` has a signature `vmrun` cannot call.
    #[error(
        "`main` must be `main()` or `main(args: array<str>)`, returning nothing or int; found main{found}"
    )]
    BadMain {
        /// The signature found.
        found: String,
    },
    /// V11: the code bytes do not decode.
    #[error("{0}")]
    Decode(String),
    /// V12: a declaration is invalid (type, initializer, duplicate name).
    #[error("{0}")]
    BadDeclaration(String),
    /// V13: a function exceeds a structural limit.
    #[error("{what} exceeds the limit of {limit}")]
    LimitExceeded {
        /// What is too large.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A rule for snippets (REPL lines, see `verify_snippet`).
    #[error("{0}")]
    Snippet(String),
    /// A `rec.get`/`rec.set` field index past the record's fields.
    #[error("record `{record}` has no field {index} (it has {count})")]
    NoSuchField {
        /// The record type.
        record: String,
        /// The field index used.
        index: u32,
        /// How many fields the record has.
        count: usize,
    },
    /// A type names a record the module does not declare.
    #[error("unknown record type `{name}`{}", .suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownRecord {
        /// The name used.
        name: String,
        /// The closest declared record name, if one is close.
        suggestion: Option<String>,
    },
}

impl VerifyErrorKind {
    /// Stable rule name used in tests and the conformance suite.
    pub fn rule(&self) -> &'static str {
        match self {
            VerifyErrorKind::IndexOutOfRange { .. } => "index_out_of_range",
            VerifyErrorKind::BadJumpTarget { .. } => "bad_jump_target",
            VerifyErrorKind::StackMismatch { .. } => "stack_mismatch",
            VerifyErrorKind::StackUnderflow { .. } => "stack_underflow",
            VerifyErrorKind::TypeMismatch { .. } => "type_mismatch",
            VerifyErrorKind::BadReturn { .. } => "bad_return",
            VerifyErrorKind::FallsOffEnd => "falls_off_end",
            VerifyErrorKind::CallMismatch { .. } => "call_mismatch",
            VerifyErrorKind::Unassigned { .. } => "unassigned_local",
            VerifyErrorKind::BadMain { .. } => "bad_main",
            VerifyErrorKind::Decode(_) => "decode",
            VerifyErrorKind::BadDeclaration(_) => "bad_declaration",
            VerifyErrorKind::LimitExceeded { .. } => "limit_exceeded",
            VerifyErrorKind::Snippet(_) => "snippet",
            VerifyErrorKind::UnknownRecord { .. } => "unknown_record",
            VerifyErrorKind::NoSuchField { .. } => "index_out_of_range",
        }
    }
}

/// One verification failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The function, when the failure is inside one.
    pub func: Option<String>,
    /// Byte offset of the failing instruction in the function's code.
    pub offset: Option<u32>,
    /// Source position from the debug info, when present.
    pub pos: Option<Pos>,
    /// What failed.
    pub kind: VerifyErrorKind,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        match (&self.func, self.offset) {
            (Some(func), Some(off)) => write!(f, " (in function `{func}` at offset {off})"),
            (Some(func), None) => write!(f, " (in function `{func}`)"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Every failure found in a module (at least one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyErrors(pub Vec<VerifyError>);

impl fmt::Display for VerifyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyErrors {}
