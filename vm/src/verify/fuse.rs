//! Superinstructions: fuses common sequences of specialized int ops into
//! one op, so the interpreter dispatches less often.
//!
//! A fused op replaces the first op of its sequence and the others stay in
//! place, so every pc keeps its meaning (jump targets, the offset table
//! used by traces). The fused handler skips the rest of its sequence, and
//! counts every instruction of it, so `--stats` and fuel see the same
//! numbers as without fusion. A sequence is fused only when no instruction
//! after its first is a jump target, so control never enters it midway.
//!
//! Only int-specialized forms are fused: their semantics (wrapping
//! arithmetic, total comparisons whose negation is exact) make the fused
//! handlers trivially equivalent to the sequence.
//!
//! Every int constant fuses alike: one that does not fit the fused op's
//! own field goes to the op's `Wide` twin, which reads it from the
//! constant table (added there when needed), so a loop bound of 100,000
//! runs like one of 100. [`Op::first_op`] undoes a fusion: with the ops
//! left in place after it, it gives back the plain sequence.

use super::{Const, Op};

/// Comparisons on two ints, negatable exactly.
///
/// Each discriminant is a mask over the three outcomes (bit 0: less, bit 1:
/// equal, bit 2: greater) for which the comparison holds, so evaluating it
/// is a shift, not a branch: a fused compare-and-branch costs one
/// indirect jump (the dispatch), not two.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Cmp {
    /// `<`
    Lt = 0b001,
    /// `<=`
    Le = 0b011,
    /// `>`
    Gt = 0b100,
    /// `>=`
    Ge = 0b110,
    /// `==`
    Eq = 0b010,
    /// `!=`
    Ne = 0b101,
}

impl Cmp {
    fn of(op: Op) -> Option<Cmp> {
        Some(match op {
            Op::LtInt => Cmp::Lt,
            Op::LeInt => Cmp::Le,
            Op::GtInt => Cmp::Gt,
            Op::GeInt => Cmp::Ge,
            // Bits equality on ints is int equality.
            Op::EqBits => Cmp::Eq,
            Op::NeBits => Cmp::Ne,
            _ => return None,
        })
    }

    fn negate(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::Ge,
            Cmp::Le => Cmp::Gt,
            Cmp::Gt => Cmp::Le,
            Cmp::Ge => Cmp::Lt,
            Cmp::Eq => Cmp::Ne,
            Cmp::Ne => Cmp::Eq,
        }
    }

    /// The int compare that, followed by `jump`, branches exactly when this
    /// comparison holds: the inverse of how the fuser builds a branch's
    /// condition from a compare and its `jmpif` or `jmpifnot`.
    pub(crate) fn compare_before(self, jump: Op) -> Op {
        let c = if matches!(jump, Op::JmpIfNot(_)) {
            self.negate()
        } else {
            self
        };
        match c {
            Cmp::Lt => Op::LtInt,
            Cmp::Le => Op::LeInt,
            Cmp::Gt => Op::GtInt,
            Cmp::Ge => Op::GeInt,
            Cmp::Eq => Op::EqBits,
            Cmp::Ne => Op::NeBits,
        }
    }

    /// Evaluates the comparison.
    #[inline(always)]
    pub fn eval(self, a: i64, b: i64) -> bool {
        // 0 when a < b, 1 when equal, 2 when a > b.
        let outcome = u32::from(a >= b) + u32::from(a > b);
        (self as u8 >> outcome) & 1 != 0
    }
}

/// The branch of a compare-and-branch: taken when the comparison holds.
fn branch(cmp: Cmp, jump: Op) -> Option<(Cmp, u32)> {
    match jump {
        Op::JmpIf(t) => Some((cmp, t)),
        Op::JmpIfNot(t) => Some((cmp.negate(), t)),
        _ => None,
    }
}

