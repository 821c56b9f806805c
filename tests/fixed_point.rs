//! The fixed-point solver (`[equilibrium]`, error-coordinate Gauss–Newton):
//! the same equilibrium as a tight ROS3 relaxation and as the closed form of
//! linear nets, the same PC gradients, its convergence rate, a start far
//! from equilibrium, kinked activations, f32, and thread-count independence.

mod common;
use common::*;
use nalgebra::DMatrix;
use pcchip::net::*;
use pcchip::relax::fixed_point::solve;
use pcchip::relax::*;

fn tight_ros3() -> RelaxConfig {
    RelaxConfig {
        method: Method::Ros3,
        dt_tau: 0.1,
        rtol: 1e-6,
        atol: 1e-9,
        residual_tol: 1e-13,
        t_max_tau: 1e8,
        check_every_tau: 1.0,
        ..Default::default()
    }
}

fn tanh_mupc(depth: usize, width: usize, loss: Loss, seed: u64) -> Network<f64> {
    let topo = Topology::uniform(6, width, 3, depth)
        .with_activation(Activation::Tanh)
        .with_skips(true)
        .with_loss(loss);
    net::<f64>(topo, Parameterisation::mupc(0.5, 1.0), seed)
}

fn batch(net: &Network<f64>, b: usize, scale: f64, seed: u64) -> (DMatrix<f64>, DMatrix<f64>) {
    let mut r = rng(seed);
    let n_out = *net.topology.widths.last().unwrap();
    let x = normal(net.topology.widths[0], b, 1.0, &mut r);
    let y = targets(net.topology.loss, n_out, b, &mut r) * scale;
    (x, y)
}

fn full(x: &DMatrix<f64>, z: &[DMatrix<f64>], y: &DMatrix<f64>) -> Vec<DMatrix<f64>> {
    let mut v = vec![x.clone()];
    v.extend(z.iter().cloned());
    v.push(y.clone());
    v
}

/// Tanh μPC residual nets, MSE and cross-entropy: the solver's equilibrium
/// is ROS3's (run to a residual of 1e-13) to 1e-10, and so are the PC
/// weight gradients.
#[test]
fn equals_a_tight_ros3_relaxation_on_tanh_nets() {
    for (depth, loss) in [
        (4, Loss::Mse),
        (12, Loss::Mse),
        (24, Loss::Mse),
        (8, Loss::CrossEntropy),
    ] {
        let net = tanh_mupc(depth, 16, loss, depth as u64);
        let (x, y) = batch(&net, 5, 1.0, 3);
        let ros = relax_from_feedforward(&net, &x, &y, &tight_ros3());
        assert_eq!(ros.stop, StopReason::Residual, "depth {depth}");
        let field = Field::of_network(&net, x.clone(), y.clone());
        let fp = solve(&field, &FixedPointSettings::default());
        assert!(fp.converged(), "depth {depth}: {fp:?}");
        let err = rel_err(&fp.activities, ros.activities());
        assert!(
            err < 1e-10,
            "depth {depth} {loss:?}: activities differ by {err:e}"
        );
        let (za, zb) = (full(&x, &fp.activities, &y), full(&x, ros.activities(), &y));
        let ga = weight_grads(&net, &za, &errors(&net, &za));
        let gb = weight_grads(&net, &zb, &errors(&net, &zb));
        let gerr = rel_err(&ga, &gb);
        assert!(
            gerr < 1e-10,
            "depth {depth} {loss:?}: PC gradients differ by {gerr:e}"
        );
    }
}

/// Linear nets: one Gauss–Newton step in error coordinates is exact, so the
/// closed form is met after one iteration (the second only confirms it).
#[test]
fn linear_nets_reach_the_closed_form_in_one_step() {
    for (depth, skips) in [(3, false), (16, true), (40, true)] {
        let topo = Topology::uniform(5, 12, 2, depth).with_skips(skips);
        let net = net::<f64>(topo, Parameterisation::mupc(0.5, 1.0), 7);
        let (x, y) = batch(&net, 4, 1.0, 9);
        let exact = exact_equilibrium(&net, &x, &y).unwrap();
        let field = Field::of_network(&net, x.clone(), y.clone());
        let fp = solve(&field, &FixedPointSettings::default());
        assert!(fp.converged());
        assert_eq!(fp.iterations, 1, "depth {depth}: {:?}", fp.history);
        let err = rel_err(&fp.activities, &exact[1..depth]);
        assert!(err < 1e-11, "depth {depth}: {err:e}");
    }
}

