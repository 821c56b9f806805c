//! Checkpoints of a training run: the chip's full state, saved every K steps
//! into `<out>/checkpoint/`, so that `pcchip run --resume <out>` continues to
//! exactly the numbers of an uninterrupted run.
//!
//! A checkpoint is a folder of two files:
//! - `state.json`: the step, the position in the epoch's batch order, both
//!   random streams (seed, stream, word position), the optimiser's step
//!   count, the damping in force, each array's scale, drift clock and
//!   counters, the run's settings (data folder, checkpoint interval, wall
//!   time so far, length of relaxation.csv) and the report so far, which
//!   holds the circuit;
//! - `tensors.safetensors` (F64): per layer ℓ, `L{ℓ}.g_pos_us`,
//!   `L{ℓ}.g_neg_us` (conductances, µS), `L{ℓ}.stuck_pos`, `L{ℓ}.stuck_neg`
//!   (0 free, 1 stuck at G_min, 2 at G_max), `L{ℓ}.m` and, with Adam,
//!   `L{ℓ}.v` (optimiser moments), all `[n_out, n_in]`.
//!
//! Writing is atomic: the files go to `checkpoint.tmp/` and are synced; the
//! old `checkpoint/` is renamed to `checkpoint.old/`, the new one renamed
//! into place, and the old one removed. A kill at any moment leaves a
//! complete `checkpoint/` or, between the two renames, a complete
//! `checkpoint.old/`, which [`locate`] then uses.

use crate::chip::{Chip, ChipState};
use crate::net::OptimiserKind;
use crate::real::Real;
use crate::report::tensors::{read_tensors, write_tensors, Tensor};
use crate::report::Report;
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Folder of the current checkpoint inside a run's folder.
pub const DIR: &str = "checkpoint";
/// The previous checkpoint while a new one is being put in place.
pub const OLD: &str = "checkpoint.old";
const TMP: &str = "checkpoint.tmp";
const STATE: &str = "state.json";
const TENSORS: &str = "tensors.safetensors";
/// Version of the layout; a checkpoint of another version is refused.
pub const FORMAT: u32 = 1;

/// A checkpoint that cannot be written or read back, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file or folder operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The tensors file could not be written or read (the tensor I/O's message).
    #[error("{0}")]
    Tensors(#[from] crate::report::tensors::TensorError),
    /// The state could not be encoded as JSON.
    #[error("{0}")]
    Encode(serde_json::Error),
    /// `state.json` is not JSON at all.
    #[error("{}: not valid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// `state.json` is JSON but not a checkpoint state.
    #[error("{}: {source}", path.display())]
    Decode {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// A layout version this pcchip does not read.
    #[error("{}: checkpoint format {found:?}; this pcchip reads format {FORMAT}", path.display())]
    Format { path: PathBuf, found: Option<u64> },
    /// The run folder holds no complete checkpoint.
    #[error("{}: no checkpoint to resume from ({DIR}/{STATE} is missing); start runs with --checkpoint-every K", run_dir.display())]
    Missing { run_dir: PathBuf },
    /// The checkpoint does not fit the chip (layers, shapes, optimiser,
    /// codes, random streams).
    #[error("{}: {message}", path.display())]
    Mismatch { path: PathBuf, message: String },
}

/// A random stream's saved position that does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RngError {
    #[error("random stream: bad seed `{0}`")]
    Seed(String),
    #[error("random stream: bad word_pos `{0}`")]
    WordPos(String),
}

/// A ChaCha8 stream's position: seed (hex), stream number, 32-bit word offset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    pub seed: String,
    pub stream: u64,
    /// Decimal (a u128).
    pub word_pos: String,
}

impl RngState {
    /// The position of `rng`.
    pub fn of(rng: &ChaCha8Rng) -> Self {
        RngState {
            seed: rng.get_seed().iter().map(|b| format!("{b:02x}")).collect(),
            stream: rng.get_stream(),
            word_pos: rng.get_word_pos().to_string(),
        }
    }

