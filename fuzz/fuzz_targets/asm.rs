//! `.kasm` text -> assembler -> verifier -> disassembler: nothing panics,
//! and what assembles also disassembles.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    let lib = keel_fuzz::library();
    if let Ok(m) = keel_assembler::assemble(src, "fuzz.kasm", &lib) {
        keel_assembler::disassemble(&m).expect("own output disassembles");
        let _ = keel_vm::verify(m);
    }
});
