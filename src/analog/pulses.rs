//! Pulsed programming of weight updates: the controller turns each weight
//! change Δw into a number of identical write pulses on one device of the
//! pair, as a real array is written (no write-verify).
//!
//! The wanted change of the pair's difference is ΔD = Δw·s (µS). It becomes
//! n = min(round(|ΔD|/ΔG_p), n_max) pulses of nominal size ΔG_p; each pulse
//! changes the conductance by ΔG_p·(1 + ρ·ξ), ξ ~ N(0, 1) (cycle-to-cycle
//! noise). A positive ΔD potentiates G⁺ while G⁺ < G_max and otherwise
//! depresses G⁻ (devices are bidirectional; a negative ΔD mirrors this).
//! Conductances stay in [G_min, G_max]; a pulse that cannot move either
//! device is counted as saturated. Stuck devices ignore pulses.

use super::crossbar::{normal, Crossbar, Stuck};
use crate::real::Real;
use nalgebra::DMatrix;
use rand::Rng;

/// Settings of pulsed programming.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PulseSpec {
    /// Nominal conductance change of one pulse (µS), > 0.
    pub dg_us: f64,
    /// Most pulses per weight per update, ≥ 1.
    pub max_pulses: u32,
    /// Cycle-to-cycle std of a pulse relative to `dg_us`, ≥ 0.
    pub noise_rel: f64,
}

/// Outcome of one pulsed update.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PulseCount {
    /// Pulses applied.
    pub n_pulses: usize,
    /// Pulses that could not move a device (range exhausted).
    pub n_saturated: usize,
    /// Weights whose wanted pulse count exceeded `max_pulses`.
    pub n_clipped: usize,
}

impl<T: Real> Crossbar<T> {
    /// Applies `delta_w` (n_out × n_in, weight units) as write pulses.
    pub fn program_pulses<R: Rng + ?Sized>(
        &mut self,
        delta_w: &DMatrix<T>,
        spec: &PulseSpec,
        rng: &mut R,
    ) -> PulseCount {
        assert_eq!(
            delta_w.shape(),
            self.w_eff.shape(),
            "program_pulses: shape of delta_w"
        );
        let s = self.mapping.scale_us_per_unit;
        let (lo, hi) = (self.device.g_min_us, self.device.g_max_us);
        let mut count = PulseCount::default();
        for (k, dw) in delta_w.iter().enumerate() {
            let want = dw.f64() * s / spec.dg_us;
            if !want.is_finite() || want.abs() < 0.5 {
                continue;
            }
            let n = want.abs().round() as u32;
            if n > spec.max_pulses {
                count.n_clipped += 1;
            }
            let up = want > 0.0;
            self.clock.stamp(k);
            for _ in 0..n.min(spec.max_pulses) {
                let step = spec.dg_us * (1.0 + spec.noise_rel * normal(rng)).max(0.0);
                count.n_pulses += 1;
                // Potentiate the device on the wanted side, else depress its partner.
                let (first, first_stuck, second, second_stuck) = if up {
                    (
                        &mut self.g_pos_us[k],
                        self.stuck_pos[k],
                        &mut self.g_neg_us[k],
                        self.stuck_neg[k],
                    )
                } else {
                    (
                        &mut self.g_neg_us[k],
                        self.stuck_neg[k],
                        &mut self.g_pos_us[k],
                        self.stuck_pos[k],
                    )
                };
                if first_stuck == Stuck::Free && *first < hi {
                    *first = (*first + step).min(hi);
                } else if second_stuck == Stuck::Free && *second > lo {
                    *second = (*second - step).max(lo);
                } else {
                    count.n_saturated += 1;
                }
            }
        }
        self.n_saturated_update += count.n_saturated;
        self.refresh();
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analog::{CrossbarConfig, DevicePreset};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn array(preset: DevicePreset) -> Crossbar<f64> {
        let w = DMatrix::from_fn(20, 30, |i, j| ((i * 7 + j * 3) % 11) as f64 / 10.0 - 0.5);
        let cfg = CrossbarConfig {
            device: preset.config(),
            ..Default::default()
        };
        Crossbar::program(&w, &cfg, &mut ChaCha8Rng::seed_from_u64(1)).unwrap()
    }

    /// Noiseless pulses realise the wanted change to within half a pulse.
    #[test]
    fn noiseless_pulses_quantise_the_update() {
        let mut xb = array(DevicePreset::Ideal);
        let before = xb.effective_weights().clone();
        let s = xb.mapping().scale_us_per_unit;
        let spec = PulseSpec {
            dg_us: 0.05,
            max_pulses: 1000,
            noise_rel: 0.0,
        };
        let dw = DMatrix::from_fn(20, 30, |i, j| (i as f64 - j as f64) * 1e-3);
        let c = xb.program_pulses(&dw, &spec, &mut ChaCha8Rng::seed_from_u64(2));
        assert_eq!(c.n_saturated, 0);
        let got = xb.effective_weights() - before;
        for (g, w) in got.iter().zip(dw.iter()) {
            assert!((g - w).abs() <= 0.5 * spec.dg_us / s + 1e-12, "{g} vs {w}");
        }
    }

    /// However many pulses, conductances never leave [G_min, G_max].
    #[test]
    fn pulses_stay_in_range() {
        let mut xb = array(DevicePreset::Reram);
        let spec = PulseSpec {
            dg_us: 2.0,
            max_pulses: 50,
            noise_rel: 0.5,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut saturated = 0;
        for sign in [1.0, -1.0, 1.0] {
            let dw = DMatrix::from_element(20, 30, sign * 100.0);
            saturated += xb.program_pulses(&dw, &spec, &mut rng).n_saturated;
        }
        let dev = DevicePreset::Reram.config();
        let (p, n) = xb.conductances_us();
        assert!(p
            .iter()
            .chain(n.iter())
            .all(|g| (dev.g_min_us..=dev.g_max_us).contains(g)));
        assert!(saturated > 0, "huge updates must saturate");
    }
}
