//! Loading programs for every command: read, assemble or decode, verify,
//! and render any error the way users read them (`file:line:col`, the
//! source line and a caret).

use std::path::Path;

use keel_assembler::diag;
use keel_vm::{Linker, MAGIC, Module, VerifiedModule, verify};

/// A loaded program with its source text when it came from `.kasm`.
pub struct Loaded {
    pub module: Module,
    pub source: Option<String>,
    pub file: String,
}

/// A failure to load, already rendered for stderr.
pub struct LoadError(pub String);

fn is_bytecode(path: &Path, bytes: &[u8]) -> bool {
    path.extension().is_some_and(|e| e == "kbc") || bytes.starts_with(&MAGIC)
}

/// The name a program read from stdin (`vmrun -`) goes by in messages.
pub const STDIN_FILE: &str = "<stdin>";

/// Reads `path` (stdin, to its end, when it is `-`) and turns it into an
/// unverified module.
pub fn load(path: &Path, library: &Linker) -> Result<Loaded, LoadError> {
    let (file, bytes) = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
            .map_err(|e| LoadError(format!("error: cannot read stdin: {e}\n")))?;
        (STDIN_FILE.to_owned(), bytes)
    } else {
        let file = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| LoadError(format!("error: cannot read {file}: {e}\n")))?;
        (file, bytes)
    };
    if is_bytecode(path, &bytes) {
        let module =
            Module::from_bytes(&bytes).map_err(|e| LoadError(format!("error: {file}: {e}\n")))?;
        return Ok(Loaded {
            module,
            source: None,
            file,
        });
    }
    let src = String::from_utf8(bytes).map_err(|e| {
        LoadError(format!(
            "error: {file} is neither Keel bytecode nor UTF-8 text (invalid UTF-8 at byte {})\n",
            e.utf8_error().valid_up_to()
        ))
    })?;
    match keel_assembler::assemble(&src, &file, library) {
        Ok(module) => Ok(Loaded {
            module,
            source: Some(src),
            file,
        }),
        Err(errors) => Err(LoadError(diag::render_asm_errors(&errors, &file, &src))),
    }
}

/// Verifies a loaded module, rendering failures against its source.
pub fn verify_loaded(
    loaded: Loaded,
) -> Result<(VerifiedModule, Option<String>, String), LoadError> {
    let Loaded {
        module,
        source,
        file,
    } = loaded;
    let src_file = module
        .debug
        .as_ref()
        .map(|d| d.file.clone())
        .unwrap_or_else(|| file.clone());
    match verify(module) {
        Ok(v) => Ok((v, source, file)),
        Err(errors) => Err(LoadError(diag::render_verify_errors(
            &errors,
            &src_file,
            source.as_deref(),
        ))),
    }
}
