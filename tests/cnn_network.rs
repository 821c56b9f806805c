//! The residual CNN as a PC network (issue #23): its layout and μPC
//! scalings, the field's force against finite differences of the energy,
//! backprop through the layers against finite differences of the loss and
//! against the dense backprop on a dense chain, PC at a small output
//! precision against backprop, μPC's width-stable initial output, and
//! results independent of the thread count.

mod common;
use nalgebra::DMatrix;
use pcchip::net::{
    backprop, Activation, LayerKind, Loss, Network, OptimiserKind, Parameterisation, ResNetSpec,
    Topology,
};
use pcchip::relax::fixed_point::{self, FixedPointSettings};
use pcchip::relax::{relax, Dynamics, Field, Method, Precond, RelaxConfig, StopReason, System};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn normal(rows: usize, cols: usize, sd: f64, r: &mut ChaCha8Rng) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| {
        sd * <StandardNormal as Distribution<f64>>::sample(&StandardNormal, r)
    })
}

/// A small residual CNN: 2×6×6 images, 3 channels, 2 stages (6 → 3 → 1
/// pixels, the second pool dropping a row and a column), one block each.
fn topology(act: Activation, loss: Loss, channels: usize) -> Topology {
    let spec = ResNetSpec {
        image: [2, 6, 6],
        channels,
        blocks_per_stage: 1,
        stages: 2,
        kernel: 3,
        n_out: 4,
    };
    let (kinds, widths) = spec.layout().unwrap();
    Topology::of_layers(kinds, widths, act).with_loss(loss)
}

fn net(top: Topology, seed: u64) -> Network<f64> {
    Network::init(top, Parameterisation::default(), &mut rng(seed))
}

/// One-hot targets (cross-entropy) or Gaussian ones (MSE).
fn batch(net: &Network<f64>, b: usize, seed: u64) -> (DMatrix<f64>, DMatrix<f64>) {
    let mut r = rng(seed);
    let x = normal(net.topology.widths[0], b, 1.0, &mut r);
    let n_out = *net.topology.widths.last().unwrap();
    let y = match net.topology.loss {
        Loss::Mse => normal(n_out, b, 1.0, &mut r),
        Loss::CrossEntropy => DMatrix::from_fn(n_out, b, |i, j| f64::from(i == (j * 7) % n_out)),
    };
    (x, y)
}

fn energy_at(field: &mut Field<'_, f64>, z: &[DMatrix<f64>]) -> f64 {
    let mut f = field.hidden_zeros();
    field.force(z, &mut f);
    field.energy()
}

fn dot(a: &[DMatrix<f64>], b: &[DMatrix<f64>]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.dot(y)).sum()
}

#[test]
fn the_layout_and_its_mupc_scalings_follow_the_paper_code() {
    let top = topology(Activation::Tanh, Loss::Mse, 3);
    // conv, block, pool, conv, block, pool, readout
    assert_eq!(top.widths, vec![72, 108, 108, 27, 27, 27, 3, 4]);
    assert!(top.validate().is_ok());
    let skips: Vec<bool> = (1..=7).map(|l| top.has_skip(l)).collect();
    assert_eq!(skips, [false, true, false, false, true, false, false]);
    let phi: Vec<bool> = (1..=7).map(|l| top.phi_drive(l)).collect();
    assert_eq!(phi, skips, "only residual blocks apply φ to their input");
    let a = Parameterisation::default()
        .for_topology(true)
        .multipliers_of(&top);
    let blocks = 2f64.sqrt();
    let want = [
        1.0 / 18f64.sqrt(),                // stage conv, 2·9 inputs
        5.0 / 3.0 / 27f64.sqrt() / blocks, // block, 3·9 inputs, gain 5/3
        1.0,                               // pool
        1.0 / 27f64.sqrt(),                // stage conv, 3·9 inputs
        5.0 / 3.0 / 27f64.sqrt() / blocks, // block
        1.0,                               // pool
        1.0 / 3.0,                         // readout: 1/fan_in
    ];
    for (l, (got, want)) in a.iter().zip(want).enumerate() {
        assert!(
            (got - want).abs() < 1e-15,
            "a_{} = {got}, want {want}",
            l + 1
        );
    }
    assert_eq!(Parameterisation::sp().multipliers_of(&top), vec![1.0; 7]);
    assert_eq!(top.weight_shape(2), (3, 27));
    assert_eq!(top.weight_shape(3), (0, 0));
    assert_eq!(top.n_params(), 3 * 18 + 3 * 27 * 3 + 4 * 3);
}

