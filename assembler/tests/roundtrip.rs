//! Property: assemble -> write .kbc -> read -> disassemble -> assemble is
//! the identity on the bytecode, for generated programs that use every
//! operand kind (literals of all kinds, locals, globals, labels, calls to
//! module functions and imports, types and map types).

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
        1 => (key, ty).prop_map(|(k, t)| format!("map.new {k} {t}")),
        1 => ".*".prop_map(|s: String| format!("trap {}", quote(&s))),
    ]
}

fn program() -> impl Strategy<Value = String> {
    (1usize..4, 1usize..4, 1usize..4, 1usize..3).prop_flat_map(
        |(nlocals, nglobals, nlabels, nfuncs)| {
            let body = prop::collection::vec(instr(nlocals, nglobals, nlabels, nfuncs), 0..40);
            let bodies = prop::collection::vec(body, nfuncs);
            let label_positions =
                prop::collection::vec(prop::collection::vec(0usize..41, nlabels), nfuncs);
            (bodies, label_positions).prop_map(move |(bodies, labels)| {
                let mut src = String::from(".module gen\n.import host.fn(int, str) -> any\n");
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
}
