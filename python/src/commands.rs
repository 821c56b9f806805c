//! The library's commands from Python: `relax` and `grads` in memory (the
//! same functions the command line calls before it writes its files),
//! `run` and `bench` into a folder (a temporary one when none is given),
//! each on a worker thread ([`interruptible`]).

use crate::arrays::{batch_out, column, matrix_in, weights_out, Layout, Scalar};
use crate::circuit::NativeCircuit;
use crate::errors::input;
use crate::worker::interruptible;
use nalgebra::DMatrix;
use pcchip::chip::{EvalRecord, StepRecord};
use pcchip::circuit::DType;
use pcchip::run::bench::{bench, BenchOptions};
use pcchip::run::grads::{grads_in_memory, GivenBatch};
use pcchip::run::relax::{relax_in_memory, summarise};
use pcchip::run::train::{self, GivenWeights, Observer, RunOptions};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// Weights and batch as given from Python (unconverted).
pub struct Inputs<'py> {
    pub weights: Option<Vec<Bound<'py, PyAny>>>,
    pub x: Option<Bound<'py, PyAny>>,
    pub y: Option<Bound<'py, PyAny>>,
}

impl<'py> Inputs<'py> {
    /// The weights as the chip takes them, checked (count and values; the
    /// chip checks the shapes).
    fn weights<T: Scalar>(&self, c: &NativeCircuit) -> PyResult<Option<GivenWeights<T>>> {
        let Some(list) = &self.weights else {
            return Ok(None);
        };
        let depth = c.circuit.network.n_layers();
        if list.len() != depth {
            return Err(input(format!(
                "weights: {} arrays given; the network has {depth} layers (W1 … W{depth}, each [n_out, n_in]; a pool's is [0, 0])",
                list.len()
            )));
        }
        let wide = list
            .iter()
            .enumerate()
            .map(|(l, w)| matrix_in::<f64>(w, &format!("weights[{l}] (W{})", l + 1), Layout::AsIs))
            .collect::<PyResult<Vec<_>>>()?;
        let matrices = pcchip::run::weights::check_weights::<T>(
            wide,
            c.circuit.dtype,
            std::path::Path::new("weights"),
        )
        .map_err(|e| input(e.to_string()))?;
        Ok(Some(GivenWeights {
            matrices,
            source: "weights".into(),
        }))
    }

    /// The batch (`x` [B, D], `y` [B, n_out]) as columns, when given; both
    /// or neither.
    fn batch<T: Scalar>(&self) -> PyResult<Option<GivenBatch<T>>> {
        match (&self.x, &self.y) {
            (None, None) => Ok(None),
            (Some(x), Some(y)) => Ok(Some(GivenBatch {
                x: matrix_in(x, "x", Layout::Batch)?,
                y: matrix_in(y, "y", Layout::Batch)?,
                source: "batch".into(),
            })),
            _ => Err(input(
                "x and y: give both (x [B, D], y [B, n_out]) or neither (the circuit's first training batch)",
            )),
        }
    }
}

/// `relax`: the summary (JSON), the activities `[B, n_ℓ]`, the clamped
/// `x` and `y`, and the trace's columns.
pub fn relax<'py>(
    py: Python<'py>,
    c: &NativeCircuit,
    inputs: Inputs<'py>,
    trace: bool,
) -> PyResult<Bound<'py, PyDict>> {
    match c.circuit.dtype {
        DType::F32 => relax_typed::<f32>(py, c, inputs, trace),
        DType::F64 => relax_typed::<f64>(py, c, inputs, trace),
    }
}

