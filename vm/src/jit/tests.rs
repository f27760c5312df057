//! Unit tests of the compiler's parts; whole programs are tested against
//! the interpreter in `assembler/tests/jit_differential*.rs` and the
//! conformance suite (run under `--jit eager`).

use super::compile::plain;
use crate::verify::{Cmp, Op};

#[test]
fn superinstructions_decode_to_the_first_op_they_replaced() {
    assert_eq!(plain(Op::LoadLoad(3, 4), None), Op::Load(3));
    assert_eq!(
        plain(
            Op::IncBrLocal {
                cmp: Cmp::Lt,
                k: 1,
                i: 2,
                n: 5,
                rel: -3
            },
            None
        ),
        Op::Load(2)
    );
    assert_eq!(
        plain(Op::BrCmp { cmp: Cmp::Lt, t: 0 }, Some(Op::JmpIf(0))),
        Op::LtInt
    );
    // `lt; jmpifnot` fused with the compare negated.
    assert_eq!(
        plain(Op::BrCmp { cmp: Cmp::Ge, t: 0 }, Some(Op::JmpIfNot(0))),
        Op::LtInt
    );
    assert_eq!(plain(Op::AddIntRet(2), None), Op::AddInt);
    assert_eq!(plain(Op::AddInt, None), Op::AddInt);
}
