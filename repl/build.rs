//! Generates one named test per conformance file (`spec/conformance/**.kasm`
//! and `.kbc`), each run plainly, under `--gc-stress --checked`, with
//! `--jit eager` and with `--jit eager --gc-stress`; the examples plainly
//! and with `--jit eager`.

use std::fmt::Write;
use std::path::Path;

fn collect(dir: &Path, root: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, root, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("kasm" | "kbc")
        ) {
            let rel = path
                .strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/");
            out.push(rel);
        }
    }
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest).join("../spec/conformance");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    for f in &files {
        if let Some(dir) = Path::new(f).parent() {
            println!("cargo:rerun-if-changed={}", root.join(dir).display());
        }
    }
    let examples = Path::new(&manifest).join("../examples");
    println!("cargo:rerun-if-changed={}", examples.display());
    let mut example_files = Vec::new();
    collect(&examples, &examples, &mut example_files);
    // Top-level examples only: `examples/embed/` is a crate of its own.
    example_files.retain(|f| !f.contains('/'));
    let name = |f: &str| -> String {
        f.trim_end_matches(".kasm")
            .trim_end_matches(".kbc")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    // One test per file in `mode`: examples (checked with the same runner
    // and the expectation files beside them) and conformance files.
    let tests = |mode: &str, examples_too: bool| -> String {
        let mut out = String::new();
        if examples_too {
            for f in &example_files {
                let _ = writeln!(
                    out,
                    "#[test] fn example_{}() {{ run_in(&examples(), {f:?}, Mode::{mode}) }}",
                    name(f)
                );
            }
        }
        for f in &files {
            let _ = writeln!(
                out,
                "#[test] fn {}() {{ run({f:?}, Mode::{mode}) }}",
                name(f)
            );
        }
        out
    };
    // Plainly; under `--gc-stress --checked` (`cargo test gc_stress::`; not
    // the examples, some are benchmarks); with the JIT compiling every loop
    // (`cargo test jit::`).
    let mut src = tests("Plain", true);
    src.push_str("mod gc_stress {\n    use super::{Mode, run};\n");
    src.push_str(&tests("Stress", false));
    src.push_str("}\nmod jit {\n    use super::{Mode, examples, run, run_in};\n");
    src.push_str(&tests("Jit", true));
    // Compiled code under a collection at every allocation (`cargo test
    // jit_gc_stress::`): what compiled code keeps in registers across a
    // helper must survive it.
    src.push_str("}\nmod jit_gc_stress {\n    use super::{Mode, run};\n");
    src.push_str(&tests("JitStress", false));
    src.push_str("}\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("conformance_tests.rs");
    std::fs::write(out, src).expect("write generated tests");
}
