//! A sweep's files: `sweep.json` (the circuit, the grid, the shard and
//! every cell, the source of truth), `sweep.csv` (one row a cell, derived
//! from the JSON; `;`-joined per-layer cosines), the seed-averaged table,
//! and the merge of shards into one sweep.

use super::{CellResult, Grid, Shard, SweepOptions};
use crate::circuit::Circuit;
use crate::plot::{plot_sweep, Format};
use crate::relax::Solver;
use crate::run::RunError;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The CSV's columns (the first six are what `pcchip plot` reads).
pub const CSV_HEADER: &str = "width,depth,seed,cos_global,t_relax_tau,s_minus_1,energy,energy_closed_form,loss,cos_read,stop,n_evals,cos_steps,cos_layers,cos_steps_layers,solver,at_equilibrium,status";

/// The contents of `sweep.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepFile {
    pub pcchip_version: String,
    /// The circuit's name and the circuit with the user's overrides, before
    /// the cells' width, depth and seed (shards must agree on it).
    pub circuit_name: String,
    pub circuit: serde_json::Value,
    /// The user's `--set` overrides.
    pub sets: Vec<String>,
    pub grid: Grid,
    /// Training steps after the initial measurement.
    pub steps: usize,
    /// The slice this file holds; `None` for a whole grid.
    pub shard: Option<Shard>,
    /// For a merged sweep: the shards it was joined from.
    #[serde(default)]
    pub merged_from: Vec<Shard>,
    /// Whether every cell of the shard (or grid) finished.
    pub complete: bool,
    /// Finished cells in grid order.
    pub cells: Vec<CellResult>,
}

impl SweepFile {
    /// An empty file for the sweep of `base`.
    pub fn new(base: &Circuit, sets: &[String], opts: &SweepOptions) -> Self {
        SweepFile {
            pcchip_version: env!("CARGO_PKG_VERSION").into(),
            circuit_name: base.name.clone(),
            circuit: serde_json::to_value(base).expect("a circuit serialises"),
            sets: sets.to_vec(),
            grid: opts.grid.clone(),
            steps: opts.steps,
            shard: opts.shard,
            merged_from: vec![],
            complete: false,
            cells: vec![],
        }
    }

    /// Adds a finished cell, keeping grid order.
    pub fn insert(&mut self, r: CellResult) {
        let at = self.cells.partition_point(|c| c.index < r.index);
        self.cells.insert(at, r);
    }

    /// Writes `sweep.json` and `sweep.csv` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), RunError> {
        let fail = |f: &str, e: String| RunError::Failed(format!("{}: {e}", dir.join(f).display()));
        let json =
            serde_json::to_vec_pretty(self).map_err(|e| fail("sweep.json", e.to_string()))?;
        std::fs::write(dir.join("sweep.json"), json)
            .map_err(|e| fail("sweep.json", e.to_string()))?;
        std::fs::write(dir.join("sweep.csv"), self.csv())
            .map_err(|e| fail("sweep.csv", e.to_string()))
    }

    /// Draws `alignment_grid.png` into `dir` (nothing for a file without cells).
    pub fn draw(&self, dir: &Path) -> Result<Option<PathBuf>, RunError> {
        if self.cells.is_empty() {
            return Ok(None);
        }
        plot_sweep(dir, Format::Png)
            .map(Some)
            .map_err(|e| RunError::Failed(e.to_string()))
    }

    /// The CSV text: the header and one line a cell, in grid order.
    pub fn csv(&self) -> String {
        let mut s = String::from(CSV_HEADER);
        s.push('\n');
        for c in &self.cells {
            let stop = c.stop.map_or(String::new(), |r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            });
            let status = if c.error.is_some() { "failed" } else { "ok" };
            writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                c.width,
                c.depth,
                c.seed,
                num(c.cos_global),
                num(c.t_relax_tau),
                num(c.s_minus_1),
                num(c.energy),
                num(c.energy_closed_form),
                num(c.loss),
                num(c.cos_read),
                stop,
                c.n_evals.map_or(String::new(), |n| n.to_string()),
                num(c.cos_steps),
                list(&c.cos_layers),
                list(&c.cos_steps_layers),
                c.solver.map_or("", Solver::name),
                c.at_equilibrium.map_or(String::new(), |b| b.to_string()),
                status
            )
            .expect("writing to a String");
        }
        s
    }
}

