//! The index kernels of a same-padded, stride-1 convolution on crossbars:
//! [`ConvShape`] (the geometry), `im2col` (images → patches as columns),
//! `col2im` (patches → images, overlaps summed, its adjoint) and the
//! per-sample transposes between channel-major images and the crossbar's
//! pixel-major outputs.
//!
//! Layouts (B samples):
//!
//! - an **image batch** is `(C·H·W) × B`, channel-major per sample
//!   (index c·H·W + i·W + j, a PyTorch/equinox flatten);
//! - a **patch matrix** is `(C_in·k²) × (H·W·B)`: column b·H·W + i·W + j
//!   holds the patch around pixel (i, j) of sample b, row c·k² + di·k + dj
//!   the input x[c, i + di − k/2, j + dj − k/2] (0 outside the image);
//! - a **pixel-major** matrix is `C × (H·W·B)`: column b·H·W + i·W + j holds
//!   the C channels of pixel (i, j) of sample b (what the crossbar reads out).

use crate::real::Real;
use nalgebra::DMatrix;

/// Geometry of a k×k (k odd), stride-1, same-padded convolution of
/// C_in-channel H×W images into C_out channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Input channels C_in.
    pub c_in: usize,
    /// Output channels C_out.
    pub c_out: usize,
    /// Image height H (rows).
    pub h: usize,
    /// Image width W (columns).
    pub w: usize,
    /// Kernel size k (odd).
    pub k: usize,
}

impl ConvShape {
    /// The geometry; panics unless every size is positive and k is odd.
    pub fn new(c_in: usize, c_out: usize, h: usize, w: usize, k: usize) -> Self {
        assert!(
            c_in > 0 && c_out > 0 && h > 0 && w > 0,
            "convolution sizes must be positive"
        );
        assert!(k % 2 == 1, "kernel size must be odd (got {k})");
        ConvShape {
            c_in,
            c_out,
            h,
            w,
            k,
        }
    }

    /// Pixels per image, H·W.
    pub fn pixels(&self) -> usize {
        self.h * self.w
    }

    /// Patch length C_in·k², the kernel crossbar's column count.
    pub fn patch_len(&self) -> usize {
        self.c_in * self.k * self.k
    }

    /// Input units per sample, C_in·H·W.
    pub fn n_in(&self) -> usize {
        self.c_in * self.pixels()
    }

    /// Output units per sample, C_out·H·W.
    pub fn n_out(&self) -> usize {
        self.c_out * self.pixels()
    }

    /// The kernel crossbar (C_out × C_in·k²) from weights laid out
    /// [C_out, C_in, k, k] row-major (PyTorch's OIHW): row o, column
    /// c·k² + di·k + dj holds `w[o][c][di][dj]`.
    pub fn kernel_from_oihw<T: Real>(&self, w: &[T]) -> DMatrix<T> {
        assert_eq!(
            w.len(),
            self.c_out * self.patch_len(),
            "kernel needs C_out·C_in·k² weights"
        );
        DMatrix::from_row_slice(self.c_out, self.patch_len(), w)
    }

    /// Output indices i (or j) in `lo..hi` whose source index i + d − k/2
    /// lies inside `0..n`, for kernel offset d.
    pub(super) fn valid(&self, n: usize, d: usize) -> (usize, usize) {
        let pad = self.k / 2;
        let lo = pad.saturating_sub(d);
        let hi = (n + pad).saturating_sub(d).min(n);
        (lo, hi.max(lo))
    }

    /// The source index i + d − k/2 of output index i at kernel offset d,
    /// if it lies inside `0..n`.
    pub(super) fn source(&self, i: usize, d: usize, n: usize) -> Option<usize> {
        (i + d).checked_sub(self.k / 2).filter(|&ii| ii < n)
    }
}

