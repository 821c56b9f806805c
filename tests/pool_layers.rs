//! `AvgPool2x2` (issue #23) against direct loops and its adjoint, with odd
//! sizes (a dropped last row or column, as PyTorch's `AvgPool2d(2, 2)`).

mod common;
use common::layers::*;
use common::*;
use nalgebra::DMatrix;
use pcchip::layer::{AvgPool2x2, Layer};

#[test]
fn pooling_matches_direct_loops_and_its_adjoint() {
    for (n, (c, h, w, batch)) in [(3, 4, 6, 3), (1, 2, 2, 1), (2, 6, 2, 40), (2, 7, 5, 3)]
        .into_iter()
        .enumerate()
    {
        let pool = AvgPool2x2::<f64>::new(c, h, w);
        assert_eq!(
            (pool.n_in(), pool.n_out()),
            (c * h * w, c * (h / 2) * (w / 2))
        );
        assert_eq!(pool.out_hw(), (h / 2, w / 2));
        let mut r = rng(60 + n as u64);
        let v = normal::<f64>(pool.n_in(), batch, 1.0, &mut r);
        let u = normal::<f64>(pool.n_out(), batch, 1.0, &mut r);
        let y = predict(&pool, &v);
        assert!(max_abs(&(&y - direct_pool(c, h, w, &v))) < 1e-15);
        let back = feedback(&pool, &u);
        let (lhs, rhs) = (u.dot(&y), back.dot(&v));
        assert!(
            (lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0),
            "{lhs} {rhs}"
        );
        // The explicit matrix's transpose is the feedback; its column norms.
        let m = direct_pool(c, h, w, &DMatrix::identity(pool.n_in(), pool.n_in()));
        assert!(max_abs(&(back - m.transpose() * &u)) < 1e-15);
        let norms: Vec<f64> = m.column_iter().map(|col| col.norm_squared()).collect();
        assert_eq!(pool.column_sq_norms(), Some(norms));
    }
}

#[test]
fn pooling_has_no_weights_and_no_reads() {
    let pool = AvgPool2x2::<f64>::new(2, 4, 4);
    let e = DMatrix::zeros(pool.n_out(), 3);
    let d = DMatrix::zeros(pool.n_in(), 3);
    assert_eq!(pool.weight_grad(&e, &d, 1.0).shape(), (0, 0));
    assert_eq!(pool.multiplier(), 1.0);
    assert!(!pool.has_skip());
    assert_eq!(pool.reads_per_sample(), 0);
}

#[test]
#[should_panic(expected = "H, W ≥ 2")]
fn pooling_a_one_pixel_row_is_refused() {
    let _ = AvgPool2x2::<f64>::new(1, 1, 4);
}
