//! The dense matrix product's entry points ([`gemm`], [`gemm_abt`], and
//! [`gemm_packed`] / [`gemm_thin`] for benchmarks and tests) and their
//! dispatch: thin products (few columns of B) to the hand-written kernels of
//! `super::thin` where the CPU has AVX2 and FMA, all others to
//! matrixmultiply with explicit strides.

#[cfg(target_arch = "x86_64")]
use super::simd::{avx2, Simd};
use super::Real;
use nalgebra::DMatrix;
use std::ops::Range;

/// A column-major matrix seen as `op(M)`: (rows, cols, row stride, column stride).
pub(super) fn view<T: Real>(m: &DMatrix<T>, transpose: bool) -> (usize, usize, isize, isize) {
    let (r, c) = m.shape();
    if transpose {
        (c, r, r as isize, 1)
    } else {
        (r, c, 1, r as isize)
    }
}

/// Columns of B up to which [`gemm`] takes the thin kernels instead of
/// matrixmultiply, where the CPU has them. Measured (benches/thin_gemm.rs,
/// AVX2 Zen 3): with W beyond L2, as when a deep net's layers take turns,
/// the kernels are 1.2–2× faster at 8 to 16 columns both ways; at 32 the
/// forward product is no faster than matrixmultiply's, at 512×512 slower.
pub const THIN_MAX_COLS: usize = 16;

/// `C ← α·op(A)·op(B) + β·C`. Shapes are checked (a mismatch is a
/// programming error and panics, never a user error). `β = 0` overwrites C
/// (NaN included), as in BLAS. Thin products (B not transposed, at most
/// [`THIN_MAX_COLS`] columns) take [`gemm_thin`]'s kernels where the CPU has
/// them; all others go through matrixmultiply ([`gemm_packed`]).
fn gemm_strided<T: Real>(
    alpha: T,
    a: &DMatrix<T>,
    ta: bool,
    b: &DMatrix<T>,
    tb: bool,
    beta: T,
    c: &mut DMatrix<T>,
) {
    if tb || b.ncols() > THIN_MAX_COLS || !thin_dispatch(alpha, a, ta, b, beta, c) {
        packed(alpha, a, ta, b, tb, beta, c);
    }
}

