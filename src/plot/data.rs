//! Reading the inputs of the figures: `report.json` through the crate's own
//! [`Report`] type, and the CSV files (`relaxation.csv`, `bench.csv`,
//! `sweep.csv`) into small typed rows. Every error names the file, and a CSV
//! error also its line. Knows nothing about drawing.

use super::PlotError;
use crate::report::Report;
use std::path::{Path, PathBuf};

/// Reads `dir/report.json` (the input of `pcchip plot` for a run folder).
pub fn read_report(dir: &Path) -> Result<Report, PlotError> {
    let file = dir.join("report.json");
    let bytes = read(&file, "pcchip run")?;
    serde_json::from_slice(&bytes).map_err(|source| PlotError::Json { file, source })
}

/// Reads `dir/relax.json` (a `pcchip relax` folder).
pub(crate) fn read_relax_summary(dir: &Path) -> Result<crate::run::RelaxSummary, PlotError> {
    let file = dir.join("relax.json");
    let bytes = read(&file, "pcchip relax")?;
    serde_json::from_slice(&bytes).map_err(|source| PlotError::Json { file, source })
}

fn read(file: &Path, command: &'static str) -> Result<Vec<u8>, PlotError> {
    match std::fs::read(file) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(PlotError::Missing {
            file: file.to_path_buf(),
            command,
        }),
        Err(source) => Err(PlotError::Io {
            file: file.to_path_buf(),
            source,
        }),
    }
}

/// A CSV file split into its header and its rows of text cells.
pub(crate) struct Table {
    pub file: PathBuf,
    pub header: Vec<String>,
    /// (1-based line number, cells) of each non-empty data line.
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Table {
    /// Reads `file`, checking that the header holds every `required` column
    /// and that every line has as many cells as the header.
    pub fn read(
        file: PathBuf,
        command: &'static str,
        required: &[&str],
    ) -> Result<Self, PlotError> {
        let bytes = read(&file, command)?;
        let text = String::from_utf8(bytes).map_err(|e| PlotError::Csv {
            file: file.clone(),
            line: 1,
            message: format!("not UTF-8 text: {e}"),
        })?;
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        let header: Vec<String> = match lines.next() {
            Some((_, h)) if !h.is_empty() => h.split(',').map(|c| c.trim().to_string()).collect(),
            _ => {
                return Err(PlotError::Empty {
                    file,
                    message: format!(
                        "empty file; expected a header line with the columns {}",
                        required.join(",")
                    ),
                })
            }
        };
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|r| !header.iter().any(|h| h == r))
            .collect();
        if !missing.is_empty() {
            return Err(PlotError::Csv {
                file,
                line: 1,
                message: format!(
                    "header lacks the column(s) {}; expected {}",
                    missing.join(", "),
                    required.join(",")
                ),
            });
        }
        let mut rows = vec![];
        for (n, line) in lines {
            if line.is_empty() {
                continue;
            }
            let cells: Vec<String> = line.split(',').map(|c| c.trim().to_string()).collect();
            if cells.len() != header.len() {
                return Err(PlotError::Csv {
                    file,
                    line: n,
                    message: format!(
                        "{} fields where the header has {}",
                        cells.len(),
                        header.len()
                    ),
                });
            }
            rows.push((n, cells));
        }
        if rows.is_empty() {
            return Err(PlotError::Empty {
                file,
                message: "no data lines after the header".into(),
            });
        }
        Ok(Table { file, header, rows })
    }

