//! `pcchip plot`: the figures of a run, bench, relax or sweep folder, by
//! the files it holds.

use crate::plot::{self, Format, PlotError};
use crate::run::RunError;
use std::path::{Path, PathBuf};

/// Parses `--format`: `png` or `svg`.
pub fn parse_format(name: &str) -> Result<Format, RunError> {
    match name {
        "png" => Ok(Format::Png),
        "svg" => Ok(Format::Svg),
        other => Err(RunError::Invalid(format!(
            "--format: unknown `{other}`; expected png or svg"
        ))),
    }
}

/// Draws every figure the folder's files allow (bench.csv, relax.json,
/// sweep.csv, report.json; a run's when none of the others is there) and
/// returns the files written.
pub fn plot_dir(dir: &Path, format: Format) -> Result<Vec<PathBuf>, RunError> {
    let bad = |e: PlotError| RunError::Invalid(e.to_string());
    let mut written = Vec::new();
    if dir.join("bench.csv").exists() {
        written.push(plot::plot_bench(dir, format).map_err(bad)?);
        written.extend(plot::plot_breakeven(dir, format).map_err(bad)?);
    }
    if dir.join("relax.json").exists() {
        written.push(plot::plot_relax(dir, format).map_err(bad)?);
    }
    if dir.join("sweep.csv").exists() {
        written.push(plot::plot_sweep(dir, format).map_err(bad)?);
    }
    if written.is_empty() || dir.join("report.json").exists() {
        written.extend(plot::plot_run(dir, format).map_err(bad)?);
    }
    Ok(written)
}
