//! Unit tests of `data::text`'s private helpers.

use super::*;
use sha2::{Digest, Sha256};

#[test]
fn embedded_checksum() {
    let hex: String = Sha256::digest(SHAKESPEARE_TXT_GZ)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, SHAKESPEARE_SHA256);
}

#[test]
fn locate_counts_lines_and_columns() {
    assert_eq!(locate("ab\ncd\n\nxé", 0), (1, 1));
    assert_eq!(locate("ab\ncd\n\nxé", 4), (2, 2));
    assert_eq!(locate("ab\ncd\n\nxé", 6), (3, 1));
    assert_eq!(locate("ab\ncd\n\nxé", 8), (4, 2));
}

#[test]
fn stems_drop_gz_and_extension() {
    assert_eq!(stem(Path::new("/a/b/plays.txt.gz")), "plays");
    assert_eq!(stem(Path::new("plays.txt")), "plays");
    assert_eq!(stem(Path::new("plays")), "plays");
}
