//! The JIT against the interpreter, two ways. Input that reads as a
//! `.kbc` module (the seeds are the compiled examples and conformance
//! programs, and their mutations) is verified and every scalar-parameter
//! function runs both ways. Any other input drives the program generator
//! (`program_gen.rs`): a well-typed module with calls, recursion,
//! allocation, every value type and traps inside callees, checked by
//! `differential.rs` (results, output, traps with their traces,
//! instruction counts, fuel cut points, GC stress).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lib = keel_fuzz::library();
    match keel_vm::Module::from_bytes(data) {
        Ok(m) => {
            if let Ok(v) = keel_vm::verify(m) {
                keel_fuzz::interp_vs_jit(v, &lib);
            }
        }
        Err(_) => keel_fuzz::generated_interp_vs_jit(data),
    }
});