    /// The generator at this position.
    pub fn rng(&self) -> Result<ChaCha8Rng, RngError> {
        let bad = || RngError::Seed(self.seed.clone());
        if self.seed.len() != 64 || !self.seed.is_ascii() {
            return Err(bad());
        }
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.seed[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        let pos: u128 = self
            .word_pos
            .parse()
            .map_err(|_| RngError::WordPos(self.word_pos.clone()))?;
        let mut rng = ChaCha8Rng::from_seed(seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(pos);
        Ok(rng)
    }
}

/// One array's scalars (its matrices are in the tensors file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerState {
    /// (n_out, n_in).
    pub shape: (usize, usize),
    pub scale_us_per_unit: f64,
    /// The array's age on the chip's clock (s); with drift on, each pair's
    /// write time is the tensor `L{l}.drift_written_s`.
    #[serde(default)]
    pub drift_now_s: f64,
    pub n_saturated_program: usize,
    pub n_saturated_update: usize,
}

/// Where the run stands and how it was started, besides the chip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Epoch of the next step, and the batches of that epoch already done.
    pub epoch: usize,
    pub batch: usize,
    /// Checkpoint interval in steps (0 = never).
    pub checkpoint_every: usize,
    /// Folder that relative data paths in the circuit refer to.
    pub base_dir: PathBuf,
    /// Wall-clock time spent so far (s).
    pub wall_s: f64,
    /// Bytes of relaxation.csv written up to this step.
    pub relaxation_csv_bytes: u64,
}

/// The contents of `state.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    pub pcchip_version: String,
    /// Training steps taken.
    pub step: usize,
    pub run: RunState,
    pub rng_write: RngState,
    pub rng_noise: RngState,
    /// Optimiser steps taken (Adam's bias correction).
    pub optimiser_t: u64,
    /// Damping in force (inertial dynamics, resolved when automatic).
    pub damping: Option<f64>,
    /// Derivative gain in force ("inertial-pd", resolved when automatic).
    #[serde(default)]
    pub derivative: Option<f64>,
    /// The chip's simulated clock, s (drift ages the arrays on it).
    #[serde(default)]
    pub clock_s: f64,
    pub layers: Vec<LayerState>,
    /// The report up to this step (holds the circuit).
    pub report: Report,
}

fn to_f64<T: Real>(m: &DMatrix<T>) -> DMatrix<f64> {
    m.map(|x| x.f64())
}

