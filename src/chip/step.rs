//! One training step of the chip, its record, the preflight checks and the
//! evaluation on held-out data.

use super::{Chip, ChipError};
use crate::circuit::{Order, TauRule};
use crate::controller::read_weight_grads;
use crate::data::Dataset;
use crate::net::{backprop, loss_of_output};
use crate::real::{cosine, Real};
use crate::relax::{
    jacobi_tau_rel, rate_extremes, relax, Method, Spectrum, StopReason, System, Trace,
};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// What one training step did (the full diagnostics only in recorded steps).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: usize,
    pub epoch: usize,
    /// Backprop loss ℒ of the batch at the step's starting weights.
    pub loss: f64,
    /// Accuracy of the batch's feedforward read (classification).
    pub accuracy: Option<f64>,
    /// Energy F at the feedforward state and at the end of the relaxation.
    pub energy_start: f64,
    pub energy_end: f64,
    /// Simulated relaxation time, τ and s.
    pub t_relax_tau: f64,
    pub t_relax_s: f64,
    /// The stopping rule that fired.
    pub stop: StopReason,
    /// Worst-layer residual at the stop, relative to t = 0.
    pub residual: f64,
    /// Integrator steps and field evaluations of the relaxation.
    pub n_integrator_steps: usize,
    pub n_evals: usize,
    /// Cosine of the chip's update direction (ADC-read PC gradient) with the
    /// backprop gradient on the same weights and batch: all layers, per layer.
    pub cos_bp: Option<f64>,
    pub cos_bp_layers: Option<Vec<f64>>,
    /// Relaxation time until the traced cosine stays ≥ 0.99 (τ), when reached.
    pub t_cos99_tau: Option<f64>,
    /// Relaxation time until the traced cosine stays within 1% of its final value (τ).
    #[serde(default)]
    pub t_align_tau: Option<f64>,
    /// Weights saturated so far (programming and updates), devices stuck.
    pub n_saturated: usize,
    pub n_stuck: usize,
    /// ADC and DAC conversions that saturated in this step.
    pub n_converter_saturated: usize,
    /// Time and energy of the step: PC chip, sequential backprop, ratios.
    pub t_pc_s: f64,
    pub t_bp_s: f64,
    pub e_pc_j: f64,
    pub e_bp_j: f64,
    pub speedup: f64,
    pub energy_ratio: f64,
    /// Layer-pipelined backprop on the same crossbars: time (s) and
    /// t_BP,pipelined / t_PC.
    #[serde(default)]
    pub t_bp_pipe_s: f64,
    #[serde(default)]
    pub speedup_pipe: f64,
    /// The relaxation's trace (recorded steps with tracing on).
    #[serde(skip)]
    pub trace: Option<Trace>,
}

/// Loss and accuracy on a data set.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalRecord {
    pub step: usize,
    pub epoch: usize,
    pub split: String,
    pub loss: f64,
    pub accuracy: Option<f64>,
}

/// Fraction of columns whose argmax matches the target's.
pub fn accuracy<T: Real>(out: &DMatrix<T>, y: &DMatrix<T>) -> f64 {
    let argmax = |c: nalgebra::DVectorView<T>| {
        c.iter()
            .enumerate()
            .fold((0, T::min_value().unwrap_or(-T::one())), |b, (i, v)| {
                if *v > b.1 {
                    (i, *v)
                } else {
                    b
                }
            })
            .0
    };
    let hits = out
        .column_iter()
        .zip(y.column_iter())
        .filter(|(o, t)| argmax(o.as_view()) == argmax(t.as_view()))
        .count();
    hits as f64 / out.ncols().max(1) as f64
}

impl<T: Real> Chip<T> {
    /// Checks the relaxation settings against the network before any work:
    /// resolves automatic per-layer time constants (`tau_rule = "auto"`, from
    /// the whole batch's feedforward state), estimates the extreme rates of
    /// the linearised dynamics, λ(R⁻¹H) (the activity Hessian's eigenvalues
    /// when every ρ_ℓ = 1), at the feedforward state of the batch's first
    /// sample, rejects an explicit step above the stability limit, and
    /// resolves automatic damping.
    pub fn preflight(
        &mut self,
        x: &DMatrix<T>,
        y: &DMatrix<T>,
    ) -> Result<Option<Spectrum>, ChipError> {
        if self.depth() < 2 {
            return Ok(None);
        }
        self.resolve_tau_rel(x, y);
        let tau_rel = self.tau_rel();
        let spectrum = {
            let mut field = self.field(x.columns(0, 1).into_owned(), y.columns(0, 1).into_owned());
            let z = field.feedforward();
            rate_extremes(&mut field, &z, &tau_rel, 200, 1e-3, self.circuit.seed)
        };
        let inertial = self.circuit.dynamics.order == Order::Inertial;
        let mass = self.circuit.dynamics.mass;
        if inertial && self.damping.is_none() {
            // Critical damping of the slowest mode: m q'' + γ q' + λ_min q = 0.
            self.damping = Some(2.0 * (mass * spectrum.lambda_min.max(0.0)).sqrt());
        }
        let relax = &self.circuit.relax;
        let adaptive = matches!(relax.method, Method::Dopri5 | Method::Ros2 | Method::Ros3);
        if let (Some(c), false) = (relax.method.stability_limit(), adaptive) {
            let limit = if inertial {
                c * (mass / spectrum.lambda_max).sqrt()
            } else {
                c / spectrum.lambda_max
            };
            if relax.dt_tau > limit {
                return Err(ChipError::invalid(
                    "relax.dt_tau",
                    format!(
                        "{} is above the stability limit ≈ {limit:.4} of \"{}\" for this network (fastest rate λ_max ≈ {:.3} at the feedforward state); use dt_tau ≤ {:.4} or method = \"ros2\" or \"ros3\"",
                        relax.dt_tau,
                        relax.method.name(),
                        spectrum.lambda_max,
                        0.9 * limit
                    ),
                ));
            }
        }
        Ok(Some(spectrum))
    }

