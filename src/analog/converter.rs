//! DAC/ADC at the chip's edges: a uniform mid-tread quantiser with saturation.
//!
//! With `bits` = b ≥ 2 and full scale F, the converter has 2^b − 1 symmetric
//! levels k·Δ, k = −K..K, K = 2^(b−1) − 1, Δ = F/K (one LSB):
//!
//! ```text
//! q(x) = Δ · round(clamp(x, −F, F)/Δ)
//! ```
//!
//! so |q(x) − x| ≤ Δ/2 inside [−F, F] and q saturates at ±F outside
//! (mid-tread: q(0) = 0; Gray, Neuhoff 1998, IEEE Trans. Inf. Theory 44, 2325).
//! Typical analog in-memory chips use 8-bit converters (Joshi et al. 2020;
//! Wan et al. 2022). `bits` = 0 is the ideal, exact converter (no range).
//! Units are those of the signal converted (weight units × activity units).
//!
//! Converters sit at the chip's edges (clamping, readout, tiled digital sums),
//! never inside the continuous-time relaxation loop.

use super::error::AnalogError;
use crate::real::Real;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// Resolution and range of a DAC or ADC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConverterConfig {
    /// Resolution in bits: 0 = exact (ideal), otherwise 2..=24. Default 0.
    pub bits: u32,
    /// Full-scale magnitude F (signal units), > 0; inputs saturate at ±F. Default 1.
    pub full_scale: f64,
    /// Gain steps of a programmable-gain amplifier in front of the converter:
    /// each read uses the largest gain 2^k (k ≤ `pga_steps`) at which the
    /// matrix read still fits in ±F, and the controller divides it out.
    /// 0 = fixed range. Default 0, ≤ 16.
    pub pga_steps: u32,
}

impl Default for ConverterConfig {
    fn default() -> Self {
        Self {
            bits: 0,
            full_scale: 1.0,
            pga_steps: 0,
        }
    }
}

impl ConverterConfig {
    /// Checks the fields' ranges.
    pub fn validate(&self) -> Result<(), AnalogError> {
        if self.bits == 1 || self.bits > 24 {
            return Err(AnalogError::range(
                "converter.bits",
                f64::from(self.bits),
                "0 (exact) or 2..=24",
            ));
        }
        if self.pga_steps > 16 {
            return Err(AnalogError::range(
                "converter.pga_steps",
                f64::from(self.pga_steps),
                "0..=16",
            ));
        }
        let f = self.full_scale;
        if !(f.is_finite() && f > 0.0) {
            return Err(AnalogError::range(
                "converter.full_scale",
                f,
                "a finite value > 0",
            ));
        }
        Ok(())
    }
}

/// A validated converter, ready to quantise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Converter {
    lsb: f64,
    full_scale: f64,
    pga_steps: u32,
}

impl Converter {
    /// Builds the converter; `Err` names the bad field.
    pub fn new(cfg: &ConverterConfig) -> Result<Self, AnalogError> {
        cfg.validate()?;
        let lsb = if cfg.bits == 0 {
            0.0
        } else {
            cfg.full_scale / ((1u64 << (cfg.bits - 1)) - 1) as f64
        };
        Ok(Self {
            lsb,
            full_scale: cfg.full_scale,
            pga_steps: cfg.pga_steps,
        })
    }

    /// The exact converter (identity).
    pub fn ideal() -> Self {
        Self {
            lsb: 0.0,
            full_scale: f64::INFINITY,
            pga_steps: 0,
        }
    }

    /// One LSB Δ (0 for the exact converter).
    pub fn lsb(&self) -> f64 {
        self.lsb
    }

    /// Whether this converter is exact.
    pub fn is_ideal(&self) -> bool {
        self.lsb == 0.0
    }

    /// q(x); the flag says whether x was outside [−F, F] (saturated).
    pub fn quantize(&self, x: f64) -> (f64, bool) {
        if self.is_ideal() {
            return (x, false);
        }
        let saturated = x.abs() > self.full_scale;
        let c = x.clamp(-self.full_scale, self.full_scale);
        (self.lsb * (c / self.lsb).round(), saturated)
    }

