//! Watching a relaxation: the stopping rules and the sampled trace.
//!
//! At every check (each `check_every_tau` of simulated time) the monitor
//! evaluates the field at the current state and applies, in this order:
//! - residual: the worst layer's rms force (and velocity, for inertial
//!   dynamics), relative to the worst layer's at t = 0, below `residual_tol`
//!   (per layer, because a global average hides the slow deep modes); with
//!   rails, components at a rail that push outward are left out (the
//!   projected, KKT residual), since the rail holds them there for good;
//! - energy: |ΔE|/(|E|·Δt) below `energy_tol` per τ, E = F (+ kinetic energy);
//! - update direction: the cosine between the local weight updates at two
//!   successive checks above 1 − `update_tol` (what a controller could sample);
//! - maximum time (checked by the driver).
//!
//! Traces are sampled every `trace_every_tau`; when more than
//! `max_trace_points` would be kept, every other point is dropped and the
//! interval doubled, so memory stays bounded however long the run.

use super::state::layer_rms;
use super::system::{Dynamics, System};
use super::RelaxConfig;
use crate::real::{cosine, Real};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// Which rule ended a relaxation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    Residual,
    EnergyChange,
    UpdateDirection,
    /// `t_max_tau` reached: not at equilibrium.
    MaxTime,
    /// An adaptive method took `max_steps` steps (accepted + rejected)
    /// first: not at equilibrium.
    MaxSteps,
    /// Stopped on request from outside ([`crate::interrupt`]): not at
    /// equilibrium.
    Interrupted,
}

impl StopReason {
    /// Whether a cap (`t_max_tau`, `max_steps`) ended it rather than a rule.
    pub fn capped(self) -> bool {
        matches!(self, StopReason::MaxTime | StopReason::MaxSteps)
    }

    /// The name in reports and files (`residual`, …, `max-steps`).
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Residual => "residual",
            StopReason::EnergyChange => "energy-change",
            StopReason::UpdateDirection => "update-direction",
            StopReason::MaxTime => "max-time",
            StopReason::MaxSteps => "max-steps",
            StopReason::Interrupted => "interrupted",
        }
    }
}

/// Sampled history of one relaxation (all lists have one entry a sample).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Trace {
    /// Simulated time (τ).
    pub t_tau: Vec<f64>,
    /// Energy F (batch mean).
    pub energy: Vec<f64>,
    /// Kinetic energy ½m Σρ‖v‖² (0 for first-order dynamics).
    pub kinetic: Vec<f64>,
    /// Worst-layer residual relative to its value at t = 0.
    pub residual: Vec<f64>,
    /// sqrt(mean_b ‖ε_ℓ‖²) for ℓ = 1..L at each sample.
    pub layer_error: Vec<Vec<f64>>,
    /// Cosine between the PC weight gradient (exact, unquantised) and the
    /// reference (backprop) gradient, when a reference was given.
    pub cosine: Vec<f64>,
    /// The same for the gradient the controller would apply (read through
    /// its ADCs, [`System::with_applied_gradient`]), when the system has one.
    pub cosine_applied: Vec<f64>,
}

impl Trace {
    fn decimate(&mut self) {
        fn keep_even<X: Clone>(v: &mut Vec<X>) {
            *v = v.iter().step_by(2).cloned().collect();
        }
        keep_even(&mut self.t_tau);
        keep_even(&mut self.energy);
        keep_even(&mut self.kinetic);
        keep_even(&mut self.residual);
        keep_even(&mut self.layer_error);
        keep_even(&mut self.cosine);
        keep_even(&mut self.cosine_applied);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.t_tau.len()
    }

    /// True when nothing was sampled.
    pub fn is_empty(&self) -> bool {
        self.t_tau.is_empty()
    }

    /// The first sampled time from which the cosine stays ≥ `threshold`.
    pub fn time_to_cosine(&self, threshold: f64) -> Option<f64> {
        time_staying_above(&self.t_tau, &self.cosine, threshold)
    }

