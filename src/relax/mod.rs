//! The chip's inference: the continuous-time relaxation of all hidden
//! layers at once (MODEL.md §1, §6, §7), simulated in units of the circuit's
//! time constant τ.
//!
//! - [`field`]: the PC vector field over the layers' cores, layer-parallel.
//! - [`system`]: first-order or inertial dynamics, per-layer time constants.
//! - integrators: [`explicit`] (Euler, Heun, RK4, Dormand–Prince 5(4)),
//!   [`rosenbrock`] (ROS2, stiff), [`inertial`] (semi-implicit Euler);
//!   Euler–Maruyama when node noise is on.
//! - [`monitor`]: stopping rules and bounded traces.
//! - [`spectrum`]: extreme eigenvalues of the activity Hessian (Lanczos).
//!
//! The driver [`relax`] owns step-size control, rails, noise, the finite-value
//! check and the stopping rules.

pub mod cg;
mod config_error;
pub mod delay;
pub mod explicit;
pub mod field;
pub mod fixed_point;
pub mod inertial;
pub mod mixed;
pub mod monitor;
pub mod precond;
pub mod rosenbrock;
pub mod spectrum;
mod split;
pub mod state;
pub mod system;

pub use config_error::RelaxConfigError;
pub use field::{Field, FieldSpec, LayerSignals, Signals};
pub use fixed_point::{FixedPoint, FixedPointSettings, Solver};
pub use mixed::SolveDType;
pub use monitor::{StopReason, Trace};
pub use precond::Precond;
pub use spectrum::{hessian_extremes, rate_extremes, Spectrum};
pub use state::State;
pub use system::{jacobi_tau_rel, AppliedGradient, Dynamics, Order, System};

use crate::real::Real;
use monitor::Monitor;
use nalgebra::DMatrix;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// One integration method over the relaxation's state.
pub trait Integrator<T: Real> {
    /// Order of accuracy.
    fn order(&self) -> usize;
    /// Whether `attempt` returns an error estimate for step-size control.
    fn adaptive(&self) -> bool;
    /// Computes the state after a step `h` (τ) from `y` into the proposal;
    /// returns the scaled error norm (≤ 1 is acceptable; 0 without estimate).
    fn attempt(&mut self, sys: &mut System<T>, y: &State<T>, h: f64, atol: f64, rtol: f64) -> f64;
    /// The proposed state of the last attempt.
    fn proposal(&mut self) -> &mut State<T>;
    /// Iterations of the linear (conjugate-gradient) solves so far; 0 for
    /// methods without linear solves.
    fn linear_iterations(&self) -> usize {
        0
    }
}

/// The integration method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Explicit Euler (Euler–Maruyama with noise), fixed step.
    Euler,
    /// Heun (explicit trapezoid), fixed step.
    Heun,
    /// Classic 4th-order Runge–Kutta, fixed step.
    Rk4,
    /// Dormand–Prince 5(4), adaptive.
    Dopri5,
    /// Rosenbrock ROS2, adaptive, stiff (first-order dynamics).
    Ros2,
    /// Rosenbrock ROS3 (third order), adaptive, stiff (first-order dynamics).
    Ros3,
    /// Semi-implicit Euler, fixed step (inertial dynamics).
    SymplecticEuler,
}

impl Method {
    /// The name used in circuit files.
    pub fn name(self) -> &'static str {
        match self {
            Method::Euler => "euler",
            Method::Heun => "heun",
            Method::Rk4 => "rk4",
            Method::Dopri5 => "dopri5",
            Method::Ros2 => "ros2",
            Method::Ros3 => "ros3",
            Method::SymplecticEuler => "symplectic-euler",
        }
    }

    /// Stability limit of the step on the real axis, in units of 1/λ_max
    /// (explicit methods; `None` for methods not limited by stability).
    pub fn stability_limit(self) -> Option<f64> {
        match self {
            Method::Euler | Method::Heun => Some(2.0),
            Method::Rk4 => Some(2.785),
            Method::Dopri5 => Some(3.3),
            Method::Ros2 | Method::Ros3 => None,
            Method::SymplecticEuler => Some(2.0),
        }
    }
}

/// Most steps (and stopping-rule checks, and trace samples) one relaxation
/// may take: t_max_tau / dt_tau (fixed-step methods; an adaptive method's
/// `dt_tau` is only its first step), t_max_tau / check_every_tau and
/// t_max_tau / trace_every_tau must each stay at or below it, so that
/// every setting finishes.
pub const MAX_STEPS: f64 = 1e9;

