//! The Keel programs `benches/compare.sh` times print the answers their C,
//! Lua and Python counterparts print (at small sizes, so the check is cheap
//! in debug builds): a benchmark that computes something else measures
//! nothing.

use std::io::Write;
use std::sync::{Arc, Mutex};

use keel_benches::{source, verified};
use keel_vm::{Config, Instance, Linker};

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
    let out = Captured::default();
    let mut lib = Linker::new();
    let io = keel_stdlib::Io {
        out: Arc::new(Mutex::new(out.clone())),
        input: Arc::new(Mutex::new(std::io::empty())),
    };
    keel_stdlib::install_io(&mut lib, io);
    keel_stdlib::install_core(&mut lib);
    let module = verified(path, &lib);
    let mut inst = Instance::new(module.clone(), &lib, Config::default()).expect("links");
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