fn relax_typed<'py, T: Scalar>(
    py: Python<'py>,
    c: &NativeCircuit,
    inputs: Inputs<'py>,
    trace: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let (weights, batch) = (inputs.weights::<T>(c)?, inputs.batch::<T>()?);
    let mut circuit = c.circuit.clone();
    if !trace {
        circuit.relax.trace_every_tau = 0.0;
    }
    let base = &c.base_dir;
    let (summary, relaxed) = interruptible(
        py,
        |_| {
            let (chip, s) = relax_in_memory::<T>(&circuit, base, weights, batch)?;
            Ok((summarise(&circuit, &chip, &s), s))
        },
        |_, _| {},
    )?;
    let out = PyDict::new(py);
    out.set_item(
        "summary",
        serde_json::to_string(&summary).map_err(json_error)?,
    )?;
    let r = relaxed.relaxation;
    let tau_s = circuit.dynamics.tau_s;
    let t = &r.trace;
    let cols = PyDict::new(py);
    let n = t.len();
    let padded = |v: &[f64]| {
        let mut v = v.to_vec();
        v.resize(n, f64::NAN);
        v
    };
    cols.set_item("t_tau", column(py, t.t_tau.clone()))?;
    cols.set_item(
        "t_s",
        column(py, t.t_tau.iter().map(|x| x * tau_s).collect()),
    )?;
    cols.set_item("energy", column(py, t.energy.clone()))?;
    cols.set_item("kinetic", column(py, t.kinetic.clone()))?;
    cols.set_item("residual", column(py, t.residual.clone()))?;
    cols.set_item("cos_bp", column(py, padded(&t.cosine)))?;
    let n_layers = t.layer_error.first().map_or(0, Vec::len);
    for l in 0..n_layers {
        let e: Vec<f64> = t.layer_error.iter().map(|row| row[l]).collect();
        cols.set_item(format!("err_{}", l + 1), column(py, e))?;
    }
    cols.set_item("cos_applied", column(py, padded(&t.cosine_applied)))?;
    out.set_item("trace", cols)?;
    let n_hidden = r.n_hidden;
    let acts: Vec<_> = r
        .state
        .into_iter()
        .take(n_hidden)
        .map(|z| batch_out(py, z))
        .collect();
    out.set_item("activities", PyList::new(py, acts)?)?;
    out.set_item("x", batch_out(py, relaxed.x))?;
    out.set_item("y", batch_out(py, relaxed.y))?;
    Ok(out)
}

/// `grads`: PC, ADC-read and backprop gradients `[n_out, n_in]`, the
/// scalars `grads` writes, the solver and stop, the cosines.
pub fn grads<'py>(
    py: Python<'py>,
    c: &NativeCircuit,
    inputs: Inputs<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    match c.circuit.dtype {
        DType::F32 => grads_typed::<f32>(py, c, inputs),
        DType::F64 => grads_typed::<f64>(py, c, inputs),
    }
}

fn grads_typed<'py, T: Scalar>(
    py: Python<'py>,
    c: &NativeCircuit,
    inputs: Inputs<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let (weights, batch) = (inputs.weights::<T>(c)?, inputs.batch::<T>()?);
    let (circuit, base) = (&c.circuit, &c.base_dir);
    let (eq, summary) = interruptible(
        py,
        |_| grads_in_memory::<T>(circuit, base, weights, batch),
        |_, _| {},
    )?;
    let out = PyDict::new(py);
    let list = |ms: Vec<DMatrix<T>>| PyList::new(py, ms.into_iter().map(|m| weights_out(py, m)));
    out.set_item("solver", eq.solve.solver().name())?;
    out.set_item("stop", eq.solve.stop_name())?;
    out.set_item("stop_line", summary.stop_line())?;
    out.set_item("kink_hint", summary.kink_hint.clone())?;
    out.set_item("cos_global", summary.cos_global)?;
    out.set_item("cos_layers", summary.cos_layers.clone())?;
    let scalars = PyDict::new(py);
    for (name, v) in summary.scalars() {
        scalars.set_item(name, v)?;
    }
    out.set_item("scalars", scalars)?;
    out.set_item("pc", list(eq.pc)?)?;
    out.set_item("read", list(eq.read)?)?;
    out.set_item("bp", list(eq.bp)?)?;
    Ok(out)
}

