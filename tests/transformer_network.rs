//! The transformer as a PC network (issue #24): the block layer over its
//! packed core against the block's mathematics, its JVP and feedback
//! against finite differences, the tokenwise layers against a direct loop,
//! the field's force against finite differences of the energy (grouped
//! cross-entropy output), backprop through the layers against finite
//! differences of the loss, PC at a small output precision against
//! backprop, the grouped softmax cross-entropy against a direct
//! implementation and μPC's width-stable logits at initialisation.

mod common;
use common::{normal, rng};
use nalgebra::DMatrix;
use pcchip::layer::packed::{pack_block, unpack_block};
use pcchip::layer::{of_kind, TransformerBlock};
use pcchip::net::{
    loss_of_output_grouped, softmax_grouped, GptSpec, LayerKind, Loss, Network, Parameterisation,
    Topology,
};
use pcchip::relax::Field;

const V: usize = 5;
const T: usize = 4;

fn spec(d_model: usize, heads: usize, blocks: usize, mu: bool) -> GptSpec {
    GptSpec {
        vocab: V,
        seq_len: T,
        d_model,
        heads,
        blocks,
        mu_attention: mu,
        layer_norm: false,
    }
}

fn gpt(s: &GptSpec, param: Parameterisation, seed: u64) -> Network<f64> {
    let top = Topology::gpt(s).unwrap();
    Network::init(top, param, &mut rng(seed))
}

/// B sequences of pseudo-random tokens: inputs [one-hot token; one-hot
/// position] per token (T·(V + T) rows) and next-token one-hot targets
/// (T·V rows).
fn batch(b: usize, seed: u64) -> (DMatrix<f64>, DMatrix<f64>) {
    let ids: Vec<usize> = (0..b * (T + 1))
        .map(|i| ((i as u64 * 2654435761 + seed * 97) % 1009) as usize % V)
        .collect();
    let mut x = DMatrix::zeros(T * (V + T), b);
    let mut y = DMatrix::zeros(T * V, b);
    for s in 0..b {
        for t in 0..T {
            x[(t * (V + T) + ids[s * (T + 1) + t], s)] = 1.0;
            x[(t * (V + T) + V + t, s)] = 1.0;
            y[(t * V + ids[s * (T + 1) + t + 1], s)] = 1.0;
        }
    }
    (x, y)
}

fn dot(a: &[DMatrix<f64>], b: &[DMatrix<f64>]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.dot(y)).sum()
}

fn block_kind(n: usize, heads: usize, mu: bool, layer_norm: bool) -> LayerKind {
    LayerKind::Block {
        width: n,
        heads,
        seq_len: T,
        mu_attention: mu,
        layer_norm,
    }
}

/// The packed block's prediction, feedback and JVP are the block maths'
/// forward − x, VJP − u and JVP − v on the unpacked matrices; packing
/// round-trips.
#[test]
fn the_block_layer_is_the_block_maths_on_the_packed_core() {
    let n = 8;
    let mut r = rng(1);
    let w = normal::<f64>(12 * n, n, 0.4, &mut r);
    assert_eq!(pack_block(&unpack_block(&w)), w);
    let c = 0.5;
    let layer = of_kind(block_kind(n, 2, true, false), &w, c, true);
    assert_eq!((layer.n_in(), layer.n_out()), (T * n, T * n));
    assert!(layer.has_skip() && layer.multiplier() == 1.0);
    let maths = TransformerBlock::new(unpack_block(&w), 2, T, 1.0 / 4.0, c).unwrap();
    let (x, u, v) = (
        normal::<f64>(T * n, 3, 1.0, &mut r),
        normal::<f64>(T * n, 3, 1.0, &mut r),
        normal::<f64>(T * n, 3, 1.0, &mut r),
    );
    let mut p = DMatrix::zeros(T * n, 3);
    layer.predict_into(&x, &mut p);
    let (y, cache) = maths.forward(&x);
    assert!((&p + &x - &y).amax() < 1e-13);
    let (mut f, mut j) = (p.clone(), p.clone());
    layer.feedback_into(&u, &mut f);
    layer.jvp_into(&v, &mut j);
    assert!((&f + &u - maths.vjp(&cache, &u).0).amax() < 1e-13);
    assert!((&j + &v - maths.jvp(&cache, &v).0).amax() < 1e-13);
}

