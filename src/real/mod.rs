//! The one numeric bound of the crate, [`Real`], implemented for `f32` and `f64`,
//! and the small helpers over its matrices ([`cosine`]).
//!
//! Every numeric routine is generic over `T: Real` and works on `DMatrix<T>`;
//! the precision is chosen once, at the top (the circuit's `precision` key).
//! [`Real`] also carries the dense matrix product through `matrixmultiply`,
//! called with explicit strides so that transposed products (Wᵀ·E) run at the
//! same speed as plain ones (nalgebra's own `tr_mul` does not; see STACK.md).
//!
//! The submodules: [`elementwise`] (the relaxation's vectorised passes over a
//! layer), `tanh` (the branch-free f32 tanh, [`tanh_f32`]), `gemm` (the
//! product entry points and their dispatch: [`gemm`], [`gemm_abt`]), `thin`
//! (the hand-written kernels for products with few columns) and `simd` (the
//! vector arithmetic those kernels are written in). Their public items are
//! re-exported here, so callers import them from `crate::real`.

pub mod elementwise;
mod gemm;
mod simd;
mod tanh;
mod thin;

pub use gemm::{
    gemm, gemm_abt, gemm_packed, gemm_rows, gemm_rows_tr, gemm_rows_transposed, gemm_thin,
    gemm_transposed, THIN_MAX_COLS,
};
pub use tanh::tanh_f32;

use nalgebra::DMatrix;

/// Floating-point scalar of the simulator (`f32` for speed, `f64` for validation).
pub trait Real:
    nalgebra::RealField + Copy + Send + Sync + Default + std::fmt::Display + 'static
{
    /// Human-readable name of the precision ("f32" or "f64").
    const NAME: &'static str;

    /// Converts from `f64` (rounding for `f32`).
    fn of(x: f64) -> Self;

    /// Converts to `f64` (exact).
    fn f64(self) -> f64;

    /// tanh as the activations evaluate it. `f64`: the platform's `tanh`.
    /// `f32`: [`tanh_f32`], branch-free so that loops over a layer vectorise
    /// (the platform's scalar `tanhf` otherwise costs more than the layer's
    /// products); its result is within 0.5 ulp + 1e-11 (relative) of tanh.
    fn act_tanh(self) -> Self;

    /// `C ← α·A·B + β·C` on raw strided storage (matrixmultiply's `sgemm`/`dgemm`).
    ///
    /// # Safety
    /// The pointers and strides must describe valid, non-overlapping
    /// `m×k`, `k×n` and `m×n` matrices.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm_raw(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: *const Self,
        rsa: isize,
        csa: isize,
        b: *const Self,
        rsb: isize,
        csb: isize,
        beta: Self,
        c: *mut Self,
        rsc: isize,
        csc: isize,
    );

    /// `C ← α·op(A)·B + β·C` by the thin kernels with this CPU's vector
    /// instructions, returning true; false (C untouched) where there are
    /// none. Use [`gemm`] or [`gemm_thin`] instead.
    #[doc(hidden)]
    fn thin_native(
        alpha: Self,
        a: &DMatrix<Self>,
        transpose_a: bool,
        b: &DMatrix<Self>,
        beta: Self,
        c: &mut DMatrix<Self>,
    ) -> bool;
}

macro_rules! impl_real {
    ($t:ty, $name:expr, $gemm:path, $tanh:path) => {
        impl Real for $t {
            const NAME: &'static str = $name;
            #[inline(always)]
            fn of(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn act_tanh(self) -> Self {
                $tanh(self)
            }
            #[inline]
            unsafe fn gemm_raw(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                beta: Self,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded contract of `gemm_raw`.
                unsafe { $gemm(m, k, n, alpha, a, rsa, csa, b, rsb, csb, beta, c, rsc, csc) }
            }
            #[inline]
            fn thin_native(
                alpha: Self,
                a: &DMatrix<Self>,
                transpose_a: bool,
                b: &DMatrix<Self>,
                beta: Self,
                c: &mut DMatrix<Self>,
            ) -> bool {
                gemm::thin_native(alpha, a, transpose_a, b, beta, c)
            }
        }
    };
}

impl_real!(f32, "f32", matrixmultiply::sgemm, tanh_f32);
impl_real!(f64, "f64", matrixmultiply::dgemm, f64::tanh);

/// Cosine between two collections of matrices seen as one flat vector
/// (0 when either is zero).
pub fn cosine<T: Real>(a: &[DMatrix<T>], b: &[DMatrix<T>]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        for (&p, &q) in x.iter().zip(y.iter()) {
            let (p, q) = (p.f64(), q.f64());
            ab += p * q;
            aa += p * p;
            bb += q * q;
        }
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    #[test]
    fn cosine_of_parallel_and_orthogonal() {
        let a = vec![DMatrix::<f64>::from_row_slice(1, 2, &[1.0, 0.0])];
        let b = vec![DMatrix::<f64>::from_row_slice(1, 2, &[3.0, 0.0])];
        let c = vec![DMatrix::<f64>::from_row_slice(1, 2, &[0.0, 2.0])];
        assert!((cosine(&a, &b) - 1.0).abs() < 1e-15);
        assert!(cosine(&a, &c).abs() < 1e-15);
    }
}
