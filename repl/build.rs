//! Generates one named test per conformance file (`spec/conformance/**.kasm`
//! and `.kbc`), each run plainly, under `--gc-stress --checked` and with
//! `--jit eager`; the examples plainly and with `--jit eager`.

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
    let mut src = String::new();
    // The examples are checked too, with the same runner and expectation
    // files beside each example (plain runs only: some are benchmarks).
    let examples = Path::new(&manifest).join("../examples");
    println!("cargo:rerun-if-changed={}", examples.display());
    let mut example_files = Vec::new();
    collect(&examples, &examples, &mut example_files);
    for f in example_files.iter().filter(|f| !f.contains('/')) {
        let name: String = f
            .trim_end_matches(".kasm")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let _ = writeln!(
            src,
            "#[test] fn example_{name}() {{ run_in(&examples(), {f:?}, Mode::Plain) }}"
        );
    }
    // The examples again with every loop compiled: `cargo test jit::`.
    let mut jit_examples = String::new();
    for f in example_files.iter().filter(|f| !f.contains('/')) {
        let name: String = f
            .trim_end_matches(".kasm")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let _ = writeln!(
            jit_examples,
            "    #[test] fn example_{name}() {{ run_in(&examples(), {f:?}, Mode::Jit) }}"
        );
    }
    let name = |f: &str| -> String {
        f.trim_end_matches(".kasm")
            .trim_end_matches(".kbc")
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect()
    };
    for f in &files {
        let _ = writeln!(
            src,
            "#[test] fn {}() {{ run({f:?}, Mode::Plain) }}",
            name(f)
        );
    }
    // The same files again under `--gc-stress --checked`: `cargo test
    // gc_stress::`.
    src.push_str("mod gc_stress {\n    use super::{Mode, run};\n");
    for f in &files {
        let _ = writeln!(
            src,
            "    #[test] fn {}() {{ run({f:?}, Mode::Stress) }}",
            name(f)
        );
    }
    src.push_str("}\n");
    // And with the JIT compiling every loop: `cargo test jit::`.
    src.push_str("mod jit {\n    use super::{Mode, examples, run, run_in};\n");
    src.push_str(&jit_examples);
    for f in &files {
        let _ = writeln!(
            src,
            "    #[test] fn {}() {{ run({f:?}, Mode::Jit) }}",
            name(f)
        );
    }
    src.push_str("}\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("conformance_tests.rs");
    std::fs::write(out, src).expect("write generated tests");
}
