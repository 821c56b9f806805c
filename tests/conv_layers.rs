//! Convolution and pooling as `Layer`s (issue #23): `Conv2d` (direct and
//! im2col paths) against nested-loop cross-correlations, its feedback
//! against the adjoint and a direct transposed convolution, its weight
//! gradient against finite differences, its 1×1 cases against `Dense`, its
//! column norms and unrolled matrix against an explicit matrix, and a
//! residual CNN in the field against its unrolled network (pooling alone:
//! tests/pool_layers.rs).

mod common;
use common::layers::*;
use common::*;
use nalgebra::DMatrix;
use pcchip::layer::{AvgPool2x2, Conv2d, ConvShape, Dense, Layer};
use pcchip::operator::WeightOperator;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Shapes (C_in, C_out, H, W, k) with batch sizes: channels unequal, k = 1,
/// 3, 5, non-square images, a kernel wider than the image, a 1×1 image,
/// more outputs than one register block and rows longer than one vector.
const SHAPES: [(usize, usize, usize, usize, usize, usize); 8] = [
    (2, 3, 5, 4, 3, 3),
    (3, 2, 4, 6, 5, 2),
    (1, 4, 3, 7, 1, 2),
    (3, 11, 6, 21, 3, 1),
    (2, 9, 3, 35, 5, 2),
    (2, 1, 2, 3, 5, 4),
    (2, 2, 1, 1, 3, 2),
    (4, 5, 3, 2, 3, 40),
];

fn shape(t: (usize, usize, usize, usize, usize, usize)) -> (ConvShape, usize) {
    (ConvShape::new(t.0, t.1, t.2, t.3, t.4), t.5)
}

/// Random weights laid out [C_out, C_in, k, k] row-major.
fn oihw(s: &ConvShape, seed: u64) -> Vec<f64> {
    normal::<f64>(s.c_out * s.patch_len(), 1, 1.0, &mut rng(seed))
        .as_slice()
        .to_vec()
}

fn at(s: &ConvShape, w: &[f64], o: usize, c: usize, di: usize, dj: usize) -> f64 {
    w[((o * s.c_in + c) * s.k + di) * s.k + dj]
}

/// The input pixel (c, i + di − k/2, j + dj − k/2), if inside the image.
fn src(s: &ConvShape, c: usize, i: usize, j: usize, di: usize, dj: usize) -> Option<usize> {
    let pad = (s.k / 2) as isize;
    let ii = i as isize + di as isize - pad;
    let jj = j as isize + dj as isize - pad;
    ((0..s.h as isize).contains(&ii) && (0..s.w as isize).contains(&jj))
        .then(|| c * s.pixels() + ii as usize * s.w + jj as usize)
}

/// y[o, i, j] = Σ_{c, di, dj} w[o, c, di, dj] · x[c, i + di − p, j + dj − p].
fn direct_conv(s: &ConvShape, w: &[f64], x: &DMatrix<f64>) -> DMatrix<f64> {
    let mut y = DMatrix::zeros(s.n_out(), x.ncols());
    for b in 0..x.ncols() {
        for o in 0..s.c_out {
            for i in 0..s.h {
                for j in 0..s.w {
                    let mut acc = 0.0;
                    for c in 0..s.c_in {
                        for di in 0..s.k {
                            for dj in 0..s.k {
                                if let Some(q) = src(s, c, i, j, di, dj) {
                                    acc += at(s, w, o, c, di, dj) * x[(q, b)];
                                }
                            }
                        }
                    }
                    y[(o * s.pixels() + i * s.w + j, b)] = acc;
                }
            }
        }
    }
    y
}

