//! Issue 13's wide host functions, used from Keel code: `Val` and `Vec<_>`
//! results, narrow-int parameters and results out of range (an
//! `invalid_argument` trap naming the value and the Rust type), closures of
//! 8 and 10 parameters of mixed types, and a module's exports with their
//! signatures.

use keel_vm::{CallError, Engine, Instance, Linker, Trap, TrapCode, Type, Val};

const SRC: &str = r#"
.export last_word
.func last_word(s: str) -> str
    .local words: array<str>
    load s call host.words store words
    load words load words array.len push 1 sub array.get ret
.end
.export sum_squares
.func sum_squares(n: int) -> int
    .local xs: array<int>
    .local i: int
    .local total: int
    load n call host.squares store xs
    push 0 store i
    push 0 store total
next:
    load i load xs array.len lt jmpifnot done
    load total load xs load i array.get add store total
    load i push 1 add store i
    jmp next
done:
    load total ret
.end
.export kind
.func kind(key: str) -> str
    .local v: any
    load key call host.lookup store v
    load v is int jmpif an_int
    load v is str jmpif a_str
    load v is array<str> jmpif strs
    load v isnil jmpif none
    push "other" ret
an_int:
    push "int" ret
a_str:
    push "str" ret
strs:
    push "array<str>" ret
none:
    push "nil" ret
.end
.export lookup
.func lookup(key: str) -> any
    load key call host.lookup ret
.end
.export mixed
.func mixed() -> array<any>
    call host.mixed ret
.end
.export byte
.func byte(n: int) -> int
    load n call host.byte ret
.end
.export small
.func small(n: int) -> int
    load n call host.small ret
.end
.export big
.func big() -> int
    call host.big ret
.end
.export eight
.func eight() -> int
    push 1 push 2 push 3 push 4 push 5 push 6 push 7 push 8 call host.eight ret
.end
.export ten
.func ten(last: int) -> str
    push 1 push 2.5 push true push "four" push 5 push 6 push 7 push 8 push 9 load last call host.ten ret
.end
"#;

fn linker() -> Linker {
    let mut l = Linker::new();
    l.func("host.words", |s: String| -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    });
    l.func("host.squares", |n: i64| -> Result<Vec<i64>, String> {
        if !(0..=1000).contains(&n) {
            return Err(format!("expected 0 to 1000 squares, found {n}"));
        }
        Ok((1..=n).map(|i| i * i).collect())
    });
    l.func("host.lookup", |key: String| -> Val {
        match key.as_str() {
            "port" => Val::Int(8080),
            "name" => Val::from("keel"),
            "tags" => Val::Array(Type::Str, vec![Val::from("a"), Val::from("b")]),
            _ => Val::Nil,
        }
    });
    l.func("host.mixed", || -> Vec<Val> {
        vec![
            Val::Int(1),
            Val::from("two"),
            Val::Nil,
            Val::Array(Type::Float, vec![Val::Float(0.5)]),
        ]
    });
    l.func("host.byte", |b: u8| u16::from(b) * 2);
    l.func("host.small", |n: i32| n / 2);
    l.func("host.big", || u64::MAX);
    l.func(
        "host.eight",
        |a: i64, b: i32, c: i16, d: i8, e: u64, f: u32, g: u16, h: u8| {
            a * 10_000_000
                + i64::from(b) * 1_000_000
                + i64::from(c) * 100_000
                + i64::from(d) * 10_000
                + i64::try_from(e).unwrap_or(-1) * 1000
                + i64::from(f) * 100
                + i64::from(g) * 10
                + i64::from(h)
        },
    );
    l.func(
        "host.ten",
        |a: i64, b: f64, c: bool, d: String, e: u8, f: i32, g: u32, h: i64, i: usize, j: i64| {
            format!("{a} {b} {c} {d} {e} {f} {g} {h} {i} {j}")
        },
    );
    l
}

fn instance() -> Instance {
    let engine = Engine::default();
    let linker = linker();
    let module = keel_assembler::load_text(&engine, SRC, "host_fns.kasm", &linker)
        .unwrap_or_else(|e| panic!("{}", e.render()));
    engine.instantiate(&module, &linker).expect("links")
}