/// The int constant of a `push` in a fused sequence: its value, and its
/// index in the constant table when the `push` reads it from there.
#[derive(Clone, Copy)]
struct Konst {
    value: i64,
    index: Option<u32>,
}

impl Konst {
    /// The int that `op` pushes, if it pushes an int constant.
    fn of(op: Op, consts: &[Const]) -> Option<Konst> {
        match op {
            Op::PushSmallInt(k) => Some(Konst {
                value: i64::from(k),
                index: None,
            }),
            Op::PushConst(c) => match consts.get(c as usize) {
                Some(Const::Int(v)) => Some(Konst {
                    value: *v,
                    index: Some(c),
                }),
                _ => None,
            },
            _ => None,
        }
    }

    /// The constant that adding it stands for when `arith` is the `add` or
    /// `sub` after the `push`: a `sub` adds the (wrapping) negation, which
    /// is exact in wrapping arithmetic, `i64::MIN` included.
    fn added(self, arith: Op) -> Konst {
        if arith != Op::SubInt {
            return self;
        }
        let value = self.value.wrapping_neg();
        Konst {
            value,
            index: self.index.filter(|_| value == self.value),
        }
    }

    /// Its index in the constant table, added there if the `push` did not
    /// read it from the table.
    fn index(self, consts: &mut Vec<Const>) -> u32 {
        match self.index {
            Some(c) => c,
            None => super::add_const(consts, Const::Int(self.value)),
        }
    }

    /// Its index in the constant table, when that is below 65,536 (as
    /// `index`; nothing is added when the new index would not fit).
    fn index16(self, consts: &mut Vec<Const>) -> Option<u16> {
        match self.index {
            Some(c) => u16::try_from(c).ok(),
            None if consts.len() <= usize::from(u16::MAX) => u16::try_from(self.index(consts)).ok(),
            None => None,
        }
    }
}