    /// The traced cosine alignment is measured on: the unquantised
    /// gradient's when `unquantised` or when the applied one is not traced,
    /// else the applied (ADC-read) gradient's.
    fn aligned_series(&self, unquantised: bool) -> &[f64] {
        if unquantised || self.cosine_applied.is_empty() {
            &self.cosine
        } else {
            &self.cosine_applied
        }
    }

    /// The first sampled time from which the cosine stays within `rel` of
    /// its final value (e.g. 0.01: "aligned" in MODEL.md §6): the applied
    /// gradient's cosine when traced, else the unquantised one's. An oracle
    /// measure (it needs the backprop gradient and the final value), kept as
    /// a reference; the chip stops by the residual or update rules.
    pub fn time_to_align(&self, rel: f64) -> Option<f64> {
        time_within(&self.t_tau, self.aligned_series(false), rel)
    }

    /// The first sampled time from which the applied gradient's cosine
    /// (the unquantised one's when `unquantised`) stays ≥ `target` −
    /// `rel`·|`target`|, `target` the cosine at the exact equilibrium: the
    /// same measure as [`Trace::time_to_align`] against the fixed point
    /// instead of the relaxation's last state (`None` when the relaxation
    /// ends short of it).
    pub fn time_to_align_to(&self, target: f64, rel: f64, unquantised: bool) -> Option<f64> {
        let c = self.aligned_series(unquantised);
        time_staying_above(&self.t_tau, c, target - rel * target.abs())
    }
}

/// The first time of `t` from which `c` stays within `rel` of its last value.
fn time_within(t: &[f64], c: &[f64], rel: f64) -> Option<f64> {
    let last = *c.last()?;
    time_staying_above(t, c, last - rel * last.abs())
}

/// The first time of `t` from which `c` stays ≥ `threshold` (None when `c`
/// is empty or its last value is below).
fn time_staying_above(t: &[f64], c: &[f64], threshold: f64) -> Option<f64> {
    match c.iter().rposition(|&v| v < threshold) {
        None => t.first().copied().filter(|_| !c.is_empty()),
        Some(i) if i + 1 < c.len() => Some(t[i + 1]),
        Some(_) => None,
    }
}

/// Per-layer rms of `x`, leaving out the nodes held at a rail (`rail` > 0,
/// |z| ≥ rail) where `x` pushes outward (same sign as z).
fn projected_rms<T: Real>(x: &[DMatrix<T>], z: &[DMatrix<T>], rail: f64) -> Vec<f64> {
    if rail <= 0.0 {
        return layer_rms(x);
    }
    let at = rail * (1.0 - 1e-9);
    x.iter()
        .zip(z)
        .map(|(m, zl)| {
            let sum: f64 = m
                .iter()
                .zip(zl.iter())
                .map(|(v, zi)| {
                    let (v, zi) = (v.f64(), zi.f64());
                    if zi.abs() >= at && v * zi > 0.0 {
                        0.0
                    } else {
                        v * v
                    }
                })
                .sum();
            (sum / m.len().max(1) as f64).sqrt()
        })
        .collect()
}

/// State of the stopping rules between checks.
pub(crate) struct Monitor<T: Real> {
    r0: Option<f64>,
    last_energy: Option<(f64, f64)>,
    last_update: Option<Vec<DMatrix<T>>>,
    pub trace: Trace,
    next_trace: f64,
    trace_every: f64,
    /// Relative worst-layer residual at the last check.
    pub residual: f64,
    /// Total energy (F + kinetic) at the last check.
    pub energy: f64,
}

impl<T: Real> Monitor<T> {
    pub fn new(cfg: &RelaxConfig) -> Self {
        Monitor {
            r0: None,
            last_energy: None,
            last_update: None,
            trace: Trace::default(),
            next_trace: 0.0,
            trace_every: cfg.trace_every_tau,
            residual: f64::INFINITY,
            energy: f64::NAN,
        }
    }