fn codes(shape: (usize, usize), c: &[u8]) -> DMatrix<f64> {
    DMatrix::from_iterator(shape.0, shape.1, c.iter().map(|&v| f64::from(v)))
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Saves the chip's state with the run's `run` state and `report` into
/// `out_dir/checkpoint/`, atomically (see the module doc).
pub fn save<T: Real>(
    out_dir: &Path,
    chip: &Chip<T>,
    run: RunState,
    report: &Report,
) -> Result<(), CheckpointError> {
    let ctx = |source: std::io::Error| CheckpointError::Io {
        path: out_dir.join(DIR),
        source,
    };
    let mut layers = Vec::new();
    let mut tensors: Vec<(String, DMatrix<f64>)> = Vec::new();
    let chip_state = chip.state();
    let (m, v) = &chip_state.moments;
    for (i, s) in chip_state.cores.iter().cloned().enumerate() {
        let l = i + 1;
        let shape = s.g_pos_us.shape();
        layers.push(LayerState {
            shape,
            scale_us_per_unit: s.scale_us_per_unit,
            drift_now_s: s.drift.now_s,
            n_saturated_program: s.n_saturated_program,
            n_saturated_update: s.n_saturated_update,
        });
        if !s.drift.written_s.is_empty() {
            let mat = |v: &[f64]| DMatrix::from_column_slice(shape.0, shape.1, v);
            tensors.push((format!("L{l}.drift_written_s"), mat(&s.drift.written_s)));
        }
        tensors.push((format!("L{l}.stuck_pos"), codes(shape, &s.stuck_pos)));
        tensors.push((format!("L{l}.stuck_neg"), codes(shape, &s.stuck_neg)));
        tensors.push((format!("L{l}.g_pos_us"), s.g_pos_us));
        tensors.push((format!("L{l}.g_neg_us"), s.g_neg_us));
        tensors.push((format!("L{l}.m"), to_f64(&m[i])));
        if let Some(v) = v.get(i) {
            tensors.push((format!("L{l}.v"), to_f64(v)));
        }
    }
    let state = State {
        format: FORMAT,
        pcchip_version: env!("CARGO_PKG_VERSION").into(),
        step: chip_state.step,
        run,
        rng_write: RngState::of(&chip_state.rng_write),
        rng_noise: RngState::of(&chip_state.rng_noise),
        optimiser_t: chip_state.optimiser_t,
        damping: chip_state.damping,
        derivative: chip_state.derivative,
        clock_s: chip_state.clock_s,
        layers,
        report: report.clone(),
    };
    let json = serde_json::to_vec_pretty(&state).map_err(CheckpointError::Encode)?;
    let tmp = out_dir.join(TMP);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(ctx)?;
    }
    std::fs::create_dir_all(&tmp).map_err(ctx)?;
    let named: Vec<(String, Tensor<f64>)> = tensors
        .iter()
        .map(|(n, m)| (n.clone(), Tensor::Matrix(m)))
        .collect();
    write_tensors(&tmp.join(TENSORS), &named).map_err(CheckpointError::Tensors)?;
    std::fs::write(tmp.join(STATE), json).map_err(ctx)?;
    for f in [TENSORS, STATE] {
        File::open(tmp.join(f))
            .and_then(|f| f.sync_all())
            .map_err(ctx)?;
    }
    sync_dir(&tmp).map_err(ctx)?;
    let (cur, old) = (out_dir.join(DIR), out_dir.join(OLD));
    if cur.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(ctx)?;
        }
        std::fs::rename(&cur, &old).map_err(ctx)?;
    }
    std::fs::rename(&tmp, &cur).map_err(ctx)?;
    sync_dir(out_dir).map_err(ctx)?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(ctx)?;
    }
    Ok(())
}

/// Removes any checkpoint of an earlier run from `run_dir` (a fresh run
/// must never be resumed from another run's state).
pub fn clear(run_dir: &Path) -> std::io::Result<()> {
    for d in [DIR, OLD, TMP] {
        let p = run_dir.join(d);
        if p.exists() {
            std::fs::remove_dir_all(p)?;
        }
    }
    Ok(())
}

/// The complete checkpoint folder of the run in `run_dir`: `checkpoint/`,
/// else `checkpoint.old/` (a save interrupted between its renames).
pub fn locate(run_dir: &Path) -> Result<PathBuf, CheckpointError> {
    [DIR, OLD]
        .iter()
        .map(|d| run_dir.join(d))
        .find(|d| d.join(STATE).is_file())
        .ok_or_else(|| CheckpointError::Missing {
            run_dir: run_dir.into(),
        })
}

/// Reads `state.json` of the checkpoint folder `dir`.
pub fn read_state(dir: &Path) -> Result<State, CheckpointError> {
    let path = dir.join(STATE);
    let text = std::fs::read_to_string(&path).map_err(|source| CheckpointError::Io {
        path: path.clone(),
        source,
    })?;
    let format = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|source| CheckpointError::Json {
            path: path.clone(),
            source,
        })?
        .get("format")
        .and_then(serde_json::Value::as_u64);
    if format != Some(u64::from(FORMAT)) {
        return Err(CheckpointError::Format {
            path,
            found: format,
        });
    }
    serde_json::from_str(&text).map_err(|source| CheckpointError::Decode { path, source })
}