/// Forwards a run's progress as lines (at most one every half second, and
/// every evaluation) to the waiting Python thread; stops on Ctrl-C.
struct Progress<'a> {
    tx: &'a Sender<String>,
    total: usize,
    last: Option<Instant>,
    enabled: bool,
}

impl Observer for Progress<'_> {
    fn start(&mut self, total: usize) {
        self.total = total;
    }
    fn step(&mut self, rec: &StepRecord) {
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(500));
        if self.enabled && (due || rec.step == self.total) {
            self.last = Some(Instant::now());
            let acc = rec
                .accuracy
                .map_or(String::new(), |a| format!(", batch accuracy {:.3}", a));
            let _ = self.tx.send(format!(
                "step {}/{} (epoch {}): loss {:.4}{acc}, relaxation {:.1} τ\n",
                rec.step, self.total, rec.epoch, rec.loss, rec.t_relax_tau
            ));
        }
    }
    fn eval(&mut self, rec: &EvalRecord) {
        if self.enabled {
            let acc = rec
                .accuracy
                .map_or(String::new(), |a| format!(", accuracy {:.4}", a));
            let _ = self.tx.send(format!(
                "{} after step {}: loss {:.4}{acc}\n",
                rec.split, rec.step, rec.loss
            ));
        }
    }
    fn warn(&mut self, message: &str) {
        let _ = self.tx.send(format!("warning: {message}\n"));
    }
    fn stop(&mut self) -> bool {
        pcchip::interrupt::requested()
    }
}

/// Writes a progress line to Python's `sys.stderr` (a notebook shows it).
fn to_stderr(py: Python<'_>, line: String) {
    if let Ok(err) = py.import("sys").and_then(|s| s.getattr("stderr")) {
        let _ = err.call_method1("write", (line,));
        let _ = err.call_method0("flush");
    }
}

/// `run`: trains the chip into `out` (from the weights file when given);
/// the report as JSON.
pub fn run(
    py: Python<'_>,
    c: &NativeCircuit,
    out: PathBuf,
    weights: Option<PathBuf>,
    progress: bool,
) -> PyResult<String> {
    let opts = RunOptions {
        out_dir: out,
        base_dir: c.base_dir.clone(),
        weights,
    };
    let circuit = &c.circuit;
    let report = interruptible(
        py,
        |tx| {
            let mut obs = Progress {
                tx,
                total: 0,
                last: None,
                enabled: progress,
            };
            train::run(circuit, &opts, &mut obs)
        },
        to_stderr,
    )?;
    serde_json::to_string(&report).map_err(json_error)
}

/// What `bench` runs.
pub struct BenchArgs {
    pub depths: Vec<usize>,
    pub steps: usize,
    pub dynamics: Vec<String>,
    pub taus: Vec<f64>,
    /// Multiples of each point's smallest stable τ (exclusive with `taus`).
    pub tau_margins: Vec<f64>,
    pub t_max_tau: Option<f64>,
    pub compare_threads: bool,
}

/// `bench`: the depth × dynamics × τ points into `out` (bench.json,
/// bench.csv, a run folder a point); the rows as JSON.
pub fn bench_cmd(
    py: Python<'_>,
    c: &NativeCircuit,
    out: PathBuf,
    a: BenchArgs,
    progress: bool,
) -> PyResult<String> {
    let opts = BenchOptions::from_flags(
        a.depths,
        a.steps,
        &a.dynamics,
        a.compare_threads,
        a.t_max_tau,
        a.taus,
    )
    .and_then(|o| o.with_tau_margins(a.tau_margins))
    .map_err(crate::errors::to_py)?;
    let (circuit, base) = (&c.circuit, &c.base_dir);
    let rows = interruptible(
        py,
        |tx| {
            bench(circuit, base, &out, &opts, |row| {
                if progress {
                    let _ = tx.send(format!("{}\n", row.line()));
                }
            })
        },
        to_stderr,
    )?;
    serde_json::to_string(&rows).map_err(json_error)
}

fn json_error(e: serde_json::Error) -> PyErr {
    crate::errors::RunError::new_err(format!("JSON: {e}"))
}
