//! Helpers for the layer tests: one product of a `Layer` into a fresh
//! matrix, and 2×2 average pooling by loops.

use nalgebra::DMatrix;
use pcchip::layer::Layer;

pub fn max_abs(m: &DMatrix<f64>) -> f64 {
    m.iter().fold(0.0, |a, v| a.max(v.abs()))
}

/// `l`'s prediction of `d`, into a NaN-filled matrix (every entry written).
pub fn predict(l: &dyn Layer<f64>, d: &DMatrix<f64>) -> DMatrix<f64> {
    let mut out = DMatrix::from_element(l.n_out(), d.ncols(), f64::NAN);
    l.predict_into(d, &mut out);
    out
}

/// `l`'s transposed feedback of `u`, into a NaN-filled matrix.
pub fn feedback(l: &dyn Layer<f64>, u: &DMatrix<f64>) -> DMatrix<f64> {
    let mut out = DMatrix::from_element(l.n_in(), u.ncols(), f64::NAN);
    l.feedback_into(u, &mut out);
    out
}

/// 2×2 means by loops: y[c, i, j] = ¼ Σ_{a,b∈{0,1}} x[c, 2i + a, 2j + b].
pub fn direct_pool(c: usize, h: usize, w: usize, x: &DMatrix<f64>) -> DMatrix<f64> {
    let (ho, wo) = (h / 2, w / 2);
    DMatrix::from_fn(c * ho * wo, x.ncols(), |row, b| {
        let (ch, i, j) = (row / (ho * wo), (row % (ho * wo)) / wo, row % wo);
        let mut s = 0.0;
        for a in 0..2 {
            for e in 0..2 {
                s += x[(ch * h * w + (2 * i + a) * w + 2 * j + e, b)];
            }
        }
        s / 4.0
    })
}
