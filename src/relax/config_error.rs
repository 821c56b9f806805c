//! Why relaxation settings ([`RelaxConfig`](super::RelaxConfig)) were
//! rejected. Each message starts with the `relax` key it concerns
//! (`dt_tau: …`, `method: …`), so a circuit's validation can locate it.

use super::{Method, MAX_STEPS};

/// An invalid `relax` setting, with the key and value at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RelaxConfigError {
    /// `key` must be finite and > 0.
    #[error("{key}: expected a finite value > 0, got {value}")]
    NotPositive { key: &'static str, value: f64 },
    /// `key` must be finite and ≥ 0.
    #[error("{key}: expected a finite value ≥ 0, got {value}")]
    Negative { key: &'static str, value: f64 },
    /// t_max_tau / `key` = `steps` exceeds [`MAX_STEPS`] (steps, checks or
    /// trace samples of one relaxation).
    #[error("{key}: t_max_tau / {key} = {steps:.3e} steps, beyond the limit of {:.0e} per relaxation; raise {key} or lower t_max_tau", MAX_STEPS)]
    TooManySteps { key: &'static str, steps: f64 },
    /// `max_steps` is 0.
    #[error("max_steps: expected ≥ 1 (steps of an adaptive method)")]
    NoSteps,
    /// `max_trace_points` is below 2.
    #[error("max_trace_points: expected ≥ 2")]
    TracePoints,
    /// A Rosenbrock method (first-order only) with inertial dynamics.
    #[error("method: \"{}\" integrates first-order dynamics; use \"symplectic-euler\" or an explicit method for inertial dynamics", method.name())]
    FirstOrderOnly { method: Method },
    /// Euler or Heun with inertial dynamics (unstable at every step).
    #[error("method: \"{}\" is unstable for inertial dynamics at any step (it amplifies every undamped oscillation); use \"symplectic-euler\", \"rk4\" or \"dopri5\"", method.name())]
    UnstableInertial { method: Method },
    /// Symplectic Euler with first-order dynamics.
    #[error("method: \"symplectic-euler\" needs inertial dynamics; use \"euler\", \"rk4\", \"dopri5\", \"ros2\" or \"ros3\"")]
    InertialOnly,
    /// Node noise (`noise_std` > 0) with a deterministic integrator.
    #[error("method: node noise (noise_std = {noise_std}) needs a stochastic integrator: \"euler\" (Euler–Maruyama) or \"symplectic-euler\", not \"{}\"", method.name())]
    NoiseNeedsStochastic { noise_std: f64, method: Method },
}
