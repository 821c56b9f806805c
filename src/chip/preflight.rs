//! The checks before any work, in one place (used by run, bench, check,
//! relax and grads): the per-layer time constants of `tau_rule = "auto"`,
//! the extreme rates of the linearised dynamics, automatic damping, and the
//! stability limit of an explicit fixed step.
//!
//! Stability limit of an explicit method with region reaching −c on the
//! real axis, for rates λ ≤ λ_max of R⁻¹H (1/τ):
//!
//! ```text
//! first order:  dt/τ < c / λ_max
//! inertial:     dt/τ < c · √(m / λ_max)      (m the node mass, in τ²)
//! inertial-pd:  (dt/τ)² λ + 2 (dt/τ) β λ < c² m  for λ = λ_max
//! ```
//!
//! (the derivative branch β is an explicit damping βλ on a mode of rate λ;
//! the node damping γ, taken implicitly, is left out, which is safe).
//!
//! Adaptive methods (dopri5, ros2, ros3) choose their own step and have no
//! fixed-step limit.

use super::{Chip, ChipError};
use crate::circuit::{Order, TauRule};
use crate::real::Real;
use crate::relax::delay::{critical_delay_band, delay_optimal_derivative};
use crate::relax::{jacobi_tau_rel, rate_extremes, Dynamics, Method, Spectrum};
use nalgebra::DMatrix;

/// Largest stable dt/τ of an explicit fixed-step `method` for rates up to
/// `lambda_max` (1/τ), for `dynamics` (the node mass m of inertial ones);
/// `None` for adaptive methods and methods without a limit.
pub fn explicit_step_limit(method: Method, dynamics: Dynamics, lambda_max: f64) -> Option<f64> {
    if matches!(method, Method::Dopri5 | Method::Ros2 | Method::Ros3) {
        return None;
    }
    let c = method.stability_limit()?;
    Some(match dynamics {
        Dynamics::FirstOrder => c / lambda_max,
        Dynamics::Inertial {
            mass, derivative, ..
        } => {
            // The positive root h of λh² + 2βλh − c²m = 0 (β = 0: c√(m/λ)).
            let bl = derivative * lambda_max;
            (c * c * mass) / (bl + (bl * bl + c * c * mass * lambda_max).sqrt())
        }
    })
}

/// The stability bound of a delayed loop.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DelayBound {
    /// The circuit's loop delay d, τ.
    pub delay_tau: f64,
    /// The largest stable delay of the modes in the rate band, τ.
    pub d_crit_tau: f64,
    /// The smallest stable τ for the circuit's delay, s.
    pub tau_min_s: f64,
    /// The fastest rate λ_max of R⁻¹H it was computed for, 1/τ.
    pub lambda_max: f64,
    /// The slowest rate λ_min of the band, 1/τ (the derivative branch can
    /// make an inner mode the tightest).
    #[serde(default)]
    pub lambda_min: f64,
}

impl DelayBound {
    /// The bound's formula for dynamics of `order`.
    pub fn formula(&self, order: Order) -> &'static str {
        match order {
            Order::FirstOrder => "first order: d < π/(2 λ_max)",
            Order::Inertial => "inertial: d < atan(γ/(m ω))/ω with m²ω⁴ + γ²ω² = λ_max²",
            Order::InertialPd => "inertial-pd: d < min over λ_min … λ_max of (atan(βω) + atan(γ/(m ω)))/ω with m²ω⁴ + (γ² − λ²β²)ω² = λ²",
        }
    }

    /// d_crit / d: above 1 the loop is stable.
    pub fn margin(&self) -> f64 {
        self.d_crit_tau / self.delay_tau
    }
}

impl<T: Real> Chip<T> {
    /// Checks the relaxation settings against the network before any work:
    /// resolves automatic per-layer time constants (`tau_rule = "auto"`, from
    /// the whole batch's feedforward state), estimates the extreme rates of
    /// the linearised dynamics, λ(R⁻¹H) (the activity Hessian's eigenvalues
    /// when every ρ_ℓ = 1), at the feedforward state of the batch's first
    /// sample, rejects an explicit step above the stability limit, and
    /// resolves automatic damping and, for "inertial-pd", the automatic
    /// derivative gain (the β that maximises the stable loop delay,
    /// [`delay_optimal_derivative`]).
    pub fn preflight(
        &mut self,
        x: &DMatrix<T>,
        y: &DMatrix<T>,
    ) -> Result<Option<Spectrum>, ChipError> {
        if self.depth() < 2 {
            return Ok(None);
        }
        self.resolve_tau_rel(x, y);
        let spectrum = self.rates(&x.columns(0, 1).into_owned(), &y.columns(0, 1).into_owned());
        let d = &self.config.dynamics;
        if d.order.is_inertial() && self.damping.is_none() {
            // Critical damping of the slowest mode: m q'' + γ q' + λ_min q = 0.
            self.damping = Some(2.0 * (d.mass * spectrum.lambda_min.max(0.0)).sqrt());
        }
        if d.order == Order::InertialPd && self.derivative.is_none() {
            let gamma = self.damping.unwrap_or(0.0);
            self.derivative = Some(delay_optimal_derivative(
                spectrum.lambda_min,
                spectrum.lambda_max,
                gamma,
                d.mass,
            ));
        }
        self.check_step(spectrum.lambda_max, "network", "at the feedforward state")?;
        self.check_loop_delay(&spectrum)?;
        Ok(Some(spectrum))
    }

