//! The property every file reader must have, one function a reader: any
//! bytes are read or refused with an error that names the file, never a
//! panic, a hang or a huge allocation. Shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/`) and the stable corpus replay and mutation loop
//! (`tests/fuzz_readers.rs`, which includes this file by path), so both run
//! the same checks. Each function writes the bytes into `dir` (a scratch
//! folder the caller owns) because the readers take paths.

use pcchip::data::cifar::load_cifar10;
use pcchip::data::csv::{parse_csv, CsvOptions};
use pcchip::data::idx::load_idx_pair;
use std::path::Path;

/// The readers, by the name of their fuzz target and corpus folder.
pub const TARGETS: [&str; 6] = [
    "idx",
    "csv",
    "safetensors",
    "checkpoint",
    "report_json",
    "cifar10",
];

/// Runs the check of target `name` on `data`.
pub fn run(name: &str, data: &[u8], dir: &Path) {
    match name {
        "idx" => idx(data, dir),
        "csv" => csv(data),
        "safetensors" => safetensors(data, dir),
        "checkpoint" => checkpoint(data, dir),
        "report_json" => report_json(data, dir),
        "cifar10" => cifar10(data, dir),
        other => panic!("no fuzz target `{other}`"),
    }
}

fn write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).expect("scratch folder is writable");
}

/// An error must name its file.
fn names_file(message: &str, file: &str) {
    assert!(
        message.contains(file),
        "error does not name {file}: {message}"
    );
}

/// IDX: the first byte (mod the length) splits the input into an images
/// file and a labels file, either may be gzipped.
pub fn idx(data: &[u8], dir: &Path) {
    let (head, rest) = data.split_first().map_or((0, data), |(h, r)| (*h, r));
    let cut = if rest.is_empty() {
        0
    } else {
        usize::from(head) * rest.len() / 255
    };
    let (images, labels) = rest.split_at(cut);
    let (pi, pl) = (dir.join("images.idx"), dir.join("labels.idx"));
    write(&pi, images);
    write(&pl, labels);
    if let Err(e) = load_idx_pair(&pi, &pl) {
        names_file(&e.to_string(), ".idx");
    }
}

/// CIFAR-10: the bytes are a folder's first batch file.
pub fn cifar10(data: &[u8], dir: &Path) {
    let folder = dir.join("cifar");
    std::fs::create_dir_all(&folder).expect("scratch folder is writable");
    write(&folder.join("data_batch_1.bin"), data);
    match load_cifar10(&folder) {
        Ok(d) => assert_eq!(d.len() * 3073, data.len(), "every record read"),
        Err(e) => names_file(&e.to_string(), "data_batch_1.bin"),
    }
}

/// CSV: the first byte picks the options (header, label or regression
/// columns), the rest is the text (lossy UTF-8).
pub fn csv(data: &[u8]) {
    let (head, rest) = data.split_first().map_or((0, data), |(h, r)| (*h, r));
    let col = usize::from(head & 0x07);
    let mut opts = if head & 0x10 == 0 {
        CsvOptions::label(col)
    } else {
        CsvOptions::regression(vec![col, col + (usize::from(head >> 5) & 3)])
    };
    opts.has_header = head & 0x08 != 0;
    let text = String::from_utf8_lossy(rest);
    if let Err(e) = parse_csv(&text, "fuzz.csv".as_ref(), "fuzz", &opts) {
        names_file(&e.to_string(), "fuzz.csv");
    }
}

/// safetensors (weights, batch files, checkpoint tensors), read in both precisions.
pub fn safetensors(data: &[u8], dir: &Path) {
    let p = dir.join("w.safetensors");
    write(&p, data);
    if let Err(e) = pcchip::report::tensors::read_tensors::<f32>(&p) {
        names_file(&e.to_string(), "w.safetensors");
    }
    if let Err(e) = pcchip::report::tensors::read_tensors::<f64>(&p) {
        names_file(&e.to_string(), "w.safetensors");
    }
}

/// A checkpoint's `state.json`.
pub fn checkpoint(data: &[u8], dir: &Path) {
    write(&dir.join("state.json"), data);
    if let Err(e) = pcchip::run::checkpoint::read_state(dir) {
        names_file(&e.to_string(), "state.json");
    }
}

/// A run's `report.json` as `pcchip plot` reads it.
pub fn report_json(data: &[u8], dir: &Path) {
    write(&dir.join("report.json"), data);
    if let Err(e) = pcchip::plot::read_report(dir) {
        names_file(&e.to_string(), "report.json");
    }
}
