//! Keel's standard library, registered through the same [`Linker`]
//! interface hosts use for their own functions.
//!
//! - [`install_core`]: pure functions (strings, math, arrays, formatting,
//!   GC introspection). Deterministic: nothing reaches outside the instance.
//! - [`install_io`]: `print`, `write`, `io.write_bytes`, `io.read_line` and
//!   `io.read_bytes`, bound to the output and input the host grants.
//!   Without it a module that prints fails to link, so output is a
//!   capability like any other.
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
mod strbuf;

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
    s.push_str(&limits_section());
    s.push_str(&strbuf::section());
    s
}

/// The reference's section on memory, fuel, interrupts and file access,
/// with the numbers taken from the code.
fn limits_section() -> String {
    format!(
        "\n## Memory, fuel and interrupts\n\n\
         **Memory.** Every byte a library function builds in host memory counts against the \
         heap limit before it is allocated, so a program cannot make the host hold more than \
         the limit (plus the fixed overhead `spec/semantics.md` states) whatever it asks for. \
         A call that would pass the limit traps `out of memory: heap limit of N bytes exceeded` \
         having built nothing it keeps.\n\n\
         - Results of known size: a function whose result grows with its input or a count \
         (`str.slice`, `str.split`, `str.join`, `str.upper`, `str.lower`, `str.trim`, \
         `str.repeat`, `str.chars`, `array.slice`, `strbuf.str`; also the `concat` instruction) \
         computes the size of the whole result from its inputs without allocating and checks \
         that it fits beside what is live (collecting first if needed) before building any of \
         it: {obj} bytes per object plus a string's bytes, {val} per array element (8 in \
         `array<int>` and `array<float>`), and {build} more per element of an `array<str>` \
         being built, for the host's lists ({obj} is an upper bound: a header word, an array's \
         buffer header and length words, padding). `str.split` counts its pieces first; \
         `str.upper` and `str.lower` count the exact length of their result (a char can map to \
         up to three) and write it straight into the new string, as `str.repeat` does, so no \
         copy of the text is held in host memory.\n\
         - Results of unknown size are checked as they grow: `str.from` of a container builds \
         the display form in the heap, in pieces of {chunk} bytes appended to a string buffer \
         that meets the heap limit as it grows (an int's digits are formatted directly), so a \
         value whose display form is far larger than the heap traps at the limit. \
         `strbuf.push` of a container (array, map or record) builds its display form that way \
         before the buffer grows to take it, so the text and the buffer both count. \
         `io.read_line` and `fs.read` never hold more of their input than the heap has room \
         for: past it they trap `out of memory` without reading further. `io.read_bytes` \
         counts {read_byte} bytes for each byte it reads (the byte, and the element in the \
         list and in the array it builds), and reads in the input's own buffer-sized steps, \
         so asking for far more than the input holds costs nothing. A line of invalid UTF-8 \
         needs room for the bytes read and for the exact length of its copy with each bad \
         sequence replaced by U+FFFD (3 bytes). `fs.list` checks room for twice the names read \
         so far whenever they pass the room checked, and once that fails, caps them at the \
         room left.\n\
         - Scratch: `array.sort` sorts in place with one merge buffer of the array's length \
         (8 bytes an element for `array<int>` and `array<float>`; for `array<str>` {sort_str}, \
         a copy of the elements and the buffer), checked before it is made (nothing else runs \
         while it sorts). `array.sort_by` holds a copy of the elements and a merge buffer \
         ({sort_by} bytes an element) while its function runs, and charges them to the heap for \
         that long, so what the function allocates meets the limit with them counted. \
         `array.reverse` needs no extra memory.\n\
         - Library work costs fuel: one unit per {wpf} bytes or elements read, written, compared \
         or moved (`array.sort`: n*log2(n) comparisons; `gc.collect`: one per object slot; \
         `io.write_bytes`: one per element; `str.find`, `str.find_from`: the bytes searched), \
         charged before the work starts (by `io.read_line`, `io.read_bytes` and `fs.read`, as \
         they read); with too \
         little fuel left the call traps `out of fuel` and does none of it.\n\
         - A long library call looks at the interrupt flag (`vmrun --timeout`, \
         `InterruptHandle`) before it starts and every {step} units of work in its loops (a \
         single pass of the standard library over one string, as in `str.upper` or a search for \
         the next separator, runs to its end) and stops with `interrupted`; \
         an interrupted `array.sort` leaves the array holding its elements in some order, an \
         interrupted `gc.collect` frees nothing. A read that waits for input (`io.read_line` or \
         `io.read_bytes`) looks at the flag each time the input hands back during its wait; \
         `vmrun`'s stdin does every few milliseconds, so Ctrl-C in the REPL and `--timeout` end a \
         blocked read with `interrupted` (bytes the read had \
         already taken are dropped with it). An input that blocks in one wait (see `Io::input`) is not \
         interrupted until data or its end arrives.\n\
         - `fs.read`, `fs.write` and `fs.list` open a path beneath the granted directory's \
         handle in one step (Linux: `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`): \
         `..` is applied to the path as text and may not leave the granted directory, symbolic \
         links are never followed, and only regular files are read or written (a FIFO or device \
         is refused without blocking).\n",
        obj = keel_vm::OBJECT_BYTES,
        val = std::mem::size_of::<keel_vm::internals::Value>(),
        build = crate::core::BUILD_ELEM_BYTES,
        chunk = keel_vm::DISPLAY_CHUNK,
        sort_str = 2 * std::mem::size_of::<keel_vm::internals::Value>(),
        sort_by =
            crate::sort::SORT_BY_SCRATCH_VALUES * std::mem::size_of::<keel_vm::internals::Value>(),
        wpf = keel_vm::WORK_PER_FUEL,
        step = keel_vm::POLL_STEP,
        read_byte = crate::io::READ_BYTE_COST,
    )
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
