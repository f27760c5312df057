//! Opening files beneath granted directories, with no window between the
//! check and the open.
//!
//! Each granted directory is opened once, when the capability is
//! installed, and kept as a handle. A path from the program is made
//! absolute (against the working directory) and normalized lexically (`.`
//! dropped, `..` taking off the previous component), then matched against
//! the granted directories as spelled on the command line or with their
//! symbolic links resolved; what lies below the matching directory is
//! opened relative to its handle, in one step. On Linux that step is
//! `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`; elsewhere on Unix
//! (and on kernels without `openat2`), one `openat` per component with
//! `O_NOFOLLOW`. Either way the kernel refuses a symbolic link at any
//! component, so swapping a directory for a symlink while the program runs
//! (another process writing into a shared granted directory) leads
//! nowhere. Files are opened `O_NONBLOCK`, so opening a FIFO cannot block,
//! and anything but a regular file is refused before it is read or
//! written; directories are listed through the same handle-relative open.
//! Without Unix the check resolves the path (following symlinks) and
//! opens it by name; that fallback keeps the check-then-open window.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use keel_vm::{Trap, TrapCode};

fn host_error(message: String) -> Trap {
    Trap::new(TrapCode::HostError, message)
}

/// What a function wants from a path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Access {
    /// Read a regular file.
    Read,
    /// Create or overwrite a regular file.
    Write,
}

/// One granted directory.
struct Root {
    /// Absolute spellings that name it: as granted, and resolved.
    spellings: Vec<PathBuf>,
    #[cfg(unix)]
    dir: std::os::fd::OwnedFd,
    #[cfg(not(unix))]
    dir: PathBuf,
}

/// The granted directories of one capability.
pub(crate) struct Grant {
    roots: Vec<Root>,
}

/// `p` made absolute against the working directory, with `.` and `..`
/// applied lexically.
fn lexical_absolute(p: &Path) -> Option<PathBuf> {
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(p)
    };
    let mut out = PathBuf::new();
    for c in full.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c.as_os_str()),
        }
    }
    Some(out)
}

impl Grant {
    /// Opens each of `dirs` that exists and is a directory; others grant
    /// nothing.
    pub(crate) fn new(dirs: &[PathBuf]) -> Grant {
        let roots = dirs
            .iter()
            .filter_map(|d| {
                let resolved = d.canonicalize().ok()?;
                let mut spellings = vec![resolved.clone()];
                if let Some(given) = lexical_absolute(d).filter(|g| *g != resolved) {
                    spellings.push(given);
                }
                Some(Root {
                    dir: open_root(&resolved)?,
                    spellings,
                })
            })
            .collect();
        Grant { roots }
    }

    /// The granted directory `path` lies in and the normal components
    /// below it.
    fn locate(&self, func: &str, path: &str) -> Result<(&Root, Vec<OsString>), Trap> {
        let outside = || {
            host_error(format!(
                "{func}: `{path}` is outside the directories this program may access"
            ))
        };
        let abs = lexical_absolute(Path::new(path)).ok_or_else(outside)?;
        for root in &self.roots {
            for s in &root.spellings {
                if let Ok(rel) = abs.strip_prefix(s) {
                    let parts = rel
                        .components()
                        .map(|c| c.as_os_str().to_os_string())
                        .collect();
                    return Ok((root, parts));
                }
            }
        }
        Err(outside())
    }

    /// Opens the regular file `path` for `access`: read-only, or for
    /// writing, created if missing and truncated.
    pub(crate) fn open_file(&self, func: &str, path: &str, access: Access) -> Result<File, Trap> {
        let (root, parts) = self.locate(func, path)?;
        if access == Access::Write && parts.is_empty() {
            return Err(host_error(format!("{func}: `{path}` does not name a file")));
        }
        let file = open_below(root, &parts, Some(access))
            .map_err(|e| open_error(func, path, access_verb(access), e))?;
        let meta = file
            .metadata()
            .map_err(|e| open_error(func, path, access_verb(access), e))?;
        if !meta.is_file() {
            return Err(host_error(format!(
                "{func}: `{path}` is not a regular file; only regular files can be {}",
                if access == Access::Read {
                    "read"
                } else {
                    "written"
                }
            )));
        }
        if access == Access::Write {
            file.set_len(0)
                .map_err(|e| open_error(func, path, "write", e))?;
        }
        Ok(file)
    }

    /// The names in directory `path`, in the order the system gives them.
    pub(crate) fn list(
        &self,
        func: &str,
        path: &str,
        mut each: impl FnMut(String) -> Result<(), Trap>,
    ) -> Result<(), Trap> {
        let (root, parts) = self.locate(func, path)?;
        list_below(root, &parts, &mut each).map_err(|e| match e {
            ListError::Io(e) => open_error(func, path, "list", e),
            ListError::Stop(t) => t,
        })
    }
}