    /// The loop's stability bound for the rates of `spectrum` (1/τ): the
    /// largest stable delay d_crit (τ) over the band λ_min … λ_max and the
    /// smallest stable τ (s) for the circuit's delay
    /// ([`critical_delay_band`]); `None` without a delay.
    pub fn delay_bound(&self, spectrum: &Spectrum) -> Option<DelayBound> {
        let (d, delay_ns) = (&self.config.dynamics, self.config.loop_delay_ns());
        if delay_ns <= 0.0 {
            return None;
        }
        let (lambda_min, lambda_max) = (spectrum.lambda_min, spectrum.lambda_max);
        let d_crit_tau = critical_delay_band(lambda_min, lambda_max, self.dynamics());
        let delay_s = delay_ns * 1e-9;
        Some(DelayBound {
            delay_tau: delay_s / d.tau_s,
            d_crit_tau,
            tau_min_s: delay_s / d_crit_tau,
            lambda_max,
            lambda_min,
        })
    }

    /// `Err` naming `dynamics.loop_delay_ns` when the delay is above the
    /// bound, unless `relax.allow_unstable`.
    fn check_loop_delay(&self, spectrum: &Spectrum) -> Result<(), ChipError> {
        let Some(b) = self.delay_bound(spectrum) else {
            return Ok(());
        };
        if b.delay_tau < b.d_crit_tau || self.config.relax.allow_unstable {
            return Ok(());
        }
        Err(ChipError::invalid(
            "dynamics.loop_delay_ns",
            format!(
                "{} ns = {:.4} τ is above the loop's stability bound d < {:.4} τ ({}; fastest rate λ_max ≈ {:.3} at the feedforward state): raise dynamics.tau_s above {:.3e} s, lower the delay, or set relax.allow_unstable = true to study the instability",
                self.config.loop_delay_ns(),
                b.delay_tau,
                b.d_crit_tau,
                b.formula(self.config.dynamics.order),
                b.lambda_max,
                b.tau_min_s
            ),
        ))
    }

    /// Rejects an explicit fixed step above the stability limit of the whole
    /// batch (x, y) ([`Chip::preflight`] looks at its first sample only):
    /// λ_max of the batch's rate matrix at its feedforward state, by Lanczos.
    pub fn check_step_on_batch(&self, x: &DMatrix<T>, y: &DMatrix<T>) -> Result<(), ChipError> {
        let r = &self.config.relax;
        if self.depth() < 2 || explicit_step_limit(r.method, self.dynamics(), 1.0).is_none() {
            return Ok(());
        }
        let lambda = self.rates(x, y).lambda_max;
        let what = format!("over its {} samples at the feedforward state", x.ncols());
        self.check_step(lambda, "batch", &what)
    }

    /// The extreme rates λ(R⁻¹H) at the feedforward state of (x, y).
    fn rates(&self, x: &DMatrix<T>, y: &DMatrix<T>) -> Spectrum {
        let tau_rel = self.tau_rel();
        let mut field = self.field(x.clone(), y.clone());
        let z = field.feedforward();
        rate_extremes(&mut field, &z, &tau_rel, 200, 1e-3, self.config.seed)
    }

    /// `Err` naming `relax.dt_tau` when the explicit step is above the limit
    /// for the fastest rate `lambda_max` of `subject` (found `what`).
    fn check_step(&self, lambda_max: f64, subject: &str, what: &str) -> Result<(), ChipError> {
        let r = &self.config.relax;
        let Some(limit) = explicit_step_limit(r.method, self.dynamics(), lambda_max) else {
            return Ok(());
        };
        if r.dt_tau <= limit {
            return Ok(());
        }
        Err(ChipError::invalid(
            "relax.dt_tau",
            format!(
                "{} is above the stability limit ≈ {limit:.4} of \"{}\" for this {subject} (fastest rate λ_max ≈ {lambda_max:.3} {what}); use dt_tau ≤ {:.4} or method = \"ros2\" or \"ros3\"",
                r.dt_tau,
                r.method.name(),
                0.9 * limit
            ),
        ))
    }

    /// Computes the automatic per-layer time constants from the batch (x, y)
    /// when the circuit asks for them and they are not resolved yet.
    pub fn resolve_tau_rel(&mut self, x: &DMatrix<T>, y: &DMatrix<T>) {
        let d = &self.config.dynamics;
        if d.tau_rule != TauRule::Auto || self.tau_rel_auto.is_some() || self.depth() < 2 {
            return;
        }
        let tau_rel = {
            let mut field = self.field(x.clone(), y.clone());
            let z = field.feedforward();
            jacobi_tau_rel(&mut field, &z)
        };
        self.tau_rel_auto = Some(tau_rel);
    }
}
