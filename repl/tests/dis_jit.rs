//! `vmrun dis --jit FILE [FUNC]`: the JIT's machine code for each function,
//! each range under the specialized op (as `dis --verified` prints it) it
//! came from.

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

/// A loop in `main` that calls `add`.
const PROGRAM: &str = "\
.func add(a: int, b: int) -> int
    load a  load b  add  ret
.end

.func main()
    .local i: int
    .local s: int
    push 0 store i
    push 0 store s
top:
    load i  push 1000  lt  jmpifnot done
    load s  load i  call add  store s
    load i  push 1  add  store i
    jmp top
done:
    load s  call print
    ret
.end
";

fn program(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("keel-dis-jit-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("loop.kasm");
    std::fs::write(&path, PROGRAM).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Machine-code lines: indented deeper than op lines, address then `+offset`.
fn is_code_line(line: &str) -> bool {
    line.starts_with("            ")
        && line
            .split_whitespace()
            .nth(1)
            .is_some_and(|w| w.starts_with('+'))
}

/// Op lines, as `dis --verified` prints them: `index  @offset op`.
fn is_op_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    !is_code_line(line)
        && words.next().is_some_and(|w| w.parse::<usize>().is_ok())
        && words.next().is_some_and(|w| w.starts_with('@'))
}

/// The listing's structure: every line but code lines, which keep only
/// their offset (addresses, and bytes that encode them, vary by run).
fn shape(listing: &str) -> Vec<String> {
    listing
        .lines()
        .map(|l| {
            if is_code_line(l) {
                l.split_whitespace().nth(1).unwrap_or("").to_owned()
            } else if l.contains("bytes of machine code at") {
                l.split(" at ").next().unwrap_or("").to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect()
}

#[cfg(target_arch = "x86_64")]
#[test]
fn lists_each_function_with_code_under_its_ops() {
    let file = program("all");
    let (status, out, err) = vmrun(&["dis", "--jit", &file]);
    assert_eq!(status, 0, "{err}");
    let (vstatus, verified, verr) = vmrun(&["dis", "--verified", &file]);
    assert_eq!(vstatus, 0, "{verr}");

    // A section per function, with the header `dis --verified` prints.
    let headers: Vec<&str> = out.lines().filter(|l| l.starts_with(".func ")).collect();
    assert_eq!(
        headers,
        [".func add(int, int) -> int", ".func main()"],
        "{out}"
    );
    assert_eq!(out.lines().filter(|l| *l == ".end").count(), 2, "{out}");
    for h in &headers {
        assert!(verified.lines().any(|l| l == *h), "{h} not in\n{verified}");
    }

    // Entry points, and the loop's OSR entry in main.
    assert_eq!(out.matches("    ; entry call at +0\n").count(), 2, "{out}");
    assert_eq!(
        out.matches("    ; entry interpreter at +").count(),
        2,
        "{out}"
    );
    assert!(out.contains("    ; entry osr at "), "{out}");

    // Op lines exactly as `dis --verified` prints them, in both functions,
    // and code under them.
    let lines: Vec<&str> = out.lines().collect();
    let op_lines: Vec<&str> = lines.iter().copied().filter(|l| is_op_line(l)).collect();
    assert!(op_lines.len() >= 10, "{out}");
    for l in &op_lines {
        assert!(
            verified.lines().any(|v| v == *l),
            "op line {l:?} not in\n{verified}"
        );
    }
    let (add, main) = out.split_once(".func main()").unwrap();
    assert!(add.lines().any(is_op_line), "{out}");
    assert!(main.lines().any(is_op_line), "{out}");
    let with_code = lines
        .windows(2)
        .filter(|w| op_lines.contains(&w[0]) && is_code_line(w[1]))
        .count();
    assert!(with_code >= 5, "{out}");
    assert!(
        out.contains("    ; out of line: stubs and epilogue\n"),
        "{out}"
    );

    // Instructions, with the feature; raw bytes without it.
    let code: Vec<&str> = lines.iter().copied().filter(|l| is_code_line(l)).collect();
    assert!(code.len() >= 20, "{out}");
    if cfg!(feature = "jit-listing") {
        let mnemonics: Vec<&str> = code
            .iter()
            .filter_map(|l| {
                l.split_whitespace()
                    .skip(2)
                    .find(|w| !(w.len() == 2 && w.bytes().all(|b| b.is_ascii_hexdigit())))
            })
            .collect();
        for m in ["ret", "call", "push", "mov"] {
            assert!(mnemonics.contains(&m), "no `{m}` in\n{out}");
        }
    } else {
        assert!(
            code.iter()
                .all(|l| l.split_whitespace().skip(2).all(|w| w.len() == 2)),
            "{out}"
        );
    }

    // Deterministic but for addresses.
    let (_, again, _) = vmrun(&["dis", "--jit", &file]);
    assert_eq!(shape(&out), shape(&again));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn lists_only_the_named_function() {
    let file = program("one");
    let (status, out, err) = vmrun(&["dis", "--jit", &file, "add"]);
    assert_eq!(status, 0, "{err}");
    let headers: Vec<&str> = out.lines().filter(|l| l.starts_with(".func ")).collect();
    assert_eq!(headers, [".func add(int, int) -> int"], "{out}");
    let (_, all, _) = vmrun(&["dis", "--jit", &file]);
    let add_section = all.split(".func main()").next().unwrap();
    assert_eq!(shape(&out), shape(add_section));
}

#[test]
fn an_unknown_function_is_an_error_naming_it() {
    let file = program("nosuch");
    let (status, out, err) = vmrun(&["dis", "--jit", &file, "nosuch"]);
    assert_eq!(status, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    if cfg!(target_arch = "x86_64") {
        assert!(err.contains("no function `nosuch`"), "{err}");
    } else {
        assert!(err.contains("x86_64"), "{err}");
    }
}

#[test]
fn jit_and_verified_together_are_a_usage_error() {
    let file = program("both");
    let (status, out, err) = vmrun(&["dis", "--jit", "--verified", &file]);
    assert_eq!(status, 2, "{out}{err}");
    assert!(err.contains("--verified"), "{err}");
    // A function name alone asks for --jit.
    let (status, _, err) = vmrun(&["dis", &file, "add"]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("--jit"), "{err}");
}

#[cfg(not(target_arch = "x86_64"))]
#[test]
fn other_targets_say_there_is_no_jit() {
    let file = program("arch");
    let (status, out, err) = vmrun(&["dis", "--jit", &file]);
    assert_eq!(status, 2, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no JIT"), "{err}");
}