    /// The PGA gain 2^k for a read whose largest magnitude is `peak`.
    pub fn gain_for(&self, peak: f64) -> f64 {
        if self.pga_steps == 0 || peak <= 0.0 || !peak.is_finite() {
            return 1.0;
        }
        let k = (self.full_scale / peak)
            .log2()
            .floor()
            .clamp(0.0, self.pga_steps as f64);
        k.exp2()
    }

    /// Quantises every entry in place (through the PGA gain chosen for the
    /// whole matrix); returns how many saturated.
    pub fn quantize_matrix<T: Real>(&self, m: &mut DMatrix<T>) -> usize {
        if self.is_ideal() {
            return 0;
        }
        let g = self.gain_for(m.iter().fold(0.0f64, |a, x| a.max(x.f64().abs())));
        let mut n = 0;
        for x in m.iter_mut() {
            let (q, s) = self.quantize(g * x.f64());
            *x = T::of(q / g);
            n += usize::from(s);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a PGA, small reads are quantised with the LSB divided by the gain.
    #[test]
    fn pga_gain_shrinks_the_error_of_small_reads() {
        let cfg = ConverterConfig {
            bits: 8,
            full_scale: 2.0,
            pga_steps: 6,
        };
        let c = Converter::new(&cfg).unwrap();
        let mut m = DMatrix::<f64>::from_fn(5, 7, |i, j| 0.02 * ((i * 7 + j) as f64 / 34.0 - 0.5));
        let orig = m.clone();
        assert_eq!(c.gain_for(0.01), 64.0);
        assert_eq!(c.gain_for(3.0), 1.0);
        assert_eq!(c.quantize_matrix(&mut m), 0);
        let err = (&m - &orig).amax();
        assert!(
            err <= 0.5 * c.lsb() / 64.0 + 1e-15,
            "error {err} vs LSB/gain {}",
            c.lsb() / 64.0
        );
        let fixed = Converter::new(&ConverterConfig {
            pga_steps: 0,
            ..cfg
        })
        .unwrap();
        let mut f = orig.clone();
        fixed.quantize_matrix(&mut f);
        assert!(
            (&f - &orig).amax() > 10.0 * err,
            "the fixed range is much coarser"
        );
    }

    #[test]
    fn error_within_half_lsb_and_saturation() {
        for bits in [2, 4, 8, 12] {
            let fs = 2.5;
            let c = Converter::new(&ConverterConfig {
                bits,
                full_scale: fs,
                ..Default::default()
            })
            .unwrap();
            let lsb = c.lsb();
            assert!((lsb - fs / ((1 << (bits - 1)) - 1) as f64).abs() < 1e-15);
            let mut levels = std::collections::BTreeSet::new();
            for i in 0..=20_000 {
                let x = -fs + 2.0 * fs * i as f64 / 20_000.0;
                let (q, s) = c.quantize(x);
                assert!(!s);
                assert!(
                    (q - x).abs() <= 0.5 * lsb * (1.0 + 1e-12),
                    "bits {bits}: q({x}) = {q}"
                );
                levels.insert((q / lsb).round() as i64);
            }
            assert_eq!(levels.len(), (1usize << bits) - 1, "levels at {bits} bits");
            assert_eq!(c.quantize(0.0).0, 0.0);
            assert_eq!(c.quantize(0.49 * lsb).0, 0.0);
            assert_eq!(c.quantize(fs * 1.7), (fs, true));
            assert_eq!(c.quantize(-fs * 40.0), (-fs, true));
        }
    }

    #[test]
    fn ideal_is_exact_and_config_validates() {
        let c = Converter::new(&ConverterConfig::default()).unwrap();
        assert_eq!(c.quantize(1e9 + 0.123), (1e9 + 0.123, false));
        let mut m = DMatrix::<f32>::from_element(2, 2, 3.3);
        assert_eq!(
            Converter::new(&ConverterConfig {
                bits: 8,
                full_scale: 1.0,
                ..Default::default()
            })
            .unwrap()
            .quantize_matrix(&mut m),
            4
        );
        assert!(m.iter().all(|&x| x == 1.0));
        assert!(ConverterConfig {
            bits: 1,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string()
        .contains("bits"));
        assert!(ConverterConfig {
            bits: 8,
            full_scale: 0.0,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string()
        .contains("full_scale"));
    }
}
