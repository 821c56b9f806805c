//! Semi-implicit (symplectic) Euler for inertial dynamics, with the damping
//! taken implicitly so that any γ ≥ 0 is unconditionally stable in the
//! velocity equation:
//!
//! ```text
//! vₙ₊₁ = (vₙ + h·force(zₙ)/(mρ)) / (1 + hγ/m),    zₙ₊₁ = zₙ + h·vₙ₊₁
//! ```
//!
//! First order in h; for a quadratic energy, E + ½m Σρ‖v‖² does not increase
//! for γ ≥ 0 when h is below the stability limit 2√(m/λ_max(R⁻¹H)) (undamped).

use super::state::{mat_axpy, zeros_like, State};
use super::system::{Dynamics, System};
use super::Integrator;
use crate::real::Real;

/// The semi-implicit Euler integrator and its output buffer.
pub struct SymplecticEuler<T: Real> {
    out: State<T>,
}

impl<T: Real> SymplecticEuler<T> {
    pub fn new(like: &State<T>) -> Self {
        SymplecticEuler {
            out: zeros_like(like),
        }
    }
}

impl<T: Real> Integrator<T> for SymplecticEuler<T> {
    fn order(&self) -> usize {
        1
    }

    fn adaptive(&self) -> bool {
        false
    }

    fn attempt(&mut self, sys: &mut System<T>, y: &State<T>, h: f64, _: f64, _: f64) -> f64 {
        let Dynamics::Inertial { damping, mass } = sys.dynamics else {
            panic!("symplectic Euler integrates inertial dynamics");
        };
        let k = sys.n_hidden();
        let rho = sys.tau_rel.clone();
        let force = sys.loop_force(y);
        let shrink = T::of(1.0 / (1.0 + h * damping / mass));
        for i in 0..k {
            let hm = T::of(h / (mass * rho[i]));
            self.out[k + i].copy_from(&y[k + i]);
            mat_axpy(&mut self.out[k + i], hm, &force[i]);
            self.out[k + i] *= shrink;
        }
        for i in 0..k {
            let (zi, vi) = self.out.split_at_mut(k);
            zi[i].copy_from(&y[i]);
            mat_axpy(&mut zi[i], T::of(h), &vi[i]);
        }
        0.0
    }

    fn proposal(&mut self) -> &mut State<T> {
        &mut self.out
    }
}
