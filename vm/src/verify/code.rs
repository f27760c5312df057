//! The verified, specialized instruction set that the interpreter runs.
//!
//! Every variant specializes one generic [`Opcode`](crate::internals::isa::Opcode) for
//! operand types the verifier proved; the doc of each names its generic op.
//! Only the `*Any` forms check run-time tags. Operands are indices into the
//! function's locals, the module's globals, constants and type table, or
//! instruction indices for jumps; the verifier proved every one in range.
//!
//! The enum stays 8 bytes (checked by a test) so fetching an op is one
//! load; literals that do not fit an `i32`, and constants too wide for a
//! superinstruction's field, go through the constant table.

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
    /// Call of an import (host or library function). `ret` indexes the
    /// type table for the result type at this call site, with type
    /// variables substituted, or is `u16::MAX` for no result: the
    /// interpreter checks what the native returns against it.
    CallImport {
        import: u16,
        ret: u16,
    },
    /// `ret` from a function without result; the operand is the function's
    /// local count, where its frame record sits (see `interp`).
    Ret(u16),
    /// `ret` from a function with a result; operand as for `Ret`.
    RetVal(u16),
    /// `trap` with the string constant at this index.
    Trap(u32),
    /// `push [...]`: a new array from the literal at this index of the
    /// array-literal table.
    PushArray(u32),
    /// `is` of the type at this index of the type table.
    Is(u32),
    IsNil,
    /// `fn.ref` of callee `index` (module functions, then imports).
    FnRef(u32),
    /// `call.ref`; `ret` as for `CallImport` (used when the reference
    /// names an import).
    CallRef {
        ret: u16,
    },
    /// `rec.new` of the record type at this index of the module's records.
    RecNew(u32),
    /// `rec.get` of field `field` of record type `rec`.
    RecGet {
        rec: u16,
        field: u16,
    },
    /// `rec.set` of field `field` of record type `rec`.
    RecSet {
        rec: u16,
        field: u16,
    },
    /// Stands in for instructions no path reaches; never executed.
    Unreachable,
    /// The end of a snippet (`verify_snippet`): ends the run and hands the
    /// operand stack back. Only the verifier places it, after a snippet's
    /// last instruction; it has no bytecode form.
    Halt,

    // Superinstructions (see `fuse`): each stands for the sequence in its
    // doc, whose later ops stay in the code after it and are skipped.
    /// `load a; load b`.
    LoadLoad(u16, u16),
    /// `load a; push k; add` on ints (sub folds into a negative k).
    AddLocalConst(u16, i32),
    /// `load x; push k; add; store x` on ints.
    IncLocal(u16, i32),
    /// `load a; push k; <cmp>; jmpif/jmpifnot` on ints. `rel` is the jump
    /// target minus this op's index.
    BrLocalConst {
        cmp: Cmp,
        a: u16,
        k: i16,
        rel: i16,
    },
    /// `load a; load b; <cmp>; jmpif/jmpifnot` on ints; `rel` as above.
    BrLocalLocal {
        cmp: Cmp,
        a: u16,
        b: u16,
        rel: i16,
    },
    /// `<cmp>; jmpif/jmpifnot t` on ints.
    BrCmp {
        cmp: Cmp,
        t: u32,
    },
    /// `load a; ret` from a function with a result (local, record offset).
    RetLocal(u16, u16),
    /// `load a; load b; add; store dst` on ints.
    AddLocalsTo {
        a: u16,
        b: u16,
        dst: u16,
    },
    /// `add; store x` on ints.
    AddIntStore(u32),
    /// `load i; push k; add; store i; load i; load n; <cmp>; jmpif/jmpifnot t`
    /// on ints: a counted loop's back edge.
    /// Locals below 256 only, so the op stays 8 bytes; `rel` as above.
    IncBrLocal {
        cmp: Cmp,
        k: i8,
        i: u8,
        n: u8,
        rel: i16,
    },
    /// `load arr; load i; push k; array.set` on `array<int>`.
    ArraySetIntLocalsConst {
        arr: u16,
        i: u16,
        k: i16,
    },
    /// `add; ret` on ints (record offset).
    AddIntRet(u16),
    /// `load arr; load i; array.get` on `array<int>`.
    ArrayGetIntLocals(u16, u16),
    /// `load arr; load i; array.get` on `array<float>`.
    ArrayGetFloatLocals(u16, u16),

    // Superinstructions with a constant of any size: the twins of the
    // forms above whose constant field is too narrow. The constant is the
    // int at index `c` of the constant table (`PushConst`'s table; the
    // fuser adds it there when the `push` was a `PushSmallInt`, and adds
    // the negation for a `sub`). Each counts, traps and checks the budget
    // exactly as its small-constant twin.
    /// `load a; push k; add` on ints, with k the constant `c` (sub folds
    /// into the negated constant): the twin of `AddLocalConst`. Replaces
    /// the `load a`; the `push`, `add`/`sub` follow it.
    AddLocalConstWide(u16, u32),
    /// `load x; push k; add; store x` on ints, with k the constant `c` (sub
    /// folds into the negated constant): the twin of `IncLocal`. Replaces
    /// the first `load x`; the `push`, `add`/`sub`, `store x` follow it.
    IncLocalWide(u16, u32),
    /// `load a; push k; <cmp>; jmpif/jmpifnot` on ints, with k the constant
    /// `c` (an index below 65,536): the twin of `BrLocalConst`, `rel` as
    /// there. Replaces the `load a`; the `push`, the compare and the jump
    /// follow it.
    BrLocalConstWide {
        cmp: Cmp,
        a: u16,
        c: u16,
        rel: i16,
    },
    /// `load i; push k; add; store i; load i; load n; <cmp>; jmpif/jmpifnot t`
    /// on ints, with k the constant `c` (an index below 65,536; sub folds
    /// into the negated constant): the twin of `IncBrLocal`, locals below
    /// 256, `rel` as there. Replaces the first `load i`; the other seven
    /// ops follow it.
    IncBrLocalWide {
        cmp: Cmp,
        i: u8,
        n: u8,
        c: u16,
        rel: i16,
    },
    /// `load arr; load i; push k; array.set` on `array<int>`, with k the
    /// constant `c` (an index below 65,536): the twin of
    /// `ArraySetIntLocalsConst`. Replaces the `load arr`; `load i`, the
    /// `push` and the `array.set` follow it.
    ArraySetIntLocalsConstWide {
        arr: u16,
        i: u16,
        c: u16,
    },
}