#[test]
fn the_learning_rates_follow_the_paper_code() {
    // Adam: first conv 1, blocks 1/√(C·B), other convs and readout 1/√C;
    // SGD γ₀²·C everywhere; SP 1 (C = 3 channels, B = 2 blocks).
    let top = topology(Activation::Tanh, Loss::Mse, 3);
    let p = Parameterisation::default().for_topology(true);
    let (c, b) = (3f64, 2f64);
    let adam = [
        1.0,
        1.0 / (c * b).sqrt(),
        1.0,
        1.0 / c.sqrt(),
        1.0 / (c * b).sqrt(),
        1.0,
        1.0 / c.sqrt(),
    ];
    for (l, want) in (1..=7).zip(adam) {
        let got = p.lr_factor_of(OptimiserKind::Adam, &top, l);
        assert!(
            (got - want).abs() < 1e-15,
            "Adam layer {l}: {got}, want {want}"
        );
        let sgd = p.lr_factor_of(OptimiserKind::Sgd, &top, l);
        let want_sgd = if matches!(top.kind(l), LayerKind::Pool { .. }) {
            1.0
        } else {
            c
        };
        assert!((sgd - want_sgd).abs() < 1e-15, "SGD layer {l}: {sgd}");
        assert_eq!(
            Parameterisation::sp().lr_factor_of(OptimiserKind::Adam, &top, l),
            1.0
        );
    }
}

#[test]
fn initial_weights_follow_the_parameterisation() {
    let spec = ResNetSpec {
        image: [4, 8, 8],
        channels: 64,
        blocks_per_stage: 1,
        stages: 1,
        kernel: 3,
        n_out: 10,
    };
    let (kinds, widths) = spec.layout().unwrap();
    let top = Topology::of_layers(kinds, widths, Activation::Tanh);
    let mupc: Network<f64> = Network::init(top.clone(), Parameterisation::default(), &mut rng(1));
    let w = mupc.w(2); // 64 × 576 block kernel
    let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
    assert!((var - 1.0).abs() < 0.02, "μPC: N(0, 1), variance {var}");
    let sp: Network<f64> = Network::init(top, Parameterisation::sp(), &mut rng(1));
    let bound = 1.0 / 576f64.sqrt();
    let w = sp.w(2);
    assert!(w.amax() <= bound, "SP: U(±1/√(C·k²))");
    let var = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
    assert!(
        (var / (bound * bound / 3.0) - 1.0).abs() < 0.05,
        "SP variance {var}"
    );
    assert_eq!(sp.w(3).shape(), (0, 0), "the pool has no weights");
}

/// The force is −B·∂F/∂z (F the batch mean): along random directions,
/// against central differences, for tanh and relu-free linear nets, MSE
/// and cross-entropy.
#[test]
fn the_force_is_minus_the_energy_gradient() {
    for (k, (act, loss)) in [
        (Activation::Tanh, Loss::Mse),
        (Activation::Tanh, Loss::CrossEntropy),
        (Activation::Linear, Loss::Mse),
    ]
    .into_iter()
    .enumerate()
    {
        let n = net(topology(act, loss, 3).with_lambda(1.7), 10 + k as u64);
        let (x, y) = batch(&n, 3, 20 + k as u64);
        let mut field = Field::of_network(&n, x, y);
        let mut r = rng(30 + k as u64);
        let z: Vec<DMatrix<f64>> = field
            .feedforward()
            .iter()
            .map(|m| m + normal(m.nrows(), m.ncols(), 0.3, &mut r))
            .collect();
        let mut force = field.hidden_zeros();
        field.force(&z, &mut force);
        for d in 0..3 {
            let v: Vec<DMatrix<f64>> = z
                .iter()
                .map(|m| normal(m.nrows(), m.ncols(), 1.0, &mut rng(40 + d)))
                .collect();
            let h = 1e-5;
            let shifted = |s: f64| -> Vec<DMatrix<f64>> {
                z.iter().zip(&v).map(|(a, b)| a + b * s).collect()
            };
            let (fp, fm) = (
                energy_at(&mut field, &shifted(h)),
                energy_at(&mut field, &shifted(-h)),
            );
            let numeric = (fp - fm) / (2.0 * h);
            let analytic = -dot(&force, &v) / 3.0;
            assert!(
                (numeric - analytic).abs() < 1e-6 * analytic.abs().max(1.0),
                "{act:?} {loss:?}: dF/dv {numeric} against {analytic}"
            );
        }
    }
}

