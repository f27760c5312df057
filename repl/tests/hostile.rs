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
    let config = keel_vm::Config::default()
        .max_call_depth(200)
        .max_heap_bytes(8 << 20)
        .fuel(200_000)
        .checked(true);
    let v = std::sync::Arc::new(v);
    let Ok(mut inst) = keel_vm::Instance::new(v.clone(), lib, config) else {
        return;
    };
    for (i, f) in v.module().funcs.iter().enumerate() {
        let args: Option<Vec<keel_vm::internals::Value>> =
            f.ty.params
                .iter()
                .map(|t| match t {
                    keel_vm::Type::Int => Some(keel_vm::internals::Value::int(3)),
                    keel_vm::Type::Float => Some(keel_vm::internals::Value::float(0.5)),
                    keel_vm::Type::Bool => Some(keel_vm::internals::Value::bool(true)),
                    keel_vm::Type::Any => Some(keel_vm::internals::Value::NIL),
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
            b.splice(0..0, *b"KEEL\x02\x00\x00\x00");
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

/// `vmrun dis` cannot be made to show code the module does not have: a
/// `.kbc` whose function name holds a newline and a fake body (the real
/// code prints "EVIL", the name makes the listing read as printing
/// "hello") is rejected at load, located at the name's byte offset, and
/// nothing is listed. Every other name-bearing section is checked too.
#[test]
fn names_that_would_inject_lines_into_a_listing_are_rejected_at_load() {
    let dir = tmp_dir();
    let src = ".func main()\n    push \"EVIL\"\n    call print\n    ret\n.end\n";
    let good = keel_assembler::assemble(src, "evil.kasm", &library()).expect("assembles");
    let fake = "main()\n    push \"hello\"\n    call print\n    ret\n.end\n\n.func unused";
    type Edit = fn(&mut keel_vm::Module, &str);
    let edits: [(&str, Edit); 5] = [
        ("function name", |m, n| m.funcs[0].name = n.into()),
        ("import name", |m, n| m.imports[0].name = n.into()),
        ("module name", |m, n| m.name = Some(n.into())),
        ("local name", |m, n| {
            m.debug.as_mut().unwrap().funcs[0].local_names = vec![n.into()];
        }),
        ("label name", |m, n| {
            m.debug.as_mut().unwrap().funcs[0].labels = vec![(0, n.into())];
        }),
    ];
    for (what, edit) in edits {
        let mut m = good.clone();
        edit(&mut m, fake);
        let file = dir.join("evil.kbc");
        write(&file, &m.to_bytes());
        let out = Command::new(env!("CARGO_BIN_EXE_vmrun"))
            .args(["dis", file.to_str().unwrap()])
            .output()
            .expect("vmrun runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stdout}{stderr}");
        assert!(!stdout.contains("hello"), "{what}: listed {stdout}");
        assert!(
            stderr.contains("invalid bytecode at byte ")
                && stderr.contains(&format!("invalid {what} \"main()\\n")),
            "{what}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    }
    // The module as assembled lists and runs as before.
    let file = dir.join("good.kbc");
    write(&file, &good.to_bytes());
    let out = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .args(["dis", file.to_str().unwrap()])
        .output()
        .expect("vmrun runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("push \"EVIL\""));
}

/// Runs `vmrun check FILE` with stderr to a file (diagnostics of a big
/// file overflow a pipe), killing it after `limit`. Returns the time
/// taken, the exit status (None if killed) and how many bytes it wrote.
fn timed_check(file: &Path, limit: Duration) -> (Duration, Option<i32>, u64) {
    let err_path = file.with_extension("stderr");
    let err_file = std::fs::File::create(&err_path).unwrap();
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .args(["check", file.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(err_file))
        .spawn()
        .expect("vmrun starts");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let written = std::fs::metadata(&err_path).map_or(0, |m| m.len());
    (elapsed, status, written)
}

/// `vmrun check` on a file made by `make(n)` and on one made by
/// `make(4 * n)`: the time and the output may grow at most 2.5x per
/// doubling (6.25x for four times the input; quadratic work grows 16x).
/// The machine is shared, so a time ratio is measured up to three times
/// (each the best of two runs) and one good measurement passes; quadratic
/// work fails them all.
fn assert_check_near_linear(what: &str, n: usize, status: i32, make: &dyn Fn(usize) -> String) {
    let dir = tmp_dir();
    let files: Vec<PathBuf> = [n, 4 * n]
        .iter()
        .map(|n| {
            let file = dir.join(format!("scale-{what}-{n}.kasm").replace(' ', "_"));
            std::fs::write(&file, make(*n)).unwrap();
            file
        })
        .collect();
    let measure = |file: &Path| {
        (0..2)
            .map(|_| {
                let (t, code, written) = timed_check(file, Duration::from_secs(60));
                assert_eq!(
                    code,
                    Some(status),
                    "{what}: {}: killed or wrong status",
                    file.display()
                );
                (t, written)
            })
            .min()
            .unwrap()
    };
    let mut ratios = Vec::new();
    for _ in 0..3 {
        let (t1, out1) = measure(&files[0]);
        let (t2, out2) = measure(&files[1]);
        assert!(
            out2 <= out1 * 5,
            "{what}: four times the input wrote {out1} -> {out2} bytes"
        );
        let ratio = t2.as_secs_f64() / t1.as_secs_f64();
        eprintln!("{what}: {t1:?} -> {t2:?} ({ratio:.2}x), output {out1} -> {out2} bytes");
        if ratio < 6.25 {
            return;
        }
        ratios.push(ratio);
    }
    panic!("{what}: four times the input took {ratios:.2?} times as long");
}

/// A file of many errors renders every diagnostic (each with its line and
/// caret) in near-linear time: the source is indexed once, not scanned
/// from the start for each diagnostic.
#[test]
fn many_diagnostics_render_in_near_linear_time() {
    assert_check_near_linear("errors on separate lines", 6000, 2, &|n| {
        (0..n)
            .map(|i| format!(".func f{i}()\n    load nope\n.end\n"))
            .collect()
    });
}

/// One long line: the column of every instruction (for the line table)
/// and of every diagnostic is found in near-linear total time, and each
/// diagnostic shows a window of the line, not all of it.
#[test]
fn one_long_line_assembles_and_reports_in_near_linear_time() {
    assert_check_near_linear("one long line", 12_500, 0, &|n| {
        format!(".func main() {}ret .end\n", "push 1 pop ".repeat(n))
    });
    assert_check_near_linear("errors on one line", 6000, 2, &|n| {
        let mut s: String = (0..n)
            .map(|i| format!(".func f{i}() load nope .end "))
            .collect();
        s.push('\n');
        s
    });
}

/// Function code built instruction by instruction, for modules too big to
/// commit: generated in the test and written as `.kbc` bytes.
#[derive(Default)]
struct Code(Vec<u8>);

impl Code {
    fn emit(
        &mut self,
        op: keel_vm::internals::isa::Opcode,
        operand: keel_vm::internals::isa::Operand,
    ) -> &mut Self {
        keel_vm::internals::isa::Instr { op, operand }.encode(&mut self.0);
        self
    }

    fn op(&mut self, op: keel_vm::internals::isa::Opcode) -> &mut Self {
        keel_vm::internals::isa::Instr::simple(op).encode(&mut self.0);
        self
    }

    fn here(&self) -> u32 {
        self.0.len() as u32
    }
}

fn len_of(op: keel_vm::internals::isa::Opcode, operand: keel_vm::internals::isa::Operand) -> u32 {
    keel_vm::internals::isa::Instr { op, operand }.encoded_len() as u32
}

fn func(
    name: &str,
    ty: keel_vm::FuncType,
    locals: Vec<keel_vm::Type>,
    code: Code,
) -> keel_vm::Func {
    keel_vm::Func {
        name: name.into(),
        ty,
        locals,
        exported: false,
        code: code.0,
    }
}

/// Writes `module` as `.kbc` bytes under the temp dir as `name`.
fn kbc_file(name: &str, module: &keel_vm::Module) -> PathBuf {
    let path = tmp_dir().join(name);
    write(&path, &module.to_bytes());
    path
}

/// Deletes the generated files (they are megabytes each).
fn remove(paths: &[&Path]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

/// Runs `vmrun check FILE` under `/usr/bin/time`: asserts it accepts the
/// file, and returns its CPU time (user + system, which other load on the
/// machine disturbs less than wall time) and peak resident size in KiB.
fn check_child(path: &Path) -> (Duration, u64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%U %S %M"])
        .arg(env!("CARGO_BIN_EXE_vmrun"))
        .arg("check")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("/usr/bin/time runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "vmrun check {}: {err}",
        path.display()
    );
    let last: Vec<f64> = err
        .lines()
        .last()
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let [user, sys, kib] = last[..] else {
        panic!("no times in {err:?}");
    };
    (Duration::from_secs_f64(user + sys), kib as u64)
}

/// For each of two files, the fastest of three runs (the least disturbed
/// by other load) and the largest peak RSS; the runs alternate between the
/// files so that a burst of load hits both alike.
fn best_of_three(a: &Path, b: &Path) -> ((Duration, u64), (Duration, u64)) {
    let mut best = [(Duration::MAX, 0u64); 2];
    for _ in 0..3 {
        for (slot, path) in best.iter_mut().zip([a, b]) {
            let (t, m) = check_child(path);
            *slot = (slot.0.min(t), slot.1.max(m));
        }
    }
    (best[0], best[1])
}

/// Fails when the cost grows more than ~2.5x per doubling of the input
/// (`factor` is how many times bigger the second input is: a power of 2).
/// `resolution` is the measurement's granularity (`/usr/bin/time` counts
/// CPU time in 10 ms ticks, so a 20 ms reading means 20-30 ms): the ratio
/// compared is the smallest the readings allow, `big` at its lowest over
/// `small` at its highest, so a rounding never fails the test.
fn assert_near_linear(what: &str, factor: f64, small: f64, big: f64, resolution: f64) {
    let doublings = factor.log2();
    let ratio = (big - resolution).max(0.0) / (small + resolution).max(1e-3);
    let limit = 2.5f64.powf(doublings);
    eprintln!(
        "{what}: {small:.3} -> {big:.3} (x{ratio:.2} for {factor}x the input, limit x{limit:.2})"
    );
    assert!(
        ratio < limit,
        "{what}: {factor}x the input cost {ratio:.2}x as much ({small:.3} -> {big:.3})"
    );
}

/// `locals` str locals, all stored in the entry block, then `blocks` basic
/// blocks (one `jmp` each), then `blocks / 4` diamonds that store a
/// different local on one arm (every join intersects two different sets),
/// then a block that loads every local: each load is upward-exposed, so
/// definite assignment must carry every local through every block. A bitset
/// per block took locals x blocks / 8 bytes (1.6 GB for 65,000 locals and
/// 200,000 blocks).
fn many_locals_many_blocks(locals: u32, blocks: u32) -> keel_vm::Module {
    use keel_vm::internals::isa::{Opcode as O, Operand};
    use keel_vm::{FuncType, Type};
    let mut c = Code::default();
    for i in 0..locals {
        c.emit(O::PushStr, Operand::Str(0))
            .emit(O::Store, Operand::Local(i));
    }
    for _ in 0..blocks {
        let next = c.here() + len_of(O::Jmp, Operand::Target(0));
        c.emit(O::Jmp, Operand::Target(next));
    }
    for b in 0..blocks / 4 {
        let l = b % locals;
        let arm = len_of(O::PushStr, Operand::Str(0)) + len_of(O::Store, Operand::Local(l));
        let join = c.here()
            + len_of(O::PushBool, Operand::Bool(true))
            + len_of(O::JmpIf, Operand::Target(0))
            + arm;
        c.emit(O::PushBool, Operand::Bool(true))
            .emit(O::JmpIf, Operand::Target(join))
            .emit(O::PushStr, Operand::Str(0))
            .emit(O::Store, Operand::Local(l));
        assert_eq!(c.here(), join);
    }
    for i in 0..locals {
        c.emit(O::Load, Operand::Local(i)).op(O::Pop);
    }
    c.op(O::Ret);
    keel_vm::Module {
        strings: vec![String::new()],
        funcs: vec![func(
            "main",
            FuncType::default(),
            vec![Type::Str; locals as usize],
            c,
        )],
        ..keel_vm::Module::default()
    }
}

#[test]
fn definite_assignment_is_linear_in_time_and_memory() {
    let small = kbc_file("da_small.kbc", &many_locals_many_blocks(16_250, 50_000));
    // The size from the issue: 65,000 str locals and 200,000 blocks.
    let big = kbc_file("da_big.kbc", &many_locals_many_blocks(65_000, 200_000));
    let ((t_small, m_small), (t_big, m_big)) = best_of_three(&small, &big);
    if std::env::var_os("KEEP_KBC").is_none() {
        remove(&[&small, &big]);
    }
    assert_near_linear(
        "CPU seconds to check many locals and blocks",
        4.0,
        t_small.as_secs_f64(),
        t_big.as_secs_f64(),
        0.01,
    );
    assert_near_linear(
        "peak RSS (KiB) to check many locals and blocks",
        4.0,
        m_small as f64,
        m_big as f64,
        0.0,
    );
    assert!(
        m_big < 256 * 1024,
        "65,000 locals x 200,000 blocks took {m_big} KiB to check"
    );
}

/// Runs `vmrun ARGS` under `/usr/bin/time -f %M` with `stdin`, killing it
/// after a minute. Returns the exit status (None if killed), stderr and
/// the process's peak resident size in KiB.
fn vmrun_peak(args: &[&str], stdin: Stdio) -> (Option<i32>, String, u64) {
    let dir = tmp_dir();
    let report = dir.join(format!("time-{}.txt", args.join("_").replace('/', "_")));
    let _ = std::fs::remove_file(&report);
    let mut child = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_vmrun"))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/time runs (the memory tests need it)");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            return (None, String::new(), u64::MAX);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let text = std::fs::read_to_string(&report).unwrap_or_default();
    // The last line holds %M (a line before it may say the command failed).
    let kib = text
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no peak size from /usr/bin/time: {text:?}"));
    (status.code(), err, kib)
}

/// Resident memory allowed on top of the heap limit: the vmrun binary,
/// its allocator and buffers (a trivial program peaks at about 7 MiB in a
/// debug build; the programs below stay within 8 MiB of the limit).
const RSS_OVERHEAD_KIB: u64 = 16 << 10;

/// Library functions that build results proportional to their input check
/// the heap limit before they build: under `--max-heap 32M`, a 24 MB
/// string through `str.chars` (which once reached 894 MB resident),
/// `str.split` and the rest traps `out of memory` with the process's peak
/// resident size within the limit plus [`RSS_OVERHEAD_KIB`].
#[test]
fn library_results_are_charged_before_they_are_built() {
    if keel_vm::GC_STRESS_BUILD {
        return; // measures the normal build; under GC stress every allocation collects
    }
    let dir = tmp_dir();
    let s24 = r#"push "abcdefghijklmnopqrstuvwx" push 1000000 call str.repeat"#;
    let ints = "push 3000000 push 7 array.new";
    let big = dir.join("big-40m.txt");
    std::fs::write(&big, "a".repeat(40 << 20)).unwrap();
    let read_big = format!("push {:?} call fs.read pop", big.to_str().unwrap());
    let cases: Vec<(&str, String)> = vec![
        ("chars", format!("{s24} call str.chars pop")),
        ("split", format!(r#"{s24} push "a" call str.split pop"#)),
        ("upper", format!("{s24} call str.upper pop")),
        ("lower", format!("{s24} call str.lower pop")),
        ("trim", format!("{s24} call str.trim pop")),
        (
            "slice",
            format!("{s24} push 0 push 23000000 call str.slice pop"),
        ),
        (
            "join",
            r#"push 1500000 push "abcdefghijklmnop" array.new push "" call str.join pop"#.into(),
        ),
        ("sort", format!("{ints} call array.sort")),
        (
            "aslice",
            format!("{ints} push 0 push 3000000 call array.slice pop"),
        ),
        ("fsread", read_big),
    ];
    let grant = format!("--allow-read={}", dir.display());
    for (name, body) in cases {
        let file = dir.join(format!("charged-{name}.kasm"));
        std::fs::write(&file, format!(".func main()\n    {body}\n    ret\n.end\n")).unwrap();
        let (status, err, kib) = vmrun_peak(
            &["--max-heap", "32M", &grant, file.to_str().unwrap()],
            Stdio::null(),
        );
        eprintln!("{name}: peak {kib} KiB");
        assert_eq!(status, Some(1), "{name}: {err}");
        assert!(err.contains("out of memory"), "{name}: {err}");
        assert!(
            kib <= (32 << 10) + RSS_OVERHEAD_KIB,
            "{name}: peak resident {kib} KiB under --max-heap 32M"
        );
    }
    // In place: reversing needs no copy, so it fits and finishes.
    let file = dir.join("charged-reverse.kasm");
    std::fs::write(
        &file,
        format!(".func main()\n    {ints} call array.reverse\n    ret\n.end\n"),
    )
    .unwrap();
    let (status, err, kib) = vmrun_peak(
        &["--max-heap", "32M", file.to_str().unwrap()],
        Stdio::null(),
    );
    assert_eq!(status, Some(0), "{err}");
    assert!(kib <= (32 << 10) + RSS_OVERHEAD_KIB, "reverse: {kib} KiB");
}

/// `io.read_line` of a 64 MB line under `--max-heap 1M` stops at the
/// limit instead of reading the whole line into host memory.
#[test]
fn a_long_input_line_is_read_within_the_heap_limit() {
    if keel_vm::GC_STRESS_BUILD {
        return; // measures the normal build; under GC stress every allocation collects
    }
    let dir = tmp_dir();
    let input = dir.join("long-line.txt");
    std::fs::write(&input, "x".repeat(64 << 20)).unwrap();
    let prog = dir.join("read-line.kasm");
    std::fs::write(
        &prog,
        ".func main()\n    call io.read_line pop\n    ret\n.end\n",
    )
    .unwrap();
    let stdin = Stdio::from(std::fs::File::open(&input).unwrap());
    let (status, err, kib) = vmrun_peak(&["--max-heap", "1M", prog.to_str().unwrap()], stdin);
    eprintln!("read_line: peak {kib} KiB");
    assert_eq!(status, Some(1), "{err}");
    assert!(err.contains("out of memory"), "{err}");
    assert!(kib <= (1 << 10) + RSS_OVERHEAD_KIB, "peak {kib} KiB");
}

/// Waits for `child` to exit, at most `limit`: its status, or `None` (the
/// child killed and reaped) when it was still running.
fn wait_at_most(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `--timeout` stops `vmrun` even while the program is blocked reading a
/// stdin that never delivers: the read waits in slices and looks at the
/// interrupt flag between them, so the run ends with the timeout's trap
/// (its trace, the trap status), not the watchdog's stop of a process
/// blocked outside the interpreter.
#[test]
fn timeout_stops_a_run_blocked_on_stdin() {
    let dir = tmp_dir();
    let prog = dir.join("blocked.kasm");
    std::fs::write(
        &prog,
        ".func main()\n    push \"before\" call print\n    call io.read_line pop\n    ret\n.end\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .args(["--timeout", "200ms", prog.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Keep stdin open and silent until the child is gone.
    let _stdin = child.stdin.take();
    let status = wait_at_most(&mut child, Duration::from_secs(20));
    let status = status.expect("vmrun --timeout 200ms still blocked on stdin after 20 s");
    use std::io::Read;
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: interrupted: timeout of 200ms exceeded\n")
            && err.contains("\n  at main"),
        "{err}"
    );
    assert!(!err.contains("blocked outside"), "{err}");
    assert_eq!(out, "before\n", "output printed before the block is kept");
}

/// A run blocked outside the interpreter, in a write to a stdout pipe
/// nobody reads, cannot see `--timeout`'s interrupt: after the grace
/// period the watchdog ends the process with the timeout's message, a
/// note that it stopped the process, and the trap status.
#[test]
fn timeout_stops_a_run_blocked_writing_a_full_pipe() {
    let dir = tmp_dir();
    let prog = dir.join("full-pipe.kasm");
    std::fs::write(
        &prog,
        ".func main()\n    .local s: str\n    push \"x\" push 100000 call str.repeat store s\ntop:\n    load s call print\n    jmp top\n.end\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .args(["--timeout", "200ms", prog.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // stdout is never read: the pipe fills and `print` blocks.
    let _stdout = child.stdout.take();
    let status = wait_at_most(&mut child, Duration::from_secs(20));
    let status = status.expect("vmrun --timeout 200ms still blocked writing after 20 s");
    use std::io::Read;
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: interrupted: timeout of 200ms exceeded\n")
            && err.contains("blocked outside the interpreter")
            && err.contains("vmrun stopped the process"),
        "{err}"
    );
}

/// A long library call sees an interrupt that is already raised when it
/// starts (the interpreter only looks every 65536 instructions, and these
/// programs run a handful): sorting, repeating, splitting, collecting and
/// reversing all stop with `interrupted` instead of running to the end.
#[test]
fn long_library_calls_stop_at_an_interrupt() {
    if keel_vm::GC_STRESS_BUILD {
        return; // measures the normal build; under GC stress every allocation collects
    }
    let lib = library();
    let programs = [
        "push 2000000 push 0 array.new call array.sort",
        r#"push "ab" push 20000000 call str.repeat pop"#,
        r#"push "a," push 200000 call str.repeat push "," call str.split pop"#,
        r#"push "abc" push 200000 call str.repeat call str.chars pop"#,
        "push 2000000 push 0 array.new call array.reverse",
        "push 200000 push \"s\" array.new pop call gc.collect",
    ];
    for body in programs {
        let src = format!(".func main()\n    {body}\n    ret\n.end\n");
        let module = keel_assembler::assemble(&src, "interrupt.kasm", &lib).unwrap();
        let v = std::sync::Arc::new(keel_vm::verify(module).unwrap());
        let config = keel_vm::Config::default().jit(keel_vm::JitMode::Off);
        let mut inst = keel_vm::Instance::new(v.clone(), &lib, config).unwrap();
        let main = v.module().func_index("main").unwrap();
        // Raised before the call: kept for it.
        inst.keep_pending_interrupt(true);
        inst.interrupt_handle().interrupt_with("stop");
        let t = inst.call_index(main, &[]).expect_err(body);
        assert_eq!(t.code, keel_vm::TrapCode::Interrupted, "{body}: {t:?}");
        assert_eq!(t.message, "interrupted: stop", "{body}");
        // Consumed: the next run goes through.
        assert!(inst.call_index(main, &[]).is_ok(), "{body}");
    }
}

/// `map.del` is O(1) amortized: deleting every key oldest-first from a map
/// twice as large takes about twice as long, not four times (it was 90 s
/// for 100,000 keys when every deletion shifted the rest).
#[test]
fn map_deletion_time_grows_linearly() {
    if keel_vm::GC_STRESS_BUILD {
        return; // measures the normal build; under GC stress every allocation collects
    }
    let dir = tmp_dir();
    let prog = dir.join("map-del.kasm");
    std::fs::write(
        &prog,
        ".func main(args: array<str>)
    .local m: map<int,int>
    .local n: int
    .local i: int
    load args push 0 array.get call str.parse_int store n
    map.new int int store m
fill:
    load m load i load i map.set
    load i push 1 add store i
    load i load n lt jmpif fill
    push 0 store i
del:
    load m load i map.del
    load i push 1 add store i
    load i load n lt jmpif del
    load m map.len call print
    ret
.end
",
    )
    .unwrap();
    // The child's own CPU time (user + system, from /usr/bin/time), so
    // other work on the machine does not count.
    let time = |n: &str| {
        let out = Command::new("/usr/bin/time")
            .args(["-f", "%U %S", env!("CARGO_BIN_EXE_vmrun")])
            .args([prog.to_str().unwrap(), n])
            .output()
            .expect("/usr/bin/time runs");
        assert!(out.status.success(), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let secs: f64 = err
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|x| x.parse::<f64>().ok())
            .sum();
        Duration::from_secs_f64(secs.max(0.01))
    };
    // Two doublings, interleaved, so a burst of other work on the machine
    // (tests run in parallel) cannot fake a quadratic ratio (16x) or hide
    // one: the bound is 2.5x per doubling.
    let (mut small, mut large) = (Duration::MAX, Duration::MAX);
    for _ in 0..2 {
        small = small.min(time("50000"));
        large = large.min(time("200000"));
    }
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    eprintln!("map.del: 50k {small:?}, 200k {large:?}, ratio {ratio:.2}");
    assert!(
        ratio < 2.5 * 2.5,
        "50k {small:?}, 200k {large:?}: ratio {ratio:.2}"
    );
}

/// A function with `loops` loops, one after another, each going round
/// 100 times.
fn many_hot_loops(loops: usize) -> String {
    let mut s = String::from(".func main()\n    .local i: int\n    .local n: int\n");
    s.push_str("    push 100 store n\n");
    for k in 0..loops {
        s.push_str(&format!(
            "    push 0 store i\nl{k}:\n    load i push 1 add store i load i load n lt jmpif l{k}\n"
        ));
    }
    s.push_str("    ret\n.end\n");
    s
}

/// Runs `main` of [`many_hot_loops`] once with the JIT compiling it at
/// once; returns the time compiling took and the loops compiled.
fn run_hot_loops(verified: &std::sync::Arc<keel_vm::VerifiedModule>) -> (u64, u64) {
    let config = keel_vm::Config::default().jit(keel_vm::JitMode::Eager);
    let mut inst =
        keel_vm::Instance::new(verified.clone(), &keel_vm::Linker::new(), config).expect("links");
    inst.call_index(0, &[]).expect("runs");
    (inst.stats().jit_compile_ns.max(1), inst.stats().jit_loops)
}

/// Compiling a function costs in its size: a function of many loops
/// compiles in time linear in their number (the loop JIT this replaced was
/// once quadratic, computing the stack depth at every op per loop; choosing
/// the pinned locals and the OSR entries must not be either). Two
/// doublings of the loops cost at most 3x per doubling (quadratic is 4x;
/// the bigger function's code and tables also fall out of the caches,
/// and on a loaded machine that read x6.3 and x8.1 against x4.2 alone);
/// the runs of the two sizes alternate and the fastest of five of each
/// counts, so a burst of other work on the machine hits both alike.
#[test]
fn a_function_of_many_hot_loops_compiles_them_in_linear_time() {
    let (n, big) = (3000, 12000);
    let verify = |loops: usize| {
        let src = many_hot_loops(loops);
        let module = keel_assembler::assemble(&src, "loops.kasm", &keel_assembler::NoLibrary)
            .expect("assembles");
        std::sync::Arc::new(keel_vm::verify(module).expect("verifies"))
    };
    let (small_module, big_module) = (verify(n), verify(big));
    let (mut t1, mut t2, mut c1, mut c2) = (u64::MAX, u64::MAX, 0, 0);
    for _ in 0..5 {
        let (t, c) = run_hot_loops(&small_module);
        (t1, c1) = (t1.min(t), c);
        let (t, c) = run_hot_loops(&big_module);
        (t2, c2) = (t2.min(t), c);
    }
    // Where the JIT exists, every loop compiled (so the run measures it).
    if cfg!(target_arch = "x86_64") {
        assert_eq!((c1, c2), (n as u64, big as u64));
    } else {
        return;
    }
    let ratio = t2 as f64 / t1 as f64;
    eprintln!("{n} loops: compiled in {t1} ns; {big} loops: {t2} ns (x{ratio:.2})");
    assert!(
        ratio < 3.0 * 3.0,
        "{n} loops: compiled in {t1} ns; {big} loops: {t2} ns (x{ratio:.2})"
    );
}

/// String compares and map lookups by a string key do work in proportion
/// to the string inside one instruction; they look at the interrupt flag
/// once that work adds up, so `--timeout` stops a loop of them as the
/// interpreter (a clean trap), not only the watchdog that ends a process
/// blocked outside it.
#[test]
fn a_loop_of_huge_string_compares_stops_at_the_timeout() {
    let dir = tmp_dir();
    for (name, body) in [
        ("eq", "load a load b eq pop"),
        ("lt", "load a load b lt pop"),
        ("map", "load m load a map.has pop"),
    ] {
        let prog = dir.join(format!("huge-compare-{name}.kasm"));
        std::fs::write(
            &prog,
            format!(
                ".func main()
    .local a: str
    .local b: str
    .local m: map<str,int>
    map.new str int store m
    push \"x\" push 20000000 call str.repeat store a
    push \"x\" push 20000000 call str.repeat store b
top:
    {body}
    jmp top
.end
"
            ),
        )
        .unwrap();
        let start = Instant::now();
        let (status, err) = vmrun(
            &["--timeout", "1s", prog.to_str().unwrap()],
            Duration::from_secs(60),
        );
        assert_eq!(status, Some(1), "{name}: {err}");
        assert!(
            err.starts_with("error: interrupted: timeout of 1s exceeded\n")
                && err.contains("\n  at main"),
            "{name}: {err}"
        );
        assert!(!err.contains("blocked outside"), "{name}: {err}");
        assert!(start.elapsed() < Duration::from_secs(20), "{name}");
    }
}

/// `io.read_bytes` of a huge count holds no more than the heap limit
/// allows for the array it builds (25 host bytes a byte read): under
/// `--max-heap 4M` a 2 MB input traps `out of memory` with the peak
/// resident size near the limit (counting only the raw bytes, it would
/// read all 2 MB and then build a 32 MB list of values), while 64 KB of it
/// fit.
#[test]
fn read_bytes_stays_within_the_heap_limit() {
    if keel_vm::GC_STRESS_BUILD {
        return; // measures the normal build; under GC stress every allocation collects
    }
    let dir = tmp_dir();
    let input = dir.join("bytes-2m.bin");
    std::fs::write(&input, vec![0xffu8; 2 << 20]).unwrap();
    for (name, count, want) in [("huge", i64::MAX, 1), ("small", 64 << 10, 0)] {
        let prog = dir.join(format!("read-bytes-{name}.kasm"));
        std::fs::write(
            &prog,
            format!(
                ".func main()\n    push {count} call io.read_bytes array.len call print\n    ret\n.end\n"
            ),
        )
        .unwrap();
        let stdin = Stdio::from(std::fs::File::open(&input).unwrap());
        let (status, err, kib) = vmrun_peak(&["--max-heap", "4M", prog.to_str().unwrap()], stdin);
        eprintln!("read_bytes {name}: peak {kib} KiB");
        assert_eq!(status, Some(want), "{name}: {err}");
        if want == 1 {
            assert!(err.contains("out of memory"), "{name}: {err}");
        }
        assert!(
            kib <= (4 << 10) + RSS_OVERHEAD_KIB,
            "{name}: peak {kib} KiB"
        );
    }
}
// ---------------------------------------------------------------------
// Format version 2: records, function types, `strbuf`, array literals.
// The assembler does not read the new syntax yet, so the module is built
// in memory.

/// An instruction, a label, or a jump to a label.
enum Asm {
    I(
        keel_vm::internals::isa::Opcode,
        keel_vm::internals::isa::Operand,
    ),
    L(&'static str),
    J(keel_vm::internals::isa::Opcode, &'static str),
}

fn assemble_items(items: &[Asm]) -> Vec<u8> {
    use keel_vm::internals::isa::{Instr, Operand};
    let mut labels = std::collections::HashMap::new();
    let mut off = 0u32;
    for it in items {
        match it {
            Asm::I(op, operand) => off += len_of(*op, operand.clone()),
            Asm::L(name) => {
                labels.insert(*name, off);
            }
            Asm::J(op, _) => off += len_of(*op, Operand::Target(0)),
        }
    }
    let mut out = Vec::new();
    for it in items {
        let (op, operand) = match it {
            Asm::I(op, operand) => (*op, operand.clone()),
            Asm::L(_) => continue,
            Asm::J(op, l) => (*op, Operand::Target(labels[l])),
        };
        Instr { op, operand }.encode(&mut out);
    }
    out
}

/// A valid module using everything version 2 added: records (recursive,
/// empty, with function-typed and array fields), function types nested in
/// signatures, `strbuf` locals, array-literal globals of each element
/// kind, `push` of array literals, `rec.*`, `is`, `isnil`, `fn.ref`,
/// `call.ref` and casts to record and function types. Each function
/// takes only ints or nothing, so `run_under_limits` runs them all.
fn records_module() -> keel_vm::Module {
    use Asm::{I, J, L};
    use keel_vm::internals::isa::{ArrayLit, Opcode as O, Operand as P};
    use keel_vm::{FuncType, Global, GlobalInit, RecordDef, Type};
    let s = |op| I(op, P::None);
    let int = |v| I(O::PushInt, P::Int(v));
    let load = |l| I(O::Load, P::Local(l));
    let store = |l| I(O::Store, P::Local(l));
    let int_fn = Type::func(FuncType::new(vec![Type::Int], Some(Type::Int)));
    let node = Type::record("Node");
    let body = Type::record("Body");
    let higher = Type::func(FuncType::new(
        vec![int_fn.clone(), Type::array(node.clone())],
        Some(int_fn.clone()),
    ));
    let records = vec![
        RecordDef {
            name: "Body".into(),
            fields: vec![
                ("x".into(), Type::Float),
                ("next".into(), body.clone()),
                ("f".into(), int_fn.clone()),
                ("tags".into(), Type::array(Type::Str)),
            ],
        },
        RecordDef {
            name: "Node".into(),
            fields: vec![
                ("left".into(), node.clone()),
                ("right".into(), node.clone()),
                ("v".into(), Type::Int),
            ],
        },
        RecordDef {
            name: "Empty".into(),
            fields: vec![],
        },
    ];
    let global = |name: &str, ty: Type, init| Global {
        name: name.into(),
        ty,
        init,
    };
    let globals = vec![
        global(
            "t",
            Type::array(Type::Int),
            GlobalInit::Array(ArrayLit::Int(vec![1, -2, 3])),
        ),
        global(
            "names",
            Type::array(Type::Str),
            GlobalInit::Array(ArrayLit::Str(vec![0, 1])),
        ),
        global(
            "fl",
            Type::array(Type::Float),
            GlobalInit::Array(ArrayLit::Float(vec![1.5])),
        ),
        global(
            "bs",
            Type::array(Type::Bool),
            GlobalInit::Array(ArrayLit::Bool(vec![true])),
        ),
        global(
            "none",
            Type::array(node.clone()),
            GlobalInit::Array(ArrayLit::empty(node.clone())),
        ),
        global("h", int_fn.clone(), GlobalInit::Default),
        global("n", node.clone(), GlobalInit::Nil),
        global("k", higher.clone(), GlobalInit::Nil),
    ];
    let f =
        |name: &str, params: Vec<Type>, result: Option<Type>, locals, code: &[Asm]| keel_vm::Func {
            name: name.into(),
            ty: FuncType::new(params, result),
            locals,
            exported: true,
            code: assemble_items(code),
        };
    let funcs = vec![
        f(
            "double",
            vec![Type::Int],
            Some(Type::Int),
            vec![],
            &[load(0), load(0), s(O::Add), s(O::Ret)],
        ),
        // A tree of n nodes built on the stack, then summed along `left`.
        f(
            "build",
            vec![Type::Int],
            Some(Type::Int),
            vec![Type::Int, Type::Int],
            &[
                s(O::PushNil),
                L("loop"),
                load(1),
                load(0),
                s(O::Lt),
                J(O::JmpIfNot, "walk"),
                s(O::PushNil),
                load(1),
                I(O::RecNew, P::Record(1)),
                load(1),
                int(1),
                s(O::Add),
                store(1),
                J(O::Jmp, "loop"),
                L("walk"),
                s(O::Dup),
                s(O::IsNil),
                J(O::JmpIf, "done"),
                s(O::Dup),
                I(O::RecGet, P::Field(1, 2)),
                load(2),
                s(O::Add),
                store(2),
                I(O::RecGet, P::Field(1, 0)),
                J(O::Jmp, "walk"),
                L("done"),
                s(O::Pop),
                load(2),
                s(O::Ret),
            ],
        ),
        f(
            "refs",
            vec![],
            Some(Type::Int),
            vec![],
            &[
                I(O::FnRef, P::Func(0)),
                I(O::GStore, P::Global(5)),
                int(21),
                I(O::GLoad, P::Global(5)),
                s(O::CallRef),
                s(O::Ret),
            ],
        ),
        f(
            "tests",
            vec![Type::Any],
            Some(Type::Bool),
            vec![],
            &[
                load(0),
                I(O::Is, P::Type(body.clone())),
                load(0),
                I(O::Is, P::Type(int_fn.clone())),
                s(O::Or),
                load(0),
                s(O::IsNil),
                s(O::Or),
                s(O::Ret),
            ],
        ),
        f(
            "lits",
            vec![],
            Some(Type::Int),
            vec![],
            &[
                I(O::PushArray, P::ArrayLit(ArrayLit::Int(vec![1, 2, 3]))),
                s(O::ArrayLen),
                I(O::PushArray, P::ArrayLit(ArrayLit::Str(vec![1, 0, 1]))),
                s(O::ArrayLen),
                s(O::Add),
                I(O::PushArray, P::ArrayLit(ArrayLit::Bool(vec![false]))),
                s(O::ArrayLen),
                s(O::Add),
                I(O::PushArray, P::ArrayLit(ArrayLit::Float(vec![2.5, -0.0]))),
                s(O::ArrayLen),
                s(O::Add),
                I(O::PushArray, P::ArrayLit(ArrayLit::empty(higher.clone()))),
                s(O::ArrayLen),
                s(O::Add),
                s(O::Ret),
            ],
        ),
        f(
            "body",
            vec![],
            Some(Type::Float),
            vec![Type::StrBuf, Type::Any],
            &[
                I(O::PushFloat, P::Float(1.5)),
                s(O::PushNil),
                I(O::FnRef, P::Func(0)),
                I(O::GLoad, P::Global(1)),
                I(O::RecNew, P::Record(0)),
                s(O::Dup),
                s(O::Dup),
                I(O::RecSet, P::Field(0, 1)),
                store(1),
                load(1),
                I(O::Cast, P::Type(body.clone())),
                I(O::RecGet, P::Field(0, 1)),
                I(O::RecGet, P::Field(0, 0)),
                I(O::RecNew, P::Record(2)),
                s(O::Pop),
                s(O::Ret),
            ],
        ),
        f(
            "higher",
            vec![higher.clone()],
            Some(higher),
            vec![node],
            &[load(0), s(O::Ret)],
        ),
    ];
    keel_vm::Module {
        name: Some("records".into()),
        strings: vec!["a".into(), "bc".into()],
        records,
        globals,
        funcs,
        ..keel_vm::Module::default()
    }
}

fn records_instance() -> keel_vm::Instance {
    let v = keel_vm::verify(records_module()).expect("the records module verifies");
    let config = keel_vm::Config::default().checked(true).gc_stress(true);
    keel_vm::Instance::new(std::sync::Arc::new(v), &library(), config).unwrap()
}

#[test]
fn the_version_2_module_runs() {
    use keel_vm::Val;
    let mut inst = records_instance();
    assert_eq!(
        inst.call("build", &[Val::Int(50)]).unwrap(),
        Some(Val::Int(1225))
    );
    assert_eq!(inst.call("refs", &[]).unwrap(), Some(Val::Int(42)));
    assert_eq!(inst.call("lits", &[]).unwrap(), Some(Val::Int(9)));
    assert_eq!(inst.call("body", &[]).unwrap(), Some(Val::Float(1.5)));
    assert_eq!(
        inst.call("tests", &[Val::Nil]).unwrap(),
        Some(Val::Bool(true))
    );
    assert_eq!(
        inst.call("tests", &[Val::Int(1)]).unwrap(),
        Some(Val::Bool(false))
    );
}

#[test]
fn every_truncation_and_bit_flip_of_a_version_2_module_is_refused_or_runs() {
    let lib = library();
    let module = records_module();
    let mut rng = Rng(0x5eed_0002);
    for bytes in [module.to_bytes(), module.stripped().to_bytes()] {
        let back = keel_vm::Module::from_bytes(&bytes).expect("round trip");
        assert_eq!(back.to_bytes(), bytes);
        for len in 0..bytes.len() {
            let r = keel_vm::Module::from_bytes(&bytes[..len]);
            assert!(r.is_err(), "a {len}-byte prefix decoded");
        }
        let mut accepted = 0;
        let mut try_bytes = |b: &[u8]| {
            if let Ok(v) = keel_vm::Module::from_bytes(b)
                .map_err(|_| ())
                .and_then(|m| keel_vm::verify(m).map_err(|_| ()))
            {
                accepted += 1;
                run_under_limits(v, &lib);
            }
        };
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                try_bytes(&b);
            }
        }
        for _ in 0..3000 {
            let mut b = bytes.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                match rng.below(3) {
                    0 => b[i] = rng.next() as u8,
                    1 => b.insert(i, rng.next() as u8),
                    _ => {
                        b.remove(i);
                    }
                }
            }
            try_bytes(&b);
        }
        eprintln!("{accepted} corrupted version-2 modules still verified");
    }
}

/// `bytes` with the first occurrence of `find` replaced by `with`.
fn splice(bytes: &[u8], find: &[u8], with: &[u8]) -> Vec<u8> {
    let at = bytes
        .windows(find.len())
        .position(|w| w == find)
        .unwrap_or_else(|| panic!("{find:x?} not in {bytes:x?}"));
    let mut out = bytes[..at].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&bytes[at + find.len()..]);
    out
}

fn uleb(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

fn decode_error(bytes: &[u8]) -> String {
    match keel_vm::Module::from_bytes(bytes) {
        Ok(m) => match keel_vm::verify(m) {
            Ok(_) => panic!("decoded and verified"),
            Err(e) => e.to_string(),
        },
        Err(e) => e.to_string(),
    }
}

#[test]
fn huge_counts_in_the_new_sections_are_refused_before_allocating() {
    use keel_vm::internals::isa::{ArrayLit, Opcode, Operand};
    use keel_vm::{Global, GlobalInit, RecordDef, Type};
    let m = keel_vm::Module {
        records: vec![RecordDef {
            name: "Qq".into(),
            fields: vec![("zz".into(), Type::Int)],
        }],
        globals: vec![Global {
            name: "gg".into(),
            ty: Type::array(Type::Int),
            init: GlobalInit::Array(ArrayLit::Int(vec![0x33])),
        }],
        ..keel_vm::Module::default()
    };
    let bytes = m.to_bytes();
    for count in [1 << 20, u32::MAX as u64, 1 << 62, u64::MAX] {
        let n = uleb(count);
        // Records: count 1, "Qq"; its field count 1, "zz".
        let e = decode_error(&splice(
            &bytes,
            b"\x01\x02Qq",
            &[&n[..], b"\x02Qq"].concat(),
        ));
        assert!(e.contains("record") && e.contains("count"), "{e}");
        let e = decode_error(&splice(
            &bytes,
            b"Qq\x01\x02zz",
            &[b"Qq", &n[..], b"\x02zz"].concat(),
        ));
        assert!(e.contains("field") && e.contains("count"), "{e}");
        // The global's literal: element type int, count 1, 0x33 (zigzag 0x66).
        let e = decode_error(&splice(
            &bytes,
            b"\x06\x01\x01\x66",
            &[b"\x06\x01", &n[..], b"\x66"].concat(),
        ));
        assert!(e.contains("array literal") && e.contains("count"), "{e}");
        // And a `push` of a literal in code, for each element kind.
        for elem in [0x01u8, 0x02, 0x03, 0x04] {
            let mut code = vec![Opcode::PushArray as u8, elem];
            code.extend(&n);
            code.push(0);
            let mut m = m.clone();
            m.funcs = vec![keel_vm::Func {
                name: "f".into(),
                ty: keel_vm::FuncType::default(),
                locals: vec![],
                exported: false,
                code,
            }];
            let e = decode_error(&m.to_bytes());
            assert!(e.contains("array literal") && e.contains("count"), "{e}");
        }
    }
    // A non-empty literal of a type without literals.
    let mut m = m.clone();
    m.funcs = vec![keel_vm::Func {
        name: "f".into(),
        ty: keel_vm::FuncType::default(),
        locals: vec![],
        exported: false,
        code: vec![Opcode::PushArray as u8, 0x05, 0x01, 0x00],
    }];
    assert!(decode_error(&m.to_bytes()).contains("must be empty"));
    let _ = Operand::None;
}

#[test]
fn function_types_nested_past_the_limit_are_refused_without_recursing() {
    use keel_vm::{FuncType, Global, GlobalInit, MAX_TYPE_DEPTH, Type};
    let with_type = |ty: Type| keel_vm::Module {
        globals: vec![Global {
            name: "gg".into(),
            ty,
            init: GlobalInit::Default,
        }],
        ..keel_vm::Module::default()
    };
    // fn(fn(...(int)...)): depth k + 1 for k fn levels.
    let nested = |k: usize| {
        (0..k).fold(Type::Int, |t, i| {
            if i % 2 == 0 {
                Type::func(FuncType::new(vec![t], None))
            } else {
                Type::func(FuncType::new(vec![], Some(t)))
            }
        })
    };
    let ok = with_type(nested(MAX_TYPE_DEPTH - 1)).to_bytes();
    assert!(keel_vm::Module::from_bytes(&ok).is_ok());
    let deep = with_type(nested(MAX_TYPE_DEPTH)).to_bytes();
    assert!(
        decode_error(&deep).contains("deep"),
        "{}",
        decode_error(&deep)
    );
    // A million levels written directly: `fn(` is 0x0a, one parameter.
    let bytes = with_type(Type::Int).to_bytes();
    let mut ty = Vec::new();
    for _ in 0..1_000_000 {
        ty.extend_from_slice(&[0x0a, 0x01]);
    }
    ty.push(0x01);
    ty.extend(std::iter::repeat_n(0u8, 1_000_000));
    let e = decode_error(&splice(
        &bytes,
        b"\x02gg\x01",
        &[b"\x02gg", &ty[..]].concat(),
    ));
    assert!(e.contains("deep"), "{e}");
}

#[test]
fn bad_record_names_and_nil_types_in_a_file_are_refused() {
    use keel_vm::{Global, GlobalInit, RecordDef, Type};
    for name in ["a.b", "int", "fn", "strbuf", "nil", "9a"] {
        let m = keel_vm::Module {
            records: vec![RecordDef {
                name: name.into(),
                fields: vec![],
            }],
            ..keel_vm::Module::default()
        };
        let e = decode_error(&m.to_bytes());
        assert!(e.contains("record name"), "{name}: {e}");
    }
    let m = keel_vm::Module {
        records: vec![RecordDef {
            name: "R".into(),
            fields: vec![("a.b".into(), Type::Int)],
        }],
        ..keel_vm::Module::default()
    };
    assert!(decode_error(&m.to_bytes()).contains("field name"));
    // `nil` has no encoding: a declaration of it does not read back.
    let m = keel_vm::Module {
        globals: vec![Global {
            name: "g".into(),
            ty: Type::array(Type::Nil),
            init: GlobalInit::Default,
        }],
        ..keel_vm::Module::default()
    };
    assert!(decode_error(&m.to_bytes()).contains("type tag 0x00"));
}

/// The fuzzers' seed with records (`fuzz/seeds/kbc/records.kbc`) is a
/// module of the current format that verifies. `BLESS=1` writes it.
#[test]
fn the_records_fuzz_seed_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/kbc/records.kbc");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, records_module().to_bytes()).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    let m = keel_vm::Module::from_bytes(&bytes).expect("the seed decodes");
    assert!(!m.records.is_empty());
    keel_vm::verify(m).expect("the seed verifies");
}