/// How to integrate and when to stop. Times are in units of τ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaxConfig {
    /// Integration method. Default `euler`. `ros2` and `ros3` need first-order
    /// dynamics, `symplectic-euler` inertial dynamics; node noise needs
    /// `euler` or `symplectic-euler`.
    pub method: Method,
    /// Step (fixed methods) or first step (adaptive), τ. Default 0.2, > 0.
    pub dt_tau: f64,
    /// Relative tolerance of adaptive methods. Default 1e-4, > 0.
    pub rtol: f64,
    /// Absolute tolerance of adaptive methods (activity units). Default 1e-6, > 0.
    pub atol: f64,
    /// Maximum simulated time, τ. Default 1000, > 0.
    pub t_max_tau: f64,
    /// Most steps (accepted + rejected) of an adaptive method (`dopri5`,
    /// `ros2`, `ros3`) before it stops with `max-steps`, ≥ 1. Fixed-step
    /// methods ignore it (`t_max_tau / dt_tau` bounds them). Default 100000.
    pub max_steps: usize,
    /// Interval between checks of the stopping rules, τ. Default 1, > 0.
    pub check_every_tau: f64,
    /// Stop when the worst layer's residual falls below this fraction of its
    /// value at t = 0, ≥ 0. Default 1e-3; 0 turns the rule off.
    pub residual_tol: f64,
    /// Stop when |ΔE|/|E| per τ falls below this, ≥ 0. Default 0 (off).
    pub energy_tol: f64,
    /// Stop when successive weight updates' cosine exceeds 1 − this, ≥ 0. Default 0 (off).
    pub update_tol: f64,
    /// Node noise σ (activity units per √τ): dz gains σ/ρ·dW; ≥ 0. Default 0 (off).
    pub noise_std: f64,
    /// Output rail: activities are clipped to ±rail (activity units), ≥ 0. Default 0 (off).
    pub rail: f64,
    /// Trace sampling interval, τ, ≥ 0; 0 = no trace. Default 1. (A chip traces
    /// only the relaxations of its recorded steps.)
    pub trace_every_tau: f64,
    /// Most trace samples kept (older ones are thinned). Default 2000, ≥ 2.
    pub max_trace_points: usize,
    /// |z| (activity units) beyond which the relaxation counts as diverged, > 0. Default 1e6.
    pub divergence_bound: f64,
    /// Preconditioner of `ros2`'s and `ros3`'s linear solves. Default `sweep`.
    pub preconditioner: Precond,
    /// Floating-point type of `ros2`'s and `ros3`'s linear solves. Default
    /// `f32` ([`mixed`]). Formerly `solve_precision` (still accepted).
    #[serde(alias = "solve_precision")]
    pub solve_dtype: SolveDType,
    /// Run a circuit whose loop delay exceeds its stability bound (to study
    /// the instability) instead of refusing it. Default false.
    pub allow_unstable: bool,
}

impl Default for RelaxConfig {
    fn default() -> Self {
        RelaxConfig {
            method: Method::Euler,
            dt_tau: 0.2,
            rtol: 1e-4,
            atol: 1e-6,
            t_max_tau: 1000.0,
            max_steps: 100_000,
            check_every_tau: 1.0,
            residual_tol: 1e-3,
            energy_tol: 0.0,
            update_tol: 0.0,
            noise_std: 0.0,
            rail: 0.0,
            trace_every_tau: 1.0,
            max_trace_points: 2000,
            divergence_bound: 1e6,
            preconditioner: Precond::Sweep,
            allow_unstable: false,
            solve_dtype: SolveDType::F32,
        }
    }
}

