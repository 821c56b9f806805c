//! The transformer block's mathematics (issue #24, `layer::attention`):
//! its VJP, JVP and weight gradients against central finite differences,
//! the adjoint identity, causality (bit-identical earlier outputs), the
//! softmax rows (the derivatives also with the pre-norm layer norm), closed forms for one token and for two scalar tokens, how
//! the attention scale enters, batching, the read counts and the errors.

mod common;
use common::{normal, rel_err, rng};
use nalgebra::DMatrix;
use pcchip::layer::{BlockWeights, TransformerBlock};
use pcchip::net::Activation;
use pcchip::Real;

/// (N, H, T, B, σ as 1/d (true) or 1/√d (false)).
type Case = (usize, usize, usize, usize, bool);
const CASES: [Case; 3] = [(8, 2, 5, 3, true), (6, 3, 4, 2, false), (4, 1, 3, 1, true)];

fn weights(n: usize, seed: u64) -> BlockWeights<f64> {
    let mut r = rng(seed);
    // N(0, 1/fan_in) with a gain of 1.5, so that the softmax is far from uniform
    let mut m =
        |rows: usize, cols: usize| normal::<f64>(rows, cols, 1.5 / (cols as f64).sqrt(), &mut r);
    BlockWeights {
        wq: m(n, n),
        wk: m(n, n),
        wv: m(n, n),
        wo: m(n, n),
        w1: m(4 * n, n),
        w2: m(n, 4 * n),
    }
}

fn block(case: Case, seed: u64) -> TransformerBlock<f64> {
    let (n, h, t, _, mu) = case;
    let d = (n / h) as f64;
    let sigma = if mu { 1.0 / d } else { 1.0 / d.sqrt() };
    TransformerBlock::new(weights(n, seed), h, t, 3.0 * sigma, 0.5).unwrap()
}

/// The cases without and with the pre-norm layer norm.
fn cases() -> Vec<(usize, Case, bool)> {
    CASES
        .iter()
        .enumerate()
        .flat_map(|(s, &c)| [(s, c, false), (s, c, true)])
        .collect()
}

fn out(b: &TransformerBlock<f64>, x: &DMatrix<f64>) -> DMatrix<f64> {
    b.forward(x).0
}

fn inner(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    a.iter().zip(b.iter()).map(|(x, y)| x * y).sum()
}

const H: f64 = 1e-5;

#[test]
fn jvp_and_vjp_match_finite_differences() {
    for (s, case, ln) in cases() {
        let bl = block(case, 10 + s as u64).with_layer_norm(ln);
        let (rows, n_seq) = (bl.n_units(), case.3);
        let mut r = rng(20 + s as u64);
        let x = normal::<f64>(rows, n_seq, 1.0, &mut r);
        let (_, cache) = bl.forward(&x);
        for _ in 0..3 {
            let v = normal::<f64>(rows, n_seq, 1.0, &mut r);
            let fd = (out(&bl, &(&x + &v * H)) - out(&bl, &(&x - &v * H))) / (2.0 * H);
            let e = rel_err(&[bl.jvp(&cache, &v).0], &[fd]);
            assert!(e < 1e-6, "case {case:?}, layer norm {ln}: JVP rel err {e}");
        }
        let u = normal::<f64>(rows, n_seq, 1.0, &mut r);
        let mut fd = DMatrix::zeros(rows, n_seq);
        for k in 0..x.len() {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[k] += H;
            xm[k] -= H;
            fd[k] = (inner(&u, &out(&bl, &xp)) - inner(&u, &out(&bl, &xm))) / (2.0 * H);
        }
        let e = rel_err(&[bl.vjp(&cache, &u).0], &[fd]);
        assert!(e < 1e-6, "case {case:?}, layer norm {ln}: VJP rel err {e}");
    }
}

