//! Issue 13's embedding API: per-instance state, wide host functions,
//! typed handles, panics as traps.

use keel_vm::{Caller, Engine, Linker, TrapCode, Val};

const SRC: &str = ".export run
.export eight
.export boom
.func run(s: str) -> int
    load s call host.count ret
.end
.func eight() -> int
    push 1 push 2 push 3 push 4 push 5 push 6 push 7 push 8 call host.sum8 ret
.end
.func boom()
    call host.boom ret
.end
";

fn linker() -> Linker {
    let mut l = Linker::new();
    l.func(
        "host.count",
        |c: &mut Caller<'_, Vec<String>>, s: String| {
            c.data_mut().push(s);
            c.data().len() as i64
        },
    );
    l.func(
        "host.sum8",
        |a: i64, b: i32, c: u32, d: i64, e: i64, f: i64, g: i64, h: u8| {
            a + i64::from(b) + i64::from(c) + d + e + f + g + i64::from(h)
        },
    );
    l.func("host.boom", || -> () { panic!("host bug") });
    l
}

#[test]
fn host_state_is_per_instance_and_errors_go_through_question_mark() -> anyhow::Result<()> {
    let engine = Engine::default();
    let linker = linker();
    let module = keel_assembler::load_text(&engine, SRC, "m.kasm", &linker)?;
    let mut a = engine.instantiate_with(&module, &linker, Vec::<String>::new())?;
    let mut b = engine.instantiate_with(&module, &linker, Vec::<String>::new())?;
    let run = a.typed_func::<(&str,), i64>("run")?;
    assert_eq!(run.call(&mut a, ("x",))?, 1);
    assert_eq!(run.call(&mut a, ("y",))?, 2);
    assert_eq!(b.call("run", &[Val::from("z")])?, Some(Val::Int(1)));
    assert_eq!(a.data::<Vec<String>>().map(Vec::len), Some(2));
    assert_eq!(b.data::<Vec<String>>().map(Vec::len), Some(1));
    assert!(
        run.call(&mut b, ("w",)).is_err(),
        "a handle of another instance is refused"
    );
    assert_eq!(a.call_typed::<i64>("eight", &[])?, 36);
    let names: Vec<_> = module.exports().map(|e| e.name).collect();
    assert_eq!(names, ["run", "eight", "boom"]);
    Ok(())
}

#[test]
fn a_panicking_host_function_traps() {
    let engine = Engine::default();
    let linker = linker();
    let module = keel_assembler::load_text(&engine, SRC, "m.kasm", &linker).unwrap();
    let mut i = engine
        .instantiate_with(&module, &linker, Vec::<String>::new())
        .unwrap();
    match i.call("boom", &[]) {
        Err(keel_vm::CallError::Trap(t)) => {
            assert_eq!(t.code, TrapCode::HostError);
            assert!(t.message.contains("panicked: host bug"), "{}", t.message);
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_eq!(
        i.call_typed::<i64>("eight", &[]).unwrap(),
        36,
        "usable after"
    );
}
