//! [`DataError`]: everything that can go wrong while loading a data set.
//!
//! Each variant keeps the offending file (and, for text files, the 1-based
//! line and column) and its message says what is wrong and what would be
//! right. This file knows nothing about the file formats' parsing itself.

use std::path::PathBuf;

/// Error raised by the loaders of [`crate::data`].
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{}: cannot read the file: {source}", .path.display())]
    Io {
        /// File that failed.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// An IDX file starts with the wrong magic number.
    #[error("{}: IDX magic number is 0x{found:08x}; expected 0x{expected:08x} ({what}, unsigned bytes)", .path.display())]
    BadMagic {
        /// File that failed.
        path: PathBuf,
        /// Magic number read from the file.
        found: u32,
        /// Magic number that this file should have.
        expected: u32,
        /// What the file should hold ("images" or "labels").
        what: &'static str,
    },
    /// The file's data length differs from what its header promises.
    #[error("{}: the header promises {promised} data bytes but the file holds {found}{}; the file is truncated or its header is wrong", .path.display(), if *.found > *.promised { " or more" } else { "" })]
    WrongLength {
        /// File that failed.
        path: PathBuf,
        /// Byte count promised by the header (after the header).
        promised: u64,
        /// Byte count actually present (capped at `promised + 1` when read
        /// through a decompressor).
        found: u64,
    },
    /// The images and labels files hold different numbers of items.
    #[error("{} holds {n_images} images but {} holds {n_labels} labels; expected the same count in both", .images.display(), .labels.display())]
    CountMismatch {
        /// Images file.
        images: PathBuf,
        /// Labels file.
        labels: PathBuf,
        /// Item count of the images file.
        n_images: u64,
        /// Item count of the labels file.
        n_labels: u64,
    },
    /// A header (or the options describing it) is malformed.
    #[error("{}: {what}", .path.display())]
    BadHeader {
        /// File that failed.
        path: PathBuf,
        /// What is wrong and what would be right.
        what: String,
    },
    /// A CSV row has a different number of fields than the first data row.
    #[error("{}:{line}: row has {found} fields; expected {expected} like the first data row", .path.display())]
    Ragged {
        /// File that failed.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Field count of the first data row.
        expected: usize,
        /// Field count of this row.
        found: usize,
    },
    /// A CSV field is not a number, or a label is not a class index.
    #[error("{}:{line}:{column}: `{text}` {why}", .path.display())]
    BadField {
        /// File that failed.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// 1-based column (field) number.
        column: usize,
        /// The offending field.
        text: String,
        /// What it should be instead.
        why: &'static str,
    },
    /// A requested column does not exist.
    #[error("{}: column index {column} is out of range; rows have {n_columns} fields (indices 0 to {})", .path.display(), .n_columns.saturating_sub(1))]
    BadColumn {
        /// File that failed.
        path: PathBuf,
        /// 0-based column index asked for.
        column: usize,
        /// Field count of the rows.
        n_columns: usize,
    },
    /// The file holds no data row.
    #[error("{}: no data rows; expected at least one sample", .path.display())]
    Empty {
        /// File that failed.
        path: PathBuf,
    },
    /// A text file is not valid UTF-8.
    #[error("{}: not UTF-8 text: invalid byte at byte offset {offset}; expected a UTF-8 text file", .path.display())]
    NotUtf8 {
        /// File that failed.
        path: PathBuf,
        /// 0-based byte offset of the first invalid byte.
        offset: usize,
    },
    /// A text holds a character outside the vocabulary.
    #[error("{name}:{line}:{column}: character {ch:?} (U+{:04X}, character offset {offset}) is not in the vocabulary of {n_vocab} symbols{}", u32::from(*.ch), if *.from_training { " (the training split's characters)" } else { "" })]
    UnknownChar {
        /// Text that failed (a file, a data set or a split).
        name: String,
        /// The character.
        ch: char,
        /// 0-based character offset in that text.
        offset: usize,
        /// 1-based line of the character.
        line: usize,
        /// 1-based column (in characters) of the character.
        column: usize,
        /// Size of the vocabulary.
        n_vocab: usize,
        /// Whether the vocabulary is that of the training split.
        from_training: bool,
    },
    /// A text (or one of its splits) is too short for one sequence.
    #[error("{name}: {} {}; expected at least seq_len + 1 = {needed} characters (one sequence and its next-token target){}", .what, if *.n_chars == 0 { "is empty".to_string() } else { format!("holds {} characters", .n_chars) }, .hint)]
    TooShort {
        /// Text that failed.
        name: String,
        /// Which part ("the text", "the training split", "the held-out split").
        what: &'static str,
        /// Characters it holds.
        n_chars: usize,
        /// Characters one sequence needs.
        needed: usize,
        /// How to fix it (may be empty).
        hint: &'static str,
    },
    /// A loader's option is out of its range, or a stored value (a
    /// vocabulary's JSON) is malformed.
    #[error("{name}: {what}")]
    Invalid {
        /// Data set or value the option was for.
        name: String,
        /// What is wrong and what would be right.
        what: String,
    },
}