fn access_verb(access: Access) -> &'static str {
    match access {
        Access::Read => "read",
        Access::Write => "write",
    }
}

/// The message for a failed open: a symbolic link on the way is named as
/// such, anything else with the system's words.
fn open_error(func: &str, path: &str, verb: &str, e: std::io::Error) -> Trap {
    if is_symlink_refusal(&e) {
        host_error(format!(
            "{func}: `{path}` goes through a symbolic link; links are never followed under a granted directory"
        ))
    } else {
        host_error(format!("{func}: cannot {verb} `{path}`: {e}"))
    }
}

enum ListError {
    Io(std::io::Error),
    Stop(Trap),
}

#[cfg(unix)]
fn is_symlink_refusal(e: &std::io::Error) -> bool {
    let code = e.raw_os_error();
    code == Some(rustix::io::Errno::LOOP.raw_os_error())
        || code == Some(rustix::io::Errno::XDEV.raw_os_error())
}

#[cfg(unix)]
fn open_root(dir: &Path) -> Option<std::os::fd::OwnedFd> {
    use rustix::fs::{Mode, OFlags};
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// Flags for opening the last component (`None`: a directory to list).
#[cfg(unix)]
fn last_flags(access: Option<Access>) -> rustix::fs::OFlags {
    use rustix::fs::OFlags;
    let base = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
    match access {
        Some(Access::Read) => base | OFlags::RDONLY | OFlags::NOCTTY,
        Some(Access::Write) => base | OFlags::WRONLY | OFlags::CREATE | OFlags::NOCTTY,
        None => base | OFlags::RDONLY | OFlags::DIRECTORY,
    }
}

/// Opens `parts` below `root` refusing symbolic links at every component.
#[cfg(unix)]
fn open_below(root: &Root, parts: &[OsString], access: Option<Access>) -> std::io::Result<File> {
    use rustix::fs::Mode;
    let flags = last_flags(access);
    // openat2 refuses a mode without O_CREAT.
    let mode = if access == Some(Access::Write) {
        Mode::from_raw_mode(0o666)
    } else {
        Mode::empty()
    };
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::ResolveFlags;
        let rel: PathBuf = if parts.is_empty() {
            PathBuf::from(".")
        } else {
            parts.iter().collect()
        };
        let how = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(&root.dir, &rel, flags, mode, how) {
            Ok(fd) => return Ok(File::from(fd)),
            // Kernels before 5.6, or a sandbox that forbids the call: walk.
            Err(e) if e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::PERM => {}
            Err(e) => return Err(e.into()),
        }
    }
    walk_below(root, parts, flags, mode)
}

