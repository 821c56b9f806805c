//! One resistive memory device: its conductance range and non-idealities.
//!
//! A weight is stored on a differential pair of devices (see `mapping`). Each
//! device's conductance G (µS) lies in [G_min, G_max]. Static errors are
//! applied once, when the crossbar is programmed, in this order:
//!
//! 1. quantisation to `n_levels` evenly spaced levels
//!    G_k = G_min + k·(G_max − G_min)/(n_levels − 1), k = 0..n_levels−1;
//! 2. programming noise G ← G_T + N(0, σ_prog²) with
//!    σ_prog(G_T) = √(σ_abs² + (ρ·G_T)²) (µS), `prog_noise_abs_us` = σ_abs,
//!    `prog_noise_rel` = ρ — a linearised form of the PCM fit
//!    σ_prog = −1.1731 g_T² + 1.9650 g_T + 0.2635 µS (g_T = G_T/G_max,
//!    Nandakumar et al. 2019, ICECS; Joshi et al. 2020, Nat. Commun. 11, 2473);
//! 3. device-to-device gain variation G ← G·(1 + δ), δ ~ N(0, `d2d_variability_rel`²);
//! 4. clipping to [G_min, G_max];
//! 5. stuck-at faults: a device is stuck at G_min with probability
//!    `stuck_at_min_frac` and at G_max with probability `stuck_at_max_frac`.
//!
//! Per evaluation, each device's conductance fluctuates (read noise, 1/f and
//! telegraph noise) with std `read_noise_rel`·G_max (see `Crossbar::add_read_noise`).
//! Drift: G(t) = G0·(t/t0)^(−ν) for t ≥ t0 (Le Gallo et al. 2018,
//! Adv. Electron. Mater. 4, 1700627; Joshi et al. 2020), off when ν = 0.
//!
//! This file knows nothing of weights, arrays or predictive coding.

use super::error::AnalogError;
use serde::{Deserialize, Serialize};

/// Conductance range and non-idealities of one device type.
///
/// `Default` is the ideal device: range [0, 25] µS, continuous levels, no noise,
/// no faults, no drift.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// Lowest programmable conductance (µS), ≥ 0. Default 0.
    pub g_min_us: f64,
    /// Highest programmable conductance (µS), > `g_min_us`. Default 25.
    pub g_max_us: f64,
    /// Number of evenly spaced conductance levels in [G_min, G_max];
    /// 0 = continuous, otherwise ≥ 2. Default 0.
    pub n_levels: u32,
    /// Conductance-independent programming-noise std (µS), ≥ 0. Default 0.
    pub prog_noise_abs_us: f64,
    /// Programming-noise std relative to the target conductance, ≥ 0. Default 0.
    pub prog_noise_rel: f64,
    /// Static device-to-device relative gain std, in [0, 1). Default 0.
    pub d2d_variability_rel: f64,
    /// Fraction of devices stuck at G_min, in [0, 1]. Default 0.
    pub stuck_at_min_frac: f64,
    /// Fraction of devices stuck at G_max, in [0, 1]; the two fractions sum ≤ 1. Default 0.
    pub stuck_at_max_frac: f64,
    /// Per-evaluation read-noise std of each device, relative to G_max, ≥ 0. Default 0.
    pub read_noise_rel: f64,
    /// Drift exponent ν (dimensionless), in [0, 1); 0 = no drift. Default 0.
    pub drift_nu: f64,
    /// Drift reference time t0 (s), > 0 (time of the last programming pulse's
    /// verify read). Default 20.
    pub drift_t0_s: f64,
    /// The named preset these values came from ("ideal", "pcm", "reram"),
    /// if any. In a circuit file, `preset` fills every other key, which may
    /// then be overridden one by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<DevicePreset>,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            g_min_us: 0.0,
            g_max_us: 25.0,
            n_levels: 0,
            prog_noise_abs_us: 0.0,
            prog_noise_rel: 0.0,
            d2d_variability_rel: 0.0,
            stuck_at_min_frac: 0.0,
            stuck_at_max_frac: 0.0,
            read_noise_rel: 0.0,
            drift_nu: 0.0,
            drift_t0_s: 20.0,
            preset: None,
        }
    }
}

/// `Ok` when `ok` and `value` is finite, else [`AnalogError::OutOfRange`] for `key`.
fn check(ok: bool, key: &'static str, value: f64, range: &str) -> Result<(), AnalogError> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(AnalogError::range(key, value, range))
    }
}

