use super::*;
use keel_vm::{Type, verify};

fn asm(src: &str) -> Result<Module, Vec<AsmError>> {
    assemble(src, "t.kasm", &NoLibrary)
}

fn first_error(src: &str) -> (String, (u32, u32)) {
    let e = asm(src).unwrap_err().remove(0);
    (e.to_string(), diag::line_col(src, e.span.start))
}

#[test]
fn assembles_the_issue_example_shape() {
    let src = r#"
.module demo
.import host.log(str)
.import host.now() -> int
.global total: int = 0
.global seen: map<str,int>
.export fib

.func fib(n: int) -> int            ; params are the first locals
    load n  push 2  lt  jmpif small
    load n  push 1  sub  call fib
    load n  push 2  sub  call fib
    add  ret
small:
    load n  ret
.end

.func main()
    .local i: int
    push 30  call fib  pop
    push "hi" call host.log
    ret
.end
"#;
    let m = asm(src).unwrap();
    assert_eq!(m.name.as_deref(), Some("demo"));
    assert_eq!(m.imports.len(), 2);
    assert!(m.funcs[0].exported && !m.funcs[1].exported);
    verify(m).unwrap();
}

#[test]
fn errors_have_locations_and_say_what_was_expected() {
    assert_eq!(
        first_error(".func main()\n    ad ret\n.end\n"),
        (
            "unknown instruction `ad`; did you mean `add`?".into(),
            (2, 5)
        )
    );
    assert_eq!(
        first_error(".func main()\n    load\n.end\n"),
        (
            "`load` expects a local name or index, found `.end`"
                .replace("`.end`", "the end of the function"),
            (2, 5)
        )
    );
    assert_eq!(
        first_error(".func main()\n    load x ret\n.end\n"),
        ("unknown local `x`".into(), (2, 10))
    );
    assert_eq!(
        first_error(".func main()\n    jmp nowhere\n.end\n"),
        ("unknown label `nowhere`".into(), (2, 9))
    );
    assert_eq!(
        first_error(".func main()\n    call nope ret\n.end\n"),
        ("unknown function `nope`".into(), (2, 10))
    );
    assert_eq!(
        first_error(".global g: int = \"s\"\n"),
        (
            "global `g` of type int cannot be initialized with a string".into(),
            (1, 18)
        )
    );
    assert_eq!(
        first_error(".func main(x: integer)\n.end\n"),
        (
            "unknown type `integer` (expected int, float, bool, str, any, array<T> or map<K,V>)"
                .into(),
            (1, 15)
        )
    );
    assert_eq!(
        first_error(".func main()\n    push 1 2\n.end\n"),
        ("expected an instruction, found integer `2`".into(), (2, 12))
    );
}

#[test]
fn eof_inside_a_function_is_flagged_for_the_repl() {
    let e = asm(".func main()\n    push 1\n").unwrap_err().remove(0);
    assert!(e.is_unexpected_eof(), "{e}");
}

#[test]
fn every_opcode_assembles_and_disassembles() {
    // One instance of each mnemonic with a sensible operand.
    let src = r#"
.global g: int
.func f(a: int) -> int
    load a ret
.end
.func main()
    .local s: str
    .local arr: array<int>
    .local m: map<str,int>
    .local x: any
    .local n: int
top:
    nop
    push 1 push 2.5 push "s" push true push nil
    pop pop pop pop pop
    push 1 dup swap over pop pop pop
    push 3 store 4 gload g gstore g
    push 1 push 2 add push 3 sub push 4 mul push 5 div push 6 rem neg
    push 1 and push 2 or push 3 xor not push 1 shl push 1 shr
    push 1 eq push true ne jmpifnot top
    push 1 push 2 lt push 1 push 2 le push 1 push 2 gt push 1 push 2 ge pop pop pop pop
    push 1 itof ftoi pop
    push nil cast int pop
    push "a" push "b" concat store s
    push 3 push 0 array.new store arr
    load arr push 0 array.get pop
    load arr push 0 push 9 array.set
    load arr array.len pop
    load arr push 4 array.push
    load arr array.pop pop
    map.new str int store m
    load m push "k" map.get pop
    load m push "k" push 0 map.get_or pop
    load m push "k" push 1 map.set
    load m push "k" map.has pop
    load m push "k" map.del
    load m map.len pop
    load m map.keys pop
    push 1 call f pop
    push true jmpif done
    jmp done
done:
    push nil store x
    push false jmpif fail
    ret
fail:
    trap "boom"
.end
"#;
    let m = asm(src).unwrap();
    let text = disassemble(&m).unwrap();
    for op in keel_vm::isa::Opcode::ALL {
        assert!(
            text.lines()
                .any(|l| l.trim_start().split(' ').next() == Some(op.mnemonic())),
            "{} missing from disassembly",
            op.mnemonic()
        );
    }
    let again = asm(&text).unwrap();
    assert_eq!(again.stripped().to_bytes(), m.stripped().to_bytes());
    let back = Module::from_bytes(&m.to_bytes()).unwrap();
    assert_eq!(back, m);
    verify(m).unwrap();
}

