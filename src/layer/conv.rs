//! [`Conv2d`]: a k×k, stride-1, same-padded convolution (a cross-correlation,
//! no bias) whose kernel is one crossbar of C_out × (C_in·k²) conductances,
//! μ_ℓ = a_ℓ · conv_W(d) + s_ℓ z_{ℓ−1}. A residual block z ↦ z + a·conv(φ(z))
//! is a `Conv2d` with the skip and C_in = C_out.
//!
//! The crossbar is read once per output pixel with that pixel's input patch
//! as its vector: the prediction gathers the patches of all pixels and
//! samples as columns (im2col, see [`ConvShape`] for the layouts) and does
//! one batched product W·P through the core, so a sample costs H·W reads;
//! the feedback drives the crossbar from the other side, Wᵀ·U for every
//! pixel at once, and scatters the patch gradients back onto the pixels they
//! came from, summing overlaps (col2im). The branch is linear in d.
//!
//! Memory: each product holds a (C_in·k²) × (H·W·B) patch matrix and a
//! C_out × (H·W·B) pixel-major matrix, reused across calls.

use super::direct::{correlate, Taps};
use super::im2col::{col2im, im2col, to_channel_major, to_pixel_major, ConvShape};
use super::Layer;
use crate::operator::WeightOperator;
use crate::real::{gemm_abt, Real};
use nalgebra::DMatrix;
use std::sync::Mutex;

/// Where the kernel crossbar lives.
enum Kernel<'a, T: Real> {
    /// Borrowed from the chip's crossbar or the network.
    Borrowed(&'a dyn WeightOperator<T>),
    /// Owned (a plain matrix).
    Owned(DMatrix<T>),
}

/// A pool of work matrices, so that repeated products allocate nothing once
/// the shapes have been seen (a miss allocates; concurrent callers each get
/// their own).
struct Scratch<T: Real>(Mutex<Vec<DMatrix<T>>>);

/// Work matrices kept at most (two per direction, plus the gradient's).
const SCRATCH_KEEP: usize = 6;

impl<T: Real> Scratch<T> {
    fn new() -> Self {
        Scratch(Mutex::new(Vec::new()))
    }

    /// A `rows × cols` matrix of unspecified contents.
    fn take(&self, rows: usize, cols: usize) -> DMatrix<T> {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match pool.iter().position(|m| m.shape() == (rows, cols)) {
            Some(i) => pool.swap_remove(i),
            None => DMatrix::zeros(rows, cols),
        }
    }

    fn put(&self, m: DMatrix<T>) {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() >= SCRATCH_KEEP {
            pool.remove(0);
        }
        pool.push(m);
    }
}

/// A convolutional layer (activities C·H·W per sample, channel-major).
pub struct Conv2d<'a, T: Real> {
    kernel: Kernel<'a, T>,
    shape: ConvShape,
    multiplier: T,
    skip: bool,
    scratch: Scratch<T>,
}

impl<'a, T: Real> Conv2d<'a, T> {
    /// A layer over the kernel core `w` (a crossbar or a matrix,
    /// C_out × C_in·k², columns c·k² + di·k + dj), with branch multiplier
    /// `multiplier` and an identity skip when `skip` (which needs
    /// C_in = C_out). Panics on a core of the wrong shape.
    pub fn new(w: &'a dyn WeightOperator<T>, shape: ConvShape, multiplier: T, skip: bool) -> Self {
        Self::build(Kernel::Borrowed(w), shape, multiplier, skip)
    }

    /// A layer owning its kernel matrix (C_out × C_in·k²).
    pub fn owned(w: DMatrix<T>, shape: ConvShape, multiplier: T, skip: bool) -> Self {
        Self::build(Kernel::Owned(w), shape, multiplier, skip)
    }

    fn build(kernel: Kernel<'a, T>, shape: ConvShape, multiplier: T, skip: bool) -> Self {
        let layer = Conv2d {
            kernel,
            shape,
            multiplier,
            skip,
            scratch: Scratch::new(),
        };
        let core = layer.core();
        assert_eq!(
            (core.n_out(), core.n_in()),
            (shape.c_out, shape.patch_len()),
            "kernel core must be C_out × C_in·k²"
        );
        assert!(
            !skip || shape.c_in == shape.c_out,
            "an identity skip needs C_in = C_out"
        );
        layer
    }

    /// The geometry.
    pub fn shape(&self) -> ConvShape {
        self.shape
    }

    /// The kernel core (C_out × C_in·k²).
    pub fn core(&self) -> &dyn WeightOperator<T> {
        match &self.kernel {
            Kernel::Borrowed(c) => *c,
            Kernel::Owned(w) => w,
        }
    }

