//! Raw bytes -> `.kbc` loader -> verifier -> run under small fuel, heap
//! and depth limits when it verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lib = keel_fuzz::library();
    keel_fuzz::kbc(data, &lib);
});
