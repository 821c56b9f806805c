//! The loop delay of the relaxation circuit, simulated (MODEL.md §4, issue
//! #20): a node's feedback — crossbar read, error amplifier, φ/φ′ circuit —
//! reaches its integrator after a delay d, so the dynamics are the
//! delay-differential equations
//!
//! ```text
//! first order:  τ dz/dt = force(z(t − d))
//! inertial:     dz/dt = v/τ,  τ_v dv/dt = force(z(t − d))/ρ − γ v
//! ```
//!
//! solved by the method of steps on the fixed-step integrators (Euler and
//! symplectic Euler): a bounded history of the activities at the last
//! ⌈d/h⌉ + 1 steps, with the delayed state linearly interpolated between
//! the two grid points around t − d; before t = 0 the nodes hold the
//! feedforward state they were precharged to. A method of steps rather than
//! a Padé model: it is exact on the step grid (no extra poles to tune) and
//! costs one state a step of delay. With d = 0 nothing is stored and the
//! trajectories are today's, bit for bit.
//!
//! On one mode of rate λ (1/τ) the first-order loop z′ = −λ z(t − d) is
//! stable iff λ·d < π/2; the inertial loop m z″ + γ z′ + λ z(t − d) = 0 iff
//! d < atan(γ/(m ω))/ω with m²ω⁴ + γ²ω² = λ² ([`critical_delay`]).

use super::state::State;
use crate::real::Real;
use nalgebra::DMatrix;
use std::collections::VecDeque;

/// Most history states a delay line may keep (a delay of this many steps).
pub const MAX_DELAY_STEPS: usize = 100_000;

/// The activities of the last steps, for the delayed feedback.
pub struct DelayLine<T: Real> {
    /// d = (steps + frac)·h.
    steps: usize,
    frac: f64,
    /// z at the previous steps, most recent first (z_{n−1}, z_{n−2}, …).
    past: VecDeque<State<T>>,
    /// The interpolated delayed state.
    out: State<T>,
}

impl<T: Real> DelayLine<T> {
    /// A line for delay `d_tau` (τ) on steps of `h_tau` (τ), its history the
    /// initial activities `z0` (the nodes held z0 before t = 0).
    pub fn new(d_tau: f64, h_tau: f64, z0: &[DMatrix<T>]) -> Self {
        let ratio = d_tau / h_tau;
        let steps = ratio.floor() as usize;
        let frac = ratio - steps as f64;
        let keep = (steps + 1).min(MAX_DELAY_STEPS + 1);
        DelayLine {
            steps,
            frac,
            past: (0..keep).map(|_| z0.to_vec()).collect(),
            out: z0.to_vec(),
        }
    }

    /// Records the activities `z` of the step just completed.
    pub fn push(&mut self, z: &[DMatrix<T>]) {
        let mut slot = self.past.pop_back().expect("a delay line keeps ≥ 1 state");
        for (s, v) in slot.iter_mut().zip(z) {
            s.copy_from(v);
        }
        self.past.push_front(slot);
    }

    /// z(t − d) for the present activities `z` (= z_n at t = n·h).
    pub fn delayed<'s>(&'s mut self, z: &'s [DMatrix<T>]) -> &'s [DMatrix<T>] {
        // z_{n−j}: j = 0 is the present, j ≥ 1 the history.
        let at = |j: usize| -> &[DMatrix<T>] {
            if j == 0 {
                z
            } else {
                &self.past[j - 1]
            }
        };
        let (a, b) = (at(self.steps), at(self.steps + 1));
        if self.frac == 0.0 {
            return a;
        }
        let (wa, wb) = (T::of(1.0 - self.frac), T::of(self.frac));
        for ((o, x), y) in self.out.iter_mut().zip(a).zip(b) {
            o.zip_zip_apply(x, y, |o, x, y| *o = wa * x + wb * y);
        }
        &self.out
    }
}

/// The largest stable loop delay d (τ) of one mode of rate `lambda` (1/τ):
/// π/(2λ) for first-order dynamics; for inertial ones of mass `mass` and
/// damping `damping`, atan(γ/(m ω))/ω at the crossing frequency ω of
/// m²ω⁴ + γ²ω² = λ². Infinite for λ ≤ 0.
pub fn critical_delay(lambda: f64, inertial: Option<(f64, f64)>) -> f64 {
    if lambda <= 0.0 {
        return f64::INFINITY;
    }
    match inertial {
        None => std::f64::consts::FRAC_PI_2 / lambda,
        Some((damping, mass)) => {
            let (g2, m2) = (damping * damping, mass * mass);
            let w2 = (-g2 + (g2 * g2 + 4.0 * m2 * lambda * lambda).sqrt()) / (2.0 * m2);
            let w = w2.sqrt();
            (damping * w).atan2(mass * w2) / w
        }
    }
}
