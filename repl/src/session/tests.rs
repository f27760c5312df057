use super::*;

fn session(config: Config) -> Session {
    let (catalog, _) = crate::library();
    let (linker, _) = crate::library();
    Session::new(catalog, linker, config).expect("session")
}

fn eval(s: &mut Session, input: &str) -> Result<String, String> {
    match s.eval(input, 1)? {
        Reply::Show(text) => Ok(text),
        Reply::Quit => Ok("<quit>".into()),
    }
}

#[test]
fn stack_values_survive_collections_between_and_during_lines() {
    let mut s = session(Config::default().gc_stress(true));
    eval(&mut s, "\"a\" \"b\" concat 3 0 array.new").expect("runs");
    // Pops both, allocates (collecting at every allocation), then traps:
    // the restored stack must still hold live objects.
    let err = eval(&mut s, "pop pop \"x\" \"y\" concat pop 1 0 div").expect_err("traps");
    assert!(err.contains("division by zero"), "{err}");
    eval(&mut s, ":gc").expect("collects");
    assert_eq!(s.stack_line(), "[\"ab\": str, [0, 0, 0]: array<int>]");
}

#[test]
fn a_failed_input_changes_nothing() {
    let mut s = session(Config::default());
    eval(&mut s, ".func f() -> int push 1 ret .end").expect("defines");
    eval(&mut s, ".local x: int 7 store x").expect("runs");
    let before = (s.stack_line(), s.names());
    for bad in [
        "push 1 pusj",
        "\"s\" 1 add",
        ".func f() -> str push 1 ret .end",
        ".local x: str 3 store x",
        "5 store x 1 0 div",
    ] {
        eval(&mut s, bad).expect_err(bad);
        assert_eq!((s.stack_line(), s.names()), before, "after {bad}");
    }
    assert_eq!(
        eval(&mut s, "call f load x").expect("runs"),
        "[1: int, 7: int]\n"
    );
}

#[test]
fn names_cover_functions_globals_and_locals_but_not_hidden_slots() {
    let mut s = session(Config::default());
    eval(&mut s, ".func f() ret .end .global g: int").expect("defines");
    eval(&mut s, ".local x: int").expect("declares");
    let mut names = s.names();
    names.sort();
    assert_eq!(names, ["f", "g", "x"]);
}

#[test]
fn an_interrupt_stops_a_running_line_and_keeps_the_stack() {
    let mut s = session(Config::default());
    eval(&mut s, "1 2").expect("runs");
    let handle = s.interrupt_handle();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        handle.interrupt();
    });
    let err = eval(&mut s, "top: jmp top").expect_err("interrupted");
    stopper.join().expect("stopper");
    assert!(err.starts_with("error: interrupted"), "{err}");
    assert_eq!(s.stack_line(), "[1: int, 2: int]");
    // A stale interrupt does not hit the next line.
    s.interrupt_handle().interrupt();
    assert_eq!(eval(&mut s, "add").expect("runs"), "[3: int]\n");
}

mod random_input {
    use super::*;
    use proptest::prelude::*;

    const WORDS: &[&str] = &[
        "push",
        "pop",
        "dup",
        "swap",
        "over",
        "add",
        "sub",
        "mul",
        "div",
        "lt",
        "eq",
        "not",
        "concat",
        "itof",
        "ftoi",
        "cast",
        "int",
        "any",
        "array<int>",
        "load",
        "store",
        "gload",
        "gstore",
        "x",
        "g",
        "f",
        "call",
        "print",
        "str.len",
        "array.new",
        "array.get",
        "array.push",
        "map.new",
        "str",
        "jmp",
        "jmpif",
        "top:",
        "top",
        "ret",
        "0",
        "1",
        "-3",
        "2.5",
        "\"s\"",
        "true",
        "nil",
        ".local",
        "x:",
        ".func",
        "f()",
        "->",
        ".end",
        ".global",
        "g:",
        "=",
        "(",
        ")",
        ":stack",
        ":clear",
        ":dis",
        ":help",
        ";",
        "\"open",
        "#",
        "<",
    ];

    fn line() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(WORDS), 0..8).prop_map(|w| w.join(" "))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// Whatever is typed, the REPL answers without panicking, and an
        /// input that fails leaves the stack and the names as they were.
        #[test]
        fn never_panics_and_failures_change_nothing(lines in prop::collection::vec(line(), 1..12)) {
            let mut s = session(Config::default()
                .fuel(1_000_000)
                .max_heap_bytes(16 << 20));
            for l in &lines {
                let before = (s.stack_line(), s.names());
                match s.eval(l, 1) {
                    Ok(_) => {}
                    Err(e) => {
                        prop_assert!(e.starts_with("error:"), "{e}");
                        prop_assert_eq!(&(s.stack_line(), s.names()), &before, "after {}", l);
                    }
                }
            }
        }
    }
}