#[test]
fn jvp_and_vjp_are_adjoint() {
    for (s, case, ln) in cases() {
        let bl = block(case, 30 + s as u64).with_layer_norm(ln);
        let mut r = rng(40 + s as u64);
        let x = normal::<f64>(bl.n_units(), case.3, 1.0, &mut r);
        let (u, v) = (
            normal::<f64>(bl.n_units(), case.3, 1.0, &mut r),
            normal::<f64>(bl.n_units(), case.3, 1.0, &mut r),
        );
        let (_, cache) = bl.forward(&x);
        let (jv, vu) = (bl.jvp(&cache, &v).0, bl.vjp(&cache, &u).0);
        let (a, b) = (inner(&jv, &u), inner(&v, &vu));
        let scale = jv.norm() * u.norm();
        assert!(
            (a - b).abs() <= 1e-10 * scale,
            "case {case:?}, layer norm {ln}: {a} vs {b}"
        );
        // the combined pass gives the same VJP
        assert_eq!(bl.backward(&cache, &u).dx, vu);
    }
}

#[test]
fn weight_gradients_match_finite_differences() {
    for (s, case, ln) in cases() {
        let bl = block(case, 50 + s as u64).with_layer_norm(ln);
        let mut r = rng(60 + s as u64);
        let x = normal::<f64>(bl.n_units(), case.3, 1.0, &mut r);
        let u = normal::<f64>(bl.n_units(), case.3, 1.0, &mut r);
        let (_, cache) = bl.forward(&x);
        let grads = bl.weight_grads(&cache, &u);
        for (m, g) in grads.matrices().iter().enumerate() {
            let mut fd = DMatrix::zeros(g.nrows(), g.ncols());
            for k in 0..g.len() {
                let at = |dw: f64| {
                    let mut p = bl.clone();
                    p.weights_mut().matrices_mut()[m][k] += dw;
                    inner(&u, &out(&p, &x))
                };
                fd[k] = (at(H) - at(-H)) / (2.0 * H);
            }
            let e = rel_err(&[(*g).clone()], &[fd]);
            assert!(
                e < 1e-6,
                "case {case:?}, layer norm {ln}, matrix {m}: rel err {e}"
            );
        }
    }
}

#[test]
fn earlier_tokens_never_see_later_ones() {
    let case = CASES[0];
    let (n, t, n_seq) = (case.0, case.2, case.3);
    let bl = block(case, 70);
    let mut r = rng(71);
    let x = normal::<f64>(bl.n_units(), n_seq, 1.0, &mut r);
    let (y, cache) = bl.forward(&x);
    for tp in 0..t {
        let mut x2 = x.clone();
        for i in 0..n {
            x2[(tp * n + i, 1)] += 0.7;
        }
        let y2 = out(&bl, &x2);
        for b in 0..n_seq {
            for ti in 0..t {
                let (a, c) = (y.view((ti * n, b), (n, 1)), y2.view((ti * n, b), (n, 1)));
                if b != 1 || ti < tp {
                    assert_eq!(a, c, "token {ti} of sequence {b} changed with token {tp}");
                } else {
                    assert_ne!(a, c, "token {ti} ignores token {tp}");
                }
            }
        }
        // the linearised maps are causal too: exact zeros before tp (JVP)
        // and after it (VJP)
        let mut e = DMatrix::zeros(bl.n_units(), n_seq);
        e.view_mut((tp * n, 0), (n, n_seq)).fill(1.0);
        let (jv, vu) = (bl.jvp(&cache, &e).0, bl.vjp(&cache, &e).0);
        assert!(jv.rows(0, tp * n).iter().all(|&v| v == 0.0));
        assert!(vu
            .rows((tp + 1) * n, (t - tp - 1) * n)
            .iter()
            .all(|&v| v == 0.0));
        assert!(jv.rows(tp * n, n).iter().all(|&v| v != 0.0));
    }
}

#[test]
fn softmax_rows_sum_to_one_over_the_past() {
    for (s, &case) in CASES.iter().enumerate() {
        let bl = block(case, 80 + s as u64);
        let x = normal::<f64>(bl.n_units(), case.3, 1.0, &mut rng(81));
        let (_, cache) = bl.forward(&x);
        assert_eq!(cache.n_sequences(), case.3);
        for b in 0..case.3 {
            for h in 0..case.1 {
                let p = cache.probabilities(b, h);
                for t in 0..case.2 {
                    let row = p.row(t);
                    assert!((row.sum() - 1.0).abs() < 1e-14);
                    assert!(row
                        .iter()
                        .take(t + 1)
                        .all(|&v| v > 0.0 && v < 1.0 || t == 0));
                    assert!(row.iter().skip(t + 1).all(|&v| v == 0.0));
                }
                assert_eq!(p[(0, 0)], 1.0);
            }
        }
    }
}

