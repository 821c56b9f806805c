//! Weights ↔ differential conductance pairs.
//!
//! A weight w is stored on two devices, w = (G⁺ − G⁻)/s, where s is the
//! layer's weight-to-conductance scale `scale_us_per_unit` (µS per unit of
//! weight). The canonical pair puts one device at G_min and the other at
//! G_min + |w|·s (the "single pair" mapping of Joshi et al. 2020, Nat. Commun.
//! 11, 2473, and of AIHWKit's `SinglePairConductanceConverter`). The largest
//! representable weight is w_max = (G_max − G_min)/s; larger weights saturate.
//!
//! The scale is given, or chosen from the initial matrix so that
//! `headroom`·max|W| maps to G_max − G_min (headroom > 1 leaves room for the
//! weights to grow during training before they saturate).
//!
//! This file knows nothing of noise, arrays or predictive coding.

use super::device::DeviceConfig;
use super::error::AnalogError;
use serde::{Deserialize, Serialize};

/// How a layer's weights are scaled to conductances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MappingConfig {
    /// Weight-to-conductance scale (µS per unit weight), > 0; 0 = choose from
    /// max|W| of the initial matrix. Default 0.
    pub scale_us_per_unit: f64,
    /// Automatic scale: `headroom`·max|W| maps to G_max − G_min; > 0
    /// (1 = the largest initial weight sits at G_max). Default 2.
    pub headroom: f64,
}

impl Default for MappingConfig {
    fn default() -> Self {
        Self {
            scale_us_per_unit: 0.0,
            headroom: 2.0,
        }
    }
}

impl MappingConfig {
    /// Checks the fields' ranges.
    pub fn validate(&self) -> Result<(), AnalogError> {
        let s = self.scale_us_per_unit;
        if !(s.is_finite() && s >= 0.0) {
            return Err(AnalogError::range(
                "mapping.scale_us_per_unit",
                s,
                "> 0 (µS per unit weight) or 0 = automatic",
            ));
        }
        let h = self.headroom;
        if !(h.is_finite() && h > 0.0) {
            return Err(AnalogError::range(
                "mapping.headroom",
                h,
                "> 0 (1 = max|W| at G_max)",
            ));
        }
        Ok(())
    }
}

/// The resolved mapping of one layer: scale and conductance range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mapping {
    /// Weight-to-conductance scale s (µS per unit weight).
    pub scale_us_per_unit: f64,
    /// Lowest conductance (µS).
    pub g_min_us: f64,
    /// Highest conductance (µS).
    pub g_max_us: f64,
}

impl Mapping {
    /// Resolves the scale: the given one, or (G_max − G_min)/(headroom·max|W|)
    /// (max|W| taken as 1 when the matrix is all zeros).
    pub fn new(cfg: &MappingConfig, device: &DeviceConfig, w_abs_max: f64) -> Self {
        let range = device.g_max_us - device.g_min_us;
        let scale_us_per_unit = if cfg.scale_us_per_unit > 0.0 {
            cfg.scale_us_per_unit
        } else {
            let w = if w_abs_max > 0.0 && w_abs_max.is_finite() {
                w_abs_max
            } else {
                1.0
            };
            range / (cfg.headroom * w)
        };
        Self {
            scale_us_per_unit,
            g_min_us: device.g_min_us,
            g_max_us: device.g_max_us,
        }
    }

    /// Largest representable |w| = (G_max − G_min)/s.
    pub fn w_max(&self) -> f64 {
        (self.g_max_us - self.g_min_us) / self.scale_us_per_unit
    }

    /// Canonical pair (G⁺, G⁻) in µS for weight `w`, and whether it saturated
    /// (|w| > w_max, stored as ±w_max).
    pub fn to_pair(&self, w: f64) -> (f64, f64, bool) {
        let range = self.g_max_us - self.g_min_us;
        let dg = w * self.scale_us_per_unit;
        let saturated = dg.abs() > range;
        let dg = dg.clamp(-range, range);
        if dg >= 0.0 {
            (self.g_min_us + dg, self.g_min_us, saturated)
        } else {
            (self.g_min_us, self.g_min_us - dg, saturated)
        }
    }

    /// Weight of a pair: (G⁺ − G⁻)/s.
    pub fn to_weight(&self, g_pos_us: f64, g_neg_us: f64) -> f64 {
        (g_pos_us - g_neg_us) / self.scale_us_per_unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping() -> Mapping {
        let dev = DeviceConfig {
            g_min_us: 2.0,
            g_max_us: 12.0,
            ..DeviceConfig::default()
        };
        Mapping::new(
            &MappingConfig {
                scale_us_per_unit: 10.0,
                headroom: 1.0,
            },
            &dev,
            0.3,
        )
    }

    #[test]
    fn round_trip_and_saturation() {
        let m = mapping();
        assert_eq!(m.w_max(), 1.0);
        for w in [0.0, 0.25, -0.7, 1.0, -1.0] {
            let (p, n, sat) = m.to_pair(w);
            assert!(!sat);
            assert!((m.to_weight(p, n) - w).abs() < 1e-15);
            assert!(p.min(n) == 2.0 && p.max(n) <= 12.0);
        }
        let (p, n, sat) = m.to_pair(-1.5);
        assert!(sat);
        assert_eq!((p, n), (2.0, 12.0));
    }

    #[test]
    fn automatic_scale_uses_headroom() {
        let dev = DeviceConfig::default();
        let m = Mapping::new(
            &MappingConfig {
                scale_us_per_unit: 0.0,
                headroom: 2.0,
            },
            &dev,
            0.5,
        );
        assert!((m.w_max() - 1.0).abs() < 1e-15);
        let z = Mapping::new(&MappingConfig::default(), &dev, 0.0);
        assert!(z.scale_us_per_unit.is_finite() && z.scale_us_per_unit > 0.0);
        assert!(MappingConfig {
            headroom: 0.0,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string()
        .contains("headroom"));
        assert!(MappingConfig {
            scale_us_per_unit: -1.0,
            ..Default::default()
        }
        .validate()
        .is_err());
    }
}
