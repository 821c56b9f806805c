//! `pcchip relax`: one relaxation of one batch on the chip, no training.
//!
//! The batch is the circuit's first training batch (what the first step of
//! `pcchip run` relaxes) or a batch file (`x` [B, D], `y` [B, n_out]). It
//! goes through exactly what a training step does before its update: clamp
//! through the DACs, the τ rule, the feedforward state, then the circuit's
//! relaxation with the circuit's noise stream, traced as the circuit says.
//! Written into the output folder:
//!
//! - `relax.json` ([`RelaxSummary`]): simulated time in τ and seconds, the
//!   stop rule, steps accepted and rejected, field evaluations,
//!   Hessian–vector products, CG iterations, weight products, wall time;
//! - `relaxation.csv`: the trace (the same columns as a run's, step 1);
//! - `activities.safetensors`: the relaxed activities `z1` … `z{L−1}`
//!   ([B, n_ℓ], row = sample) and the clamped `x`, `y`.

use crate::chip::{Chip, TraceRequest};
use crate::circuit::Circuit;
use crate::real::Real;
use crate::relax::{Relaxation, StopReason};
use crate::report::tensors::{write_tensors, Tensor};
use crate::report::ReportWriter;
use crate::run::dispatch::{dispatch, Job};
use crate::run::grads::{first_batch, GivenBatch};
use crate::run::train::{prepare_with, GivenWeights};
use crate::run::RunError;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `pcchip relax` measured (the content of `relax.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelaxSummary {
    /// The circuit's name.
    pub circuit: String,
    /// Integration method (circuit key `relax.method`).
    pub method: String,
    /// Batch size and number of weight layers.
    pub batch: usize,
    pub depth: usize,
    /// The circuit's time constant τ, s.
    pub tau_s: f64,
    /// Simulated time at the stop, τ and s.
    pub t_tau: f64,
    pub t_s: f64,
    /// The rule that stopped the relaxation.
    pub stop: StopReason,
    /// Worst-layer residual relative to t = 0, at the stop, and the
    /// circuit's tolerance for it (`relax.residual_tol`).
    pub residual: f64,
    pub residual_tol: f64,
    /// F at t = 0 and at the stop (batch means).
    pub energy_start: f64,
    pub energy_end: f64,
    /// Integrator steps accepted and rejected.
    pub steps_accepted: usize,
    pub steps_rejected: usize,
    /// Field evaluations and Hessian–vector products.
    pub field_evals: usize,
    pub hessian_vector_products: usize,
    /// Conjugate-gradient iterations of the stiff methods' stage solves.
    pub cg_iterations: usize,
    /// Weight products W·v or Wᵀ·u of one layer's batch.
    pub weight_products: usize,
    /// Wall time of the relaxation alone (not set-up or output), s.
    pub wall_s: f64,
    /// Rows written to relaxation.csv.
    pub trace_points: usize,
}

impl RelaxSummary {
    /// What `pcchip relax` prints: the stop, the work counts, the folder.
    pub fn report(&self, out: &Path) -> String {
        let r = self;
        format!(
            "{}: {:.4} τ ({:.3e} s), stopped by {:?} at residual {:.2e}\n\
             {} steps accepted, {} rejected; {} field evaluations, {} Hessian–vector products, {} CG iterations, {} weight products; {:.3} s wall\n\
             written to {}\n",
            r.method,
            r.t_tau,
            r.t_s,
            r.stop,
            r.residual,
            r.steps_accepted,
            r.steps_rejected,
            r.field_evals,
            r.hessian_vector_products,
            r.cg_iterations,
            r.weight_products,
            r.wall_s,
            out.display()
        )
    }
}

/// Runs `pcchip relax`: relaxes one batch and writes `out_dir`. `weights`
/// and `batch` are optional files; relative data paths resolve against
/// `base_dir`.
pub fn relax_batch(
    circuit: &Circuit,
    base_dir: &Path,
    weights: Option<PathBuf>,
    batch: Option<&Path>,
    out_dir: &Path,
) -> Result<RelaxSummary, RunError> {
    let job = RelaxJob {
        circuit,
        base_dir,
        weights,
        batch,
        out_dir,
    };
    dispatch(circuit.dtype, job)
}

/// [`relax_batch`]'s arguments, for [`dispatch`].
struct RelaxJob<'a> {
    circuit: &'a Circuit,
    base_dir: &'a Path,
    weights: Option<PathBuf>,
    batch: Option<&'a Path>,
    out_dir: &'a Path,
}

impl Job for RelaxJob<'_> {
    type Output = Result<RelaxSummary, RunError>;
    fn call<T: Real>(self) -> Self::Output {
        let RelaxJob {
            circuit,
            base_dir,
            weights,
            batch,
            out_dir,
        } = self;
        relax_typed::<T>(circuit, base_dir, weights, batch, out_dir)
    }
}

fn relax_typed<T: Real>(
    circuit: &Circuit,
    base_dir: &Path,
    weights: Option<PathBuf>,
    batch: Option<&Path>,
    out_dir: &Path,
) -> Result<RelaxSummary, RunError> {
    let weights = weights
        .map(|p| GivenWeights::<T>::from_file(&p, circuit))
        .transpose()?;
    let batch = batch.map(GivenBatch::from_file).transpose()?;
    let (chip, s) = relax_in_memory(circuit, base_dir, weights, batch)?;
    write_outputs(circuit, &chip, &s, out_dir)
}

/// `relax` in memory, nothing written: the chip (at the given weights, or
/// the circuit's initialisation) and its relaxation of the batch (the
/// circuit's first training batch when `None`).
pub fn relax_in_memory<T: Real>(
    circuit: &Circuit,
    base_dir: &Path,
    weights: Option<GivenWeights<T>>,
    batch: Option<GivenBatch<T>>,
) -> Result<(Chip<T>, RelaxedBatch<T>), RunError> {
    let (mut chip, train, _, _): (Chip<T>, _, _, _) = prepare_with(circuit, base_dir, weights)?;
    let (x, y, source) = match batch {
        Some(b) => (b.x, b.y, b.source),
        None => {
            let (x, y) = first_batch(&train, circuit);
            (x, y, "batch".into())
        }
    };
    let widths = &chip.topology().widths;
    let (n_in, n_out) = (widths[0], *widths.last().expect("widths"));
    if x.nrows() != n_in || y.nrows() != n_out || x.ncols() != y.ncols() || x.ncols() == 0 {
        return Err(RunError::Invalid(format!(
            "{source}: x is [{}, {}] and y [{}, {}]; the network expects [B, {n_in}] and [B, {n_out}] with B ≥ 1",
            x.ncols(),
            x.nrows(),
            y.ncols(),
            y.nrows()
        )));
    }
    let s = settle(&mut chip, &x, &y)?;
    Ok((chip, s))
}

/// A relaxation with the batch it relaxed, as clamped.
pub struct RelaxedBatch<T: Real> {
    pub relaxation: Relaxation<T>,
    pub x: DMatrix<T>,
    pub y: DMatrix<T>,
    /// Wall time of the feedforward pass and the relaxation, s.
    pub wall_s: f64,
}

/// Clamps (x, y) through the DACs, resolves the τ rule and settles the
/// batch as [`Chip::train_step`] does ([`Chip::settle`], with the circuit's
/// trace; the backprop reference is computed only when the trace needs it).
pub fn settle<T: Real>(
    chip: &mut Chip<T>,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
) -> Result<RelaxedBatch<T>, RunError> {
    let (mut x, mut y) = (x.clone(), y.clone());
    chip.clamp(&mut x, &mut y);
    chip.resolve_tau_rel(&x, &y);
    let traced = chip.config().relax.trace_every_tau > 0.0;
    let reference = (chip.config().trace_alignment && traced).then(|| chip.backprop(&x, &y).grads);
    let mut rng = chip.noise_stream();
    let start = Instant::now();
    let trace = TraceRequest::On {
        reference: reference.as_deref(),
    };
    let s = chip
        .settle(&x, &y, trace, &mut rng)
        .map_err(|e| RunError::Failed(format!("relaxation: {e}")))?;
    let wall_s = start.elapsed().as_secs_f64();
    Ok(RelaxedBatch {
        relaxation: s.relaxation,
        x,
        y,
        wall_s,
    })
}

/// What `relax.json` says of a relaxation.
pub fn summarise<T: Real>(circuit: &Circuit, chip: &Chip<T>, s: &RelaxedBatch<T>) -> RelaxSummary {
    let (r, x, wall_s) = (&s.relaxation, &s.x, s.wall_s);
    let tau_s = circuit.dynamics.tau_s;
    RelaxSummary {
        circuit: circuit.name.clone(),
        method: circuit.relax.method.name().into(),
        batch: x.ncols(),
        depth: chip.depth(),
        tau_s,
        t_tau: r.t_tau,
        t_s: r.t_seconds(tau_s),
        stop: r.stop,
        residual: r.residual,
        residual_tol: circuit.relax.residual_tol,
        energy_start: r.energy_start,
        energy_end: r.energy_end,
        steps_accepted: r.n_steps,
        steps_rejected: r.n_rejected,
        field_evals: r.n_evals,
        hessian_vector_products: r.n_hvps,
        cg_iterations: r.n_linear_iters,
        weight_products: r.n_products,
        wall_s,
        trace_points: r.trace.len(),
    }
}

fn write_outputs<T: Real>(
    circuit: &Circuit,
    chip: &Chip<T>,
    s: &RelaxedBatch<T>,
    out_dir: &Path,
) -> Result<RelaxSummary, RunError> {
    let (r, x, y) = (&s.relaxation, &s.x, &s.y);
    let fail =
        |what: &str, e: String| RunError::Failed(format!("{}: {e}", out_dir.join(what).display()));
    let tau_s = circuit.dynamics.tau_s;
    let summary = summarise(circuit, chip, s);
    let mut writer = ReportWriter::create(out_dir).map_err(|e| fail("", e.to_string()))?;
    // A fresh relaxation.csv (an earlier one in the folder is replaced).
    writer
        .continue_csv(0)
        .map_err(|e| fail("relaxation.csv", e.to_string()))?;
    if !r.trace.is_empty() {
        writer
            .append_trace(1, &r.trace, tau_s)
            .map_err(|e| fail("relaxation.csv", e.to_string()))?;
        writer
            .sync_csv()
            .map_err(|e| fail("relaxation.csv", e.to_string()))?;
    }
    let rows: Vec<DMatrix<T>> = r.activities().iter().map(|z| z.transpose()).collect();
    let (xt, yt) = (x.transpose(), y.transpose());
    let mut tensors: Vec<(String, Tensor<T>)> = rows
        .iter()
        .enumerate()
        .map(|(l, z)| (format!("z{}", l + 1), Tensor::Matrix(z)))
        .collect();
    tensors.push(("x".into(), Tensor::Matrix(&xt)));
    tensors.push(("y".into(), Tensor::Matrix(&yt)));
    write_tensors(&out_dir.join("activities.safetensors"), &tensors)
        .map_err(|e| fail("activities.safetensors", e.to_string()))?;
    let json =
        serde_json::to_vec_pretty(&summary).map_err(|e| fail("relax.json", e.to_string()))?;
    let tmp = out_dir.join(".relax.json.tmp");
    std::fs::write(&tmp, json).map_err(|e| fail("relax.json", e.to_string()))?;
    std::fs::rename(&tmp, out_dir.join("relax.json"))
        .map_err(|e| fail("relax.json", e.to_string()))?;
    Ok(summary)
}
