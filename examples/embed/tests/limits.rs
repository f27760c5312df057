//! Issue 13's limits: fuel proportional to frame size, per-call deadlines
//! and interrupts that do not leak between calls, the value-stack limit and
//! a heap limiter.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use keel_vm::internals::Value;
use keel_vm::{
    CallError, Config, Engine, FuncType, Instance, JitMode, Linker, NativeCtx, TrapCode,
    VerifiedModule, WORK_PER_FUEL,
};

/// Locals of `big`'s frame.
const FRAME: usize = 60_000;

/// A spin loop, a loop calling a function with a 60,000-local frame
/// (directly, and through a function reference), each counting its
/// iterations in `n`.
fn frames_src() -> String {
    let mut s = String::from(
        ".global n: int = 0
.export spin
.export calls
.export ref_calls
.export count
.func spin()
top:
    gload n push 1 add gstore n
    jmp top
.end
.func calls()
top:
    gload n push 1 add gstore n
    call big
    jmp top
.end
.func ref_calls()
top:
    gload n push 1 add gstore n
    fn.ref big call.ref
    jmp top
.end
.func count() -> int
    gload n ret
.end
.func big()
",
    );
    for i in 0..FRAME {
        s.push_str(&format!("    .local l{i}: int\n"));
    }
    s.push_str("    ret\n.end\n");
    s
}

/// The frames module, assembled once (60,000 locals take a while in a
/// debug build).
fn frames_module() -> &'static Arc<VerifiedModule> {
    static MODULE: OnceLock<Arc<VerifiedModule>> = OnceLock::new();
    MODULE.get_or_init(|| {
        keel_assembler::load_text(
            &Engine::default(),
            &frames_src(),
            "frames.kasm",
            &Linker::new(),
        )
        .expect("assembles")
    })
}

const MODES: [JitMode; 3] = [JitMode::Off, JitMode::On, JitMode::Eager];

/// Runs `func` of the frames module at `fuel` until it runs out: the
/// iterations it completed, the instructions counted, the fuel left.
fn run_out(func: &str, fuel: u64, mode: JitMode) -> (i64, u64, Option<u64>) {
    let engine = Engine::new(Config::new().fuel(fuel).jit(mode));
    let mut inst = engine
        .instantiate(frames_module(), &Linker::new())
        .expect("links");
    let err = inst.call(func, &[]).expect_err("runs out of fuel");
    let CallError::Trap(t) = err else {
        panic!("not a trap: {err}");
    };
    assert_eq!(t.code, TrapCode::OutOfFuel, "{mode:?}: {t}");
    let instructions = inst.stats().instructions;
    let left = inst.fuel();
    inst.set_fuel(None);
    let n = inst.call_typed::<i64>("count", &[]).expect("count");
    (n, instructions, left)
}

#[test]
fn fuel_is_charged_for_frame_set_up() {
    let fuel = 200_000u64;
    for mode in [JitMode::Off, JitMode::Eager] {
        let (spins, _, _) = run_out("spin", fuel, mode);
        // Five instructions an iteration.
        assert!(
            spins >= (fuel / 5 - 1) as i64,
            "{mode:?}: {spins} spins at {fuel} fuel"
        );
        for func in ["calls", "ref_calls"] {
            let (calls, instructions, left) = run_out(func, fuel, mode);
            // Each call writes FRAME slots: at most WORK_PER_FUEL of them per
            // unit of fuel, so the work done stays within the budget's.
            let bound = fuel * WORK_PER_FUEL / FRAME as u64;
            assert!(
                calls as u64 <= bound + 1,
                "{mode:?} {func}: {calls} calls of a {FRAME}-local frame at {fuel} fuel (bound {bound})"
            );
            assert!(
                calls as u64 >= bound * 9 / 10,
                "{mode:?} {func}: only {calls} calls (expected about {bound})"
            );
            // Frame set-up is fuel, not instructions: about 7 an iteration.
            assert!(
                instructions <= 8 * (calls as u64 + 1),
                "{mode:?} {func}: {instructions} instructions for {calls} calls"
            );
            assert_eq!(left, Some(0));
        }
    }
}

#[test]
fn fuel_stop_points_agree_between_tiers() {
    for func in ["spin", "calls", "ref_calls"] {
        for fuel in [1, 3_760, 3_761, 10_000, 77_777, 200_001] {
            let off = run_out(func, fuel, JitMode::Off);
            for mode in MODES {
                assert_eq!(
                    run_out(func, fuel, mode),
                    off,
                    "{func} at {fuel} fuel: {mode:?} against the interpreter"
                );
            }
        }
    }
}

const CALLS_SRC: &str = ".export spin
.export busy
.export reenter
.func spin()
top:
    jmp top
.end
.func busy(k: int) -> int
    .local i: int
top:
    load i load k ge jmpif done
    load i push 1 add store i
    jmp top
done:
    load i ret
