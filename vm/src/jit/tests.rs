use super::*;
use crate::isa::{Instr, Opcode, Operand};
use crate::module::{Func, Module};
use crate::types::{FuncType, Type};
use crate::verify::verify;

/// One function `f()` of `locals` and `code`, verified.
fn module(locals: Vec<Type>, code: &[Instr]) -> VerifiedModule {
    module_with_params(vec![], locals, code)
}

#[test]
fn a_loop_runs_until_its_budget_is_spent_then_checkpoints() {
    // top: jmp top
    let m = module(
        vec![],
        &[Instr {
            op: Opcode::Jmp,
            operand: Operand::Target(0),
        }],
    );
    let mut jit = Jit::default();
    let mut frame = vec![Value::NIL; 4];
    let mut budget = 10;
    let (exit, fresh) = jit.run(
        &m,
        0,
        0,
        &mut frame,
        &mut Heap::new(1 << 20, false),
        &mut [],
        &mut budget,
    );
    assert_eq!(fresh, Some(true));
    assert_eq!(
        exit,
        Some(Exit::Checkpoint {
            branch: 0,
            target: 0,
            depth: 0
        })
    );
    // One instruction per round; stopped at the first back edge with the
    // budget spent.
    assert_eq!(budget, 0);
    // Compiled once: the second run does not compile again.
    let mut budget = 3;
    assert_eq!(
        jit.run(
            &m,
            0,
            0,
            &mut frame,
            &mut Heap::new(1 << 20, false),
            &mut [],
            &mut budget
        )
        .1,
        None
    );
}

#[test]
fn a_frame_shorter_than_the_code_needs_is_refused() {
    let m = module(
        vec![],
        &[Instr {
            op: Opcode::Jmp,
            operand: Operand::Target(0),
        }],
    );
    let mut jit = Jit::default();
    let mut budget = 10;
    let (exit, _) = jit.run(
        &m,
        0,
        0,
        &mut [],
        &mut Heap::new(1 << 20, false),
        &mut [],
        &mut budget,
    );
    assert_eq!(exit, None);
    assert_eq!(budget, 10);
}

#[test]
fn loops_with_ops_it_does_not_compile_are_remembered_as_such() {
    // top: push 1 pop push "s" pop jmp top (a string push reads the heap's
    // constant table: not compiled)
    let m = Module {
        strings: vec!["s".into()],
        ..Module::default()
    };
    let mut bytes = Vec::new();
    for i in [
        Instr {
            op: Opcode::PushStr,
            operand: Operand::Str(0),
        },
        Instr::simple(Opcode::Pop),
        Instr {
            op: Opcode::Jmp,
            operand: Operand::Target(0),
        },
    ] {
        i.encode(&mut bytes);
    }
    let m = verify(Module {
        funcs: vec![Func {
            name: "f".into(),
            ty: FuncType::new(vec![], None),
            locals: vec![],
            exported: false,
            code: bytes,
        }],
        ..m
    })
    .expect("verifies");
    let mut jit = Jit::default();
    let mut frame = vec![Value::NIL; 4];
    let mut budget = 10;
    assert_eq!(
        jit.run(
            &m,
            0,
            2,
            &mut frame,
            &mut Heap::new(1 << 20, false),
            &mut [],
            &mut budget
        ),
        (None, Some(false))
    );
    assert_eq!(
        jit.run(
            &m,
            0,
            2,
            &mut frame,
            &mut Heap::new(1 << 20, false),
            &mut [],
            &mut budget
        ),
        (None, None)
    );
}

#[test]
fn leaving_the_loop_resumes_after_the_back_edge() {
    // i := i + 1 while i < 5, on local 0 (an int, starting at 0).
    let load = Instr {
        op: Opcode::Load,
        operand: Operand::Local(0),
    };
    let store = Instr {
        op: Opcode::Store,
        operand: Operand::Local(0),
    };
    let push = |v| Instr {
        op: Opcode::PushInt,
        operand: Operand::Int(v),
    };
    let code = [
        load.clone(),
        push(1),
        Instr::simple(Opcode::Add),
        store,
        load,
        push(5),
        Instr::simple(Opcode::Lt),
        Instr {
            op: Opcode::JmpIf,
            operand: Operand::Target(0),
        },
        Instr::simple(Opcode::Ret),
    ];
    let m = module(vec![Type::Int], &code);
    let mut jit = Jit::default();
    let mut frame = vec![Value::int(0); 8];
    let mut budget = 1000;
    let (exit, _) = jit.run(
        &m,
        0,
        4,
        &mut frame,
        &mut Heap::new(1 << 20, false),
        &mut [],
        &mut budget,
    );
    // The ops fuse into IncLocal (4) and BrLocalConst (4): 8 per round.
    assert_eq!(exit, Some(Exit::Resume { pc: 8, depth: 0 }));
    assert_eq!(frame[0].as_int(), Some(5));
    assert_eq!(budget, 1000 - 5 * 8);
}