impl Op {
    /// How many source instructions this op stands for: a superinstruction
    /// counts (and skips) its whole sequence, any other op is one. The
    /// interpreter and the JIT count instructions by it.
    pub fn span(self) -> usize {
        use Op::*;
        match self {
            LoadLoad(..) | BrCmp { .. } | AddIntStore(_) | RetLocal(..) | AddIntRet(_) => 2,
            AddLocalConst(..)
            | AddLocalConstWide(..)
            | ArrayGetIntLocals(..)
            | ArrayGetFloatLocals(..) => 3,
            IncLocal(..)
            | IncLocalWide(..)
            | BrLocalConst { .. }
            | BrLocalConstWide { .. }
            | BrLocalLocal { .. }
            | AddLocalsTo { .. }
            | ArraySetIntLocalsConst { .. }
            | ArraySetIntLocalsConstWide { .. } => 4,
            IncBrLocal { .. } | IncBrLocalWide { .. } => 8,
            _ => 1,
        }
    }

    /// The plain op a superinstruction replaced: the first op of the
    /// sequence it stands for, whose other ops follow it in the code
    /// unchanged (so the sequence is `first_op`, then the next
    /// `span() - 1` ops). Any other op is its own first op.
    ///
    /// `next` is the op after this one in the code. Only `BrCmp` needs it:
    /// its `cmp` is the condition for taking the branch, negated from the
    /// compare when the jump is a `jmpifnot`.
    pub fn first_op(self, next: Op) -> Op {
        use Op::*;
        let load = |l: u16| Load(u32::from(l));
        match self {
            LoadLoad(a, _)
            | AddLocalConst(a, _)
            | AddLocalConstWide(a, _)
            | IncLocal(a, _)
            | IncLocalWide(a, _)
            | BrLocalConst { a, .. }
            | BrLocalConstWide { a, .. }
            | BrLocalLocal { a, .. }
            | RetLocal(a, _)
            | AddLocalsTo { a, .. }
            | ArraySetIntLocalsConst { arr: a, .. }
            | ArraySetIntLocalsConstWide { arr: a, .. }
            | ArrayGetIntLocals(a, _)
            | ArrayGetFloatLocals(a, _) => load(a),
            IncBrLocal { i, .. } | IncBrLocalWide { i, .. } => load(u16::from(i)),
            BrCmp { cmp, .. } => cmp.compare_before(next),
            AddIntStore(_) | AddIntRet(_) => AddInt,
            op => op,
        }
    }

