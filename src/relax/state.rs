//! The integrators' state: a list of `n × B` matrices (one per hidden layer,
//! and for inertial dynamics one more per layer for the velocities), with the
//! few vector-space operations the integrators need. Sums run over layers in
//! a fixed order, so results never depend on the thread count.

use crate::real::{elementwise, Real};
use nalgebra::DMatrix;

/// A point of the relaxation's state space.
pub type State<T> = Vec<DMatrix<T>>;

/// A zero state with the shapes of `like`.
pub fn zeros_like<T: Real>(like: &[DMatrix<T>]) -> State<T> {
    like.iter()
        .map(|m| DMatrix::zeros(m.nrows(), m.ncols()))
        .collect()
}

/// `dst ← src` in `dst`'s precision (reshaped if the shapes differ).
pub fn convert_matrix<T: Real, S: Real>(src: &DMatrix<T>, dst: &mut DMatrix<S>) {
    if dst.shape() != src.shape() {
        *dst = DMatrix::zeros(src.nrows(), src.ncols());
    }
    for (d, s) in dst.iter_mut().zip(src.iter()) {
        *d = S::of(s.f64());
    }
}

/// `dst ← src` in `dst`'s precision, matrix by matrix.
pub fn convert<T: Real, S: Real>(src: &[DMatrix<T>], dst: &mut Vec<DMatrix<S>>) {
    dst.resize_with(src.len(), || DMatrix::zeros(0, 0));
    for (s, d) in src.iter().zip(dst.iter_mut()) {
        convert_matrix(s, d);
    }
}

/// `y ← y + α·x` for one matrix.
#[inline]
pub fn mat_axpy<T: Real>(y: &mut DMatrix<T>, alpha: T, x: &DMatrix<T>) {
    y.zip_apply(x, |yi, xi| *yi += alpha * xi);
}

/// `y ← y + α·x`.
pub fn axpy<T: Real>(alpha: T, x: &[DMatrix<T>], y: &mut [DMatrix<T>]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        mat_axpy(yi, alpha, xi);
    }
}

/// `out ← y + Σ_k c_k·x_k` (`y` = 0 when `None`): the stage combination of a
/// Runge–Kutta method; terms with c_k = 0 are skipped.
pub fn combine<T: Real>(
    out: &mut [DMatrix<T>],
    y: Option<&[DMatrix<T>]>,
    terms: &[(f64, &State<T>)],
) {
    for (i, o) in out.iter_mut().enumerate() {
        let mut live = terms.iter().filter(|(c, _)| *c != 0.0);
        let o = o.as_mut_slice();
        match (y, live.next()) {
            // The copy of y fused with the first term: the same sums.
            (Some(y), Some((c, x))) => {
                elementwise::sum_into(o, y[i].as_slice(), T::of(*c), x[i].as_slice())
            }
            (Some(y), None) => o.copy_from_slice(y[i].as_slice()),
            (None, first) => {
                o.fill(T::zero());
                if let Some((c, x)) = first {
                    elementwise::add_scaled(o, T::of(*c), x[i].as_slice());
                }
            }
        }
        for (c, x) in live {
            elementwise::add_scaled(o, T::of(*c), x[i].as_slice());
        }
    }
}

/// `⟨x, y⟩` summed over all layers (in f64).
pub fn dot<T: Real>(x: &[DMatrix<T>], y: &[DMatrix<T>]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(a, b)| {
            a.iter()
                .zip(b.iter())
                .map(|(p, q)| p.f64() * q.f64())
                .sum::<f64>()
        })
        .sum()
}

/// Copies `src` into `dst` (same shapes).
pub fn assign<T: Real>(dst: &mut [DMatrix<T>], src: &[DMatrix<T>]) {
    for (d, s) in dst.iter_mut().zip(src) {
        d.copy_from(s);
    }
}

/// Root-mean-square of each layer's entries.
pub fn layer_rms<T: Real>(x: &[DMatrix<T>]) -> Vec<f64> {
    x.iter()
        .map(|m| {
            if m.is_empty() {
                0.0
            } else {
                (m.iter().map(|v| v.f64().powi(2)).sum::<f64>() / m.len() as f64).sqrt()
            }
        })
        .collect()
}

/// The first non-finite or exploding entry: (layer index, value).
pub fn first_bad<T: Real>(x: &[DMatrix<T>], bound: f64) -> Option<(usize, f64)> {
    x.iter().enumerate().find_map(|(k, m)| {
        if elementwise::all_within(m.as_slice(), bound) {
            return None;
        }
        m.iter()
            .map(|v| v.f64())
            .find(|v| !v.is_finite() || v.abs() > bound)
            .map(|v| (k, v))
    })
}

/// Mixed absolute/relative error norm of `err` against the states `y0`, `y1`
/// (Hairer's rms norm): sqrt(mean (e / (atol + rtol·max(|y0|, |y1|)))²).
pub fn error_norm<T: Real>(
    err: &[DMatrix<T>],
    y0: &[DMatrix<T>],
    y1: &[DMatrix<T>],
    atol: f64,
    rtol: f64,
) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for ((e, a), b) in err.iter().zip(y0).zip(y1) {
        for ((ei, ai), bi) in e.iter().zip(a.iter()).zip(b.iter()) {
            let scale = atol + rtol * ai.f64().abs().max(bi.f64().abs());
            sum += (ei.f64() / scale).powi(2);
            n += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64).sqrt()
    }
}