impl DeviceConfig {
    /// Whether the device has no non-ideality: continuous levels, no
    /// programming, device-to-device or read noise, no stuck devices, no
    /// drift (the "ideal" preset and the default).
    pub fn is_ideal(&self) -> bool {
        self.n_levels == 0
            && [
                self.prog_noise_abs_us,
                self.prog_noise_rel,
                self.d2d_variability_rel,
                self.stuck_at_min_frac,
                self.stuck_at_max_frac,
                self.read_noise_rel,
                self.drift_nu,
            ]
            .iter()
            .all(|v| *v == 0.0)
    }

    /// Checks every field against its documented range; the message names the
    /// field, the offending value and the allowed range.
    pub fn validate(&self) -> Result<(), AnalogError> {
        check(
            self.g_min_us >= 0.0,
            "device.g_min_us",
            self.g_min_us,
            "g_min_us ≥ 0",
        )?;
        check(
            self.g_max_us > self.g_min_us,
            "device.g_max_us",
            self.g_max_us,
            &format!("g_max_us > g_min_us = {}", self.g_min_us),
        )?;
        if self.n_levels == 1 {
            return Err(AnalogError::range(
                "device.n_levels",
                1.0,
                "0 (continuous) or ≥ 2",
            ));
        }
        check(
            self.prog_noise_abs_us >= 0.0,
            "device.prog_noise_abs_us",
            self.prog_noise_abs_us,
            "≥ 0",
        )?;
        check(
            self.prog_noise_rel >= 0.0,
            "device.prog_noise_rel",
            self.prog_noise_rel,
            "≥ 0",
        )?;
        let d2d = self.d2d_variability_rel;
        check(
            (0.0..1.0).contains(&d2d),
            "device.d2d_variability_rel",
            d2d,
            "0 ≤ d2d_variability_rel < 1",
        )?;
        let (fmin, fmax) = (self.stuck_at_min_frac, self.stuck_at_max_frac);
        check(
            (0.0..=1.0).contains(&fmin),
            "device.stuck_at_min_frac",
            fmin,
            "a fraction in [0, 1]",
        )?;
        check(
            (0.0..=1.0).contains(&fmax),
            "device.stuck_at_max_frac",
            fmax,
            "a fraction in [0, 1]",
        )?;
        check(
            fmin + fmax <= 1.0,
            "device.stuck_at_max_frac",
            fmax,
            &format!(
                "stuck_at_min_frac + stuck_at_max_frac ≤ 1 (sum is {})",
                fmin + fmax
            ),
        )?;
        check(
            self.read_noise_rel >= 0.0,
            "device.read_noise_rel",
            self.read_noise_rel,
            "≥ 0",
        )?;
        check(
            (0.0..1.0).contains(&self.drift_nu),
            "device.drift_nu",
            self.drift_nu,
            "0 ≤ drift_nu < 1",
        )?;
        check(
            self.drift_t0_s > 0.0,
            "device.drift_t0_s",
            self.drift_t0_s,
            "drift_t0_s > 0",
        )?;
        Ok(())
    }

    /// Programming-noise std σ_prog(G_T) = √(σ_abs² + (ρ·G_T)²) (µS).
    pub fn prog_noise_std_us(&self, g_target_us: f64) -> f64 {
        self.prog_noise_abs_us
            .hypot(self.prog_noise_rel * g_target_us)
    }

    /// Nearest of the `n_levels` levels to `g_us` (clamped to the range);
    /// identity (after clamping) when `n_levels` is 0.
    pub fn quantize_us(&self, g_us: f64) -> f64 {
        let g = g_us.clamp(self.g_min_us, self.g_max_us);
        match self.level_step_us() {
            None => g,
            Some(step) => self.g_min_us + ((g - self.g_min_us) / step).round() * step,
        }
    }

    /// Spacing of the conductance levels (µS), `None` when continuous.
    pub fn level_step_us(&self) -> Option<f64> {
        (self.n_levels >= 2).then(|| (self.g_max_us - self.g_min_us) / (self.n_levels - 1) as f64)
    }

    /// Drift factor (max(t, t0)/t0)^(−ν) at time `t_s` after programming (1 when ν = 0).
    pub fn drift_factor(&self, t_s: f64) -> f64 {
        if self.drift_nu == 0.0 || t_s <= self.drift_t0_s || !t_s.is_finite() {
            1.0
        } else {
            (t_s / self.drift_t0_s).powf(-self.drift_nu)
        }
    }
}

