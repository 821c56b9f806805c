//! A circuit from Python: a file or TOML text with `KEY=VALUE` overrides
//! (the command line's `--set`), validated by the same loader with the same
//! located messages.

use crate::errors::to_py;
use crate::worker::interruptible;
use pcchip::circuit::{self, Circuit};
use pcchip::run::check::{check, derive, resolved_toml};
use pcchip::run::input::QUICKSTART;
use pcchip::run::train::RunOptions;
use pyo3::prelude::*;
use std::path::PathBuf;

/// A validated circuit and the folder its relative data paths refer to.
#[pyclass(frozen, module = "pcchip._native")]
pub struct NativeCircuit {
    pub circuit: Circuit,
    pub base_dir: PathBuf,
}

#[pymethods]
impl NativeCircuit {
    /// Loads a circuit file with overrides `["network.width=256", …]`.
    #[staticmethod]
    fn load(path: PathBuf, overrides: Vec<String>) -> PyResult<Self> {
        let circuit = circuit::load(&path, &overrides).map_err(|e| to_py(e.into()))?;
        let base_dir = path.parent().map(PathBuf::from).unwrap_or_default();
        Ok(NativeCircuit { circuit, base_dir })
    }

    /// Parses TOML text (`label` names it in messages; `name` is the
    /// circuit's default name); relative data paths resolve against `base_dir`.
    #[staticmethod]
    fn parse(
        text: &str,
        label: &str,
        name: &str,
        overrides: Vec<String>,
        base_dir: PathBuf,
    ) -> PyResult<Self> {
        let circuit = circuit::parse(text, label, name, &overrides).map_err(|e| to_py(e.into()))?;
        Ok(NativeCircuit { circuit, base_dir })
    }

    /// The embedded quickstart circuit (what `pcchip run` runs without one).
    #[staticmethod]
    fn quickstart(overrides: Vec<String>) -> PyResult<Self> {
        Self::parse(
            QUICKSTART,
            "<embedded quickstart>",
            "quickstart",
            overrides,
            PathBuf::from("."),
        )
    }

    /// The circuit as TOML, every default and preset value filled in.
    fn resolved_toml(&self) -> PyResult<String> {
        resolved_toml(&self.circuit).map_err(to_py)
    }

    /// The quantities derived from the circuit on its data (JSON): builds
    /// and preflights the chip as `pcchip check` does.
    fn derived_json(&self, py: Python<'_>) -> PyResult<String> {
        let opts = RunOptions {
            out_dir: PathBuf::new(),
            base_dir: self.base_dir.clone(),
            weights: None,
        };
        let c = &self.circuit;
        let d = interruptible(py, |_| derive(c, &opts), |_, _| {})?;
        serde_json::to_string(&d)
            .map_err(|e| crate::errors::RunError::new_err(format!("JSON: {e}")))
    }

    /// Exactly what `pcchip check` prints.
    fn check_text(&self, py: Python<'_>) -> PyResult<String> {
        let (c, base) = (&self.circuit, &self.base_dir);
        interruptible(py, |_| check(c, base), |_, _| {})
    }

    /// The circuit's name.
    #[getter]
    fn name(&self) -> String {
        self.circuit.name.clone()
    }

    /// "f32" or "f64".
    #[getter]
    fn dtype(&self) -> &'static str {
        match self.circuit.dtype {
            circuit::DType::F32 => "f32",
            circuit::DType::F64 => "f64",
        }
    }

    /// Number of PC layers L (`network.depth` for an mlp; a resnet's
    /// convs, blocks, pools and readout).
    #[getter]
    fn depth(&self) -> usize {
        self.circuit.network.n_layers()
    }

    /// The folder relative data paths refer to.
    #[getter]
    fn base_dir(&self) -> PathBuf {
        self.base_dir.clone()
    }
}