.end
.func reenter()
    call host.reenter ret
.end
";

/// An instance of `CALLS_SRC` in `mode`. `host.reenter` raises an
/// interrupt and then calls `spin` back (which only that interrupt stops).
fn calls_instance(config: Config) -> Instance {
    let mut linker = Linker::new();
    linker.define(
        "host.reenter",
        FuncType::new(vec![], None),
        |cx: &mut NativeCtx<'_>, _: &[Value]| {
            cx.interrupt_handle()
                .interrupt_with("raised inside the call");
            match cx.call("spin", &[]) {
                Err(CallError::Trap(t)) => Err(t),
                other => panic!("spin came back: {other:?}"),
            }
        },
    );
    let engine = Engine::new(config);
    let module =
        keel_assembler::load_text(&engine, CALLS_SRC, "calls.kasm", &linker).expect("assembles");
    engine.instantiate(&module, &linker).expect("links")
}

fn trap_of<T: std::fmt::Debug>(r: Result<T, CallError>) -> keel_vm::Trap {
    match r {
        Err(CallError::Trap(t)) => t,
        other => panic!("expected a trap, found {other:?}"),
    }
}

/// Two chunks' worth of check points and more.
const BUSY: i64 = 100_000;

#[test]
fn an_interrupt_raised_between_calls_does_not_fire_in_the_next() {
    for mode in [JitMode::Off, JitMode::Eager] {
        let mut inst = calls_instance(Config::new().jit(mode));
        assert_eq!(
            inst.call_typed::<i64>("busy", &[BUSY.into()]).ok(),
            Some(BUSY)
        );
        // A watchdog that fires after the call ended.
        inst.interrupt_handle().interrupt_with("late");
        assert_eq!(
            inst.call_typed::<i64>("busy", &[BUSY.into()]).ok(),
            Some(BUSY),
            "{mode:?}: the late interrupt stopped the next call"
        );
        // Unless the host keeps it for the next call.
        inst.keep_pending_interrupt(true);
        inst.interrupt_handle().interrupt_with("for the next call");
        let t = trap_of(inst.call_typed::<i64>("busy", &[BUSY.into()]));
        assert_eq!(t.message, "interrupted: for the next call", "{mode:?}");
        // Consumed: the call after goes through.
        assert_eq!(
            inst.call_typed::<i64>("busy", &[BUSY.into()]).ok(),
            Some(BUSY)
        );
    }
}

#[test]
fn an_interrupt_raised_during_a_call_still_fires() {
    for mode in [JitMode::Off, JitMode::Eager] {
        // From another thread (fuel only keeps a failure from hanging).
        let mut inst = calls_instance(Config::new().jit(mode).fuel(u64::MAX / 2));
        let handle = inst.interrupt_handle();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            handle.interrupt_with("stop");
        });
        let t = trap_of(inst.call("spin", &[]));
        stopper.join().expect("stopper");
        assert_eq!(
            (t.code, t.message.as_str()),
            (TrapCode::Interrupted, "interrupted: stop"),
            "{mode:?}"
        );
        // From a host function, before it calls back in: the call back in
        // is part of the same call and does not withdraw it.
        let mut inst = calls_instance(Config::new().jit(mode).fuel(100_000_000));
        let t = trap_of(inst.call("reenter", &[]));
        assert_eq!(t.code, TrapCode::Interrupted, "{mode:?}: {t}");
        assert_eq!(t.message, "interrupted: raised inside the call");
    }
}

#[test]
fn each_call_gets_its_own_deadline() {
    let limit = Duration::from_millis(300);
    for mode in [JitMode::Off, JitMode::Eager] {
        let mut inst = calls_instance(Config::new().jit(mode));
        inst.set_deadline(limit);
        assert_eq!(inst.deadline(), Some(limit));
        for round in 0..2 {
            let t0 = Instant::now();
            let t = trap_of(inst.call("spin", &[]));
            assert_eq!(t.code, TrapCode::Interrupted, "{mode:?}");
            assert_eq!(t.message, "interrupted: deadline of 300ms exceeded");
            // Not a timing assertion: the clock is what stopped it, so
            // at least the limit has passed.
            assert!(t0.elapsed() >= limit, "{mode:?} round {round}");
            eprintln!(
                "{mode:?}: stopped {:?} after the deadline",
                t0.elapsed() - limit
            );
            // The next call's time is its own: a short call finishes,
            // where a deadline carried over would stop it at once.
            assert_eq!(
                inst.call_typed::<i64>("busy", &[BUSY.into()]).ok(),
                Some(BUSY),
                "{mode:?} round {round}"
            );
        }
        // Without a deadline the spin loop stops only at its fuel.
        inst.clear_deadline();
        inst.set_fuel(Some(1_000_000));
        assert_eq!(trap_of(inst.call("spin", &[])).code, TrapCode::OutOfFuel);
    }
}

