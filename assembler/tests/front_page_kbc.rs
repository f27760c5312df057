//! `vm/doc/greeter.kbc`, the bytes keel_vm's front-page example loads
//! (the vm crate cannot call the assembler), is `vm/doc/greeter.kasm`
//! assembled: this test fails when the two drift apart, and `BLESS=1`
//! rewrites the `.kbc` from the text.

use std::path::Path;

#[test]
fn the_front_page_plugin_bytes_are_its_text_assembled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../vm/doc");
    let src = std::fs::read_to_string(dir.join("greeter.kasm")).expect("greeter.kasm");
    let module = keel_assembler::assemble(&src, "greeter.kasm", &keel_assembler::NoLibrary)
        .expect("greeter.kasm assembles");
    keel_vm::verify(module.clone()).expect("greeter.kasm verifies");
    let bytes = module.to_bytes();
    let kbc = dir.join("greeter.kbc");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&kbc, &bytes).expect("write greeter.kbc");
    }
    let stored = std::fs::read(&kbc).expect("greeter.kbc");
    assert!(
        stored == bytes,
        "vm/doc/greeter.kbc is stale ({} bytes, the text assembles to {}): rerun with BLESS=1",
        stored.len(),
        bytes.len()
    );
}
