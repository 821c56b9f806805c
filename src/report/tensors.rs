//! Matrices in and out of safetensors files. Tensors are row-major
//! `[rows, cols]` (a weight W_ℓ is `[n_out, n_in]`, like a PyTorch Linear's
//! weight); scalars are 0-d tensors. Files are f32 or f64; reading converts to
//! the simulator's precision and rejects every other dtype by name.

use crate::real::Real;
use nalgebra::DMatrix;
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
use std::path::{Path, PathBuf};

/// Why tensors could not be written or read. Every variant but
/// [`TensorError::Encode`] names the file first.
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The bytes are not a safetensors file (header or sizes broken).
    #[error("{}: not a safetensors file: {source}", path.display())]
    Format {
        path: PathBuf,
        source: SafeTensorError,
    },
    /// Tensor `name` of the file could not be read.
    #[error("{}: {name}: {source}", path.display())]
    Tensor {
        path: PathBuf,
        name: String,
        source: SafeTensorError,
    },
    /// Tensor `name` has more than two dimensions.
    #[error("{}: {name}: expected a matrix, got shape {shape:?}", path.display())]
    NotMatrix {
        path: PathBuf,
        name: String,
        shape: Vec<usize>,
    },
    /// Tensor `name` is neither F32 nor F64.
    #[error("{}: {name}: dtype {dtype:?} is not supported; expected F32 or F64", path.display())]
    Dtype {
        path: PathBuf,
        name: String,
        dtype: Dtype,
    },
    /// Tensor `name` holds `got` values, not rows × cols.
    #[error("{}: {name}: {got} values for shape [{rows}, {cols}]", path.display())]
    Length {
        path: PathBuf,
        name: String,
        got: usize,
        rows: usize,
        cols: usize,
    },
    /// The tensors could not be encoded (nothing was written).
    #[error(transparent)]
    Encode(SafeTensorError),
}

/// A named tensor to write: a matrix or a scalar.
pub enum Tensor<'a, T: Real> {
    Matrix(&'a DMatrix<T>),
    Scalar(f64),
}

/// A tensor's dtype, shape and little-endian bytes.
type Encoded = (Dtype, Vec<usize>, Vec<u8>);

fn bytes_of<T: Real>(t: &Tensor<T>) -> Encoded {
    match t {
        Tensor::Scalar(v) => (Dtype::F64, vec![], v.to_le_bytes().to_vec()),
        Tensor::Matrix(m) => {
            let (r, c) = m.shape();
            let mut out = Vec::with_capacity(r * c * 8);
            for i in 0..r {
                for j in 0..c {
                    let v = m[(i, j)];
                    if T::NAME == "f32" {
                        out.extend((v.f64() as f32).to_le_bytes());
                    } else {
                        out.extend(v.f64().to_le_bytes());
                    }
                }
            }
            let dtype = if T::NAME == "f32" {
                Dtype::F32
            } else {
                Dtype::F64
            };
            (dtype, vec![r, c], out)
        }
    }
}

/// Writes named tensors to `path`.
pub fn write_tensors<T: Real>(
    path: &Path,
    tensors: &[(String, Tensor<T>)],
) -> Result<(), TensorError> {
    write_tensors_with_metadata(path, tensors, &[])
}

