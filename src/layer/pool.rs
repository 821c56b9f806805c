//! [`AvgPool2x2`]: 2×2 average pooling of C-channel H×W images (H, W even)
//! into C × H/2 × W/2, channel-major per sample like every activity.
//!
//! It has no weights and reads no crossbar: it is digital (or a passive
//! averaging network), so its multiplier is 1, it has no skip, its weight
//! gradient is an empty 0×0 matrix and it costs 0 reads a sample.

use super::Layer;
use crate::real::Real;
use nalgebra::DMatrix;
use std::marker::PhantomData;

/// 2×2 average pooling, stride 2.
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2x2<T: Real> {
    channels: usize,
    h: usize,
    w: usize,
    _t: PhantomData<T>,
}

impl<T: Real> AvgPool2x2<T> {
    /// Pooling of `channels` images of `h × w` pixels; panics unless h and w
    /// are even and positive.
    pub fn new(channels: usize, h: usize, w: usize) -> Self {
        assert!(channels > 0, "pooling needs a channel");
        assert!(
            h > 0 && w > 0 && h.is_multiple_of(2) && w.is_multiple_of(2),
            "2×2 pooling needs even, positive H and W (got {h}×{w})"
        );
        AvgPool2x2 {
            channels,
            h,
            w,
            _t: PhantomData,
        }
    }

    /// Output image height and width (H/2, W/2).
    pub fn out_hw(&self) -> (usize, usize) {
        (self.h / 2, self.w / 2)
    }
}

impl<T: Real> Layer<T> for AvgPool2x2<T> {
    fn n_in(&self) -> usize {
        self.channels * self.h * self.w
    }
    fn n_out(&self) -> usize {
        self.channels * self.h * self.w / 4
    }
    fn multiplier(&self) -> T {
        T::one()
    }
    fn has_skip(&self) -> bool {
        false
    }
    /// Each output is the mean of its 2×2 block.
    fn predict_into(&self, d: &DMatrix<T>, out: &mut DMatrix<T>) {
        let (n_in, n_out, w, wo) = (self.n_in(), self.n_out(), self.w, self.w / 2);
        assert_eq!(d.nrows(), n_in, "pooling input rows");
        assert_eq!(out.shape(), (n_out, d.ncols()), "pooling output shape");
        let quarter = T::of(0.25);
        for (src, dst) in d
            .as_slice()
            .chunks_exact(n_in)
            .zip(out.as_mut_slice().chunks_exact_mut(n_out))
        {
            for (row_pair, out_row) in src.chunks_exact(2 * w).zip(dst.chunks_exact_mut(wo)) {
                let (top, bottom) = row_pair.split_at(w);
                for ((o, t), b) in out_row
                    .iter_mut()
                    .zip(top.chunks_exact(2))
                    .zip(bottom.chunks_exact(2))
                {
                    *o = quarter * ((t[0] + t[1]) + (b[0] + b[1]));
                }
            }
        }
    }
    /// The transpose: each output value ÷ 4 spread over its 2×2 block.
    fn feedback_into(&self, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        let (n_in, n_out, w, wo) = (self.n_in(), self.n_out(), self.w, self.w / 2);
        assert_eq!(u.nrows(), n_out, "pooling feedback rows");
        assert_eq!(out.shape(), (n_in, u.ncols()), "pooling feedback shape");
        let quarter = T::of(0.25);
        for (src, dst) in u
            .as_slice()
            .chunks_exact(n_out)
            .zip(out.as_mut_slice().chunks_exact_mut(n_in))
        {
            for (u_row, row_pair) in src.chunks_exact(wo).zip(dst.chunks_exact_mut(2 * w)) {
                let (top, bottom) = row_pair.split_at_mut(w);
                for ((v, t), b) in u_row
                    .iter()
                    .zip(top.chunks_exact_mut(2))
                    .zip(bottom.chunks_exact_mut(2))
                {
                    let q = quarter * *v;
                    t.fill(q);
                    b.fill(q);
                }
            }
        }
    }
    /// No weights: an empty 0×0 matrix.
    fn weight_grad(&self, _error: &DMatrix<T>, _drive: &DMatrix<T>, _precision: T) -> DMatrix<T> {
        DMatrix::zeros(0, 0)
    }
    /// Digital or passive: no crossbar reads.
    fn reads_per_sample(&self) -> usize {
        0
    }
    /// Every input enters one output with weight ¼: 1/16 each.
    fn column_sq_norms(&self) -> Option<Vec<T>> {
        Some(vec![T::of(1.0 / 16.0); self.n_in()])
    }
}