    /// Whether this superinstruction's branch looks at the budget whenever
    /// it is taken, forward too (a plain branch does only backward): the
    /// fused compare-and-branches of a local, which the interpreter runs
    /// through its check point.
    pub fn branch_always_checks(self) -> bool {
        use Op::*;
        matches!(
            self,
            BrLocalConst { .. }
                | BrLocalConstWide { .. }
                | BrLocalLocal { .. }
                | IncBrLocal { .. }
                | IncBrLocalWide { .. }
        )
    }

    /// Whether a trap inside this superinstruction's sequence counts one
    /// instruction for the sequence (the fused array accesses, which trap
    /// before counting the rest), where the plain sequence counts each op
    /// up to the trap.
    pub fn trap_counts_one(self) -> bool {
        use Op::*;
        matches!(
            self,
            ArraySetIntLocalsConst { .. }
                | ArraySetIntLocalsConstWide { .. }
                | ArrayGetIntLocals(..)
                | ArrayGetFloatLocals(..)
        )
    }

    /// This op with its jump target (if any) moved by `delta`, for placing a
    /// function's code at `delta` in the module-wide code vector.
    pub(crate) fn relocated(self, delta: u32) -> Op {
        use Op::*;
        match self {
            Jmp(t) => Jmp(t + delta),
            JmpIf(t) => JmpIf(t + delta),
            JmpIfNot(t) => JmpIfNot(t + delta),
            BrCmp { cmp, t } => BrCmp { cmp, t: t + delta },
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
            Call(_) | CallImport { .. } => Opcode::Call,
            Ret(_) | RetVal(_) => Opcode::Ret,
            Trap(_) => Opcode::Trap,
            PushArray(_) => Opcode::PushArray,
            Is(_) => Opcode::Is,
            IsNil => Opcode::IsNil,
            FnRef(_) => Opcode::FnRef,
            CallRef { .. } => Opcode::CallRef,
            RecNew(_) => Opcode::RecNew,
            RecGet { .. } => Opcode::RecGet,
            RecSet { .. } => Opcode::RecSet,
            Unreachable | Halt => return None,
            LoadLoad(..)
            | AddLocalConst(..)
            | IncLocal(..)
            | BrLocalConst { .. }
            | BrLocalLocal { .. }
            | BrCmp { .. }
            | RetLocal(..)
            | ArrayGetIntLocals(..)
            | ArrayGetFloatLocals(..)
            | AddLocalsTo { .. }
            | AddIntStore(_)
            | IncBrLocal { .. }
            | ArraySetIntLocalsConst { .. }
            | AddIntRet(_)
            | AddLocalConstWide(..)
            | IncLocalWide(..)
            | BrLocalConstWide { .. }
            | IncBrLocalWide { .. }
            | ArraySetIntLocalsConstWide { .. } => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn op_is_eight_bytes() {
        assert_eq!(std::mem::size_of::<super::Op>(), 8);
    }
}