/// Fuses sequences in `code`. `is_target[i]` says whether any jump lands on
/// instruction `i`. `int_locals[l]` says whether local `l` has type int
/// (EqBits/NeBits also compare bools and objects; only int locals fuse).
/// A constant too wide for a fused op's own field is taken by the op's
/// `Wide` twin from `consts` (the table `PushConst` reads), where it is
/// added if its `push` was a `PushSmallInt` or it was negated for a `sub`:
/// every int constant fuses alike.
pub(crate) fn fuse(
    code: &mut [Op],
    is_target: &[bool],
    int_locals: &[bool],
    consts: &mut Vec<Const>,
) {
    let n = code.len();
    let mut i = 0;
    while i < n {
        let free = |len: usize| i + len <= n && (i + 1..i + len).all(|j| !is_target[j]);
        let l16 = |l: u32| {
            u16::try_from(l)
                .ok()
                .filter(|&l| int_locals.get(l as usize).copied().unwrap_or(false))
        };
        // Fused branches store their target relative to the fused op.
        let rel = |t: u32| i16::try_from(i64::from(t) - i as i64).ok();
        let konst = |op: Op| Konst::of(op, consts);
        let fused: Option<(Op, usize)> = match code[i..] {
            [
                Op::Load(x),
                p,
                arith @ (Op::AddInt | Op::SubInt),
                Op::Store(y),
                Op::Load(x2),
                Op::Load(n),
                c,
                j,
                ..,
            ] if x == y
                && x == x2
                && free(8)
                && l16(x).is_some()
                && l16(n).is_some()
                && konst(p).is_some() =>
            {
                let k = konst(p).map(|k| k.added(arith));
                let branch = Cmp::of(c)
                    .and_then(|c| branch(c, j))
                    .and_then(|(c, t)| Some((c, rel(t)?)));
                match (k, u8::try_from(x), u8::try_from(n), branch) {
                    (Some(k), Ok(i), Ok(n), Some((cmp, rel))) => match i8::try_from(k.value) {
                        Ok(k) => Some((Op::IncBrLocal { cmp, k, i, n, rel }, 8)),
                        Err(_) => match k.index16(consts) {
                            Some(c) => Some((Op::IncBrLocalWide { cmp, i, n, c, rel }, 8)),
                            None => Some((inc_local(x as u16, k, consts), 4)),
                        },
                    },
                    (k, ..) => k.map(|k| (inc_local(x as u16, k, consts), 4)),
                }
            }
            [
                Op::Load(x),
                p,
                arith @ (Op::AddInt | Op::SubInt),
                Op::Store(y),
                ..,
            ] if x == y && free(4) && l16(x).is_some() && konst(p).is_some() => konst(p)
                .map(|k| k.added(arith))
                .map(|k| (inc_local(x as u16, k, consts), 4)),
            [Op::Load(a), p, c, j, ..]
                if free(4)
                    && l16(a).is_some()
                    && konst(p).is_some()
                    && Cmp::of(c).is_some()
                    && matches!(j, Op::JmpIf(_) | Op::JmpIfNot(_)) =>
            {
                let k = konst(p);
                let branch = Cmp::of(c)
                    .and_then(|c| branch(c, j))
                    .and_then(|(c, t)| Some((c, rel(t)?)));
                match (k, branch) {
                    (Some(k), Some((cmp, rel))) => {
                        let a = a as u16;
                        match i16::try_from(k.value) {
                            Ok(k) => Some((Op::BrLocalConst { cmp, a, k, rel }, 4)),
                            Err(_) => k
                                .index16(consts)
                                .map(|c| (Op::BrLocalConstWide { cmp, a, c, rel }, 4)),
                        }
                    }
                    _ => None,
                }
            }
            [Op::Load(a), Op::Load(b), Op::AddInt, Op::Store(d), ..] if free(4) => {
                match (u16::try_from(a), u16::try_from(b), u16::try_from(d)) {
                    (Ok(a), Ok(b), Ok(dst)) => Some((Op::AddLocalsTo { a, b, dst }, 4)),
                    _ => None,
                }
            }
            [Op::Load(a), Op::Load(b), p, Op::ArraySetInt, ..] if free(4) && konst(p).is_some() => {
                let k = konst(p);
                match (u16::try_from(a), u16::try_from(b), k) {
                    (Ok(arr), Ok(at), Some(k)) => match i16::try_from(k.value) {
                        Ok(k) => Some((Op::ArraySetIntLocalsConst { arr, i: at, k }, 4)),
                        Err(_) => match k.index16(consts) {
                            Some(c) => Some((Op::ArraySetIntLocalsConstWide { arr, i: at, c }, 4)),
                            None => fuse_load_load(code, i, a, b, false),
                        },
                    },
                    _ => fuse_load_load(code, i, a, b, false),
                }
            }
            [Op::Load(a), Op::Load(b), c, j, ..]
                if free(4) && l16(a).is_some() && l16(b).is_some() =>
            {
                match Cmp::of(c)
                    .and_then(|c| branch(c, j))
                    .and_then(|(cmp, t)| Some((cmp, rel(t)?)))
                {
                    Some((cmp, rel)) => Some((
                        Op::BrLocalLocal {
                            cmp,
                            a: a as u16,
                            b: b as u16,
                            rel,
                        },
                        4,
                    )),
                    None => fuse_load_load(code, i, a, b, free(3)),
                }
            }
            [Op::Load(a), p, arith @ (Op::AddInt | Op::SubInt), ..]
                if free(3) && l16(a).is_some() && konst(p).is_some() =>
            {
                konst(p).map(|k| {
                    let (a, k) = (a as u16, k.added(arith));
                    match i32::try_from(k.value) {
                        Ok(k) => (Op::AddLocalConst(a, k), 3),
                        Err(_) => (Op::AddLocalConstWide(a, k.index(consts)), 3),
                    }
                })
            }
            // `load x; load arr; load i; array.get`: leave `load x` alone so
            // the array access fuses.
            [
                Op::Load(_),
                Op::Load(_),
                Op::Load(_),
                Op::ArrayGetInt | Op::ArrayGetFloat,
                ..,
            ] => None,
            [Op::Load(a), Op::Load(b), ..] => fuse_load_load(code, i, a, b, free(3)),
            [Op::Load(a), Op::RetVal(rec), ..] if free(2) => {
                u16::try_from(a).ok().map(|a| (Op::RetLocal(a, rec), 2))
            }
            [Op::AddInt, Op::Store(x), ..] if free(2) => Some((Op::AddIntStore(x), 2)),
            [Op::AddInt, Op::RetVal(rec), ..] if free(2) => Some((Op::AddIntRet(rec), 2)),
            [c, j, ..] if free(2) => Cmp::of(c)
                .filter(|_| !matches!(c, Op::EqBits | Op::NeBits))
                .and_then(|c| branch(c, j))
                .map(|(cmp, t)| (Op::BrCmp { cmp, t }, 2)),
            _ => None,
        };
        match fused {
            Some((op, len)) => {
                // The interpreter and the JIT skip and count by `span`.
                debug_assert_eq!(op.span(), len, "span of {op:?}");
                code[i] = op;
                i += len;
            }
            None => i += 1,
        }
    }
}

