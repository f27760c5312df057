//! The verified, specialized instruction set that the interpreter runs.
//!
//! Every variant specializes one generic [`Opcode`](crate::isa::Opcode) for
//! operand types the verifier proved; the doc of each names its generic op.
//! Only the `*Any` forms check run-time tags. Operands are indices into the
//! function's locals, the module's globals, constants and type table, or
//! instruction indices for jumps; the verifier proved every one in range.
//!
//! The enum stays 12 bytes (checked by a test) so dispatch touches little
//! memory; literals that do not fit an `i32` go through the constant table.

use super::fuse::Cmp;
use crate::isa::Opcode;

/// A specialized instruction.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(missing_docs)] // each variant's generic op is named by `generic()`
pub enum Op {
    Nop,
    /// `push` of an int that fits in i32.
    PushSmallInt(i32),
    /// `push` of an int or float from the constant table.
    PushConst(u32),
    /// `push` of a string constant (heap object made at instantiation).
    PushStr(u32),
    PushBool(bool),
    PushNil,
    Pop,
    Dup,
    Swap,
    Over,
    Load(u32),
    Store(u32),
    GLoad(u32),
    GStore(u32),
    AddInt,
    AddFloat,
    AddAny,
    SubInt,
    SubFloat,
    SubAny,
    MulInt,
    MulFloat,
    MulAny,
    DivInt,
    DivFloat,
    DivAny,
    RemInt,
    RemFloat,
    RemAny,
    NegInt,
    NegFloat,
    NegAny,
    AndBool,
    AndInt,
    OrBool,
    OrInt,
    XorBool,
    XorInt,
    NotBool,
    NotInt,
    Shl,
    Shr,
    /// `eq` on int, bool, array or map (raw payload, identity for objects).
    EqBits,
    EqFloat,
    EqStr,
    EqAny,
    NeBits,
    NeFloat,
    NeStr,
    NeAny,
    LtInt,
    LtFloat,
    LtStr,
    LtAny,
    LeInt,
    LeFloat,
    LeStr,
    LeAny,
    GtInt,
    GtFloat,
    GtStr,
    GtAny,
    GeInt,
    GeFloat,
    GeStr,
    GeAny,
    IToF,
    FToI,
    /// `cast` to the type at this index of the type table.
    Cast(u32),
    Concat,
    ArrayNewInt,
    ArrayNewFloat,
    /// `array.new` with elements of the type at this index of the type table.
    ArrayNewVal(u32),
    ArrayGetInt,
    ArrayGetFloat,
    ArrayGetVal,
    ArraySetInt,
    ArraySetFloat,
    ArraySetVal,
    ArrayLen,
    ArrayPushInt,
    ArrayPushFloat,
    ArrayPushVal,
    ArrayPopInt,
    ArrayPopFloat,
    ArrayPopVal,
    /// `map.new`; the map type is at this index of the type table.
    MapNew(u32),
    MapGet,
    MapGetOr,
    MapSet,
    MapHas,
    MapDel,
    MapLen,
    MapKeys,
    Jmp(u32),
    JmpIf(u32),
    JmpIfNot(u32),
    /// Call of a module function.
    Call(u32),
    /// Call of an import (host or library function).
    CallImport(u32),
    /// `ret` from a function without result.
    Ret,
    /// `ret` from a function with a result.
    RetVal,
    /// `trap` with the string constant at this index.
    Trap(u32),
    /// Stands in for instructions no path reaches; never executed.
    Unreachable,

    // Superinstructions (see `fuse`): each stands for the sequence in its
    // doc, whose later ops stay in the code after it and are skipped.
    /// `load a; load b`.
    LoadLoad(u16, u16),
    /// `load a; push k; add` on ints (sub folds into a negative k).
    AddLocalConst(u16, i32),
    /// `load x; push k; add; store x` on ints.
    IncLocal(u16, i32),
    /// `load a; push k; <cmp>; jmpif/jmpifnot t` on ints.
    BrLocalConst { cmp: Cmp, a: u16, k: i32, t: u32 },
    /// `load a; load b; <cmp>; jmpif/jmpifnot t` on ints.
    BrLocalLocal { cmp: Cmp, a: u16, b: u16, t: u32 },
    /// `<cmp>; jmpif/jmpifnot t` on ints.
    BrCmp { cmp: Cmp, t: u32 },
    /// `load a; ret` from a function with a result.
    RetLocal(u16),
    /// `load a; load b; add; store dst` on ints.
    AddLocalsTo { a: u16, b: u16, dst: u16 },
    /// `add; store x` on ints.
    AddIntStore(u32),
    /// `load i; push k; add; store i; load i; load n; <cmp>; jmpif/jmpifnot t`
    /// on ints: a counted loop's back edge.
    IncBrLocal { cmp: Cmp, i: u16, k: i16, n: u16, t: u32 },
    /// `load arr; load i; push k; array.set` on `array<int>`.
    ArraySetIntLocalsConst { arr: u16, i: u16, k: i32 },
    /// `load a; push k; add; call f` on ints: a call whose one argument is
    /// a local plus a constant (recursion such as `f(n - 1)`).
    CallLocalConst { f: u16, a: u16, k: i32 },
    /// `add; ret` on ints.
    AddIntRet,
    /// `load arr; load i; array.get` on `array<int>`.
    ArrayGetIntLocals(u16, u16),
    /// `load arr; load i; array.get` on `array<float>`.
    ArrayGetFloatLocals(u16, u16),
}

