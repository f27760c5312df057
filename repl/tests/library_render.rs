//! A host renders load errors exactly as `vmrun` does: for every
//! conformance file under `asm/` and `verify/` that does not load,
//! `keel_assembler::load_text(..).unwrap_err().render()` (the library's
//! caret renderer, `keel_assembler::diag`) is byte for byte what
//! `vmrun check FILE` prints on stderr for the same file, and `vmrun
//! check` exits with status 2.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/conformance")
}

/// Every library function `vmrun` can grant, so names resolve as in
/// `vmrun check` (which links nothing, but assembles against them all).
fn library() -> keel_vm::Linker {
    let mut l = keel_vm::Linker::new();
    keel_stdlib::install_io(&mut l, keel_stdlib::Io::null());
    keel_stdlib::install_core(&mut l);
    keel_stdlib::install_rand(&mut l, keel_stdlib::DEFAULT_SEED);
    keel_stdlib::install_fs_read(&mut l, &[PathBuf::from(".")]);
    keel_stdlib::install_fs_write(&mut l, &[PathBuf::from(".")]);
    keel_stdlib::install_env(&mut l);
    keel_stdlib::install_time(&mut l);
    l
}

#[test]
fn load_text_errors_render_as_vmrun_prints_them() {
    let engine = keel_vm::Engine::default();
    let linker = library();
    let (mut asm, mut verify) = (0, 0);
    for dir in ["asm", "verify"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
            .expect("conformance dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "kasm"))
            .collect();
        files.sort();
        for path in files {
            let rel = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            let Ok(src) = std::fs::read_to_string(&path) else {
                continue; // not UTF-8: vmrun's own message, no assembly
            };
            let Err(err) = keel_assembler::load_text(&engine, &src, &rel, &linker) else {
                continue; // loads; its expectation is about running it
            };
            match err.errors() {
                keel_assembler::TextErrors::Assemble(_) => asm += 1,
                keel_assembler::TextErrors::Verify(_) => verify += 1,
            }
            let out = Command::new(env!("CARGO_BIN_EXE_vmrun"))
                .current_dir(root())
                .args(["check", &rel])
                .output()
                .expect("vmrun runs");
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                err.render(),
                "{rel}: vmrun's stderr (left) and LoadTextError::render (right)"
            );
            assert_eq!(out.status.code(), Some(2), "{rel}");
        }
    }
    // Guards against comparing nothing (a moved directory, say).
    assert!(
        asm >= 20 && verify >= 20,
        "compared {asm} asm and {verify} verify errors"
    );
}