    /// Evaluates the state at time `t` (τ); returns the rule that says stop.
    pub fn check(
        &mut self,
        t: f64,
        sys: &mut System<T>,
        y: &[DMatrix<T>],
        cfg: &RelaxConfig,
        reference: Option<&[DMatrix<T>]>,
    ) -> Option<StopReason> {
        if t > 0.0 && crate::interrupt::requested() {
            return Some(StopReason::Interrupted);
        }
        let k = sys.n_hidden();
        let rail = cfg.rail;
        let mut worst = projected_rms(sys.force_at(y), &y[..k], rail);
        if let Dynamics::Inertial { .. } = sys.dynamics {
            for (w, v) in worst.iter_mut().zip(projected_rms(&y[k..], &y[..k], rail)) {
                *w = w.hypot(v);
            }
        }
        let worst = worst.into_iter().fold(0.0, f64::max);
        let r0 = *self.r0.get_or_insert(worst);
        self.residual = if r0 > 0.0 { worst / r0 } else { 0.0 };
        let total = sys.field.energy() + sys.kinetic_energy(y);
        self.energy = total;
        let want_update = cfg.update_tol > 0.0;
        let tracing = self.trace_every > 0.0 && t >= self.next_trace - 1e-9 * t.max(1.0);
        let grads = (want_update || (tracing && reference.is_some()))
            .then(|| sys.field.weight_grads(&y[..k]));
        // The update rule compares what the controller reads (its ADC
        // readout) when the system has one, else the exact gradients.
        let read = if want_update {
            sys.applied_gradient(y).or_else(|| grads.clone())
        } else {
            None
        };
        if tracing {
            self.record(t, sys, y, grads.as_deref(), reference, cfg.max_trace_points);
        }
        if t == 0.0 {
            self.last_energy = Some((t, total));
            self.last_update = read;
            return (k == 0 || worst == 0.0).then_some(StopReason::Residual);
        }
        if cfg.residual_tol > 0.0 && self.residual <= cfg.residual_tol {
            return Some(StopReason::Residual);
        }
        if cfg.energy_tol > 0.0 {
            if let Some((t0, e0)) = self.last_energy {
                let rate = (total - e0).abs() / (total.abs().max(f64::MIN_POSITIVE) * (t - t0));
                if rate <= cfg.energy_tol {
                    return Some(StopReason::EnergyChange);
                }
            }
        }
        self.last_energy = Some((t, total));
        if want_update {
            let new = read.expect("computed when the rule is on");
            if let Some(old) = &self.last_update {
                if cosine(old, &new) >= 1.0 - cfg.update_tol {
                    return Some(StopReason::UpdateDirection);
                }
            }
            self.last_update = Some(new);
        }
        None
    }

    fn record(
        &mut self,
        t: f64,
        sys: &System<T>,
        y: &[DMatrix<T>],
        grads: Option<&[DMatrix<T>]>,
        reference: Option<&[DMatrix<T>]>,
        max_points: usize,
    ) {
        let tr = &mut self.trace;
        tr.t_tau.push(t);
        tr.energy.push(sys.field.energy());
        tr.kinetic.push(sys.kinetic_energy(y));
        tr.residual.push(self.residual);
        tr.layer_error.push(sys.field.error_norms());
        if let (Some(g), Some(r)) = (grads, reference) {
            tr.cosine.push(cosine(g, r));
            if let Some(applied) = sys.applied_gradient(y) {
                tr.cosine_applied.push(cosine(&applied, r));
            }
        }
        self.next_trace = t + self.trace_every;
        if max_points >= 2 && tr.len() > max_points {
            tr.decimate();
            self.trace_every *= 2.0;
        }
    }

    /// Records the final state if the last sample is older than it.
    pub fn finish(
        &mut self,
        t: f64,
        sys: &mut System<T>,
        y: &[DMatrix<T>],
        reference: Option<&[DMatrix<T>]>,
        max_points: usize,
    ) {
        if self.trace_every > 0.0 && self.trace.t_tau.last() != Some(&t) {
            let k = sys.n_hidden();
            sys.force_at(y);
            let grads = reference.map(|_| sys.field.weight_grads(&y[..k]));
            self.record(t, sys, y, grads.as_deref(), reference, max_points);
        }
    }
}