    /// Index of a column known to exist (checked in [`Table::read`]).
    pub fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .expect("required column checked at read")
    }

    /// The cell at `row`, `col` as a number; empty cells are `None`.
    pub fn opt(&self, row: usize, col: usize) -> Result<Option<f64>, PlotError> {
        let (line, cells) = &self.rows[row];
        let cell = &cells[col];
        if cell.is_empty() {
            return Ok(None);
        }
        cell.parse::<f64>().map(Some).map_err(|_| PlotError::Csv {
            file: self.file.clone(),
            line: *line,
            message: format!("column `{}`: `{cell}` is not a number", self.header[col]),
        })
    }

    /// The cell at `row`, `col` as a number that must be present.
    pub fn num(&self, row: usize, col: usize) -> Result<f64, PlotError> {
        self.opt(row, col)?.ok_or_else(|| PlotError::Csv {
            file: self.file.clone(),
            line: self.rows[row].0,
            message: format!("column `{}` is empty", self.header[col]),
        })
    }

    /// The cell at `row`, `col` as text.
    pub fn text(&self, row: usize, col: usize) -> &str {
        &self.rows[row].1[col]
    }
}

/// The trace of one recorded relaxation (one step's rows of relaxation.csv).
#[derive(Clone, Debug, Default)]
pub(crate) struct StepTrace {
    pub step: usize,
    pub t_tau: Vec<f64>,
    pub energy: Vec<f64>,
    pub residual: Vec<f64>,
    /// PC–BP cosine at each sample, when traced.
    pub cos_bp: Vec<Option<f64>>,
    /// `errors[ℓ-1][i]`: error norm of layer ℓ at sample i.
    pub errors: Vec<Vec<f64>>,
}

/// Reads `dir/relaxation.csv` into one trace per step, in file order.
pub(crate) fn read_relaxation(dir: &Path) -> Result<Vec<StepTrace>, PlotError> {
    let t = Table::read(
        dir.join("relaxation.csv"),
        "pcchip run",
        &["step", "t_tau", "energy", "residual", "cos_bp"],
    )?;
    let (c_step, c_t, c_e, c_r, c_cos) = (
        t.col("step"),
        t.col("t_tau"),
        t.col("energy"),
        t.col("residual"),
        t.col("cos_bp"),
    );
    let mut err_cols: Vec<(usize, usize)> = t
        .header
        .iter()
        .enumerate()
        .filter_map(|(i, h)| Some((h.strip_prefix("err_")?.parse().ok()?, i)))
        .collect();
    err_cols.sort();
    let mut traces: Vec<StepTrace> = vec![];
    for r in 0..t.rows.len() {
        let step = t.num(r, c_step)?;
        if step < 0.0 || step.fract() != 0.0 {
            return Err(PlotError::Csv {
                file: t.file.clone(),
                line: t.rows[r].0,
                message: format!(
                    "column `step`: `{}` is not a step number",
                    t.text(r, c_step)
                ),
            });
        }
        let step = step as usize;
        if traces.last().is_none_or(|tr| tr.step != step) {
            traces.push(StepTrace {
                step,
                errors: vec![vec![]; err_cols.len()],
                ..Default::default()
            });
        }
        let tr = traces.last_mut().expect("pushed above");
        tr.t_tau.push(t.num(r, c_t)?);
        tr.energy.push(t.num(r, c_e)?);
        tr.residual.push(t.num(r, c_r)?);
        tr.cos_bp.push(t.opt(r, c_cos)?);
        for (k, &(_, c)) in err_cols.iter().enumerate() {
            tr.errors[k].push(t.opt(r, c)?.unwrap_or(f64::NAN));
        }
    }
    Ok(traces)
}

/// One line of bench.csv.
#[derive(Clone, Debug)]
pub(crate) struct BenchRow {
    pub depth: f64,
    pub dynamics: String,
    pub t_relax_tau: f64,
    pub t_align_tau: Option<f64>,
    pub speedup: f64,
    /// The break-even map's columns (absent from benches before it: τ NaN,
    /// stable, no pipelined speedup).
    pub tau_s: f64,
    pub stable: bool,
    pub speedup_pipe: Option<f64>,
}