impl RelaxConfig {
    /// Checks ranges and the method's fit with the dynamics; the message names the key.
    pub fn validate(&self, dynamics: &Dynamics) -> Result<(), RelaxConfigError> {
        let positive = [
            ("dt_tau", self.dt_tau),
            ("rtol", self.rtol),
            ("atol", self.atol),
            ("t_max_tau", self.t_max_tau),
            ("check_every_tau", self.check_every_tau),
            ("divergence_bound", self.divergence_bound),
        ];
        for (key, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(RelaxConfigError::NotPositive { key, value: v });
            }
        }
        let non_negative = [
            ("residual_tol", self.residual_tol),
            ("energy_tol", self.energy_tol),
            ("update_tol", self.update_tol),
            ("noise_std", self.noise_std),
            ("rail", self.rail),
            ("trace_every_tau", self.trace_every_tau),
        ];
        for (key, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return Err(RelaxConfigError::Negative { key, value: v });
            }
        }
        let intervals = [
            ("dt_tau", self.dt_tau),
            ("check_every_tau", self.check_every_tau),
            ("trace_every_tau", self.trace_every_tau),
        ];
        let fixed_step = matches!(
            self.method,
            Method::Euler | Method::Heun | Method::Rk4 | Method::SymplecticEuler
        );
        for (key, dt) in intervals {
            let n = self.t_max_tau / dt;
            let counts = key != "dt_tau" || fixed_step;
            if counts && dt > 0.0 && n > MAX_STEPS {
                return Err(RelaxConfigError::TooManySteps { key, steps: n });
            }
        }
        if self.max_steps == 0 {
            return Err(RelaxConfigError::NoSteps);
        }
        if self.max_trace_points < 2 {
            return Err(RelaxConfigError::TracePoints);
        }
        let inertial = matches!(dynamics, Dynamics::Inertial { .. });
        match (self.method, inertial) {
            (Method::Ros2 | Method::Ros3, true) => {
                return Err(RelaxConfigError::FirstOrderOnly {
                    method: self.method,
                })
            }
            (Method::Euler | Method::Heun, true) => {
                return Err(RelaxConfigError::UnstableInertial {
                    method: self.method,
                })
            }
            (Method::SymplecticEuler, false) => return Err(RelaxConfigError::InertialOnly),
            _ => {}
        }
        if let Dynamics::Inertial { derivative, .. } = dynamics {
            if *derivative > 0.0 && self.method != Method::SymplecticEuler {
                return Err(RelaxConfigError::DerivativeNeedsSymplectic {
                    method: self.method,
                });
            }
        }
        if self.noise_std > 0.0 && !matches!(self.method, Method::Euler | Method::SymplecticEuler) {
            return Err(RelaxConfigError::NoiseNeedsStochastic {
                noise_std: self.noise_std,
                method: self.method,
            });
        }
        Ok(())
    }
}

/// Why a relaxation could not finish.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RelaxError {
    #[error("relaxation diverged at t = {t_tau:.4} τ (step {dt_tau:.3e} τ): {what} of hidden layer {layer} reached {value:e}; {remedy}")]
    Diverged {
        /// Hidden layer ℓ (1-based).
        layer: usize,
        /// "activity" or "velocity".
        what: &'static str,
        t_tau: f64,
        dt_tau: f64,
        value: f64,
        remedy: String,
    },
    #[error("invalid relaxation settings: {0}")]
    Config(RelaxConfigError),
}

/// The outcome of one relaxation.
#[derive(Clone, Debug)]
pub struct Relaxation<T: Real> {
    /// Final state (hidden activities, then velocities for inertial dynamics).
    pub state: State<T>,
    /// Number of hidden layers (the activities are `state[..n_hidden]`).
    pub n_hidden: usize,
    pub stop: StopReason,
    /// Simulated time at the stop, τ.
    pub t_tau: f64,
    pub n_steps: usize,
    pub n_rejected: usize,
    /// Field evaluations (each: two products a layer).
    pub n_evals: usize,
    /// Hessian–vector products (each: two products a layer).
    pub n_hvps: usize,
    /// Conjugate-gradient iterations of the stiff methods' stage solves.
    pub n_linear_iters: usize,
    /// Weight products W·v or Wᵀ·u of one layer's batch ([`Field::n_products`]).
    pub n_products: usize,
    /// F at t = 0 and at the stop (batch means).
    pub energy_start: f64,
    pub energy_end: f64,
    /// Worst-layer residual relative to t = 0, at the stop.
    pub residual: f64,
    pub trace: Trace,
}

impl<T: Real> Relaxation<T> {
    /// The relaxed hidden activities z_1 … z_{L−1}.
    pub fn activities(&self) -> &[DMatrix<T>] {
        &self.state[..self.n_hidden]
    }

    /// Simulated time in seconds for a circuit time constant τ (s).
    pub fn t_seconds(&self, tau_s: f64) -> f64 {
        self.t_tau * tau_s
    }
}

