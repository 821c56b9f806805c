//! The ODE the integrators solve, in units of the circuit's time constant τ
//! (s = t/τ), built on the PC [`Field`]:
//!
//! - first order (MODEL.md §1): dz_ℓ/ds = force_ℓ(z) / ρ_ℓ,
//! - inertial (MODEL.md §7):    dz_ℓ/ds = v_ℓ,  m dv_ℓ/ds = force_ℓ(z)/ρ_ℓ − γ v_ℓ,
//! - inertial with derivative feedback ("inertial-pd", docs/model.md):
//!   m dv_ℓ/ds = (force_ℓ + β d force_ℓ/ds)/ρ_ℓ − γ v_ℓ,
//!
//! where force = −∂F/∂z − g_leak z, ρ_ℓ = τ_ℓ/τ is the layer's relative time
//! constant, m = τ_v/τ the relative inertial time constant and γ the damping
//! (dimensionless). ρ_ℓ divides the layer's drive: a larger integrator
//! capacitor (with, for inertial dynamics, a damping conductance scaled
//! alongside it) or a smaller input transconductance. With R = diag(ρ) the
//! linearised dynamics are governed by R⁻¹H (H the activity Hessian): rates
//! λ(R⁻¹H) for first order; for inertial dynamics the modes of R⁻¹H decouple
//! exactly (m q'' + γ q' + λ q = 0), so critical damping of the slowest one is
//! γ = 2√(m·λ_min(R⁻¹H)). The state is the list of hidden activities,
//! followed by the velocities for inertial dynamics.

use super::delay::DelayLine;
use super::field::Field;
use super::field::Signals;
use super::state::{mat_axpy, zeros_like, State};
use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// The order of the relaxation dynamics (the circuit key `dynamics.order`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// Gradient flow: one integrator a node.
    #[default]
    FirstOrder,
    /// Second order: a node with mass and damping.
    Inertial,
    /// Second order with a derivative (high-pass) branch on the error
    /// feedback: damping that grows with a mode's rate, so the fast modes
    /// stay damped under a loop delay.
    InertialPd,
}

impl Order {
    /// The name used in circuit files, folders and CSV columns.
    pub fn name(self) -> &'static str {
        match self {
            Order::FirstOrder => "first-order",
            Order::Inertial => "inertial",
            Order::InertialPd => "inertial-pd",
        }
    }

    /// Whether nodes carry a velocity (second-order dynamics).
    pub fn is_inertial(self) -> bool {
        self != Order::FirstOrder
    }
}

/// Which circuit relaxes the activities, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Dynamics {
    /// τ dz/dt = −∂F/∂z (gradient flow).
    FirstOrder,
    /// dz/dt = v/τ, τ_v dv/dt = −(∂F/∂z)/ρ − γ v.
    Inertial {
        /// Damping γ (dimensionless, ≥ 0).
        damping: f64,
        /// m = τ_v/τ (dimensionless, > 0).
        mass: f64,
        /// Gain β of the derivative branch (τ, ≥ 0): the velocity is driven
        /// by force + β·d(force)/ds; 0 = plain inertial.
        derivative: f64,
    },
}

impl Dynamics {
    /// The dynamics of `order`; `damping` γ and `mass` m apply to inertial
    /// ones, the derivative gain β to "inertial-pd" only.
    pub fn of(order: Order, damping: f64, mass: f64, derivative: f64) -> Self {
        match order {
            Order::FirstOrder => Dynamics::FirstOrder,
            Order::Inertial => Dynamics::inertial(damping, mass),
            Order::InertialPd => Dynamics::Inertial {
                damping,
                mass,
                derivative,
            },
        }
    }

    /// Plain inertial dynamics (no derivative branch).
    pub fn inertial(damping: f64, mass: f64) -> Self {
        Dynamics::Inertial {
            damping,
            mass,
            derivative: 0.0,
        }
    }

