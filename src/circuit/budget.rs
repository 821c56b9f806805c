//! Budgets a circuit must fit before anything is allocated or run: the
//! memory it needs against the memory the machine has, and the range of
//! values inside which its arithmetic stays finite. Each failure names the
//! key responsible.

use super::schema::{Circuit, DType, NetworkKind, NetworkSpec, Source};
use crate::net::OptimiserKind;
use std::fmt;

/// Samples per evaluation batch (the run's test and train evaluations).
pub const EVAL_BATCH: usize = 256;

/// The largest magnitude (and the reciprocal of the smallest non-zero one)
/// a circuit key or a data or weight value may have in a run of dtype
/// `p`: √MAX / 10⁴ of the float type, so that products of two such values,
/// and sums of many of their squares, stay finite. f32: ≈ 1.8e15, f64: ≈ 1.3e150.
pub fn value_bound(p: DType) -> f64 {
    match p {
        DType::F32 => (f32::MAX as f64).sqrt() / 1e4,
        DType::F64 => f64::MAX.sqrt() / 1e4,
    }
}

/// The dtype's name in messages.
fn dtype_name(p: DType) -> &'static str {
    match p {
        DType::F32 => "f32",
        DType::F64 => "f64",
    }
}

/// A value a run of its dtype cannot hold safely.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueError {
    /// NaN or ±∞.
    NonFinite(f64),
    /// Non-zero and outside 1/[`value_bound`] … [`value_bound`] of the dtype.
    OutOfRange { value: f64, dtype: DType },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ValueError::NonFinite(v) => write!(f, "expected a finite value, got {v}"),
            ValueError::OutOfRange { value, dtype } => {
                let bound = value_bound(dtype);
                write!(
                    f,
                    "{value:e} is outside the range where an {} run stays finite: 0 or {:.1e} ≤ |value| ≤ {bound:.1e}",
                    dtype_name(dtype),
                    1.0 / bound
                )
            }
        }
    }
}

impl std::error::Error for ValueError {}

/// A circuit over a budget, with the key responsible.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BudgetError {
    /// A floating-point key outside the dtype's range.
    #[error("{key}: {source}")]
    Value { key: String, source: ValueError },
    /// The run needs more memory than is available (bytes).
    #[error("{key}: {}", memory_message(need, *available))]
    Memory {
        key: String,
        need: MemoryEstimate,
        available: f64,
    },
    /// The circuit could not be turned into TOML to be inspected.
    #[error("cannot inspect the circuit: {0}")]
    Inspect(String),
}

impl BudgetError {
    /// The dotted key responsible (empty for [`BudgetError::Inspect`]).
    pub fn key(&self) -> &str {
        match self {
            BudgetError::Value { key, .. } | BudgetError::Memory { key, .. } => key,
            BudgetError::Inspect(_) => "",
        }
    }

    /// The message without the key.
    pub fn reason(&self) -> String {
        match self {
            BudgetError::Value { source, .. } => source.to_string(),
            BudgetError::Memory {
                need, available, ..
            } => memory_message(need, *available),
            BudgetError::Inspect(_) => self.to_string(),
        }
    }
}

fn memory_message(m: &MemoryEstimate, avail: f64) -> String {
    format!(
        "the run needs about {} of memory (weights and conductances {}, activities {}, data {}), more than the {} available; lower it",
        fmt_bytes(m.total()),
        fmt_bytes(m.weights),
        fmt_bytes(m.activities),
        fmt_bytes(m.data),
        fmt_bytes(avail)
    )
}

/// Checks one value against [`value_bound`].
pub fn check_value(v: f64, p: DType) -> Result<(), ValueError> {
    let bound = value_bound(p);
    if !v.is_finite() {
        return Err(ValueError::NonFinite(v));
    }
    if v != 0.0 && !(1.0 / bound..=bound).contains(&v.abs()) {
        return Err(ValueError::OutOfRange { value: v, dtype: p });
    }
    Ok(())
}

/// Every floating-point key of the circuit, by dotted path, checked with
/// [`check_value`]: one rule for all keys, whatever their section.
pub fn check_floats(c: &Circuit) -> Result<(), BudgetError> {
    fn walk(v: &toml::Value, path: &str, p: DType) -> Result<(), BudgetError> {
        match v {
            toml::Value::Float(x) => check_value(*x, p).map_err(|source| BudgetError::Value {
                key: path.to_string(),
                source,
            }),
            toml::Value::Table(t) => t.iter().try_for_each(|(k, v)| {
                let key = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(v, &key, p)
            }),
            toml::Value::Array(a) => a.iter().try_for_each(|v| walk(v, path, p)),
            _ => Ok(()),
        }
    }
    // TOML integers are i64: the seed (a u64, not a float) is left out.
    let probe = Circuit {
        seed: 0,
        ..c.clone()
    };
    let value = toml::Value::try_from(&probe).map_err(|e| BudgetError::Inspect(e.to_string()))?;
    walk(&value, "", c.dtype)
}

/// The data's shape as far as it is known: features, outputs, samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DataShape {
    pub n_features: usize,
    pub n_outputs: usize,
    pub n_samples: usize,
}

