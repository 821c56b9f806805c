//! The relaxation against the closed-form linear theory and the net module,
//! the integrators' orders, determinism across thread counts, and the
//! stopping and divergence rules.

mod common;
use common::*;
use nalgebra::DMatrix;
use pcchip::net::*;
use pcchip::relax::*;
use pcchip::{cosine, Real};

fn linear(depth: usize, n: usize, skips: bool, seed: u64) -> Network<f64> {
    let topo = Topology::uniform(6, n, 2, depth).with_skips(skips);
    net(topo, Parameterisation::mupc(0.5, 1.0), seed)
}

fn batch(net: &Network<f64>, b: usize, seed: u64) -> (DMatrix<f64>, DMatrix<f64>) {
    let mut r = rng(seed);
    let d = net.topology.widths[0];
    let o = *net.topology.widths.last().unwrap();
    (normal(d, b, 1.0, &mut r), normal(o, b, 1.0, &mut r))
}

fn run(
    net: &Network<f64>,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    cfg: &RelaxConfig,
    dynamics: Dynamics,
) -> Relaxation<f64> {
    let mut field = Field::of_network(net, x.clone(), y.clone());
    let z0 = field.feedforward();
    let k = z0.len();
    let mut sys = System::new(&mut field, dynamics, vec![1.0; k]);
    relax(&mut sys, z0, cfg, &mut rng(0), None).expect("relaxation")
}

fn hidden_rel_err(a: &[DMatrix<f64>], b: &[DMatrix<f64>]) -> f64 {
    rel_err(a, b)
}

/// The field's force is −∂F/∂z of the net module, for every activation and loss.
#[test]
fn field_force_equals_net_gradient() {
    for act in Activation::ALL {
        for loss in [Loss::Mse, Loss::CrossEntropy] {
            for skips in [false, true] {
                let topo = Topology::uniform(5, 7, 3, 4)
                    .with_activation(act)
                    .with_loss(loss)
                    .with_skips(skips)
                    .with_lambda(0.7);
                let mut r = rng(3);
                let net = Network::<f64>::init(topo, Parameterisation::default(), &mut r);
                let x = normal(5, 4, 1.0, &mut r);
                let y = targets(loss, 3, 4, &mut r);
                let mut z = feedforward(&net, &x, &y);
                for zl in z.iter_mut().take(3).skip(1) {
                    *zl += normal::<f64>(7, 4, 0.3, &mut r);
                }
                let mut field = Field::of_network(&net, x, y);
                let mut force = field.hidden_zeros();
                field.force(&z[1..4], &mut force);
                let eps = errors(&net, &z);
                let want: Vec<DMatrix<f64>> = activity_grads(&net, &z, &eps)[1..4]
                    .iter()
                    .map(|g| -g)
                    .collect();
                assert!(
                    rel_err(&force, &want) < 1e-13,
                    "{act:?} {loss:?} skips={skips}"
                );
                assert!((field.energy() - energy(&net, &z)).abs() < 1e-12 * energy(&net, &z));
                let wg = field.weight_grads(&z[1..4]);
                assert!(rel_err(&wg, &weight_grads(&net, &z, &eps)) < 1e-13);
            }
        }
    }
}

/// For linear nets the Gauss–Newton Hessian is the Hessian: its products match
/// finite differences of the force (MSE and cross-entropy, with skips).
#[test]
fn hessian_vector_product_matches_finite_differences() {
    for loss in [Loss::Mse, Loss::CrossEntropy] {
        for skips in [false, true] {
            let topo = Topology::uniform(4, 6, 3, 4)
                .with_loss(loss)
                .with_skips(skips)
                .with_lambda(1.3);
            let mut r = rng(8);
            let net = Network::<f64>::init(topo, Parameterisation::default(), &mut r);
            let x = normal(4, 3, 1.0, &mut r);
            let y = targets(loss, 3, 3, &mut r);
            let mut field = Field::of_network(&net, x, y);
            let z: Vec<DMatrix<f64>> = (0..3).map(|_| normal(6, 3, 1.0, &mut r)).collect();
            let v: Vec<DMatrix<f64>> = (0..3).map(|_| normal(6, 3, 1.0, &mut r)).collect();
            let mut f0 = field.hidden_zeros();
            field.force(&z, &mut f0);
            field.linearise();
            let mut hv = field.hidden_zeros();
            field.hvp(&v, &mut hv);
            let h = 1e-6;
            let zp: Vec<DMatrix<f64>> = z.iter().zip(&v).map(|(a, b)| a + b * h).collect();
            let zm: Vec<DMatrix<f64>> = z.iter().zip(&v).map(|(a, b)| a - b * h).collect();
            let (mut fp, mut fm) = (field.hidden_zeros(), field.hidden_zeros());
            field.force(&zp, &mut fp);
            field.force(&zm, &mut fm);
            let fd: Vec<DMatrix<f64>> = fp
                .iter()
                .zip(&fm)
                .map(|(p, m)| (m - p) / (2.0 * h))
                .collect();
            assert!(
                rel_err(&hv, &fd) < 1e-7,
                "{loss:?} skips={skips}: {}",
                rel_err(&hv, &fd)
            );
        }
    }
}

