//! Fuzzes the circuit parser: any UTF-8 text, with and without a `--set`
//! override taken from its first line, must parse or give a located error
//! with a non-empty message, never panic.
//!
//!     mkdir -p fuzz/corpus/parse_circuit
//!     cp tests/bad_circuits/*.toml circuits/*.toml fuzz/corpus/parse_circuit/
//!     cargo +nightly fuzz run parse_circuit -- -max_total_time=120
//!
//! (Seed by copying: libFuzzer writes new inputs into the first corpus
//! folder it is given, so never pass `tests/bad_circuits` itself.)

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(e) = pcchip::circuit::parse(text, "fuzz.toml", "fuzz", &[]) {
        assert!(!e.message.is_empty(), "empty message: {e:?}");
        let _ = e.to_string();
    }
    // The first line as an override, the rest as the file.
    if let Some((first, rest)) = text.split_once('\n') {
        if let Err(e) = pcchip::circuit::parse(rest, "fuzz.toml", "fuzz", &[first.to_string()]) {
            assert!(!e.message.is_empty(), "empty message: {e:?}");
        }
    }
});