/// Writes named tensors to `path` with string metadata (the header's
/// `__metadata__`; none written when `metadata` is empty).
pub fn write_tensors_with_metadata<T: Real>(
    path: &Path,
    tensors: &[(String, Tensor<T>)],
    metadata: &[(String, String)],
) -> Result<(), TensorError> {
    let encoded: Vec<(String, Encoded)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), bytes_of(t)))
        .collect();
    let views = encoded
        .iter()
        .map(|(n, (d, s, b))| TensorView::new(*d, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(TensorError::Encode)?;
    let meta = (!metadata.is_empty()).then(|| metadata.iter().cloned().collect());
    let bytes = safetensors::tensor::serialize(views, meta).map_err(TensorError::Encode)?;
    std::fs::write(path, bytes).map_err(|source| TensorError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads every tensor of a safetensors file as a matrix (0-d and 1-d
/// tensors become 1×1 and 1×n).
pub fn read_tensors<T: Real>(path: &Path) -> Result<Vec<(String, DMatrix<T>)>, TensorError> {
    let bytes = std::fs::read(path).map_err(|source| TensorError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|source| TensorError::Format {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    let mut names: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    names.sort();
    for name in names {
        let view = st.tensor(&name).map_err(|source| TensorError::Tensor {
            path: path.to_path_buf(),
            name: name.clone(),
            source,
        })?;
        let (rows, cols) = match view.shape() {
            [] => (1, 1),
            [n] => (1, *n),
            [r, c] => (*r, *c),
            s => {
                return Err(TensorError::NotMatrix {
                    path: path.to_path_buf(),
                    name,
                    shape: s.to_vec(),
                })
            }
        };
        let data = view.data();
        let values: Vec<f64> = match view.dtype() {
            Dtype::F32 => data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64)
                .collect(),
            Dtype::F64 => data
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
            dtype => {
                return Err(TensorError::Dtype {
                    path: path.to_path_buf(),
                    name,
                    dtype,
                })
            }
        };
        if values.len() != rows * cols {
            return Err(TensorError::Length {
                path: path.to_path_buf(),
                name,
                got: values.len(),
                rows,
                cols,
            });
        }
        out.push((
            name,
            DMatrix::from_row_iterator(rows, cols, values.into_iter().map(T::of)),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_round_trip_exactly() {
        let dir = std::env::temp_dir().join(format!("pcchip-tensors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        let w1 = DMatrix::<f64>::from_fn(3, 5, |i, j| (i as f64 + 1.0) / (j as f64 + 3.0));
        let w2 = DMatrix::<f64>::from_fn(2, 3, |i, j| -(i as f64) * 0.1 + j as f64);
        write_tensors(
            &path,
            &[
                ("W1".into(), Tensor::Matrix(&w1)),
                ("W2".into(), Tensor::Matrix(&w2)),
                ("loss".into(), Tensor::Scalar(0.25)),
            ],
        )
        .unwrap();
        let back = read_tensors::<f64>(&path).unwrap();
        assert_eq!(back[0].0, "W1");
        assert_eq!(back[0].1, w1);
        assert_eq!(back[1].1, w2);
        assert_eq!(back[2].1[(0, 0)], 0.25);
        std::fs::remove_dir_all(&dir).ok();
    }

    /// A safetensors file by hand: 8-byte little-endian header length, JSON header, data.
    fn raw(header_len: Option<u64>, header: &str, data: &[u8]) -> Vec<u8> {
        let n = header_len.unwrap_or(header.len() as u64);
        let mut b = n.to_le_bytes().to_vec();
        b.extend(header.as_bytes());
        b.extend(data);
        b
    }

    /// Broken or foreign files give an error naming the file, never a panic.
    #[test]
    fn bad_files_are_errors_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("pcchip-badst-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let int = r#"{"W1":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"#;
        let f64h = r#"{"W1":{"dtype":"F64","shape":[2,2],"data_offsets":[0,32]}}"#;
        let cube = r#"{"W1":{"dtype":"F32","shape":[2,1,2],"data_offsets":[0,16]}}"#;
        let huge =
            r#"{"W1":{"dtype":"F32","shape":[4294967295,4294967295],"data_offsets":[0,16]}}"#;
        let cases: [(&str, Vec<u8>, &str); 8] = [
            ("int", raw(None, int, &[0; 16]), "dtype I32"),
            (
                "len",
                raw(Some(u64::MAX), f64h, &[0; 32]),
                "not a safetensors file",
            ),
            (
                "len2",
                raw(Some(1 << 40), f64h, &[0; 32]),
                "not a safetensors file",
            ),
            ("short", raw(None, f64h, &[0; 20]), "not a safetensors file"),
            ("stub", vec![1, 2, 3], "not a safetensors file"),
            (
                "json",
                raw(None, "{not json", &[]),
                "not a safetensors file",
            ),
            ("cube", raw(None, cube, &[0; 16]), "expected a matrix"),
            ("huge", raw(None, huge, &[0; 16]), "not a safetensors file"),
        ];
        for (tag, bytes, want) in cases {
            let path = dir.join(format!("{tag}.safetensors"));
            std::fs::write(&path, bytes).unwrap();
            let e = read_tensors::<f32>(&path).unwrap_err().to_string();
            assert!(
                e.starts_with(&path.display().to_string()) && e.contains(want),
                "{tag}: {e}"
            );
        }
        let e = read_tensors::<f64>(&dir.join("missing.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.safetensors"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
