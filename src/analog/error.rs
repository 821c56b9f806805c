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
    /// A scale (µS per unit weight) or drift factor that is not finite and > 0.
    #[error("scale_us_per_unit {scale} and drift {drift} must be finite and > 0")]
    ScaleOrDrift { scale: f64, drift: f64 },
}
