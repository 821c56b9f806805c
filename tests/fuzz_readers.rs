//! The file readers (IDX, CSV, safetensors, checkpoint `state.json`,
//! `report.json`) on hostile bytes, without nightly: every seed and every
//! input that once crashed a reader (`fuzz/regressions/<target>/`) is
//! replayed on each `cargo test`, and an `#[ignore]`d deterministic
//! mutation loop over the seeds is the stable stand-in for cargo-fuzz
//! (fuzz/README.md):
//!
//!     PCCHIP_FUZZ_ITERS=200000 cargo test --release --test fuzz_readers -- --ignored
//!
//! The checks themselves are the fuzz targets' (`fuzz/src/checks.rs`).

#[path = "../fuzz/src/checks.rs"]
mod checks;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Files of `fuzz/<kind>/<target>/`, sorted (empty when the folder is absent).
fn files(kind: &str, target: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(kind).join(target))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn scratch(target: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("pcchip-fuzz-{target}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn every_seed_and_regression_is_read_or_refused() {
    for target in checks::TARGETS {
        let dir = scratch(target);
        let seeds = files("seeds", target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ has no seed");
        for input in seeds.iter().chain(&files("regressions", target)) {
            checks::run(target, input, dir.path());
        }
        // The empty input and a truncated seed are refused, not a panic.
        checks::run(target, &[], dir.path());
        checks::run(target, &seeds[0][..seeds[0].len() / 2], dir.path());
    }
}

/// Interesting bytes and text for a mutation: boundaries and numbers that
/// break naive parsers.
const BYTES: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xff, b'-', b'e', b','];
const TOKENS: [&str; 10] = [
    "NaN",
    "inf",
    "-1",
    "1e999",
    "18446744073709551616",
    "4294967295",
    "[]",
    "{}",
    "null",
    "\"\"",
];

/// One random mutation of `input` (bit flip, byte, token, cut, duplicate,
/// splice with `other`).
fn mutate(input: &[u8], other: &[u8], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    let n = rng.random_range(1..=4usize);
    for _ in 0..n {
        let len = v.len();
        let at = if len == 0 {
            0
        } else {
            rng.random_range(0..len)
        };
        match rng.random_range(0..7u32) {
            0 if len > 0 => v[at] ^= 1 << rng.random_range(0..8u32),
            1 if len > 0 => v[at] = BYTES[rng.random_range(0..BYTES.len())],
            2 => {
                let t = TOKENS[rng.random_range(0..TOKENS.len())].as_bytes();
                let end = (at + rng.random_range(0..4usize)).min(len);
                v.splice(at..end, t.iter().copied());
            }
            3 if len > 0 => {
                let end = (at + rng.random_range(1..=len.min(64))).min(len);
                v.drain(at..end);
            }
            4 if len > 0 => {
                let end = (at + rng.random_range(1..=len.min(64))).min(len);
                let chunk: Vec<u8> = v[at..end].to_vec();
                v.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                let from = rng.random_range(0..other.len());
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            _ => v.truncate(at),
        }
    }
    v
}

/// Mutates every target's seeds `PCCHIP_FUZZ_ITERS` times (default 20000;
/// `PCCHIP_FUZZ_TARGET` picks one, `PCCHIP_FUZZ_SEED` the stream) and saves
/// every input that panics into `target/fuzz-crashes/<target>/`. Run it
/// under `timeout` and a memory limit (fuzz/README.md) to catch hangs and
/// huge allocations too.
#[test]
#[ignore = "fuzzing: minutes; see fuzz/README.md"]
fn mutated_seeds_are_read_or_refused() {
    let env = |k: &str| std::env::var(k).ok();
    let iters: usize = env("PCCHIP_FUZZ_ITERS").map_or(20_000, |v| v.parse().unwrap());
    let seed: u64 = env("PCCHIP_FUZZ_SEED").map_or(0, |v| v.parse().unwrap());
    let only = env("PCCHIP_FUZZ_TARGET");
    let crashes = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    let mut failed = Vec::new();
    std::panic::set_hook(Box::new(|_| {}));
    for target in checks::TARGETS {
        if only.as_deref().is_some_and(|o| o != target) {
            continue;
        }
        let dir = scratch(target);
        let mut pool = files("seeds", target);
        pool.extend(files("regressions", target));
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for i in 0..iters {
            let a = &pool[rng.random_range(0..pool.len())];
            let b = &pool[rng.random_range(0..pool.len())];
            let input = mutate(a, b, &mut rng);
            let ok = catch_unwind(AssertUnwindSafe(|| checks::run(target, &input, dir.path())));
            if ok.is_err() {
                let out = crashes.join(target);
                std::fs::create_dir_all(&out).unwrap();
                let file = out.join(format!("seed{seed}-iter{i}"));
                std::fs::write(&file, &input).unwrap();
                failed.push(file);
            }
        }
        eprintln!("{target}: {iters} inputs");
    }
    let _ = std::panic::take_hook();
    assert!(failed.is_empty(), "inputs that panicked: {failed:#?}");
}
