//! Mutations of valid modules: the seed corpus is the examples compiled to
//! `.kbc` (see fuzz/README.md), so most inputs get past the reader and
//! probe the verifier and the interpreter; the ones that still verify run
//! under limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lib = keel_fuzz::library();
    // Also try the input with its debug section flag cleared, so stripped
    // modules get as much attention as annotated ones.
    keel_fuzz::kbc(data, &lib);
    if data.len() > 8 && data[6] & 1 == 1 {
        let mut stripped = data.to_vec();
        stripped[6] &= !1;
        keel_fuzz::kbc(&stripped, &lib);
    }
});