    /// The order of these dynamics.
    pub fn order(&self) -> Order {
        match self {
            Dynamics::FirstOrder => Order::FirstOrder,
            Dynamics::Inertial { derivative, .. } if *derivative > 0.0 => Order::InertialPd,
            Dynamics::Inertial { .. } => Order::Inertial,
        }
    }
}

/// The right-hand side of the relaxation ODE.
pub struct System<'f, 'a, T: Real> {
    pub field: &'f mut Field<'a, T>,
    pub dynamics: Dynamics,
    /// ρ_ℓ = τ_ℓ/τ for each hidden layer.
    pub tau_rel: Vec<f64>,
    force: State<T>,
    /// Right-hand-side evaluations so far.
    pub n_rhs: usize,
    /// Loop delay d of every node's feedback (τ); 0 = none.
    pub loop_delay_tau: f64,
    /// The activities' history when d > 0 (set up by [`crate::relax::relax`]).
    pub(super) delay: Option<DelayLine<T>>,
    /// The gradient the controller would apply from the field's signals
    /// (its ADC readout), for the traced alignment.
    applied: Option<AppliedGradient<'a, T>>,
}

/// The controller's readout: weight gradients from the field's signals.
pub type AppliedGradient<'a, T> = Box<dyn Fn(&Signals<T>) -> Vec<DMatrix<T>> + 'a>;

impl<'f, 'a, T: Real> System<'f, 'a, T> {
    pub fn new(field: &'f mut Field<'a, T>, dynamics: Dynamics, tau_rel: Vec<f64>) -> Self {
        let force = field.hidden_zeros();
        assert_eq!(
            tau_rel.len(),
            force.len(),
            "one time constant a hidden layer"
        );
        System {
            field,
            dynamics,
            tau_rel,
            force,
            n_rhs: 0,
            loop_delay_tau: 0.0,
            delay: None,
            applied: None,
        }
    }

    /// The same system tracing the cosine of the gradient `readout` forms
    /// from the field's signals (what the controller applies) beside the
    /// exact one.
    pub fn with_applied_gradient(mut self, readout: AppliedGradient<'a, T>) -> Self {
        self.applied = Some(readout);
        self
    }

    /// The applied gradient at the last evaluated state, at activities of
    /// `y`, when the system has a readout.
    pub fn applied_gradient(&self, y: &[DMatrix<T>]) -> Option<Vec<DMatrix<T>>> {
        let k = self.n_hidden();
        self.applied
            .as_ref()
            .map(|f| f(&self.field.signals(&y[..k])))
    }

    /// The same system with a loop delay of `d_tau` (τ) on every node's feedback.
    pub fn with_loop_delay(mut self, d_tau: f64) -> Self {
        self.loop_delay_tau = d_tau;
        self
    }

    /// The force the integrators see at `y`: at the delayed activities
    /// z(t − d) when the loop has a delay, else at `y`'s own.
    pub fn loop_force(&mut self, y: &[DMatrix<T>]) -> &State<T> {
        let k = self.n_hidden();
        match &mut self.delay {
            Some(line) => self.field.force(line.delayed(&y[..k]), &mut self.force),
            None => self.field.force(&y[..k], &mut self.force),
        }
        &self.force
    }

    /// Number of hidden layers L − 1.
    pub fn n_hidden(&self) -> usize {
        self.force.len()
    }

    /// The initial state for hidden activities `z0` (zero velocities).
    pub fn initial_state(&self, z0: Vec<DMatrix<T>>) -> State<T> {
        match self.dynamics {
            Dynamics::FirstOrder => z0,
            Dynamics::Inertial { .. } => {
                let v = zeros_like(&z0);
                z0.into_iter().chain(v).collect()
            }
        }
    }

