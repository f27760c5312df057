//! Property: assemble -> write .kbc -> read -> disassemble -> assemble is
//! the identity on the bytecode, for generated programs that use every
//! operand kind (literals of all kinds, locals, globals, labels, calls to
//! module functions and imports, types and map types), with structured
//! control flow blocks (`.if`/`.else`, `.while`/`.do` with `.break` and
//! `.continue`, `.for`) nested among them.

use keel_assembler::{NoLibrary, assemble, disassemble, quote};
use keel_vm::Module;
use proptest::prelude::*;

/// One generated instruction, as source text.
fn instr(
    nlocals: usize,
    nglobals: usize,
    nlabels: usize,
    nfuncs: usize,
) -> impl Strategy<Value = String> {
    let simple = prop::sample::select(vec![
        "nop",
        "pop",
        "dup",
        "swap",
        "over",
        "add",
        "sub",
        "mul",
        "div",
        "rem",
        "neg",
        "and",
        "or",
        "xor",
        "not",
        "shl",
        "shr",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "itof",
        "ftoi",
        "concat",
        "array.new",
        "array.get",
        "array.set",
        "array.len",
        "array.push",
        "array.pop",
        "map.get",
        "map.get_or",
        "map.set",
        "map.has",
        "map.del",
        "map.len",
        "map.keys",
        "ret",
        "isnil",
        "call.ref",
    ])
    .prop_map(str::to_owned);
    let ty = prop::sample::select(vec![
        "int",
        "float",
        "bool",
        "str",
        "any",
        "array<int>",
        "map<str,array<float>>",
        "strbuf",
        "R0",
        "array<R1>",
        "fn(int, R0) -> array<str>",
        "fn()",
    ]);
    let key = prop::sample::select(vec!["int", "str", "bool"]);
    prop_oneof![
        4 => simple,
        1 => any::<i64>().prop_map(|v| format!("push {v}")),
        1 => any::<f64>().prop_map(|v| format!("push {}", keel_vm::format_float(v))),
        1 => ".*".prop_map(|s: String| format!("push {}", quote(&s))),
        1 => any::<bool>().prop_map(|b| format!("push {b}")),
        1 => Just("push nil".to_owned()),
        1 => (0..nlocals).prop_map(|i| format!("load v{i}")),
        1 => (0..nlocals).prop_map(|i| format!("store {i}")),
        1 => (0..nglobals).prop_map(|i| format!("gload g{i}")),
        1 => (0..nglobals).prop_map(|i| format!("gstore g{i}")),
        1 => (0..nlabels, prop::sample::select(vec!["jmp", "jmpif", "jmpifnot"])).prop_map(|(l, j)| format!("{j} L{l}")),
        1 => (0..nfuncs).prop_map(|f| format!("call f{f}")),
        1 => Just("call host.fn".to_owned()),
        1 => ty.clone().prop_map(|t| format!("cast {t}")),
        1 => (key, ty.clone()).prop_map(|(k, t)| format!("map.new {k} {t}")),
        1 => ".*".prop_map(|s: String| format!("trap {}", quote(&s))),
        1 => ty.clone().prop_map(|t| format!("is {t}")),
        1 => Just("rec.new R0".to_owned()),
        1 => prop::sample::select(vec!["R0.a", "R0.b", "R1.next"]).prop_map(|f| format!("rec.get {f}")),
        1 => prop::sample::select(vec!["R0.a", "R0.b", "R1.next"]).prop_map(|f| format!("rec.set {f}")),
        1 => (0..nfuncs).prop_map(|f| format!("fn.ref f{f}")),
        1 => prop::collection::vec(any::<i64>(), 1..4).prop_map(|v| format!("push {v:?}")),
        1 => prop::collection::vec(any::<f64>(), 1..4).prop_map(|v| format!(
            "push [{}]",
            v.iter().map(|x| keel_vm::format_float(*x)).collect::<Vec<_>>().join(", ")
        )),
        1 => prop::collection::vec(".*", 1..3).prop_map(|v: Vec<String>| format!(
            "push [{}]",
            v.iter().map(|x| quote(x)).collect::<Vec<_>>().join(", ")
        )),
        1 => prop::collection::vec(any::<bool>(), 1..4).prop_map(|v| format!("push {v:?}")),
        1 => prop::sample::select(vec!["int", "float", "str", "bool", "R0", "any", "array<int>"])
            .prop_map(|t| format!("push array<{t}> []")),
    ]
}