    /// Computes the automatic per-layer time constants from the batch (x, y)
    /// when the circuit asks for them and they are not resolved yet.
    pub fn resolve_tau_rel(&mut self, x: &DMatrix<T>, y: &DMatrix<T>) {
        let d = &self.circuit.dynamics;
        if d.tau_rule != TauRule::Auto || self.tau_rel_auto.is_some() || self.depth() < 2 {
            return;
        }
        let mut field = self.field(x.clone(), y.clone());
        let z = field.feedforward();
        self.tau_rel_auto = Some(jacobi_tau_rel(&mut field, &z));
    }

    /// One training step on the batch (x, y): clamp, relax, read, update.
    /// `record` adds the backprop comparison and the relaxation trace.
    pub fn train_step(
        &mut self,
        x: &DMatrix<T>,
        y: &DMatrix<T>,
        epoch: usize,
        record: bool,
    ) -> Result<StepRecord, ChipError> {
        let (mut x, mut y) = (x.clone(), y.clone());
        let mut n_conv = self.clamp(&mut x, &mut y);
        self.resolve_tau_rel(&x, &y);
        let out = self.forward(&x);
        let loss = loss_of_output(self.topology.loss, &out, &y);
        let acc = (*self.topology.widths.last().expect("widths") > 1).then(|| accuracy(&out, &y));
        let reference = record.then(|| backprop(&self.network(), &x, &y).grads);
        let mut cfg = self.circuit.relax.clone();
        if !record {
            cfg.trace_every_tau = 0.0;
        }
        let trace_ref = reference
            .as_deref()
            .filter(|_| self.circuit.record.trace_alignment);
        let (dynamics, tau_rel) = (self.dynamics(), self.tau_rel());
        let mut rng = self.rng_noise.clone();
        let (relaxation, grads) = {
            let mut field = self.field(x.clone(), y.clone());
            let z0 = field.feedforward();
            let mut sys = System::new(&mut field, dynamics, tau_rel);
            let r = relax(&mut sys, z0, &cfg, &mut rng, trace_ref)?;
            // The field's signals are those of the final state: the
            // relaxation's last stopping check evaluated it there.
            let (g, sat) = read_weight_grads(&field, r.activities(), &self.adc);
            n_conv += sat;
            (r, g)
        };
        self.rng_noise = rng;
        let delta = self.optimiser.step(&grads);
        self.program(&delta);
        self.step += 1;
        let t_relax_s = relaxation.t_seconds(self.circuit.dynamics.tau_s);
        let cost = self.cost(x.ncols(), t_relax_s);
        let (cos_bp, cos_bp_layers) = match &reference {
            Some(bp) => (
                Some(cosine(&grads, bp)),
                Some(
                    (0..grads.len())
                        .map(|l| cosine(&grads[l..=l], &bp[l..=l]))
                        .collect(),
                ),
            ),
            None => (None, None),
        };
        let trace = (!relaxation.trace.is_empty()).then_some(relaxation.trace);
        Ok(StepRecord {
            step: self.step,
            epoch,
            loss,
            accuracy: acc,
            energy_start: relaxation.energy_start,
            energy_end: relaxation.energy_end,
            t_relax_tau: relaxation.t_tau,
            t_relax_s,
            stop: relaxation.stop,
            residual: relaxation.residual,
            n_integrator_steps: relaxation.n_steps,
            n_evals: relaxation.n_evals,
            cos_bp,
            cos_bp_layers,
            t_cos99_tau: trace.as_ref().and_then(|t| t.time_to_cosine(0.99)),
            t_align_tau: trace.as_ref().and_then(|t| t.time_to_align(0.01)),
            n_saturated: self.n_saturated(),
            n_stuck: self.n_stuck(),
            n_converter_saturated: n_conv,
            t_pc_s: cost.pc.time_s,
            t_bp_s: cost.bp.time_s,
            e_pc_j: cost.pc.energy_j,
            e_bp_j: cost.bp.energy_j,
            speedup: cost.speedup,
            t_bp_pipe_s: cost.bp_pipelined.as_ref().map_or(0.0, |p| p.time_s),
            speedup_pipe: cost.speedup_pipelined.unwrap_or(0.0),
            energy_ratio: cost.energy_ratio,
            trace,
        })
    }

    /// Loss and accuracy of the feedforward read on `data`, in chunks of `batch`.
    pub fn evaluate(&self, data: &Dataset, batch: usize, split: &str, epoch: usize) -> EvalRecord {
        let n = data.len();
        let (mut loss, mut hits) = (0.0, 0.0);
        let idx: Vec<usize> = (0..n).collect();
        for chunk in idx.chunks(batch.max(1)) {
            let (x, y) = data.batch::<T>(chunk);
            let out = self.forward(&x);
            let b = chunk.len() as f64;
            loss += loss_of_output(self.topology.loss, &out, &y) * b;
            hits += accuracy(&out, &y) * b;
        }
        let classify = data.labels.is_some();
        EvalRecord {
            step: self.step,
            epoch,
            split: split.into(),
            loss: loss / n.max(1) as f64,
            accuracy: classify.then(|| hits / n.max(1) as f64),
        }
    }
}
