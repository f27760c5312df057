//! Hostile re-entrancy: host functions that call back into the plugin that
//! called them, with collections and deep nesting in between.

use std::sync::Arc;

use keel_vm::internals::Value;
use keel_vm::{CallError, Config, FuncType, Instance, JitMode, Linker, Trap, TrapCode, Type, Val};

fn instance(src: &str, linker: &Linker, config: Config) -> Instance {
    let module = keel_assembler::assemble(src, "plugin.kasm", linker).expect("assembles");
    let module = Arc::new(keel_vm::verify(module).expect("verifies"));
    Instance::new(module, linker, config).expect("links")
}

fn host_trap(e: CallError) -> Trap {
    match e {
        CallError::Trap(t) => t,
        e => Trap::new(TrapCode::HostError, e.to_string()),
    }
}

/// `host.keep()` allocates a string, calls back into `churn` (which
/// collects and allocates arrays that could reuse the string's slot), and
/// returns the string.
const KEEP: &str = r#"
.export run
.func run() -> int
    .local i: int
    .local total: int
top:
    call host.keep call str.len load total add store total
    load i push 1 add store i
    load i push 20 lt jmpif top
    load total ret
.end
.export churn
.func churn()
    .local i: int
    call gc.collect
top:
    push 8 push 7 array.new pop
    push 3 push "x" array.new pop
    load i push 1 add store i
    load i push 50 lt jmpif top
    call gc.collect
    ret
.end
"#;

fn keep_linker() -> Linker {
    let mut l = Linker::new();
    keel_stdlib::install_core(&mut l);
    l.define(
        "host.keep",
        FuncType::new(vec![], Some(Type::Str)),
        |cx, _| {
            let s = cx.new_str("kept by the host")?;
            cx.call("churn", &[]).map_err(host_trap)?;
            Ok(Some(s))
        },
    );
    l
}

#[test]
fn host_scratch_roots_survive_a_reentrant_call_that_collects() {
    for gc_stress in [false, true] {
        let config = Config::default().gc_stress(gc_stress);
        let mut inst = instance(KEEP, &keep_linker(), config);
        assert_eq!(
            inst.call_typed::<i64>("run", &[]).unwrap(),
            20 * "kept by the host".len() as i64,
            "gc_stress {gc_stress}"
        );
    }
}

/// `host.wrap(n)` calls `inner(n)` back and returns a new string made from
/// its result; `inner` nests another `host.wrap` call below it, so strings
/// of several host frames are alive at once while collections run.
#[test]
fn nested_host_frames_keep_their_strings() {
    const SRC: &str = r#"
.export inner
.func inner(n: int) -> str
    call gc.collect
    load n push 0 le jmpif leaf
    load n push 1 sub call host.wrap
    push 4 push "pad" array.new pop
    ret
leaf:
    push "leaf" ret
.end
"#;
    let mut l = Linker::new();
    keel_stdlib::install_core(&mut l);
    l.define(
        "host.wrap",
        FuncType::new(vec![Type::Int], Some(Type::Str)),
        |cx, args| {
            let n = args[0].as_int().unwrap_or(0);
            let before = cx.new_str(format!("<{n}"))?;
            let inner = match cx.call("inner", &[Val::Int(n)]).map_err(host_trap)? {
                Some(Val::Str(s)) => s,
                other => return Err(Trap::new(TrapCode::HostError, format!("{other:?}"))),
            };
            let after = cx.new_str(format!("{n}>"))?;
            let whole = format!("{}{inner}{}", cx.str(before), cx.str(after));
            Ok(Some(cx.new_str(whole)?))
        },
    );
    for gc_stress in [false, true] {
        let mut inst = instance(SRC, &l, Config::default().gc_stress(gc_stress));
        let got = inst.call_typed::<String>("inner", &[Val::Int(3)]).unwrap();
        assert_eq!(got, "<2<1<0leaf0>1>2>");
    }
}

/// `rec(n)`: `n` levels of Keel -> host -> Keel, each running a short loop.
const REC: &str = r#"
.export rec
.func rec(n: int) -> int
    .local i: int
top:
    load i push 1 add store i
    load i push 50 lt jmpif top
    load n push 0 le jmpif zero
    load n push 1 sub call host.down ret
zero:
    push 0 ret
.end
"#;

fn rec_linker() -> Linker {
    let mut l = Linker::new();
    keel_stdlib::install_core(&mut l);
    l.define(
        "host.down",
        FuncType::new(vec![Type::Int], Some(Type::Int)),
        |cx, args| {
            let n = args[0].as_int().unwrap_or(0);
            match cx.call("rec", &[Val::Int(n)]).map_err(host_trap)? {
                Some(Val::Int(r)) => Ok(Some(Value::int(r + 1))),
                other => Err(Trap::new(TrapCode::HostError, format!("{other:?}"))),
            }
        },
    );
    l
}

/// Each level nests native frames: without a bound of its own, a plugin
/// recursing through a host function overflowed the native stack (and
/// aborted the host) long before the call depth limit of 100 000.
#[test]
fn host_recursion_far_beyond_the_limit_traps_cleanly_on_a_small_thread() {
    for jit in [JitMode::Off, JitMode::On, JitMode::Eager] {
        for checked in [false, true] {
            // 1 MiB: half of what a test thread gets, and the default limit
            // must still fit in a debug build.
            let outcome = std::thread::Builder::new()
                .stack_size(1 << 20)
                .spawn(move || {
                    let config = Config::default().jit(jit).checked(checked);
                    let mut inst = instance(REC, &rec_linker(), config);
                    let deep = inst.call("rec", &[Val::Int(1_000_000)]);
                    // Still usable, and a nesting within the limit works.
                    let within = inst.call_typed::<i64>("rec", &[Val::Int(30)]);
                    (deep, within)
                })
                .unwrap()
                .join()
                .expect("no native stack overflow");
            match outcome.0 {
                Err(CallError::Trap(t)) => {
                    assert_eq!(t.code, TrapCode::StackOverflow);
                    assert_eq!(
                        t.message,
                        format!(
                            "stack overflow: host call nesting limit {} exceeded",
                            keel_vm::DEFAULT_MAX_HOST_DEPTH
                        )
                    );
                }
                other => panic!("expected a stack overflow, got {other:?}"),
            }
            assert_eq!(outcome.1.unwrap(), 30);
        }
    }
}

#[test]
fn the_host_nesting_limit_is_configurable() {
    let config = Config::default().max_host_depth(5);
    let mut inst = instance(REC, &rec_linker(), config);
    assert_eq!(inst.call_typed::<i64>("rec", &[Val::Int(5)]).unwrap(), 5);
    let t = host_trap(inst.call("rec", &[Val::Int(6)]).unwrap_err());
    assert_eq!(
        t.message,
        "stack overflow: host call nesting limit 5 exceeded"
    );
    // The call depth limit still counts Keel and host frames together.
    let config = Config::default().max_call_depth(20);
    let mut inst = instance(REC, &rec_linker(), config);
    let t = host_trap(inst.call("rec", &[Val::Int(25)]).unwrap_err());
    assert_eq!(t.message, "stack overflow: call depth limit 20 exceeded");
}
