//! The plotting module's error type. Every variant names the file it is
//! about; a missing input also names the `pcchip` command that writes it.

use std::path::PathBuf;

/// What went wrong while reading a run, bench or sweep folder or drawing a figure.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// An input file is absent from the folder.
    #[error("{}: not found; it is written by `{command}` (run it with this folder as its output, then plot again)", file.display())]
    Missing {
        file: PathBuf,
        /// The command that produces the file, e.g. `pcchip run`.
        command: &'static str,
    },
    /// An input file exists but could not be read, or a figure could not be written.
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// report.json is not a pcchip report.
    #[error("{}: not a pcchip report: {source}", file.display())]
    Json {
        file: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A CSV line (1-based, the header is line 1) could not be parsed.
    #[error("{}:{line}: {message}", file.display())]
    Csv {
        file: PathBuf,
        line: usize,
        message: String,
    },
    /// A file parsed but holds nothing to plot.
    #[error("{}: {message}", file.display())]
    Empty { file: PathBuf, message: String },
    /// plotters failed while drawing or encoding a figure.
    #[error("{}: drawing failed: {message}", file.display())]
    Draw { file: PathBuf, message: String },
}
