//! Capabilities through `vmrun`: writing inside a granted directory, and
//! `vmrun caps` reporting what a module needs.

use std::process::Command;

fn vmrun(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .args(args)
        .output()
        .expect("vmrun runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("keel-caps-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn fs_write_creates_files_only_inside_the_granted_directory() {
    let dir = temp_dir("write");
    let prog = dir.join("w.kasm");
    std::fs::write(
        &prog,
        ".func main(args: array<str>)\n    load args push 0 array.get push \"written by keel\" call fs.write\n    ret\n.end\n",
    )
    .unwrap();
    let granted = dir.join("out");
    std::fs::create_dir_all(&granted).unwrap();
    let target = granted.join("note.txt");
    let flag = format!("--allow-write={}", granted.display());
    let (status, _, err) = vmrun(&[&flag, prog.to_str().unwrap(), target.to_str().unwrap()]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "written by keel");
    // Outside the grant: refused, and nothing is written.
    let outside = dir.join("escape.txt");
    let (status, _, err) = vmrun(&[&flag, prog.to_str().unwrap(), outside.to_str().unwrap()]);
    assert_eq!(status, 1);
    assert!(
        err.contains("outside the directories this program may access"),
        "{err}"
    );
    assert!(!outside.exists());
    // Through `..`: refused too.
    let sneaky = format!("{}/../escape.txt", granted.display());
    let (status, _, _) = vmrun(&[&flag, prog.to_str().unwrap(), &sneaky]);
    assert_eq!(status, 1);
    assert!(!outside.exists());
}

#[test]
fn caps_lists_needs_and_the_least_privilege_command() {
    let dir = temp_dir("list");
    let prog = dir.join("p.kasm");
    std::fs::write(
        &prog,
        ".func main()\n    push \"x\" call fs.read call print\n    call time.now_ms pop\n    push 1 push 2 call rand.int pop\n    ret\n.end\n",
    )
    .unwrap();
    let (status, out, err) = vmrun(&["caps", prog.to_str().unwrap()]);
    assert_eq!(status, 0, "{err}");
    assert!(
        out.contains("fs.read(str) -> str  needs --allow-read=DIR"),
        "{out}"
    );
    assert!(
        out.contains("time.now_ms() -> int  needs --allow-time"),
        "{out}"
    );
    assert!(
        out.contains("print(any)  writes stdout, granted by vmrun"),
        "{out}"
    );
    assert!(
        out.contains("rand.int(int, int) -> int  pure, always available"),
        "{out}"
    );
    assert!(out.contains("vmrun --allow-read=DIR --allow-time"), "{out}");

    let host = dir.join("h.kasm");
    std::fs::write(
        &host,
        ".import host.log(str)\n.func main()\n    push \"x\" call host.log\n    ret\n.end\n",
    )
    .unwrap();
    let (status, out, _) = vmrun(&["caps", host.to_str().unwrap()]);
    assert_eq!(status, 0);
    assert!(
        out.contains("host.log(str)  a host function: vmrun does not provide it"),
        "{out}"
    );
    assert!(out.contains("cannot run under vmrun"), "{out}");
}

/// Runs `vmrun ARGS`, killing it after ten seconds (a blocked open must
/// not hang the test). Returns status (None when killed), stdout, stderr.
fn vmrun_limited(args: &[&str]) -> (Option<i32>, String, String) {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmrun"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vmrun runs");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if start.elapsed() > std::time::Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return (None, String::new(), String::new());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, out, err)
}

fn program(dir: &std::path::Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(".func main(args: array<str>)\n    {body}\n    ret\n.end\n"),
    )
    .unwrap();
    p.to_str().unwrap().to_owned()
}

/// Paths are opened beneath the granted directory's handle: a nested path
/// works; `..` out of it, a symbolic link out of it, and a symbolic link
/// to a directory inside it (on the way to a file, for reading or
/// writing) are all refused.
#[cfg(unix)]
#[test]
fn fs_paths_stay_beneath_the_grant_and_never_follow_links() {
    use std::os::unix::fs::symlink;
    let dir = temp_dir("beneath");
    let g = dir.join("granted");
    std::fs::create_dir_all(g.join("a/b")).unwrap();
    std::fs::write(g.join("a/b/c.txt"), "nested").unwrap();
    std::fs::write(dir.join("outside.txt"), "SECRET").unwrap();
    symlink(dir.join("outside.txt"), g.join("out-link")).unwrap();
    symlink(g.join("a"), g.join("in-link")).unwrap();
    let read = program(
        &dir,
        "r.kasm",
        "load args push 0 array.get call fs.read call write",
    );
    let write = program(
        &dir,
        "w.kasm",
        "load args push 0 array.get push \"new\" call fs.write",
    );
    let r = format!("--allow-read={}", g.display());
    let w = format!("--allow-write={}", g.display());
    let at = |rel: &str| format!("{}/{rel}", g.display());

    let (status, out, err) = vmrun_limited(&[&r, &read, &at("a/b/c.txt")]);
    assert_eq!((status, out.as_str()), (Some(0), "nested"), "{err}");
    let (status, out, err) = vmrun_limited(&[&r, &read, &at("a/./b/../b/c.txt")]);
    assert_eq!((status, out.as_str()), (Some(0), "nested"), "{err}");

    let (status, out, err) = vmrun_limited(&[&r, &read, &at("out-link")]);
    assert_eq!(status, Some(1), "{out}");
    assert!(err.contains("goes through a symbolic link"), "{err}");

    let (status, out, err) = vmrun_limited(&[&r, &read, &at("a/../../outside.txt")]);
    assert_eq!(status, Some(1), "{out}");
    assert!(
        err.contains("outside the directories this program may access"),
        "{err}"
    );

    let (status, out, err) = vmrun_limited(&[&r, &read, &at("in-link/b/c.txt")]);
    assert_eq!(
        status,
        Some(1),
        "a link inside the grant is not followed either: {out}"
    );
    assert!(err.contains("goes through a symbolic link"), "{err}");

    let (status, _, err) = vmrun_limited(&[&w, &write, &at("in-link/new.txt")]);
    assert_eq!(status, Some(1), "{err}");
    assert!(err.contains("goes through a symbolic link"), "{err}");
    assert!(!g.join("a/new.txt").exists());

    let (status, _, err) = vmrun_limited(&[&w, &write, &at("a/b/new.txt")]);
    assert_eq!(status, Some(0), "{err}");
    assert_eq!(
        std::fs::read_to_string(g.join("a/b/new.txt")).unwrap(),
        "new"
    );
}