/// Backprop through the layers against central differences of ℒ along
/// random weight directions (pools have no weights).
#[test]
fn backprop_through_the_layers_matches_finite_differences_of_the_loss() {
    for (k, loss) in [Loss::Mse, Loss::CrossEntropy].into_iter().enumerate() {
        let top = topology(Activation::Tanh, loss, 3);
        let n = net(top.clone(), 50 + k as u64);
        let (x, y) = batch(&n, 4, 60 + k as u64);
        let grads = Field::of_network(&n, x.clone(), y.clone()).backprop().grads;
        assert_eq!(grads[2].shape(), (0, 0));
        let label = format!("{loss:?}");
        common::assert_backprop_matches_directional_difference(&n, &x, &y, 70 + k as u64, &label);
    }
}

/// On a dense chain the layer-wise backprop is the dense one.
#[test]
fn layer_backprop_is_the_dense_backprop_on_a_dense_chain() {
    for loss in [Loss::Mse, Loss::CrossEntropy] {
        let top = Topology::uniform(12, 16, 5, 4)
            .with_activation(Activation::Tanh)
            .with_skips(true)
            .with_loss(loss);
        let n: Network<f64> = Network::init(top, Parameterisation::default(), &mut rng(80));
        let (x, y) = batch(&n, 6, 81);
        let dense = backprop(&n, &x, &y);
        let layered = Field::of_network(&n, x, y).backprop();
        assert!((dense.loss - layered.loss).abs() < 1e-14);
        for (a, b) in dense.grads.iter().zip(&layered.grads) {
            assert!((a - b).amax() < 1e-13 * a.amax().max(1.0), "{loss:?}");
        }
    }
}

/// As the output precision λ → 0 the equilibrium's PC gradient over λ
/// tends to backprop's (the error propagated from the output is first
/// order in λ): the relative difference shrinks in proportion to λ.
#[test]
fn pc_gradients_tend_to_backprop_as_the_output_precision_vanishes() {
    let mut errs = vec![];
    for lambda in [1e-2, 1e-3] {
        let top = topology(Activation::Tanh, Loss::Mse, 3).with_lambda(lambda);
        let n = net(top, 90);
        let (x, y) = batch(&n, 4, 91);
        let bp = Field::of_network(&n, x.clone(), y.clone()).backprop();
        let mut field = Field::of_network(&n, x, y);
        let eq = fixed_point::solve(&field, &FixedPointSettings::default());
        assert_eq!(eq.n_converged, eq.batch, "λ = {lambda}: converged");
        let mut f = field.hidden_zeros();
        field.force(&eq.activities, &mut f);
        let pc = field.weight_grads(&eq.activities);
        let num: f64 = pc
            .iter()
            .zip(&bp.grads)
            .map(|(p, b)| (p / lambda - b).norm_squared())
            .sum();
        let den: f64 = bp.grads.iter().map(|b| b.norm_squared()).sum();
        errs.push((num / den).sqrt());
    }
    assert!(errs[1] < 2e-2, "relative difference at λ = 1e-3: {errs:?}");
    let ratio = errs[0] / errs[1];
    assert!((5.0..20.0).contains(&ratio), "first order in λ: {errs:?}");
}

/// Under μPC every hidden activity keeps its scale as the channels grow
/// 16-fold (each conv's 1/√(C·k²) against unit-variance weights); the
/// readout's 1/fan_in makes the output shrink like 1/√(C·pixels), μP's
/// vanishing initial output.
#[test]
fn mupc_keeps_hidden_activities_order_one_across_channels() {
    let rms = |m: &DMatrix<f64>| (m.norm_squared() / m.len() as f64).sqrt();
    let run = |channels: usize| {
        let n = net(topology(Activation::Tanh, Loss::Mse, channels), 100);
        let (x, y) = batch(&n, 16, 101);
        let (z, out) = Field::of_network(&n, x, y).feedforward_with_output();
        (z.iter().map(rms).collect::<Vec<_>>(), rms(&out))
    };
    let ((small, out_small), (large, out_large)) = (run(4), run(64));
    for (l, (a, b)) in small.iter().zip(&large).enumerate() {
        assert!(
            b / a > 0.7 && b / a < 1.4,
            "z_{}: rms {a} at C = 4, {b} at C = 64",
            l + 1
        );
    }
    let ratio = out_large / out_small;
    assert!(
        ratio > 0.25 / 1.5 && ratio < 0.25 * 1.5,
        "output shrinks like 1/√C: {ratio}"
    );
}

