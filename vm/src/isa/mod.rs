//! The portable instruction set: opcodes, operands, and their byte encoding.
//!
//! All of it is generated from the table in [`ops`]; nothing here lists
//! opcodes by hand. An encoded instruction is one opcode byte followed by its
//! operand, whose layout depends only on the opcode's [`OperandKind`].
//! Jump targets are fixed-width so an instruction's size never depends on
//! where its label lands (no relaxation passes, and a JIT can patch them):
//!
//! | kind | bytes |
//! |---|---|
//! | `None`, `Nil` | none |
//! | `Int` | zigzag LEB128 i64 |
//! | `Float` | 8 bytes, IEEE 754 little-endian |
//! | `Bool` | one byte, 0 or 1 |
//! | `Str`, `Local`, `Global`, `Func` | unsigned LEB128 u32 |
//! | `Target` | 4 bytes, u32 little-endian byte offset |
//! | `Type` | a type (see `spec/kbc.md`) |
//! | `MapTypes` | a key-type byte, then a type |
//! | `Record` | unsigned LEB128 u32 record index |
//! | `Field` | two unsigned LEB128 u32: record index, field index |
//! | `ArrayLit` | an array literal (see `spec/kbc.md`) |

mod array_lit;
mod ops;

pub use array_lit::ArrayLit;

use crate::bytes::{DecodeError, DecodeErrorKind, Reader, Writer};
use crate::types::{KeyType, Type};
use ops::for_each_op;

/// What follows an opcode byte.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum OperandKind {
    /// No operand.
    None,
    /// An `i64` literal.
    Int,
    /// An `f64` literal.
    Float,
    /// An index into the string constant pool.
    Str,
    /// A `bool` literal.
    Bool,
    /// The literal `nil` (no bytes).
    Nil,
    /// A local index (parameters first).
    Local,
    /// A global index.
    Global,
    /// A callee: module functions first, then imports.
    Func,
    /// A byte offset into the same function's code.
    Target,
    /// A type.
    Type,
    /// A map's key and value types.
    MapTypes,
    /// A record type, by index into the module's record table.
    Record,
    /// A record field: record index and field index.
    Field,
    /// An array literal.
    ArrayLit,
}

impl OperandKind {
    /// How the operand is written, for the spec's table and help texts
    /// (empty for none).
    pub fn describe(self) -> &'static str {
        match self {
            OperandKind::None => "",
            OperandKind::Int => "int literal",
            OperandKind::Float => "float literal",
            OperandKind::Str => "string literal",
            OperandKind::Bool => "`true`/`false`",
            OperandKind::Nil => "`nil`",
            OperandKind::Local => "local",
            OperandKind::Global => "global",
            OperandKind::Func => "function",
            OperandKind::Target => "label",
            OperandKind::Type => "type",
            OperandKind::MapTypes => "key type, value type",
            OperandKind::Record => "record",
            OperandKind::Field => "`Record.field`",
            OperandKind::ArrayLit => "array literal",
        }
    }
}

/// A decoded operand.
#[derive(Clone, PartialEq, Debug)]
pub enum Operand {
    /// No operand (also for `push nil`).
    None,
    /// Integer literal.
    Int(i64),
    /// Float literal.
    Float(f64),
    /// String constant index.
    Str(u32),
    /// Bool literal.
    Bool(bool),
    /// Local index.
    Local(u32),
    /// Global index.
    Global(u32),
    /// Callee index: `< funcs.len()` is a module function, the rest imports.
    Func(u32),
    /// Jump target, a byte offset in the function's code.
    Target(u32),
    /// A type.
    Type(Type),
    /// Map key and value types.
    MapTypes(KeyType, Type),
    /// Record index.
    Record(u32),
    /// Record index and field index.
    Field(u32, u32),
    /// An array literal.
    ArrayLit(ArrayLit),
}

