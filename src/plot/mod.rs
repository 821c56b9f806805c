//! Figures of a run, a bench and a sweep folder, drawn with plotters and an
//! embedded DejaVu Sans (no system fonts needed), as PNG or SVG.
//!
//! - [`plot_run`]: `relaxation`, `alignment` and `training` from a `pcchip run`
//!   folder (`report.json`, `relaxation.csv`).
//! - [`plot_bench`]: `speedup` from a `pcchip bench` folder (`bench.csv`),
//!   and [`plot_breakeven`]: `breakeven` when the bench ran several τ.
//! - [`plot_sweep`]: `alignment_grid` from a `pcchip sweep` folder (`sweep.csv`).
//!
//! Stages, one file each: [`data`](self) reads the inputs, `style` holds
//! the shared look, and one file per figure draws it on any plotters backend.
//! This module only reads files; it never runs the simulator.

mod alignment;
mod bench;
mod breakeven;
mod data;
mod error;
mod relaxation;
mod style;
mod sweep;
mod training;

pub use data::read_report;

pub use error::PlotError;

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use style::FigResult;

/// Output image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Raster, `.png`.
    #[default]
    Png,
    /// Vector, `.svg` (text kept as text).
    Svg,
}

impl Format {
    /// File extension without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
        }
    }
}

/// One figure: its file stem, its size and how to draw it on any backend.
pub(crate) trait Figure {
    /// File name without extension, e.g. `relaxation`.
    fn stem(&self) -> &'static str;
    /// Size in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the whole figure on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> FigResult
    where
        DB::ErrorType: 'static;
}

/// Writes `fig` into `dir` in `format`; returns the file written.
pub(crate) fn render(fig: &impl Figure, dir: &Path, format: Format) -> Result<PathBuf, PlotError> {
    style::register_fonts();
    let path = dir.join(format!("{}.{}", fig.stem(), format.extension()));
    let draw_err = |e: Box<dyn std::error::Error>| PlotError::Draw {
        file: path.clone(),
        message: e.to_string(),
    };
    match format {
        Format::Png => {
            let root = BitMapBackend::new(&path, fig.size()).into_drawing_area();
            let r: FigResult = (|| {
                root.fill(&WHITE)?;
                fig.draw(&root)?;
                root.present()?;
                Ok(())
            })();
            r.map_err(draw_err)?;
        }
        Format::Svg => {
            let root = SVGBackend::new(&path, fig.size()).into_drawing_area();
            let r: FigResult = (|| {
                root.fill(&WHITE)?;
                fig.draw(&root)?;
                root.present()?;
                Ok(())
            })();
            r.map_err(draw_err)?;
        }
    }
    Ok(path)
}

/// Draws the figures of a `pcchip run` folder into it: `relaxation`,
/// `alignment` and `training` (`.png` or `.svg`). Needs `report.json` and
/// `relaxation.csv`; returns the files written.
pub fn plot_run(dir: &Path, format: Format) -> Result<Vec<PathBuf>, PlotError> {
    let report = data::read_report(dir)?;
    let traces = data::read_relaxation(dir)?;
    let chosen = relaxation::choose_steps(&traces, 4);
    let view = relaxation::RelaxView::of_report(&report);
    let relax_fig = relaxation::RelaxationFigure {
        view: &view,
        title: "Relaxation of the recorded training steps",
        traces: &chosen,
    };
    let align_fig = alignment::AlignmentFigure {
        report: &report,
        traces: &chosen,
    };
    let train_fig = training::TrainingFigure { report: &report };
    Ok(vec![
        render(&relax_fig, dir, format)?,
        render(&align_fig, dir, format)?,
        render(&train_fig, dir, format)?,
    ])
}

/// Draws `relaxation` from a `pcchip relax` folder (relax.json and
/// relaxation.csv) into it; returns the file written.
pub fn plot_relax(dir: &Path, format: Format) -> Result<PathBuf, PlotError> {
    let summary = data::read_relax_summary(dir)?;
    let traces = data::read_relaxation(dir)?;
    let rule = serde_json::to_value(summary.stop)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let view = relaxation::RelaxView {
        caption: format!(
            "circuit `{}`, {}, batch {}, depth {}; time in units of τ = {} (t [s] = t/τ × {:.3e} s)",
            summary.circuit,
            summary.method,
            summary.batch,
            summary.depth,
            style::seconds(summary.tau_s),
            summary.tau_s
        ),
        residual_tol: summary.residual_tol,
        stops: traces.iter().map(|t| (t.step, summary.t_tau, rule.clone())).collect(),
    };
    let fig = relaxation::RelaxationFigure {
        view: &view,
        title: "Relaxation of one batch",
        traces: &traces,
    };
    render(&fig, dir, format)
}

/// Draws `speedup` from the `bench.csv` of a `pcchip bench` folder into it;
/// returns the file written.
pub fn plot_bench(dir: &Path, format: Format) -> Result<PathBuf, PlotError> {
    let rows = data::read_bench(dir)?;
    render(&bench::SpeedupFigure { rows: &rows }, dir, format)
}

/// Draws `breakeven` (speedup against τ) from a `pcchip bench --taus`
/// folder's `bench.csv` into it; `None` when the bench has one τ only.
pub fn plot_breakeven(dir: &Path, format: Format) -> Result<Option<PathBuf>, PlotError> {
    let rows = data::read_bench(dir)?;
    if !breakeven::has_tau_axis(&rows) {
        return Ok(None);
    }
    render(&breakeven::BreakEvenFigure { rows: &rows }, dir, format).map(Some)
}

/// Draws `alignment_grid` from the `sweep.csv` of a `pcchip sweep` folder
/// into it (cosine averaged over seeds); returns the file written.
pub fn plot_sweep(dir: &Path, format: Format) -> Result<PathBuf, PlotError> {
    let grid = data::read_sweep(dir)?;
    render(&sweep::GridFigure { grid: &grid }, dir, format)
}
