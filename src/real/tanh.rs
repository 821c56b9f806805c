//! The branch-free `f32` tanh that [`Real::act_tanh`](super::Real::act_tanh)
//! uses for `f32`, so that loops over a layer vectorise.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
