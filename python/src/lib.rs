//! `pcchip._native`: the simulator's library for Python. The public API is
//! the pure-Python package `pcchip` around it (python/pcchip/__init__.py);
//! this module holds the circuit, the four commands and the exceptions.

mod arrays;
mod circuit;
mod commands;
mod errors;
mod worker;

use circuit::NativeCircuit;
use commands::{BenchArgs, Inputs};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// Relaxes one batch: see `pcchip.relax`.
#[pyfunction]
#[pyo3(signature = (circuit, weights=None, x=None, y=None, trace=true))]
fn relax<'py>(
    py: Python<'py>,
    circuit: &NativeCircuit,
    weights: Option<Vec<Bound<'py, PyAny>>>,
    x: Option<Bound<'py, PyAny>>,
    y: Option<Bound<'py, PyAny>>,
    trace: bool,
) -> PyResult<Bound<'py, PyDict>> {
    commands::relax(py, circuit, Inputs { weights, x, y }, trace)
}

/// Equilibrium PC and backprop gradients: see `pcchip.grads`.
#[pyfunction]
#[pyo3(signature = (circuit, weights=None, x=None, y=None))]
fn grads<'py>(
    py: Python<'py>,
    circuit: &NativeCircuit,
    weights: Option<Vec<Bound<'py, PyAny>>>,
    x: Option<Bound<'py, PyAny>>,
    y: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    commands::grads(py, circuit, Inputs { weights, x, y })
}

/// Trains the chip into `out`; the report as JSON: see `pcchip.run`.
#[pyfunction]
#[pyo3(signature = (circuit, out, weights, progress))]
fn run(
    py: Python<'_>,
    circuit: &NativeCircuit,
    out: PathBuf,
    weights: Option<PathBuf>,
    progress: bool,
) -> PyResult<String> {
    commands::run(py, circuit, out, weights, progress)
}

/// The speedup bench into `out`; the rows as JSON: see `pcchip.bench`.
#[pyfunction(name = "bench")]
#[allow(clippy::too_many_arguments)]
fn bench_points(
    py: Python<'_>,
    circuit: &NativeCircuit,
    out: PathBuf,
    depths: Vec<usize>,
    steps: usize,
    dynamics: Vec<String>,
    taus: Vec<f64>,
    tau_margins: Vec<f64>,
    t_max_tau: Option<f64>,
    compare_threads: bool,
    progress: bool,
) -> PyResult<String> {
    let args = BenchArgs {
        depths,
        steps,
        dynamics,
        taus,
        tau_margins,
        t_max_tau,
        compare_threads,
    };
    commands::bench_cmd(py, circuit, out, args, progress)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", pcchip::VERSION)?;
    m.add_class::<NativeCircuit>()?;
    m.add_function(wrap_pyfunction!(relax, m)?)?;
    m.add_function(wrap_pyfunction!(grads, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(bench_points, m)?)?;
    m.add("InputError", py.get_type::<errors::InputError>())?;
    m.add("CircuitError", py.get_type::<errors::CircuitError>())?;
    m.add("RunError", py.get_type::<errors::RunError>())?;
    Ok(())
}
