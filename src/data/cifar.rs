//! Reader for CIFAR-10's binary version (`cifar-10-batches-bin`). Each
//! record is one label byte (0–9) followed by 3,072 pixel bytes: the red,
//! green and blue 32 × 32 planes, each row-major — exactly the channel-major
//! C × H × W flattening pcchip's convolutional layers use, so a record's
//! pixels are one column as they are. Pixels are scaled to [0, 1]; targets
//! are one-hot over the 10 classes. pcchip does not download the data set.
//!
//! The path is a batch file or a folder holding the batch files: then every
//! `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin` present is
//! read, in that order, into one data set (the circuit's `data.n_samples`
//! and `data.test_frac` then subsample and split it like any other source).
//! A file's length is checked to be a whole number of records before
//! anything is allocated, and every label to be below 10.

use super::{one_hot, DataError, Dataset, Targets};
use nalgebra::DMatrix;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Image shape (channels, height, width).
pub const IMAGE_SHAPE: [usize; 3] = [3, 32, 32];
/// Number of classes.
pub const N_CLASSES: usize = 10;
/// Pixels a record (3 × 32 × 32).
const PIXELS: usize = 3 * 32 * 32;
/// Bytes a record: the label, then the pixels.
const RECORD: usize = 1 + PIXELS;
/// The batch files of a folder, in the order they are read.
const FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// The batch files `path` names: itself when a file, else the folder's
/// batch files that exist (at least one).
fn batch_files(path: &Path) -> Result<Vec<PathBuf>, DataError> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let found: Vec<PathBuf> = FILES
        .iter()
        .map(|f| path.join(f))
        .filter(|p| p.is_file())
        .collect();
    if found.is_empty() {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            what: "the folder holds none of CIFAR-10's batch files (data_batch_1.bin … data_batch_5.bin, test_batch.bin of the binary version, cifar-10-batches-bin)".into(),
        });
    }
    Ok(found)
}

/// Reads one batch file's records onto `pixels` and `labels`.
fn read_batch(
    path: &Path,
    pixels: &mut Vec<f64>,
    labels: &mut Vec<usize>,
) -> Result<(), DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len == 0 || len % RECORD as u64 != 0 {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            what: format!(
                "{len} bytes is not a whole number of CIFAR-10 records ({RECORD} bytes each: a label byte, then 3 × 32 × 32 pixels); the file is truncated or not the binary version"
            ),
        });
    }
    let n = (len / RECORD as u64) as usize;
    let mut bytes = Vec::with_capacity(len as usize);
    file.read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() != len as usize {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            what: format!(
                "the file changed while read ({} of {len} bytes)",
                bytes.len()
            ),
        });
    }
    pixels.reserve(n * PIXELS);
    labels.reserve(n);
    for (k, rec) in bytes.chunks_exact(RECORD).enumerate() {
        let label = rec[0] as usize;
        if label >= N_CLASSES {
            return Err(DataError::BadHeader {
                path: path.to_path_buf(),
                what: format!(
                    "record {} (byte {}) has label {label}; CIFAR-10 labels are 0 … 9",
                    k + 1,
                    k * RECORD
                ),
            });
        }
        labels.push(label);
        pixels.extend(rec[1..].iter().map(|&b| f64::from(b) / 255.0));
    }
    Ok(())
}

/// Loads CIFAR-10 from a batch file or a folder of them (see the module).
pub fn load_cifar10(path: &Path) -> Result<Dataset, DataError> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for f in batch_files(path)? {
        read_batch(&f, &mut pixels, &mut labels)?;
    }
    let x = DMatrix::from_vec(PIXELS, labels.len(), pixels);
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("cifar10")
        .to_string();
    Ok(Dataset {
        name,
        x,
        y: one_hot(&labels, N_CLASSES, Targets::default()),
        labels: Some(labels),
        encoding: super::Encoding::Dense,
    })
}