/// Reads `dir/bench.csv` (today's columns, or the older
/// `median_t_relax_tau` / `speedup` ones).
pub(crate) fn read_bench(dir: &Path) -> Result<Vec<BenchRow>, PlotError> {
    let file = dir.join("bench.csv");
    let probe = Table::read(file.clone(), "pcchip bench", &["depth", "dynamics"])?;
    let new = probe.header.iter().any(|h| h == "speedup_seq");
    let (relax, speed) = match new {
        true => ("t_relax_tau", "speedup_seq"),
        false => ("median_t_relax_tau", "speedup"),
    };
    let mut required = vec!["depth", "dynamics", relax, "t_align_tau", speed];
    if new {
        required.extend(["tau_s", "stable", "speedup_pipe"]);
    }
    let t = Table::read(file, "pcchip bench", &required)?;
    let (cd, cy, ct, ca, cs) = (
        t.col("depth"),
        t.col("dynamics"),
        t.col(relax),
        t.col("t_align_tau"),
        t.col(speed),
    );
    let extra = new.then(|| (t.col("tau_s"), t.col("stable"), t.col("speedup_pipe")));
    (0..t.rows.len())
        .map(|r| {
            let (tau_s, stable, speedup_pipe) = match extra {
                Some((cu, cb, cp)) => (t.num(r, cu)?, t.text(r, cb) != "false", t.opt(r, cp)?),
                None => (f64::NAN, true, None),
            };
            Ok(BenchRow {
                depth: t.num(r, cd)?,
                dynamics: t.text(r, cy).to_string(),
                t_relax_tau: t.opt(r, ct)?.unwrap_or(f64::NAN),
                t_align_tau: t.opt(r, ca)?,
                speedup: t.opt(r, cs)?.unwrap_or(f64::NAN),
                tau_s,
                stable,
                speedup_pipe,
            })
        })
        .collect()
}

/// The sweep's PC–BP cosine averaged over seeds on the width × depth grid.
#[derive(Clone, Debug)]
pub(crate) struct SweepGrid {
    /// Distinct widths and depths, ascending.
    pub widths: Vec<f64>,
    pub depths: Vec<f64>,
    /// `cos[d][w]`: mean over seeds, `None` where no seed gave a value.
    pub cos: Vec<Vec<Option<f64>>>,
    /// Number of seeds averaged in each cell.
    pub n_seeds: Vec<Vec<usize>>,
    /// A residual-CNN sweep (widths are channels, depths blocks per stage),
    /// from `sweep.json` beside the table.
    pub cnn: bool,
}

/// Reads `dir/sweep.csv` and averages `cos_global` over seeds.
pub(crate) fn read_sweep(dir: &Path) -> Result<SweepGrid, PlotError> {
    let t = Table::read(
        dir.join("sweep.csv"),
        "pcchip sweep",
        &["width", "depth", "seed", "cos_global"],
    )?;
    let (cw, cd, cc) = (t.col("width"), t.col("depth"), t.col("cos_global"));
    let mut pts = vec![];
    for r in 0..t.rows.len() {
        pts.push((t.num(r, cw)?, t.num(r, cd)?, t.opt(r, cc)?));
    }
    let distinct = |values: Vec<f64>| {
        let mut v = values;
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    let widths = distinct(pts.iter().map(|p| p.0).collect());
    let depths = distinct(pts.iter().map(|p| p.1).collect());
    let mut sum = vec![vec![0.0; widths.len()]; depths.len()];
    let mut n = vec![vec![0usize; widths.len()]; depths.len()];
    for (w, d, c) in pts {
        let Some(c) = c else { continue };
        if !c.is_finite() {
            continue;
        }
        let i = widths.iter().position(|x| *x == w).expect("distinct");
        let j = depths.iter().position(|x| *x == d).expect("distinct");
        sum[j][i] += c;
        n[j][i] += 1;
    }
    let cos = sum
        .iter()
        .zip(&n)
        .map(|(s, n)| {
            s.iter()
                .zip(n)
                .map(|(s, &n)| (n > 0).then(|| s / n as f64))
                .collect()
        })
        .collect();
    let cnn = std::fs::read_to_string(dir.join("sweep.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|v| v["circuit"]["network"]["kind"] == "resnet");
    Ok(SweepGrid {
        widths,
        depths,
        cos,
        n_seeds: n,
        cnn,
    })
}