/// The rate near the solution is superlinear (inexact Newton with the exact
/// Hessian and forcing η = √(relative residual), order 1.5): once the
/// residual is below 1e-4 each iteration's contraction factor is smaller
/// than the last, and the last is below 1e-2.
#[test]
fn converges_superlinearly_near_the_solution() {
    let net = tanh_mupc(32, 32, Loss::Mse, 1);
    let (x, y) = batch(&net, 8, 1.0, 2);
    let field = Field::of_network(&net, x, y);
    let fp = solve(&field, &FixedPointSettings::default());
    assert!(fp.converged(), "{:?}", fp.history);
    let h = &fp.history;
    let tail: Vec<f64> = h.iter().copied().filter(|&v| v < 1e-4).collect();
    assert!(tail.len() >= 3, "{h:?}");
    let ratios: Vec<f64> = tail.windows(2).map(|w| w[1] / w[0]).collect();
    for r in ratios.windows(2) {
        assert!(r[1] <= r[0], "not superlinear: {h:?}");
    }
    assert!(*ratios.last().unwrap() < 1e-2, "{h:?}");
    assert!(fp.iterations <= 30, "{h:?}");
}

/// Far from equilibrium: deep (64), with targets 30× the output scale, so
/// that almost all of the feedforward energy sits at the output. The line
/// search keeps every step a descent and the solver still converges, to
/// the point ROS3 reaches.
#[test]
fn converges_from_far_away() {
    let net = tanh_mupc(64, 16, Loss::Mse, 4);
    let (x, y) = batch(&net, 3, 30.0, 5);
    let field = Field::of_network(&net, x.clone(), y.clone());
    let fp = solve(&field, &FixedPointSettings::default());
    assert!(fp.converged(), "{:?}", fp.history);
    let mut cfg = tight_ros3();
    cfg.residual_tol = 1e-12;
    let ros = relax_from_feedforward(&net, &x, &y, &cfg);
    let err = rel_err(&fp.activities, ros.activities());
    assert!(err < 1e-9, "{err:e}");
}

/// With an integrator leak and GELU the fixed point is the leaky field's
/// zero (the force vanishes there).
#[test]
fn zero_of_the_leaky_field() {
    let topo = Topology::uniform(4, 10, 3, 6)
        .with_activation(Activation::Gelu)
        .with_lambda(2.0);
    let net = net::<f64>(topo, Parameterisation::default(), 11);
    let (x, y) = batch(&net, 4, 1.0, 12);
    let mut field = leaky_field(&net, x, y, 0.05);
    let fp = solve(&field, &FixedPointSettings::default());
    assert!(fp.converged());
    let mut f = field.hidden_zeros();
    field.force(&fp.activities, &mut f);
    let worst = f.iter().map(|m| m.amax()).fold(0.0, f64::max);
    assert!(worst < 1e-11, "force at the fixed point {worst:e}");
}

/// f32: the same point as f64 to single precision, stopping at its rounding floor.
#[test]
fn single_precision_reaches_its_rounding_floor() {
    let net = tanh_mupc(16, 32, Loss::Mse, 15);
    let (x, y) = batch(&net, 6, 1.0, 16);
    let n32 = Network::<f32>::from_weights(
        net.topology.clone(),
        net.param,
        net.weights.iter().map(|w| w.map(|v| v as f32)).collect(),
    )
    .unwrap();
    let f64_fp = solve(
        &Field::of_network(&net, x.clone(), y.clone()),
        &FixedPointSettings::default(),
    );
    let field32 = Field::of_network(&n32, x.map(|v| v as f32), y.map(|v| v as f32));
    let fp = solve(&field32, &FixedPointSettings::default());
    assert!(fp.converged(), "{:?}", fp.history);
    let err = rel_err(&fp.activities, &f64_fp.activities);
    assert!(err < 1e-5, "{err:e}");
}

/// The numbers do not depend on the thread count.
#[test]
fn thread_count_independent() {
    let net = tanh_mupc(10, 24, Loss::CrossEntropy, 17);
    let (x, y) = batch(&net, 37, 1.0, 18);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            solve(
                &Field::of_network(&net, x.clone(), y.clone()),
                &FixedPointSettings::default(),
            )
        })
    };
    let (a, b) = (run(1), run(3));
    assert!(bitwise_equal(&a.activities, &b.activities));
    assert_eq!(a.history, b.history);
}

/// A network without hidden layers has nothing to solve: converged at once.
#[test]
fn no_hidden_layer_is_converged() {
    let net = net::<f64>(
        Topology::uniform(4, 4, 2, 1),
        Parameterisation::default(),
        19,
    );
    let (x, y) = batch(&net, 3, 1.0, 20);
    let fp = solve(
        &Field::of_network(&net, x, y),
        &FixedPointSettings::default(),
    );
    assert!(fp.converged() && fp.activities.is_empty() && fp.iterations == 0);
}