    /// The convolution as an explicit (C_out·H·W) × (C_in·H·W) matrix, when
    /// the core exposes its kernel matrix: conv_W(d) = M·d. A linear CNN is
    /// then a linear network (for closed-form checks; dense, so small images).
    pub fn unrolled(&self) -> Option<DMatrix<T>> {
        let kernel = self.core().matrix()?;
        let s = self.shape;
        let (hw, k, pad) = (s.pixels(), s.k, s.k / 2);
        let mut m = DMatrix::zeros(s.n_out(), s.n_in());
        for o in 0..s.c_out {
            for c in 0..s.c_in {
                for di in 0..k {
                    let (i_lo, i_hi) = s.valid(s.h, di);
                    for dj in 0..k {
                        let (j_lo, j_hi) = s.valid(s.w, dj);
                        let wt = kernel[(o, (c * k + di) * k + dj)];
                        for i in i_lo..i_hi {
                            for j in j_lo..j_hi {
                                let src = c * hw + (i + di - pad) * s.w + j + dj - pad;
                                m[(o * hw + i * s.w + j, src)] = wt;
                            }
                        }
                    }
                }
            }
        }
        Some(m)
    }
}

impl<T: Real> Layer<T> for Conv2d<'_, T> {
    fn n_in(&self) -> usize {
        self.shape.n_in()
    }
    fn n_out(&self) -> usize {
        self.shape.n_out()
    }
    fn multiplier(&self) -> T {
        self.multiplier
    }
    fn has_skip(&self) -> bool {
        self.skip
    }
    /// A direct convolution with the core's matrix when it exposes one
    /// (counted as one read of the core), else im2col, one batched product
    /// W·P through the core, back to channel-major.
    fn predict_into(&self, d: &DMatrix<T>, out: &mut DMatrix<T>) {
        let s = &self.shape;
        if let Some(w) = self.core().matrix() {
            correlate(&Taps::forward(s, w), s.h, s.w, d, out);
            self.core().count_read();
            return;
        }
        let cols = s.pixels() * d.ncols();
        let mut p = self.scratch.take(s.patch_len(), cols);
        im2col(s, d, &mut p);
        let mut y = self.scratch.take(s.c_out, cols);
        self.core().forward_into(&p, &mut y);
        to_channel_major(s.c_out, &y, out);
        self.scratch.put(p);
        self.scratch.put(y);
    }
    /// The direct transposed convolution when the core exposes its matrix,
    /// else pixel-major, one batched transposed product Wᵀ·U, col2im.
    fn feedback_into(&self, u: &DMatrix<T>, out: &mut DMatrix<T>) {
        let s = &self.shape;
        if let Some(w) = self.core().matrix() {
            correlate(&Taps::transposed(s, w), s.h, s.w, u, out);
            self.core().count_read();
            return;
        }
        let cols = s.pixels() * u.ncols();
        let mut up = self.scratch.take(s.c_out, cols);
        to_pixel_major(s.c_out, u, &mut up);
        let mut q = self.scratch.take(s.patch_len(), cols);
        self.core().transpose_into(&up, &mut q);
        col2im(s, &q, out);
        self.scratch.put(up);
        self.scratch.put(q);
    }
    /// −a_ℓ Λ_ℓ · mean_b Σ_pixels ε·patchᵀ (C_out × C_in·k²), the dense
    /// layer's `layer_weight_grad` with the patches as drives (the same
    /// scalar and product, so a 1×1 kernel on a 1×1 image gives it exactly).
    fn weight_grad(&self, error: &DMatrix<T>, drive: &DMatrix<T>, precision: T) -> DMatrix<T> {
        let s = &self.shape;
        let batch = error.ncols();
        let cols = s.pixels() * batch;
        let mut e = self.scratch.take(s.c_out, cols);
        to_pixel_major(s.c_out, error, &mut e);
        let mut p = self.scratch.take(s.patch_len(), cols);
        im2col(s, drive, &mut p);
        let inv_batch = T::of(1.0 / batch.max(1) as f64);
        let mut g = DMatrix::zeros(s.c_out, s.patch_len());
        gemm_abt(
            -self.multiplier * precision * inv_batch,
            &e,
            &p,
            T::zero(),
            &mut g,
        );
        self.scratch.put(e);
        self.scratch.put(p);
        g
    }
    /// One read per output pixel.
    fn reads_per_sample(&self) -> usize {
        self.shape.pixels()
    }
    /// Per input unit (c, i, j), the sum of the squared kernel entries that
    /// touch it: Σ_o Σ_{(di,dj) with output pixel (i − di + k/2, j − dj + k/2)
    /// inside} W[o, c, di, dj]², from the core's per-column sums.
    fn column_sq_norms(&self) -> Option<Vec<T>> {
        let per_tap = self.core().column_sq_norms()?;
        let s = &self.shape;
        let (hw, k) = (s.pixels(), s.k);
        let mut out = vec![T::zero(); s.n_in()];
        // Input pixel ii is touched through offset di by output pixel
        // ii + k/2 − di; its range of ii mirrors `valid`'s (ii = i + di − k/2).
        for c in 0..s.c_in {
            let plane = &mut out[c * hw..(c + 1) * hw];
            for di in 0..k {
                let (i_lo, i_hi) = s.valid(s.h, di);
                for dj in 0..k {
                    let (j_lo, j_hi) = s.valid(s.w, dj);
                    if j_lo == j_hi {
                        continue;
                    }
                    let tap = per_tap[(c * k + di) * k + dj];
                    for i in i_lo..i_hi {
                        let start = (i + di - k / 2) * s.w + j_lo + dj - k / 2;
                        for x in &mut plane[start..start + (j_hi - j_lo)] {
                            *x += tap;
                        }
                    }
                }
            }
        }
        Some(out)
    }
}
