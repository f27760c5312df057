//! `vmrun` and the loader never panic on hostile input: truncated,
//! corrupted and random `.kbc` files and mangled `.kasm` text are rejected
//! with exit status 2 and a message (or, for a corruption that happens to
//! stay valid, accepted), never a crash.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn examples() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "kasm"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn library() -> keel_vm::Linker {
    let mut l = keel_vm::Linker::new();
    keel_stdlib::install_io(&mut l, keel_stdlib::Io::null());
    keel_stdlib::install_core(&mut l);
    l
}

fn tmp_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("keel-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs vmrun with `args`, killing it after `limit`. Returns the exit
/// status (None if it was killed) and stderr.
fn vmrun(args: &[&str], limit: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vmrun starts");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return (None, String::new());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// In-process, at volume: thousands of mutated modules through the decoder
/// and the verifier. A panic anywhere fails the test.
#[test]
fn mutated_bytecode_never_panics_the_loader_or_verifier() {
    let lib = library();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for (name, src) in examples() {
        let module = keel_assembler::assemble(&src, &name, &lib).unwrap();
        for bytes in [module.to_bytes(), module.stripped().to_bytes()] {
            for _ in 0..1500 {
                let mut b = bytes.clone();
                for _ in 0..1 + rng.below(4) {
                    match rng.below(4) {
                        0 => {
                            let i = rng.below(b.len());
                            b[i] ^= 1 << rng.below(8);
                        }
                        1 => {
                            let i = rng.below(b.len());
                            b[i] = rng.next() as u8;
                        }
                        2 => {
                            let i = rng.below(b.len());
                            b.insert(i, rng.next() as u8);
                        }
                        _ => {
                            let i = rng.below(b.len());
                            b.remove(i);
                        }
                    }
                }
                if let Ok(v) = keel_vm::Module::from_bytes(&b)
                    .map_err(|_| ())
                    .and_then(|m| keel_vm::verify(m).map_err(|_| ()))
                {
                    accepted += 1;
                    run_under_limits(v, &lib);
                }
            }
        }
    }
    eprintln!("{accepted} mutated modules still verified");
}

/// Runs every function of a verified (possibly mutated) module with
/// arguments of the right types, under small limits. Traps are fine; a
/// panic is a verifier hole or an interpreter bug.
fn run_under_limits(v: keel_vm::VerifiedModule, lib: &keel_vm::Linker) {
    let config = keel_vm::Config {
        max_call_depth: 200,
        max_heap_bytes: 8 << 20,
        fuel: Some(200_000),
        checked: true,
        ..keel_vm::Config::default()
    };
    let v = std::sync::Arc::new(v);
    let Ok(mut inst) = keel_vm::Instance::new(v.clone(), lib, config) else {
        return;
    };
    for (i, f) in v.module().funcs.iter().enumerate() {
        let args: Option<Vec<keel_vm::Value>> =
            f.ty.params
                .iter()
                .map(|t| match t {
                    keel_vm::Type::Int => Some(keel_vm::Value::int(3)),
                    keel_vm::Type::Float => Some(keel_vm::Value::float(0.5)),
                    keel_vm::Type::Bool => Some(keel_vm::Value::bool(true)),
                    keel_vm::Type::Any => Some(keel_vm::Value::NIL),
                    _ => None,
                })
                .collect();
        let args = match (args, f.ty.params.as_slice()) {
            (Some(a), _) => a,
            (None, [keel_vm::Type::Array(e)]) if **e == keel_vm::Type::Str => {
                match inst.new_str_array(&["5".into()]) {
                    Ok(a) => vec![a],
                    Err(_) => continue,
                }
            }
            _ => continue,
        };
        let _ = inst.call_index(i, &args);
    }
}

#[test]
fn truncated_random_and_corrupted_files_exit_2_with_a_message() {
    let dir = tmp_dir();
    let lib = library();
    let mut rng = Rng(42);
    for (name, src) in examples() {
        let bytes = keel_assembler::assemble(&src, &name, &lib)
            .unwrap()
            .to_bytes();
        let file = dir.join(format!("{name}.kbc"));
        // Truncations: never valid.
        for k in 0..12 {
            let len = bytes.len() * k / 12;
            write(&file, &bytes[..len]);
            let (status, err) = vmrun(&["check", file.to_str().unwrap()], Duration::from_secs(10));
            assert_eq!(status, Some(2), "truncated {name} to {len} bytes");
            assert!(
                err.starts_with("error: "),
                "no message for truncated {name}: {err}"
            );
        }
        // Corruptions: rejected with a message, or valid and then run
        // without crashing (a corrupted loop may spin: it is killed).
        for _ in 0..6 {
            let mut b = bytes.clone();
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
            write(&file, &b);
            let (status, err) = vmrun(&["check", file.to_str().unwrap()], Duration::from_secs(10));
            match status {
                Some(0) => {
                    let (status, _) = vmrun(
                        &["--max-heap", "64M", file.to_str().unwrap()],
                        Duration::from_secs(2),
                    );
                    assert!(
                        matches!(status, None | Some(0..=2)),
                        "corrupted {name} crashed: {status:?}"
                    );
                }
                Some(2) => assert!(
                    err.starts_with("error: "),
                    "no message for corrupted {name}"
                ),
                other => panic!("corrupted {name}: unexpected status {other:?}: {err}"),
            }
        }
    }
    // Random bytes, with and without the magic number.
    for n in 0..20 {
        let len = rng.below(300);
        let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if n % 2 == 0 {
            b.splice(0..0, *b"KEEL\x01\x00\x00\x00");
        }
        let file = dir.join(format!("random{n}.kbc"));
        write(&file, &b);
        let (status, err) = vmrun(&[file.to_str().unwrap()], Duration::from_secs(10));
        assert_eq!(status, Some(2), "random file {n}");
        assert!(err.starts_with("error: "), "no message for random file {n}");
    }
}

#[test]
fn mangled_assembly_exits_2_with_a_located_message() {
    let dir = tmp_dir();
    let mut rng = Rng(7);
    let junk = [
        "@",
        "\"",
        "<",
        ">>",
        "push",
        ".end",
        ":",
        "\u{e9}",
        "0x",
        "-",
        "map<",
        ".func f(",
        "9999999999999999999999",
    ];
    for (name, src) in examples() {
        let file = dir.join(&name);
        for _ in 0..8 {
            let mut s = src.clone();
            let mut at = rng.below(s.len());
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.insert_str(at, junk[rng.below(junk.len())]);
            std::fs::write(&file, &s).unwrap();
            let (status, err) = vmrun(&["check", file.to_str().unwrap()], Duration::from_secs(10));
            match status {
                Some(0) => {}
                Some(2) => assert!(
                    err.starts_with("error: ") && err.contains(" --> "),
                    "unlocated error for {name}: {err}"
                ),
                other => panic!("mangled {name}: unexpected status {other:?}: {err}"),
            }
        }
    }
}

#[test]
fn missing_file_and_bad_usage_exit_2() {
    let (status, err) = vmrun(&["/nonexistent/x.kasm"], Duration::from_secs(10));
    assert_eq!(status, Some(2));
    assert!(
        err.starts_with("error: cannot read /nonexistent/x.kasm"),
        "{err}"
    );
    let (status, _) = vmrun(&["--no-such-flag", "x.kasm"], Duration::from_secs(10));
    assert_eq!(status, Some(2));
    let (status, _) = vmrun(&[], Duration::from_secs(10));
    assert_eq!(status, Some(2));
}

/// CPU time this thread has used, in clock ticks (from
/// `/proc/thread-self/stat`), so that other processes and other test
/// threads do not count; wall-clock milliseconds where that is unreadable.
fn thread_cpu_ticks() -> u64 {
    let ticks = std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which is in parentheses):
            // state is field 3, utime 14 and stime 15.
            let rest = &s[s.rfind(')')? + 1..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        });
    ticks.unwrap_or_else(|| {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_millis() as u64
    })
}