/// `C ← α·op(A)·op(B) + β·C` through matrixmultiply with explicit strides,
/// so transposed operands cost no copy.
fn packed<T: Real>(
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
        scale(beta, c);
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

/// `C ← Aᵀ·B` for an A whose transpose `a_t` is kept beside it. The products
/// [`gemm`] would give matrixmultiply (wide B) read `a_t` as a plain
/// operand: matrixmultiply packs a transposed operand at about half the
/// speed (docs/performance.md), and since packing only copies, the sums are
/// the same bit for bit. Thin products keep their transposed kernel.
pub fn gemm_transposed<T: Real>(
    a: &DMatrix<T>,
    a_t: &DMatrix<T>,
    b: &DMatrix<T>,
    c: &mut DMatrix<T>,
) {
    debug_assert_eq!(a_t.shape(), (a.ncols(), a.nrows()), "gemm_transposed: a_t");
    if b.ncols() > THIN_MAX_COLS {
        packed(T::one(), a_t, false, b, false, T::zero(), c);
    } else {
        gemm(T::one(), a, true, b, T::zero(), c);
    }
}

/// `C ← op(A_block)·B` for an m × k operand starting `offset` elements
/// into `a`'s storage with strides (`rs`, `cs`): the row-block products
/// below, through matrixmultiply. The caller guarantees that the operand
/// lies inside `a`.
fn block_product<T: Real>(
    a: &DMatrix<T>,
    (offset, m, k, rs, cs): (usize, usize, usize, usize, usize),
    b: &DMatrix<T>,
    c: &mut DMatrix<T>,
    what: &str,
) {
    let n = b.ncols();
    assert_eq!(b.nrows(), k, "{what}: inner dimensions differ");
    assert_eq!(c.shape(), (m, n), "{what}: output shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(T::zero());
        return;
    }
    debug_assert!(
        offset + (m - 1) * rs + (k - 1) * cs < a.len(),
        "{what}: operand"
    );
    // SAFETY: the callers check that the m × k operand at `offset` with
    // strides (rs, cs) lies inside a's storage; b and c are dense with the
    // checked shapes, and c is borrowed mutably, so it aliases neither.
    unsafe {
        T::gemm_raw(
            m,
            k,
            n,
            T::one(),
            a.as_ptr().add(offset),
            rs as isize,
            cs as isize,
            b.as_ptr(),
            1,
            k as isize,
            T::zero(),
            c.as_mut_ptr(),
            1,
            m as isize,
        );
    }
}

/// `C ← A[rows, :]·B`: the product of a block of A's rows, read in place
/// (strided) through matrixmultiply.
pub fn gemm_rows<T: Real>(a: &DMatrix<T>, rows: Range<usize>, b: &DMatrix<T>, c: &mut DMatrix<T>) {
    assert!(rows.end <= a.nrows(), "gemm_rows: rows beyond A");
    let op = (rows.start, rows.len(), a.ncols(), 1, a.nrows());
    block_product(a, op, b, c, "gemm_rows");
}

/// `C ← A[rows, :]ᵀ·B` read in place from A (transposed strides through
/// matrixmultiply), for a core that keeps no transpose.
pub fn gemm_rows_tr<T: Real>(
    a: &DMatrix<T>,
    rows: Range<usize>,
    b: &DMatrix<T>,
    c: &mut DMatrix<T>,
) {
    assert!(rows.end <= a.nrows(), "gemm_rows_tr: rows beyond A");
    let op = (rows.start, a.ncols(), rows.len(), a.nrows(), 1);
    block_product(a, op, b, c, "gemm_rows_tr");
}

/// `C ← A[rows, :]ᵀ·B` from A's transpose `a_t` kept beside it: the block
/// a_t[:, rows] is contiguous, a plain product.
pub fn gemm_rows_transposed<T: Real>(
    a_t: &DMatrix<T>,
    rows: Range<usize>,
    b: &DMatrix<T>,
    c: &mut DMatrix<T>,
) {
    assert!(
        rows.end <= a_t.ncols(),
        "gemm_rows_transposed: rows beyond A"
    );
    let m = a_t.nrows();
    let op = (rows.start * m, m, rows.len(), 1, m);
    block_product(a_t, op, b, c, "gemm_rows_transposed");
}

/// `C ← β·C`, where `β = 0` writes zeros (also over NaN).
pub(super) fn scale<T: Real>(beta: T, c: &mut DMatrix<T>) {
    if beta == T::zero() {
        c.fill(T::zero());
    } else {
        c.scale_mut(beta);
    }
}

/// `C ← α·op(A)·B + β·C` through matrixmultiply whatever the shapes (the
/// path [`gemm`] takes for wide B); for benchmarks and tests.
pub fn gemm_packed<T: Real>(
    alpha: T,
    a: &DMatrix<T>,
    transpose_a: bool,
    b: &DMatrix<T>,
    beta: T,
    c: &mut DMatrix<T>,
) {
    packed(alpha, a, transpose_a, b, false, beta, c);
}

/// `C ← α·op(A)·B + β·C` through the thin kernels whatever the number of
/// columns of B, where the CPU has them (x86-64 with AVX2 and FMA), else
/// through matrixmultiply; for benchmarks and tests.
pub fn gemm_thin<T: Real>(
    alpha: T,
    a: &DMatrix<T>,
    transpose_a: bool,
    b: &DMatrix<T>,
    beta: T,
    c: &mut DMatrix<T>,
) {
    if !thin_dispatch(alpha, a, transpose_a, b, beta, c) {
        packed(alpha, a, transpose_a, b, false, beta, c);
    }
}

/// Runs the thin kernels with this CPU's vector instructions and returns
/// true (x86-64 with AVX2 and FMA), or returns false with C untouched.
/// Without hardware FMA the kernels' fused multiply–adds would be library
/// calls, so matrixmultiply is the portable fallback.
fn thin_dispatch<T: Real>(
    alpha: T,
    a: &DMatrix<T>,
    ta: bool,
    b: &DMatrix<T>,
    beta: T,
    c: &mut DMatrix<T>,
) -> bool {
    T::thin_native(alpha, a, ta, b, beta, c)
}

/// [`Real::thin_native`] for a type with AVX2 vectors.
#[cfg(target_arch = "x86_64")]
pub(super) fn thin_native<T: Real>(
    alpha: T,
    a: &DMatrix<T>,
    ta: bool,
    b: &DMatrix<T>,
    beta: T,
    c: &mut DMatrix<T>,
) -> bool
where
    avx2::Avx2: Simd<T>,
{
    match avx2::Avx2::detect() {
        Some(s) => {
            // SAFETY: `detect` found AVX2 and FMA on this CPU.
            unsafe { avx2::thin_avx2(s, alpha, a, ta, b, beta, c) };
            true
        }
        None => false,
    }
}

/// [`Real::thin_native`] where no vector kernels are compiled.
#[cfg(not(target_arch = "x86_64"))]
pub(super) fn thin_native<T: Real>(
    _alpha: T,
    _a: &DMatrix<T>,
    _ta: bool,
    _b: &DMatrix<T>,
    _beta: T,
    _c: &mut DMatrix<T>,
) -> bool {
    false
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

#[cfg(test)]
pub(super) mod tests {
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

    /// `C ← α·op(A)·B + β·C` by the textbook triple loop, in f64.
    pub(in crate::real) fn naive(
        alpha: f64,
        a: &DMatrix<f64>,
        ta: bool,
        b: &DMatrix<f64>,
        beta: f64,
        c: &DMatrix<f64>,
    ) -> DMatrix<f64> {
        let a = if ta { a.transpose() } else { a.clone() };
        DMatrix::from_fn(c.nrows(), c.ncols(), |i, j| {
            let mut s = 0.0;
            for p in 0..a.ncols() {
                s += a[(i, p)] * b[(p, j)];
            }
            alpha * s + beta * c[(i, j)]
        })
    }

    /// A deterministic, sign-mixed test matrix.
    pub(in crate::real) fn filled(r: usize, c: usize, seed: usize) -> DMatrix<f64> {
        DMatrix::from_fn(r, c, |i, j| {
            let h = (i * 7919 + j * 104_729 + seed * 15_485_863) % 1000;
            h as f64 / 500.0 - 1.0
        })
    }

    /// Odd shapes: m and k off the vector widths and tile sizes, n from 1
    /// across the thin threshold.
    pub(in crate::real) const SHAPES: [(usize, usize); 6] =
        [(1, 1), (3, 5), (13, 7), (37, 29), (128, 128), (131, 67)];
    pub(in crate::real) const COLS: [usize; 7] = [1, 3, 4, 5, 8, 17, 33];

    /// β = 0 overwrites C even where it holds NaN, on every path (k = 0 too).
    #[test]
    fn beta_zero_overwrites_nan() {
        for (m, k, n) in [(9, 6, 3), (9, 6, 40), (9, 0, 3), (9, 0, 40)] {
            for ta in [false, true] {
                let a = if ta { filled(k, m, 7) } else { filled(m, k, 7) };
                let b = filled(k, n, 8);
                let want = naive(1.5, &a, ta, &b, 0.0, &DMatrix::zeros(m, n));
                for run in [gemm::<f64>, gemm_thin::<f64>, gemm_packed::<f64>] {
                    let mut c = DMatrix::from_element(m, n, f64::NAN);
                    run(1.5, &a, ta, &b, 0.0, &mut c);
                    assert!((c - &want).norm() < 1e-12, "{m}×{k}·{n}, transposed {ta}");
                }
            }
        }
    }

    /// With the transpose kept beside A, the feedback product gives the
    /// same bits as the transposed product itself, on every path, f32 and
    /// f64 (so no trajectory moves), and the triple loop's values.
    #[test]
    fn row_block_products_match_the_naive_product() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        for (rows, cols, n, r0, r1) in [
            (12, 5, 3, 0, 5),
            (24, 7, 33, 5, 19),
            (9, 1, 1, 8, 9),
            (6, 4, 2, 3, 3),
        ] {
            let a = DMatrix::<f64>::from_fn(rows, cols, |_, _| next());
            let b = DMatrix::<f64>::from_fn(cols, n, |_, _| next());
            let u = DMatrix::<f64>::from_fn(r1 - r0, n, |_, _| next());
            let mut got = DMatrix::from_element(r1 - r0, n, f64::NAN);
            gemm_rows(&a, r0..r1, &b, &mut got);
            let want = a.rows(r0, r1 - r0) * &b;
            assert!((got - want).amax() < 1e-12);
            let mut got_t = DMatrix::from_element(cols, n, f64::NAN);
            gemm_rows_transposed(&a.transpose(), r0..r1, &u, &mut got_t);
            let want_t = a.rows(r0, r1 - r0).transpose() * &u;
            assert!((&got_t - &want_t).amax() < 1e-12);
            let mut got_tr = DMatrix::from_element(cols, n, f64::NAN);
            gemm_rows_tr(&a, r0..r1, &u, &mut got_tr);
            assert!((got_tr - want_t).amax() < 1e-12);
            let a32 = a.map(|v| v as f32);
            let mut got32 = DMatrix::<f32>::zeros(r1 - r0, n);
            gemm_rows(&a32, r0..r1, &b.map(|v| v as f32), &mut got32);
            let want32 = a32.rows(r0, r1 - r0) * b.map(|v| v as f32);
            assert!((got32 - want32).amax() < 1e-5);
        }
    }

    #[test]
    fn gemm_transposed_is_the_transposed_product_bit_for_bit() {
        fn run<T: Real>() {
            for (m, k) in SHAPES {
                for n in COLS.iter().copied().chain([64, 65]) {
                    let a64 = filled(k, m, 3); // A is k × m; the product is Aᵀ·B
                    let b64 = filled(k, n, 4);
                    let a = a64.map(T::of);
                    let b = b64.map(T::of);
                    let mut want = DMatrix::<T>::zeros(m, n);
                    gemm(T::one(), &a, true, &b, T::zero(), &mut want);
                    let mut got = DMatrix::<T>::from_element(m, n, T::of(f64::NAN));
                    gemm_transposed(&a, &a.transpose(), &b, &mut got);
                    assert_eq!(got, want, "{m}×{k}ᵀ·{n}, {}", T::NAME);
                    let exact = naive(1.0, &a64, true, &b64, 0.0, &DMatrix::zeros(m, n));
                    let err = (got.map(|x| x.f64()) - exact).amax();
                    assert!(err < 1e-3 * k as f64, "{err}");
                }
            }
        }
        run::<f64>();
        run::<f32>();
    }
}
