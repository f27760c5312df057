//! Constants of any size: a sequence whose constant is too wide for its
//! superinstruction's own field (past i16, i8 or i32, a `sub` of
//! `i32::MIN`, any i64) fuses into the op's `Wide` twin, and runs exactly
//! as the twin with a small constant does: the same instruction count, the
//! same trap at the same instruction, and the same fuel stop point for
//! every fuel.

use std::sync::Arc;

use super::*;
use crate::value::Value;
use crate::{Config, Instance, JitMode, Linker};

/// Constants too wide for a superinstruction's own field (past i16, i8 or
/// i32, a `sub` of `i32::MIN`, `i64` constants) fuse into its `Wide` twin,
/// which reads the constant (negated for a `sub`) from the constant table.
#[test]
fn sequences_with_wide_constants_fuse() {
    let load = |l| with(Opcode::Load, Operand::Local(l));
    let store = |l| with(Opcode::Store, Operand::Local(l));
    let push = |k| with(Opcode::PushInt, Operand::Int(k));
    // Locals: 0 i, 1 n, 2 arr (params), 3 s. `top` is pc 0, `end` the ret.
    let mut code = vec![
        // 0: i < 100000, out when not (a negated compare).
        load(0),
        push(100_000),
        op(Opcode::Lt),
        with(Opcode::JmpIfNot, Operand::Target(0)),
        // 4: i == 2^40, out.
        load(0),
        push(1 << 40),
        op(Opcode::Eq),
        with(Opcode::JmpIf, Operand::Target(0)),
        // 8, 12, 16: i += 5e9; i -= 3e9; i -= i64::MIN.
        load(0),
        push(5_000_000_000),
        op(Opcode::Add),
        store(0),
        load(0),
        push(3_000_000_000),
        op(Opcode::Sub),
        store(0),
        load(0),
        push(i64::MIN),
        op(Opcode::Sub),
        store(0),
        // 20: s = i - i32::MIN.
        load(0),
        push(i64::from(i32::MIN)),
        op(Opcode::Sub),
        store(3),
        // 24: arr[i] = -70000.
        load(2),
        load(0),
        push(-70_000),
        op(Opcode::ArraySet),
        // 28: i += 300; i < n: back to top.
        load(0),
        push(300),
        op(Opcode::Add),
        store(0),
        load(0),
        load(1),
        op(Opcode::Lt),
        with(Opcode::JmpIf, Operand::Target(0)),
        // 36: end.
        op(Opcode::Ret),
    ];
    let offset = |code: &[Instr], pc: usize| -> u32 {
        code[..pc].iter().map(Instr::encoded_len).sum::<usize>() as u32
    };
    for (at, to) in [(3, 36), (7, 36), (35, 0)] {
        let target = offset(&code, to);
        code[at].operand = Operand::Target(target);
    }
    let m = module_with(
        vec![Type::Int, Type::Int, Type::array(Type::Int)],
        None,
        vec![Type::Int],
        &code,
    );
    let v = verify(m).unwrap();
    let c = |k: i64| {
        let at = v.consts().iter().position(|c| *c == Const::Int(k));
        at.expect("the constant is in the table") as u32
    };
    let f = v.func_code(0);
    let fused: Vec<(usize, Op)> = [0, 4, 8, 12, 16, 20, 24, 28]
        .into_iter()
        .map(|pc| (pc, f[pc]))
        .collect();
    assert_eq!(
        fused,
        [
            (
                0,
                Op::BrLocalConstWide {
                    cmp: Cmp::Ge,
                    a: 0,
                    c: c(100_000) as u16,
                    rel: 36
                }
            ),
            (
                4,
                Op::BrLocalConstWide {
                    cmp: Cmp::Eq,
                    a: 0,
                    c: c(1 << 40) as u16,
                    rel: 32
                }
            ),
            (8, Op::IncLocalWide(0, c(5_000_000_000))),
            (12, Op::IncLocalWide(0, c(-3_000_000_000))),
            (16, Op::IncLocalWide(0, c(i64::MIN))),
            (20, Op::AddLocalConstWide(0, c(1 << 31))),
            (
                24,
                Op::ArraySetIntLocalsConstWide {
                    arr: 2,
                    i: 0,
                    c: c(-70_000) as u16
                }
            ),
            (
                28,
                Op::IncBrLocalWide {
                    cmp: Cmp::Lt,
                    i: 0,
                    n: 1,
                    c: c(300) as u16,
                    rel: -28
                }
            ),
        ]
    );
    // The rest of each sequence stays as it was: `push 100000` fits a
    // `PushSmallInt`, `push 2^40` reads the table.
    assert_eq!(
        f[1..4],
        [Op::PushSmallInt(100_000), Op::LtInt, Op::JmpIfNot(36)]
    );
    assert_eq!(f[5], Op::PushConst(c(1 << 40)));
    assert_eq!(f[24].first_op(f[25]), Op::Load(2));
}

