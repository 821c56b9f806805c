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
//! not cumulative: the factor a pair carries is that of the array's age,
//! (max(now − t_w, t0)/t0)^(−ν), so ageing multiplies by the ratio of the new
//! factor to it, and ageing twice to the same time, or back in time, is
//! exact. Stuck devices do not drift. With ν = 0 nothing is stored and
//! ageing costs nothing.

use super::crossbar::{Crossbar, Stuck};
use crate::real::Real;

/// Per-pair drift bookkeeping of an array (empty when ν = 0).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DriftClock {
    /// Time the array was last aged to, s since its first programming.
    pub now_s: f64,
    /// Write time t_w of each pair, s (column-major, like the matrices).
    pub written_s: Vec<f64>,
}

impl DriftClock {
    /// A clock for `n_pairs` pairs all written at t = 0 (empty when `on` is false).
    pub fn new(n_pairs: usize, on: bool) -> Self {
        let n = if on { n_pairs } else { 0 };
        DriftClock {
            now_s: 0.0,
            written_s: vec![0.0; n],
        }
    }

    /// Marks pair `k` written now.
    pub(super) fn stamp(&mut self, k: usize) {
        if let Some(t) = self.written_s.get_mut(k) {
            *t = self.now_s;
        }
    }
}

impl<T: Real> Crossbar<T> {
    /// Ages the array to `t_s` (s since its first programming): every free
    /// device's conductance becomes its written value times the drift factor
    /// of the time since its pair's write. A no-op without drift.
    pub fn age_to(&mut self, t_s: f64) {
        let now = self.clock.now_s;
        self.clock.now_s = t_s;
        // Every pair is at most `now` (then `t_s`) old: below t0 no factor
        // differs from 1, before or after.
        if self.clock.written_s.is_empty() || now.max(t_s) <= self.device.drift_t0_s {
            return;
        }
        let mut changed = false;
        for k in 0..self.clock.written_s.len() {
            let w = self.clock.written_s[k];
            let r = self.device.drift_factor(t_s - w) / self.device.drift_factor(now - w);
            changed |= self.scale_pair(k, r);
        }
        if changed {
            self.refresh();
        }
    }

    /// Multiplies the free devices of pair `k` by `r`; whether anything changed.
    fn scale_pair(&mut self, k: usize, r: f64) -> bool {
        if r == 1.0 {
            return false;
        }
        let n_out = self.g_pos_us.nrows().max(1);
        let (i, j) = (k % n_out, k / n_out);
        if self.stuck_pos[k] == Stuck::Free {
            self.g_pos_us[(i, j)] *= r;
        }
        if self.stuck_neg[k] == Stuck::Free {
            self.g_neg_us[(i, j)] *= r;
        }
        true
    }

    /// The time the array was last aged to, s.
    pub fn age_s(&self) -> f64 {
        self.clock.now_s
    }

    /// Sets the array to time `t_s` after a programming at t = 0 of every
    /// pair (the array as a whole, ignoring later writes' times): the free
    /// devices' conductances become G0·(max(t, t0)/t0)^(−ν). Not cumulative.
    pub fn apply_drift(&mut self, t_s: f64) {
        let (now, to) = (self.clock.now_s, self.device.drift_factor(t_s));
        let mut changed = false;
        for k in 0..self.clock.written_s.len() {
            let r = to / self.device.drift_factor(now - self.clock.written_s[k]);
            changed |= self.scale_pair(k, r);
            self.clock.written_s[k] = 0.0;
        }
        self.clock.now_s = t_s;
        if changed {
            self.refresh();
        }
    }
}
