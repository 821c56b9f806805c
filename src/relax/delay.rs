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
//! d < atan(γ/(m ω))/ω with m²ω⁴ + γ²ω² = λ² ([`critical_delay`]); with a
//! derivative branch, m z″ + γ z′ + λ(z + βz′)(t − d) = 0, see there.

use super::state::State;
use super::system::Dynamics;
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

/// The largest stable loop delay d (τ) of one mode of rate `lambda` (1/τ)
/// under `dynamics`: π/(2λ) for first order; for inertial ones (mass m,
/// damping γ, derivative gain β; the branch acts on the delayed force, so
/// m s² + γ s + λ(1 + βs)e^{−sd} = 0) the delay at which a root crosses the
/// imaginary axis at s = iω:
///
/// ```text
/// m²ω⁴ + (γ² − λ²β²)ω² − λ² = 0,    d = (atan(βω) + atan(γ/(m ω)))/ω
/// ```
///
/// (one positive root ω², so one crossing, from left to right). Infinite
/// for λ ≤ 0.
pub fn critical_delay(lambda: f64, dynamics: Dynamics) -> f64 {
    if lambda <= 0.0 {
        return f64::INFINITY;
    }
    match dynamics {
        Dynamics::FirstOrder => std::f64::consts::FRAC_PI_2 / lambda,
        Dynamics::Inertial {
            damping,
            mass,
            derivative,
        } => {
            let m2 = mass * mass;
            let b = damping * damping - lambda * lambda * derivative * derivative;
            // The positive root of m²u² + b u − λ² = 0, written without
            // cancellation for either sign of b.
            let disc = (b * b + 4.0 * m2 * lambda * lambda).sqrt();
            let u = if b <= 0.0 {
                (disc - b) / (2.0 * m2)
            } else {
                2.0 * lambda * lambda / (disc + b)
            };
            let w = u.sqrt();
            ((derivative * w).atan() + damping.atan2(mass * w)) / w
        }
    }
}

/// Points per decade of the rate band [`critical_delay_band`] scans.
const BAND_POINTS_PER_DECADE: f64 = 24.0;

/// The largest stable loop delay (τ) of every mode with a rate in
/// [`lambda_min`, `lambda_max`] (1/τ): the smallest [`critical_delay`] over
/// the band, scanned on a logarithmic grid (24 points a decade, both ends
/// included). First-order and plain inertial dynamics are tightest at
/// λ_max; with a derivative branch the tightest mode can lie inside.
pub fn critical_delay_band(lambda_min: f64, lambda_max: f64, dynamics: Dynamics) -> f64 {
    let hi = lambda_max.max(0.0);
    if hi <= 0.0 {
        return f64::INFINITY;
    }
    let lo = lambda_min.clamp(hi * 1e-12, hi);
    let decades = (hi / lo).log10();
    let n = (decades * BAND_POINTS_PER_DECADE).ceil().max(1.0) as usize;
    (0..=n)
        .map(|i| lo * (hi / lo).powf(i as f64 / n as f64))
        .map(|l| critical_delay(l, dynamics))
        .fold(f64::INFINITY, f64::min)
}

/// The derivative gain β (τ) of "inertial-pd" dynamics that maximises the
/// loop's stable delay over the rate band [`lambda_min`, `lambda_max`]
/// ([`critical_delay_band`]), for damping γ `damping` and mass m `mass`:
/// a scan of β·√(λ_max/m) over 10⁻² … 10² (16 points a decade) refined by
/// golden-section search. The damping still sets the slowest mode's decay;
/// β lets the fast modes, which the delay destabilises first, be damped
/// without damping the slow ones more.
pub fn delay_optimal_derivative(lambda_min: f64, lambda_max: f64, damping: f64, mass: f64) -> f64 {
    if lambda_max <= 0.0 {
        return 0.0;
    }
    let unit = (mass / lambda_max).sqrt();
    let bound = |log_b: f64| {
        let dynamics = Dynamics::Inertial {
            damping,
            mass,
            derivative: unit * 10f64.powf(log_b),
        };
        critical_delay_band(lambda_min, lambda_max, dynamics)
    };
    let grid: Vec<f64> = (0..=64).map(|i| -2.0 + i as f64 / 16.0).collect();
    let best = grid
        .iter()
        .copied()
        .max_by(|a, b| bound(*a).total_cmp(&bound(*b)))
        .unwrap_or(0.0);
    let (mut a, mut b) = (best - 1.0 / 16.0, best + 1.0 / 16.0);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..40 {
        let (c, d) = (b - g * (b - a), a + g * (b - a));
        if bound(c) > bound(d) {
            b = d;
        } else {
            a = c;
        }
    }
    unit * 10f64.powf(0.5 * (a + b))
}