impl Operand {
    /// The kind of this operand.
    pub fn kind(&self) -> OperandKind {
        match self {
            Operand::None => OperandKind::None,
            Operand::Int(_) => OperandKind::Int,
            Operand::Float(_) => OperandKind::Float,
            Operand::Str(_) => OperandKind::Str,
            Operand::Bool(_) => OperandKind::Bool,
            Operand::Local(_) => OperandKind::Local,
            Operand::Global(_) => OperandKind::Global,
            Operand::Func(_) => OperandKind::Func,
            Operand::Target(_) => OperandKind::Target,
            Operand::Type(_) => OperandKind::Type,
            Operand::MapTypes(..) => OperandKind::MapTypes,
            Operand::Record(_) => OperandKind::Record,
            Operand::Field(..) => OperandKind::Field,
            Operand::ArrayLit(_) => OperandKind::ArrayLit,
        }
    }
}

macro_rules! define_opcodes {
    ($($code:literal $name:ident $mn:literal $kind:ident $effect:literal $doc:literal $traps:literal;)*) => {
        /// A bytecode opcode. Generated from the table in `isa/ops.rs`.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        #[repr(u8)]
        pub enum Opcode {
            $(#[doc = $doc] $name = $code,)*
        }

        impl Opcode {
            /// Every opcode, in table order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$name,)*];

            /// The opcode for a byte, if the table defines one.
            pub fn from_byte(b: u8) -> Option<Opcode> {
                match b {
                    $($code => Some(Opcode::$name),)*
                    _ => None,
                }
            }

            /// The source mnemonic.
            pub fn mnemonic(self) -> &'static str {
                match self { $(Opcode::$name => $mn,)* }
            }

            /// What follows the opcode byte.
            pub fn operand_kind(self) -> OperandKind {
                match self { $(Opcode::$name => OperandKind::$kind,)* }
            }

            /// The stack effect in Forth notation, top of stack on the right.
            pub fn stack_effect(self) -> &'static str {
                match self { $(Opcode::$name => $effect,)* }
            }

            /// One-line description.
            pub fn summary(self) -> &'static str {
                match self { $(Opcode::$name => $doc,)* }
            }

            /// The traps the instruction can raise (empty when none).
            pub fn traps(self) -> &'static str {
                match self { $(Opcode::$name => $traps,)* }
            }
        }
    };
}

for_each_op!(define_opcodes);

impl Opcode {
    /// The opcodes spelled with `mnemonic` (several for `push`).
    pub fn by_mnemonic(mnemonic: &str) -> impl Iterator<Item = Opcode> + '_ {
        Opcode::ALL
            .iter()
            .copied()
            .filter(move |op| op.mnemonic() == mnemonic)
    }

    /// True for instructions after which control never falls through.
    pub fn is_terminator(self) -> bool {
        matches!(self, Opcode::Jmp | Opcode::Ret | Opcode::Trap)
    }
}

/// One decoded instruction.
#[derive(Clone, PartialEq, Debug)]
pub struct Instr {
    /// The operation.
    pub op: Opcode,
    /// Its operand; its kind always equals `op.operand_kind()`.
    pub operand: Operand,
}

impl Instr {
    /// An instruction without operand.
    pub fn simple(op: Opcode) -> Instr {
        Instr {
            op,
            operand: Operand::None,
        }
    }

    /// Appends the encoding of this instruction.
    ///
    /// # Panics
    ///
    /// When the operand's kind does not match the opcode's (a bug in the
    /// caller: the assembler builds operands from `op.operand_kind()`).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.op as u8);
        match (&self.operand, self.op.operand_kind()) {
            (Operand::None, OperandKind::None | OperandKind::Nil) => {}
            (Operand::Int(v), OperandKind::Int) => out.sleb(*v),
            (Operand::Float(v), OperandKind::Float) => out.extend_from_slice(&v.to_le_bytes()),
            (Operand::Bool(b), OperandKind::Bool) => out.push(u8::from(*b)),
            (Operand::Target(t), OperandKind::Target) => out.extend_from_slice(&t.to_le_bytes()),
            (Operand::Str(i) | Operand::Local(i) | Operand::Global(i) | Operand::Func(i), _)
                if self.operand.kind() == self.op.operand_kind() =>
            {
                out.uleb(u64::from(*i))
            }
            (Operand::Type(t), OperandKind::Type) => out.ty(t),
            (Operand::MapTypes(k, v), OperandKind::MapTypes) => {
                out.key_type(*k);
                out.ty(v);
            }
            (Operand::Record(r), OperandKind::Record) => out.uleb(u64::from(*r)),
            (Operand::Field(r, f), OperandKind::Field) => {
                out.uleb(u64::from(*r));
                out.uleb(u64::from(*f));
            }
            (Operand::ArrayLit(lit), OperandKind::ArrayLit) => out.array_lit(lit),
            (operand, kind) => panic!(
                "operand {operand:?} does not fit {:?} (expects {kind:?})",
                self.op
            ),
        }
    }

    /// The encoded length in bytes.
    pub fn encoded_len(&self) -> usize {
        let mut v = Vec::new();
        self.encode(&mut v);
        v.len()
    }
}