/// Only regular files are read or written, and opening never blocks: a
/// FIFO in a granted directory (which once blocked `fs.read` and
/// `fs.write` forever) and `/dev/zero` (which `fs.read` read until memory
/// ran out) are refused at once.
#[cfg(unix)]
#[test]
fn fs_refuses_fifos_and_devices_without_blocking() {
    let dir = temp_dir("fifo");
    let fifo = dir.join("pipe");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let read = program(
        &dir,
        "r.kasm",
        "load args push 0 array.get call fs.read call write",
    );
    let write = program(
        &dir,
        "w.kasm",
        "load args push 0 array.get push \"x\" call fs.write",
    );
    let r = format!("--allow-read={}", dir.display());
    let w = format!("--allow-write={}", dir.display());
    let f = fifo.to_str().unwrap();

    let (status, _, err) = vmrun_limited(&[&r, &read, f]);
    assert_eq!(status, Some(1), "fs.read of a FIFO: {err}");
    assert!(err.contains("is not a regular file"), "{err}");
    let (status, _, err) = vmrun_limited(&[&w, &write, f]);
    assert_eq!(status, Some(1), "fs.write of a FIFO: {err}");
    assert!(err.contains("fs.write"), "{err}");

    let (status, _, err) =
        vmrun_limited(&["--max-heap", "16M", "--allow-read=/dev", &read, "/dev/zero"]);
    assert_eq!(status, Some(1), "fs.read of /dev/zero: {err}");
    assert!(err.contains("is not a regular file"), "{err}");
}

/// The check and the open are one step: while another thread keeps
/// swapping a directory of the grant for a symbolic link to a directory
/// outside it, reading a file through that directory never returns the
/// outside file's contents (with a check by name followed by an open by
/// name, some reads did).
#[cfg(unix)]
#[test]
fn swapping_a_directory_for_a_symlink_during_reads_never_leaks() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = temp_dir("race");
    let g = dir.join("granted");
    let outside = dir.join("outside");
    std::fs::create_dir_all(g.join("real")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(g.join("real/f"), "inside").unwrap();
    std::fs::write(outside.join("f"), "SECRET").unwrap();
    std::os::unix::fs::symlink(&outside, g.join("evil")).unwrap();

    let out = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut lib = keel_vm::Linker::new();
    keel_stdlib::install_io(
        &mut lib,
        keel_stdlib::Io {
            out: out.clone(),
            input: Arc::new(Mutex::new(std::io::empty())),
        },
    );
    keel_stdlib::install_core(&mut lib);
    keel_stdlib::install_fs_read(&mut lib, std::slice::from_ref(&g));
    let target = format!("{}/sub/f", g.display());
    let src = format!(".func main()\n    push {target:?} call fs.read call print\n    ret\n.end\n");
    let module = keel_assembler::assemble(&src, "race.kasm", &lib).unwrap();
    let v = Arc::new(keel_vm::verify(module).unwrap());
    let mut inst = keel_vm::Instance::new(v.clone(), &lib, keel_vm::Config::default()).unwrap();
    let main = v.module().func_index("main").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (stop, g) = (stop.clone(), g.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for name in ["real", "evil"] {
                    let _ = std::fs::rename(g.join(name), g.join("sub"));
                    let _ = std::fs::rename(g.join("sub"), g.join(name));
                }
            }
        })
    };
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..3000 {
        match inst.call_index(main, &[]) {
            Ok(_) => ok += 1,
            Err(_) => refused += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    let text = String::from_utf8_lossy(&out.lock().unwrap()).into_owned();
    eprintln!("{ok} reads succeeded, {refused} refused or missing");
    assert!(!text.contains("SECRET"), "read outside the grant");
    assert!(ok > 0, "no read ever succeeded");
}

/// The byte functions are stdout and stdin like `print` and
/// `io.read_line`, not pure library functions.
#[test]
fn caps_lists_the_byte_functions_as_stdout_and_stdin() {
    let dir = temp_dir("bytes");
    let prog = dir.join("b.kasm");
    std::fs::write(
        &prog,
        ".func main()\n    push 1 call io.read_bytes call io.write_bytes\n    ret\n.end\n",
    )
    .unwrap();
    let (status, out, err) = vmrun(&["caps", prog.to_str().unwrap()]);
    assert_eq!(status, 0, "{err}");
    assert!(
        out.contains("io.write_bytes(array<int>)  writes stdout, granted by vmrun"),
        "{out}"
    );
    assert!(
        out.contains("io.read_bytes(int) -> array<int>  reads stdin, granted by vmrun"),
        "{out}"
    );
}
