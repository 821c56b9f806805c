//! Weight files: `W1` … `WL` (`[n_out, n_in]`, safetensors), read to start
//! a run or `grads` from, written at the end of a run.

use crate::chip::Chip;
use crate::circuit::budget::{check_value, ValueError};
use crate::circuit::DType;
use crate::real::Real;
use crate::report::tensors::{read_tensors, write_tensors, Tensor};
use nalgebra::DMatrix;
use std::path::{Path, PathBuf};

/// A weight file that cannot be read or written, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file is not a readable safetensors file (the reader's message).
    #[error("{0}")]
    Read(#[from] crate::report::tensors::TensorError),
    /// A layer's tensor is missing.
    #[error("{}: no tensor `{name}` (expected W1 … W{depth})", path.display())]
    Missing {
        path: PathBuf,
        name: String,
        depth: usize,
    },
    /// A value a run of the circuit's dtype cannot hold, at (row, column).
    #[error("{}: {name}[{row}, {col}]: {source}", path.display())]
    Value {
        path: PathBuf,
        name: String,
        row: usize,
        col: usize,
        source: ValueError,
    },
    /// A tensor besides W1 … WL (the network has no layer for it).
    #[error("{}: unexpected tensor `{name}`; the network has {depth} layers (W1 … W{depth}) and reads nothing else", path.display())]
    Extra {
        path: PathBuf,
        name: String,
        depth: usize,
    },
    /// Writing failed (the writer's message).
    #[error("{0}")]
    Write(crate::report::tensors::TensorError),
}

/// Reads `W1` … `WL` from a safetensors file, each value inside the range
/// where a run of `dtype` stays finite.
pub fn load_weights<T: Real>(
    path: &Path,
    depth: usize,
    dtype: DType,
) -> Result<Vec<DMatrix<T>>, WeightsError> {
    let mut all = read_tensors::<f64>(path).map_err(WeightsError::Read)?;
    (1..=depth)
        .map(|l| {
            let name = format!("W{l}");
            let i =
                all.iter()
                    .position(|(n, _)| *n == name)
                    .ok_or_else(|| WeightsError::Missing {
                        path: path.into(),
                        name: name.clone(),
                        depth,
                    })?;
            checked(all.swap_remove(i).1, path, name, dtype)
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|w| match all.first() {
            // No silent leftovers: a tensor the network has no layer for.
            Some((name, _)) => Err(WeightsError::Extra {
                path: path.into(),
                name: name.clone(),
                depth,
            }),
            None => Ok(w),
        })
}

/// Checks the values of weights given in memory (`W1` … `WL` in order,
/// `[n_out, n_in]`) as a weight file's are checked; `source` names them in
/// messages (for the Python package, `weights`). Their count and shapes
/// are checked by the chip.
pub fn check_weights<T: Real>(
    weights: Vec<DMatrix<f64>>,
    dtype: DType,
    source: &Path,
) -> Result<Vec<DMatrix<T>>, WeightsError> {
    weights
        .into_iter()
        .enumerate()
        .map(|(l, w)| checked(w, source, format!("W{}", l + 1), dtype))
        .collect()
}

/// `w` converted to `T`, every value inside the range of `dtype`.
fn checked<T: Real>(
    w: DMatrix<f64>,
    path: &Path,
    name: String,
    dtype: DType,
) -> Result<DMatrix<T>, WeightsError> {
    for (k, &v) in w.iter().enumerate() {
        if let Err(source) = check_value(v, dtype) {
            return Err(WeightsError::Value {
                path: path.into(),
                name,
                row: k % w.nrows(),
                col: k / w.nrows(),
                source,
            });
        }
    }
    Ok(w.map(T::of))
}

/// Writes the chip's effective weights as `W1` … `WL`.
pub fn save_weights<T: Real>(chip: &Chip<T>, path: &Path) -> Result<(), WeightsError> {
    let tensors: Vec<(String, Tensor<T>)> = chip
        .cores()
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("W{}", i + 1), Tensor::Matrix(c.effective_weights())))
        .collect();
    write_tensors(path, &tensors).map_err(WeightsError::Write)
}
