//! Keel's standard library, registered through the same [`Linker`]
//! interface hosts use for their own functions.
//!
//! - [`install_core`]: pure functions (strings, math, arrays, formatting,
//!   GC introspection). Deterministic: nothing reaches outside the instance.
//! - [`install_io`]: `print`, `write` and `io.read_line`, bound to the
//!   output and input the host grants. Without it a module that prints
//!   fails to link, so output is a capability like any other.
//! - [`install_rand`]: `rand.int`, pure and seeded so runs reproduce.
//! - Capabilities ([`CAPABILITIES`]): `fs.read`/`fs.list`, `fs.write`,
//!   `env.get`, `time.now_ms`, each installed only when granted, with file
//!   access confined to granted directories.
//!
//! ```
//! use keel_vm::Linker;
//! let mut linker = Linker::new();
//! keel_stdlib::install_core(&mut linker);
//! assert!(linker.signature("str.len").is_some());
//! assert!(linker.signature("print").is_none());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bounded;
mod caps;
mod core;
mod grant;
mod io;
mod sort;

pub use crate::caps::{
    CAPABILITIES, Capability, DEFAULT_SEED, capability_of, install_env, install_fs_read,
    install_fs_write, install_rand, install_time,
};
pub use crate::core::install_core;
pub use crate::io::{Io, install_io};

use keel_vm::Linker;

/// Renders the library reference (`spec/stdlib.md`) from a linker's
/// definitions, so the document cannot drift from the code.
pub fn render_reference(linker: &Linker) -> String {
    let mut s = String::from(
        "# Keel standard library\n\n\
         <!-- Generated from stdlib/src by `BLESS=1 cargo test -p keel-stdlib reference`. Do not edit. -->\n\n\
         Called with `call NAME`. `T` is a type variable bound at each call site by the verifier.\n\n\
         | function | signature | description |\n|---|---|---|\n",
    );
    for f in linker.iter() {
        s.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            f.name,
            f.ty,
            f.doc.replace('|', "\\|")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `spec/stdlib.md` is generated; this fails when it is stale.
    #[test]
    fn reference_is_up_to_date() {
        let mut linker = Linker::new();
        install_io(&mut linker, Io::null());
        install_core(&mut linker);
        install_rand(&mut linker, DEFAULT_SEED);
        install_fs_read(&mut linker, &[]);
        install_fs_write(&mut linker, &[]);
        install_env(&mut linker);
        install_time(&mut linker);
        let want = render_reference(&linker);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/stdlib.md");
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(path, &want).unwrap();
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "spec/stdlib.md is stale: run `BLESS=1 cargo test -p keel-stdlib reference`"
        );
    }
}
