//! The vector arithmetic the thin kernels (`super::thin`) are written in:
//! the [`Simd`] trait, portable arrays that stand in for vectors on any CPU,
//! and AVX2 + FMA vectors with the kernels compiled for them.

use super::thin::MAX_TILE;
use super::Real;

/// The vector arithmetic the thin kernels are written in. `Self` is a token
/// whose existence proves the instructions are available.
pub(super) trait Simd<T: Real>: Copy {
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
pub(super) struct Portable<const L: usize>;

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
pub(super) mod avx2 {
    use super::super::thin::thin;
    use super::{Real, Simd};
    use nalgebra::DMatrix;
    use std::arch::x86_64::*;

    /// Token for AVX2 + FMA: only [`Avx2::detect`] makes one, on a CPU that
    /// has both.
    #[derive(Clone, Copy)]
    pub(in crate::real) struct Avx2(());

    impl Avx2 {
        /// The token if this CPU has AVX2 and FMA (cached by std).
        pub(in crate::real) fn detect() -> Option<Self> {
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
    pub(in crate::real) unsafe fn thin_avx2<T: Real>(
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
