//! Which callees a compiled call inlines: small leaf functions whose body
//! nothing outside can see run.
//!
//! **Invariant.** An inlined body is straight-line code of at most
//! [`MAX_INLINE_OPS`] ops, with `int`, `float` and `bool` parameters and
//! result, made only of ops that cannot trap, branch, call, allocate or
//! run a helper: loads of its parameters, constants, stack shuffles, and
//! scalar arithmetic and compares (division and remainder only by a
//! constant other than 0 and -1, which cannot trap). So between the call
//! op and its return nothing looks at the callee's frame, its record, the
//! call depth or the budget: no trap can be raised there (no stack trace
//! to show), no check point is reached (the budget is only counted), and
//! no collector runs. The call site keeps what *is* observable of a call
//! (see `compile::Cx::inline_call`): the fuel check, the depth limit and
//! the value stack's room, in the interpreter's order and with its traps,
//! the call counted in `ExecStats::calls`, and every op of the callee
//! counted as an instruction.

use super::compile::plain;
use crate::types::Type;
use crate::verify::{Const, Op, VerifiedModule};

/// Most ops (superinstructions counted as the plain ops they stand for)
/// an inlined body may have, its return included.
pub(super) const MAX_INLINE_OPS: usize = 32;

/// The code indices `[start, ret)` of function `fi`'s body when a call
/// of it can be inlined (`ret` is the index of its `ret`), else `None`.
pub(super) fn leaf_body(module: &VerifiedModule, fi: usize) -> Option<(usize, usize)> {
    let f = module.funcs().get(fi)?;
    if module.snippet().is_some_and(|s| s.func == fi) {
        return None;
    }
    let np = f.num_params as usize;
    let scalar = |t: &Type| matches!(t, Type::Int | Type::Float | Type::Bool);
    if !f.local_types.get(..np)?.iter().all(scalar) {
        return None;
    }
    if let Some(t) = &module.module().funcs.get(fi)?.ty.result
        && !scalar(t)
    {
        return None;
    }
    let start = f.start as usize;
    let code = module
        .code()
        .get(start..start.checked_add(f.offsets.len())?)?;
    let mut prev = Op::Nop;
    for (i, &op) in code.iter().enumerate().take(MAX_INLINE_OPS) {
        f.stack_at(i)?;
        let op = plain(op, code.get(i + 1).copied());
        let ok = match op {
            Op::Ret(_) | Op::RetVal(_) => return Some((start, start + i)),
            Op::Load(l) => (l as usize) < np,
            Op::DivInt | Op::RemInt => {
                let k = match prev {
                    Op::PushSmallInt(k) => Some(i64::from(k)),
                    Op::PushConst(c) => match module.consts().get(c as usize) {
                        Some(Const::Int(k)) => Some(*k),
                        _ => None,
                    },
                    _ => None,
                };
                k.is_some_and(|k| k != 0 && k != -1 && k != i64::MIN)
            }
            _ => pure(op),
        };
        if !ok {
            return None;
        }
        prev = op;
    }
    None
}

/// Ops the compiler emits inline from the operand cache alone: no trap,
/// branch, call, helper, flush or look at the frame.
fn pure(op: Op) -> bool {
    use Op::*;
    matches!(
        op,
        Nop | PushSmallInt(_)
            | PushConst(_)
            | PushBool(_)
            | Pop
            | Dup
            | Swap
            | Over
            | AddInt
            | SubInt
            | MulInt
            | AndInt
            | OrInt
            | XorInt
            | AndBool
            | OrBool
            | XorBool
            | Shl
            | Shr
            | NegInt
            | NotInt
            | NotBool
            | AddFloat
            | SubFloat
            | MulFloat
            | DivFloat
            | NegFloat
            | IToF
            | LtInt
            | LeInt
            | GtInt
            | GeInt
            | EqBits
            | NeBits
            | LtFloat
            | LeFloat
            | GtFloat
            | GeFloat
            | EqFloat
            | NeFloat
    )
}
