//! The one numeric bound of the crate, [`Real`], implemented for `f32` and `f64`.
//!
//! Every numeric routine is generic over `T: Real` and works on `DMatrix<T>`;
//! the precision is chosen once, at the top (the circuit's `precision` key).
//! [`Real`] also carries the dense matrix product through `matrixmultiply`,
//! called with explicit strides so that transposed products (Wᵀ·E) run at the
//! same speed as plain ones (nalgebra's own `tr_mul` does not; see STACK.md).

pub mod elementwise;

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
                thin_native(alpha, a, transpose_a, b, beta, c)
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

/// `C ← β·C`, where `β = 0` writes zeros (also over NaN).
fn scale<T: Real>(beta: T, c: &mut DMatrix<T>) {
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
fn thin_native<T: Real>(
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
fn thin_native<T: Real>(
    _alpha: T,
    _a: &DMatrix<T>,
    _ta: bool,
    _b: &DMatrix<T>,
    _beta: T,
    _c: &mut DMatrix<T>,
) -> bool {
    false
}

/// The vector arithmetic the thin kernels are written in. `Self` is a token
/// whose existence proves the instructions are available.
trait Simd<T: Real>: Copy {
    /// A vector of [`Self::LANES`] scalars.
    type V: Copy;
    /// Scalars per vector.
    const LANES: usize;
    /// All lanes zero.
    fn zero(self) -> Self::V;
    /// All lanes `x`.
    fn splat(self, x: T) -> Self::V;
    /// The first `LANES` elements of `s` (panics if `s` is shorter).
    fn load(self, s: &[T]) -> Self::V;
    /// `a·b + c` per lane, rounded once.
    fn fma(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Writes the lanes to the first `LANES` elements of `out`.
    fn store(self, v: Self::V, out: &mut [T]);
    /// Hints that the cache line holding `x` will be read soon.
    fn prefetch(self, x: &T);
    /// The sum of the lanes, pairwise: lane l plus lane l + h, h halving
    /// from `LANES`/2 to 1.
    #[inline(always)]
    fn hsum(self, v: Self::V) -> T {
        let mut buf = [T::zero(); MAX_TILE];
        self.store(v, &mut buf);
        let mut h = Self::LANES;
        while h > 1 {
            h /= 2;
            for l in 0..h {
                buf[l] += buf[l + h];
            }
        }
        buf[0]
    }
}

/// Portable vectors: arrays of `L` scalars with a `mul_add` per lane. With
/// the AVX2 lane count they give the AVX2 kernels' numbers bit for bit.
#[derive(Clone, Copy)]
struct Portable<const L: usize>;

impl<T: Real, const L: usize> Simd<T> for Portable<L> {
    type V = [T; L];
    const LANES: usize = L;
    #[inline(always)]
    fn zero(self) -> [T; L] {
        [T::zero(); L]
    }
    #[inline(always)]
    fn splat(self, x: T) -> [T; L] {
        [x; L]
    }
    #[inline(always)]
    fn load(self, s: &[T]) -> [T; L] {
        s[..L].try_into().expect("L elements")
    }
    #[inline(always)]
    fn fma(self, a: [T; L], b: [T; L], c: [T; L]) -> [T; L] {
        std::array::from_fn(|l| a[l].mul_add(b[l], c[l]))
    }
    #[inline(always)]
    fn store(self, v: [T; L], out: &mut [T]) {
        out[..L].copy_from_slice(&v);
    }
    #[inline(always)]
    fn prefetch(self, _: &T) {}
}

/// AVX2 + FMA vectors (4 f64 or 8 f32) and the kernels compiled for them.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{thin, Real, Simd};
    use nalgebra::DMatrix;
    use std::arch::x86_64::*;

    /// Token for AVX2 + FMA: only [`Avx2::detect`] makes one, on a CPU that
    /// has both.
    #[derive(Clone, Copy)]
    pub(super) struct Avx2(());

    impl Avx2 {
        /// The token if this CPU has AVX2 and FMA (cached by std).
        pub(super) fn detect() -> Option<Self> {
            let ok = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            ok.then_some(Avx2(()))
        }
    }

    macro_rules! simd {
        ($t:ty, $v:ty, $lanes:expr, $zero:ident, $splat:ident, $load:ident, $fma:ident, $store:ident, $hsum:ident) => {
            // SAFETY (every `unsafe` below): an `Avx2` exists only on a CPU
            // with AVX2 and FMA (`Avx2::detect`), so the intrinsics are
            // supported; `load` and `store` touch exactly `LANES` elements
            // of a slice just checked to hold them (unaligned access);
            // `prefetch` reads nothing (a hint, given a valid address).
            impl Simd<$t> for Avx2 {
                type V = $v;
                const LANES: usize = $lanes;
                #[inline(always)]
                fn zero(self) -> $v {
                    unsafe { $zero() }
                }
                #[inline(always)]
                fn splat(self, x: $t) -> $v {
                    unsafe { $splat(x) }
                }
                #[inline(always)]
                fn load(self, s: &[$t]) -> $v {
                    let s = &s[..$lanes];
                    unsafe { $load(s.as_ptr()) }
                }
                #[inline(always)]
                fn fma(self, a: $v, b: $v, c: $v) -> $v {
                    unsafe { $fma(a, b, c) }
                }
                #[inline(always)]
                fn store(self, v: $v, out: &mut [$t]) {
                    let out = &mut out[..$lanes];
                    unsafe { $store(out.as_mut_ptr(), v) }
                }
                #[inline(always)]
                fn prefetch(self, x: &$t) {
                    unsafe { _mm_prefetch::<_MM_HINT_T0>((x as *const $t).cast()) }
                }
                #[inline(always)]
                fn hsum(self, v: $v) -> $t {
                    unsafe { $hsum(v) }
                }
            }
        };
    }

    simd!(
        f64,
        __m256d,
        4,
        _mm256_setzero_pd,
        _mm256_set1_pd,
        _mm256_loadu_pd,
        _mm256_fmadd_pd,
        _mm256_storeu_pd,
        hsum_pd
    );
    simd!(
        f32,
        __m256,
        8,
        _mm256_setzero_ps,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_fmadd_ps,
        _mm256_storeu_ps,
        hsum_ps
    );

    /// [`Simd::hsum`] in registers: (b0 + b2) + (b1 + b3).
    ///
    /// # Safety
    /// The CPU must support AVX (callers hold an [`Avx2`] token).
    #[inline(always)]
    unsafe fn hsum_pd(v: __m256d) -> f64 {
        let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
        _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
    }

    /// [`Simd::hsum`] in registers: ((b0 + b4) + (b2 + b6)) + ((b1 + b5) +
    /// (b3 + b7)).
    ///
    /// # Safety
    /// The CPU must support AVX (callers hold an [`Avx2`] token).
    #[inline(always)]
    unsafe fn hsum_ps(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let u = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(u, _mm_shuffle_ps::<0x55>(u, u)))
    }

    /// [`thin`] compiled for AVX2 + FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA (guaranteed by the token).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn thin_avx2<T: Real>(
        s: Avx2,
        alpha: T,
        a: &DMatrix<T>,
        ta: bool,
        b: &DMatrix<T>,
        beta: T,
        c: &mut DMatrix<T>,
    ) where
        Avx2: Simd<T>,
    {
        thin(s, alpha, a, ta, b, beta, c);
    }
}

