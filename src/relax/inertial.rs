//! Semi-implicit (symplectic) Euler for inertial dynamics, with the damping
//! taken implicitly so that any γ ≥ 0 is unconditionally stable in the
//! velocity equation:
//!
//! ```text
//! vₙ₊₁ = (vₙ + (h·fₙ + β·(fₙ − fₙ₋₁))/(mρ)) / (1 + hγ/m),    zₙ₊₁ = zₙ + h·vₙ₊₁
//! ```
//!
//! with fₙ the (delayed) force the loop feeds back at step n. The term
//! β·(fₙ − fₙ₋₁) is the derivative branch of "inertial-pd" dynamics, β·h·ḟ
//! by a backward difference of what the loop reads, as a capacitively
//! coupled (high-pass) branch on the error feedback sees it; f₋₁ = f₀ (the
//! branch starts at rest). With β = 0 it is not formed and the steps are
//! plain symplectic Euler, bit for bit.
//!
//! First order in h; for a quadratic energy, E + ½m Σρ‖v‖² does not increase
//! for γ ≥ 0, β = 0 when h is below the stability limit 2√(m/λ_max(R⁻¹H))
//! (undamped). On a mode of rate λ the derivative branch is an explicit
//! damping βλ, and the limit becomes h²λ + 2hβλ < 4m
//! ([`crate::chip::explicit_step_limit`]).

use super::state::{mat_axpy, zeros_like, State};
use super::system::{Dynamics, System};
use super::Integrator;
use crate::real::Real;

/// The semi-implicit Euler integrator and its output buffer.
pub struct SymplecticEuler<T: Real> {
    out: State<T>,
    /// The force of the previous step (derivative branch only).
    previous: Option<State<T>>,
}

impl<T: Real> SymplecticEuler<T> {
    pub fn new(like: &State<T>) -> Self {
        SymplecticEuler {
            out: zeros_like(like),
            previous: None,
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
        let Dynamics::Inertial {
            damping,
            mass,
            derivative,
        } = sys.dynamics
        else {
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
            if derivative > 0.0 {
                if let Some(prev) = &self.previous {
                    let bm = T::of(derivative / (mass * rho[i]));
                    mat_axpy(&mut self.out[k + i], bm, &force[i]);
                    mat_axpy(&mut self.out[k + i], -bm, &prev[i]);
                }
            }
            self.out[k + i] *= shrink;
        }
        if derivative > 0.0 {
            match &mut self.previous {
                Some(prev) => {
                    for (p, f) in prev.iter_mut().zip(force) {
                        p.copy_from(f);
                    }
                }
                None => self.previous = Some(force.clone()),
            }
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
