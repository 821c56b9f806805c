//! The circuit a command runs: a file with `--set` overrides, or the
//! embedded quickstart when none is given.

use crate::circuit::{self, Circuit};
use crate::run::RunError;
use std::path::{Path, PathBuf};

/// The circuit `pcchip run` (and the other commands) use when none is given.
pub const QUICKSTART: &str = include_str!("../../circuits/quickstart.toml");

/// Loads the circuit at `path` (the quickstart when `None`) with the
/// `KEY=VALUE` overrides, and the folder its relative data paths refer to.
pub fn load_circuit(path: Option<&Path>, set: &[String]) -> Result<(Circuit, PathBuf), RunError> {
    match path {
        Some(p) => {
            let c = circuit::load(p, set)?;
            let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
            Ok((c, base))
        }
        None => Ok((
            circuit::parse(QUICKSTART, "<embedded quickstart>", "quickstart", set)?,
            PathBuf::from("."),
        )),
    }
}

/// The output folder: `out` when given, else `runs/<name><suffix>`.
pub fn default_out(out: Option<PathBuf>, name: &str, suffix: &str) -> PathBuf {
    out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{name}{suffix}")))
}