/// `C ← α·op(A)·B + β·C` without packing, for B with few columns, in the
/// vectors of `s`.
///
/// - `op(A) = A` (W·v): a tile of [`FW_RV`] vectors of rows of C ×
///   [`FW_NR`] columns stays in accumulators while the loop runs over A's
///   columns (axpy form); B is first copied row-major (k·n scalars).
/// - `op(A) = Aᵀ` (Wᵀ·u): a tile of [`TR_MI`] columns of A × [`TR_NC`]
///   columns of B, dot products vectorised along the inner dimension.
///
/// Both prefetch the next tile's part of A, and run over all columns of B
/// for one tile of A's rows (or columns), so A is read from memory once.
///
/// Each element's summation order depends on the shapes alone: forward,
/// FMAs in order of the inner index; transposed, `LANES` interleaved partial
/// sums (lane l takes the inner indices ≡ l mod `LANES` below k − k mod
/// `LANES`) reduced pairwise (lane l plus lane l + h, h halving), then the
/// remainder added in order. Then `α·s + β·C` (`α·s` when β = 0).
#[inline(always)]
fn thin<T: Real, S: Simd<T>>(
    s: S,
    alpha: T,
    a: &DMatrix<T>,
    ta: bool,
    b: &DMatrix<T>,
    beta: T,
    c: &mut DMatrix<T>,
) {
    let (m, k, _, _) = view(a, ta);
    let (kb, n) = b.shape();
    assert_eq!(k, kb, "gemm: inner dimensions differ");
    assert_eq!(c.shape(), (m, n), "gemm: output shape");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        scale(beta, c);
        return;
    }
    let p = Thin {
        m,
        k,
        n,
        alpha,
        beta,
        a: a.as_slice(),
        b: b.as_slice(),
    };
    let c = c.as_mut_slice();
    if ta {
        p.transposed::<S, TR_MI, TR_NC>(s, c);
    } else {
        p.forward::<S, FW_RV, FW_NR>(s, c);
    }
}