impl Op {
    /// This op with its jump target (if any) moved by `delta`, for placing a
    /// function's code at `delta` in the module-wide code vector.
    pub(crate) fn relocated(self, delta: u32) -> Op {
        use Op::*;
        match self {
            Jmp(t) => Jmp(t + delta),
            JmpIf(t) => JmpIf(t + delta),
            JmpIfNot(t) => JmpIfNot(t + delta),
            BrLocalConst { cmp, a, k, t } => BrLocalConst { cmp, a, k, t: t + delta },
            BrLocalLocal { cmp, a, b, t } => BrLocalLocal { cmp, a, b, t: t + delta },
            BrCmp { cmp, t } => BrCmp { cmp, t: t + delta },
            IncBrLocal { cmp, i, k, n, t } => IncBrLocal { cmp, i, k, n, t: t + delta },
            op => op,
        }
    }

    /// The generic opcode this instruction specializes (`None` for
    /// superinstructions and `Unreachable`).
    pub fn generic(self) -> Option<Opcode> {
        use Op::*;
        Some(match self {
            Nop => Opcode::Nop,
            PushSmallInt(_) | PushConst(_) => Opcode::PushInt,
            PushStr(_) => Opcode::PushStr,
            PushBool(_) => Opcode::PushBool,
            PushNil => Opcode::PushNil,
            Pop => Opcode::Pop,
            Dup => Opcode::Dup,
            Swap => Opcode::Swap,
            Over => Opcode::Over,
            Load(_) => Opcode::Load,
            Store(_) => Opcode::Store,
            GLoad(_) => Opcode::GLoad,
            GStore(_) => Opcode::GStore,
            AddInt | AddFloat | AddAny => Opcode::Add,
            SubInt | SubFloat | SubAny => Opcode::Sub,
            MulInt | MulFloat | MulAny => Opcode::Mul,
            DivInt | DivFloat | DivAny => Opcode::Div,
            RemInt | RemFloat | RemAny => Opcode::Rem,
            NegInt | NegFloat | NegAny => Opcode::Neg,
            AndBool | AndInt => Opcode::And,
            OrBool | OrInt => Opcode::Or,
            XorBool | XorInt => Opcode::Xor,
            NotBool | NotInt => Opcode::Not,
            Shl => Opcode::Shl,
            Shr => Opcode::Shr,
            EqBits | EqFloat | EqStr | EqAny => Opcode::Eq,
            NeBits | NeFloat | NeStr | NeAny => Opcode::Ne,
            LtInt | LtFloat | LtStr | LtAny => Opcode::Lt,
            LeInt | LeFloat | LeStr | LeAny => Opcode::Le,
            GtInt | GtFloat | GtStr | GtAny => Opcode::Gt,
            GeInt | GeFloat | GeStr | GeAny => Opcode::Ge,
            IToF => Opcode::IToF,
            FToI => Opcode::FToI,
            Cast(_) => Opcode::Cast,
            Concat => Opcode::Concat,
            ArrayNewInt | ArrayNewFloat | ArrayNewVal(_) => Opcode::ArrayNew,
            ArrayGetInt | ArrayGetFloat | ArrayGetVal => Opcode::ArrayGet,
            ArraySetInt | ArraySetFloat | ArraySetVal => Opcode::ArraySet,
            ArrayLen => Opcode::ArrayLen,
            ArrayPushInt | ArrayPushFloat | ArrayPushVal => Opcode::ArrayPush,
            ArrayPopInt | ArrayPopFloat | ArrayPopVal => Opcode::ArrayPop,
            MapNew(_) => Opcode::MapNew,
            MapGet => Opcode::MapGet,
            MapGetOr => Opcode::MapGetOr,
            MapSet => Opcode::MapSet,
            MapHas => Opcode::MapHas,
            MapDel => Opcode::MapDel,
            MapLen => Opcode::MapLen,
            MapKeys => Opcode::MapKeys,
            Jmp(_) => Opcode::Jmp,
            JmpIf(_) => Opcode::JmpIf,
            JmpIfNot(_) => Opcode::JmpIfNot,
            Call(_) | CallImport(_) => Opcode::Call,
            Ret | RetVal => Opcode::Ret,
            Trap(_) => Opcode::Trap,
            Unreachable => return None,
            LoadLoad(..)
            | AddLocalConst(..)
            | IncLocal(..)
            | BrLocalConst { .. }
            | BrLocalLocal { .. }
            | BrCmp { .. }
            | RetLocal(_)
            | ArrayGetIntLocals(..)
            | ArrayGetFloatLocals(..)
            | AddLocalsTo { .. }
            | AddIntStore(_)
            | IncBrLocal { .. }
            | ArraySetIntLocalsConst { .. }
            | CallLocalConst { .. }
            | AddIntRet => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn op_is_twelve_bytes() {
        assert_eq!(std::mem::size_of::<super::Op>(), 12);
    }
}
