//! The one numeric bound of the crate, [`Real`], implemented for `f32` and `f64`.
//!
//! Every numeric routine is generic over `T: Real` and works on `DMatrix<T>`;
//! the precision is chosen once, at the top (the circuit's `precision` key).
//! [`Real`] also carries the dense matrix product through `matrixmultiply`,
//! called with explicit strides so that transposed products (Wᵀ·E) run at the
//! same speed as plain ones (nalgebra's own `tr_mul` does not; see STACK.md).

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
        }
    };
}

impl_real!(f32, "f32", matrixmultiply::sgemm, tanh_f32);
impl_real!(f64, "f64", matrixmultiply::dgemm, f64::tanh);

/// tanh of an `f32`, computed in `f64` without branches or table look-ups:
///
/// ```text
/// a = min(|x|, 9.5)                 (tanh a rounds to 1 in f32 beyond 9.1)
/// e₀ = expm1(2a/32)                 (Taylor, degree 12: |2a/32| ≤ 0.6)
/// e_{i+1} = e_i (e_i + 2)           (expm1(2u) = expm1(u)(expm1(u) + 2); 5 times)
/// tanh x = sign(x) · e₅ / (e₅ + 2)
/// ```
///
/// Every step keeps relative accuracy, also for tiny |x| (no cancellation);
/// the error before the final rounding to `f32` is below 1e-11 relative.
/// NaN stays NaN, ±∞ gives ±1.
#[inline(always)]
pub fn tanh_f32(x: f32) -> f32 {
    let a = (x.abs() as f64).min(9.5);
    let u = a * (2.0 / 32.0);
    // expm1(u) = u(1 + u/2(1 + u/3(1 + … (1 + u/12)))), Horner from the inside.
    let mut p = 1.0 + u * (1.0 / 12.0);
    p = 1.0 + u * (1.0 / 11.0) * p;
    p = 1.0 + u * (1.0 / 10.0) * p;
    p = 1.0 + u * (1.0 / 9.0) * p;
    p = 1.0 + u * (1.0 / 8.0) * p;
    p = 1.0 + u * (1.0 / 7.0) * p;
    p = 1.0 + u * (1.0 / 6.0) * p;
    p = 1.0 + u * (1.0 / 5.0) * p;
    p = 1.0 + u * (1.0 / 4.0) * p;
    p = 1.0 + u * (1.0 / 3.0) * p;
    p = 1.0 + u * (1.0 / 2.0) * p;
    let mut e = u * p;
    for _ in 0..5 {
        e *= e + 2.0;
    }
    let t = (e / (e + 2.0)) as f32;
    if x.is_nan() {
        x
    } else {
        t.copysign(x)
    }
}

/// A column-major matrix seen as `op(M)`: (rows, cols, row stride, column stride).
fn view<T: Real>(m: &DMatrix<T>, transpose: bool) -> (usize, usize, isize, isize) {
    let (r, c) = m.shape();
    if transpose {
        (c, r, r as isize, 1)
    } else {
        (r, c, 1, r as isize)
    }
}

/// `C ← α·op(A)·op(B) + β·C` through matrixmultiply with explicit strides,
/// so transposed operands cost no copy. Shapes are checked (a mismatch is a
/// programming error and panics, never a user error).
fn gemm_strided<T: Real>(
    alpha: T,
    a: &DMatrix<T>,
    ta: bool,
    b: &DMatrix<T>,
    tb: bool,
    beta: T,
    c: &mut DMatrix<T>,
) {
    let (m, k, rsa, csa) = view(a, ta);
    let (kb, n, rsb, csb) = view(b, tb);
    assert_eq!(k, kb, "gemm: inner dimensions differ");
    assert_eq!(c.shape(), (m, n), "gemm: output shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.scale_mut(beta);
        return;
    }
    // SAFETY: shapes checked above; the strides describe the column-major
    // storage of `a` and `b` (leading dimensions = their row counts); `c` is
    // borrowed mutably, so it cannot alias `a` or `b`.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            1,
            m as isize,
        );
    }
}