/// ½x(1 + tanh(√(2/π)(x + 0.044715x³))), written out.
fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())
}

#[test]
fn one_token_is_value_then_output_projection() {
    // T = 1: the softmax is 1, so out = h + c·W2 GELU(W1 h), h = x + c·Wo Wv x
    let (n, c) = (8, 0.3);
    let w = weights(n, 90);
    let bl = TransformerBlock::new(w.clone(), 2, 1, 0.25, c).unwrap();
    let x = normal::<f64>(n, 2, 1.0, &mut rng(91));
    let h = &x + (&w.wo * &w.wv * &x) * c;
    let want = &h + (&w.w2 * (&w.w1 * &h).map(gelu)) * c;
    let (y, cache) = bl.forward(&x);
    assert!(rel_err(&[y], &[want]) < 1e-14);
    assert!(rel_err(&[cache.after_attention()], &[h]) < 1e-15);
}

#[test]
fn two_scalar_tokens_by_hand() {
    // N = H = d = 1: every matrix a scalar (W1, W2 as 4-vectors)
    let (wq, wk, wv, wo) = (0.9, -1.3, 0.7, 1.1);
    let w1 = [0.5, -0.8, 1.2, 0.3];
    let w2 = [0.6, 0.9, -0.4, 1.5];
    let w = BlockWeights::<f64> {
        wq: DMatrix::from_element(1, 1, wq),
        wk: DMatrix::from_element(1, 1, wk),
        wv: DMatrix::from_element(1, 1, wv),
        wo: DMatrix::from_element(1, 1, wo),
        w1: DMatrix::from_column_slice(4, 1, &w1),
        w2: DMatrix::from_row_slice(1, 4, &w2),
    };
    let (sigma, c) = (0.8, 0.5);
    let bl = TransformerBlock::new(w, 1, 2, sigma, c).unwrap();
    let (x0, x1) = (0.4, -1.7);
    let mlp = |h: f64| h + c * (0..4).map(|j| w2[j] * gelu(w1[j] * h)).sum::<f64>();
    let h0 = x0 + c * wo * wv * x0;
    let (s0, s1) = (sigma * (wq * x1) * (wk * x0), sigma * (wq * x1) * (wk * x1));
    let p1 = 1.0 / (1.0 + (s0 - s1).exp());
    let h1 = x1 + c * wo * ((1.0 - p1) * wv * x0 + p1 * wv * x1);
    let y = out(&bl, &DMatrix::from_column_slice(2, 1, &[x0, x1]));
    assert!(
        (y[0] - mlp(h0)).abs() < 1e-15 && (y[1] - mlp(h1)).abs() < 1e-15,
        "{y}"
    );
}

#[test]
fn the_attention_scale_multiplies_the_scores() {
    let case = CASES[0];
    let (n, h, t, n_seq) = (case.0, case.1, case.2, case.3);
    let w = weights(n, 100);
    let x = normal::<f64>(n * t, n_seq, 1.0, &mut rng(101));
    let sigma = 0.37;
    let a = TransformerBlock::new(w.clone(), h, t, sigma, 0.5).unwrap();
    let mut ws = w.clone();
    ws.wq *= sigma;
    let b = TransformerBlock::new(ws, h, t, 1.0, 0.5).unwrap();
    assert!(rel_err(&[out(&a, &x)], &[out(&b, &x)]) < 1e-14);
    // σ = 0: uniform attention over the past
    let z = TransformerBlock::new(w, h, t, 0.0, 0.5).unwrap();
    let (_, cache) = z.forward(&x);
    let p = cache.probabilities(2, 1);
    for ti in 0..t {
        for u in 0..=ti {
            assert!((p[(ti, u)] - 1.0 / (ti + 1) as f64).abs() < 1e-15);
        }
    }
}