#[test]
fn a_value_sharing_its_children_shows_as_a_bounded_prefix() {
    // 40 arrays, each holding the one before twice: a display form of
    // about 4 TB from a few kilobytes of heap.
    let mut s = session(Config::default());
    eval(
        &mut s,
        ".func dag() -> any
    .local x: any
    .local i: int
    push 0 store x
top:
    push 2 load x array.new store x
    load i push 1 add store i
    load i push 40 lt jmpif top
    load x ret
.end",
    )
    .expect("defines");
    let shown = eval(&mut s, "call dag").expect("runs");
    assert!(shown.starts_with("[[[[[[[[[["), "{shown}");
    assert!(shown.ends_with("...: any]\n"), "{shown}");
    assert!(shown.len() < 200, "{shown}");
    let full = eval(&mut s, ":stack").expect("shows");
    assert!(full.len() < (1 << 20) + 100, "{}", full.len());
    assert!(full.ends_with("...: any\n"), "{}", &full[full.len() - 20..]);
}

#[test]
fn records_are_session_items() {
    let mut s = session(Config::default());
    assert_eq!(
        eval(&mut s, ".record P\n  x: int  next: P\n.end").expect("defines"),
        "defined record P\n"
    );
    // Functions, globals and lines name it; the text that declares it is
    // gone, so each input gets the declaration it needs.
    eval(
        &mut s,
        ".func mk(x: int) -> P load x push nil rec.new P ret .end",
    )
    .expect("defines");
    eval(&mut s, ".global head: P").expect("defines");
    eval(&mut s, "push 1 call mk dup gstore head rec.get P.x").expect("runs");
    assert_eq!(s.stack_line(), "[1: int]");
    // A record naming another brings it along (the line names only Q).
    eval(&mut s, ".record Q p: P .end").expect("defines");
    eval(&mut s, "gload head rec.new Q rec.get Q.p rec.get P.x").expect("runs");
    assert_eq!(s.stack_line(), "[1: int, 1: int]");
    // The same declaration again is accepted; another one is refused and
    // changes nothing.
    assert_eq!(
        eval(&mut s, ".record P x: int next: P .end").expect("same"),
        "record P unchanged\n"
    );
    let before = (s.stack_line(), s.names());
    let err = eval(&mut s, ".record P x: float .end").expect_err("changed");
    assert!(
        err.contains("record `P` is already defined as `x: int  next: P`"),
        "{err}"
    );
    let err = eval(&mut s, ".record R a: Nope .end").expect_err("unknown type");
    assert!(err.contains("unknown type `Nope`"), "{err}");
    assert_eq!((s.stack_line(), s.names()), before);
    // A failed input that defines a record leaves no trace of it.
    eval(
        &mut s,
        ".record Zed z: int .end .func bad() -> int push \"s\" ret .end",
    )
    .expect_err("bad");
    assert!(!s.names().contains(&"Zed".to_owned()));
    eval(&mut s, ".record Zed z: str .end").expect("Zed is free");
}

#[test]
fn array_literals_and_fn_refs_in_a_session() {
    let mut s = session(Config::default());
    eval(&mut s, ".global t: array<str> = [\"a\", \"b\"]").expect("defines");
    eval(
        &mut s,
        ".func twice(x: int) -> int load x push 2 mul ret .end",
    )
    .expect("defines");
    eval(&mut s, ".local f: fn(int) -> int fn.ref twice store f").expect("runs");
    eval(
        &mut s,
        "\"b\" pop gload t [\"c\", \"a\"] 21 load f call.ref",
    )
    .expect("runs");
    assert_eq!(
        s.stack_line(),
        "[[\"a\", \"b\"]: array<str>, [\"c\", \"a\"]: array<str>, 42: int]"
    );
}

#[test]
fn unknown_calls_suggest_session_and_library_functions() {
    let mut s = session(Config::default());
    eval(
        &mut s,
        ".func square(x: int) -> int load x load x mul ret .end",
    )
    .expect("defines");
    let err = eval(&mut s, "3 call sqare").expect_err("unknown");
    assert!(err.contains("did you mean `square`?"), "{err}");
    let err = eval(&mut s, "\"a\" call str.lem").expect_err("unknown");
    assert!(err.contains("did you mean `str.len`?"), "{err}");
}
