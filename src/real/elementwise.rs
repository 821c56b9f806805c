//! The relaxation's elementwise passes over a layer's activities, compiled
//! for the CPU's widest vectors and chosen at run time (`multiversion`:
//! AVX-512, AVX2 + FMA, or the portable build).
//!
//! A release build targets baseline x86-64 (SSE2), so without this the
//! passes around the products — φ and φ′ of every layer, the errors and
//! their squared sum, the force — run two f64 lanes wide, and at the
//! widths of the relaxation they cost as much as the products themselves.
//! Every kernel does the same operations in the same order whatever the
//! instruction set (no reassociation: the squared sums use eight fixed
//! partial sums, added pairwise), so results do not depend on the machine's
//! vector width.

use super::Real;
use multiversion::multiversion;

/// Eight partial sums of squares in f64, added pairwise at the end.
#[inline(always)]
fn finish(acc: [f64; 8]) -> f64 {
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

/// `p ← tanh z`, `d ← 1 − p²` (φ and φ′ of a tanh layer, one pass).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn tanh_and_slope<T: Real>(z: &[T], p: &mut [T], d: &mut [T]) {
    let n = z.len();
    let (p, d) = (&mut p[..n], &mut d[..n]);
    for j in 0..n {
        let t = z[j].act_tanh();
        p[j] = t;
        d[j] = T::one() - t * t;
    }
}

/// `p ← tanh z`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn tanh<T: Real>(z: &[T], p: &mut [T]) {
    let n = z.len();
    let p = &mut p[..n];
    for j in 0..n {
        p[j] = z[j].act_tanh();
    }
}

/// The prediction errors of a layer from its product `e` = W·φ(z_{ℓ−1}):
/// `e ← t − (a·e + v)` (with the skip `v` = z_{ℓ−1}) or `e ← t − a·e`;
/// returns Σ e² in f64.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn errors_and_square_sum<T: Real>(t: &[T], e: &mut [T], skip: Option<&[T]>, a: T) -> f64 {
    let n = e.len();
    let t = &t[..n];
    match skip {
        Some(v) => {
            let v = &v[..n];
            for j in 0..n {
                e[j] = t[j] - (a * e[j] + v[j]);
            }
        }
        None => {
            for j in 0..n {
                e[j] = t[j] - a * e[j];
            }
        }
    }
    let mut acc = [0.0f64; 8];
    let chunks = e.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            acc[l] += c[l].f64() * c[l].f64();
        }
    }
    for (l, x) in tail.iter().enumerate() {
        acc[l] += x.f64() * x.f64();
    }
    finish(acc)
}

/// The force on a hidden layer from its transposed product `f` = Wᵀε_{ℓ+1}:
/// `f ← (c·f)⊙φ′ − ε_ℓ [+ λ·ε_{ℓ+1}] [− g·z_ℓ]` (φ′ = `slope`, 1 when
/// `None`; the skip term when `up` is given; the leak when `leak` ≠ 0).
#[allow(clippy::too_many_arguments)]
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn force_of_layer<T: Real>(
    f: &mut [T],
    c: T,
    slope: Option<&[T]>,
    own: &[T],
    up: Option<&[T]>,
    lam: T,
    leak: T,
    z: &[T],
) {
    let n = f.len();
    let own = &own[..n];
    match (slope, up) {
        (Some(d), Some(u)) if leak == T::zero() => {
            let (d, u) = (&d[..n], &u[..n]);
            for j in 0..n {
                f[j] = (c * f[j] * d[j] - own[j]) + lam * u[j];
            }
        }
        (Some(d), None) if leak == T::zero() => {
            let d = &d[..n];
            for j in 0..n {
                f[j] = c * f[j] * d[j] - own[j];
            }
        }
        _ => {
            for j in 0..n {
                let back = match slope {
                    Some(d) => c * f[j] * d[j],
                    None => c * f[j],
                };
                let mut v = back - own[j];
                if let Some(u) = up {
                    v += lam * u[j];
                }
                if leak != T::zero() {
                    v += -leak * z[j];
                }
                f[j] = v;
            }
        }
    }
}

/// `o ← y + c·x`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn sum_into<T: Real>(o: &mut [T], y: &[T], c: T, x: &[T]) {
    let n = o.len();
    let (y, x) = (&y[..n], &x[..n]);
    for j in 0..n {
        o[j] = y[j] + c * x[j];
    }
}

/// `o ← o + c·x`.
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn add_scaled<T: Real>(o: &mut [T], c: T, x: &[T]) {
    let n = o.len();
    let x = &x[..n];
    for j in 0..n {
        o[j] += c * x[j];
    }
}