impl DataShape {
    /// What the circuit's keys alone tell: exact for the embedded and
    /// synthetic sources, a lower bound (1 × 1, no samples) for files.
    pub fn from_keys(c: &Circuit) -> DataShape {
        let d = &c.data;
        let (n_features, n_outputs, n_samples) = match d.source {
            Source::Mnist => (784, 10, 5000),
            Source::TeacherStudent => (d.teacher_inputs, d.teacher_outputs, d.teacher_samples),
            Source::GaussianToy => (d.teacher_inputs, 1, d.teacher_samples),
            Source::Cifar10 => (3072, 10, 0),
            Source::Idx | Source::Csv => (1, 1, 0),
            // The embedded corpus has 73 symbols (a file: a lower bound).
            Source::Text => {
                let (v, t) = (if d.text.is_empty() { 73 } else { 1 }, d.seq_len);
                (t * (v + t), t * v, 0)
            }
        };
        DataShape {
            n_features,
            n_outputs,
            n_samples,
        }
    }
}

/// The memory a run of the circuit needs (bytes), by part.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryEstimate {
    /// Per weight: two conductances (f64) and their fault flags, the
    /// effective weight, the optimiser moments, the initial weights, the
    /// PC and backprop gradients and the update.
    pub weights: f64,
    /// Per unit and sample of the largest batch: activities, errors and the
    /// integrators' stage buffers.
    pub activities: f64,
    /// The data set (f64) and its train/test copies, and a synthetic
    /// source's teacher.
    pub data: f64,
}

impl MemoryEstimate {
    /// All parts (bytes).
    pub fn total(&self) -> f64 {
        self.weights + self.activities + self.data
    }
}

/// Estimates the memory of a run on data of `shape` (bytes, in f64 so that
/// huge sizes do not overflow).
pub fn memory_needed(c: &Circuit, shape: DataShape) -> MemoryEstimate {
    let n = &c.network;
    let (d_in, d_out) = (shape.n_features as f64, shape.n_outputs as f64);
    // Without a list the hidden widths are all `width`: sums in closed form,
    // so that a huge depth allocates nothing here.
    let resnet = (n.kind == NetworkKind::Resnet)
        .then(|| resnet_size(n, c.data.source, shape))
        .flatten();
    let transformer = (n.kind == NetworkKind::Transformer)
        .then(|| transformer_size(c, shape))
        .flatten();
    let (n_weights, units) = if let Some(size) = resnet.or(transformer) {
        size
    } else if n.hidden_widths.is_empty() {
        let (w, h) = (n.width as f64, n.depth.saturating_sub(1) as f64);
        if h == 0.0 {
            (d_in * d_out, d_in + d_out)
        } else {
            (
                d_in * w + (h - 1.0) * w * w + w * d_out,
                d_in + h * w + d_out,
            )
        }
    } else {
        let mut widths = vec![d_in];
        widths.extend(n.hidden_widths.iter().map(|&w| w as f64));
        widths.push(d_out);
        let weights: f64 = widths.windows(2).map(|w| w[0] * w[1]).sum();
        (weights, widths.iter().sum())
    };
    let scalar = match c.dtype {
        DType::F32 => 4.0,
        DType::F64 => 8.0,
    };
    let moments = match c.controller.optimiser {
        OptimiserKind::Adam => 2.0,
        _ => 1.0,
    };
    // A drifting device pair keeps its write time (f64).
    let drift = if c.device.drift_nu > 0.0 { 8.0 } else { 0.0 };
    let per_weight = 2.0 * 8.0 + 2.0 + 8.0 + drift + scalar * (5.0 + moments);
    let samples = match c.data.n_samples {
        0 => shape.n_samples,
        k => k.min(shape.n_samples.max(1)),
    } as f64;
    let batch = (c.train.batch_size as f64).max(EVAL_BATCH as f64);
    let data_values = if c.data.source == Source::Text {
        samples * 2.0 * c.data.seq_len as f64 // token ids, one-hot per batch
    } else {
        samples * (shape.n_features + shape.n_outputs) as f64
    };
    let teacher = match c.data.source {
        Source::TeacherStudent => {
            let d = &c.data;
            (d.teacher_width as f64) * (d.teacher_inputs + d.teacher_outputs) as f64
                + samples * d.teacher_width as f64
        }
        _ => 0.0,
    };
    MemoryEstimate {
        weights: n_weights * per_weight,
        activities: units * batch * scalar * 24.0,
        data: 8.0 * (2.0 * data_values + teacher),
    }
}

/// Weights and activity units (per sample) of a resnet on data of
/// `shape`, counting each convolution's patch matrices as units; `None`
/// when its layout does not fit the data (the chip's build says why).
fn resnet_size(n: &NetworkSpec, source: Source, shape: DataShape) -> Option<(f64, f64)> {
    let image = n.image_of(source)?;
    let spec = crate::net::ResNetSpec {
        image,
        channels: n.channels,
        blocks_per_stage: n.blocks_per_stage,
        stages: n.stages,
        kernel: n.kernel,
        n_out: shape.n_outputs,
    };
    let (kinds, widths) = spec.layout().ok()?;
    if widths[0] != shape.n_features {
        return None;
    }
    let (mut weights, mut units) = (0.0, widths.iter().sum::<usize>() as f64);
    for (kind, w) in kinds.iter().zip(widths.windows(2)) {
        let (rows, cols) = kind.array_shape(w[1], w[0]);
        weights += (rows * cols) as f64;
        // Two patch matrices (C_in·k² × pixels) a convolution, live at once.
        if let crate::net::LayerKind::Conv { h, w, .. } = *kind {
            units += 2.0 * (cols * h * w) as f64 / 24.0;
        }
    }
    Some((weights, units))
}

