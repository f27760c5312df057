//! `examples/mandelbrot.kasm` writes the same bytes as its C reference,
//! `examples/mandelbrot.c`, for several sizes: sizes that are and are not
//! multiples of 8 (row padding), plainly and with `--jit eager`. The C
//! program is compiled with the system's C compiler (`$CC`, else `cc`);
//! without one the comparison with C is skipped (the conformance runner
//! still checks the default size against the checked-in
//! `examples/mandelbrot.out`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Compiles the C reference into a temp dir; `None` when no C compiler
/// is there to do it.
fn compile_reference() -> Option<PathBuf> {
    let dir = std::env::temp_dir().join(format!("keel-mandelbrot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let exe = dir.join("mandelbrot");
    let cc = std::env::var_os("CC").unwrap_or_else(|| "cc".into());
    let status = Command::new(&cc)
        .args(["-O2", "-ffp-contract=off", "-o"])
        .arg(&exe)
        .arg(examples().join("mandelbrot.c"))
        .status();
    match status {
        Ok(s) if s.success() => Some(exe),
        Ok(s) => panic!("{cc:?} failed to compile examples/mandelbrot.c: {s}"),
        Err(e) => {
            eprintln!("skipping the comparison with C: no C compiler ({cc:?}: {e})");
            None
        }
    }
}

fn run(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("runs");
    assert!(out.status.success(), "{cmd:?} failed: {out:?}");
    out.stdout
}

fn keel(n: Option<u32>, flags: &[&str]) -> Vec<u8> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmrun"));
    cmd.args(flags).arg(examples().join("mandelbrot.kasm"));
    if let Some(n) = n {
        cmd.arg(n.to_string());
    }
    run(&mut cmd)
}

#[test]
fn keel_output_is_byte_identical_to_the_c_reference() {
    let Some(c) = compile_reference() else { return };
    for n in [1, 7, 8, 9, 31, 64, 100] {
        let want = run(Command::new(&c).arg(n.to_string()));
        let rows = (n as usize).div_ceil(8) * n as usize;
        assert_eq!(
            want.len(),
            format!("P4\n{n} {n}\n").len() + rows,
            "C output for {n}"
        );
        for flags in [&[][..], &["--jit", "eager"]] {
            assert!(
                keel(Some(n), flags) == want,
                "mandelbrot {n} {flags:?} differs from the C reference"
            );
        }
    }
    // The default size, and the checked-in expectation.
    let want = run(&mut Command::new(&c));
    let checked_in = std::fs::read(examples().join("mandelbrot.out")).expect("mandelbrot.out");
    assert!(
        checked_in == want,
        "examples/mandelbrot.out is not the C output"
    );
    assert!(keel(None, &[]) == want, "default mandelbrot differs from C");
}