const DEEP_SRC: &str = ".export run
.func deep(n: int) -> int
    .local pad: array<int>
    load n push 1 add call deep ret
.end
.func run() -> int
    push 0 call deep ret
.end
";

/// `deep` with 1,000 locals a frame.
fn deep_src() -> String {
    let pad: String = (0..1000)
        .map(|i| format!("    .local p{i}: int\n"))
        .collect();
    DEEP_SRC.replace("    .local pad: array<int>\n", &pad)
}

#[test]
fn a_plugin_recursing_with_big_frames_stops_at_the_value_stack_limit() {
    for mode in [JitMode::Off, JitMode::Eager] {
        // Not a multiple of 16: rounded down to whole slots.
        let engine = Engine::new(Config::new().jit(mode).max_stack_bytes(1_000_007));
        let linker = Linker::new();
        let module = keel_assembler::load_text(&engine, &deep_src(), "deep.kasm", &linker)
            .expect("assembles");
        let mut inst = engine.instantiate(&module, &linker).expect("links");
        let t = trap_of(inst.call("run", &[]));
        assert_eq!(t.code, TrapCode::StackOverflow, "{mode:?}");
        assert_eq!(
            t.message, "stack overflow: value stack limit of 1000000 bytes exceeded",
            "{mode:?}"
        );
    }
}

const GROW_SRC: &str = ".global s: str = \"0123456789abcdef\"
.global n: int = 0
.export grow
.export doublings
.func grow()
top:
    gload s gload s concat gstore s
    gload n push 1 add gstore n
    jmp top
.end
.func doublings() -> int
    gload n ret
.end
";

fn grow_instance(config: Config) -> Instance {
    let engine = Engine::new(config);
    let linker = Linker::new();
    let module =
        keel_assembler::load_text(&engine, GROW_SRC, "grow.kasm", &linker).expect("assembles");
    engine.instantiate(&module, &linker).expect("links")
}

#[test]
fn a_heap_limiter_grants_growth_twice_then_refuses() {
    const MIB: usize = 1 << 20;
    // Without a limiter: how far a 1 MiB heap lets the string double.
    let mut plain = grow_instance(Config::new().max_heap_bytes(MIB));
    let t = trap_of(plain.call("grow", &[]));
    assert_eq!(
        t.message,
        format!("out of memory: heap limit of {MIB} bytes exceeded")
    );
    let plain_doublings = plain.call_typed::<i64>("doublings", &[]).expect("count");

    for mode in [JitMode::Off, JitMode::Eager] {
        let config = Config::new()
            .jit(mode)
            .max_heap_bytes(MIB)
            .max_heap_grant_bytes(64 * MIB);
        let mut inst = grow_instance(config);
        let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let inside = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let (asked, inside) = (asked.clone(), inside.clone());
            inst.set_heap_limiter(move |current, desired| {
                // Never re-entered.
                assert!(!inside.swap(true, std::sync::atomic::Ordering::SeqCst));
                let mut asked = asked.lock().unwrap();
                asked.push((current, desired));
                let grant = asked.len() <= 2;
                inside.store(false, std::sync::atomic::Ordering::SeqCst);
                grant
            });
        }
        let t = trap_of(inst.call("grow", &[]));
        let asked = asked.lock().unwrap().clone();
        // Out of memory only after the refusal, at the limit granted last.
        assert_eq!(asked.len(), 3, "{mode:?}: {asked:?}");
        assert_eq!(asked[0], (MIB, 2 * MIB), "{mode:?}");
        assert_eq!(asked[1], (2 * MIB, 4 * MIB), "{mode:?}");
        assert_eq!(asked[2], (4 * MIB, 8 * MIB), "{mode:?}");
        assert_eq!(t.code, TrapCode::OutOfMemory);
        assert_eq!(
            t.message,
            format!("out of memory: heap limit of {} bytes exceeded", 4 * MIB)
        );
        assert_eq!(inst.heap_limit(), 4 * MIB);
        // The two grants (a heap four times as large) let it go at least
        // two doublings further.
        let doublings = inst.call_typed::<i64>("doublings", &[]).expect("count");
        assert!(
            doublings >= plain_doublings + 2,
            "{mode:?}: {doublings} doublings, {plain_doublings} without the limiter"
        );
        // The instance is consistent after the refusal: collect and run on.
        inst.collect_garbage();
        assert_eq!(
            inst.call_typed::<i64>("doublings", &[]).ok(),
            Some(doublings)
        );
    }
}

#[test]
fn a_limiter_cannot_grant_past_the_reservation() {
    // The default ceiling is max_heap_bytes: a limiter can only refuse, and
    // is not even asked.
    let mut inst = grow_instance(Config::new().max_heap_bytes(1 << 20));
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    inst.set_heap_limiter(move |_, _| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        true
    });
    assert_eq!(trap_of(inst.call("grow", &[])).code, TrapCode::OutOfMemory);
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(inst.heap_limit(), 1 << 20);
}
