//! Direct convolution: the k×k, stride-1, same-padded cross-correlation of
//! channel-major images without unrolling the patches (im2col would copy
//! every input k² times; here each input row is read from cache).
//!
//! Each output plane is accumulated in the zero-padded input's row stride,
//! so that every tap (input channel c, offset di, dj) is one contiguous
//! multiply–add over the whole plane, in L1 cache. It is compiled for
//! AVX-512, AVX2 + FMA and the portable baseline and picked at run time
//! (`multiversion`). Samples run in parallel (rayon), each
//! writing only its own column: the result does not depend on the thread
//! count.
//!
//! The transposed convolution (the feedback) is the same correlation with
//! the kernel's channels swapped and its taps flipped.

use super::im2col::ConvShape;
use crate::real::Real;
use multiversion::multiversion;
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Output channels the taps' layout pads to (a multiple of).
const OUT_BLOCK: usize = 8;

/// Taps laid out for the kernel: `[c][di][dj][o]` with o padded to a
/// multiple of [`OUT_BLOCK`] (zeros), so a tap's weights for a block of
/// output channels are contiguous.
pub struct Taps<T: Real> {
    data: Vec<T>,
    c_in: usize,
    c_out: usize,
    k: usize,
}

impl<T: Real> Taps<T> {
    fn o_pad(c_out: usize) -> usize {
        c_out.div_ceil(OUT_BLOCK) * OUT_BLOCK
    }

    /// The taps of a kernel matrix W (C_out × C_in·k², columns
    /// (c·k + di)·k + dj), for the forward correlation.
    pub fn forward(s: &ConvShape, w: &DMatrix<T>) -> Self {
        let (k, op) = (s.k, Self::o_pad(s.c_out));
        let mut data = vec![T::zero(); s.c_in * k * k * op];
        for c in 0..s.c_in {
            for t in 0..k * k {
                for o in 0..s.c_out {
                    data[(c * k * k + t) * op + o] = w[(o, c * k * k + t)];
                }
            }
        }
        Taps {
            data,
            c_in: s.c_in,
            c_out: s.c_out,
            k,
        }
    }

    /// The taps of the transposed convolution: channels swapped (C_out
    /// inputs, C_in outputs) and every kernel flipped.
    pub fn transposed(s: &ConvShape, w: &DMatrix<T>) -> Self {
        let (k, op) = (s.k, Self::o_pad(s.c_in));
        let mut data = vec![T::zero(); s.c_out * k * k * op];
        for o in 0..s.c_out {
            for t in 0..k * k {
                let flipped = k * k - 1 - t;
                for c in 0..s.c_in {
                    data[(o * k * k + flipped) * op + c] = w[(o, c * k * k + t)];
                }
            }
        }
        Taps {
            data,
            c_in: s.c_out,
            c_out: s.c_in,
            k,
        }
    }
}

/// `out ← correlate(taps, x)` per sample: `x` is (C_in·H·W) × B, `out`
/// (C_out·H·W) × B, both channel-major, for the taps' channel counts.
pub fn correlate<T: Real>(
    taps: &Taps<T>,
    h: usize,
    w: usize,
    x: &DMatrix<T>,
    out: &mut DMatrix<T>,
) {
    let (n_in, n_out) = (taps.c_in * h * w, taps.c_out * h * w);
    assert_eq!(x.nrows(), n_in, "direct convolution input rows");
    assert_eq!(
        out.shape(),
        (n_out, x.ncols()),
        "direct convolution output shape"
    );
    if x.ncols() == 0 {
        return;
    }
    let p = taps.k / 2;
    // Zero-padded planes of (H + 2p) rows of W + 2p, and 2p of slack after
    // the last (read only for the discarded columns).
    let (hp, wp) = (h + 2 * p, w + 2 * p);
    out.as_mut_slice()
        .par_chunks_mut(n_out)
        .zip(x.as_slice().par_chunks(n_in))
        .for_each_init(
            || {
                (
                    vec![T::zero(); taps.c_in * hp * wp + 2 * p],
                    vec![T::zero(); h * wp],
                )
            },
            |(pad, acc), (dst, src)| {
                for c in 0..taps.c_in {
                    for i in 0..h {
                        let row = &mut pad[(c * hp + i + p) * wp + p..][..w];
                        row.copy_from_slice(&src[(c * h + i) * w..][..w]);
                    }
                }
                correlate_sample(taps, h, w, pad, acc, dst);
            },
        );
}

/// One sample: `pad` its zero-padded input planes, `acc` scratch of
/// H·(W + 2p), `dst` its output. Each output plane is accumulated in the
/// padded row stride, where every tap (c, di, dj) is one contiguous
/// multiply–add over the whole plane (the 2p extra columns a row are
/// discarded), then copied out.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
fn correlate_sample<T: Real>(
    taps: &Taps<T>,
    h: usize,
    w: usize,
    pad: &[T],
    acc: &mut [T],
    dst: &mut [T],
) {
    let (k, p) = (taps.k, taps.k / 2);
    let (hp, wp) = (h + 2 * p, w + 2 * p);
    let n = h * wp;
    let op = Taps::<T>::o_pad(taps.c_out);
    let acc = &mut acc[..n];
    for o in 0..taps.c_out {
        acc.fill(T::zero());
        for c in 0..taps.c_in {
            let plane = &pad[c * hp * wp..];
            for di in 0..k {
                for dj in 0..k {
                    let wv = taps.data[((c * k + di) * k + dj) * op + o];
                    // Output (i, j) reads padded input (i + di, j + dj).
                    let src = &plane[di * wp + dj..][..n];
                    for (a, &v) in acc.iter_mut().zip(src) {
                        *a += wv * v;
                    }
                }
            }
        }
        for i in 0..h {
            dst[(o * h + i) * w..][..w].copy_from_slice(&acc[i * wp..][..w]);
        }
    }
}