/// Operands of one thin product: A (column-major, `m×k`, or `k×m` when
/// transposed), B (`k×n`, column-major), C (`m×n`, column-major).
struct Thin<'a, T> {
    m: usize,
    k: usize,
    n: usize,
    alpha: T,
    beta: T,
    a: &'a [T],
    b: &'a [T],
}

/// Forward tile: vectors of rows × columns of B (8 accumulators: AVX2 has
/// 16 registers; 3 × 4 and 1 × 8 measured slower).
const FW_RV: usize = 2;
const FW_NR: usize = 4;
/// Transposed tile: columns of A × columns of B (3 × 4 and 1 × 8 measured
/// slower).
const TR_MI: usize = 2;
const TR_NC: usize = 4;

/// Largest tile height in scalars (vectors per tile × lanes).
const MAX_TILE: usize = 64;

impl<T: Real> Thin<'_, T> {
    /// `C ← α·s + β·C` for one element (`β = 0` overwrites).
    #[inline(always)]
    fn put(&self, s: T, out: &mut T) {
        *out = if self.beta == T::zero() {
            self.alpha * s
        } else {
            self.alpha * s + self.beta * *out
        };
    }

    /// C ← α·A·B + β·C in row tiles of `RV` vectors, then of one vector,
    /// then single rows; within each, tiles of `NR` columns of B, then
    /// single columns (so a tile's rows of A are read from memory once).
    #[inline(always)]
    fn forward<S: Simd<T>, const RV: usize, const NR: usize>(&self, s: S, c: &mut [T]) {
        let (m, k, n) = (self.m, self.k, self.n);
        // B's columns j..j + w (w = NR, or 1 past the last full tile) go to
        // bt[j·k..(j + w)·k] row by row, so that each step of the inner index
        // reads w adjacent scalars.
        let mut bt = vec![T::zero(); k * n];
        let mut j = 0;
        while j < n {
            let w = if j + NR <= n { NR } else { 1 };
            let cols = self.b[j * k..(j + w) * k].chunks_exact(k);
            for (q, col) in cols.enumerate() {
                for (row, &x) in bt[j * k..(j + w) * k].chunks_exact_mut(w).zip(col) {
                    row[q] = x;
                }
            }
            j += w;
        }
        let mut i = 0;
        while i + RV * S::LANES <= m {
            self.forward_rows::<S, RV, NR>(s, i, &bt, c);
            i += RV * S::LANES;
        }
        while i + S::LANES <= m {
            self.forward_rows::<S, 1, NR>(s, i, &bt, c);
            i += S::LANES;
        }
        while i < m {
            self.forward_rows::<Portable<1>, 1, NR>(Portable, i, &bt, c);
            i += 1;
        }
    }

    /// Rows `i..i + RV·LANES` of C, all columns (`bt` as in [`Self::forward`]).
    #[inline(always)]
    fn forward_rows<S: Simd<T>, const RV: usize, const NR: usize>(
        &self,
        s: S,
        i: usize,
        bt: &[T],
        c: &mut [T],
    ) {
        let (k, n) = (self.k, self.n);
        let mut j = 0;
        while j + NR <= n {
            self.forward_tile::<S, RV, NR>(s, i, j, &bt[j * k..(j + NR) * k], c);
            j += NR;
        }
        while j < n {
            self.forward_tile::<S, RV, 1>(s, i, j, &bt[j * k..(j + 1) * k], c);
            j += 1;
        }
    }

    /// C[i..i + RV·LANES, j..j + NR]: `RV × NR` vector accumulators, one FMA
    /// per vector of A's tile and column of B, in order of the inner index.
    /// `bt` holds B's columns `j..j + NR` row by row (`k·NR` scalars).
    #[inline(always)]
    fn forward_tile<S: Simd<T>, const RV: usize, const NR: usize>(
        &self,
        s: S,
        i: usize,
        j: usize,
        bt: &[T],
        c: &mut [T],
    ) {
        let (m, k, lanes) = (self.m, self.k, S::LANES);
        let rows = RV * lanes;
        let mut acc = [[s.zero(); RV]; NR];
        // Two steps of the inner index per iteration (less loop overhead).
        let even = k - k % 2;
        let pairs = self.a[..m * even].chunks_exact(2 * m);
        // The next tile's rows of the same columns are fetched into cache
        // while this tile runs (A is read along rows, a line per column).
        let (next, next_end) = ((i + rows).min(m - 1), (i + 2 * rows - 1).min(m - 1));
        for (cols, brows) in pairs.zip(bt[..NR * even].chunks_exact(2 * NR)) {
            s.prefetch(&cols[next]);
            s.prefetch(&cols[next_end]);
            s.prefetch(&cols[m + next]);
            s.prefetch(&cols[m + next_end]);
            Self::forward_step(s, &cols[i..i + rows], &brows[..NR], &mut acc);
            Self::forward_step(s, &cols[m + i..m + i + rows], &brows[NR..], &mut acc);
        }
        if even < k {
            let col = &self.a[even * m + i..][..rows];
            Self::forward_step(s, col, &bt[even * NR..][..NR], &mut acc);
        }
        let mut buf = [T::zero(); MAX_TILE];
        for (q, acc) in acc.iter().enumerate() {
            for (v, &a) in acc.iter().enumerate() {
                s.store(a, &mut buf[v * lanes..]);
            }
            let out = &mut c[(j + q) * m + i..][..rows];
            for (o, &x) in out.iter_mut().zip(&buf[..rows]) {
                self.put(x, o);
            }
        }
    }

    /// `acc[q] += w · brow[q]` for one step of the inner index: `w` holds
    /// `RV` vectors of A's column, `brow` the `NR` matching scalars of B.
    #[inline(always)]
    fn forward_step<S: Simd<T>, const RV: usize, const NR: usize>(
        s: S,
        w: &[T],
        brow: &[T],
        acc: &mut [[S::V; RV]; NR],
    ) {
        let mut wv = [s.zero(); RV];
        for (v, wv) in wv.iter_mut().enumerate() {
            *wv = s.load(&w[v * S::LANES..]);
        }
        for (acc, &x) in acc.iter_mut().zip(brow) {
            let x = s.splat(x);
            for (a, &w) in acc.iter_mut().zip(&wv) {
                *a = s.fma(w, x, *a);
            }
        }
    }

    /// C ← α·Aᵀ·B + β·C in tiles of `MI` columns of A × `NC` columns of B,
    /// then remainders one by one.
    #[inline(always)]
    fn transposed<S: Simd<T>, const MI: usize, const NC: usize>(&self, s: S, c: &mut [T]) {
        let mut i = 0;
        while i + MI <= self.m {
            self.transposed_rows::<S, MI, NC>(s, i, c);
            i += MI;
        }
        while i < self.m {
            self.transposed_rows::<S, 1, NC>(s, i, c);
            i += 1;
        }
    }

    /// Rows `i..i + MI` of C (columns `i..i + MI` of A), all columns.
    #[inline(always)]
    fn transposed_rows<S: Simd<T>, const MI: usize, const NC: usize>(
        &self,
        s: S,
        i: usize,
        c: &mut [T],
    ) {
        let mut j = 0;
        while j + NC <= self.n {
            self.transposed_tile::<S, MI, NC>(s, i, j, c);
            j += NC;
        }
        while j < self.n {
            self.transposed_tile::<S, MI, 1>(s, i, j, c);
            j += 1;
        }
    }

    /// C[i..i + MI, j..j + NC]: `MI × NC` dot products of length k, each in
    /// `LANES` partial sums, reduced pairwise, then the remainder in order.
    #[inline(always)]
    fn transposed_tile<S: Simd<T>, const MI: usize, const NC: usize>(
        &self,
        s: S,
        i: usize,
        j: usize,
        c: &mut [T],
    ) {
        let (m, k, lanes) = (self.m, self.k, S::LANES);
        let chunks = k / lanes;
        let kv = chunks * lanes;
        let acols: [&[T]; MI] = std::array::from_fn(|r| &self.a[(i + r) * k..][..k]);
        let bcols: [&[T]; NC] = std::array::from_fn(|q| &self.b[(j + q) * k..][..k]);
        let mut acc = [[s.zero(); NC]; MI];
        {
            let av: [&[T]; MI] = acols.map(|x| &x[..kv]);
            let bv: [&[T]; NC] = bcols.map(|x| &x[..kv]);
            // The next tile's columns of A, fetched into cache meanwhile.
            let next: [&[T]; MI] =
                std::array::from_fn(|r| &self.a[(i + MI + r).min(m - 1) * k..][..kv]);
            for ch in 0..chunks {
                let p = ch * lanes;
                for x in &next {
                    s.prefetch(&x[p]);
                }
                let mut a = [s.zero(); MI];
                for (a, x) in a.iter_mut().zip(&av) {
                    *a = s.load(&x[p..p + lanes]);
                }
                for (q, x) in bv.iter().enumerate() {
                    let b = s.load(&x[p..p + lanes]);
                    for (acc, &a) in acc.iter_mut().zip(&a) {
                        acc[q] = s.fma(a, b, acc[q]);
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (q, &a) in acc.iter().enumerate() {
                let mut sum = s.hsum(a);
                for p in kv..k {
                    sum = acols[r][p].mul_add(bcols[q][p], sum);
                }
                self.put(sum, &mut c[(j + q) * m + i + r]);
            }
        }
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

    /// `C ← α·op(A)·B + β·C` by the textbook triple loop, in f64.
    fn naive(
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
    fn filled(r: usize, c: usize, seed: usize) -> DMatrix<f64> {
        DMatrix::from_fn(r, c, |i, j| {
            let h = (i * 7919 + j * 104_729 + seed * 15_485_863) % 1000;
            h as f64 / 500.0 - 1.0
        })
    }

    /// Odd shapes: m and k off the vector widths and tile sizes, n from 1
    /// across the thin threshold.
    const SHAPES: [(usize, usize); 6] = [(1, 1), (3, 5), (13, 7), (37, 29), (128, 128), (131, 67)];
    const COLS: [usize; 7] = [1, 3, 4, 5, 8, 17, 33];

    /// Worst element error of `run` against [`naive`], relative to the sum of
    /// |terms| of that element (so cancellation cannot hide an error).
    fn worst_error<T: Real>(
        run: impl Fn(T, &DMatrix<T>, bool, &DMatrix<T>, T, &mut DMatrix<T>),
    ) -> f64 {
        let mut worst = 0.0f64;
        for (m, k) in SHAPES {
            for n in COLS {
                for ta in [false, true] {
                    for (alpha, beta) in [(1.0, 0.0), (-0.75, 0.5), (2.5, -1.25)] {
                        let a = if ta { filled(k, m, 1) } else { filled(m, k, 1) };
                        let b = filled(k, n, 2);
                        let c0 = filled(m, n, 3);
                        let want = naive(alpha, &a, ta, &b, beta, &c0);
                        let size =
                            naive(alpha.abs(), &a.abs(), ta, &b.abs(), beta.abs(), &c0.abs());
                        let cast = |x: &DMatrix<f64>| x.map(T::of);
                        let mut c = cast(&c0);
                        run(T::of(alpha), &cast(&a), ta, &cast(&b), T::of(beta), &mut c);
                        for ((g, w), s) in c.iter().zip(want.iter()).zip(size.iter()) {
                            worst = worst.max((g.f64() - w).abs() / s.max(1e-300));
                        }
                    }
                }
            }
        }
        worst
    }

    /// The thin kernels, as dispatched and as portable code (what any CPU
    /// runs, whatever `gemm` dispatches to here), match the triple loop.
    #[test]
    fn thin_kernels_match_triple_loop() {
        let portable =
            |alpha, a: &DMatrix<f64>, ta, b: &DMatrix<f64>, beta, c: &mut DMatrix<f64>| {
                thin(Portable::<4>, alpha, a, ta, b, beta, c)
            };
        assert!(worst_error::<f64>(portable) < 1e-12);
        assert!(worst_error::<f64>(gemm_thin) < 1e-12);
        assert!(worst_error::<f64>(gemm) < 1e-12);
        let portable32 =
            |alpha, a: &DMatrix<f32>, ta, b: &DMatrix<f32>, beta, c: &mut DMatrix<f32>| {
                thin(Portable::<8>, alpha, a, ta, b, beta, c)
            };
        assert!(worst_error::<f32>(portable32) < 1e-5);
        assert!(worst_error::<f32>(gemm_thin) < 1e-5);
        assert!(worst_error::<f32>(gemm) < 1e-5);
    }

    /// The native kernels give the portable code's numbers bit for bit (same
    /// FMAs in the same order), `L` being the native lane count. Vacuous on
    /// a CPU without native kernels.
    fn native_equals_portable<T: Real, const L: usize>() {
        let cast = |x: DMatrix<f64>| x.map(T::of);
        for (m, k) in SHAPES {
            for n in COLS {
                for ta in [false, true] {
                    let a = cast(if ta { filled(k, m, 4) } else { filled(m, k, 4) });
                    let b = cast(filled(k, n, 5));
                    let mut c1 = cast(filled(m, n, 6));
                    let mut c2 = c1.clone();
                    let (alpha, beta) = (T::of(0.3), T::of(-0.7));
                    thin(Portable::<L>, alpha, &a, ta, &b, beta, &mut c1);
                    if !T::thin_native(alpha, &a, ta, &b, beta, &mut c2) {
                        return;
                    }
                    assert_eq!(c1, c2, "{m}×{k}·{n}, transposed {ta}");
                }
            }
        }
    }

    #[test]
    fn native_thin_kernels_equal_portable_bitwise() {
        native_equals_portable::<f64, 4>();
        native_equals_portable::<f32, 8>();
    }

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