/// Whether every entry is finite with |v| ≤ `bound` (branch-free; NaN fails).
#[multiversion(targets("x86_64+avx512f+avx512vl+avx2+fma", "x86_64+avx2+fma"))]
pub fn all_within<T: Real>(x: &[T], bound: f64) -> bool {
    let bound = bound.min(f64::MAX); // so that ±∞ fails too
    let mut bad = false;
    for &v in x {
        // Written as a negated ≤ so that NaN fails.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        {
            bad |= !(v.f64().abs() <= bound);
        }
    }
    !bad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 11) as f64 / (1u64 << 53) as f64) * 6.0 - 3.0
            })
            .collect()
    }

    /// The kernels against plain loops written as the field wrote them, to
    /// the bit (odd lengths cover the vector tails).
    fn check<T: Real>() {
        for n in [0, 1, 7, 8, 9, 31, 128, 1001] {
            let of = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
            let (z, t, v, w) = (
                of(data(n, 1)),
                of(data(n, 2)),
                of(data(n, 3)),
                of(data(n, 4)),
            );
            let (mut p, mut d) = (vec![T::zero(); n], vec![T::zero(); n]);
            tanh_and_slope(&z, &mut p, &mut d);
            let mut q = vec![T::zero(); n];
            tanh(&z, &mut q);
            for j in 0..n {
                let r = z[j].act_tanh();
                assert_eq!((p[j], d[j], q[j]), (r, T::one() - r * r, r));
            }
            let a = T::of(0.37);
            for skip in [None, Some(&v[..])] {
                let mut e = w.clone();
                let sq = errors_and_square_sum(&t, &mut e, skip, a);
                let mut want = [0.0f64; 8];
                for j in 0..n {
                    let x = match skip {
                        Some(v) => t[j] - (a * w[j] + v[j]),
                        None => t[j] - a * w[j],
                    };
                    assert_eq!(e[j], x);
                    want[j % 8] += x.f64() * x.f64();
                }
                assert_eq!(sq, finish(want));
                let naive: f64 = e.iter().map(|x| x.f64() * x.f64()).sum();
                assert!((sq - naive).abs() <= 1e-12 * naive.max(1e-300));
            }
            let (c, lam) = (T::of(0.8), T::of(1.5));
            for leak in [T::zero(), T::of(0.01)] {
                for slope in [None, Some(&d[..])] {
                    for up in [None, Some(&v[..])] {
                        let mut f = w.clone();
                        force_of_layer(&mut f, c, slope, &t, up, lam, leak, &z);
                        for j in 0..n {
                            let back = match slope {
                                Some(d) => c * w[j] * d[j],
                                None => c * w[j],
                            };
                            let mut x = back - t[j];
                            if let Some(u) = up {
                                x += lam * u[j];
                            }
                            if leak != T::zero() {
                                x += -leak * z[j];
                            }
                            assert_eq!(
                                f[j],
                                x,
                                "n {n} leak {leak} slope {} up {}",
                                slope.is_some(),
                                up.is_some()
                            );
                        }
                    }
                }
            }
        }
    }

    fn check_vector_ops<T: Real>() {
        for n in [0, 1, 9, 130] {
            let of = |v: Vec<f64>| v.into_iter().map(T::of).collect::<Vec<T>>();
            let (y, x) = (of(data(n, 5)), of(data(n, 6)));
            let c = T::of(-0.3);
            let mut o = vec![T::zero(); n];
            sum_into(&mut o, &y, c, &x);
            let mut o2 = y.clone();
            add_scaled(&mut o2, c, &x);
            for j in 0..n {
                assert_eq!(o[j], y[j] + c * x[j]);
                assert_eq!(o2[j], o[j]);
            }
            assert!(all_within(&y, 3.0));
            if n > 0 {
                assert!(!all_within(&y, 1e-3));
                for bad in [T::of(f64::NAN), T::of(f64::INFINITY), T::of(-4.0)] {
                    let mut z = y.clone();
                    z[n - 1] = bad;
                    assert!(!all_within(&z, 3.5));
                    assert_eq!(all_within(&z, f64::INFINITY), bad.is_finite());
                }
            }
        }
    }

    #[test]
    fn vector_ops_equal_plain_loops() {
        check_vector_ops::<f32>();
        check_vector_ops::<f64>();
    }

    #[test]
    fn kernels_equal_plain_loops_f32() {
        check::<f32>();
    }

    #[test]
    fn kernels_equal_plain_loops_f64() {
        check::<f64>();
    }
}
