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
            "unknown type `integer` (expected int, float, bool, str, any, strbuf, array<T>, map<K,V>, fn(...) or a record name)"
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
.record P
    x: int
    next: P
.end
.func f(a: int) -> int
    load a ret
.end
.func main()
    .local s: str
    .local arr: array<int>
    .local m: map<str,int>
    .local x: any
    .local n: int
    .local p: P
    .local r: fn(int) -> int
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
    push nil store x load x cast int pop
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
    push 1 push nil rec.new P store p
    load p rec.get P.x pop
    load p push 2 rec.set P.x
    load p isnil pop
    load x is P pop
    fn.ref f store r
    push 3 load r call.ref pop
    push [1, 2] pop
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
    for op in keel_vm::internals::isa::Opcode::ALL {
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

/// The code bytes of function `f` of `src`.
fn code_of(src: &str, f: usize) -> Vec<u8> {
    asm(src).unwrap().funcs[f].code.clone()
}

#[test]
fn structured_blocks_lower_to_the_documented_jumps() {
    // Each block and the hand-written jumps syntax.md says it lowers to.
    let pairs = [
        (
            "push true .if push 1 pop .endif ret",
            "push true jmpifnot e push 1 pop e: ret",
        ),
        (
            "push true .if push 1 .else push 2 .endif pop ret",
            "push true jmpifnot el push 1 jmp e el: push 2 e: pop ret",
        ),
        (
            "h0: .while load i push 3 lt .do .continue .break .endwhile ret",
            "h0: h: load i push 3 lt jmpifnot e jmp h jmp e jmp h e: ret",
        ),
        (
            ".for i = 0, n .continue .break .endfor ret",
            "push 0 store i h: load i load n lt jmpifnot e jmp c jmp e \
             c: load i push 1 add store i jmp h e: ret",
        ),
        (
            ".for i = n, -5 .endfor ret",
            "load n store i h: load i push -5 lt jmpifnot e \
             load i push 1 add store i jmp h e: ret",
        ),
    ];
    for (blocks, jumps) in pairs {
        let wrap = |body: &str| {
            format!(".func main()\n    .local i: int\n    .local n: int\n    {body}\n.end\n")
        };
        assert_eq!(
            code_of(&wrap(blocks), 0),
            code_of(&wrap(jumps), 0),
            "{blocks}"
        );
    }
}

#[test]
fn structured_blocks_nest_and_verify() {
    let src = r#"
.func main() -> int
    .local i: int
    .local j: int
    .local n: int
    .for i = 0, 4
        .for j = 0, i
            .while load n push 100 lt .do
                load n push 1 add store n
                load n push 2 rem push 0 eq .if .continue .else .break .endif
            .endwhile
        .endfor
        load i push 2 eq .if .break .endif
    .endfor
    load n ret
.end
"#;
    verify(asm(src).unwrap()).unwrap();
}

#[test]
fn generated_jumps_point_at_their_directive() {
    let src = ".func main()\n    .local i: int\n    .for i = 0, 2\n        push true\n        .if\n            .continue\n        .endif\n    .endfor\n    ret\n.end\n";
    let m = asm(src).unwrap();
    let d = &m.debug.as_ref().unwrap().funcs[0];
    let instrs = keel_vm::internals::isa::decode_code(&m.funcs[0].code, 0).unwrap();
    let pos_of = |off: u32| {
        let p = d.lines.iter().find(|(o, _)| *o == off).unwrap().1;
        (p.line, p.col)
    };
    let jumps: Vec<(String, (u32, u32))> = instrs
        .iter()
        .filter(|(_, i)| matches!(i.operand, keel_vm::internals::isa::Operand::Target(_)))
        .map(|(off, i)| (i.op.mnemonic().to_owned(), pos_of(*off)))
        .collect();
    assert_eq!(
        jumps,
        [
            ("jmpifnot".into(), (3, 5)), // the .for's exit
            ("jmpifnot".into(), (5, 9)), // .if
            ("jmp".into(), (6, 13)),     // .continue
            ("jmp".into(), (8, 5)),      // .endfor's back jump
        ]
    );
    // Generated labels are not named in the debug info: nothing to clash
    // with user labels, and `dis` names them L<offset>.
    assert!(d.labels.is_empty());
    let text = disassemble(&m).unwrap();
    assert!(
        !text.contains(".if") && text.contains("jmpifnot L"),
        "{text}"
    );
    assert_eq!(
        asm(&text).unwrap().stripped().to_bytes(),
        m.stripped().to_bytes()
    );
}

#[test]
fn user_labels_named_like_dis_labels_do_not_clash() {
    // A user label `L4` elsewhere: the listing renames the generated one.
    let src = ".func main()\n    push true\n    .if\n        jmp L4\n    L4:\n    .endif\n    ret\n.end\n";
    let m = asm(src).unwrap();
    let text = disassemble(&m).unwrap();
    let again = asm(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert_eq!(again.stripped().to_bytes(), m.stripped().to_bytes());
}

#[test]
fn unbalanced_blocks_are_located_errors() {
    let body = |b: &str| format!(".func main()\n    .local i: int\n    .local x: str\n{b}\n.end\n");
    let cases = [
        (
            "    push true\n    .if\n    ret",
            "expected `.endif` for the `.if` at 5:5, found `.end`",
            (7, 1),
        ),
        (
            "    .while push true\n    .endwhile",
            "expected `.do` for the `.while` at 4:5, found `.endwhile`",
            (5, 5),
        ),
        (
            "    .for i = 0, 1\n    push true .if\n    .endfor",
            "expected `.endif` for the `.if` at 5:15, found `.endfor`",
            (6, 5),
        ),
        ("    .endif", "`.endif` without an open `.if`", (4, 5)),
        ("    .do", "`.do` without an open `.while`", (4, 5)),
        (
            "    .continue",
            "`.continue` outside a loop (`.while` or `.for`)",
            (4, 5),
        ),
        (
            "    .while .break .do .endwhile",
            "`.break` in the condition of the `.while` at 4:5 (it belongs in the body, after `.do`)",
            (4, 12),
        ),
        (
            "    .for x = 0, 1 .endfor",
            "`.for` counts with an int local, but `x` is str",
            (4, 10),
        ),
        (
            "    .for i = x, 1 .endfor",
            "a `.for` bound is an int literal or an int local, but `x` is str",
            (4, 14),
        ),
        ("    .for j = 0, 1 .endfor", "unknown local `j`", (4, 10)),
    ];
    for (b, msg, at) in cases {
        let src = body(b);
        assert_eq!(first_error(&src), (msg.to_owned(), at), "{src}");
    }
    // Input that ends inside a block inside a function still asks for more.
    let e = asm(".func main()\n    .if\n").unwrap_err().remove(0);
    assert!(e.is_unexpected_eof(), "{e}");
}

#[test]
fn did_you_mean_for_names() {
    let src = ".global counter: int\n.func helper()\n    ret\n.end\n.func main()\n    .local total: int\n{}\n.end\n";
    let hint = |body: &str| first_error(&src.replace("{}", body)).0;
    assert_eq!(
        hint("    store totl"),
        "unknown local `totl`; did you mean `total`?"
    );
    assert_eq!(
        hint("    gload countr"),
        "unknown global `countr`; did you mean `counter`?"
    );
    assert_eq!(
        hint("    call helpr"),
        "unknown function `helpr`; did you mean `helper`?"
    );
    assert_eq!(
        hint("top:\n    jmp tpo"),
        "unknown label `tpo`; did you mean `top`?"
    );
    // Nothing close: no hint.
    assert_eq!(hint("    store zzzzzz"), "unknown local `zzzzzz`");
    assert_eq!(hint("    call q"), "unknown function `q`");
    // Library functions are candidates too.
    let lib = {
        let mut l = keel_vm::Linker::new();
        l.define(
            "str.len",
            FuncType::new(vec![Type::Str], Some(Type::Int)),
            |_, _| Ok(None),
        );
        l
    };
    let e = assemble(".func main()\n    call str.lne\n.end\n", "t.kasm", &lib)
        .unwrap_err()
        .remove(0);
    assert_eq!(
        e.to_string(),
        "unknown function `str.lne`; did you mean `str.len`?"
    );
}

#[test]
fn records_fn_types_and_array_literals_assemble_and_round_trip() {
    let src = r#"
.global t: array<int> = [1, -2]
.global cb: fn(int) -> fn(int) -> int
.func f(n: Node, g: fn(Node) -> bool) -> fn() -> Node
    push nil ret
.end
.record Node left: Node  right: Leaf .end
.record Leaf
    up: Node
    tags: array<str>
.end
.func main()
    .local x: any
    load x is fn(int) -> bool pop
    load x cast array<Node> pop
    push array<Leaf> [] pop
    push array<float> [1.5] pop
    push ["a", "b"] pop
    push nil push nil rec.new Node rec.get Node.right pop
    ret
.end
"#;
    let m = asm(src).unwrap();
    assert_eq!(m.records.len(), 2);
    assert_eq!(m.records[0].name, "Node");
    assert_eq!(
        m.records[1].fields[1],
        ("tags".into(), Type::array(Type::Str))
    );
    // `->` binds to the nearest fn(...).
    assert_eq!(m.globals[1].ty.to_string(), "fn(int) -> fn(int) -> int");
    assert_eq!(
        m.funcs[0].ty.result.as_ref().unwrap().to_string(),
        "fn() -> Node"
    );
    assert_eq!(
        m.globals[0].init,
        keel_vm::GlobalInit::Array(keel_vm::internals::isa::ArrayLit::Int(vec![1, -2]))
    );
    let text = disassemble(&m).unwrap();
    assert!(text.contains("push array<Leaf> []"), "{text}");
    assert!(text.contains("rec.get Node.right"), "{text}");
    let again = asm(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
    assert_eq!(again.stripped().to_bytes(), m.stripped().to_bytes());
}

#[test]
fn record_and_array_errors_are_located() {
    let cases = [
        (
            ".record Body x: float .end\n.func main(b: Bdy)\n    ret\n.end\n",
            "unknown type `Bdy`; did you mean `Body`?",
            (2, 15),
        ),
        (
            ".record Body x: float .end\n.func main(b: Body)\n    load b rec.get Body.z pop ret\n.end\n",
            "unknown field `Body.z`; the fields of `Body` are x",
            (3, 20),
        ),
        (
            ".record Body x: float .end\n.func main()\n    rec.new Boddy pop ret\n.end\n",
            "unknown record `Boddy`; did you mean `Body`?",
            (3, 13),
        ),
        (
            ".record map x: int .end\n",
            "`map` is a built-in type and cannot name a record",
            (1, 9),
        ),
        (
            ".record U x: int .end\n",
            "`U` names a type variable of library signatures and cannot name a record",
            (1, 9),
        ),
        (
            ".record A x: int .end\n.record A y: int .end\n",
            "record `A` is already defined",
            (2, 9),
        ),
        (
            ".record A x: int x: int .end\n",
            "field `A.x` is already defined",
            (1, 18),
        ),
        (
            ".func main()\n    push [true, 1] pop ret\n.end\n",
            "elements of an array<bool> literal are bool literals, found integer `1`",
            (2, 17),
        ),
        (
            ".func main()\n    push [] pop ret\n.end\n",
            "an empty array literal needs its type, as in `push array<int> []`",
            (2, 10),
        ),
        (
            ".global g: array<str> = [1]\n",
            "elements of an array<str> literal are str literals, found integer `1`",
            (1, 26),
        ),
        (
            ".global g: map<str,int> = []\n",
            "global `g` of type map<str,int> cannot be initialized with an array literal",
            (1, 27),
        ),
        (
            ".global g: fnn(int)\n",
            "`fnn(...)` is not a type (function types are written fn(int, str) -> bool)",
            (1, 12),
        ),
    ];
    for (src, msg, at) in cases {
        assert_eq!(first_error(src), (msg.to_owned(), at), "{src}");
    }
    // nil initializes records and function references, not ints.
    asm(".record A x: int .end\n.global a: A = nil\n.global f: fn() = nil\n").unwrap();
    assert!(asm(".global a: int = nil\n").is_err());
}
