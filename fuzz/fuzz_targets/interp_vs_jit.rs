//! The JIT against the interpreter on mutations of valid modules (seeded
//! with the compiled examples and conformance programs): every module that
//! still verifies runs both ways, and the runs must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lib = keel_fuzz::library();
    if let Ok(m) = keel_vm::Module::from_bytes(data) {
        if let Ok(v) = keel_vm::verify(m) {
            keel_fuzz::interp_vs_jit(v, &lib);
        }
    }
});
