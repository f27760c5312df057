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

use super::Op;

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

/// Fuses sequences in `code`. `is_target[i]` says whether any jump lands on
/// instruction `i`. `int_locals[l]` says whether local `l` has type int
/// (EqBits/NeBits also compare bools and objects; only int locals fuse).
pub(crate) fn fuse(code: &mut [Op], is_target: &[bool], int_locals: &[bool]) {
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
        let fused: Option<(Op, usize)> = match code[i..] {
            [
                Op::Load(x),
                Op::PushSmallInt(k),
                Op::AddInt | Op::SubInt,
                Op::Store(y),
                Op::Load(x2),
                Op::Load(n),
                c,
                j,
                ..,
            ] if x == y && x == x2 && free(8) && l16(x).is_some() && l16(n).is_some() => {
                let k = if code[i + 2] == Op::SubInt {
                    k.checked_neg()
                } else {
                    Some(k)
                };
                let branch = Cmp::of(c).and_then(|c| branch(c, j));
                let small = (
                    k.and_then(|k| i8::try_from(k).ok()),
                    u8::try_from(x),
                    u8::try_from(n),
                );
                match (small, branch.and_then(|(c, t)| Some((c, rel(t)?)))) {
                    ((Some(k), Ok(i), Ok(n)), Some((cmp, rel))) => {
                        Some((Op::IncBrLocal { cmp, k, i, n, rel }, 8))
                    }
                    _ => k.map(|k| (Op::IncLocal(x as u16, k), 4)),
                }
            }
            [
                Op::Load(x),
                Op::PushSmallInt(k),
                Op::AddInt | Op::SubInt,
                Op::Store(y),
                ..,
            ] if x == y && free(4) && l16(x).is_some() => {
                let k = if code[i + 2] == Op::SubInt {
                    k.checked_neg()
                } else {
                    Some(k)
                };
                k.map(|k| (Op::IncLocal(x as u16, k), 4))
            }
            [Op::Load(a), Op::PushSmallInt(k), c, j, ..]
                if free(4)
                    && l16(a).is_some()
                    && Cmp::of(c).is_some()
                    && matches!(j, Op::JmpIf(_) | Op::JmpIfNot(_)) =>
            {
                let k = i16::try_from(k).ok();
                Cmp::of(c).and_then(|c| branch(c, j)).and_then(|(cmp, t)| {
                    Some((
                        Op::BrLocalConst {
                            cmp,
                            a: a as u16,
                            k: k?,
                            rel: rel(t)?,
                        },
                        4,
                    ))
                })
            }
            [Op::Load(a), Op::Load(b), Op::AddInt, Op::Store(d), ..] if free(4) => {
                match (u16::try_from(a), u16::try_from(b), u16::try_from(d)) {
                    (Ok(a), Ok(b), Ok(dst)) => Some((Op::AddLocalsTo { a, b, dst }, 4)),
                    _ => None,
                }
            }
            [
                Op::Load(a),
                Op::Load(b),
                Op::PushSmallInt(k),
                Op::ArraySetInt,
                ..,
            ] if free(4) => match (u16::try_from(a), u16::try_from(b), i16::try_from(k)) {
                (Ok(arr), Ok(i), Ok(k)) => Some((Op::ArraySetIntLocalsConst { arr, i, k }, 4)),
                _ => fuse_load_load(code, i, a, b, false),
            },
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
            [
                Op::Load(a),
                Op::PushSmallInt(k),
                Op::AddInt | Op::SubInt,
                ..,
            ] if free(3) && l16(a).is_some() => {
                let k = if code[i + 2] == Op::SubInt {
                    k.checked_neg()
                } else {
                    Some(k)
                };
                k.map(|k| (Op::AddLocalConst(a as u16, k), 3))
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
    use super::Cmp;

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