/// A number in its shortest exact form (exponent form when very small or large).
fn num(v: Option<f64>) -> String {
    match v {
        None => String::new(),
        Some(x) if x == 0.0 || (1e-4..1e6).contains(&x.abs()) => format!("{x}"),
        Some(x) => format!("{x:e}"),
    }
}

fn list(v: &[f64]) -> String {
    v.iter()
        .map(|x| num(Some(*x)))
        .collect::<Vec<_>>()
        .join(";")
}

/// Mean and sample standard deviation.
fn mean_std(v: &[f64]) -> (f64, Option<f64>) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let std = (v.len() > 1)
        .then(|| (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (mean, std)
}

/// A Markdown table, depths down and widths across, of `value` averaged over
/// seeds as "mean ± sample std" with `digits` decimals. A cell is marked `*`
/// when one of its relaxations stopped at `relax.t_max_tau` (not at
/// equilibrium) and `—` when no seed gave a value.
pub fn seed_table(
    f: &SweepFile,
    value: impl Fn(&CellResult) -> Option<f64>,
    digits: usize,
) -> String {
    let g = &f.grid;
    let cnn = f.circuit["network"]["kind"] == "resnet";
    let mut s = String::from(if cnn { "| B \\ C |" } else { "| L \\ N |" });
    for w in &g.widths {
        write!(s, " {w} |").expect("String");
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(g.widths.len()));
    s.push('\n');
    for &d in &g.depths {
        write!(s, "| {d} |").expect("String");
        for &w in &g.widths {
            let cells: Vec<&CellResult> = f
                .cells
                .iter()
                .filter(|c| c.width == w && c.depth == d)
                .collect();
            let vals: Vec<f64> = cells.iter().filter_map(|c| value(c)).collect();
            let capped = cells.iter().any(|c| c.stop.is_some_and(|s| s.capped()));
            let mark = if capped { "*" } else { "" };
            let text = if vals.is_empty() {
                "—".to_string()
            } else {
                match mean_std(&vals) {
                    (m, Some(sd)) => format!("{m:.digits$} ± {sd:.digits$}{mark}"),
                    (m, None) => format!("{m:.digits$}{mark}"),
                }
            };
            write!(s, " {text} |").expect("String");
        }
        s.push('\n');
    }
    s
}

fn invalid(msg: String) -> RunError {
    RunError::Invalid(msg)
}

/// Reads a sweep folder's `sweep.json`.
pub fn read(dir: &Path) -> Result<SweepFile, RunError> {
    let file = dir.join("sweep.json");
    let bytes = std::fs::read(&file).map_err(|e| {
        invalid(if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{}: no sweep.json; is {} the --out folder of a `pcchip sweep` run?",
                file.display(),
                dir.display()
            )
        } else {
            format!("{}: {e}", file.display())
        })
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| invalid(format!("{}: not a pcchip sweep file: {e}", file.display())))
}

/// The first key path where two JSON values differ.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> String {
    use serde_json::Value::Object;
    if let (Object(x), Object(y)) = (a, b) {
        for (k, v) in x {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match y.get(k) {
                Some(w) if w == v => {}
                Some(w) => return first_difference(v, w, &p),
                None => return p,
            }
        }
        if let Some(k) = y.keys().find(|k| !x.contains_key(*k)) {
            return format!("{path}.{k}");
        }
    }
    format!("{path} ({a} vs {b})")
}

