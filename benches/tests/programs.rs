//! The Keel programs `benches/compare.sh` times print the answers their C,
//! Lua and Python counterparts print (at small sizes, so the check is cheap
//! in debug builds): a benchmark that computes something else measures
//! nothing.

use std::io::Write;
use std::sync::{Arc, Mutex};

use keel_benches::{source, verified};
use keel_vm::{Config, Instance, JitMode, Linker};

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `main(args)` of `path` prints.
fn output(path: &str, args: &[&str]) -> String {
    output_with(path, args, JitMode::default())
}

/// What `main(args)` of `path` prints with the JIT in mode `jit`.
fn output_with(path: &str, args: &[&str], jit: JitMode) -> String {
    let out = Captured::default();
    let mut lib = Linker::new();
    let io = keel_stdlib::Io {
        out: Arc::new(Mutex::new(out.clone())),
        input: Arc::new(Mutex::new(std::io::empty())),
    };
    keel_stdlib::install_io(&mut lib, io);
    keel_stdlib::install_core(&mut lib);
    let module = verified(path, &lib);
    let config = Config::default().jit(jit);
    let mut inst = Instance::new(module.clone(), &lib, config).expect("links");
    let main = module.module().func_index("main").expect("has main");
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let arr = inst.new_str_array(&args).expect("args fit");
    inst.call_index(main, &[arr])
        .expect("runs without trapping");
    drop(inst);
    let bytes = out.0.lock().expect("not poisoned").clone();
    String::from_utf8(bytes).expect("utf-8 output")
}

/// The number of primes below `n`, by trial division.
fn primes_below(n: i64) -> i64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as i64
}

#[test]
fn strings_sums_every_value_looked_up_by_its_rebuilt_key() {
    for n in [0i64, 1, 1000] {
        let expected = n * (n - 1) / 2;
        assert_eq!(
            output("benches/programs/strings.kasm", &[&n.to_string()]),
            format!("{expected}\n")
        );
    }
}

#[test]
fn bool_sieve_counts_the_primes_as_the_int_sieve_does() {
    for n in [2i64, 3, 100, 10_000] {
        let expected = format!("{}\n", primes_below(n));
        assert_eq!(
            output("benches/programs/sieve_bool.kasm", &[&n.to_string()]),
            expected,
            "n = {n}"
        );
        assert_eq!(
            output("examples/sieve.kasm", &[&n.to_string()]),
            expected,
            "n = {n}"
        );
    }
}

#[test]
fn bool_sieve_keeps_its_flags_in_an_array_of_bool() {
    // The issue 11 heap figure is this program's: it must stay an
    // array<bool> sieve.
    let src = source("benches/programs/sieve_bool.kasm");
    assert!(
        src.contains(".local prime: array<bool>"),
        "sieve_bool.kasm declares its flags as array<bool>"
    );
    assert!(
        src.contains("push true array.new"),
        "sieve_bool.kasm fills them with true"
    );
}

// The issue 12 workloads. Each expected output below is what the C, Lua
// (lua5.4 and luajit) and Python ports beside the .kasm print at that size
// (`benches/programs/NAME.{c,lua,py}`); the larger sizes are published
// Benchmarks Game figures where there is one (nbody 1000 steps,
// spectral-norm 100, fannkuch-redux 7).

/// Runs `benches/programs/NAME.kasm` at each size, interpreted, with the
/// JIT as shipped and with every loop compiled at once, and compares its
/// output.
fn check(name: &str, cases: &[(&str, &str)]) {
    let path = format!("benches/programs/{name}.kasm");
    for (size, expected) in cases {
        for jit in [JitMode::Off, JitMode::On, JitMode::Eager] {
            assert_eq!(
                output_with(&path, &[size], jit),
                *expected,
                "{name} {size}, jit {jit:?}"
            );
        }
    }
}

#[test]
fn loop_mod_sums_the_remainders() {
    for n in [0i64, 1, 1000, 5000] {
        let expected: i64 = (0..n).map(|i| (i * 31 + 7) % 1009).sum();
        check("loop_mod", &[(&n.to_string(), &format!("{expected}\n"))]);
    }
}

