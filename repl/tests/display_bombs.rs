//! Values that share their children have display forms exponentially
//! larger than their heap: `print`, `write` and `str.from` of one must stay
//! in bounded memory (the process's own peak RSS, measured by
//! `/usr/bin/time`) and stop at the fuel limit or the timeout.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `n` arrays, each holding the one before twice, then `OP` on the last.
fn dag_program(n: u32, op: &str) -> String {
    format!(
        ".func main()
    .local x: any
    .local i: int
    push 0 store x
top:
    push 2 load x array.new store x
    load i push 1 add store i
    load i push {n} lt jmpif top
    load x {op}
    ret
.end
"
    )
}

struct Run {
    status: Option<i32>,
    stderr: String,
    stdout_bytes: usize,
    peak_kib: u64,
    took: Duration,
}

/// Runs `vmrun run FLAGS FILE` under `/usr/bin/time -f %M` (and a 4 GiB
/// address-space cap, so a regression fails instead of swamping the
/// machine), stdout discarded but counted.
fn vmrun(name: &str, src: &str, flags: &str) -> Run {
    let dir = std::env::temp_dir().join(format!("keel-display-bombs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, src).unwrap();
    let script = format!(
        "ulimit -v 4194304; {{ /usr/bin/time -f 'peak %M' {} run {flags} {}; echo \"status $?\" >&2; }} | wc -c",
        env!("CARGO_BIN_EXE_vmrun"),
        file.display()
    );
    let t0 = Instant::now();
    let out = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .output()
        .expect("sh runs");
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let peak_kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in {stderr}"));
    let stdout_bytes = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    let status = stderr
        .lines()
        .find_map(|l| l.strip_prefix("status "))
        .and_then(|n| n.trim().parse().ok());
    Run {
        status,
        stderr,
        stdout_bytes,
        peak_kib,
        took,
    }
}

/// Peak RSS of `vmrun` running a trivial program: the baseline the bombs
/// are measured against.
fn baseline_kib() -> u64 {
    vmrun(
        "trivial.kasm",
        ".func main()\n    push 1 call print\n    ret\n.end\n",
        "",
    )
    .peak_kib
}

/// The stated overhead above the heap limit: the 64 KiB display piece and
/// the display cursor are far below it; it absorbs allocator slack.
const OVERHEAD_KIB: u64 = 16 * 1024;

#[test]
fn print_of_a_shared_dag_stops_at_the_fuel_limit_in_bounded_memory() {
    let base = baseline_kib();
    // The timeout only bounds a runaway: fuel must stop it, even on a
    // loaded machine where 100,000 units of printing take over a second.
    let r = vmrun(
        "print_fuel.kasm",
        &dag_program(30, "call print"),
        "--max-heap 1M --fuel 100000 --timeout 30s",
    );
    assert!(r.stderr.contains("error: out of fuel"), "{}", r.stderr);
    // One unit of fuel per WORK_PER_FUEL (16) bytes of output.
    assert!(r.stdout_bytes <= 1_600_000, "{} bytes", r.stdout_bytes);
    assert!(r.stdout_bytes >= 64 * 1024, "{} bytes", r.stdout_bytes);
    assert!(
        r.peak_kib < base + 1024 + OVERHEAD_KIB,
        "peak {} KiB, baseline {base} KiB",
        r.peak_kib
    );
    assert_ne!(r.status, Some(0));
}

#[test]
fn the_timeout_stops_a_print_of_a_shared_dag() {
    let base = baseline_kib();
    // 2^40 leaves: about 4 TB of output, streamed until the timeout.
    let r = vmrun(
        "print_timeout.kasm",
        &dag_program(40, "call print"),
        "--max-heap 1M --timeout 1s",
    );
    assert!(
        r.stderr
            .contains("error: interrupted: timeout of 1s exceeded"),
        "{}",
        r.stderr
    );
    assert!(r.took < Duration::from_secs(8), "took {:?}", r.took);
    assert!(r.stdout_bytes > 0);
    assert!(
        r.peak_kib < base + 1024 + OVERHEAD_KIB,
        "peak {} KiB, baseline {base} KiB",
        r.peak_kib
    );
}

#[test]
fn str_from_of_a_shared_dag_is_out_of_memory_in_bounded_memory() {
    let base = baseline_kib();
    for (name, op) in [
        ("str_from.kasm", "call str.from call print"),
        ("write.kasm", "call write"),
    ] {
        let r = vmrun(name, &dag_program(30, op), "--max-heap 1M --timeout 5s");
        if name == "str_from.kasm" {
            assert!(
                r.stderr
                    .contains("error: out of memory: heap limit of 1048576 bytes exceeded"),
                "{}",
                r.stderr
            );
            assert!(r.took < Duration::from_secs(4), "took {:?}", r.took);
        } else {
            // No fuel limit: write streams until the timeout.
            assert!(r.stderr.contains("timeout of 5s exceeded"), "{}", r.stderr);
        }
        assert!(
            r.peak_kib < base + 1024 + OVERHEAD_KIB,
            "{name}: peak {} KiB, baseline {base} KiB",
            r.peak_kib
        );
    }
}
