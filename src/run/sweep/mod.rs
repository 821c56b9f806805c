//! `pcchip sweep`: the PC–backprop alignment over a width × depth × seed
//! grid (MODEL.md §2–§3). Each cell is the circuit with `network.width`,
//! `network.depth` and `seed` set (and `network.hidden_widths`,
//! `dynamics.tau_rel` cleared), validated like any circuit, then measured
//! as `pcchip grads` measures it ([`cell`]).
//!
//! Stages, one file each:
//! - [`grid`]: the lists, the cells in a fixed order, and `--shard I/N`;
//! - [`cell`]: one cell's measurement;
//! - [`output`]: `sweep.csv`, `sweep.json`, the seed-averaged table, and
//!   `--merge` of shards.
//!
//! Cells run in parallel (rayon); each cell's numbers depend only on the
//! cell (its circuit and seed), never on scheduling or the thread count.

pub mod cell;
pub mod grid;
pub mod output;

pub use cell::CellResult;
pub use grid::{parse_list, Cell, Grid, GridError, Shard};
pub use output::{merge, seed_table, SweepFile};

use crate::circuit::{self, Circuit, NetworkKind};
use crate::run::RunError;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where the cells' circuit comes from: its text, re-parsed for every cell
/// with the user's overrides followed by the cell's.
#[derive(Clone, Debug)]
pub struct CircuitSource {
    /// The circuit file's text.
    pub text: String,
    /// The name used in errors (the file's path).
    pub label: String,
    /// The default circuit name (the file's stem).
    pub stem: String,
    /// The user's `--set KEY=VALUE` overrides.
    pub sets: Vec<String>,
    /// Folder that relative data paths refer to.
    pub base_dir: PathBuf,
}

impl CircuitSource {
    /// Reads a circuit file.
    pub fn read(path: &Path, sets: &[String]) -> Result<Self, RunError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            RunError::Invalid(format!(
                "{}: cannot read the circuit file: {e}",
                path.display()
            ))
        })?;
        Ok(CircuitSource {
            text,
            label: path.display().to_string(),
            stem: path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("circuit")
                .into(),
            sets: sets.to_vec(),
            base_dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        })
    }

    /// The circuit with only the user's overrides (what the sweep records).
    pub fn base(&self) -> Result<Circuit, RunError> {
        circuit::parse(&self.text, &self.label, &self.stem, &self.sets)
            .map_err(|e| RunError::Invalid(e.to_string()))
    }

    /// The circuit of one cell, validated.
    /// For a resnet (`network.kind = "resnet"`) the width is the channels
    /// and the depth the residual blocks per stage.
    pub fn cell(&self, c: &Cell) -> Result<Circuit, RunError> {
        let mut sets = self.sets.clone();
        if self.base()?.network.kind == NetworkKind::Resnet {
            sets.extend([
                format!("network.channels={}", c.width),
                format!("network.blocks_per_stage={}", c.depth),
            ]);
        } else {
            sets.extend([
                format!("network.width={}", c.width),
                format!("network.depth={}", c.depth),
                "network.hidden_widths=[]".into(),
            ]);
        }
        sets.extend([format!("seed={}", c.seed), "dynamics.tau_rel=[]".into()]);
        circuit::parse(&self.text, &self.label, &self.stem, &sets).map_err(|e| {
            RunError::Invalid(format!(
                "cell width {} depth {} seed {}: {e}",
                c.width, c.depth, c.seed
            ))
        })
    }
}

/// What to sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub grid: Grid,
    /// Training steps after the initial measurement (0 = none).
    pub steps: usize,
    /// Run only this slice of the grid.
    pub shard: Option<Shard>,
}

/// Runs the sweep's cells (those of the shard) in parallel, writing
/// `sweep.json` and `sweep.csv` into `out_dir` after every finished cell
/// and the `alignment_grid` figure at the end. Every cell's circuit is
/// validated before any cell runs (an invalid one is `RunError::Invalid`,
/// nothing written). A cell that fails keeps its error in its row; the
/// sweep then ends with `RunError::Failed` after writing everything.
pub fn sweep(
    src: &CircuitSource,
    opts: &SweepOptions,
    out_dir: &Path,
    progress: impl Fn(&CellResult, usize, usize) + Sync,
) -> Result<SweepFile, RunError> {
    let base = src.base()?;
    let cells: Vec<Cell> = opts
        .grid
        .cells()
        .into_iter()
        .filter(|c| opts.shard.is_none_or(|s| s.owns(c.index)))
        .collect();
    let circuits = cells
        .iter()
        .map(|c| src.cell(c))
        .collect::<Result<Vec<_>, _>>()?;
    crate::run::train::check_out_dir(out_dir)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| RunError::Failed(format!("{}: {e}", out_dir.display())))?;
    let file = Mutex::new(SweepFile::new(&base, &src.sets, opts));
    file.lock().expect("no panics while held").write(out_dir)?;
    let total = cells.len();
    let written: Mutex<Result<(), RunError>> = Mutex::new(Ok(()));
    cells
        .par_iter()
        .zip(circuits.par_iter())
        .for_each(|(c, circuit)| {
            let r = cell::measure(c, circuit, &src.base_dir, opts.steps);
            let mut f = file.lock().expect("no panics while held");
            f.insert(r.clone());
            let done = f.cells.len();
            if let Err(e) = f.write(out_dir) {
                *written.lock().expect("no panics while held") = Err(e);
            }
            drop(f);
            progress(&r, done, total);
        });
    written.into_inner().expect("no panics while held")?;
    let mut f = file.into_inner().expect("no panics while held");
    f.complete = true;
    f.write(out_dir)?;
    f.draw(out_dir)?;
    let failed: Vec<&CellResult> = f.cells.iter().filter(|c| c.error.is_some()).collect();
    if let Some(first) = failed.first() {
        return Err(RunError::Failed(format!(
            "{} of {} cells failed (results of the others are in {}); first: width {} depth {} seed {}: {}",
            failed.len(),
            f.cells.len(),
            out_dir.join("sweep.json").display(),
            first.width,
            first.depth,
            first.seed,
            first.error.as_deref().unwrap_or("")
        )));
    }
    Ok(f)
}