fn integrator<T: Real>(cfg: &RelaxConfig, like: &State<T>) -> Box<dyn Integrator<T>> {
    match cfg.method {
        Method::Euler => Box::new(explicit::ExplicitRk::new(&explicit::EULER, like)),
        Method::Heun => Box::new(explicit::ExplicitRk::new(&explicit::HEUN, like)),
        Method::Rk4 => Box::new(explicit::ExplicitRk::new(&explicit::RK4, like)),
        Method::Dopri5 => Box::new(explicit::ExplicitRk::new(&explicit::DOPRI5, like)),
        Method::Ros2 | Method::Ros3 => {
            let scheme = if cfg.method == Method::Ros2 {
                rosenbrock::Scheme::Ros2
            } else {
                rosenbrock::Scheme::Ros3
            };
            let mut ros = rosenbrock::Rosenbrock::new(scheme, like);
            ros.preconditioner = cfg.preconditioner;
            ros.solve_dtype = cfg.solve_dtype;
            Box::new(ros)
        }
        Method::SymplecticEuler => Box::new(inertial::SymplecticEuler::new(like)),
    }
}

/// Accepted steps after a rejection whose growth is capped at ×2.
const CAUTIOUS_STEPS: usize = 4;

/// Relaxes the hidden activities from `z0` until a stopping rule fires.
///
/// On return the field's cached signals (errors, φ, φ′) are those of the
/// final state: the loop ends only after a stopping check, which evaluates
/// the field there (tested: `field_holds_the_final_state`).
///
/// `rng` drives the node noise (untouched without noise); `reference`, when
/// given, is the backprop gradient to trace the alignment against.
pub fn relax<T: Real>(
    sys: &mut System<T>,
    z0: Vec<DMatrix<T>>,
    cfg: &RelaxConfig,
    rng: &mut ChaCha8Rng,
    reference: Option<&[DMatrix<T>]>,
) -> Result<Relaxation<T>, RelaxError> {
    cfg.validate(&sys.dynamics).map_err(RelaxError::Config)?;
    let (evals0, hvps0, products0) = (sys.field.n_evals, sys.field.n_hvps, sys.field.n_products);
    let n_hidden = sys.n_hidden();
    if sys.loop_delay_tau > 0.0 {
        if !matches!(cfg.method, Method::Euler | Method::SymplecticEuler) {
            return Err(RelaxError::Config(RelaxConfigError::DelayNeedsFixedStep {
                method: cfg.method,
            }));
        }
        let steps = sys.loop_delay_tau / cfg.dt_tau;
        if !(steps.is_finite() && steps <= delay::MAX_DELAY_STEPS as f64) {
            return Err(RelaxError::Config(RelaxConfigError::DelayTooLong {
                steps,
                dt_tau: cfg.dt_tau,
                max: delay::MAX_DELAY_STEPS,
            }));
        }
        sys.delay = Some(delay::DelayLine::new(sys.loop_delay_tau, cfg.dt_tau, &z0));
    } else {
        sys.delay = None;
    }
    let mut y = sys.initial_state(z0);
    let mut method = integrator(cfg, &y);
    let mut monitor = Monitor::new(cfg);
    let (mut t, mut h) = (0.0f64, cfg.dt_tau);
    let (mut n_steps, mut n_rejected) = (0usize, 0usize);
    let mut stop = monitor.check(0.0, sys, &y, cfg, reference);
    let energy_start = sys.field.energy();
    let mut next_check = cfg.check_every_tau;
    // No step growth right after a rejection (Hairer, Nørsett & Wanner I, II.4).
    let mut just_rejected = false;
    let mut since_reject = CAUTIOUS_STEPS;
    while stop.is_none() {
        if t >= cfg.t_max_tau * (1.0 - 1e-12) {
            stop = Some(StopReason::MaxTime);
            break;
        }
        if method.adaptive() && n_steps + n_rejected >= cfg.max_steps {
            // A last check, so the residual reported is the final state's.
            stop = monitor
                .check(t, sys, &y, cfg, reference)
                .or(Some(StopReason::MaxSteps));
            break;
        }
        let step = h.min(cfg.t_max_tau - t);
        let err = method.attempt(sys, &y, step, cfg.atol, cfg.rtol);
        if method.adaptive() {
            let q = method.order() as f64;
            let fac = if err == 0.0 {
                5.0
            } else {
                (0.9 * err.powf(-1.0 / q)).clamp(0.2, 5.0)
            };
            if !err.is_finite() || err > 1.0 {
                n_rejected += 1;
                just_rejected = true;
                h = step * if err.is_finite() { fac.min(1.0) } else { 0.2 };
                if h < 1e-12 * cfg.dt_tau {
                    return Err(diverged(sys, t, step, cfg, 0, f64::NAN));
                }
                continue;
            }
            // After a rejection: no growth for one step, then at most ×2
            // for a few (the error grew faster than h^order there).
            h = step
                * if just_rejected {
                    fac.min(1.0)
                } else if since_reject < CAUTIOUS_STEPS {
                    fac.min(2.0)
                } else {
                    fac
                };
            since_reject = if just_rejected { 0 } else { since_reject + 1 };
            just_rejected = false;
        }
        std::mem::swap(&mut y, method.proposal());
        if let Some(line) = &mut sys.delay {
            // The state the step started from joins the history.
            line.push(&method.proposal()[..n_hidden]);
        }
        t += step;
        n_steps += 1;
        if cfg.noise_std > 0.0 {
            add_noise(sys, &mut y, step, cfg.noise_std, rng);
        }
        if cfg.rail > 0.0 {
            let r = T::of(cfg.rail);
            for z in y[..n_hidden].iter_mut() {
                z.apply(|v| *v = v.clamp(-r, r));
            }
        }
        if let Some((k, v)) = state::first_bad(&y, cfg.divergence_bound) {
            return Err(diverged(sys, t, step, cfg, k, v));
        }
        if t >= next_check * (1.0 - 1e-12) || t >= cfg.t_max_tau * (1.0 - 1e-12) {
            stop = monitor.check(t, sys, &y, cfg, reference);
            // The next multiple of the interval after t, in O(1): a loop of
            // additions would take t / interval turns (a hang for tiny
            // intervals with long adaptive steps).
            let (every, target) = (cfg.check_every_tau, t * (1.0 + 1e-12));
            if next_check <= target {
                next_check += (((target - next_check) / every).floor() + 1.0) * every;
                if next_check <= target {
                    // Below rounding: check again after the next step.
                    next_check = target + every;
                }
            }
        }
    }
    monitor.finish(t, sys, &y, reference, cfg.max_trace_points);
    Ok(Relaxation {
        n_hidden,
        stop: stop.expect("loop ends with a reason"),
        t_tau: t,
        n_steps,
        n_rejected,
        n_evals: sys.field.n_evals - evals0,
        n_hvps: sys.field.n_hvps - hvps0,
        n_linear_iters: method.linear_iterations(),
        n_products: sys.field.n_products - products0,
        energy_start,
        energy_end: sys.field.energy(),
        residual: monitor.residual,
        trace: monitor.trace,
        state: y,
    })
}