/// Every integrator relaxes a linear network to the exact equilibrium z*.
#[test]
fn every_integrator_reaches_the_linear_equilibrium() {
    for skips in [false, true] {
        let net = linear(5, 16, skips, 21);
        let (x, y) = batch(&net, 4, 22);
        let exact = exact_equilibrium(&net, &x, &y).unwrap();
        let cases = [
            (Method::Euler, 0.2, Dynamics::FirstOrder),
            (Method::Heun, 0.3, Dynamics::FirstOrder),
            (Method::Rk4, 0.4, Dynamics::FirstOrder),
            (Method::Dopri5, 0.1, Dynamics::FirstOrder),
            (Method::Ros2, 0.1, Dynamics::FirstOrder),
            (Method::Ros3, 0.1, Dynamics::FirstOrder),
            (Method::SymplecticEuler, 0.1, Dynamics::inertial(0.5, 1.0)),
            (Method::Rk4, 0.2, Dynamics::inertial(0.5, 1.0)),
        ];
        for (method, dt, dynamics) in cases {
            // Adaptive explicit methods hover at their tolerance on stiff modes.
            let (rtol, residual_tol) = if method == Method::Dopri5 {
                (1e-10, 1e-8)
            } else {
                (1e-4, 1e-9)
            };
            let cfg = RelaxConfig {
                method,
                dt_tau: dt,
                residual_tol,
                t_max_tau: 5e4,
                rtol,
                atol: rtol * 1e-2,
                ..Default::default()
            };
            let out = run(&net, &x, &y, &cfg, dynamics);
            assert_eq!(out.stop, StopReason::Residual, "{method:?}");
            let err = hidden_rel_err(out.activities(), &exact[1..5]);
            assert!(
                err < 1e-6,
                "{method:?} {dynamics:?} skips={skips}: rel err {err:e}"
            );
        }
    }
}

/// With the relaxation converged, PC gradients equal the linear theory's
/// (the gradient at the exact z*), and its energy the closed-form F*.
#[test]
fn converged_gradients_match_linear_theory() {
    let net = linear(6, 32, true, 5);
    let (x, y) = batch(&net, 8, 6);
    let cfg = RelaxConfig {
        method: Method::Ros2,
        residual_tol: 1e-8,
        rtol: 1e-5,
        atol: 1e-8,
        ..Default::default()
    };
    let out = run(&net, &x, &y, &cfg, Dynamics::FirstOrder);
    let mut z = vec![x.clone()];
    z.extend(out.activities().iter().cloned());
    z.push(y.clone());
    let exact = exact_equilibrium(&net, &x, &y).unwrap();
    let g = weight_grads(&net, &z, &errors(&net, &z));
    let g_star = weight_grads(&net, &exact, &errors(&net, &exact));
    assert!(rel_err(&g, &g_star) < 1e-7, "{}", rel_err(&g, &g_star));
    let fstar = equilibrium_energy(&net, &x, &y).unwrap();
    assert!((out.energy_end - fstar).abs() < 1e-9 * fstar);
}

/// Energy never rises along explicit Euler below the stability limit.
#[test]
fn energy_is_non_increasing_along_euler() {
    for act in [Activation::Linear, Activation::Tanh, Activation::Gelu] {
        let topo = Topology::uniform(6, 24, 2, 6)
            .with_activation(act)
            .with_skips(true);
        let net: Network<f64> = net(topo, Parameterisation::default(), 2);
        let (x, y) = batch(&net, 4, 3);
        let cfg = RelaxConfig {
            dt_tau: 0.1,
            check_every_tau: 0.1,
            trace_every_tau: 0.1,
            t_max_tau: 60.0,
            residual_tol: 0.0,
            ..Default::default()
        };
        let out = run(&net, &x, &y, &cfg, Dynamics::FirstOrder);
        let e = &out.trace.energy;
        assert!(e.len() > 500);
        for w in e.windows(2) {
            assert!(
                w[1] <= w[0] * (1.0 + 1e-12),
                "{act:?}: energy rose {} → {}",
                w[0],
                w[1]
            );
        }
        assert!(e.last().unwrap() < &e[0], "{act:?}: the energy must fall");
    }
}

