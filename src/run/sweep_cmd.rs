//! `pcchip sweep` from its flags: the lists parsed, the grid and shard
//! checked, the cells run with progress on stderr, and the text printed
//! at the end (where the files went, the seed-averaged tables); `--merge`
//! of shard folders.

use crate::run::input::default_out;
use crate::run::progress::CellProgress;
use crate::run::sweep::{self, parse_list, CircuitSource, Grid, Shard, SweepFile, SweepOptions};
use crate::run::RunError;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// The sweep's flags, as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct SweepArgs {
    /// Circuit file (TOML).
    pub circuit: Option<PathBuf>,
    /// Comma-separated hidden widths, depths and seeds (seeds: default the
    /// circuit's).
    pub widths: Option<String>,
    pub depths: Option<String>,
    pub seeds: Option<String>,
    /// Training steps after the measurement at initialisation.
    pub steps: usize,
    /// `I/N`: run only that slice of the grid.
    pub shard: Option<String>,
    /// Output folder (default runs/<circuit name>-sweep).
    pub out: Option<PathBuf>,
    /// `KEY=VALUE` overrides.
    pub set: Vec<String>,
}

/// A finished sweep (or merge) and what to tell about it.
pub struct SweepOutcome {
    pub file: SweepFile,
    /// A warning for stderr when cells stopped on a cap.
    pub warning: Option<String>,
    /// The text for stdout: where the files went and the tables.
    pub text: String,
}

/// Runs the sweep the flags describe.
pub fn sweep_cmd(a: SweepArgs) -> Result<SweepOutcome, RunError> {
    let widths = parse_list("--widths", a.widths.as_deref().unwrap_or(""))?;
    let depths = parse_list("--depths", a.depths.as_deref().unwrap_or(""))?;
    let shard = a.shard.as_deref().map(str::parse::<Shard>).transpose()?;
    let path = a
        .circuit
        .ok_or_else(|| RunError::Invalid("sweep: a circuit file is needed".into()))?;
    let src = CircuitSource::read(&path, &a.set)?;
    let base = src.base()?;
    let seeds = match &a.seeds {
        Some(s) => parse_list("--seeds", s)?,
        None => vec![base.seed],
    };
    let grid = Grid::new(widths, depths, seeds)?;
    let out_dir = default_out(a.out, &base.name, "-sweep");
    let opts = SweepOptions {
        grid,
        steps: a.steps,
        shard,
    };
    let progress = CellProgress::new(std::io::stderr().is_terminal());
    let result = sweep::sweep(&src, &opts, &out_dir, |r, done, total| {
        let cos = r.cos_global.map_or("—".into(), |c| format!("{c:.6}"));
        let how = r
            .t_relax_tau
            .map_or(String::new(), |t| format!(", relax {t:.1} τ"));
        let what = format!(
            "width {} depth {} seed {}: cos {cos}{how}{}, {:.1} s",
            r.width,
            r.depth,
            r.seed,
            r.error
                .as_ref()
                .map_or(String::new(), |e| format!(" (failed: {e})")),
            r.wall_s
        );
        progress.cell(what, done, total);
    });
    progress.finish();
    let file = result?;
    let capped = file
        .cells
        .iter()
        .filter(|c| c.stop.is_some_and(|s| s.capped()))
        .count();
    let unsolved = file
        .cells
        .iter()
        .filter(|c| c.stop.is_none() && c.at_equilibrium == Some(false))
        .count();
    let warning = match (capped, unsolved) {
        (0, 0) => None,
        (n, 0) => Some(format!("{n} cell(s) stopped at relax.t_max_tau or relax.max_steps before reaching relax.residual_tol (marked * below); raise them")),
        (_, n) => Some(format!("{n} cell(s) where the fixed-point solver did not meet [equilibrium]'s test for every sample (sweep.csv: at_equilibrium = false); raise equilibrium.max_iterations or use --set equilibrium.solver=relaxation")),
    };
    let shard = file
        .shard
        .map_or(String::new(), |s| format!(" (shard {s})"));
    let mut text = format!(
        "{} cells{shard} of `{}` written to {}/sweep.json and sweep.csv\n",
        file.cells.len(),
        file.circuit_name,
        out_dir.display()
    );
    text.push_str(&tables(&file));
    Ok(SweepOutcome {
        file,
        warning,
        text,
    })
}

/// Joins the sweeps in `dirs` (shards of one grid) into `out`.
pub fn merge_cmd(dirs: &[PathBuf], out: Option<&Path>) -> Result<SweepOutcome, RunError> {
    let out = out
        .ok_or_else(|| RunError::Invalid("--merge needs --out DIR for the joined sweep".into()))?;
    let file = sweep::merge(dirs, out)?;
    let mut text = format!(
        "merged {} cells from {} folders into {}\n",
        file.cells.len(),
        dirs.len(),
        out.display()
    );
    text.push_str(&tables(&file));
    Ok(SweepOutcome {
        file,
        warning: None,
        text,
    })
}

/// The seed-averaged tables of a sweep (cosine at initialisation and after
/// training, relaxation time in τ), in Markdown.
pub fn tables(f: &SweepFile) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\ncos(PC, BP) at initialisation, mean ± std over seeds:\n"
    );
    s.push_str(&sweep::seed_table(f, |c| c.cos_global, 4));
    if f.steps > 0 {
        let _ = writeln!(s, "\ncos(PC, BP) after {} training steps:\n", f.steps);
        s.push_str(&sweep::seed_table(f, |c| c.cos_steps, 4));
    }
    if f.cells.iter().any(|c| c.t_relax_tau.is_some()) {
        let _ = writeln!(s, "\nrelaxation time (τ), mean ± std over seeds:\n");
        s.push_str(&sweep::seed_table(f, |c| c.t_relax_tau, 1));
    }
    s
}