#[test]
fn array_locals_the_loop_never_stores_are_hoisted() {
    // top: load arr; load i; push 0; array.set (fused) ... store i; jmp top
    let load = |l| Instr {
        op: Opcode::Load,
        operand: Operand::Local(l),
    };
    let code = [
        load(0),
        load(1),
        Instr {
            op: Opcode::PushInt,
            operand: Operand::Int(0),
        },
        Instr::simple(Opcode::ArraySet),
        load(1),
        Instr {
            op: Opcode::PushInt,
            operand: Operand::Int(1),
        },
        Instr::simple(Opcode::Add),
        Instr {
            op: Opcode::Store,
            operand: Operand::Local(1),
        },
        Instr {
            op: Opcode::Jmp,
            operand: Operand::Target(0),
        },
    ];
    let m = module_with_params(vec![Type::array(Type::Int)], vec![Type::Int], &code);
    let last = m.func_code(0).len() - 1;
    assert_eq!(invariant_arrays(&m, 0, last), [0]);
}

/// One function `f(params)` with `locals` and `code`, verified.
fn module_with_params(params: Vec<Type>, locals: Vec<Type>, code: &[Instr]) -> VerifiedModule {
    let mut bytes = Vec::new();
    for i in code {
        i.encode(&mut bytes);
    }
    verify(Module {
        funcs: vec![Func {
            name: "f".into(),
            ty: FuncType::new(params, None),
            locals,
            exported: false,
            code: bytes,
        }],
        ..Module::default()
    })
    .expect("verifies")
}

#[test]
fn depths_computed_once_per_function_are_the_verifiers_stacks() {
    // Stacks that grow and shrink, and unreachable code after the return.
    let push = |v| Instr {
        op: Opcode::PushInt,
        operand: Operand::Int(v),
    };
    let code = [
        push(1),
        push(2),
        push(3),
        Instr::simple(Opcode::Add),
        Instr::simple(Opcode::Dup),
        push(4),
        Instr::simple(Opcode::Pop),
        Instr::simple(Opcode::Add),
        Instr::simple(Opcode::Add),
        Instr::simple(Opcode::Pop),
        Instr::simple(Opcode::Ret),
        push(7),
        Instr::simple(Opcode::Ret),
    ];
    let m = module(vec![], &code);
    let f = &m.funcs()[0];
    let depths = Depths::of(f);
    for i in 0..f.offsets.len() {
        assert_eq!(depths.at(i), f.stack_at(i).map(|s| s.len()), "op {i}");
    }
    // Reachable and unreachable ops are both there.
    assert_eq!(depths.at(3), Some(3));
    assert_eq!(depths.at(6), Some(4));
    assert_eq!(depths.at(11), None);
    assert_eq!(depths.at(f.offsets.len()), None);
}

#[test]
fn loops_past_the_code_limit_stay_interpreted_until_the_module_changes() {
    // 0: nop; 1: jmp 0. Loops (0, 1) and (1, 1) (the second leaves at once).
    let m = module(
        vec![],
        &[
            Instr::simple(Opcode::Nop),
            Instr {
                op: Opcode::Jmp,
                operand: Operand::Target(0),
            },
        ],
    );
    let mut jit = Jit {
        code_limit: PAGE,
        ..Jit::default()
    };
    let run = |jit: &mut Jit, header| {
        let mut budget = 10;
        jit.run(
            &m,
            header,
            1,
            &mut [Value::NIL; 4],
            &mut Heap::new(1 << 20, false),
            &mut [],
            &mut budget,
        )
    };
    // The first loop takes the one page there is; the second finds none
    // and stays interpreted, also when asked again.
    assert_eq!(run(&mut jit, 0).1, Some(true));
    assert_eq!(jit.code_bytes, PAGE);
    assert_eq!(run(&mut jit, 1), (None, Some(false)));
    assert_eq!(run(&mut jit, 1), (None, None));
    // The first still runs compiled.
    assert!(run(&mut jit, 0).0.is_some());
    // A new module starts from nothing.
    jit.clear();
    assert_eq!(run(&mut jit, 1).1, Some(true));
    // The default is the documented limit.
    assert_eq!(Jit::default().code_limit, MAX_CODE_BYTES);
}
