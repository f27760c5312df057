use super::*;

fn sample_operand(kind: OperandKind) -> Operand {
    match kind {
        OperandKind::None | OperandKind::Nil => Operand::None,
        OperandKind::Int => Operand::Int(-1_234_567_890_123),
        OperandKind::Float => Operand::Float(-2.5e-300),
        OperandKind::Str => Operand::Str(300),
        OperandKind::Bool => Operand::Bool(true),
        OperandKind::Local => Operand::Local(7),
        OperandKind::Global => Operand::Global(128),
        OperandKind::Func => Operand::Func(u32::MAX),
        OperandKind::Target => Operand::Target(65_536),
        OperandKind::Type => Operand::Type(Type::map(KeyType::Str, Type::array(Type::Float))),
        OperandKind::MapTypes => Operand::MapTypes(KeyType::Bool, Type::Any),
        OperandKind::Record => Operand::Record(3),
        OperandKind::Field => Operand::Field(u32::MAX, 9),
        OperandKind::ArrayLit => Operand::ArrayLit(ArrayLit::Float(vec![1.5, -0.0])),
    }
}

#[test]
fn every_opcode_round_trips_through_bytes() {
    let mut code = Vec::new();
    let mut instrs = Vec::new();
    for &op in Opcode::ALL {
        let i = Instr {
            op,
            operand: sample_operand(op.operand_kind()),
        };
        i.encode(&mut code);
        instrs.push(i);
    }
    let decoded: Vec<Instr> = decode_code(&code, 0)
        .unwrap()
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    assert_eq!(decoded, instrs);
}

#[test]
fn array_literals_and_new_types_round_trip() {
    use crate::types::FuncType;
    let fty = Type::func(FuncType::new(
        vec![Type::record("Node"), Type::StrBuf],
        Some(Type::array(Type::record("Body"))),
    ));
    let lits = [
        ArrayLit::Int(vec![i64::MIN, 0, i64::MAX]),
        ArrayLit::Bool(vec![true, false]),
        ArrayLit::Str(vec![0, 70_000]),
        ArrayLit::empty(Type::Int),
        ArrayLit::empty(fty.clone()),
    ];
    let mut code = Vec::new();
    let mut instrs = Vec::new();
    for lit in lits {
        instrs.push(Instr {
            op: Opcode::PushArray,
            operand: Operand::ArrayLit(lit),
        });
    }
    instrs.push(Instr {
        op: Opcode::Is,
        operand: Operand::Type(fty),
    });
    for i in &instrs {
        i.encode(&mut code);
    }
    let decoded: Vec<Instr> = decode_code(&code, 0)
        .unwrap()
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    assert_eq!(decoded, instrs);
    // A non-empty literal of an element type without literals is refused.
    let mut bad = vec![Opcode::PushArray as u8];
    bad.extend_from_slice(&[0x05, 0x01, 0x01]);
    assert!(decode_code(&bad, 0).is_err());
    // So is a record type whose name is not one plain name.
    let bad = [Opcode::Is as u8, 0x09, 0x03, b'a', b'.', b'b'];
    assert!(decode_code(&bad, 0).is_err());
}

#[test]
fn opcode_bytes_and_mnemonics_are_consistent() {
    for &op in Opcode::ALL {
        assert_eq!(Opcode::from_byte(op as u8), Some(op));
        assert!(Opcode::by_mnemonic(op.mnemonic()).any(|o| o == op));
    }
    // Rows that share a mnemonic must differ in operand kind, or the
    // assembler could not choose between them.
    for &a in Opcode::ALL {
        for &b in Opcode::ALL {
            if a != b && a.mnemonic() == b.mnemonic() {
                assert_ne!(a.operand_kind(), b.operand_kind(), "{a:?} and {b:?}");
            }
        }
    }
}

#[test]
fn unknown_opcode_and_truncation_are_errors() {
    let e = decode_code(&[0x00, 0xff], 10).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::UnknownOpcode(0xff));
    assert_eq!(e.offset, 11);
    let e = decode_code(&[Opcode::PushFloat as u8, 1, 2], 0).unwrap_err();
    assert!(matches!(e.kind, DecodeErrorKind::Truncated(_)));
}

/// `spec/isa.md` is generated from the table; this fails when it is stale.
/// Run with `BLESS=1` to rewrite it.
#[test]
fn isa_doc_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../spec/isa.md");
    let want = render_isa_markdown();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "spec/isa.md is stale: run `BLESS=1 cargo test -p keel-vm isa_doc`"
    );
}