/// The block layer's JVP against central differences of its prediction and
/// its feedback against the JVP (⟨u, J v⟩ = ⟨Jᵀu, v⟩), for μPC and SP
/// attention scales, the second without and with the layer norm.
#[test]
fn the_block_layer_jvp_and_feedback_match_finite_differences() {
    for (k, (mu, ln)) in [(true, false), (false, false), (false, true)]
        .into_iter()
        .enumerate()
    {
        let (n, b) = (6, 2);
        let mut r = rng(10 + k as u64);
        let w = normal::<f64>(12 * n, n, 0.5, &mut r);
        let layer = of_kind(block_kind(n, 3, mu, ln), &w, 0.7, true);
        let (x, u, v) = (
            normal::<f64>(T * n, b, 1.0, &mut r),
            normal::<f64>(T * n, b, 1.0, &mut r),
            normal::<f64>(T * n, b, 1.0, &mut r),
        );
        let mut out = DMatrix::zeros(T * n, b);
        layer.predict_into(&x, &mut out);
        let (mut jv, mut jtu) = (out.clone(), out.clone());
        layer.jvp_into(&v, &mut jv);
        layer.feedback_into(&u, &mut jtu);
        let h = 1e-5;
        let at = |s: f64| {
            let mut o = DMatrix::zeros(T * n, b);
            layer.predict_into(&(&x + &v * s), &mut o);
            o
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h);
        let scale = jv.amax().max(1.0);
        assert!((&numeric - &jv).amax() < 1e-7 * scale, "mu {mu}: JVP");
        let (a, bb) = (u.dot(&jv), jtu.dot(&v));
        assert!(
            (a - bb).abs() < 1e-11 * a.abs().max(1.0),
            "mu {mu}: {a} vs {bb}"
        );
    }
}

/// A tokenwise layer is W applied to every token; its feedback Wᵀ per token.
#[test]
fn the_tokenwise_layer_reads_every_token() {
    let (d_in, d_out, b) = (3, 4, 2);
    let mut r = rng(20);
    let w = normal::<f64>(d_out, d_in, 1.0, &mut r);
    let kind = LayerKind::Tokenwise {
        d_in,
        d_out,
        seq_len: T,
    };
    let layer = of_kind(kind, &w, 0.5, false);
    assert_eq!(layer.reads_per_sample(), T);
    let (x, u) = (
        normal::<f64>(T * d_in, b, 1.0, &mut r),
        normal::<f64>(T * d_out, b, 1.0, &mut r),
    );
    let (mut p, mut f) = (DMatrix::zeros(T * d_out, b), DMatrix::zeros(T * d_in, b));
    layer.predict_into(&x, &mut p);
    layer.feedback_into(&u, &mut f);
    for s in 0..b {
        for t in 0..T {
            let xt = x.view((t * d_in, s), (d_in, 1));
            let ut = u.view((t * d_out, s), (d_out, 1));
            assert!((p.view((t * d_out, s), (d_out, 1)) - &w * xt).amax() < 1e-14);
            assert!((f.view((t * d_in, s), (d_in, 1)) - w.transpose() * ut).amax() < 1e-14);
        }
    }
}

/// The layout of the transformer and its μPC multipliers.
#[test]
fn the_layout_follows_the_paper_model() {
    let s = spec(8, 2, 3, true);
    let top = Topology::gpt(&s).unwrap();
    assert_eq!(top.depth(), 5);
    assert_eq!(
        top.widths,
        vec![T * (V + T), T * 8, T * 8, T * 8, T * 8, T * V]
    );
    assert_eq!(top.softmax_group, V);
    assert_eq!(top.weight_shape(1), (8, V + T));
    assert_eq!(top.weight_shape(2), (96, 8));
    assert_eq!(top.weight_shape(5), (V, 8));
    let a = Parameterisation::default().multipliers_of(&top);
    assert_eq!(a, vec![1.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 8.0]);
    assert!((2..=4).all(|l| top.has_skip(l) && !top.phi_drive(l)));
    assert!(!top.has_skip(1) && !top.has_skip(5));
    let bad = |s: GptSpec| match s.layout() {
        Err(pcchip::net::ArchError::Invalid { key, .. }) => key,
        Ok(_) => "ok",
    };
    assert_eq!(bad(spec(8, 3, 1, true)), "network.n_heads");
    assert_eq!(bad(spec(0, 1, 1, true)), "network.width");
}

