//! Bad data and weight files through the command line: `pcchip run` stops
//! with exit code 2 and a message naming the file (and line, for CSV),
//! never a panic, and writes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

const NET: &str = "[network]\nwidth = 8\ndepth = 2\n[train]\nmax_steps = 1\n";

fn folder(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pcchip-badfiles-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `pcchip run` on `circuit` (written to dir/c.toml) with `extra`
/// arguments; asserts exit code 2, no panic, the words `want` in the message
/// and no run folder; returns the message.
fn refused(dir: &Path, circuit: &str, extra: &[&str], want: &[&str]) -> String {
    std::fs::write(dir.join("c.toml"), circuit).unwrap();
    let out_dir = dir.join("out");
    let out = Command::new(env!("CARGO_BIN_EXE_pcchip"))
        .arg("run")
        .arg(dir.join("c.toml"))
        .args(["--quiet", "--out"])
        .arg(&out_dir)
        .args(extra)
        .output()
        .expect("run pcchip");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in want {
        assert!(err.contains(w), "`{w}` missing from: {err}");
    }
    assert!(!out_dir.exists(), "nothing is written for invalid input");
    err
}

fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend(data);
    b
}

#[test]
fn bad_idx_files_are_refused_naming_the_file() {
    let dir = folder("idx");
    let circuit =
        format!("[data]\nsource = \"idx\"\nimages = \"img.idx\"\nlabels = \"lab.idx\"\n{NET}");
    std::fs::write(dir.join("lab.idx"), idx(0x801, &[4], &[0, 1, 0, 1])).unwrap();
    // Truncated: 4 images of 2×2 promised, 15 bytes present.
    std::fs::write(dir.join("img.idx"), idx(0x803, &[4, 2, 2], &[9; 15])).unwrap();
    refused(&dir, &circuit, &[], &["img.idx", "promises 16", "holds 15"]);
    // A header promising ~3.4 TB in a 100-byte file: an error, not an allocation.
    std::fs::write(
        dir.join("img.idx"),
        idx(0x803, &[u32::MAX, 28, 28], &[9; 100]),
    )
    .unwrap();
    std::fs::write(dir.join("lab.idx"), idx(0x801, &[u32::MAX], &[1; 10])).unwrap();
    refused(
        &dir,
        &circuit,
        &[],
        &["img.idx", "3367254359280", "holds 100"],
    );
    // Cut inside the header.
    std::fs::write(dir.join("img.idx"), &idx(0x803, &[4, 2, 2], &[])[..7]).unwrap();
    refused(&dir, &circuit, &[], &["img.idx", "header"]);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_ragged_csv_is_refused_naming_file_and_line() {
    let dir = folder("csv");
    std::fs::write(dir.join("d.csv"), "1,2,0\n3,4,1\n5,6\n7,8,1\n").unwrap();
    let circuit = format!("[data]\nsource = \"csv\"\ncsv = \"d.csv\"\nlabel_column = 2\n{NET}");
    refused(&dir, &circuit, &[], &["d.csv:3", "2 fields", "expected 3"]);
    std::fs::write(dir.join("d.csv"), "1,2,0\n3,x,1\n").unwrap();
    refused(&dir, &circuit, &[], &["d.csv:2:2", "`x`"]);
    std::fs::remove_dir_all(dir).ok();
}

/// A safetensors weights file: 8-byte header length, JSON header, data.
fn safetensors(header_len: Option<u64>, header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = header_len
        .unwrap_or(header.len() as u64)
        .to_le_bytes()
        .to_vec();
    b.extend(header.as_bytes());
    b.extend(data);
    b
}

#[test]
fn bad_weight_files_are_refused_naming_the_file() {
    let dir = folder("weights");
    // Gaussian toy: D = 4 inputs, width 8, 1 output → W1 [8, 4], W2 [1, 8].
    let circuit = format!(
        "[data]\nsource = \"gaussian-toy\"\nteacher_inputs = 4\nteacher_samples = 20\n{NET}"
    );
    let w = dir.join("w.safetensors");
    let ws = w.to_str().unwrap();
    let header = |d1: &str, s1: &str, n1: usize| {
        format!(
            r#"{{"W1":{{"dtype":"{d1}","shape":{s1},"data_offsets":[0,{n1}]}},"W2":{{"dtype":"F32","shape":[1,8],"data_offsets":[{n1},{}]}}}}"#,
            n1 + 32
        )
    };
    let cases: Vec<(Vec<u8>, Vec<&str>)> = vec![
        (
            safetensors(None, &header("I32", "[8,4]", 128), &[0; 160]),
            vec!["W1", "I32"],
        ),
        (
            safetensors(Some(u64::MAX / 2), &header("F32", "[8,4]", 128), &[0; 160]),
            vec!["not a safetensors file"],
        ),
        (
            safetensors(None, &header("F32", "[8,4]", 128), &[0; 100]),
            vec!["not a safetensors file"],
        ),
        (
            safetensors(None, &header("F32", "[4,8]", 128), &[0; 160]),
            vec!["W1", "[4, 8]", "[8, 4]"],
        ),
        (
            safetensors(None, &header("F32", "[8,4]", 128), &{
                let mut d = vec![0u8; 160];
                d[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
                d
            }),
            vec!["W1[0, 1]", "NaN", "finite"],
        ),
    ];
    for (bytes, want) in cases {
        std::fs::write(&w, bytes).unwrap();
        let mut want = want;
        want.push("w.safetensors");
        refused(&dir, &circuit, &["--weights", ws], &want);
    }
    std::fs::remove_dir_all(dir).ok();
}