#[test]
fn reserved_words_cannot_be_declared_as_names() {
    let cases = [
        (
            ".global nil: int\n.func main()\n    ret\n.end\n",
            (1, 9),
            "nil",
        ),
        (".func f(true: int)\n    ret\n.end\n", (1, 9), "true"),
        (
            ".func main()\n    .local inf: float\n    ret\n.end\n",
            (2, 12),
            "inf",
        ),
        (".func main()\nnan:\n    ret\n.end\n", (2, 1), "nan"),
        (
            ".func main()\n    jmp false\nfalse:\n    ret\n.end\n",
            (3, 1),
            "false",
        ),
        (".import host.f(nil: int)\n", (1, 16), "nil"),
    ];
    for (src, at, word) in cases {
        let errors = asm(src).unwrap_err();
        assert_eq!(errors.len(), 1, "{src}");
        let e = &errors[0];
        assert_eq!(
            e.to_string(),
            format!("expected a name, found reserved word `{word}`"),
            "{src}"
        );
        assert_eq!(diag::line_col(src, e.span.start), at, "{src}");
        assert_eq!(&src[e.span.start..e.span.end], word, "{src}");
    }
    // Dotted names and longer words that start with one are names.
    asm(".global nil_count: int\n.func main()\n    .local info: int\ntrue.x:\n    ret\n.end\n")
        .unwrap();
}

#[test]
fn type_variables_are_read_in_import_signatures_only() {
    let m =
        asm(".import array.sort(a: array<T>)\n.import m.f(map<str,U>, T9) -> array<T>\n").unwrap();
    assert_eq!(m.imports[0].ty.params, [Type::array(Type::Var(0))]);
    assert_eq!(m.imports[1].ty.to_string(), "(map<str,U>, T9) -> array<T>");
    for src in [
        ".func f(x: T)\n    ret\n.end\n",
        ".global g: array<T>\n",
        ".func f()\n    .local x: U\n    ret\n.end\n",
        ".func f() -> T\n    ret\n.end\n",
        ".func f()\n    cast T\n    ret\n.end\n",
    ] {
        let (msg, _) = first_error(src);
        assert!(msg.starts_with("unknown type `"), "{src}: {msg}");
    }
}

#[test]
fn what_the_assembler_writes_loads() {
    // Control characters in the file name are replaced: the reader rejects
    // them in the debug section.
    let m = assemble(
        ".func main()\n    ret\n.end\n",
        "a\nb\u{1b}.kasm",
        &NoLibrary,
    )
    .unwrap();
    assert_eq!(m.debug.as_ref().unwrap().file, "a?b?.kasm");
    assert_eq!(Module::from_bytes(&m.to_bytes()).unwrap(), m);
}

#[test]
fn did_you_mean_hints() {
    let hint = |word: &str| first_error(&format!(".func main()\n    {word}\n.end\n")).0;
    assert_eq!(hint("ad"), "unknown instruction `ad`; did you mean `add`?");
    assert_eq!(
        hint("pusj"),
        "unknown instruction `pusj`; did you mean `push`?"
    );
    assert_eq!(
        hint("jmpifnto"),
        "unknown instruction `jmpifnto`; did you mean `jmpifnot`?"
    );
    assert_eq!(
        hint(&"x".repeat(5000)),
        format!("unknown instruction `{}`", "x".repeat(5000))
    );
}
