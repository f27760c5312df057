//! Values whose copy or display form is far larger than the heap that
//! holds them: arrays that share their children. Copying one out, passing
//! one to a host function, or displaying one is bounded.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_vm::{CallError, Config, Instance, Linker, Trap, TrapCode, Val};

/// `dag(n)`: n arrays, each holding the one before twice (2^n leaves from
/// n small arrays). `words(n)`: n references to one 64 KiB string.
const SRC: &str = r#"
.export dag
.func dag(n: int) -> any
    .local x: any
    .local i: int
    push 0 store x
top:
    push 2 load x array.new store x
    load i push 1 add store i
    load i load n lt jmpif top
    load x ret
.end
.export words
.func words(n: int) -> array<str>
    load n push "x" push 65536 call str.repeat array.new ret
.end
.export show
.func show(n: int) -> any
    load n call dag call host.take_any ret
.end
.export join
.func join(n: int) -> int
    load n call words call host.take_words ret
.end
.export text
.func text(n: int) -> int
    load n call dag call str.from call str.len ret
.end
.export print_dag
.func print_dag(n: int)
    load n call dag call print ret
.end
"#;

/// Collects what `print` writes, counting bytes only.
#[derive(Default)]
struct Count(Arc<Mutex<usize>>);

impl Write for Count {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        *self.0.lock().unwrap() += b.len();
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn instance(config: Config) -> (Instance, Arc<Mutex<usize>>) {
    let written = Arc::new(Mutex::new(0));
    let mut l = Linker::new();
    keel_stdlib::install_core(&mut l);
    keel_stdlib::install_io(
        &mut l,
        keel_stdlib::Io {
            out: Arc::new(Mutex::new(Count(written.clone()))),
            input: Arc::new(Mutex::new(std::io::empty())),
        },
    );
    l.func("host.take_any", |v: Val| format!("{v:?}").len() as i64);
    l.func("host.take_words", |w: Vec<String>| w.len() as i64);
    let module = keel_assembler::assemble(SRC, "values.kasm", &l).expect("assembles");
    let module = Arc::new(keel_vm::verify(module).expect("verifies"));
    (Instance::new(module, &l, config).expect("links"), written)
}

fn trap(r: Result<Option<Val>, CallError>) -> Trap {
    match r {
        Err(CallError::Trap(t)) => t,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_result_that_shares_children_is_refused_not_copied_without_bound() {
    // Before the copy was bounded, dag(40) made 2^40 nodes.
    for limit in [1 << 20, Config::default().max_val_bytes] {
        let (mut inst, _) = instance(Config::default().max_val_bytes(limit));
        let t0 = Instant::now();
        match inst.call("dag", &[Val::Int(40)]) {
            Err(CallError::TooLarge { limit: l }) => assert_eq!(l, limit),
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(t0.elapsed() < Duration::from_secs(20));
        // Small ones still copy, and the big one stays reachable by handle.
        match inst.call("dag", &[Val::Int(2)]).unwrap() {
            Some(Val::Array(_, items)) => assert_eq!(items.len(), 2),
            other => panic!("{other:?}"),
        }
        let h = inst.call_keep("dag", &[Val::Int(40)]).unwrap().unwrap();
        assert!(matches!(inst.get(&h), Err(CallError::TooLarge { .. })));
    }
}

#[test]
fn host_function_arguments_are_copied_within_the_limit() {
    let (mut inst, _) = instance(Config::default().max_val_bytes(1 << 20));
    let t = trap(inst.call("show", &[Val::Int(40)]));
    assert_eq!(t.code, TrapCode::OutOfMemory);
    assert_eq!(
        t.message,
        "out of memory: copying a value out to the host would exceed the limit of 1048576 bytes"
    );
    assert!(inst.call_typed::<i64>("show", &[Val::Int(3)]).unwrap() > 0);
    // 1000 references to one 64 KiB string would copy 64 MB.
    let t = trap(inst.call("join", &[Val::Int(1000)]));
    assert_eq!(t.code, TrapCode::OutOfMemory);
    assert_eq!(inst.call_typed::<i64>("join", &[Val::Int(10)]).unwrap(), 10);
}

#[test]
fn str_from_of_a_shared_dag_stops_at_the_heap_limit() {
    for gc_stress in [false, true] {
        let (mut inst, _) = instance(
            Config::default()
                .max_heap_bytes(1 << 20)
                .gc_stress(gc_stress),
        );
        let t = trap(inst.call("text", &[Val::Int(30)]));
        assert_eq!(t.code, TrapCode::OutOfMemory, "{t:?}");
        assert_eq!(
            t.message,
            "out of memory: heap limit of 1048576 bytes exceeded"
        );
        // Within the limit it works: dag(3) = [[[0, 0], [0, 0]], ...].
        assert_eq!(inst.call_typed::<i64>("text", &[Val::Int(3)]).unwrap(), 36);
    }
}

#[test]
fn print_of_a_shared_dag_is_charged_as_fuel() {
    let (mut inst, written) = instance(Config::default().fuel(100_000));
    let t = trap(inst.call("print_dag", &[Val::Int(30)]));
    assert_eq!(t.code, TrapCode::OutOfFuel);
    assert_eq!(inst.fuel(), Some(0));
    // One unit per WORK_PER_FUEL bytes: less than that many bytes per unit
    // of fuel were written, and more than one piece (so the charge is per
    // piece, not for the whole form up front).
    let n = *written.lock().unwrap() as u64;
    assert!(n < 100_000 * keel_vm::WORK_PER_FUEL, "{n}");
    assert!(n >= keel_vm::DISPLAY_CHUNK as u64, "{n}");
}

#[test]
fn an_interrupt_stops_a_print_of_a_shared_dag() {
    let (mut inst, written) = instance(Config::default());
    let handle = inst.interrupt_handle();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        handle.interrupt_with("enough");
    });
    let t0 = Instant::now();
    let t = trap(inst.call("print_dag", &[Val::Int(40)]));
    stopper.join().unwrap();
    assert_eq!(t.message, "interrupted: enough");
    assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    assert!(*written.lock().unwrap() > 0);
}