/// The transposed convolution: x[c, i + di − p, j + dj − p] += w · u[o, i, j].
fn direct_conv_t(s: &ConvShape, w: &[f64], u: &DMatrix<f64>) -> DMatrix<f64> {
    let mut x = DMatrix::zeros(s.n_in(), u.ncols());
    for b in 0..u.ncols() {
        for o in 0..s.c_out {
            for i in 0..s.h {
                for j in 0..s.w {
                    let uo = u[(o * s.pixels() + i * s.w + j, b)];
                    for c in 0..s.c_in {
                        for di in 0..s.k {
                            for dj in 0..s.k {
                                if let Some(q) = src(s, c, i, j, di, dj) {
                                    x[(q, b)] += at(s, w, o, c, di, dj) * uo;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    x
}

/// The convolution's explicit matrix, column by column from the loops.
fn dense_of(s: &ConvShape, w: &[f64]) -> DMatrix<f64> {
    direct_conv(s, w, &DMatrix::identity(s.n_in(), s.n_in()))
}

fn conv(s: &ConvShape, w: &[f64], a: f64, skip: bool) -> Conv2d<'static, f64> {
    Conv2d::owned(s.kernel_from_oihw(w), *s, a, skip)
}

#[test]
fn forward_matches_direct_cross_correlation() {
    for (n, &t) in SHAPES.iter().enumerate() {
        let (s, batch) = shape(t);
        let w = oihw(&s, n as u64);
        let layer = conv(&s, &w, 0.3, false);
        assert_eq!((layer.n_in(), layer.n_out()), (s.n_in(), s.n_out()));
        let d = normal::<f64>(s.n_in(), batch, 1.0, &mut rng(100 + n as u64));
        let got = predict(&layer, &d);
        let want = direct_conv(&s, &w, &d);
        assert!(
            max_abs(&(&got - &want)) < 1e-12 * max_abs(&want).max(1.0),
            "{s:?}"
        );
        let mut jvp = DMatrix::zeros(s.n_out(), batch);
        layer.jvp_into(&d, &mut jvp);
        assert_eq!(jvp, got, "{s:?}");
    }
}

#[test]
fn feedback_is_the_adjoint_and_the_transposed_convolution() {
    for (n, &t) in SHAPES.iter().enumerate() {
        let (s, batch) = shape(t);
        let w = oihw(&s, 10 + n as u64);
        let layer = conv(&s, &w, 1.0, false);
        let mut r = rng(200 + n as u64);
        let v = normal::<f64>(s.n_in(), batch, 1.0, &mut r);
        let u = normal::<f64>(s.n_out(), batch, 1.0, &mut r);
        let back = feedback(&layer, &u);
        let (lhs, rhs) = (u.dot(&predict(&layer, &v)), back.dot(&v));
        assert!(
            (lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0),
            "{s:?}: {lhs} {rhs}"
        );
        let want = direct_conv_t(&s, &w, &u);
        assert!(
            max_abs(&(&back - &want)) < 1e-12 * max_abs(&want).max(1.0),
            "{s:?}"
        );
    }
}

/// The layer's energy term ½Λ·mean_b‖z − a·conv_W(d) − s·z_prev‖², by loops.
fn energy_term(
    s: &ConvShape,
    w: &[f64],
    (a, precision, skip): (f64, f64, bool),
    (z, d, z_prev): (&DMatrix<f64>, &DMatrix<f64>, &DMatrix<f64>),
) -> f64 {
    let mut eps = z - direct_conv(s, w, d) * a;
    if skip {
        eps -= z_prev;
    }
    0.5 * precision * eps.norm_squared() / z.ncols() as f64
}

#[test]
fn weight_grad_matches_finite_differences_of_the_energy() {
    let cases = [
        ((2, 2, 4, 3, 3, 3), 0.7, 1.3, true),
        ((1, 3, 3, 5, 5, 2), 1.0, 1.0, false),
        ((3, 2, 2, 4, 1, 4), -0.4, 2.5, false),
    ];
    for (n, &(t, a, precision, skip)) in cases.iter().enumerate() {
        let (s, batch) = shape(t);
        let w = oihw(&s, 20 + n as u64);
        let mut r = rng(300 + n as u64);
        let z_prev = normal::<f64>(s.n_in(), batch, 1.0, &mut r);
        let d = z_prev.map(f64::tanh);
        let z = normal::<f64>(s.n_out(), batch, 1.0, &mut r);
        let layer = conv(&s, &w, a, skip);
        let mut eps = &z - predict(&layer, &d) * a;
        if skip {
            eps -= &z_prev;
        }
        let g = layer.weight_grad(&eps, &d, precision);
        assert_eq!(g.shape(), (s.c_out, s.patch_len()));
        let h = 1e-5;
        let fd = DMatrix::from_fn(s.c_out, s.patch_len(), |o, col| {
            let mut wp = w.clone();
            let mut wm = w.clone();
            wp[o * s.patch_len() + col] += h;
            wm[o * s.patch_len() + col] -= h;
            let sig = (a, precision, skip);
            let f = |w: &[f64]| energy_term(&s, w, sig, (&z, &d, &z_prev));
            (f(&wp) - f(&wm)) / (2.0 * h)
        });
        let rel = (&g - &fd).norm() / fd.norm();
        assert!(rel < 1e-6, "{s:?}: relative error {rel}");
    }
}

#[test]
fn one_by_one_kernel_on_one_pixel_is_dense() {
    let mut r = rng(7);
    for (c_in, c_out, skip) in [(3, 5, false), (4, 4, true), (1, 1, false)] {
        let s = ConvShape::new(c_in, c_out, 1, 1, 1);
        let wm = normal::<f64>(c_out, c_in, 1.0, &mut r);
        let cv = Conv2d::new(&wm, s, 0.6, skip);
        let dense = Dense::new(&wm, 0.6, skip);
        assert_eq!((cv.n_in(), cv.n_out()), (dense.n_in(), dense.n_out()));
        assert_eq!(cv.has_skip(), dense.has_skip());
        assert_eq!(cv.multiplier(), dense.multiplier());
        assert_eq!(cv.reads_per_sample(), dense.reads_per_sample());
        assert_eq!(cv.column_sq_norms(), dense.column_sq_norms());
        for batch in [1, 6, 40] {
            let d = normal::<f64>(c_in, batch, 1.0, &mut r);
            let e = normal::<f64>(c_out, batch, 1.0, &mut r);
            // The direct convolution sums in its own order: to rounding.
            assert!(max_abs(&(predict(&cv, &d) - predict(&dense, &d))) < 1e-14);
            assert!(max_abs(&(feedback(&cv, &e) - feedback(&dense, &e))) < 1e-14);
            assert_eq!(cv.weight_grad(&e, &d, 1.7), dense.weight_grad(&e, &d, 1.7));
        }
    }
}

#[test]
fn one_by_one_kernel_is_the_dense_product_per_pixel() {
    let s = ConvShape::new(3, 4, 5, 3, 1);
    let mut r = rng(8);
    let wm = normal::<f64>(4, 3, 1.0, &mut r);
    let layer = Conv2d::new(&wm, s, 1.0, false);
    let batch = 3;
    let d = normal::<f64>(s.n_in(), batch, 1.0, &mut r);
    let u = normal::<f64>(s.n_out(), batch, 1.0, &mut r);
    let (y, back) = (predict(&layer, &d), feedback(&layer, &u));
    let hw = s.pixels();
    for b in 0..batch {
        for p in 0..hw {
            let x = DMatrix::from_fn(3, 1, |c, _| d[(c * hw + p, b)]);
            let uo = DMatrix::from_fn(4, 1, |o, _| u[(o * hw + p, b)]);
            let (want, want_t) = (&wm * x, wm.transpose() * uo);
            for o in 0..4 {
                assert!((y[(o * hw + p, b)] - want[o]).abs() < 1e-13);
            }
            for c in 0..3 {
                assert!((back[(c * hw + p, b)] - want_t[c]).abs() < 1e-13);
            }
        }
    }
}

#[test]
fn unrolled_matrix_and_column_norms_match_the_explicit_matrix() {
    for (n, &t) in SHAPES.iter().enumerate() {
        let (s, _) = shape(t);
        let w = oihw(&s, 30 + n as u64);
        let layer = conv(&s, &w, 1.0, false);
        let m = dense_of(&s, &w);
        let unrolled = layer.unrolled().expect("a matrix core");
        assert_eq!(unrolled, m, "{s:?}");
        let want: Vec<f64> = m.column_iter().map(|c| c.norm_squared()).collect();
        let got = layer.column_sq_norms().expect("a matrix core");
        assert_eq!(got.len(), s.n_in());
        for (g, q) in got.iter().zip(&want) {
            assert!((g - q).abs() < 1e-12 * q.max(1.0), "{s:?}: {g} {q}");
        }
    }
}

/// A matrix core that counts its batched products and their columns.
struct Counting {
    w: DMatrix<f64>,
    forward: AtomicUsize,
    transposed: AtomicUsize,
    columns: AtomicUsize,
}

impl WeightOperator<f64> for Counting {
    fn n_out(&self) -> usize {
        self.w.nrows()
    }
    fn n_in(&self) -> usize {
        self.w.ncols()
    }
    fn forward_into(&self, v: &DMatrix<f64>, out: &mut DMatrix<f64>) {
        self.forward.fetch_add(1, Ordering::Relaxed);
        self.columns.store(v.ncols(), Ordering::Relaxed);
        self.w.forward_into(v, out);
    }
    fn transpose_into(&self, u: &DMatrix<f64>, out: &mut DMatrix<f64>) {
        self.transposed.fetch_add(1, Ordering::Relaxed);
        self.columns.store(u.ncols(), Ordering::Relaxed);
        self.w.transpose_into(u, out);
    }
}

#[test]
fn each_direction_is_one_batched_product_through_the_core() {
    let s = ConvShape::new(2, 3, 4, 5, 3);
    let w = oihw(&s, 40);
    let core = Counting {
        w: s.kernel_from_oihw(&w),
        forward: AtomicUsize::new(0),
        transposed: AtomicUsize::new(0),
        columns: AtomicUsize::new(0),
    };
    let layer = Conv2d::new(&core, s, 1.0, false);
    assert_eq!(layer.reads_per_sample(), 20);
    assert!(layer.unrolled().is_none() && layer.column_sq_norms().is_none());
    let mut r = rng(41);
    let d = normal::<f64>(s.n_in(), 3, 1.0, &mut r);
    let y = predict(&layer, &d);
    assert_eq!(core.forward.load(Ordering::Relaxed), 1);
    assert_eq!(core.columns.load(Ordering::Relaxed), 20 * 3);
    assert!(max_abs(&(y - direct_conv(&s, &w, &d))) < 1e-12);
    let u = normal::<f64>(s.n_out(), 3, 1.0, &mut r);
    let back = feedback(&layer, &u);
    assert_eq!(core.transposed.load(Ordering::Relaxed), 1);
    assert_eq!(core.columns.load(Ordering::Relaxed), 20 * 3);
    assert!(max_abs(&(back - direct_conv_t(&s, &w, &u))) < 1e-12);
    layer.weight_grad(&u, &d, 1.0);
    assert_eq!(
        core.forward.load(Ordering::Relaxed),
        1,
        "the gradient reads no array"
    );
    assert_eq!(core.transposed.load(Ordering::Relaxed), 1);
}

/// Reused work buffers carry nothing over between calls of any batch size.
#[test]
fn repeated_products_do_not_depend_on_earlier_calls() {
    let s = ConvShape::new(2, 2, 3, 4, 3);
    let w = oihw(&s, 50);
    let layer = conv(&s, &w, 1.0, true);
    let mut r = rng(51);
    for batch in [3, 2, 3, 1, 3] {
        let big = normal::<f64>(s.n_in(), batch, 1e6, &mut r);
        let _ = predict(&layer, &big);
        let _ = feedback(&layer, &normal::<f64>(s.n_out(), batch, 1e6, &mut r));
        let d = normal::<f64>(s.n_in(), batch, 1.0, &mut r);
        let u = normal::<f64>(s.n_out(), batch, 1.0, &mut r);
        let fresh = conv(&s, &w, 1.0, true);
        assert_eq!(predict(&layer, &d), predict(&fresh, &d));
        assert_eq!(feedback(&layer, &u), feedback(&fresh, &u));
        assert_eq!(
            layer.weight_grad(&u, &d, 1.0),
            fresh.weight_grad(&u, &d, 1.0)
        );
    }
}

#[test]
fn kernel_layout_is_oihw() {
    let s = ConvShape::new(2, 3, 1, 1, 3);
    let w: Vec<f64> = (0..3 * 2 * 9).map(|v| v as f64).collect();
    let m = s.kernel_from_oihw(&w);
    assert_eq!(m.shape(), (3, 18));
    // w[o=2][c=1][di=0][dj=2] sits at row 2, column 1·9 + 0·3 + 2.
    assert_eq!(m[(2, 11)], ((2 * 2 + 1) * 3 * 3 + 2) as f64);
}

#[test]
#[should_panic(expected = "C_in = C_out")]
fn a_skip_needs_equal_channels() {
    let s = ConvShape::new(2, 3, 2, 2, 1);
    let _ = Conv2d::owned(DMatrix::<f64>::zeros(3, 2), s, 1.0, true);
}

#[test]
#[should_panic(expected = "C_out × C_in·k²")]
fn a_kernel_of_the_wrong_shape_is_refused() {
    let s = ConvShape::new(2, 3, 2, 2, 3);
    let _ = Conv2d::owned(DMatrix::<f64>::zeros(3, 2), s, 1.0, false);
}

#[test]
#[should_panic(expected = "odd")]
fn an_even_kernel_is_refused() {
    let _ = ConvShape::new(1, 1, 4, 4, 2);
}

/// A small residual CNN (conv → residual conv block → pool → dense) drives
/// the relaxation field through the `Layer` trait alone, and is the dense
/// network of its unrolled matrices: same feedforward, force, energy and
/// Gauss–Newton product, and each kernel gradient is the dense gradient
/// summed over the entries that share the weight.
#[test]
fn a_residual_cnn_in_the_field_is_its_unrolled_dense_network() {
    use pcchip::net::{Activation, Loss};
    use pcchip::relax::{Field, FieldSpec};
    let (s1, s2) = (ConvShape::new(2, 3, 4, 4, 3), ConvShape::new(3, 3, 4, 4, 3));
    let (w1, w2) = (oihw(&s1, 70), oihw(&s2, 71));
    let pool = AvgPool2x2::<f64>::new(3, 4, 4);
    let mut r = rng(72);
    let head = normal::<f64>(2, pool.n_out(), 0.5, &mut r);
    let (x, y) = (
        normal::<f64>(32, 5, 1.0, &mut r),
        normal::<f64>(2, 5, 1.0, &mut r),
    );
    let spec = || FieldSpec {
        multipliers: vec![0.3, 0.2, 1.0, 0.7],
        skips: vec![false, true, false, false],
        phi_drive: vec![false, true, true, true],
        activation: Activation::Tanh,
        loss: Loss::Mse,
        softmax_group: 0,
        lambda: 2.0,
        leak: 0.0,
    };
    let (c1, c2) = (conv(&s1, &w1, 0.3, false), conv(&s2, &w2, 0.2, true));
    let (m1, m2) = (c1.unrolled().unwrap(), c2.unrolled().unwrap());
    let m_pool = direct_pool(3, 4, 4, &DMatrix::identity(48, 48));
    let cnn: Vec<Box<dyn Layer<f64>>> = vec![
        Box::new(c1),
        Box::new(c2),
        Box::new(pool),
        Box::new(Dense::owned(head.clone(), 0.7, false)),
    ];
    let dense: Vec<Box<dyn Layer<f64>>> = vec![
        Box::new(Dense::owned(m1, 0.3, false)),
        Box::new(Dense::owned(m2, 0.2, true)),
        Box::new(Dense::owned(m_pool, 1.0, false)),
        Box::new(Dense::owned(head, 0.7, false)),
    ];
    let mut fc = Field::with_layers(cnn, spec(), x.clone(), y.clone());
    let mut fd = Field::with_layers(dense, spec(), x, y);
    let rel = |a: &[DMatrix<f64>], b: &[DMatrix<f64>]| rel_err(a, b);
    assert!(rel(&fc.feedforward(), &fd.feedforward()) < 1e-13);
    let z: Vec<DMatrix<f64>> = fd
        .feedforward()
        .iter()
        .map(|m| m.map(|v| v + 0.3 * (v * 7.0).sin()))
        .collect();
    let (mut f1, mut f2) = (fd.hidden_zeros(), fd.hidden_zeros());
    fc.force(&z, &mut f1);
    fd.force(&z, &mut f2);
    assert!(rel(&f1, &f2) < 1e-13, "force: {}", rel(&f1, &f2));
    assert!((fc.energy() - fd.energy()).abs() < 1e-13 * fd.energy());
    fc.linearise();
    fd.linearise();
    let v: Vec<DMatrix<f64>> = z.iter().map(|m| m.map(|t| (3.0 * t).cos())).collect();
    fc.hvp(&v, &mut f1);
    fd.hvp(&v, &mut f2);
    assert!(rel(&f1, &f2) < 1e-13, "hvp: {}", rel(&f1, &f2));
    assert!(
        rel(&fc.hessian_diagonal(), &fd.hessian_diagonal()) < 1e-13,
        "Jacobi diagonal"
    );
    let (gc, gd) = (fc.weight_grads(&z), fd.weight_grads(&z));
    assert_eq!(gc[2].shape(), (0, 0), "pooling has no weights");
    assert!(rel(&gc[3..], &gd[3..]) < 1e-13);
    for (l, s) in [(0, s1), (1, s2)] {
        let labels: Vec<f64> = (1..=s.c_out * s.patch_len()).map(|v| v as f64).collect();
        let map = conv(&s, &labels, 1.0, false).unrolled().unwrap();
        let mut tied = DMatrix::zeros(s.c_out, s.patch_len());
        for (m, g) in map.iter().zip(gd[l].iter()) {
            if *m > 0.0 {
                let idx = *m as usize - 1;
                tied[(idx / s.patch_len(), idx % s.patch_len())] += g;
            }
        }
        assert!(rel(&[gc[l].clone()], &[tied]) < 1e-12, "layer {}", l + 1);
    }
}

/// Over a programmed (non-ideal) crossbar: the layer computes with the
/// array's effective weights, one counted read per product of the batch.
#[test]
fn a_conv_over_an_analog_crossbar_reads_it_once_per_product() {
    use pcchip::analog::{Crossbar, CrossbarConfig};
    let s = ConvShape::new(2, 3, 3, 4, 3);
    let kernel = s.kernel_from_oihw(&oihw(&s, 80));
    let xb = Crossbar::program(&kernel, &CrossbarConfig::default(), &mut rng(81)).unwrap();
    let w_eff = xb.effective_weights().clone();
    assert_ne!(w_eff, kernel, "the default device is not ideal");
    let layer = Conv2d::new(&xb, s, 0.5, false);
    let exact = Conv2d::owned(w_eff.clone(), s, 0.5, false);
    let mut r = rng(82);
    let (d, u) = (
        normal::<f64>(s.n_in(), 4, 1.0, &mut r),
        normal::<f64>(s.n_out(), 4, 1.0, &mut r),
    );
    let before = xb.reads().unwrap();
    let y = predict(&layer, &d);
    assert_eq!(xb.reads().unwrap(), before + 1);
    assert_eq!(feedback(&layer, &u), feedback(&exact, &u));
    assert_eq!(xb.reads().unwrap(), before + 2);
    assert_eq!(y, predict(&exact, &d));
    let w_oihw: Vec<f64> = w_eff.transpose().as_slice().to_vec();
    assert!(max_abs(&(y - direct_conv(&s, &w_oihw, &d))) < 1e-12);
    assert_eq!(layer.column_sq_norms(), exact.column_sq_norms());
}

/// The f32 layer agrees with the f64 one to single precision.
#[test]
fn f32_conv_and_pool_match_f64() {
    let s = ConvShape::new(3, 4, 6, 5, 3);
    let w = oihw(&s, 90);
    let w32: Vec<f32> = w.iter().map(|&v| v as f32).collect();
    let (c64, c32) = (
        conv(&s, &w, 1.0, false),
        Conv2d::owned(s.kernel_from_oihw(&w32), s, 1.0, false),
    );
    let mut r = rng(91);
    let d = normal::<f64>(s.n_in(), 7, 1.0, &mut r);
    let u = normal::<f64>(s.n_out(), 7, 1.0, &mut r);
    let (mut y32, mut b32) = (
        DMatrix::<f32>::zeros(s.n_out(), 7),
        DMatrix::<f32>::zeros(s.n_in(), 7),
    );
    c32.predict_into(&d.map(|v| v as f32), &mut y32);
    c32.feedback_into(&u.map(|v| v as f32), &mut b32);
    let g32 = c32.weight_grad(&u.map(|v| v as f32), &d.map(|v| v as f32), 1.0);
    let close = |a: &DMatrix<f32>, b: &DMatrix<f64>| {
        max_abs(&(a.map(f64::from) - b)) < 1e-5 * max_abs(b).max(1.0)
    };
    assert!(close(&y32, &predict(&c64, &d)));
    assert!(close(&b32, &feedback(&c64, &u)));
    assert!(close(&g32, &c64.weight_grad(&u, &d, 1.0)));
    let pool = AvgPool2x2::<f32>::new(2, 4, 6);
    let x = normal::<f64>(48, 3, 1.0, &mut r);
    let mut p32 = DMatrix::<f32>::zeros(12, 3);
    pool.predict_into(&x.map(|v| v as f32), &mut p32);
    assert!(close(&p32, &direct_pool(2, 4, 6, &x)));
}
