//! Fuzzes the `cifar10` reader: see `fuzz/src/checks.rs` for the property and
//! fuzz/README.md for how to run it.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pcchip_fuzz::checks::run("cifar10", data, pcchip_fuzz::scratch());
});