/// `p ← patches of d`: `d` is `(C_in·H·W) × B`, `p` is
/// `(C_in·k²) × (H·W·B)` (see the module doc); padding entries are 0.
pub(super) fn im2col<T: Real>(s: &ConvShape, d: &DMatrix<T>, p: &mut DMatrix<T>) {
    let (hw, kk, n_in, k, w) = (s.pixels(), s.patch_len(), s.n_in(), s.k, s.w);
    assert_eq!(d.nrows(), n_in, "im2col input rows");
    assert_eq!(p.shape(), (kk, hw * d.ncols()), "im2col output shape");
    let dst_all = p.as_mut_slice();
    for (src_b, dst_b) in d
        .as_slice()
        .chunks_exact(n_in)
        .zip(dst_all.chunks_exact_mut(hw * kk))
    {
        // One output row i at a time: its w patches (w·kk values) stay in cache.
        for (i, dst_row) in dst_b.chunks_exact_mut(w * kk).enumerate() {
            dst_row.fill(T::zero());
            for di in 0..k {
                let Some(ii) = s.source(i, di, s.h) else {
                    continue;
                };
                for dj in 0..k {
                    let (j_lo, j_hi) = s.valid(w, dj);
                    if j_lo == j_hi {
                        continue;
                    }
                    let start = ii * w + j_lo + dj - k / 2;
                    for (c, plane) in src_b.chunks_exact(hw).enumerate() {
                        let r = (c * k + di) * k + dj;
                        let src = &plane[start..start + (j_hi - j_lo)];
                        for (col, y) in dst_row[j_lo * kk..j_hi * kk].chunks_exact_mut(kk).zip(src)
                        {
                            col[r] = *y;
                        }
                    }
                }
            }
        }
    }
}

/// `out ← col2im(q)`, the adjoint of [`im2col`]: each patch entry of `q`
/// (`(C_in·k²) × (H·W·B)`) is added to the input pixel it was read from;
/// `out` is `(C_in·H·W) × B`.
pub(super) fn col2im<T: Real>(s: &ConvShape, q: &DMatrix<T>, out: &mut DMatrix<T>) {
    let (hw, kk, n_in, k, w) = (s.pixels(), s.patch_len(), s.n_in(), s.k, s.w);
    assert_eq!(out.nrows(), n_in, "col2im output rows");
    assert_eq!(q.shape(), (kk, hw * out.ncols()), "col2im input shape");
    out.fill(T::zero());
    let src_all = q.as_slice();
    for (dst_b, src_b) in out
        .as_mut_slice()
        .chunks_exact_mut(n_in)
        .zip(src_all.chunks_exact(hw * kk))
    {
        for (i, src_row) in src_b.chunks_exact(w * kk).enumerate() {
            for di in 0..k {
                let Some(ii) = s.source(i, di, s.h) else {
                    continue;
                };
                for dj in 0..k {
                    let (j_lo, j_hi) = s.valid(w, dj);
                    if j_lo == j_hi {
                        continue;
                    }
                    let start = ii * w + j_lo + dj - k / 2;
                    for (c, plane) in dst_b.chunks_exact_mut(hw).enumerate() {
                        let r = (c * k + di) * k + dj;
                        let dst = &mut plane[start..start + (j_hi - j_lo)];
                        for (y, col) in dst
                            .iter_mut()
                            .zip(src_row[j_lo * kk..j_hi * kk].chunks_exact(kk))
                        {
                            *y += col[r];
                        }
                    }
                }
            }
        }
    }
}

/// `dst ← pixel-major copy of src`: `src` is `(C·P) × B` channel-major
/// (P pixels), `dst` is `C × (P·B)`.
pub(super) fn to_pixel_major<T: Real>(channels: usize, src: &DMatrix<T>, dst: &mut DMatrix<T>) {
    let n = src.nrows();
    let pixels = n / channels;
    assert_eq!(pixels * channels, n, "rows not a multiple of the channels");
    assert_eq!(
        dst.shape(),
        (channels, pixels * src.ncols()),
        "pixel-major shape"
    );
    for (s, d) in src
        .as_slice()
        .chunks_exact(n)
        .zip(dst.as_mut_slice().chunks_exact_mut(n))
    {
        for (c, plane) in s.chunks_exact(pixels).enumerate() {
            for (x, y) in d[c..].iter_mut().step_by(channels).zip(plane) {
                *x = *y;
            }
        }
    }
}

