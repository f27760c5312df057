//! Shared setup for Keel's criterion benchmarks: load an example or a
//! benchmark program and run its `main` with arguments, output discarded.

#![forbid(unsafe_code)]

use std::path::Path;
use std::sync::Arc;

use keel_vm::{Config, Instance, Linker, Module, VerifiedModule};

/// The standard library with output discarded.
pub fn library() -> Linker {
    let mut l = Linker::new();
    keel_stdlib::install_io(&mut l, keel_stdlib::Io::null());
    keel_stdlib::install_core(&mut l);
    l
}

/// The source of `path`, relative to the repository root.
pub fn source(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Assembles `path`.
pub fn assemble(path: &str, lib: &Linker) -> Module {
    keel_assembler::assemble(&source(path), path, lib).expect("benchmark programs assemble")
}

/// Assembles and verifies `path`.
pub fn verified(path: &str, lib: &Linker) -> Arc<VerifiedModule> {
    Arc::new(keel_vm::verify(assemble(path, lib)).expect("benchmark programs verify"))
}

/// Runs `main(args)` of a verified module in a fresh instance.
pub fn run_main(module: &Arc<VerifiedModule>, lib: &Linker, args: &[&str]) {
    run_main_with(module, lib, args, Config::default());
}

/// Runs `main(args)` in a fresh instance configured by `config`.
pub fn run_main_with(module: &Arc<VerifiedModule>, lib: &Linker, args: &[&str], config: Config) {
    let mut inst = Instance::new(module.clone(), lib, config).expect("links");
    let main = module.module().func_index("main").expect("has main");
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let arr = inst.new_str_array(&args).expect("args fit");
    inst.call_index(main, &[arr])
        .expect("runs without trapping");
}
