//! One training step of the chip, clamp → settle → read → update → program,
//! its record, and the evaluation on held-out data.

use super::{Chip, ChipError, TraceRequest};
use crate::data::Dataset;
use crate::net::loss_of_output_grouped;
use crate::real::{cosine, Real};
use crate::relax::{StopReason, Trace};
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
    /// backprop gradient on the same weights and batch: all layers, and per
    /// layer with weights (pools left out).
    pub cos_bp: Option<f64>,
    pub cos_bp_layers: Option<Vec<f64>>,
    /// Relaxation time until the traced cosine stays ≥ 0.99 (τ), when reached.
    pub t_cos99_tau: Option<f64>,
    /// The applied (ADC-read) gradient's cosine with backprop at the exact
    /// equilibrium (fixed-point solver), when the step was traced.
    #[serde(default)]
    pub cos_bp_equilibrium: Option<f64>,
    /// Relaxation time until the traced cosine of the applied (ADC-read)
    /// gradient stays within 1% of its value at the exact equilibrium (τ;
    /// `None` when the relaxation ends short of it): an oracle reference
    /// (it needs backprop's gradient and the fixed point), not a stopping rule.
    #[serde(default)]
    pub t_align_tau: Option<f64>,
    /// The same for the exact, unquantised PC gradient (τ).
    #[serde(default)]
    pub t_align_unquantised_tau: Option<f64>,
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
    /// Batched array reads of the step (feedforward pass and relaxation;
    /// each a W·V or Wᵀ·U of one layer over the batch).
    #[serde(default)]
    pub n_array_reads: u64,
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

/// Fraction of the outputs whose argmax matches the target's: one per
/// column, or one per group of `group` rows (a transformer's tokens) when
/// `group` > 0.
pub fn accuracy<T: Real>(out: &DMatrix<T>, y: &DMatrix<T>, group: usize) -> f64 {
    let argmax = |c: &[T]| {
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
    let g = if group == 0 {
        out.nrows().max(1)
    } else {
        group
    };
    let (mut hits, mut n) = (0usize, 0usize);
    for (o, t) in out.column_iter().zip(y.column_iter()) {
        for (og, tg) in o.as_slice().chunks(g).zip(t.as_slice().chunks(g)) {
            hits += usize::from(argmax(og) == argmax(tg));
            n += 1;
        }
    }
    hits as f64 / n.max(1) as f64
}

impl<T: Real> Chip<T> {
    /// One training step on the batch (x, y): clamp, relax, read, update.
    /// `record` adds the backprop comparison and the relaxation trace.
    pub fn train_step(
        &mut self,
        x: &DMatrix<T>,
        y: &DMatrix<T>,
        epoch: usize,
        record: bool,
    ) -> Result<StepRecord, ChipError> {
        // 1. Clamp x and y through the DACs; the arrays are read at the
        //    clock's present time (their drift since their writes).
        let (mut x, mut y) = (x.clone(), y.clone());
        let mut n_conv = self.clamp(&mut x, &mut y);
        self.resolve_tau_rel(&x, &y);
        let reference = record.then(|| self.backprop(&x, &y).grads);
        let trace = match record {
            false => TraceRequest::Off,
            true => TraceRequest::On {
                reference: reference.as_deref().filter(|_| self.config.trace_alignment),
            },
        };
        // 2. Settle from the feedforward state (whose output gives the loss).
        let reads0 = self.array_reads();
        let mut rng = self.rng_noise.clone();
        let settled = self.settle(&x, &y, trace, &mut rng)?;
        self.rng_noise = rng;
        let n_array_reads = self.array_reads() - reads0;
        let out = self.read_output(settled.feedforward_output);
        let group = self.topology.softmax_group;
        let loss = loss_of_output_grouped(self.topology.loss, group, &out, &y);
        let acc =
            (*self.topology.widths.last().expect("widths") > 1).then(|| accuracy(&out, &y, group));
        // 3. Read the errors and inputs through the ADCs into gradients.
        let reading = self.read(&settled.signals);
        n_conv += reading.n_saturated;
        let grads = reading.grads;
        // The alignment targets: the cosines at the exact equilibrium, on
        //    the weights of this step (before the update).
        let targets = match &reference {
            Some(bp)
                if self.config.trace_alignment
                    && !settled.relaxation.trace.is_empty()
                    && self.topology.newton_solvable() =>
            {
                Some(self.equilibrium_cosines(&x, &y, bp))
            }
            _ => None,
        };
        // 4. Update and program the arrays, at the end of the step's time.
        let relaxation = settled.relaxation;
        let t_relax_s = relaxation.t_seconds(self.config.dynamics.tau_s);
        let cost = self.cost(x.ncols(), t_relax_s);
        let delta = self.controller.update(&grads);
        self.idle(cost.pc.time_s);
        self.controller
            .program(&mut self.cores, &delta, &mut self.rng_write);
        self.step += 1;
        let (cos_bp, cos_bp_layers) = match &reference {
            Some(bp) => (
                Some(cosine(&grads, bp)),
                Some(
                    (0..grads.len())
                        .filter(|&l| !grads[l].is_empty())
                        .map(|l| cosine(&grads[l..=l], &bp[l..=l]))
                        .collect(),
                ),
            ),
            None => (None, None),
        };
        let trace = (!relaxation.trace.is_empty()).then_some(relaxation.trace);
        let align = |unquantised: bool| {
            let (t, (applied, exact)) = (trace.as_ref()?, targets?);
            let target = if unquantised { exact } else { applied };
            t.time_to_align_to(target, 0.01, unquantised)
        };
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
            cos_bp_equilibrium: targets.map(|(applied, _)| applied),
            t_align_tau: align(false),
            t_align_unquantised_tau: align(true),
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
            n_array_reads,
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
            let group = self.topology.softmax_group;
            loss += loss_of_output_grouped(self.topology.loss, group, &out, &y) * b;
            hits += accuracy(&out, &y, group) * b;
        }
        let classify = data.labels.is_some() || self.topology.softmax_group > 0;
        EvalRecord {
            step: self.step,
            epoch,
            split: split.into(),
            loss: loss / n.max(1) as f64,
            accuracy: classify.then(|| hits / n.max(1) as f64),
        }
    }
}