/// A function with `loops` hot loops, one after another, each going round
/// 10,000 times (80,000 instructions: more than a budget chunk, so the
/// default JIT mode compiles every one of them).
fn many_hot_loops(loops: usize) -> String {
    let mut s = String::from(".func main()\n    .local i: int\n    .local n: int\n");
    s.push_str("    push 10000 store n\n");
    for k in 0..loops {
        s.push_str(&format!(
            "    push 0 store i\nl{k}:\n    load i push 1 add store i load i load n lt jmpif l{k}\n"
        ));
    }
    s.push_str("    ret\n.end\n");
    s
}

/// Runs `main` of [`many_hot_loops`] with the default JIT mode; returns the
/// CPU ticks the run took (at best of two runs) and the loops compiled.
fn run_hot_loops(loops: usize) -> (u64, u64) {
    let src = many_hot_loops(loops);
    let module = keel_assembler::assemble(&src, "loops.kasm", &keel_assembler::NoLibrary)
        .expect("assembles");
    let verified = std::sync::Arc::new(keel_vm::verify(module).expect("verifies"));
    let mut best = u64::MAX;
    let mut compiled = 0;
    for _ in 0..2 {
        let config = keel_vm::Config {
            jit: keel_vm::JitMode::On,
            ..keel_vm::Config::default()
        };
        let mut inst = keel_vm::Instance::new(verified.clone(), &keel_vm::Linker::new(), config)
            .expect("links");
        let t0 = thread_cpu_ticks();
        inst.call_index(0, &[]).expect("runs");
        best = best.min(thread_cpu_ticks() - t0);
        compiled = inst.stats().jit_loops;
    }
    (best.max(1), compiled)
}

/// Compiling one hot loop costs in the loop's size, not its function's: a
/// function of many hot loops runs in time linear in their number (it was
/// quadratic, as every compile computed the stack depth at every op of the
/// function). Doubling the loops at most about doubles the time.
#[test]
fn a_function_of_many_hot_loops_compiles_them_in_linear_time() {
    let (n, big) = (1500, 3000);
    let (t1, c1) = run_hot_loops(n);
    let (t2, c2) = run_hot_loops(big);
    // Where the JIT exists, every loop compiled (so the run measures it).
    if cfg!(target_arch = "x86_64") {
        assert_eq!((c1, c2), (n as u64, big as u64));
    }
    let ratio = t2 as f64 / t1 as f64;
    eprintln!("{n} loops: {t1} ticks; {big} loops: {t2} ticks (x{ratio:.2})");
    assert!(
        ratio < 2.5,
        "{n} loops: {t1} ticks; {big} loops: {t2} ticks (x{ratio:.2})"
    );
}