/// An instruction or a structured block of them, nested a few levels.
/// `.for` counts with `v0`, the int parameter of every generated function.
fn stmt(leaf: BoxedStrategy<String>) -> impl Strategy<Value = String> {
    leaf.prop_recursive(3, 12, 3, |inner| {
        let body = prop::collection::vec(inner, 0..4).prop_map(|v| v.join("\n"));
        prop_oneof![
            body.clone().prop_map(|b| format!(".if\n{b}\n.endif")),
            (body.clone(), body.clone()).prop_map(|(a, b)| format!(".if\n{a}\n.else\n{b}\n.endif")),
            (body.clone(), body.clone()).prop_map(|(c, b)| format!(
                ".while\n{c}\n.do\n{b}\n.if .break .else .continue .endif\n.endwhile"
            )),
            (body, -3i64..3, prop::sample::select(vec!["v0", "7"])).prop_map(|(b, a, to)| {
                format!(".for v0 = {a}, {to}\n{b}\n.if .continue .endif .break\n.endfor")
            }),
        ]
    })
}

fn program() -> impl Strategy<Value = String> {
    (1usize..4, 1usize..4, 1usize..4, 1usize..3).prop_flat_map(
        |(nlocals, nglobals, nlabels, nfuncs)| {
            let leaf = instr(nlocals, nglobals, nlabels, nfuncs).boxed();
            let body = prop::collection::vec(stmt(leaf), 0..30);
            let bodies = prop::collection::vec(body, nfuncs);
            let label_positions =
                prop::collection::vec(prop::collection::vec(0usize..41, nlabels), nfuncs);
            (bodies, label_positions).prop_map(move |(bodies, labels)| {
                let mut src = String::from(".module gen\n.import host.fn(int, str) -> any\n");
                src.push_str(
                    ".record R0\n    a: int  b: R1\n    c: fn(int) -> any  d: array<str>\n.end\n",
                );
                src.push_str(".record R1 next: R1 .end\n");
                src.push_str(
                    ".global t0: array<str> = [\"x\", \"y\"]\n.global t1: array<R0> = []\n",
                );
                src.push_str(".global t2: fn(R0) = nil\n.global t3: array<float> = [1.5]\n");
                for g in 0..nglobals {
                    src.push_str(&format!(".global g{g}: int = {g}\n"));
                }
                for (f, (body, labels)) in bodies.iter().zip(&labels).enumerate() {
                    src.push_str(&format!(".func f{f}(v0: int)\n"));
                    for l in 1..nlocals {
                        src.push_str(&format!("    .local v{l}: any\n"));
                    }
                    for (i, ins) in body.iter().enumerate() {
                        for (l, at) in labels.iter().enumerate() {
                            if *at == i {
                                src.push_str(&format!("L{l}:\n"));
                            }
                        }
                        src.push_str(&format!("    {ins}\n"));
                    }
                    for (l, at) in labels.iter().enumerate() {
                        if *at >= body.len() {
                            src.push_str(&format!("L{l}:\n"));
                        }
                    }
                    src.push_str("    ret\n.end\n");
                }
                src.push_str(".export f0\n");
                src
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn assemble_write_read_disassemble_assemble_is_identity(src in program()) {
        let m = assemble(&src, "gen.kasm", &NoLibrary).map_err(|e| TestCaseError::fail(format!("{e:?}\n{src}")))?;
        let bytes = m.to_bytes();
        let read = Module::from_bytes(&bytes).expect("own output decodes");
        prop_assert_eq!(&read, &m);
        let text = disassemble(&read).expect("own output disassembles");
        let again = assemble(&text, "gen.kasm", &NoLibrary).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(again.stripped().to_bytes(), m.stripped().to_bytes(), "{}", text);
        // Names survive too: locals, labels and functions.
        let d1 = m.debug.as_ref().expect("assembler writes debug info");
        let d2 = again.debug.as_ref().expect("assembler writes debug info");
        for (a, b) in d1.funcs.iter().zip(&d2.funcs) {
            prop_assert_eq!(&a.local_names, &b.local_names);
        }
    }

    #[test]
    fn stripped_modules_round_trip_too(src in program()) {
        let m = assemble(&src, "gen.kasm", &NoLibrary).expect("generated programs assemble").stripped();
        let text = disassemble(&m).expect("disassembles");
        let again = assemble(&text, "gen.kasm", &NoLibrary).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert_eq!(again.stripped().to_bytes(), m.to_bytes());
    }

    #[test]
    fn the_assembler_never_panics(src in ".*") {
        let _ = assemble(&src, "fuzz.kasm", &NoLibrary);
    }

    /// Token soup from the whole vocabulary (blocks, records, array
    /// literals, fn types) inside and outside functions: errors, never a
    /// panic.
    #[test]
    fn token_soup_never_panics(words in prop::collection::vec(prop::sample::select(vec![
        ".func", "main()", ".end", ".if", ".else", ".endif", ".while", ".do", ".endwhile",
        ".for", "i", "=", "0", ",", "n", ".endfor", ".break", ".continue", ".local", "i:",
        "int", "n:", ".record", "R", "x:", "R.x", "rec.new", "rec.get", "rec.set", "[", "]",
        "1", "2.5", "\"s\"", "true", "nil", "push", "array<int>", "array<R>", "fn(", ")",
        "->", "fn()", "is", "cast", "isnil", "fn.ref", "call.ref", "load", "store", "jmp",
        "L:", "L", ".global", "g:", "map<str,R>", "call", "ret", "pop", "(", "<", ">",
    ]), 0..60)) {
        let src = words.join(" ");
        let _ = assemble(&src, "soup.kasm", &NoLibrary);
        let wrapped = format!(".record R x: int .end .func main(n: int)\n.local i: int\n{src}\n.end\n");
        let _ = assemble(&wrapped, "soup.kasm", &NoLibrary);
    }
}

/// The whole library `vmrun` links (every capability granted), so that
/// programs calling library functions, generic ones included, assemble.
fn full_library() -> keel_vm::Linker {
    let mut l = keel_vm::Linker::new();
    keel_stdlib::install_io(&mut l, keel_stdlib::Io::null());
    keel_stdlib::install_core(&mut l);
    keel_stdlib::install_rand(&mut l, keel_stdlib::DEFAULT_SEED);
    keel_stdlib::install_fs_read(&mut l, &[std::path::PathBuf::from(".")]);
    keel_stdlib::install_fs_write(&mut l, &[std::path::PathBuf::from(".")]);
    keel_stdlib::install_env(&mut l);
    keel_stdlib::install_time(&mut l);
    l
}

fn kasm_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("directory exists")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            kasm_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "kasm") {
            out.push(p);
        }
    }
}

/// The README's promise, over real programs: every example and every
/// conformance program that assembles and verifies, with debug info and
/// stripped, disassembles to text that assembles to the same bytecode
/// (and, with debug info, the same local names). Programs calling generic
/// library functions (`array.sort(array<T>)`) are among them.
#[test]
fn every_example_and_conformance_program_round_trips_through_dis() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    kasm_files(&root.join("examples"), &mut files);
    kasm_files(&root.join("spec/conformance"), &mut files);
    let lib = full_library();
    let mut checked = 0;
    let mut generic = 0;
    for path in &files {
        let Ok(src) = std::fs::read_to_string(path) else {
            continue; // not UTF-8 on purpose
        };
        let name = path.display().to_string();
        let Ok(m) = assemble(&src, &name, &lib) else {
            continue;
        };
        if keel_vm::verify(m.clone()).is_err() {
            continue;
        }
        checked += 1;
        if m.imports.iter().any(|i| i.ty.to_string().contains('T')) {
            generic += 1;
        }
        for module in [m.clone(), m.stripped()] {
            let read = Module::from_bytes(&module.to_bytes()).expect("own output decodes");
            let text = disassemble(&read).expect("own output disassembles");
            let again = assemble(&text, &name, &lib)
                .unwrap_or_else(|e| panic!("{name}: listing does not assemble: {e:?}\n{text}"));
            assert_eq!(
                again.stripped().to_bytes(),
                module.stripped().to_bytes(),
                "{name}: different bytecode\n{text}"
            );
            if let (Some(d1), Some(d2)) = (&module.debug, &again.debug) {
                for (a, b) in d1.funcs.iter().zip(&d2.funcs) {
                    assert_eq!(a.local_names, b.local_names, "{name}");
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} programs checked");
    assert!(generic > 0, "no program calls a generic library function");
}