/// Joins the sweeps in `dirs` (shards of one grid) into one complete sweep
/// written into `out_dir` (`sweep.json`, `sweep.csv`, the figure). Refuses,
/// as `RunError::Invalid`, shards of different circuits, grids or step
/// counts, a cell in two shards, a cell outside the grid, and a grid
/// cell in no shard.
pub fn merge(dirs: &[PathBuf], out_dir: &Path) -> Result<SweepFile, RunError> {
    let first_dir = dirs
        .first()
        .ok_or_else(|| invalid("--merge: no sweep folders given".into()))?;
    let files = dirs
        .iter()
        .map(|d| read(d))
        .collect::<Result<Vec<_>, _>>()?;
    let first = &files[0];
    let cells = first.grid.cells();
    let mut owner: Vec<Option<usize>> = vec![None; cells.len()];
    let mut out = SweepFile {
        shard: None,
        merged_from: vec![],
        complete: true,
        cells: vec![],
        ..first.clone()
    };
    for (k, (f, dir)) in files.iter().zip(dirs).enumerate() {
        if f.circuit != first.circuit {
            return Err(invalid(format!(
                "--merge: {} and {} come from different circuits (`{}` vs `{}`; they differ at {})",
                first_dir.display(),
                dir.display(),
                first.circuit_name,
                f.circuit_name,
                first_difference(&first.circuit, &f.circuit, "")
            )));
        }
        if f.grid != first.grid || f.steps != first.steps {
            return Err(invalid(format!(
                "--merge: {} and {} sweep different grids: widths {:?} depths {:?} seeds {:?} steps {} vs widths {:?} depths {:?} seeds {:?} steps {}",
                first_dir.display(),
                dir.display(),
                first.grid.widths,
                first.grid.depths,
                first.grid.seeds,
                first.steps,
                f.grid.widths,
                f.grid.depths,
                f.grid.seeds,
                f.steps
            )));
        }
        for c in &f.cells {
            let in_grid = cells
                .get(c.index)
                .is_some_and(|g| (g.width, g.depth, g.seed) == (c.width, c.depth, c.seed));
            if !in_grid {
                return Err(invalid(format!(
                    "--merge: {}: cell width {} depth {} seed {} (index {}) is not in the grid",
                    dir.display(),
                    c.width,
                    c.depth,
                    c.seed,
                    c.index
                )));
            }
            if let Some(j) = owner[c.index] {
                return Err(invalid(format!(
                    "--merge: cell width {} depth {} seed {} is in both {} and {} (overlapping shards)",
                    c.width,
                    c.depth,
                    c.seed,
                    dirs[j].display(),
                    dir.display()
                )));
            }
            owner[c.index] = Some(k);
            out.insert(c.clone());
        }
        out.merged_from.extend(f.shard);
    }
    let missing: Vec<usize> = (0..cells.len()).filter(|&i| owner[i].is_none()).collect();
    if let Some(&i) = missing.first() {
        let c = &cells[i];
        let counts: Vec<usize> = files
            .iter()
            .filter_map(|f| f.shard.map(|s| s.count))
            .collect();
        let hint = match counts.first() {
            Some(&n) if counts.iter().all(|&m| m == n) => {
                let mut absent: Vec<usize> = missing.iter().map(|i| i % n).collect();
                absent.sort_unstable();
                absent.dedup();
                let list: Vec<String> = absent.iter().map(|i| format!("{i}/{n}")).collect();
                format!("; missing or unfinished shard(s): {}", list.join(", "))
            }
            _ => String::new(),
        };
        return Err(invalid(format!(
            "--merge: {} of the grid's {} cells are in no shard, first width {} depth {} seed {}{hint}",
            missing.len(),
            cells.len(),
            c.width,
            c.depth,
            c.seed
        )));
    }
    out.merged_from.sort_by_key(|s| (s.count, s.index));
    std::fs::create_dir_all(out_dir)
        .map_err(|e| RunError::Failed(format!("{}: {e}", out_dir.display())))?;
    out.write(out_dir)?;
    out.draw(out_dir)?;
    Ok(out)
}