/// One `openat` per component, each with `O_NOFOLLOW`.
#[cfg(unix)]
fn walk_below(
    root: &Root,
    parts: &[OsString],
    flags: rustix::fs::OFlags,
    mode: rustix::fs::Mode,
) -> std::io::Result<File> {
    use rustix::fs::{Mode, OFlags};
    let Some((last, dirs)) = parts.split_last() else {
        return Ok(File::from(rustix::fs::openat(&root.dir, ".", flags, mode)?));
    };
    let mut cur: Option<std::os::fd::OwnedFd> = None;
    for d in dirs {
        let next = {
            let at: &std::os::fd::OwnedFd = cur.as_ref().unwrap_or(&root.dir);
            let opened = rustix::fs::openat(
                at,
                d.as_os_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            );
            match opened {
                Ok(fd) => fd,
                // A link opened with O_DIRECTORY | O_NOFOLLOW says "not a
                // directory": name it for what it is.
                Err(e) if e == rustix::io::Errno::NOTDIR => {
                    let link = rustix::fs::statat(
                        at,
                        d.as_os_str(),
                        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .is_ok_and(|st| {
                        rustix::fs::FileType::from_raw_mode(st.st_mode)
                            == rustix::fs::FileType::Symlink
                    });
                    return Err(if link { rustix::io::Errno::LOOP } else { e }.into());
                }
                Err(e) => return Err(e.into()),
            }
        };
        cur = Some(next);
    }
    let at: &std::os::fd::OwnedFd = cur.as_ref().unwrap_or(&root.dir);
    Ok(File::from(rustix::fs::openat(
        at,
        last.as_os_str(),
        flags,
        mode,
    )?))
}

#[cfg(unix)]
fn list_below(
    root: &Root,
    parts: &[OsString],
    each: &mut impl FnMut(String) -> Result<(), Trap>,
) -> Result<(), ListError> {
    let dir = open_below(root, parts, None).map_err(ListError::Io)?;
    let entries = rustix::fs::Dir::new(std::os::fd::OwnedFd::from(dir))
        .map_err(|e| ListError::Io(e.into()))?;
    for entry in entries {
        let entry = entry.map_err(|e| ListError::Io(e.into()))?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        each(String::from_utf8_lossy(name).into_owned()).map_err(ListError::Stop)?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn is_symlink_refusal(_: &std::io::Error) -> bool {
    false
}

#[cfg(not(unix))]
fn open_root(dir: &Path) -> Option<PathBuf> {
    dir.is_dir().then(|| dir.to_path_buf())
}

/// Without Unix: resolve (following links), check it stays inside, open
/// by name.
#[cfg(not(unix))]
fn open_below(root: &Root, parts: &[OsString], access: Option<Access>) -> std::io::Result<File> {
    let mut p = root.dir.clone();
    p.extend(parts);
    let inside = |q: &Path| q.canonicalize().is_ok_and(|c| c.starts_with(&root.dir));
    let denied = || std::io::Error::new(std::io::ErrorKind::PermissionDenied, "outside the grant");
    match access {
        Some(Access::Write) => {
            let parent = p.parent().map(Path::to_path_buf).unwrap_or_default();
            if !inside(&parent)
                || p.symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink())
            {
                return Err(denied());
            }
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&p)
        }
        _ => {
            if !inside(&p) {
                return Err(denied());
            }
            File::open(&p)
        }
    }
}

#[cfg(not(unix))]
fn list_below(
    root: &Root,
    parts: &[OsString],
    each: &mut impl FnMut(String) -> Result<(), Trap>,
) -> Result<(), ListError> {
    let mut p = root.dir.clone();
    p.extend(parts);
    if !p.canonicalize().is_ok_and(|c| c.starts_with(&root.dir)) {
        return Err(ListError::Io(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "outside the grant",
        )));
    }
    for entry in std::fs::read_dir(&p).map_err(ListError::Io)? {
        let entry = entry.map_err(ListError::Io)?;
        each(entry.file_name().to_string_lossy().into_owned()).map_err(ListError::Stop)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized_as_text() {
        let p = |s: &str| lexical_absolute(Path::new(s)).unwrap();
        assert_eq!(p("/a/./b/../c"), PathBuf::from("/a/c"));
        assert_eq!(p("/a/../../.."), PathBuf::from("/"));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(p("x/y/.."), cwd.join("x"));
    }

    #[test]
    fn a_path_is_located_below_the_grant_it_is_in() {
        let d = std::env::temp_dir().join(format!("keel-grant-{}", std::process::id()));
        std::fs::create_dir_all(d.join("g/sub")).unwrap();
        let grant = Grant::new(&[d.join("g"), d.join("missing")]);
        assert_eq!(grant.roots.len(), 1, "a missing directory grants nothing");
        let at = |p: &Path| {
            grant
                .locate("t", p.to_str().unwrap())
                .map(|(_, parts)| parts)
                .map_err(|t| t.message)
        };
        assert_eq!(at(&d.join("g/sub/f")), Ok(vec!["sub".into(), "f".into()]));
        assert_eq!(at(&d.join("g/sub/../f")), Ok(vec!["f".into()]));
        assert_eq!(at(&d.join("g")), Ok(vec![]));
        let out = at(&d.join("g/../h")).unwrap_err();
        assert!(out.contains("outside the directories"), "{out}");
        // A sibling whose name starts the same is outside too.
        assert!(at(&d.join("gg/f")).is_err());
    }

    /// The component-by-component fallback (used where `openat2` is
    /// missing) refuses links the same way.
    #[cfg(unix)]
    #[test]
    fn the_openat_walk_refuses_links_at_every_component() {
        let d = std::env::temp_dir().join(format!("keel-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("g/a/b")).unwrap();
        std::fs::write(d.join("g/a/b/f"), "x").unwrap();
        std::os::unix::fs::symlink(d.join("g/a"), d.join("g/link")).unwrap();
        std::os::unix::fs::symlink(d.join("g/a/b/f"), d.join("g/flink")).unwrap();
        let grant = Grant::new(&[d.join("g")]);
        let root = &grant.roots[0];
        let parts = |p: &str| -> Vec<OsString> { p.split('/').map(OsString::from).collect() };
        let flags = last_flags(Some(Access::Read));
        let mode = rustix::fs::Mode::empty();
        assert!(walk_below(root, &parts("a/b/f"), flags, mode).is_ok());
        for bad in ["link/b/f", "flink"] {
            let e = walk_below(root, &parts(bad), flags, mode).unwrap_err();
            assert!(is_symlink_refusal(&e), "{bad}: {e}");
        }
    }
}
