//! Why an analog configuration, a weight matrix or a saved crossbar state
//! was rejected. Each variant carries the cause (the key, the value, what
//! was expected); the messages name the key first (`device.g_max_us: …`), so
//! a circuit's validation can locate them.

/// An invalid configuration value or weight matrix (device, mapping, tile,
/// converter; [`Crossbar::program`](super::Crossbar::program)).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalogError {
    /// A configuration value outside its range. `key` is the dotted key
    /// (`"device.g_max_us"`), `got` the value (integers exactly), `expected`
    /// the allowed range in words.
    #[error("{key}: got {got}, expected {expected}")]
    OutOfRange {
        key: &'static str,
        got: f64,
        expected: String,
    },
    /// A weight to program is NaN or infinite; (`row`, `col`) is its index.
    #[error("crossbar: weight ({row}, {col}) is {value}, expected a finite value")]
    NonFiniteWeight { row: usize, col: usize, value: f64 },
}

impl AnalogError {
    /// [`AnalogError::OutOfRange`] for `key`.
    pub(super) fn range(key: &'static str, got: f64, expected: impl Into<String>) -> Self {
        AnalogError::OutOfRange {
            key,
            got,
            expected: expected.into(),
        }
    }
}

/// Why a saved state does not fit a crossbar
/// ([`Crossbar::set_state`](super::Crossbar::set_state)).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    /// A conductance matrix (`what`: "g_pos_us" or "g_neg_us") of another
    /// shape than the array's (n_out, n_in).
    #[error("{what}: shape {got:?}; the array is {} × {}", array.0, array.1)]
    Shape {
        what: &'static str,
        got: (usize, usize),
        array: (usize, usize),
    },
    /// A conductance (µS) that is NaN or infinite.
    #[error("conductance {value} µS; expected finite values")]
    NonFiniteConductance { value: f64 },
    /// A fault list (`what`: "stuck_pos" or "stuck_neg") of another length
    /// than the array's device count.
    #[error("{what}: {got} devices; the array has {devices}")]
    DeviceCount {
        what: &'static str,
        got: usize,
        devices: usize,
    },
    /// A fault code other than 0 (free), 1 (stuck at G_min), 2 (at G_max).
    #[error("{what}: fault code {code}; expected 0, 1 or 2")]
    FaultCode { what: &'static str, code: u8 },
    /// A scale (µS per unit weight) that is not finite and > 0.
    #[error("scale_us_per_unit {scale} must be finite and > 0")]
    Scale { scale: f64 },
    /// A drift clock whose write times do not fit the array or are not finite.
    #[error("drift clock: {times} write times for {pairs} pairs; finite times, one a pair (or none), required")]
    DriftClock { times: usize, pairs: usize },
}

/// The messages are those of the `String` errors they replaced, word for
/// word (circuit validation and users match on them).
#[cfg(test)]
mod tests {
    use super::super::{
        ConverterConfig, Crossbar, CrossbarConfig, CrossbarState, DeviceConfig, MappingConfig,
        TileConfig,
    };
    use nalgebra::DMatrix;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn configuration_messages_are_unchanged() {
        let device = |f: fn(&mut DeviceConfig)| {
            let mut c = DeviceConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert_eq!(
            device(|c| c.g_min_us = -1.0),
            "device.g_min_us: got -1, expected g_min_us ≥ 0"
        );
        assert_eq!(
            device(|c| c.n_levels = 1),
            "device.n_levels: got 1, expected 0 (continuous) or ≥ 2"
        );
        assert_eq!(
            device(|c| (c.stuck_at_min_frac, c.stuck_at_max_frac) = (0.75, 0.5)),
            "device.stuck_at_max_frac: got 0.5, expected stuck_at_min_frac + stuck_at_max_frac ≤ 1 (sum is 1.25)"
        );
        let converter = |c: ConverterConfig| c.validate().unwrap_err().to_string();
        assert_eq!(
            converter(ConverterConfig {
                bits: 25,
                ..Default::default()
            }),
            "converter.bits: got 25, expected 0 (exact) or 2..=24"
        );
        assert_eq!(
            converter(ConverterConfig {
                pga_steps: 17,
                ..Default::default()
            }),
            "converter.pga_steps: got 17, expected 0..=16"
        );
        assert_eq!(
            converter(ConverterConfig {
                full_scale: f64::NAN,
                ..Default::default()
            }),
            "converter.full_scale: got NaN, expected a finite value > 0"
        );
        let mapping = |c: MappingConfig| c.validate().unwrap_err().to_string();
        assert_eq!(
            mapping(MappingConfig {
                scale_us_per_unit: -1.0,
                ..Default::default()
            }),
            "mapping.scale_us_per_unit: got -1, expected > 0 (µS per unit weight) or 0 = automatic"
        );
        assert_eq!(
            mapping(MappingConfig {
                headroom: 0.0,
                ..Default::default()
            }),
            "mapping.headroom: got 0, expected > 0 (1 = max|W| at G_max)"
        );
        assert_eq!(
            TileConfig { rows: 4, cols: 0 }
                .validate()
                .unwrap_err()
                .to_string(),
            "tile.cols: got 0, expected ≥ 1 (inputs per array)"
        );
    }

    /// Makes a saved state invalid.
    type Spoil = fn(&mut CrossbarState);

    /// Each rejected state names its cause, and leaves the array as it was.
    #[test]
    fn state_messages_are_unchanged_and_nothing_changes() {
        let w = DMatrix::<f64>::from_fn(2, 3, |i, j| i as f64 - 0.5 * j as f64);
        let cfg = CrossbarConfig::default();
        let mut xb = Crossbar::program(&w, &cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
        let good = xb.state();
        let cases: [(Spoil, &str); 5] = [
            (
                |s| s.g_pos_us = DMatrix::zeros(3, 3),
                "g_pos_us: shape (3, 3); the array is 2 × 3",
            ),
            (
                |s| s.g_neg_us[(1, 1)] = f64::NAN,
                "conductance NaN µS; expected finite values",
            ),
            (
                |s| s.stuck_pos.truncate(5),
                "stuck_pos: 5 devices; the array has 6",
            ),
            (
                |s| s.stuck_neg[4] = 3,
                "stuck_neg: fault code 3; expected 0, 1 or 2",
            ),
            (
                |s| s.scale_us_per_unit = 0.0,
                "scale_us_per_unit 0 must be finite and > 0",
            ),
        ];
        for (spoil, want) in cases {
            let mut s = good.clone();
            spoil(&mut s);
            assert_eq!(xb.set_state(s).unwrap_err().to_string(), want);
            assert_eq!(xb.state(), good, "{want}: the state changed");
        }
    }
}
