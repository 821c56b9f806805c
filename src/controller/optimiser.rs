//! The controller's optimisers, applied to every layer at once with the
//! parameterisation's per-layer learning rates (MODEL.md §2):
//!
//! - SGD with momentum μ: v ← μv + g, ΔW = −η_ℓ v;
//! - Adam (Kingma & Ba 2015): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
//!   ΔW = −η_ℓ m̂/(√v̂ + ε) with bias-corrected m̂, v̂;
//!
//! with η_ℓ multiplied at update t by the schedule's factor s(t).

use super::schedule::Schedule;
use crate::net::OptimiserKind;
use crate::real::Real;
use nalgebra::DMatrix;

/// Optimiser settings and state (moments stored per layer, shape of W_ℓ).
#[derive(Clone, Debug, PartialEq)]
pub struct Optimiser<T: Real> {
    pub kind: OptimiserKind,
    /// η_ℓ = η × the parameterisation's factor, index ℓ − 1.
    pub lr: Vec<f64>,
    pub momentum: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// First moments (SGD velocity or Adam m).
    pub m: Vec<DMatrix<T>>,
    /// Adam second moments (empty for SGD).
    pub v: Vec<DMatrix<T>>,
    /// Number of steps taken.
    pub t: u64,
    /// The factor s(t) of every η_ℓ (constant unless the circuit sets one).
    pub schedule: Schedule,
}

impl<T: Real> Optimiser<T> {
    /// A fresh optimiser for weights of the given shapes.
    pub fn new(
        kind: OptimiserKind,
        lr: Vec<f64>,
        (momentum, beta1, beta2, eps): (f64, f64, f64, f64),
        shapes: &[(usize, usize)],
    ) -> Self {
        let zeros = || {
            shapes
                .iter()
                .map(|&(r, c)| DMatrix::zeros(r, c))
                .collect::<Vec<_>>()
        };
        Optimiser {
            kind,
            lr,
            momentum,
            beta1,
            beta2,
            eps,
            m: zeros(),
            v: if kind == OptimiserKind::Adam {
                zeros()
            } else {
                vec![]
            },
            t: 0,
            schedule: Schedule::default(),
        }
    }

    /// The weight changes ΔW_ℓ for gradients `grads` (∂F/∂W_ℓ), updating the state.
    pub fn step(&mut self, grads: &[DMatrix<T>]) -> Vec<DMatrix<T>> {
        self.t += 1;
        let s = self.schedule.factor(self.t);
        match self.kind {
            OptimiserKind::Sgd => {
                let mu = T::of(self.momentum);
                grads
                    .iter()
                    .zip(self.m.iter_mut())
                    .zip(&self.lr)
                    .map(|((g, v), &lr)| {
                        v.zip_apply(g, |vi, gi| *vi = mu * *vi + gi);
                        &*v * T::of(-lr * s)
                    })
                    .collect()
            }
            OptimiserKind::Adam => {
                let (b1, b2) = (T::of(self.beta1), T::of(self.beta2));
                let c1 = 1.0 - self.beta1.powi(self.t as i32);
                let c2 = 1.0 - self.beta2.powi(self.t as i32);
                let eps = T::of(self.eps);
                grads
                    .iter()
                    .zip(self.m.iter_mut().zip(self.v.iter_mut()))
                    .zip(&self.lr)
                    .map(|((g, (m, v)), &lr)| {
                        m.zip_apply(g, |mi, gi| *mi = b1 * *mi + (T::one() - b1) * gi);
                        v.zip_apply(g, |vi, gi| *vi = b2 * *vi + (T::one() - b2) * gi * gi);
                        let (a, c2) = (T::of(-lr * s / c1), T::of(c2));
                        m.zip_map(v, |mi, vi| a * mi / ((vi / c2).sqrt() + eps))
                    })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_with_momentum_accumulates() {
        let mut o = Optimiser::<f64>::new(
            OptimiserKind::Sgd,
            vec![0.1],
            (0.5, 0.9, 0.999, 1e-8),
            &[(1, 1)],
        );
        let g = vec![DMatrix::from_element(1, 1, 2.0)];
        assert!((o.step(&g)[0][(0, 0)] + 0.2).abs() < 1e-15);
        assert!((o.step(&g)[0][(0, 0)] + 0.3).abs() < 1e-15); // v = 0.5·2 + 2 = 3
    }

    /// The schedule's factor scales every layer's step: SGD's steps under a
    /// 2-update warm-up are −½ηg, then −ηg.
    #[test]
    fn schedule_scales_the_steps() {
        let mut o = Optimiser::<f64>::new(
            OptimiserKind::Sgd,
            vec![0.1, 0.3],
            (0.0, 0.9, 0.999, 1e-8),
            &[(1, 1), (1, 1)],
        );
        o.schedule.warmup_steps = 2;
        let g = vec![DMatrix::from_element(1, 1, 2.0); 2];
        let d1 = o.step(&g);
        assert!((d1[0][(0, 0)] + 0.1).abs() < 1e-15 && (d1[1][(0, 0)] + 0.3).abs() < 1e-15);
        let d2 = o.step(&g);
        assert!((d2[0][(0, 0)] + 0.2).abs() < 1e-15 && (d2[1][(0, 0)] + 0.6).abs() < 1e-15);
    }

    /// Adam's first step is −η·sign(g) (up to ε), whatever |g|.
    #[test]
    fn adam_first_step_is_the_sign() {
        let mut o = Optimiser::<f64>::new(
            OptimiserKind::Adam,
            vec![0.01, 0.02],
            (0.0, 0.9, 0.999, 1e-12),
            &[(1, 2), (1, 1)],
        );
        let g = vec![
            DMatrix::from_row_slice(1, 2, &[3.0, -1e-3]),
            DMatrix::from_element(1, 1, 5.0),
        ];
        let d = o.step(&g);
        assert!((d[0][(0, 0)] + 0.01).abs() < 1e-9 && (d[0][(0, 1)] - 0.01).abs() < 1e-9);
        assert!((d[1][(0, 0)] + 0.02).abs() < 1e-9);
    }
}
