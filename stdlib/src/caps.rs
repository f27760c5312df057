//! Capabilities: library functions that reach outside the instance, each
//! installed only when the host grants it (`vmrun` flags `--allow-read`,
//! `--allow-write`, `--allow-env`, `--allow-time`), and the seeded, pure
//! `rand` module.
//!
//! File access is confined to granted directories, each held open as a
//! handle: a path is opened beneath one of them refusing `..` out of it and
//! symbolic links anywhere, in one step (see [`crate::grant`]); only
//! regular files are read or written.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use keel_vm::internals::Value;
use keel_vm::{FuncType, Linker, NativeCtx, OBJECT_BYTES, Trap, TrapCode, Type};

use crate::bounded::BoundedBuf;
use crate::grant::{Access, Grant};

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

/// Bytes `fs.read` reads and `fs.write` writes between looks at the
/// interrupt flag.
const IO_STEP: usize = keel_vm::POLL_STEP;

/// Grants `fs.read` and `fs.list` under `dirs`.
pub fn install_fs_read(linker: &mut Linker, dirs: &[PathBuf]) {
    let grant = Arc::new(Grant::new(dirs));
    let g = grant.clone();
    linker.define_with_doc(
        "fs.read",
        FuncType::new(vec![Type::Str], Some(Type::Str)),
        "Read a whole UTF-8 file (needs --allow-read).",
        move |cx, a| {
            let path = cx.str(a[0]).to_owned();
            let file = g.open_file("fs.read", &path, Access::Read)?;
            let text = read_file(cx, file, &path)?;
            Ok(Some(cx.new_str(text)?))
        },
    );
    linker.define_with_doc(
        "fs.list",
        FuncType::new(vec![Type::Str], Some(Type::array(Type::Str))),
        "Names in a directory, sorted (needs --allow-read).",
        move |cx, a| {
            let path = cx.str(a[0]).to_owned();
            // Each name becomes a string and an array element: before what
            // has been read passes the room checked, check room for twice
            // as much (or, once that fails, take the room left as a cap).
            let (mut names, mut bytes, mut room) = (Vec::new(), 0usize, Room::default());
            grant.list("fs.list", &path, |name| {
                bytes = bytes.saturating_add(name.len() + OBJECT_BYTES + LIST_NAME_BYTES);
                room.ensure(cx, bytes)?;
                names.push(name);
                if names.len() % 1024 == 0 {
                    cx.charge_work(1024)?;
                }
                Ok(())
            })?;
            // In place: names in a directory are distinct, and a stable
            // sort would allocate a scratch buffer the room did not count.
            names.sort_unstable();
            let mut items = Vec::with_capacity(names.len());
            for n in names {
                items.push(cx.new_str(n)?);
            }
            Ok(Some(cx.new_array(Type::Str, items)?))
        },
    );
}

/// Host bytes per name `fs.list` holds besides the name's own bytes: its
/// `String` in the list of names read and its element in the array built.
const LIST_NAME_BYTES: usize = std::mem::size_of::<String>() + std::mem::size_of::<Value>();

/// Room in the heap checked ahead for a result that grows as it is read:
/// doubling while the heap has room, then capped at the room left.
#[derive(Default)]
struct Room {
    checked: usize,
    capped: bool,
}

impl Room {
    /// Fails with `out of memory` unless `need` bytes are within the room
    /// checked, checking more when they are not.
    fn ensure(&mut self, cx: &mut NativeCtx<'_>, need: usize) -> Result<(), Trap> {
        if need <= self.checked {
            return Ok(());
        }
        if !self.capped {
            let ahead = need.saturating_mul(2);
            if cx.ensure_room(ahead).is_ok() {
                self.checked = ahead;
                return Ok(());
            }
            // ensure_room collected: the room left is exact now.
            self.checked = cx.heap_room();
            self.capped = true;
            if need <= self.checked {
                return Ok(());
            }
        }
        Err(cx.out_of_memory())
    }
}

/// Reads an open file in steps, within the heap limit: a file's stated
/// length is not trusted (procfs files say 0), only what the heap has room
/// for is ever held ([`BoundedBuf`]).
fn read_file(cx: &mut NativeCtx<'_>, mut file: std::fs::File, path: &str) -> Result<String, Trap> {
    use std::io::Read;
    let mut buf = BoundedBuf::default();
    let mut chunk = vec![0u8; 64 << 10];
    let mut since = 0;
    loop {
        let n = match file.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(host_error(format!("fs.read: cannot read `{path}`: {e}"))),
        };
        buf.extend(cx, &chunk[..n])?;
        since += n;
        if since >= IO_STEP {
            cx.charge_work(since as u64)?;
            since = 0;
        }
    }
    cx.charge_work(since as u64)?;
    String::from_utf8(buf.into_vec()).map_err(|_| {
        host_error(format!(
            "fs.read: cannot read `{path}`: stream did not contain valid UTF-8"
        ))
    })
}

/// Grants `fs.write` under `dirs`.
pub fn install_fs_write(linker: &mut Linker, dirs: &[PathBuf]) {
    let grant = Grant::new(dirs);
    linker.define_with_doc(
        "fs.write",
        FuncType::new(vec![Type::Str, Type::Str], None),
        "Create or overwrite a file with a string (needs --allow-write).",
        move |cx, a| {
            use std::io::Write;
            let path = cx.str(a[0]).to_owned();
            let mut file = grant.open_file("fs.write", &path, Access::Write)?;
            let len = cx.str(a[1]).len();
            cx.charge_work(len as u64)?;
            let mut at = 0;
            while at < len {
                let text = cx.str(a[1]).as_bytes();
                let end = (at + IO_STEP).min(len);
                file.write_all(&text[at..end])
                    .map_err(|e| host_error(format!("fs.write: cannot write `{path}`: {e}")))?;
                at = end;
                cx.poll()?;
            }
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
