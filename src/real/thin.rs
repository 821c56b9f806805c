//! The hand-written kernels for thin products `C ← α·op(A)·B + β·C` (B with
//! few columns, as in the relaxation's W·v and Wᵀ·u), written once over the
//! vectors of `super::simd` and run without packing.

use super::gemm::{scale, view};
use super::simd::{Portable, Simd};
use super::Real;
use nalgebra::DMatrix;

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
pub(super) fn thin<T: Real, S: Simd<T>>(
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
pub(super) const MAX_TILE: usize = 64;

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

#[cfg(test)]
mod tests {
    use super::super::gemm::tests::{filled, naive, COLS, SHAPES};
    use super::super::{gemm, gemm_thin};
    use super::*;

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
}