/// `dst ← channel-major copy of src`, the inverse of [`to_pixel_major`]:
/// `src` is `C × (P·B)`, `dst` is `(C·P) × B`.
pub(super) fn to_channel_major<T: Real>(channels: usize, src: &DMatrix<T>, dst: &mut DMatrix<T>) {
    let n = dst.nrows();
    let pixels = n / channels;
    assert_eq!(pixels * channels, n, "rows not a multiple of the channels");
    assert_eq!(
        src.shape(),
        (channels, pixels * dst.ncols()),
        "pixel-major shape"
    );
    for (d, s) in dst
        .as_mut_slice()
        .chunks_exact_mut(n)
        .zip(src.as_slice().chunks_exact(n))
    {
        for (c, plane) in d.chunks_exact_mut(pixels).enumerate() {
            for (y, x) in plane.iter_mut().zip(s[c..].iter().step_by(channels)) {
                *y = *x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(r: usize, c: usize, seed: usize) -> DMatrix<f64> {
        DMatrix::from_fn(r, c, |i, j| {
            ((i * 7919 + j * 104_729 + seed * 15_485_863) % 1000) as f64 / 500.0 - 1.0
        })
    }

    /// Every patch entry is the input at the shifted pixel or 0 outside.
    #[test]
    fn im2col_reads_shifted_pixels() {
        for s in [
            ConvShape::new(2, 1, 4, 3, 3),
            ConvShape::new(1, 1, 2, 5, 5),
            ConvShape::new(3, 1, 3, 3, 1),
        ] {
            let b = 2;
            let d = filled(s.n_in(), b, 1);
            let mut p = DMatrix::from_element(s.patch_len(), s.pixels() * b, f64::NAN);
            im2col(&s, &d, &mut p);
            let pad = (s.k / 2) as isize;
            for sb in 0..b {
                for i in 0..s.h {
                    for j in 0..s.w {
                        for c in 0..s.c_in {
                            for di in 0..s.k {
                                for dj in 0..s.k {
                                    let ii = i as isize + di as isize - pad;
                                    let jj = j as isize + dj as isize - pad;
                                    let inside = (0..s.h as isize).contains(&ii)
                                        && (0..s.w as isize).contains(&jj);
                                    let want = if inside {
                                        d[(c * s.pixels() + ii as usize * s.w + jj as usize, sb)]
                                    } else {
                                        0.0
                                    };
                                    let r = (c * s.k + di) * s.k + dj;
                                    let col = sb * s.pixels() + i * s.w + j;
                                    assert_eq!(p[(r, col)], want, "{s:?} ({sb},{i},{j},{r})");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// ⟨q, im2col(d)⟩ = ⟨col2im(q), d⟩.
    #[test]
    fn col2im_is_the_adjoint() {
        let s = ConvShape::new(2, 1, 5, 4, 3);
        let d = filled(s.n_in(), 3, 2);
        let q = filled(s.patch_len(), s.pixels() * 3, 3);
        let mut p = DMatrix::zeros(q.nrows(), q.ncols());
        im2col(&s, &d, &mut p);
        let mut back = DMatrix::from_element(d.nrows(), d.ncols(), f64::NAN);
        col2im(&s, &q, &mut back);
        let (lhs, rhs) = (q.dot(&p), back.dot(&d));
        assert!(
            (lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0),
            "{lhs} {rhs}"
        );
    }

    #[test]
    fn pixel_major_round_trip() {
        let src = filled(3 * 5, 2, 4);
        let mut pm = DMatrix::zeros(3, 5 * 2);
        to_pixel_major(3, &src, &mut pm);
        assert_eq!(pm[(2, 5 + 4)], src[(2 * 5 + 4, 1)]);
        let mut back = DMatrix::zeros(15, 2);
        to_channel_major(3, &pm, &mut back);
        assert_eq!(back, src);
    }

    #[test]
    fn valid_ranges_clip_at_the_border() {
        let s = ConvShape::new(1, 1, 2, 2, 5);
        assert_eq!(s.valid(2, 0), (2, 2));
        assert_eq!(s.valid(2, 1), (1, 2));
        assert_eq!(s.valid(2, 2), (0, 2));
        assert_eq!(s.valid(2, 3), (0, 1));
        assert_eq!(s.valid(2, 4), (0, 0));
    }
}
