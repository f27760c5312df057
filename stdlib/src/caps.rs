//! Capabilities: library functions that reach outside the instance, each
//! installed only when the host grants it (`vmrun` flags `--allow-read`,
//! `--allow-write`, `--allow-env`, `--allow-time`), and the seeded, pure
//! `rand` module.
//!
//! File access is confined to granted directories: a path is resolved
//! (following `..` and symlinks) and must stay inside one of them, so
//! neither `../` nor a symlink leads out.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use keel_vm::{FuncType, Linker, Trap, TrapCode, Type, Value};

/// A capability: the functions it unlocks and the `vmrun` flag that
/// grants it. The single table behind `vmrun caps` and link-error hints.
#[derive(Clone, Copy, Debug)]
pub struct Capability {
    /// The functions this capability provides.
    pub functions: &'static [&'static str],
    /// The `vmrun` flag that grants it.
    pub flag: &'static str,
    /// What it lets a module do.
    pub grants: &'static str,
}

/// Every capability the standard library can grant.
pub const CAPABILITIES: &[Capability] = &[
    Capability {
        functions: &["fs.read", "fs.list"],
        flag: "--allow-read=DIR",
        grants: "read files and list directories under DIR",
    },
    Capability {
        functions: &["fs.write"],
        flag: "--allow-write=DIR",
        grants: "create and overwrite files under DIR",
    },
    Capability {
        functions: &["env.get"],
        flag: "--allow-env",
        grants: "read environment variables",
    },
    Capability {
        functions: &["time.now_ms"],
        flag: "--allow-time",
        grants: "read the clock",
    },
];

/// The capability that provides `function`, if any.
pub fn capability_of(function: &str) -> Option<&'static Capability> {
    CAPABILITIES
        .iter()
        .find(|c| c.functions.contains(&function))
}

fn host_error(message: String) -> Trap {
    Trap::new(TrapCode::HostError, message)
}

/// Resolves `path` (relative to the working directory) and checks that it
/// lies inside one of `roots`. For a file that need not exist yet
/// (`for_create`), its parent directory is resolved instead.
fn confine(func: &str, path: &str, roots: &[PathBuf], for_create: bool) -> Result<PathBuf, Trap> {
    let p = Path::new(path);
    let resolved = if for_create {
        let name = p
            .file_name()
            .filter(|n| *n != "..")
            .ok_or_else(|| host_error(format!("{func}: `{path}` does not name a file")))?;
        let parent = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let dir = parent
            .canonicalize()
            .map_err(|e| host_error(format!("{func}: cannot resolve `{path}`: {e}")))?;
        let target = dir.join(name);
        // Writing through a symlink could leave the granted directories.
        if target
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(host_error(format!(
                "{func}: `{path}` is a symbolic link; refusing to write through it"
            )));
        }
        target
    } else {
        p.canonicalize()
            .map_err(|e| host_error(format!("{func}: cannot resolve `{path}`: {e}")))?
    };
    if roots.iter().any(|r| resolved.starts_with(r)) {
        Ok(resolved)
    } else {
        Err(host_error(format!(
            "{func}: `{path}` is outside the directories this program may access"
        )))
    }
}

fn canonical_roots(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter().filter_map(|d| d.canonicalize().ok()).collect()
}

/// Grants `fs.read` and `fs.list` under `dirs`.
pub fn install_fs_read(linker: &mut Linker, dirs: &[PathBuf]) {
    let roots = Arc::new(canonical_roots(dirs));
    let r = roots.clone();
    linker.define_with_doc(
        "fs.read",
        FuncType::new(vec![Type::Str], Some(Type::Str)),
        "Read a whole UTF-8 file (needs --allow-read).",
        move |cx, a| {
            let path = cx.str(a[0]).to_owned();
            let file = confine("fs.read", &path, &r, false)?;
            let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            cx.ensure_room(usize::try_from(len).unwrap_or(usize::MAX))?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| host_error(format!("fs.read: cannot read `{path}`: {e}")))?;
            Ok(Some(cx.new_str(text)?))
        },
    );
    linker.define_with_doc(
        "fs.list",
        FuncType::new(vec![Type::Str], Some(Type::array(Type::Str))),
        "Names in a directory, sorted (needs --allow-read).",
        move |cx, a| {
            let path = cx.str(a[0]).to_owned();
            let dir = confine("fs.list", &path, &roots, false)?;
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .map_err(|e| host_error(format!("fs.list: cannot list `{path}`: {e}")))?
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let mut items = Vec::with_capacity(names.len());
            for n in names {
                items.push(cx.new_str(n)?);
            }
            Ok(Some(cx.new_array(Type::Str, items)?))
        },
    );
}

/// Grants `fs.write` under `dirs`.
pub fn install_fs_write(linker: &mut Linker, dirs: &[PathBuf]) {
    let roots = canonical_roots(dirs);
    linker.define_with_doc(
        "fs.write",
        FuncType::new(vec![Type::Str, Type::Str], None),
        "Create or overwrite a file with a string (needs --allow-write).",
        move |cx, a| {
            let path = cx.str(a[0]).to_owned();
            let file = confine("fs.write", &path, &roots, true)?;
            std::fs::write(&file, cx.str(a[1]))
                .map_err(|e| host_error(format!("fs.write: cannot write `{path}`: {e}")))?;
            Ok(None)
        },
    );
}

/// Grants `env.get`.
pub fn install_env(linker: &mut Linker) {
    linker.define_with_doc(
        "env.get",
        FuncType::new(vec![Type::Str], Some(Type::Any)),
        "An environment variable's value, or nil when unset (needs --allow-env).",
        |cx, a| {
            let name = cx.str(a[0]).to_owned();
            match std::env::var(&name) {
                Ok(v) => Ok(Some(cx.new_str(v)?)),
                Err(_) => Ok(Some(Value::NIL)),
            }
        },
    );
}

/// Grants `time.now_ms`.
pub fn install_time(linker: &mut Linker) {
    linker.define_with_doc(
        "time.now_ms",
        FuncType::new(vec![], Some(Type::Int)),
        "Milliseconds since the Unix epoch (needs --allow-time).",
        |_, _| {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            Ok(Some(Value::int(ms)))
        },
    );
}

/// The seed `rand` uses when the host gives none, so runs reproduce.
pub const DEFAULT_SEED: u64 = 0x5eed;

/// Installs `rand.int`, a deterministic generator seeded with `seed`: the
/// same seed gives the same sequence on every machine (xorshift64*).
pub fn install_rand(linker: &mut Linker, seed: u64) {
    // xorshift must not start at zero.
    let state = Arc::new(Mutex::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1));
    linker.define_with_doc(
        "rand.int",
        FuncType::new(vec![Type::Int, Type::Int], Some(Type::Int)),
        "A pseudo-random int in lo..=hi from the seeded generator (--seed N).",
        move |_, a| {
            let (lo, hi) = (a[0].as_int().unwrap_or(0), a[1].as_int().unwrap_or(0));
            if lo > hi {
                return Err(Trap::invalid(format!("rand.int: empty range {lo}..={hi}")));
            }
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            *s ^= *s >> 12;
            *s ^= *s << 25;
            *s ^= *s >> 27;
            let r = s.wrapping_mul(0x2545_f491_4f6c_dd1d);
            let span = (hi as i128 - lo as i128 + 1) as u128;
            Ok(Some(Value::int(
                (lo as i128 + (r as u128 % span) as i128) as i64,
            )))
        },
    );
}
