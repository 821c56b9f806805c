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
    /// Derivative feedback ("inertial-pd") on a method other than symplectic Euler.
    #[error("method: \"{}\" cannot carry the derivative branch of \"inertial-pd\" dynamics (it differences the loop's force step to step); use \"symplectic-euler\"", method.name())]
    DerivativeNeedsSymplectic { method: Method },
    /// A loop delay on a method that cannot carry it.
    #[error("method: a loop delay is simulated on the fixed-step \"euler\" and \"symplectic-euler\" only, not \"{}\"", method.name())]
    DelayNeedsFixedStep { method: Method },
    /// A loop delay longer than the delay line holds.
    #[error("dt_tau: the loop delay is {steps:.3e} steps of {dt_tau}; at most {max} fit in the delay line")]
    DelayTooLong { steps: f64, dt_tau: f64, max: usize },
}

/// The messages are those of the `String` errors they replaced, word for
/// word (circuit validation and users match on them).
#[cfg(test)]
mod tests {
    use super::super::{Dynamics, Method, RelaxConfig};

    /// Changes one setting of the defaults.
    type Setting = fn(&mut RelaxConfig);

    fn message(f: Setting, dynamics: &Dynamics) -> String {
        let mut c = RelaxConfig::default();
        f(&mut c);
        c.validate(dynamics).unwrap_err().to_string()
    }

    #[test]
    fn messages_are_unchanged() {
        let first = Dynamics::FirstOrder;
        let inertial = Dynamics::inertial(1.0, 1.0);
        let cases: [(Setting, &Dynamics, &str); 9] = [
            (
                |c| c.dt_tau = 0.0,
                &first,
                "dt_tau: expected a finite value > 0, got 0",
            ),
            (
                |c| c.noise_std = -1.0,
                &first,
                "noise_std: expected a finite value ≥ 0, got -1",
            ),
            (
                |c| c.dt_tau = 1e-7,
                &first,
                "dt_tau: t_max_tau / dt_tau = 1.000e10 steps, beyond the limit of 1e9 per relaxation; raise dt_tau or lower t_max_tau",
            ),
            (
                |c| c.max_steps = 0,
                &first,
                "max_steps: expected ≥ 1 (steps of an adaptive method)",
            ),
            (
                |c| c.max_trace_points = 1,
                &first,
                "max_trace_points: expected ≥ 2",
            ),
            (
                |c| c.method = Method::Ros3,
                &inertial,
                "method: \"ros3\" integrates first-order dynamics; use \"symplectic-euler\" or an explicit method for inertial dynamics",
            ),
            (
                |c| c.method = Method::Heun,
                &inertial,
                "method: \"heun\" is unstable for inertial dynamics at any step (it amplifies every undamped oscillation); use \"symplectic-euler\", \"rk4\" or \"dopri5\"",
            ),
            (
                |c| c.method = Method::SymplecticEuler,
                &first,
                "method: \"symplectic-euler\" needs inertial dynamics; use \"euler\", \"rk4\", \"dopri5\", \"ros2\" or \"ros3\"",
            ),
            (
                |c| (c.method, c.noise_std) = (Method::Dopri5, 0.1),
                &first,
                "method: node noise (noise_std = 0.1) needs a stochastic integrator: \"euler\" (Euler–Maruyama) or \"symplectic-euler\", not \"dopri5\"",
            ),
        ];
        for (f, dynamics, want) in cases {
            assert_eq!(message(f, dynamics), want);
        }
    }
}