/// Weights and activity units (per sequence) of a transformer on data of
/// `shape`, counting each block's cached forward pass (about 16 T×N
/// matrices and two H×T×T score tensors) as units; `None` when its layout
/// does not fit the data.
fn transformer_size(c: &Circuit, shape: DataShape) -> Option<(f64, f64)> {
    let (n, t) = (&c.network, c.data.seq_len.max(1));
    let spec = crate::net::GptSpec {
        vocab: shape.n_outputs / t,
        seq_len: t,
        d_model: n.width,
        heads: n.n_heads,
        blocks: n.depth,
        mu_attention: true,
        layer_norm: n.layer_norm,
    };
    let (kinds, widths) = spec.layout().ok()?;
    let (mut weights, mut units) = (0.0, widths.iter().sum::<usize>() as f64);
    for (kind, w) in kinds.iter().zip(widths.windows(2)) {
        let (rows, cols) = kind.array_shape(w[1], w[0]);
        weights += (rows * cols) as f64;
    }
    let cache = (16 * t * n.width + 2 * n.n_heads * t * t) as f64;
    units += n.depth as f64 * cache / 24.0;
    Some((weights, units))
}

/// Memory this process may still use (bytes): the smaller of the system's
/// available memory and the room left under a cgroup limit; the
/// `PCCHIP_MEMORY_BYTES` environment variable overrides both. `None` when
/// unknown (no check is then made).
pub fn memory_available() -> Option<f64> {
    if let Ok(v) = std::env::var("PCCHIP_MEMORY_BYTES") {
        return v.trim().parse::<f64>().ok();
    }
    let kb = |text: &str, field: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(field))?
            .split_whitespace()
            .nth(1)?
            .parse::<f64>()
            .ok()
            .map(|k| k * 1024.0)
    };
    let system = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| kb(&t, "MemAvailable:"));
    let read = |p: &str| -> Option<f64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    let cgroup = match (
        read("/sys/fs/cgroup/memory.max"),
        read("/sys/fs/cgroup/memory.current"),
    ) {
        (Some(max), Some(cur)) => Some((max - cur).max(0.0)),
        _ => None,
    };
    match (system, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A byte count for people: "3.2 GB".
pub fn fmt_bytes(b: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    if i + 1 == units.len() && v >= 1000.0 {
        format!("{b:.1e} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// Refuses a circuit whose run on data of `shape` needs more memory than is
/// available, naming the key that drives the largest part and both figures.
pub fn check_memory(c: &Circuit, shape: DataShape) -> Result<(), BudgetError> {
    let Some(avail) = memory_available() else {
        return Ok(());
    };
    let m = memory_needed(c, shape);
    if m.total() <= avail {
        return Ok(());
    }
    let n = &c.network;
    let net_key = if n.kind == NetworkKind::Resnet {
        "network.channels"
    } else if !n.hidden_widths.is_empty() {
        "network.hidden_widths"
    } else if n.depth > n.width {
        "network.depth"
    } else {
        "network.width"
    };
    let key = if m.data >= m.weights.max(m.activities) {
        match c.data.source {
            Source::TeacherStudent | Source::GaussianToy => {
                let d = &c.data;
                if d.teacher_samples >= d.teacher_inputs.max(d.teacher_width) {
                    "data.teacher_samples"
                } else if d.teacher_inputs >= d.teacher_width {
                    "data.teacher_inputs"
                } else {
                    "data.teacher_width"
                }
            }
            _ => "data",
        }
    } else if m.activities > m.weights && c.train.batch_size > EVAL_BATCH {
        "train.batch_size"
    } else {
        net_key
    };
    Err(BudgetError::Memory {
        key: key.to_string(),
        need: m,
        available: avail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_grows_with_the_square_of_the_width() {
        let mut c = Circuit::default();
        let shape = DataShape::from_keys(&c);
        let small = memory_needed(&c, shape).weights;
        c.network.width *= 2;
        let big = memory_needed(&c, shape).weights;
        // Hidden-to-hidden layers dominate: between 2× and 4×.
        assert!(big > 2.0 * small && big < 4.0 * small, "{small} → {big}");
    }

    #[test]
    fn bounds_refuse_what_leaves_the_precision() {
        assert!(check_value(1e20, DType::F32).is_err());
        assert!(check_value(1e20, DType::F64).is_ok());
        assert!(check_value(1e-300, DType::F64).is_err());
        assert!(check_value(0.0, DType::F32).is_ok());
        assert!(check_value(f64::NAN, DType::F64).is_err());
    }
}