/// Softmax per group of V rows and its cross-entropy against a direct
/// per-token implementation; the field's output energy at the feedforward
/// state is λ times that loss.
#[test]
fn grouped_softmax_cross_entropy_matches_a_direct_implementation() {
    let mut r = rng(30);
    let b = 3;
    let logits = normal::<f64>(T * V, b, 2.0, &mut r);
    let (_, y) = batch(b, 31);
    let p = softmax_grouped(&logits, V);
    let mut direct = 0.0;
    for s in 0..b {
        for t in 0..T {
            let g: Vec<f64> = (0..V).map(|i| logits[(t * V + i, s)]).collect();
            let z: f64 = g.iter().map(|v| v.exp()).sum();
            for i in 0..V {
                assert!((p[(t * V + i, s)] - g[i].exp() / z).abs() < 1e-15);
                direct -= y[(t * V + i, s)] * (g[i] - z.ln());
            }
        }
    }
    direct /= b as f64;
    let grouped = loss_of_output_grouped(Loss::CrossEntropy, V, &logits, &y);
    assert!((grouped - direct).abs() < 1e-12, "{grouped} vs {direct}");
    // Ungrouped is one softmax over all T·V rows: a different number.
    let whole = loss_of_output_grouped(Loss::CrossEntropy, 0, &logits, &y);
    assert!((whole - direct).abs() > 1e-3);

    let lambda = 0.7;
    let top = Topology::gpt(&spec(8, 2, 1, true))
        .unwrap()
        .with_lambda(lambda);
    let net = Network::init(top, Parameterisation::default(), &mut rng(32));
    let (x, y) = batch(b, 33);
    let mut field = Field::of_network(&net, x, y.clone());
    let (z, out) = field.feedforward_with_output();
    let mut f = field.hidden_zeros();
    field.force(&z, &mut f);
    let want = lambda * loss_of_output_grouped(Loss::CrossEntropy, V, &out, &y);
    assert!((field.energy() - want).abs() < 1e-12 * want);
}

fn energy_at(field: &mut Field<'_, f64>, z: &[DMatrix<f64>]) -> f64 {
    let mut f = field.hidden_zeros();
    field.force(z, &mut f);
    field.energy()
}

/// The force is −B·∂F/∂z through the whole transformer (embedding, two
/// blocks, LM head with the per-token cross-entropy), against central
/// differences along random directions.
#[test]
fn the_force_is_minus_the_energy_gradient() {
    for (k, param) in [Parameterisation::default(), Parameterisation::sp()]
        .into_iter()
        .enumerate()
    {
        let s = spec(8, 2, 2, k == 0);
        let top = Topology::gpt(&s).unwrap().with_lambda(1.3);
        let net = Network::init(top, param, &mut rng(40 + k as u64));
        let b = 3;
        let (x, y) = batch(b, 41);
        let mut field = Field::of_network(&net, x, y);
        let mut r = rng(42);
        let z: Vec<DMatrix<f64>> = field
            .feedforward()
            .iter()
            .map(|m| m + normal::<f64>(m.nrows(), m.ncols(), 0.3, &mut r))
            .collect();
        let mut force = field.hidden_zeros();
        field.force(&z, &mut force);
        for d in 0..3 {
            let mut rv = rng(50 + d);
            let v: Vec<DMatrix<f64>> = z
                .iter()
                .map(|m| normal::<f64>(m.nrows(), m.ncols(), 1.0, &mut rv))
                .collect();
            let h = 1e-5;
            let shifted = |s: f64| -> Vec<DMatrix<f64>> {
                z.iter().zip(&v).map(|(a, b)| a + b * s).collect()
            };
            let numeric = (energy_at(&mut field, &shifted(h))
                - energy_at(&mut field, &shifted(-h)))
                / (2.0 * h);
            let analytic = -dot(&force, &v) / b as f64;
            assert!(
                (numeric - analytic).abs() < 1e-6 * analytic.abs().max(1.0),
                "{param:?}: dF/dv {numeric} against {analytic}"
            );
        }
    }
}

/// Backprop through the layers against central differences of ℒ along a
/// random direction of all weights (packed blocks included).
#[test]
fn backprop_through_the_transformer_matches_finite_differences_of_the_loss() {
    for layer_norm in [false, true] {
        let s = GptSpec {
            layer_norm,
            ..spec(8, 2, 2, true)
        };
        let net = gpt(&s, Parameterisation::default(), 60);
        let (x, y) = batch(4, 61);
        common::assert_backprop_matches_directional_difference(&net, &x, &y, 62, "gpt");
    }
}

