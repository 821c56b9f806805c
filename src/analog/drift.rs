//! Conductance drift on the chip's own clock: every device pair remembers
//! when it was last written, and before each read the array is aged to the
//! chip's present time t, so each free device's conductance is
//!
//! ```text
//! G(t) = G_w · (max(t − t_w, t0) / t0)^(−ν)
//! ```
//!
//! with G_w the value written at t_w (the first programming at t = 0, each
//! later update or pulse train at its own time) and ν, t0 the device's drift
//! exponent and reference time (Le Gallo et al. 2018). Ageing is absolute,
//! not cumulative: the factor already applied to each pair is kept, so
//! ageing twice to the same time, or back in time, is exact. Stuck devices do
//! not drift. With ν = 0 nothing is stored and ageing costs nothing.

use super::crossbar::{Crossbar, Stuck};
use crate::real::Real;

/// Per-pair drift bookkeeping of an array (empty when ν = 0).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DriftClock {
    /// Time the array was last aged to, s since its first programming.
    pub now_s: f64,
    /// Write time t_w of each pair, s (column-major, like the matrices).
    pub written_s: Vec<f64>,
    /// Drift factor applied to each pair's conductances since its write.
    pub applied: Vec<f64>,
}

impl DriftClock {
    /// A clock for `n_pairs` pairs all written at t = 0 (empty when `on` is false).
    pub fn new(n_pairs: usize, on: bool) -> Self {
        let n = if on { n_pairs } else { 0 };
        DriftClock {
            now_s: 0.0,
            written_s: vec![0.0; n],
            applied: vec![1.0; n],
        }
    }

    /// Marks pair `k` written now.
    pub(super) fn stamp(&mut self, k: usize) {
        if let Some(t) = self.written_s.get_mut(k) {
            *t = self.now_s;
            self.applied[k] = 1.0;
        }
    }
}

impl<T: Real> Crossbar<T> {
    /// Ages the array to `t_s` (s since its first programming): every free
    /// device's conductance becomes its written value times the drift factor
    /// of the time since its pair's write. A no-op without drift.
    pub fn age_to(&mut self, t_s: f64) {
        self.clock.now_s = t_s;
        if self.clock.written_s.is_empty() {
            return;
        }
        // Fast path: every pair is younger than t0 and none has drifted yet.
        if t_s <= self.device.drift_t0_s && self.clock.applied.iter().all(|&f| f == 1.0) {
            return;
        }
        let mut changed = false;
        let n_out = self.g_pos_us.nrows().max(1);
        for k in 0..self.clock.written_s.len() {
            let f = self.device.drift_factor(t_s - self.clock.written_s[k]);
            let applied = self.clock.applied[k];
            if f == applied {
                continue;
            }
            let r = f / applied;
            let (i, j) = (k % n_out, k / n_out);
            if self.stuck_pos[k] == Stuck::Free {
                self.g_pos_us[(i, j)] *= r;
            }
            if self.stuck_neg[k] == Stuck::Free {
                self.g_neg_us[(i, j)] *= r;
            }
            self.clock.applied[k] = f;
            changed = true;
        }
        if changed {
            self.refresh();
        }
    }

    /// The time the array was last aged to, s.
    pub fn age_s(&self) -> f64 {
        self.clock.now_s
    }

    /// Sets the array to time `t_s` after a programming at t = 0 of every
    /// pair (the array as a whole, ignoring later writes' times): the free
    /// devices' conductances become G0·(max(t, t0)/t0)^(−ν). Not cumulative.
    pub fn apply_drift(&mut self, t_s: f64) {
        if self.clock.written_s.is_empty() {
            return;
        }
        self.clock.written_s.fill(0.0);
        self.age_to(t_s);
    }
}
