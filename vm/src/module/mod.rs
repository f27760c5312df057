//! The bytecode module: the unit the assembler produces, `.kbc` files carry,
//! and the verifier checks.
//!
//! A [`Module`] is plain data and may be arbitrary (it comes from untrusted
//! bytes); nothing may run it until [`crate::verify`] has turned it into a
//! [`crate::VerifiedModule`]. Function code stays in its encoded form here so
//! that `write(read(bytes)) == bytes` for every well-formed file.

mod kbc;
mod names;

pub use kbc::{FORMAT_VERSION, MAGIC};
pub use names::{RESERVED_WORDS, is_name, is_reserved};

use crate::isa::ArrayLit;
use crate::types::{FuncType, Type};

/// A record type declared with `.record`: a name and its fields in
/// declaration order. Field types may name any record of the module,
/// including this one.
#[derive(Clone, PartialEq, Debug)]
pub struct RecordDef {
    /// The record's name (one part, no dots).
    pub name: String,
    /// Fields as `(name, type)`, in declaration order.
    pub fields: Vec<(String, Type)>,
}

impl RecordDef {
    /// Index of the field named `name`.
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|(n, _)| n == name)
    }
}

/// A function the host must provide, named `module.name` (or a library
/// function such as `print` or `str.len`), with the signature the module
/// was compiled against.
#[derive(Clone, PartialEq, Debug)]
pub struct Import {
    /// Qualified name, for example `host.log` or `str.len`.
    pub name: String,
    /// Signature the module expects; the linker must provide exactly this.
    pub ty: FuncType,
}

/// The initial value of a global.
#[derive(Clone, PartialEq, Debug)]
pub enum GlobalInit {
    /// The type's default: `0`, `0.0`, `false`, `nil`, an empty string,
    /// array or map.
    Default,
    /// An int literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A bool literal.
    Bool(bool),
    /// A string constant (index into the constant pool).
    Str(u32),
    /// `nil` (types `any`, records and function references).
    Nil,
    /// An array literal (type `array<T>` of the literal's element type).
    Array(ArrayLit),
}

/// A module-level variable.
#[derive(Clone, PartialEq, Debug)]
pub struct Global {
    /// Name used by `gload`/`gstore` in source.
    pub name: String,
    /// Declared type.
    pub ty: Type,
    /// Initial value.
    pub init: GlobalInit,
}

/// A function with its encoded code.
#[derive(Clone, PartialEq, Debug)]
pub struct Func {
    /// Name (kept even when debug info is stripped: exports and `main` are
    /// found by name).
    pub name: String,
    /// Signature; parameters are the first locals.
    pub ty: FuncType,
    /// Types of the locals declared after the parameters.
    pub locals: Vec<Type>,
    /// Whether a host may call this function.
    pub exported: bool,
    /// Encoded instructions (see [`crate::internals::isa`]).
    pub code: Vec<u8>,
}

impl Func {
    /// Type of local `i`, counting parameters first.
    pub fn local_type(&self, i: usize) -> Option<&Type> {
        let np = self.ty.params.len();
        if i < np {
            self.ty.params.get(i)
        } else {
            self.locals.get(i - np)
        }
    }

    /// Number of locals including parameters.
    pub fn num_locals(&self) -> usize {
        self.ty.params.len() + self.locals.len()
    }
}

/// A source position, 1-based.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column in characters, from 1.
    pub col: u32,
}

/// Optional source information: names and a line table.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct DebugInfo {
    /// Source file name as given to the assembler.
    pub file: String,
    /// One entry per function, in function order.
    pub funcs: Vec<FuncDebug>,
}

/// Debug information of one function.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct FuncDebug {
    /// Position of the `.func` directive.
    pub pos: Pos,
    /// Names of locals, parameters first (may be shorter than the locals).
    pub local_names: Vec<String>,
    /// Labels as `(byte offset, name)`, in offset order.
    pub labels: Vec<(u32, String)>,
    /// Source position of each instruction as `(byte offset, position)`,
    /// in offset order.
    pub lines: Vec<(u32, Pos)>,
}

impl FuncDebug {
    /// The source position of the instruction at byte `offset`.
    pub fn pos_at(&self, offset: u32) -> Option<Pos> {
        let i = self.lines.partition_point(|(o, _)| *o <= offset);
        i.checked_sub(1).map(|i| self.lines[i].1)
    }
}

/// A bytecode module (unverified).
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Module {
    /// Name from `.module`, if any.
    pub name: Option<String>,
    /// String constant pool.
    pub strings: Vec<String>,
    /// Record types, referred to by index from `rec.*` instructions and by
    /// name from types.
    pub records: Vec<RecordDef>,
    /// Imported functions; callee indices past the module's functions.
    pub imports: Vec<Import>,
    /// Globals.
    pub globals: Vec<Global>,
    /// Functions.
    pub funcs: Vec<Func>,
    /// Names and line table, absent when stripped.
    pub debug: Option<DebugInfo>,
}

impl Module {
    /// Index of the function named `name`.
    pub fn func_index(&self, name: &str) -> Option<usize> {
        self.funcs.iter().position(|f| f.name == name)
    }

    /// Name of callee `index` (a function, then imports), if in range.
    pub fn callee_name(&self, index: u32) -> Option<&str> {
        let i = index as usize;
        match self.funcs.get(i) {
            Some(f) => Some(&f.name),
            None => self
                .imports
                .get(i - self.funcs.len())
                .map(|im| im.name.as_str()),
        }
    }

    /// Index of the record type named `name`.
    pub fn record_index(&self, name: &str) -> Option<usize> {
        self.records.iter().position(|r| r.name == name)
    }

    /// Signature of callee `index` (a function, then imports), if in range.
    pub fn callee_type(&self, index: u32) -> Option<&FuncType> {
        let i = index as usize;
        match self.funcs.get(i) {
            Some(f) => Some(&f.ty),
            None => self.imports.get(i - self.funcs.len()).map(|im| &im.ty),
        }
    }

    /// Debug info of function `func`, if present.
    pub fn func_debug(&self, func: usize) -> Option<&FuncDebug> {
        self.debug.as_ref().and_then(|d| d.funcs.get(func))
    }

    /// A copy without debug info (`vmrun asm --strip`).
    pub fn stripped(&self) -> Module {
        Module {
            debug: None,
            ..self.clone()
        }
    }
}
