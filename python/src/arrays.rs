//! numpy arrays in and out. In: any 2-D float32 or float64 array (any
//! strides), checked finite, copied once into the chip's column-major
//! matrices (the chip owns its weights and batch). Out: the library's
//! matrices handed to numpy without a copy — weights and gradients as
//! Fortran-ordered `[n_out, n_in]` arrays (an `nn.Linear` weight's shape),
//! activities as C-ordered `[B, n]` arrays (row = sample), both the
//! column-major buffer reinterpreted.

use crate::errors::input;
use nalgebra::DMatrix;
use numpy::ndarray::{Array2, ArrayView2, ShapeBuilder};
use numpy::{Element, PyArray1, PyArray2, PyReadonlyArray2};
use pcchip::Real;
use pyo3::prelude::*;

/// A float type both the chip and numpy know.
pub trait Scalar: Real + Element {}
impl<T: Real + Element> Scalar for T {}

/// How a Python array maps onto a chip matrix.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[rows, cols]` as given (weights `[n_out, n_in]`).
    AsIs,
    /// `[B, n]` given, `[n, B]` stored (a batch: column = sample).
    Batch,
}

/// The array `obj` (named `name` in messages) as a chip matrix of `T`.
pub fn matrix_in<T: Real>(
    obj: &Bound<'_, PyAny>,
    name: &str,
    layout: Layout,
) -> PyResult<DMatrix<T>> {
    if let Ok(a) = obj.extract::<PyReadonlyArray2<'_, f64>>() {
        return convert(a.as_array(), name, layout, |v| v);
    }
    if let Ok(a) = obj.extract::<PyReadonlyArray2<'_, f32>>() {
        return convert(a.as_array(), name, layout, f64::from);
    }
    Err(input(format!(
        "{name}: expected a 2-D float32 or float64 numpy array"
    )))
}

fn convert<S: Copy, T: Real>(
    a: ArrayView2<'_, S>,
    name: &str,
    layout: Layout,
    wide: impl Fn(S) -> f64,
) -> PyResult<DMatrix<T>> {
    let (r, c) = a.dim();
    if let Some(((i, j), v)) = a.indexed_iter().find(|(_, v)| !wide(**v).is_finite()) {
        return Err(input(format!(
            "{name}[{i}, {j}] is {}; every value must be finite",
            wide(*v)
        )));
    }
    Ok(match layout {
        Layout::AsIs => DMatrix::from_fn(r, c, |i, j| T::of(wide(a[[i, j]]))),
        Layout::Batch => DMatrix::from_fn(c, r, |i, b| T::of(wide(a[[b, i]]))),
    })
}

/// A weight-shaped matrix (`[n_out, n_in]`) as a Fortran-ordered array, no copy.
pub fn weights_out<'py, T: Scalar>(py: Python<'py>, m: DMatrix<T>) -> Bound<'py, PyArray2<T>> {
    let (r, c) = m.shape();
    let data: Vec<T> = m.data.into();
    let a = Array2::from_shape_vec((r, c).f(), data).expect("shape matches the buffer");
    PyArray2::from_owned_array(py, a)
}

/// A batch matrix (`[n, B]`, column = sample) as a C-ordered `[B, n]` array, no copy.
pub fn batch_out<'py, T: Scalar>(py: Python<'py>, m: DMatrix<T>) -> Bound<'py, PyArray2<T>> {
    let (n, b) = m.shape();
    let data: Vec<T> = m.data.into();
    let a = Array2::from_shape_vec((b, n), data).expect("shape matches the buffer");
    PyArray2::from_owned_array(py, a)
}

/// A column of numbers as a 1-D float64 array.
pub fn column<'py>(py: Python<'py>, v: Vec<f64>) -> Bound<'py, PyArray1<f64>> {
    PyArray1::from_vec(py, v)
}