/// Integrates with a fixed step h to time t_end (bypassing step control).
fn fixed_step_error(method: Method, h: f64, t_end: f64) -> f64 {
    let net = linear(4, 5, false, 9);
    let (x, y) = batch(&net, 1, 10);
    let exact_star = exact_equilibrium(&net, &x, &y).unwrap();
    let mut field = Field::of_network(&net, x, y);
    let z0 = field.feedforward();
    // Exact solution: z(t) = z* + exp(−H t)(z0 − z*), H built column by column.
    let n: usize = z0.iter().map(|m| m.len()).sum();
    let unflat = |v: &[f64]| -> Vec<DMatrix<f64>> {
        v.chunks(5)
            .map(|c| DMatrix::from_column_slice(5, 1, c))
            .collect()
    };
    let flat = |m: &[DMatrix<f64>]| -> Vec<f64> {
        m.iter()
            .flat_map(|a| a.iter().copied().collect::<Vec<_>>())
            .collect()
    };
    let mut tmp = field.hidden_zeros();
    field.force(&z0, &mut tmp);
    field.linearise();
    let mut hmat = DMatrix::zeros(n, n);
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        let mut out = field.hidden_zeros();
        field.hvp(&unflat(&e), &mut out);
        hmat.set_column(j, &nalgebra::DVector::from_vec(flat(&out)));
    }
    let eig = nalgebra::SymmetricEigen::new(hmat);
    let zs = nalgebra::DVector::from_vec(flat(&exact_star[1..4]));
    let d0 = nalgebra::DVector::from_vec(flat(&z0)) - &zs;
    let decay = nalgebra::DMatrix::from_diagonal(&eig.eigenvalues.map(|l| (-l * t_end).exp()));
    let want = &zs + &eig.eigenvectors * decay * eig.eigenvectors.transpose() * d0;
    let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; 3]);
    let mut integ: Box<dyn Integrator<f64>> = match method {
        Method::Euler => Box::new(explicit::ExplicitRk::new(&explicit::EULER, &z0)),
        Method::Heun => Box::new(explicit::ExplicitRk::new(&explicit::HEUN, &z0)),
        Method::Rk4 => Box::new(explicit::ExplicitRk::new(&explicit::RK4, &z0)),
        Method::Dopri5 => Box::new(explicit::ExplicitRk::new(&explicit::DOPRI5, &z0)),
        Method::Ros2 | Method::Ros3 => {
            let scheme = if method == Method::Ros2 {
                rosenbrock::Scheme::Ros2
            } else {
                rosenbrock::Scheme::Ros3
            };
            let mut ros = rosenbrock::Rosenbrock::new(scheme, &z0);
            // The order, not the f32 solves' accuracy floor.
            ros.solve_dtype = SolveDType::Native;
            Box::new(ros)
        }
        Method::SymplecticEuler => unreachable!(),
    };
    let mut y = z0;
    let steps = (t_end / h).round() as usize;
    for _ in 0..steps {
        // Tight tolerances: ROS2 ties the accuracy of its linear solves to them.
        integ.attempt(&mut sys, &y, h, 1e-12, 1e-12);
        std::mem::swap(&mut y, integ.proposal());
    }
    (nalgebra::DVector::from_vec(flat(&y)) - want).norm()
}

/// Halving the step divides the error by 2^order (log–log slope within ±0.2).
#[test]
fn integrators_show_their_orders() {
    for (method, order, h0) in [
        (Method::Euler, 1.0, 0.05),
        (Method::Heun, 2.0, 0.1),
        (Method::Rk4, 4.0, 0.1),
        (Method::Dopri5, 5.0, 0.16),
        (Method::Ros2, 2.0, 0.1),
        (Method::Ros3, 3.0, 0.1),
    ] {
        let hs = [h0, h0 / 2.0, h0 / 4.0];
        let errs: Vec<f64> = hs
            .iter()
            .map(|&h| fixed_step_error(method, h, 3.2))
            .collect();
        // The finest pair is the closest to the asymptotic regime.
        let slope = (errs[1].ln() - errs[2].ln()) / (hs[1].ln() - hs[2].ln());
        assert!(
            (slope - order).abs() < 0.2,
            "{method:?}: slope {slope:.3}, errors {errs:?}"
        );
    }
}

/// One thread or two, the numbers are bitwise identical.
#[test]
fn parallel_and_sequential_are_bitwise_identical() {
    let topo = Topology::uniform(12, 64, 4, 8)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net: Network<f32> = net(topo, Parameterisation::default(), 1);
    let mut r = rng(2);
    let x = normal::<f32>(12, 16, 1.0, &mut r);
    let y = normal::<f32>(4, 16, 1.0, &mut r);
    let go = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut field = Field::of_network(&net, x.clone(), y.clone());
            let z0 = field.feedforward();
            let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; 7]);
            let cfg = RelaxConfig {
                t_max_tau: 20.0,
                residual_tol: 0.0,
                noise_std: 0.01,
                ..Default::default()
            };
            relax(&mut sys, z0, &cfg, &mut rng(4), None).unwrap().state
        })
    };
    assert!(bitwise_equal(&go(1), &go(2)));
}