#[test]
fn a_topology_whose_kinds_do_not_fit_its_widths_is_refused() {
    let mut top = topology(Activation::Tanh, Loss::Mse, 3);
    top.widths[2] += 1;
    assert!(top.validate().unwrap_err().to_string().contains("layer 2"));
    let mut top = topology(Activation::Tanh, Loss::Mse, 3);
    top.layers.pop();
    assert!(top.validate().is_err());
    assert_eq!(top.kind(1), top.layers[0]);
    assert!(matches!(top.kind(3), LayerKind::Pool { .. }));
}

/// A linear CNN is a linear network of its unrolled maps: its exact
/// equilibrium and F* (the closed forms) are the fixed-point solver's.
#[test]
fn a_linear_cnn_meets_the_closed_form_equilibrium() {
    use pcchip::net::{equilibrium_energy, exact_equilibrium};
    let n = net(
        topology(Activation::Linear, Loss::Mse, 3).with_lambda(0.5),
        110,
    );
    let (x, y) = batch(&n, 5, 111);
    let mut field = Field::of_network(&n, x.clone(), y.clone());
    let eq = fixed_point::solve(&field, &FixedPointSettings::default());
    let energy = energy_at(&mut field, &eq.activities);
    let closed = equilibrium_energy(&n, &x, &y).unwrap();
    assert!(
        (energy - closed).abs() < 1e-10 * closed,
        "F {energy} against F* {closed}"
    );
    let exact = exact_equilibrium(&n, &x, &y).unwrap();
    for (k, z) in eq.activities.iter().enumerate() {
        assert!((z - &exact[k + 1]).amax() < 1e-9, "z_{}", k + 1);
    }
}

#[test]
fn relaxation_and_backprop_do_not_depend_on_the_thread_count() {
    let n = net(topology(Activation::Tanh, Loss::Mse, 5), 40);
    let (x, y) = batch(&n, 16, 41);
    let go = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut field = Field::of_network(&n, x.clone(), y.clone());
            let grads = field.backprop().grads;
            let z0 = field.feedforward();
            let hidden = n.topology.widths.len() - 2;
            let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; hidden]);
            let cfg = RelaxConfig {
                t_max_tau: 10.0,
                residual_tol: 0.0,
                noise_std: 0.01,
                ..Default::default()
            };
            let state = relax(&mut sys, z0, &cfg, &mut rng(42), None).unwrap().state;
            (state, grads)
        })
    };
    let ((z1, g1), (z2, g2)) = (go(1), go(2));
    let same = |a: &[DMatrix<f64>], b: &[DMatrix<f64>]| {
        a.iter().zip(b).all(|(p, q)| {
            p.iter()
                .zip(q.iter())
                .all(|(u, v)| u.to_bits() == v.to_bits())
        })
    };
    assert!(
        same(&z1, &z2),
        "relaxed activities differ with 1 and 2 threads"
    );
    assert!(
        same(&g1, &g2),
        "backprop gradients differ with 1 and 2 threads"
    );
}

#[test]
fn stiff_relaxations_reach_the_fixed_point_equilibrium() {
    // Rosenbrock stage solves through the layers' own shapes (convs, pools
    // and the readout differ in width), with either preconditioner.
    let n = net(topology(Activation::Tanh, Loss::Mse, 4), 120);
    let (x, y) = batch(&n, 6, 121);
    let eq = fixed_point::solve(
        &Field::of_network(&n, x.clone(), y.clone()),
        &FixedPointSettings::default(),
    );
    let hidden = n.topology.widths.len() - 2;
    for (method, preconditioner) in [
        (Method::Ros2, Precond::Sweep),
        (Method::Ros3, Precond::Sweep),
        (Method::Ros2, Precond::Tridiagonal),
    ] {
        let mut field = Field::of_network(&n, x.clone(), y.clone());
        let z0 = field.feedforward();
        let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; hidden]);
        let cfg = RelaxConfig {
            method,
            preconditioner,
            dt_tau: 0.1,
            rtol: 1e-3,
            atol: 1e-6,
            residual_tol: 1e-9,
            t_max_tau: 1e6,
            trace_every_tau: 0.0,
            ..Default::default()
        };
        let out = relax(&mut sys, z0, &cfg, &mut rng(122), None).unwrap();
        assert_eq!(
            out.stop,
            StopReason::Residual,
            "{method:?} {preconditioner:?}"
        );
        for (k, (z, want)) in out.state.iter().zip(&eq.activities).enumerate() {
            let err = (z - want).amax() / want.amax();
            assert!(
                err < 1e-6,
                "{method:?} {preconditioner:?}: z_{} off by {err:e}",
                k + 1
            );
        }
    }
}