/// A program item: an instruction, a label, or a jump to a label.
enum It {
    I(Instr),
    L(&'static str),
    J(Opcode, &'static str),
}

fn load(l: u32) -> It {
    It::I(with(Opcode::Load, Operand::Local(l)))
}

fn store(l: u32) -> It {
    It::I(with(Opcode::Store, Operand::Local(l)))
}

fn push(k: i64) -> It {
    It::I(with(Opcode::PushInt, Operand::Int(k)))
}

fn o(code: Opcode) -> It {
    It::I(op(code))
}

/// `f() -> int` with int locals 0 to 5 and an `array<int>` local 6, from
/// `items`; with the byte offset of each instruction.
fn program(items: &[It]) -> (Module, Vec<u32>) {
    let mut labels = std::collections::HashMap::new();
    let mut offsets = Vec::new();
    let mut at = 0;
    for it in items {
        match it {
            It::L(l) => {
                labels.insert(*l, at as u32);
            }
            It::I(ins) => {
                offsets.push(at as u32);
                at += ins.encoded_len();
            }
            It::J(code, _) => {
                offsets.push(at as u32);
                at += with(*code, Operand::Target(0)).encoded_len();
            }
        }
    }
    let code: Vec<Instr> = items
        .iter()
        .filter_map(|it| match it {
            It::L(_) => None,
            It::I(ins) => Some(ins.clone()),
            It::J(code, l) => Some(with(*code, Operand::Target(labels[l]))),
        })
        .collect();
    let mut locals = vec![Type::Int; 6];
    locals.push(Type::array(Type::Int));
    (module_with(vec![], Some(Type::Int), locals, &code), offsets)
}

/// How a run ended: its result, or the trap's message and the index of
/// the instruction it names; and the instructions it executed.
type Outcome = (Result<i64, (String, usize)>, u64);

fn run(items: &[It], fuel: Option<u64>, jit: JitMode) -> Outcome {
    let (m, offsets) = program(items);
    let config = Config {
        fuel,
        jit,
        ..Config::default()
    };
    let v = Arc::new(verify(m).expect("verifies"));
    let mut inst = Instance::new(v, &Linker::new(), config).expect("links");
    let r = match inst.call_index(0, &[]) {
        Ok(v) => Ok(v.and_then(Value::as_int).expect("an int result")),
        Err(t) => {
            let at = t.backtrace.first().expect("a Keel frame").offset;
            let index = offsets.iter().position(|&o| o == at).expect("an offset");
            Err((t.message, index))
        }
    };
    (r, inst.stats().instructions)
}

/// The sequences of `make(k)` fuse into `small` with `k_small` and into
/// `wide` with `k_wide`, and the two programs run alike: the same
/// outcome apart from the result (`result(k)` for constant `k`), under
/// every fuel up to a full run, with the JIT off and eager.
fn twins(make: impl Fn(i64) -> Vec<It>, k_small: i64, k_wide: i64, small: &str, wide: &str) {
    for (k, name) in [(k_small, small), (k_wide, wide)] {
        let v = verify(program(&make(k)).0).expect("verifies");
        let names: Vec<String> = v.func_code(0).iter().map(|op| format!("{op:?}")).collect();
        assert!(
            names
                .iter()
                .any(|n| n.split([' ', '(']).next() == Some(name)),
            "k = {k} fuses into {name}: {names:?}"
        );
    }
    let (a, b) = (make(k_small), make(k_wide));
    let same = |x: Outcome, y: Outcome, what: &str| {
        // Results differ with the constant; counts and traps may not.
        let strip = |o: &Outcome| (o.0.as_ref().err().cloned(), o.1);
        assert_eq!(strip(&x), strip(&y), "{small} vs {wide}, {what}");
    };
    let full = run(&a, None, JitMode::Off);
    for jit in [JitMode::Off, JitMode::Eager] {
        same(run(&a, None, jit), run(&b, None, jit), &format!("{jit:?}"));
        assert_eq!(run(&a, None, jit), full, "{small}: {jit:?} as interpreted");
    }
    for fuel in 1..=full.1 + 2 {
        let (x, y) = (
            run(&a, Some(fuel), JitMode::Off),
            run(&b, Some(fuel), JitMode::Off),
        );
        same(x, y, &format!("fuel {fuel}"));
    }
}

/// `i` from `k - 20` up to `k`: a backward fused branch on the constant,
/// with `lt` and with `ne` negated by `jmpifnot`.
#[test]
fn branches_on_wide_constants_run_as_on_small_ones() {
    for (cmp, jump) in [(Opcode::Lt, Opcode::JmpIf), (Opcode::Eq, Opcode::JmpIfNot)] {
        let make = |k: i64| {
            vec![
                push(k),
                push(20),
                o(Opcode::Sub),
                store(0),
                It::L("top"),
                load(1),
                push(1),
                o(Opcode::Add),
                store(1),
                load(0),
                push(1),
                o(Opcode::Add),
                store(0),
                load(0),
                push(k),
                o(cmp),
                It::J(jump, "top"),
                load(1),
                o(Opcode::Ret),
            ]
        };
        twins(make, 30_000, 32_768, "BrLocalConst", "BrLocalConstWide");
        twins(make, -32_768, -32_769, "BrLocalConst", "BrLocalConstWide");
        twins(make, 7, i64::MAX, "BrLocalConst", "BrLocalConstWide");
        twins(make, 7, i64::MIN + 20, "BrLocalConst", "BrLocalConstWide");
    }
    // A forward branch out of the loop, taken once: the budget is checked
    // there too.
    let make = |k: i64| {
        vec![
            push(k),
            push(20),
            o(Opcode::Sub),
            store(0),
            It::L("top"),
            load(0),
            push(k),
            o(Opcode::Ge),
            It::J(Opcode::JmpIf, "out"),
            load(0),
            push(1),
            o(Opcode::Add),
            store(0),
            It::J(Opcode::Jmp, "top"),
            It::L("out"),
            load(0),
            o(Opcode::Ret),
        ]
    };
    twins(make, 100, 1 << 40, "BrLocalConst", "BrLocalConstWide");
}

/// `s += k` and `s -= k` in place, and `t = s + k`, `u = s - k` into
/// other locals, 20 times.
#[test]
fn adds_of_wide_constants_run_as_of_small_ones() {
    let make = |k: i64| {
        vec![
            It::L("top"),
            load(0),
            push(k),
            o(Opcode::Add),
            store(0),
            load(0),
            push(k),
            o(Opcode::Add),
            store(1),
            load(0),
            push(k),
            o(Opcode::Sub),
            store(3),
            load(0),
            push(k),
            o(Opcode::Sub),
            store(0),
            load(0),
            push(k),
            o(Opcode::Add),
            store(0),
            load(2),
            push(1),
            o(Opcode::Add),
            store(2),
            load(2),
            push(20),
            o(Opcode::Lt),
            It::J(Opcode::JmpIf, "top"),
            load(1),
            o(Opcode::Ret),
        ]
    };
    let (inc, add) = (
        ("IncLocal", "IncLocalWide"),
        ("AddLocalConst", "AddLocalConstWide"),
    );
    for (big, sub_min) in [(1 << 31, i64::from(i32::MIN)), (i64::MAX, i64::MIN)] {
        twins(make, 5, big, inc.0, inc.1);
        twins(make, 5, big, add.0, add.1);
        // `sub` of the most negative i32 adds 2^31, past an i32; of
        // i64::MIN, i64::MIN itself.
        twins(make, -5, sub_min, inc.0, inc.1);
        twins(make, -5, sub_min, add.0, add.1);
    }
    // t = 20k + k, wrapping as unfused.
    let (r, _) = run(&make(i64::MAX), None, JitMode::Off);
    assert_eq!(r, Ok(21_i64.wrapping_mul(i64::MAX)));
}

/// A counted loop's back edge stepping by `k`, with the bound in a local
/// and with the bound the counter itself (the new value compared with
/// itself: never less, so the loop leaves at once).
#[test]
fn counted_loops_with_wide_steps_run_as_with_small_ones() {
    for aliased in [false, true] {
        let make = move |k: i64| {
            vec![
                push(k),
                push(20),
                o(Opcode::Mul),
                store(1),
                It::L("top"),
                load(2),
                push(1),
                o(Opcode::Add),
                store(2),
                load(0),
                push(k),
                o(Opcode::Add),
                store(0),
                load(0),
                load(if aliased { 0 } else { 1 }),
                o(Opcode::Lt),
                It::J(Opcode::JmpIf, "top"),
                load(2),
                o(Opcode::Ret),
            ]
        };
        twins(make, 127, 128, "IncBrLocal", "IncBrLocalWide");
        twins(make, 3, 1 << 33, "IncBrLocal", "IncBrLocalWide");
    }
    // Counting down: `sub` folds into the negated constant.
    let make = |k: i64| {
        vec![
            push(k),
            push(-20),
            o(Opcode::Mul),
            store(1),
            It::L("top"),
            load(2),
            push(1),
            o(Opcode::Add),
            store(2),
            load(0),
            push(k),
            o(Opcode::Sub),
            store(0),
            load(0),
            load(1),
            o(Opcode::Gt),
            It::J(Opcode::JmpIf, "top"),
            load(2),
            o(Opcode::Ret),
        ]
    };
    twins(make, 128, 129, "IncBrLocal", "IncBrLocalWide");
    twins(make, 1, 1 << 50, "IncBrLocal", "IncBrLocalWide");
}

/// `arr[j] = k` for j from 0 until it runs past the end: the same index
/// trap at the `array.set`, after the same count.
#[test]
fn array_sets_of_wide_constants_run_as_of_small_ones() {
    let make = |k: i64| {
        vec![
            push(15),
            push(0),
            o(Opcode::ArrayNew),
            store(6),
            It::L("top"),
            load(6),
            load(0),
            push(k),
            o(Opcode::ArraySet),
            load(0),
            push(1),
            o(Opcode::Add),
            store(0),
            load(0),
            push(20),
            o(Opcode::Lt),
            It::J(Opcode::JmpIf, "top"),
            load(0),
            o(Opcode::Ret),
        ]
    };
    twins(
        make,
        -32_768,
        -32_769,
        "ArraySetIntLocalsConst",
        "ArraySetIntLocalsConstWide",
    );
    twins(
        make,
        1,
        i64::MIN,
        "ArraySetIntLocalsConst",
        "ArraySetIntLocalsConstWide",
    );
    let (r, _) = run(&make(i64::MIN), None, JitMode::Off);
    assert_eq!(r, Err(("index 15 out of bounds for length 15".into(), 7)));
}

/// Past 65,536 constants, a compare with a wide constant stays unfused
/// (its twin's index field is 16 bits) and still runs; an add takes any
/// index.
#[test]
fn a_full_constant_table_falls_back_to_the_plain_sequence() {
    let mut items = Vec::new();
    for j in 0..70_000 {
        items.push(push((1 << 40) + j));
        items.push(o(Opcode::Pop));
    }
    items.extend([
        load(0),
        push(5_000_000_000),
        o(Opcode::Add),
        store(0),
        load(0),
        push(100_000),
        o(Opcode::Lt),
        It::J(Opcode::JmpIf, "end"),
        push(1),
        store(0),
        It::L("end"),
        load(0),
        o(Opcode::Ret),
    ]);
    let v = verify(program(&items).0).expect("verifies");
    let f = &v.func_code(0)[140_000..];
    assert!(
        matches!(f[0], Op::IncLocalWide(0, c) if c >= 70_000),
        "{f:?}"
    );
    assert_eq!(
        f[4..8],
        [
            Op::Load(0),
            Op::PushSmallInt(100_000),
            Op::BrCmp {
                cmp: Cmp::Lt,
                t: 140_010
            },
            Op::JmpIf(140_010)
        ],
    );
    assert_eq!(run(&items, None, JitMode::Off).0, Ok(1));
}
