//! The controller's learning-rate schedule: the factor s(t) multiplying
//! every layer's rate η_ℓ at update t = 1, 2, … (the parameterisation's
//! per-layer factors are unchanged):
//!
//! - constant: s(t) = 1;
//! - cosine (Loshchilov & Hutter 2017, after a linear warm-up of W updates):
//!   s(t) = t / W for t ≤ W, then
//!   s(t) = f + (1 − f)·½(1 + cos(π·min(1, (t − W)/(H − W)))),
//!   falling from 1 to the final fraction f at the horizon H.

use serde::{Deserialize, Serialize};

/// `controller.lr_schedule`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// The same rate at every update.
    #[default]
    Constant,
    /// Linear warm-up, then a cosine decay to `lr_final_frac` of the rate.
    Cosine,
}

/// A learning-rate schedule (dimensionless factors of η).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub kind: ScheduleKind,
    /// Updates of the linear warm-up W (0 = none); applies to both kinds.
    pub warmup_steps: u64,
    /// Update H at which the cosine reaches `final_frac` (0 = never decays).
    pub horizon: u64,
    /// Final fraction f of the rate, in [0, 1].
    pub final_frac: f64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            kind: ScheduleKind::Constant,
            warmup_steps: 0,
            horizon: 0,
            final_frac: 0.1,
        }
    }
}

impl Schedule {
    /// The factor s(t) of update `t` (1-based).
    pub fn factor(&self, t: u64) -> f64 {
        let w = self.warmup_steps;
        if t <= w {
            return t as f64 / w as f64;
        }
        match self.kind {
            ScheduleKind::Constant => 1.0,
            ScheduleKind::Cosine if self.horizon <= w => 1.0,
            ScheduleKind::Cosine => {
                let x = ((t - w) as f64 / (self.horizon - w) as f64).min(1.0);
                let f = self.final_frac;
                f + (1.0 - f) * 0.5 * (1.0 + (std::f64::consts::PI * x).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(warmup_steps: u64, horizon: u64, final_frac: f64) -> Schedule {
        Schedule {
            kind: ScheduleKind::Cosine,
            warmup_steps,
            horizon,
            final_frac,
        }
    }

    #[test]
    fn constant_is_one_after_warmup() {
        let s = Schedule {
            warmup_steps: 4,
            ..Schedule::default()
        };
        let f: Vec<f64> = (1..=6).map(|t| s.factor(t)).collect();
        assert_eq!(f, vec![0.25, 0.5, 0.75, 1.0, 1.0, 1.0]);
        assert_eq!(Schedule::default().factor(1), 1.0);
    }

    /// 1 at the end of warm-up, ½(1 + f) half-way, f at the horizon and after.
    #[test]
    fn cosine_hits_its_landmarks_and_decreases() {
        let s = cosine(10, 110, 0.2);
        assert!((s.factor(10) - 1.0).abs() < 1e-15);
        assert!((s.factor(60) - 0.6).abs() < 1e-12);
        assert!((s.factor(110) - 0.2).abs() < 1e-12);
        assert!((s.factor(500) - 0.2).abs() < 1e-12);
        for t in 10..110 {
            assert!(s.factor(t + 1) < s.factor(t), "not decreasing at {t}");
        }
    }

    #[test]
    fn cosine_without_horizon_is_constant() {
        let s = cosine(0, 0, 0.0);
        assert_eq!(s.factor(1), 1.0);
        assert_eq!(s.factor(1000), 1.0);
    }
}