/// `C ← α·op(A)·B + β·C`, where `op(A)` is `A` or `Aᵀ` (`transpose_a`).
/// All matrices are column-major `DMatrix`.
pub fn gemm<T: Real>(
    alpha: T,
    a: &DMatrix<T>,
    transpose_a: bool,
    b: &DMatrix<T>,
    beta: T,
    c: &mut DMatrix<T>,
) {
    gemm_strided(alpha, a, transpose_a, b, false, beta, c);
}

/// `C ← α·A·Bᵀ + β·C` (the outer-product form of weight gradients, E·Φᵀ).
pub fn gemm_abt<T: Real>(alpha: T, a: &DMatrix<T>, b: &DMatrix<T>, beta: T, c: &mut DMatrix<T>) {
    gemm_strided(alpha, a, false, b, true, beta, c);
}

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

    fn check<T: Real>(tol: f64) {
        let a = DMatrix::<T>::from_fn(7, 9, |i, j| T::of((i * 3 + j) as f64 * 0.1 - 1.0));
        let b = DMatrix::<T>::from_fn(9, 6, |i, j| T::of((i + 2 * j) as f64 * 0.05));
        let u = DMatrix::<T>::from_fn(7, 6, |i, j| T::of(i as f64 - j as f64 * 0.3));
        let mut c = DMatrix::<T>::from_element(7, 6, T::one());
        gemm(T::of(2.0), &a, false, &b, T::of(0.5), &mut c);
        let want = (&a * &b) * T::of(2.0) + DMatrix::from_element(7, 6, T::of(0.5));
        assert!((c - want).norm().f64() < tol);
        let mut d = DMatrix::<T>::zeros(9, 6);
        gemm(T::one(), &a, true, &u, T::zero(), &mut d);
        assert!((d - a.transpose() * &u).norm().f64() < tol);
        let mut e = DMatrix::<T>::zeros(7, 9);
        gemm_abt(T::one(), &u, &b, T::zero(), &mut e);
        assert!((e - &u * b.transpose()).norm().f64() < tol);
    }

    #[test]
    fn gemm_matches_nalgebra_f64() {
        check::<f64>(1e-12);
    }

    #[test]
    fn gemm_matches_nalgebra_f32() {
        check::<f32>(1e-4);
    }

    /// The branch-free f32 tanh is the correctly rounded tanh up to a rare
    /// 1-ulp tie, over a dense sweep, and keeps NaN, ±∞, ±0.
    #[test]
    fn tanh_f32_matches_f64_tanh() {
        let mut worst = 0.0f64;
        let mut x = -12.0f32;
        while x < 12.0 {
            for s in [1.0f32, 1e-3, 1e-7, 1e-20] {
                let v = x * s;
                let want = (v as f64).tanh();
                let got = tanh_f32(v) as f64;
                let ulp = (want.abs() as f32).max(f32::MIN_POSITIVE) as f64 * f32::EPSILON as f64;
                worst = worst.max((got - want).abs() / ulp);
            }
            x += 1.3e-4;
        }
        assert!(worst <= 0.5 + 1e-3, "worst error {worst} ulp");
        assert!(tanh_f32(f32::NAN).is_nan());
        assert_eq!(tanh_f32(f32::INFINITY), 1.0);
        assert_eq!(tanh_f32(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh_f32(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh_f32(0.0), 0.0);
    }

    #[test]
    fn cosine_of_parallel_and_orthogonal() {
        let a = vec![DMatrix::<f64>::from_row_slice(1, 2, &[1.0, 0.0])];
        let b = vec![DMatrix::<f64>::from_row_slice(1, 2, &[3.0, 0.0])];
        let c = vec![DMatrix::<f64>::from_row_slice(1, 2, &[0.0, 2.0])];
        assert!((cosine(&a, &b) - 1.0).abs() < 1e-15);
        assert!(cosine(&a, &c).abs() < 1e-15);
    }
}
