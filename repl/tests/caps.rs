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