    /// The hidden activities of a state.
    pub fn activities<'s>(&self, y: &'s [DMatrix<T>]) -> &'s [DMatrix<T>] {
        &y[..self.n_hidden()]
    }

    /// `dy ← f(y)`.
    pub fn rhs(&mut self, y: &[DMatrix<T>], dy: &mut [DMatrix<T>]) {
        self.n_rhs += 1;
        let k = self.n_hidden();
        match self.dynamics {
            Dynamics::FirstOrder => {
                match &mut self.delay {
                    Some(line) => self.field.force(line.delayed(y), dy),
                    None => self.field.force(y, dy),
                }
                for (d, rho) in dy.iter_mut().zip(&self.tau_rel) {
                    if *rho != 1.0 {
                        *d /= T::of(*rho);
                    }
                }
            }
            Dynamics::Inertial { damping, mass, .. } => {
                // The derivative branch (β > 0) runs on symplectic Euler
                // only (validated), which does not call this.
                self.loop_force(y);
                for i in 0..k {
                    dy[i].copy_from(&y[k + i]);
                    // m v' = force/ρ − γ v
                    dy[k + i].copy_from(&self.force[i]);
                    dy[k + i] *= T::of(1.0 / (mass * self.tau_rel[i]));
                    mat_axpy(&mut dy[k + i], -T::of(damping / mass), &y[k + i]);
                }
            }
        }
    }

    /// The force −∂F/∂z − g_leak z at the activities of `y` (evaluates the field).
    pub fn force_at(&mut self, y: &[DMatrix<T>]) -> &State<T> {
        let k = self.n_hidden();
        self.field.force(&y[..k], &mut self.force);
        &self.force
    }

    /// Kinetic energy ½ m Σ ρ_ℓ ‖v_ℓ‖² (batch mean; 0 for first order): with
    /// F it makes E + K, which never rises (dE/ds = −γ Σ ρ_ℓ ‖v_ℓ‖²).
    pub fn kinetic_energy(&self, y: &[DMatrix<T>]) -> f64 {
        match self.dynamics {
            Dynamics::FirstOrder => 0.0,
            Dynamics::Inertial { mass, .. } => {
                let k = self.n_hidden();
                let sum: f64 = (0..k)
                    .map(|i| self.tau_rel[i] * y[k + i].norm_squared().f64())
                    .sum();
                0.5 * mass * sum / self.field.batch() as f64
            }
        }
    }
}

/// The automatic per-layer time constants (`dynamics.tau_rule = "auto"`), a
/// Jacobi rule: ρ_ℓ = d̄_ℓ / max_k d̄_k, where d̄_ℓ is the mean diagonal of
/// layer ℓ's block of the activity Hessian (Gauss–Newton part plus leak,
/// [`Field::hessian_diagonal`]) at hidden activities `z`, over the batch.
///
/// d̄_ℓ/ρ_ℓ is layer ℓ's own relaxation rate (its node's loop gain); the rule
/// gives every layer the rate of the stiffest one, which keeps ρ = 1. Since
/// every ρ_ℓ ≤ 1, every eigenvalue of R⁻¹H is ≥ the matching one of H
/// (Courant–Fischer), so no mode gets slower; and among all ρ with the same
/// largest node rate (ρ_ℓ ≥ d̄_ℓ/max d̄) this one, the smallest, maximises
/// every eigenvalue, λ_min included. λ_max(R⁻¹H) may rise (≤ λ_max/min ρ),
/// which shortens an explicit simulator's stable step, not the chip.
pub fn jacobi_tau_rel<T: Real>(field: &mut Field<T>, z: &[DMatrix<T>]) -> Vec<f64> {
    let mut scratch = field.hidden_zeros();
    field.force(z, &mut scratch);
    field.linearise();
    let means: Vec<f64> = field
        .hessian_diagonal()
        .iter()
        .map(|d| d.iter().map(|v| v.f64()).sum::<f64>() / d.len().max(1) as f64)
        .collect();
    let max = means.iter().cloned().fold(0.0, f64::max);
    means
        .iter()
        .map(|d| if max > 0.0 { d / max } else { 1.0 })
        .collect()
}