/// Overwrites `chip`'s state with the checkpoint `state` and the tensors of
/// the checkpoint folder `dir`. `Err` names the file and what does not match
/// the chip (layer count, shapes, optimiser).
pub fn restore<T: Real>(
    chip: &mut Chip<T>,
    state: &State,
    dir: &Path,
) -> Result<(), CheckpointError> {
    let path = dir.join(TENSORS);
    let here = |message: String| CheckpointError::Mismatch {
        path: path.clone(),
        message,
    };
    if state.layers.len() != chip.cores().len() {
        return Err(here(format!(
            "{} layers; the circuit builds {}",
            state.layers.len(),
            chip.cores().len()
        )));
    }
    let mut all = read_tensors::<f64>(&path).map_err(CheckpointError::Tensors)?;
    let mut take = |name: String, shape: (usize, usize)| {
        let i = all
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| here(format!("no tensor `{name}`")))?;
        let m = all.swap_remove(i).1;
        if m.shape() != shape {
            return Err(here(format!(
                "`{name}` is {} × {}; the circuit builds {} × {}",
                m.nrows(),
                m.ncols(),
                shape.0,
                shape.1
            )));
        }
        Ok(m)
    };
    let adam = chip.optimiser().kind == OptimiserKind::Adam;
    let mut cores = Vec::new();
    let (mut m, mut v) = (Vec::new(), Vec::new());
    for (i, (layer, core)) in state.layers.iter().zip(chip.cores()).enumerate() {
        let l = i + 1;
        let shape = core.effective_weights().shape();
        if layer.shape != shape {
            return Err(here(format!(
                "layer {l} is {} × {}; the circuit builds {} × {}",
                layer.shape.0, layer.shape.1, shape.0, shape.1
            )));
        }
        let code = |m: DMatrix<f64>, name: &str| -> Result<Vec<u8>, CheckpointError> {
            m.iter()
                .map(|&c| {
                    (c == c.round() && (0.0..=2.0).contains(&c))
                        .then_some(c as u8)
                        .ok_or_else(|| here(format!("`L{l}.{name}` holds {c}; expected 0, 1 or 2")))
                })
                .collect()
        };
        let mut s = core.state();
        s.g_pos_us = take(format!("L{l}.g_pos_us"), shape)?;
        s.g_neg_us = take(format!("L{l}.g_neg_us"), shape)?;
        s.stuck_pos = code(take(format!("L{l}.stuck_pos"), shape)?, "stuck_pos")?;
        s.stuck_neg = code(take(format!("L{l}.stuck_neg"), shape)?, "stuck_neg")?;
        s.scale_us_per_unit = layer.scale_us_per_unit;
        s.drift.now_s = layer.drift_now_s;
        if !s.drift.written_s.is_empty() {
            s.drift.written_s = take(format!("L{l}.drift_written_s"), shape)?
                .as_slice()
                .to_vec();
        }
        s.n_saturated_program = layer.n_saturated_program;
        s.n_saturated_update = layer.n_saturated_update;
        cores.push(s);
        m.push(take(format!("L{l}.m"), shape)?.map(T::of));
        if adam {
            v.push(take(format!("L{l}.v"), shape)?.map(T::of));
        }
    }
    if let Some((name, _)) = all.first() {
        return Err(here(format!(
            "unexpected tensor `{name}` (optimiser {:?})",
            chip.optimiser().kind
        )));
    }
    let rng_write = state.rng_write.rng().map_err(|e| here(e.to_string()))?;
    let rng_noise = state.rng_noise.rng().map_err(|e| here(e.to_string()))?;
    chip.restore(ChipState {
        cores,
        moments: (m, v),
        optimiser_t: state.optimiser_t,
        rng_write,
        rng_noise,
        step: state.step,
        damping: state.damping,
        derivative: state.derivative,
        clock_s: state.clock_s,
    })
    .map_err(|e| here(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// A stream saved mid-block (odd word offsets included) continues exactly.
    #[test]
    fn rng_state_round_trips_at_any_position() {
        for skip in [0usize, 1, 3, 15, 16, 17, 63, 64, 65, 200] {
            let mut a = crate::chip::stream(42, 7);
            for _ in 0..skip {
                a.next_u32();
            }
            let _ = a.next_u64();
            let mut b = RngState::of(&a).rng().unwrap();
            let xa: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
            let xb: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
            assert_eq!(xa, xb, "after {skip} words");
        }
        let bad = RngState {
            seed: "zz".into(),
            stream: 0,
            word_pos: "0".into(),
        };
        assert!(bad.rng().unwrap_err().to_string().contains("seed"));
    }
}
