//! The ODE the integrators solve, in units of the circuit's time constant τ
//! (s = t/τ), built on the PC [`Field`]:
//!
//! - first order (MODEL.md §1): dz_ℓ/ds = force_ℓ(z) / ρ_ℓ,
//! - inertial (MODEL.md §7):    dz_ℓ/ds = v_ℓ,  m ρ_ℓ dv_ℓ/ds = force_ℓ(z) − γ v_ℓ,
//!
//! where force = −∂F/∂z − g_leak z, ρ_ℓ = τ_ℓ/τ is the layer's relative time
//! constant (its integrator capacitance), m = τ_v/τ the relative inertial time
//! constant and γ the damping (dimensionless). The state is the list of
//! hidden activities, followed by the velocities for inertial dynamics.

use super::field::Field;
use super::state::{mat_axpy, zeros_like, State};
use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// Which circuit relaxes the activities.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Dynamics {
    /// τ dz/dt = −∂F/∂z (gradient flow).
    FirstOrder,
    /// dz/dt = v/τ, τ_v dv/dt = −∂F/∂z − γ v.
    Inertial {
        /// Damping γ (dimensionless, ≥ 0).
        damping: f64,
        /// m = τ_v/τ (dimensionless, > 0).
        mass: f64,
    },
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
}

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
        }
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
                self.field.force(y, dy);
                for (d, rho) in dy.iter_mut().zip(&self.tau_rel) {
                    if *rho != 1.0 {
                        *d /= T::of(*rho);
                    }
                }
            }
            Dynamics::Inertial { damping, mass } => {
                self.field.force(&y[..k], &mut self.force);
                for i in 0..k {
                    dy[i].copy_from(&y[k + i]);
                    let inv = T::of(1.0 / (mass * self.tau_rel[i]));
                    dy[k + i].copy_from(&self.force[i]);
                    mat_axpy(&mut dy[k + i], -T::of(damping), &y[k + i]);
                    dy[k + i] *= inv;
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

    /// Kinetic energy ½ m Σ ρ_ℓ ‖v_ℓ‖² (batch mean; 0 for first order).
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