/// Lanczos finds the extreme eigenvalues of the dense Hessian.
#[test]
fn lanczos_finds_the_extreme_eigenvalues() {
    let net = linear(6, 8, true, 13);
    let (x, y) = batch(&net, 1, 14);
    let mut field = Field::of_network(&net, x, y);
    let z = field.feedforward();
    let s = hessian_extremes(&mut field, &z, 60, 1e-12, 1);
    // Dense reference from unit-vector products.
    let n = 5 * 8;
    let mut hm = DMatrix::zeros(n, n);
    for j in 0..n {
        let mut e: Vec<DMatrix<f64>> = field.hidden_zeros();
        e[j / 8][(j % 8, 0)] = 1.0;
        let mut out = field.hidden_zeros();
        field.hvp(&e, &mut out);
        for i in 0..n {
            hm[(i, j)] = out[i / 8][(i % 8, 0)];
        }
    }
    let ev = nalgebra::SymmetricEigen::new(hm).eigenvalues;
    assert!(
        (s.lambda_min - ev.min()).abs() < 1e-6 * ev.min(),
        "{} vs {}",
        s.lambda_min,
        ev.min()
    );
    assert!((s.lambda_max - ev.max()).abs() < 1e-8 * ev.max());
}

#[test]
fn explicit_euler_above_the_stability_limit_diverges_with_a_diagnosis() {
    let net = linear(4, 16, true, 3);
    let (x, y) = batch(&net, 2, 4);
    let mut field = Field::of_network(&net, x, y);
    let z0 = field.feedforward();
    let lmax = hessian_extremes(&mut field, &z0, 40, 1e-10, 0).lambda_max;
    let cfg = RelaxConfig {
        dt_tau: 2.5 / lmax,
        t_max_tau: 1e5,
        residual_tol: 0.0,
        ..Default::default()
    };
    let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; 3]);
    let err = relax(&mut sys, z0, &cfg, &mut rng(0), None).unwrap_err();
    let RelaxError::Diverged { layer, t_tau, .. } = &err else {
        panic!("{err}")
    };
    assert!((1..=3).contains(layer) && *t_tau > 0.0);
    let msg = err.to_string();
    assert!(
        msg.contains("stability limit") && msg.contains("ros2"),
        "{msg}"
    );
}

#[test]
fn each_stopping_rule_can_fire_and_traces_stay_bounded() {
    let topo = Topology::uniform(6, 16, 2, 4)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net: Network<f64> = net(topo, Parameterisation::default(), 6);
    let (x, y) = batch(&net, 4, 7);
    let base = RelaxConfig {
        residual_tol: 0.0,
        t_max_tau: 400.0,
        ..Default::default()
    };
    let rules = [
        (
            RelaxConfig {
                residual_tol: 1e-3,
                ..base.clone()
            },
            StopReason::Residual,
        ),
        (
            RelaxConfig {
                energy_tol: 1e-4,
                ..base.clone()
            },
            StopReason::EnergyChange,
        ),
        (
            RelaxConfig {
                update_tol: 1e-6,
                ..base.clone()
            },
            StopReason::UpdateDirection,
        ),
        (
            RelaxConfig {
                t_max_tau: 7.0,
                ..base.clone()
            },
            StopReason::MaxTime,
        ),
    ];
    for (cfg, want) in rules {
        let out = run(&net, &x, &y, &cfg, Dynamics::FirstOrder);
        assert_eq!(out.stop, want);
        assert!(out.t_tau > 0.0 && out.t_tau <= cfg.t_max_tau + 1e-9);
    }
    let bp = backprop(&net, &x, &y).grads;
    let cfg = RelaxConfig {
        trace_every_tau: 0.2,
        max_trace_points: 50,
        ..base
    };
    let mut field = Field::of_network(&net, x.clone(), y.clone());
    let z0 = field.feedforward();
    let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; 3]);
    let out = relax(&mut sys, z0, &cfg, &mut rng(0), Some(&bp)).unwrap();
    let tr = &out.trace;
    assert!(tr.len() <= 50 && tr.len() >= 25, "{} samples", tr.len());
    assert_eq!(tr.cosine.len(), tr.len());
    assert_eq!(tr.layer_error[0].len(), 4);
    assert!(tr.t_tau.windows(2).all(|w| w[1] > w[0]));
    // Alignment improves from the feedforward state to equilibrium.
    assert!(tr.cosine.last().unwrap() > &tr.cosine[0]);
    let _ = cosine(&bp, &bp).f64();
}