/// Relaxes the field to max |force| ≤ `tol` by explicit Euler steps of
/// `dt` from the feedforward state; the steps taken.
fn relax_to_equilibrium(
    field: &mut Field<'_, f64>,
    dt: f64,
    tol: f64,
) -> (Vec<DMatrix<f64>>, usize) {
    let mut z = field.feedforward();
    let mut f = field.hidden_zeros();
    for step in 0..20_000 {
        field.force(&z, &mut f);
        let worst = f.iter().map(|m| m.amax()).fold(0.0, f64::max);
        assert!(worst.is_finite(), "diverged at step {step}");
        if worst <= tol {
            return (z, step);
        }
        for (zk, fk) in z.iter_mut().zip(&f) {
            *zk += fk * dt;
        }
    }
    panic!("no equilibrium within 20 000 steps");
}

/// As the output precision λ → 0 the equilibrium's PC weight gradient over
/// λ tends to backprop's, first order in λ (the ratio of the relative
/// differences at λ = 1e-2 and 1e-3 is about 10), without and with the
/// layer norm.
#[test]
fn pc_gradients_tend_to_backprop_as_the_output_precision_vanishes() {
    for layer_norm in [false, true] {
        pc_tends_to_backprop(GptSpec {
            layer_norm,
            ..spec(8, 2, 2, true)
        });
    }
}

fn pc_tends_to_backprop(s: GptSpec) {
    let mut errs = vec![];
    for lambda in [1e-2, 1e-3] {
        let top = Topology::gpt(&s).unwrap().with_lambda(lambda);
        let net = Network::init(top, Parameterisation::default(), &mut rng(70));
        let (x, y) = batch(3, 71);
        let bp = Field::of_network(&net, x.clone(), y.clone()).backprop();
        let mut field = Field::of_network(&net, x, y);
        let (z, _) = relax_to_equilibrium(&mut field, 0.2, 1e-13);
        let mut f = field.hidden_zeros();
        field.force(&z, &mut f);
        let pc = field.weight_grads(&z);
        let num: f64 = pc
            .iter()
            .zip(&bp.grads)
            .map(|(p, b)| (p / lambda - b).norm_squared())
            .sum();
        let den: f64 = bp.grads.iter().map(|b| b.norm_squared()).sum();
        errs.push((num / den).sqrt());
    }
    assert!(
        errs[1] < 1e-2,
        "{s:?}: relative difference at λ = 1e-3: {errs:?}"
    );
    let ratio = errs[0] / errs[1];
    assert!(
        (5.0..20.0).contains(&ratio),
        "{s:?}: first order in λ: {errs:?}"
    );
}

/// RMS of the logits and of the last block's activities at initialisation.
fn initial_scales(d_model: usize, param: Parameterisation, mu: bool) -> (f64, f64) {
    let s = GptSpec {
        seq_len: T,
        ..spec(d_model, 4, 2, mu)
    };
    let net = gpt(&s, param, 80);
    let (x, y) = batch(8, 81);
    let field = Field::of_network(&net, x, y);
    let (z, out) = field.feedforward_with_output();
    let rms = |m: &DMatrix<f64>| (m.norm_squared() / m.len() as f64).sqrt();
    (rms(&out), rms(z.last().unwrap()))
}

/// Under μPC the logits do not grow with the width (the head's 1/N against
/// O(1) activities: they shrink like 1/√N, μP's output) and the residual
/// stream keeps its scale, while SP's logits (std 0.02 everywhere) grow
/// like √N.
#[test]
fn mupc_keeps_logits_order_one_across_widths() {
    let (mu_lo, mu_z_lo) = initial_scales(16, Parameterisation::default(), true);
    let (mu_hi, mu_z_hi) = initial_scales(256, Parameterisation::default(), true);
    assert!(mu_hi <= 1.2 * mu_lo, "μPC logits {mu_lo} → {mu_hi}");
    assert!(mu_hi > 0.1 * mu_lo, "μPC logits vanish: {mu_lo} → {mu_hi}");
    let ratio = mu_z_hi / mu_z_lo;
    assert!(
        (0.7..1.4).contains(&ratio),
        "μPC activities {mu_z_lo} → {mu_z_hi}"
    );
    let (sp_lo, _) = initial_scales(16, Parameterisation::sp(), false);
    let (sp_hi, _) = initial_scales(256, Parameterisation::sp(), false);
    assert!(sp_hi > 2.0 * sp_lo, "SP logits {sp_lo} → {sp_hi}");
}