#[test]
fn mandelbrot_counts_the_points_inside_and_the_iterations() {
    check(
        "mandelbrot",
        &[
            ("0", "0\n0\n"),
            ("1", "0\n1\n"),
            ("7", "22\n1206\n"),
            ("16", "104\n6170\n"),
            ("40", "633\n37989\n"),
        ],
    );
}

#[test]
fn nbody_prints_the_energy_before_and_after() {
    check(
        "nbody",
        &[
            ("0", "-0.169075164\n-0.169075164\n"),
            ("1", "-0.169075164\n-0.169074954\n"),
            ("100", "-0.169075164\n-0.169050762\n"),
            ("1000", "-0.169075164\n-0.169087605\n"),
        ],
    );
}

#[test]
fn spectral_norm_prints_the_norm() {
    check(
        "spectral_norm",
        &[
            ("1", "1.000000000\n"),
            ("2", "1.183350177\n"),
            ("10", "1.271844019\n"),
            ("30", "1.274097380\n"),
        ],
    );
}

#[test]
fn fannkuch_prints_the_checksum_and_the_most_flips() {
    check(
        "fannkuch",
        &[
            ("1", "0\nPfannkuchen(1) = 0\n"),
            ("2", "-1\nPfannkuchen(2) = 1\n"),
            ("3", "2\nPfannkuchen(3) = 2\n"),
            ("5", "11\nPfannkuchen(5) = 7\n"),
            ("6", "49\nPfannkuchen(6) = 10\n"),
            ("7", "228\nPfannkuchen(7) = 16\n"),
        ],
    );
}

#[test]
fn wordfreq_counts_the_generated_words() {
    check(
        "wordfreq",
        &[
            (
                "0",
                "words 0\ndistinct 0\nmost frequent  0\nsum of squared counts 0\n",
            ),
            (
                "1",
                "words 1\ndistinct 1\nmost frequent fuelvo 1\nsum of squared counts 1\n",
            ),
            (
                "10",
                "words 10\ndistinct 10\nmost frequent elkavo 1\nsum of squared counts 10\n",
            ),
            (
                "1000",
                "words 1000\ndistinct 651\nmost frequent ka 24\nsum of squared counts 5558\n",
            ),
        ],
    );
}

#[test]
fn every_ported_workload_has_all_four_programs() {
    // compare.sh runs benches/programs/KEY.{kasm,c,lua,py} for each key of
    // its `ported` list: a missing one would show as an empty column.
    let script = source("benches/compare.sh");
    let line = script
        .lines()
        .find(|l| l.starts_with("ported=\""))
        .expect("compare.sh lists its ported workloads");
    let keys: Vec<&str> = line
        .trim_start_matches("ported=\"")
        .trim_end_matches('"')
        .split_whitespace()
        .collect();
    assert!(
        keys.len() >= 6,
        "the issue 12 workloads are listed: {keys:?}"
    );
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for key in keys {
        for ext in ["kasm", "c", "lua", "py"] {
            let path = root.join(format!("benches/programs/{key}.{ext}"));
            assert!(path.is_file(), "{} is missing", path.display());
        }
    }
}

#[test]
fn the_workloads_keep_the_shape_the_issue_names() {
    // Issue 12 measures these forms: the bodies in array<float> globals
    // with advance() and energy(), a per-pixel function, A(i, j) called
    // in the loops.
    let nbody = source("benches/programs/nbody.kasm");
    for field in ["x", "y", "z", "vx", "vy", "vz", "mass"] {
        assert!(
            nbody.contains(&format!(".global {field}: array<float>")),
            "nbody keeps {field} in an array<float> global"
        );
    }
    assert!(nbody.contains("call advance") && nbody.contains("call energy"));
    assert!(source("benches/programs/mandelbrot.kasm").contains("call mandel"));
    assert!(source("benches/programs/spectral_norm.kasm").contains("call a "));
    assert!(source("benches/programs/wordfreq.kasm").contains("map<str,int>"));
}