#[test]
fn a_batch_is_its_sequences_and_reads_count_tokens() {
    let case = CASES[0];
    let bl = block(case, 110);
    let mut r = rng(111);
    let x = normal::<f64>(bl.n_units(), case.3, 1.0, &mut r);
    let v = normal::<f64>(bl.n_units(), case.3, 1.0, &mut r);
    let (y, cache) = bl.forward(&x);
    let (jv, jreads) = bl.jvp(&cache, &v);
    let (vu, vreads) = bl.vjp(&cache, &v);
    for b in 0..case.3 {
        let xb = x.columns(b, 1).into_owned();
        let vb = v.columns(b, 1).into_owned();
        let (yb, cb) = bl.forward(&xb);
        assert!(rel_err(&[yb], &[y.columns(b, 1).into_owned()]) < 1e-14);
        assert!(rel_err(&[bl.jvp(&cb, &vb).0], &[jv.columns(b, 1).into_owned()]) < 1e-14);
        assert!(rel_err(&[bl.vjp(&cb, &vb).0], &[vu.columns(b, 1).into_owned()]) < 1e-14);
    }
    let per = bl.reads_per_sequence();
    assert_eq!((per.q, per.total()), (case.2, 6 * case.2));
    for reads in [cache.reads, jreads, vreads, bl.backward(&cache, &v).reads] {
        for (got, want) in [
            (reads.q, per.q),
            (reads.k, per.k),
            (reads.v, per.v),
            (reads.o, per.o),
            (reads.mlp_in, per.mlp_in),
            (reads.mlp_out, per.mlp_out),
        ] {
            assert_eq!(got, want * case.3);
        }
    }
}

#[test]
fn f32_agrees_with_f64() {
    let case = CASES[1];
    let bl = block(case, 120);
    let w = bl.weights();
    let to32 = |m: &DMatrix<f64>| m.map(|v| v as f32);
    let sigma = 3.0 / ((case.0 / case.1) as f64).sqrt();
    let b32 = TransformerBlock::new(
        BlockWeights::<f32>::from_fn(case.0, |k, i, j| w.matrices()[k][(i, j)] as f32),
        case.1,
        case.2,
        sigma as f32,
        0.5,
    )
    .unwrap();
    let x = normal::<f64>(bl.n_units(), case.3, 1.0, &mut rng(121));
    let (y, cache) = bl.forward(&x);
    let (y32, cache32) = b32.forward(&to32(&x));
    assert!(rel_err(&[y32], std::slice::from_ref(&y)) < 1e-5);
    let g = bl.weight_grads(&cache, &y);
    let g32 = b32.weight_grads(&cache32, &to32(&y));
    assert!(rel_err(&[g32.w1], &[g.w1]) < 1e-4);
    assert_eq!(f32::NAME, "f32");
}

#[test]
fn inconsistent_blocks_are_errors() {
    let w = weights(6, 130);
    let err = |w: BlockWeights<f64>, h, t, s: f64| {
        TransformerBlock::new(w, h, t, s, 0.5)
            .unwrap_err()
            .to_string()
    };
    assert!(err(w.clone(), 4, 3, 1.0).contains("4 heads do not divide the width 6"));
    assert!(err(w.clone(), 0, 3, 1.0).contains("0 heads"));
    assert!(err(w.clone(), 2, 0, 1.0).contains("seq_len 0"));
    assert!(err(w.clone(), 2, 3, f64::NAN).contains("expected finite"));
    let mut bad = w.clone();
    bad.w2 = DMatrix::zeros(6, 6);
    assert_eq!(
        err(bad, 2, 3, 1.0),
        "transformer block: w2 is (6, 6); expected (6, 24) for width 6"
    );
    assert!(TransformerBlock::new(w, 3, 3, 1.0, 0.5).is_ok());
    // GELU here is the crate's
    assert!((Activation::Gelu.phi(0.7f64) - gelu(0.7)).abs() < 1e-16);
}
