//! Layer normalisation of each token (Ba, Kiros & Hinton 2016), without a
//! learned gain or bias, for the transformer block's optional pre-norm:
//!
//! ```text
//! y = (x − mean(x))·r,   r = 1/√(var(x) + ε)       per token of N units
//! J = ∂y/∂x = r·(I − 11ᵀ/N − y yᵀ/N)              (symmetric)
//! ```
//!
//! so the vector–Jacobian and Jacobian–vector products are one formula,
//! J·v = r·(v − mean(v) − y·mean(y ⊙ v)). The columns of the token matrices
//! (N × tokens) are the tokens.

use crate::real::Real;
use nalgebra::DMatrix;

/// ε added to each token's variance (PyTorch's `LayerNorm` default).
pub const LN_EPS: f64 = 1e-5;

/// Each column of `x` normalised, and its factor r = 1/√(var + ε).
pub fn normalise<T: Real>(x: &DMatrix<T>) -> (DMatrix<T>, Vec<T>) {
    let n = x.nrows();
    let inv_n = T::of(1.0 / n.max(1) as f64);
    let mut y = x.clone();
    let mut r = Vec::with_capacity(x.ncols());
    for mut col in y.column_iter_mut() {
        let mean = col.iter().fold(T::zero(), |s, &v| s + v) * inv_n;
        col.iter_mut().for_each(|v| *v -= mean);
        let var = col.iter().fold(T::zero(), |s, &v| s + v * v) * inv_n;
        let rt = T::one() / (var + T::of(LN_EPS)).sqrt();
        col.iter_mut().for_each(|v| *v *= rt);
        r.push(rt);
    }
    (y, r)
}

/// J·v (= Jᵀ·v) at the point whose normalised columns are `y` with factors `r`.
pub fn jacobian_apply<T: Real>(y: &DMatrix<T>, r: &[T], v: &DMatrix<T>) -> DMatrix<T> {
    assert_eq!(y.shape(), v.shape(), "layer norm: v and y differ in shape");
    let inv_n = T::of(1.0 / y.nrows().max(1) as f64);
    let mut out = v.clone();
    for ((mut o, yc), &rt) in out.column_iter_mut().zip(y.column_iter()).zip(r) {
        let mean = o.iter().fold(T::zero(), |s, &x| s + x) * inv_n;
        let proj = o
            .iter()
            .zip(yc.iter())
            .fold(T::zero(), |s, (&a, &b)| s + a * b)
            * inv_n;
        o.iter_mut()
            .zip(yc.iter())
            .for_each(|(o, &yi)| *o = rt * (*o - mean - yi * proj));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rows: usize, cols: usize, seed: u64) -> DMatrix<f64> {
        DMatrix::from_fn(rows, cols, |i, j| {
            let k = (i * 31 + j * 17) as f64 + seed as f64 * 0.37;
            (k * 0.7).sin() * 2.0 + 0.3 * (j as f64)
        })
    }

    #[test]
    fn columns_have_zero_mean_and_unit_variance() {
        let (y, r) = normalise(&sample(12, 5, 1));
        for (c, &rt) in y.column_iter().zip(&r) {
            let mean = c.sum() / 12.0;
            let var = c.iter().map(|v| v * v).sum::<f64>() / 12.0;
            assert!(mean.abs() < 1e-14);
            // var of y = var(x)/(var(x) + ε)
            assert!((var - 1.0).abs() < 1e-4 && rt > 0.0);
        }
    }

    /// J·v against central differences of `normalise`, and J symmetric.
    #[test]
    fn jacobian_matches_finite_differences() {
        let x = sample(8, 3, 2);
        let v = sample(8, 3, 5).map(|a| a.cos());
        let w = sample(8, 3, 9).map(|a| (2.0 * a).sin());
        let (y, r) = normalise(&x);
        let jv = jacobian_apply(&y, &r, &v);
        let h = 1e-6;
        let fd = (normalise(&(&x + &v * h)).0 - normalise(&(&x - &v * h)).0) / (2.0 * h);
        assert!((&jv - &fd).amax() < 1e-8 * fd.amax(), "J·v off");
        let jw = jacobian_apply(&y, &r, &w);
        let (a, b) = (w.dot(&jv), v.dot(&jw));
        assert!((a - b).abs() < 1e-12 * a.abs().max(1.0), "J not symmetric");
    }
}