/// Named device presets; values and sources are in docs/devices.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DevicePreset {
    /// The ideal device (`DeviceConfig::default()`).
    Ideal,
    /// Phase-change memory, after the IBM PCM model (Nandakumar et al. 2019;
    /// Joshi et al. 2020; AIHWKit, Rasch et al. 2021/2023).
    Pcm,
    /// Filamentary ReRAM, after NeuRRAM (Wan et al. 2022, Nature 608, 504).
    Reram,
}

impl DevicePreset {
    /// The preset's configuration.
    pub fn config(self) -> DeviceConfig {
        match self {
            DevicePreset::Ideal => DeviceConfig {
                preset: Some(DevicePreset::Ideal),
                ..DeviceConfig::default()
            },
            // G_max = 25 µS and σ_prog ≈ 1.05 µS at G_max (0.2635 µS at G = 0):
            // √(0.26² + (0.04·25)²) = 1.03 µS. Drift ν ≈ 0.05 at high G, t0 = 20 s.
            // Read noise: Q_s·√ln((t+t_r)/2t_r) ≈ 0.0088·4.2 ≈ 3.7 % of G at G_max.
            DevicePreset::Pcm => DeviceConfig {
                g_min_us: 0.0,
                g_max_us: 25.0,
                n_levels: 0,
                prog_noise_abs_us: 0.26,
                prog_noise_rel: 0.04,
                d2d_variability_rel: 0.02,
                stuck_at_min_frac: 0.005,
                stuck_at_max_frac: 0.001,
                read_noise_rel: 0.035,
                drift_nu: 0.05,
                drift_t0_s: 20.0,
                preset: Some(self),
            },
            // NeuRRAM: differential pairs within ≈ 1–40 µS, write-verify to
            // about ±1 µS; no power-law drift modelled (ν = 0).
            DevicePreset::Reram => DeviceConfig {
                g_min_us: 1.0,
                g_max_us: 40.0,
                n_levels: 0,
                prog_noise_abs_us: 1.0,
                prog_noise_rel: 0.02,
                d2d_variability_rel: 0.05,
                stuck_at_min_frac: 0.01,
                stuck_at_max_frac: 0.005,
                read_noise_rel: 0.02,
                drift_nu: 0.0,
                drift_t0_s: 20.0,
                preset: Some(self),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for p in [DevicePreset::Ideal, DevicePreset::Pcm, DevicePreset::Reram] {
            p.config().validate().unwrap();
        }
        let pcm = DevicePreset::Pcm.config();
        let s = pcm.prog_noise_std_us(pcm.g_max_us);
        assert!((0.9..1.2).contains(&s), "PCM σ_prog at G_max = {s}");
    }

    #[test]
    fn validate_names_field_and_range() {
        let bad = |f: fn(&mut DeviceConfig), key: &str| {
            let mut c = DeviceConfig::default();
            f(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{e} should name {key}");
        };
        bad(|c| c.g_min_us = 30.0, "g_max_us");
        bad(|c| c.g_min_us = -1.0, "g_min_us");
        bad(|c| c.n_levels = 1, "n_levels");
        bad(|c| c.prog_noise_rel = -0.1, "prog_noise_rel");
        bad(|c| c.prog_noise_abs_us = f64::NAN, "prog_noise_abs_us");
        bad(|c| c.d2d_variability_rel = 1.5, "d2d_variability_rel");
        bad(
            |c| (c.stuck_at_min_frac, c.stuck_at_max_frac) = (0.75, 0.5),
            "sum is 1.25",
        );
        bad(|c| c.read_noise_rel = -1.0, "read_noise_rel");
        bad(|c| c.drift_t0_s = 0.0, "drift_t0_s");
    }

    #[test]
    fn serde_defaults_and_unknown_fields() {
        let c: DeviceConfig = toml::from_str("g_max_us = 40.0\nn_levels = 16").unwrap();
        assert_eq!(c.g_max_us, 40.0);
        assert_eq!(c.n_levels, 16);
        assert_eq!(c.g_min_us, 0.0);
        assert!(toml::from_str::<DeviceConfig>("g_max = 40.0").is_err());
        let back: DeviceConfig = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn quantize_and_drift() {
        let c = DeviceConfig {
            n_levels: 6,
            ..DeviceConfig::default()
        };
        assert_eq!(c.quantize_us(6.0), 5.0);
        assert_eq!(c.quantize_us(8.0), 10.0);
        assert_eq!(c.quantize_us(99.0), 25.0);
        let d = DeviceConfig {
            drift_nu: 0.05,
            ..DeviceConfig::default()
        };
        assert_eq!(d.drift_factor(1.0), 1.0);
        assert!((d.drift_factor(2000.0) - 100f64.powf(-0.05)).abs() < 1e-15);
    }
}
