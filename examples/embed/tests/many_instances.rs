//! Many instances at once: two threads, 200 instances each, every one with
//! its own heap, globals and limits. Results must not leak between them.

use std::sync::Arc;

use keel_vm::{CallError, Config, Instance, Linker, TrapCode, Val};

const SRC: &str = r#"
.global calls: int
.global names: array<str>
.export bump
.func bump(tag: str) -> int
    gload calls push 1 add gstore calls
    gload names load tag array.push
    gload calls ret
.end
.export names
.func names() -> array<str>
    gload names ret
.end
.export spin
.func spin() -> int
top:
    jmp top
.end
"#;

#[test]
fn two_threads_of_two_hundred_instances_keep_to_themselves() {
    let mut linker = Linker::new();
    keel_stdlib::install_core(&mut linker);
    let module = Arc::new(
        keel_vm::verify(keel_assembler::assemble(SRC, "many.kasm", &linker).unwrap()).unwrap(),
    );
    let linker = Arc::new(linker);
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let module = module.clone();
            let linker = linker.clone();
            std::thread::spawn(move || {
                let mut instances: Vec<Instance> = (0..200)
                    .map(|i| {
                        let config = Config::default()
                            .fuel(10_000 + i as u64 * 100)
                            .max_heap_bytes(1 << 20);
                        Instance::new(module.clone(), &linker, config).unwrap()
                    })
                    .collect();
                for (i, inst) in instances.iter_mut().enumerate() {
                    let tag = format!("t{t}-i{i}");
                    assert_eq!(
                        inst.call_typed::<i64>("bump", &[Val::Str(tag.clone())])
                            .unwrap(),
                        1
                    );
                    assert_eq!(
                        inst.call_typed::<i64>("bump", &[Val::Str(tag.clone())])
                            .unwrap(),
                        2
                    );
                    assert_eq!(
                        inst.call("names", &[]).unwrap(),
                        Some(Val::Array(
                            keel_vm::Type::Str,
                            vec![Val::Str(tag.clone()), Val::Str(tag)]
                        ))
                    );
                    // Each instance's own fuel limit stops its own runaway loop.
                    match inst.call("spin", &[]) {
                        Err(CallError::Trap(t)) => assert_eq!(t.code, TrapCode::OutOfFuel),
                        other => panic!("expected out of fuel, got {other:?}"),
                    }
                    assert_eq!(inst.fuel(), Some(0));
                }
                instances.len()
            })
        })
        .collect();
    let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(total, 400);
}