fn trap(result: Result<Option<Val>, CallError>) -> Trap {
    match result {
        Err(CallError::Trap(t)) => t,
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn vec_results_are_arrays_keel_code_indexes_and_sums() {
    let mut inst = instance();
    assert_eq!(
        inst.call("last_word", &[Val::from("one two three")])
            .unwrap(),
        Some(Val::from("three"))
    );
    assert_eq!(
        inst.call("sum_squares", &[Val::Int(4)]).unwrap(),
        Some(Val::Int(1 + 4 + 9 + 16))
    );
    assert_eq!(
        inst.call("sum_squares", &[Val::Int(0)]).unwrap(),
        Some(Val::Int(0))
    );
    // A `Result<Vec<_>, _>` error is a host_error trap with its message.
    let t = trap(inst.call("sum_squares", &[Val::Int(-3)]));
    assert_eq!(t.code, TrapCode::HostError);
    assert_eq!(t.message, "expected 0 to 1000 squares, found -3");
    // A `Vec<Val>` result is an `array<any>`, each element as given.
    assert_eq!(
        inst.call("mixed", &[]).unwrap(),
        Some(Val::Array(
            Type::Any,
            vec![
                Val::Int(1),
                Val::from("two"),
                Val::Nil,
                Val::Array(Type::Float, vec![Val::Float(0.5)]),
            ]
        ))
    );
}

#[test]
fn val_results_keep_their_dynamic_type_in_keel() {
    let mut inst = instance();
    for (key, kind) in [
        ("port", "int"),
        ("name", "str"),
        ("tags", "array<str>"),
        ("other", "nil"),
    ] {
        assert_eq!(
            inst.call("kind", &[Val::from(key)]).unwrap(),
            Some(Val::from(kind)),
            "{key}"
        );
    }
    assert_eq!(
        inst.call("lookup", &[Val::from("tags")]).unwrap(),
        Some(Val::Array(Type::Str, vec![Val::from("a"), Val::from("b")]))
    );
    assert_eq!(
        inst.call("lookup", &[Val::from("port")]).unwrap(),
        Some(Val::Int(8080))
    );
}

#[test]
fn narrow_ints_out_of_range_are_invalid_argument_traps() {
    let mut inst = instance();
    assert_eq!(
        inst.call("byte", &[Val::Int(255)]).unwrap(),
        Some(Val::Int(510))
    );
    for (func, n, rust) in [
        ("byte", 256, "u8"),
        ("byte", -1, "u8"),
        ("small", i64::from(i32::MAX) + 1, "i32"),
        ("small", i64::MIN, "i32"),
    ] {
        let t = trap(inst.call(func, &[Val::Int(n)]));
        assert_eq!(t.code, TrapCode::InvalidArgument, "{func}({n})");
        assert_eq!(
            t.message,
            format!(
                "{n} does not fit the host function's {rust} (an int crossing as {rust} must be in its range)"
            )
        );
        assert_eq!(t.backtrace[0].func, func, "the Keel caller is on the trace");
    }
    assert_eq!(
        inst.call("small", &[Val::Int(i64::from(i32::MIN))])
            .unwrap(),
        Some(Val::Int(i64::from(i32::MIN / 2)))
    );
    // A result Keel's int cannot hold is refused the same way.
    let t = trap(inst.call("big", &[]));
    assert_eq!(t.code, TrapCode::InvalidArgument);
    assert_eq!(
        t.message,
        format!(
            "{} does not fit the host function's int (i64) (an int crossing as int (i64) must be in its range)",
            u64::MAX
        )
    );
    // The instance is usable after each of them.
    assert_eq!(
        inst.call("byte", &[Val::Int(0)]).unwrap(),
        Some(Val::Int(0))
    );
}

#[test]
fn closures_of_eight_and_ten_parameters_get_every_argument_in_order() {
    let l = linker();
    assert_eq!(
        l.signature("host.eight").unwrap().to_string(),
        "(int, int, int, int, int, int, int, int) -> int"
    );
    assert_eq!(
        l.signature("host.ten").unwrap().to_string(),
        "(int, float, bool, str, int, int, int, int, int, int) -> str"
    );
    let mut inst = instance();
    assert_eq!(inst.call_typed::<i64>("eight", &[]).unwrap(), 12_345_678);
    assert_eq!(
        inst.call_typed::<String>("ten", &[Val::Int(10)]).unwrap(),
        "1 2.5 true four 5 6 7 8 9 10"
    );
    // The tenth argument is converted like the first: -1 is no usize.
    let mut l = Linker::new();
    l.func(
        "host.ten",
        |_: i64, _: f64, _: bool, _: String, _: u8, _: i32, _: u32, _: i64, _: i64, j: usize| j,
    );
    let engine = Engine::default();
    let src = ".export ten\n.func ten(last: int) -> int\n    push 1 push 2.5 push true push \"four\" push 5 push 6 push 7 push 8 push 9 load last call host.ten ret\n.end\n";
    let module = keel_assembler::load_text(&engine, src, "ten.kasm", &l).unwrap();
    let mut inst = engine.instantiate(&module, &l).unwrap();
    assert_eq!(inst.call("ten", &[Val::Int(7)]).unwrap(), Some(Val::Int(7)));
    let t = trap(inst.call("ten", &[Val::Int(-1)]));
    assert_eq!(t.code, TrapCode::InvalidArgument);
    assert!(
        t.message
            .starts_with("-1 does not fit the host function's usize"),
        "{}",
        t.message
    );
}

#[test]
fn exports_list_names_and_signatures_in_definition_order() {
    let engine = Engine::default();
    let module = keel_assembler::load_text(&engine, SRC, "host_fns.kasm", &linker()).unwrap();
    let exports: Vec<String> = module
        .exports()
        .map(|e| format!("{}{}", e.name, e.ty))
        .collect();
    assert_eq!(
        exports,
        [
            "last_word(str) -> str",
            "sum_squares(int) -> int",
            "kind(str) -> str",
            "lookup(str) -> any",
            "mixed() -> array<any>",
            "byte(int) -> int",
            "small(int) -> int",
            "big() -> int",
            "eight() -> int",
            "ten(int) -> str",
        ]
    );
    let ten = module.exports().find(|e| e.name == "ten").unwrap();
    assert_eq!(ten.ty.params, [Type::Int]);
    assert_eq!(ten.ty.result, Some(Type::Str));
    // Functions not exported are not listed.
    let src = ".export pub_fn\n.func helper() -> int\n    push 1 ret\n.end\n.func pub_fn() -> int\n    call helper ret\n.end\n";
    let module = keel_assembler::load_text(&engine, src, "m.kasm", &Linker::new()).unwrap();
    let names: Vec<&str> = module.exports().map(|e| e.name).collect();
    assert_eq!(names, ["pub_fn"]);
}