/// Euler–Maruyama increment σ√h·ξ/(m)ρ on the activities (first order) or
/// velocities (inertial), drawn layer by layer in a fixed order.
fn add_noise<T: Real>(sys: &System<T>, y: &mut State<T>, h: f64, sigma: f64, rng: &mut ChaCha8Rng) {
    let k = sys.n_hidden();
    let (offset, mass) = match sys.dynamics {
        Dynamics::FirstOrder => (0, 1.0),
        Dynamics::Inertial { mass, .. } => (k, mass),
    };
    for i in 0..k {
        let amp = sigma * h.sqrt() / (mass * sys.tau_rel[i]);
        y[offset + i].apply(|v| *v += T::of(amp * rng.sample::<f64, _>(StandardNormal)));
    }
}

fn diverged<T: Real>(
    sys: &System<T>,
    t: f64,
    h: f64,
    cfg: &RelaxConfig,
    k: usize,
    value: f64,
) -> RelaxError {
    let n_hidden = sys.n_hidden();
    let remedy = match cfg.method.stability_limit() {
        _ if sys.loop_delay_tau > 0.0 => format!(
            "the loop delay d = {:.4} τ is the likely cause (a delayed loop rings and grows once λ_max·d exceeds π/2 for first-order dynamics; `pcchip check` prints the bound): raise dynamics.tau_s or lower dynamics.loop_delay_ns",
            sys.loop_delay_tau
        ),
        Some(_) => format!(
            "the step is probably above the stability limit of \"{}\" (dt_tau < {}/λ_max of the activity Hessian; `pcchip check` estimates it): lower dynamics.dt_tau or use method = \"ros2\" or \"ros3\"",
            cfg.method.name(),
            cfg.method.stability_limit().unwrap_or(2.0)
        ),
        None => "the energy is unbounded at these weights (weights too large for the activation?); lower the learning rate, set rails, or check the weights' scale".into(),
    };
    let (layer, what) = if k < n_hidden {
        (k + 1, "activity")
    } else {
        (k - n_hidden + 1, "velocity")
    };
    RelaxError::Diverged {
        layer,
        what,
        t_tau: t,
        dt_tau: h,
        value,
        remedy,
    }
}