/// Decodes one instruction from `r`.
pub(crate) fn decode_instr(r: &mut Reader<'_>) -> Result<Instr, DecodeError> {
    let byte = r.u8("opcode")?;
    let Some(op) = Opcode::from_byte(byte) else {
        return Err(r.err_at(r.pos() - 1, DecodeErrorKind::UnknownOpcode(byte)));
    };
    let operand = match op.operand_kind() {
        OperandKind::None | OperandKind::Nil => Operand::None,
        OperandKind::Int => Operand::Int(r.sleb("int operand")?),
        OperandKind::Float => Operand::Float(r.f64_le("float operand")?),
        OperandKind::Bool => match r.u8("bool operand")? {
            0 => Operand::Bool(false),
            1 => Operand::Bool(true),
            b => {
                return Err(r.err(DecodeErrorKind::BadByte {
                    what: "bool operand",
                    byte: b,
                }));
            }
        },
        OperandKind::Str => Operand::Str(r.u32("string index")?),
        OperandKind::Local => Operand::Local(r.u32("local index")?),
        OperandKind::Global => Operand::Global(r.u32("global index")?),
        OperandKind::Func => Operand::Func(r.u32("function index")?),
        OperandKind::Target => Operand::Target(r.u32_le("jump target")?),
        OperandKind::Type => Operand::Type(r.ty()?),
        OperandKind::MapTypes => {
            let k = r.key_type()?;
            Operand::MapTypes(k, r.ty()?)
        }
        OperandKind::Record => Operand::Record(r.u32("record index")?),
        OperandKind::Field => {
            let rec = r.u32("record index")?;
            Operand::Field(rec, r.u32("field index")?)
        }
        OperandKind::ArrayLit => Operand::ArrayLit(r.array_lit()?),
    };
    Ok(Instr { op, operand })
}

/// Decodes a whole function body into `(byte offset, instruction)` pairs.
///
/// `base` is the offset of `code` inside the enclosing file, used in errors.
///
/// # Errors
///
/// A [`DecodeError`] for an unknown opcode or a truncated operand.
pub fn decode_code(code: &[u8], base: usize) -> Result<Vec<(u32, Instr)>, DecodeError> {
    let mut r = Reader::new(code, base);
    let mut out = Vec::new();
    while !r.at_end() {
        let at = r.pos() as u32;
        out.push((at, decode_instr(&mut r)?));
    }
    Ok(out)
}

/// Renders the instruction reference (`spec/isa.md`) from the table.
pub fn render_isa_markdown() -> String {
    let mut s = String::from(
        "# Keel instruction set\n\n\
         <!-- Generated from vm/src/isa/ops.rs by `BLESS=1 cargo test -p keel-vm isa_doc`. Do not edit. -->\n\n\
         Stack effects use Forth notation: `( before -- after )`, top of stack on the right.\n\
         The opcode byte is followed by the operand encoding of its kind (see `kbc.md`).\n\
         Which typed form each generic instruction takes is decided by the verifier (see\n\
         `verifier.md`); trap messages are listed in `semantics.md`.\n\n\
         | opcode | mnemonic | operand | stack effect | description | traps |\n\
         |---|---|---|---|---|---|\n",
    );
    for op in Opcode::ALL {
        let operand = op.operand_kind().describe();
        s.push_str(&format!(
            "| `0x{:02x}` | `{}` | {} | `{}` | {} | {} |\n",
            *op as u8,
            op.mnemonic(),
            operand,
            op.stack_effect(),
            op.summary().replace('|', "\\|"),
            op.traps()
        ));
    }
    s
}

#[cfg(test)]
mod tests;