/// `load x; push k; add; store x` (k after folding a `sub`).
fn inc_local(x: u16, k: Konst, consts: &mut Vec<Const>) -> Op {
    match i32::try_from(k.value) {
        Ok(k) => Op::IncLocal(x, k),
        Err(_) => Op::IncLocalWide(x, k.index(consts)),
    }
}

/// `load a; load b` then, when the next op is an int array get, the get too.
fn fuse_load_load(code: &[Op], i: usize, a: u32, b: u32, three_free: bool) -> Option<(Op, usize)> {
    let (a, b) = (u16::try_from(a).ok()?, u16::try_from(b).ok()?);
    match code.get(i + 2) {
        Some(Op::ArrayGetInt) if three_free => Some((Op::ArrayGetIntLocals(a, b), 3)),
        Some(Op::ArrayGetFloat) if three_free => Some((Op::ArrayGetFloatLocals(a, b), 3)),
        _ => Some((Op::LoadLoad(a, b), 2)),
    }
}

#[cfg(test)]
mod tests {
    use super::{Cmp, Const, Op, fuse};

    /// Every superinstruction, old and new, built from its sequence: the
    /// fused op's `first_op` is the op it replaced, the rest of the
    /// sequence stays, and a wide constant is the one the sequence pushes.
    #[test]
    fn first_op_is_the_op_each_superinstruction_replaced() {
        use Op::*;
        let big = 5_000_000_000;
        // Locals 0, 1 and 2 are ints (2 stands for an array too: the fuser
        // does not look at array locals' types). Constant 0 is `big`.
        let cases: Vec<(&str, Vec<Op>, Option<i64>)> = vec![
            ("LoadLoad", vec![Load(0), Load(1)], None),
            (
                "AddLocalConst",
                vec![Load(0), PushSmallInt(5), SubInt],
                None,
            ),
            (
                "AddLocalConstWide",
                vec![Load(0), PushSmallInt(i32::MIN), SubInt],
                Some(1 << 31),
            ),
            (
                "IncLocal",
                vec![Load(1), PushSmallInt(1), AddInt, Store(1)],
                None,
            ),
            (
                "IncLocalWide",
                vec![Load(1), PushConst(0), AddInt, Store(1)],
                Some(big),
            ),
            (
                "BrLocalConst",
                vec![Load(0), PushSmallInt(-9), LtInt, JmpIf(0)],
                None,
            ),
            (
                "BrLocalConstWide",
                vec![Load(0), PushSmallInt(32_768), NeBits, JmpIfNot(0)],
                Some(32_768),
            ),
            (
                "BrLocalLocal",
                vec![Load(0), Load(1), LeInt, JmpIfNot(0)],
                None,
            ),
            ("BrCmp", vec![LtInt, JmpIfNot(0)], None),
            ("BrCmp", vec![GeInt, JmpIf(0)], None),
            ("RetLocal", vec![Load(2), RetVal(3)], None),
            (
                "AddLocalsTo",
                vec![Load(0), Load(1), AddInt, Store(2)],
                None,
            ),
            ("AddIntStore", vec![AddInt, Store(1)], None),
            (
                "IncBrLocal",
                vec![
                    Load(0),
                    PushSmallInt(-1),
                    SubInt,
                    Store(0),
                    Load(0),
                    Load(1),
                    GtInt,
                    JmpIf(0),
                ],
                None,
            ),
            (
                "IncBrLocalWide",
                vec![
                    Load(0),
                    PushSmallInt(128),
                    AddInt,
                    Store(0),
                    Load(0),
                    Load(0),
                    GeInt,
                    JmpIfNot(0),
                ],
                Some(128),
            ),
            (
                "ArraySetIntLocalsConst",
                vec![Load(2), Load(0), PushSmallInt(7), ArraySetInt],
                None,
            ),
            (
                "ArraySetIntLocalsConstWide",
                vec![Load(2), Load(0), PushConst(0), ArraySetInt],
                Some(big),
            ),
            ("AddIntRet", vec![AddInt, RetVal(3)], None),
            (
                "ArrayGetIntLocals",
                vec![Load(2), Load(0), ArrayGetInt],
                None,
            ),
            (
                "ArrayGetFloatLocals",
                vec![Load(2), Load(1), ArrayGetFloat],
                None,
            ),
        ];
        let mut seen = Vec::new();
        for (name, input, wide) in cases {
            let mut code = input.clone();
            let mut consts = vec![Const::Int(big)];
            let targets = vec![false; code.len()];
            fuse(&mut code, &targets, &[true; 3], &mut consts);
            let op = code[0];
            assert_eq!(
                format!("{op:?}").split([' ', '(']).next(),
                Some(name),
                "{input:?}"
            );
            assert_eq!(op.generic(), None, "{op:?} is a superinstruction");
            assert_eq!(op.span(), input.len(), "{op:?}");
            assert_eq!(op.first_op(code[1]), input[0], "{op:?}");
            assert_eq!(code[1..], input[1..], "{op:?} leaves the rest");
            let c = match op {
                AddLocalConstWide(_, c) | IncLocalWide(_, c) => Some(c),
                BrLocalConstWide { c, .. }
                | IncBrLocalWide { c, .. }
                | ArraySetIntLocalsConstWide { c, .. } => Some(u32::from(c)),
                _ => None,
            };
            let value = c.map(|c| consts[c as usize]);
            assert_eq!(value, wide.map(Const::Int), "{op:?}");
            seen.push(name);
        }
        seen.dedup();
        assert_eq!(seen.len(), 19, "every superinstruction once: {seen:?}");
        // Plain ops are their own first op.
        assert_eq!(Load(4).first_op(Nop), Load(4));
    }

    #[test]
    fn masks_evaluate_like_the_operators() {
        for (a, b) in [(1, 2), (2, 2), (3, 2), (i64::MIN, i64::MAX)] {
            assert_eq!(Cmp::Lt.eval(a, b), a < b);
            assert_eq!(Cmp::Le.eval(a, b), a <= b);
            assert_eq!(Cmp::Gt.eval(a, b), a > b);
            assert_eq!(Cmp::Ge.eval(a, b), a >= b);
            assert_eq!(Cmp::Eq.eval(a, b), a == b);
            assert_eq!(Cmp::Ne.eval(a, b), a != b);
            for c in [Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge, Cmp::Eq, Cmp::Ne] {
                assert_eq!(c.negate().eval(a, b), !c.eval(a, b));
            }
        }
    }
}
