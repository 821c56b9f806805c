//! The stage solves of the stiff integrator: both conjugate-gradient solvers
//! (tridiagonal-preconditioned, and the split sweep solve with Eisenstat's
//! trick), in f64 and on the field's f32 copy, against a dense solve; the
//! sweep preconditioner's iteration count not growing with depth where the
//! tridiagonal one's does; f32 solves reaching the f64 equilibrium.

mod common;
use common::*;
use nalgebra::DMatrix;
use pcchip::net::*;
use pcchip::relax::cg::{Cg, CgSettings};
use pcchip::relax::mixed::SingleSolver;
use pcchip::relax::rosenbrock::{Rosenbrock, Scheme};
use pcchip::relax::*;

/// Dense A = ρ + γh(H + g_leak) from Hessian–vector products on unit vectors.
fn dense_stage_matrix(sys: &mut System<f64>, gh: f64) -> DMatrix<f64> {
    let like = sys.field.hidden_zeros();
    let sizes: Vec<usize> = like.iter().map(|m| m.len()).collect();
    let n: usize = sizes.iter().sum();
    let mut a = DMatrix::zeros(n, n);
    let mut out = sys.field.hidden_zeros();
    for j in 0..n {
        let mut v = sys.field.hidden_zeros();
        let (mut k, mut i) = (0, j);
        while i >= sizes[k] {
            i -= sizes[k];
            k += 1;
        }
        v[k].as_mut_slice()[i] = 1.0;
        sys.field.hvp_exact(&v, &mut out);
        let col: Vec<f64> = out
            .iter()
            .zip(&sys.tau_rel)
            .zip(&v)
            .flat_map(|((o, r), vk)| {
                o.iter()
                    .zip(vk.iter())
                    .map(|(oi, vi)| gh * oi + r * vi)
                    .collect::<Vec<_>>()
            })
            .collect();
        a.column_mut(j).copy_from_slice(&col);
    }
    a
}

fn flat(x: &[DMatrix<f64>]) -> nalgebra::DVector<f64> {
    nalgebra::DVector::from_iterator(
        x.iter().map(|m| m.len()).sum(),
        x.iter().flat_map(|m| m.iter().copied()),
    )
}

/// Solved tightly, both solvers give the dense solution of A x = ρ b, for
/// smooth and linear activations, both losses, with and without skips,
/// with a leak and unequal time constants, at a short and a long step.
#[test]
fn both_cg_solvers_match_a_dense_solve() {
    for act in [Activation::Tanh, Activation::Linear] {
        for loss in [Loss::Mse, Loss::CrossEntropy] {
            for skips in [true, false] {
                let topo = Topology::uniform(4, 6, 3, 5)
                    .with_activation(act)
                    .with_loss(loss)
                    .with_skips(skips)
                    .with_lambda(1.3);
                let mut r = rng(3);
                let net = Network::<f64>::init(topo, Parameterisation::default(), &mut r);
                let x = normal(4, 3, 1.0, &mut r);
                let y = targets(loss, 3, 3, &mut r);
                let mut field = leaky_field(&net, x, y, 0.01);
                let z: Vec<DMatrix<f64>> = field
                    .feedforward()
                    .iter()
                    .map(|m| m + normal::<f64>(6, 3, 0.3, &mut r))
                    .collect();
                let b: Vec<DMatrix<f64>> = (0..4).map(|_| normal(6, 3, 1.0, &mut r)).collect();
                let mut f = field.hidden_zeros();
                field.force(&z, &mut f);
                field.linearise_exact(&z);
                let mut sys =
                    System::new(&mut field, Dynamics::FirstOrder, vec![1.0, 0.5, 2.0, 1.5]);
                for gh in [0.3, 40.0] {
                    let a = dense_stage_matrix(&mut sys, gh);
                    let rhs: Vec<DMatrix<f64>> =
                        b.iter().zip(&sys.tau_rel).map(|(m, r)| m * *r).collect();
                    let want = a.clone().lu().solve(&flat(&rhs)).expect("A is regular");
                    for precond in [Precond::Tridiagonal, Precond::Sweep] {
                        let mut cg = Cg::new(&b);
                        cg.precond.kind = precond;
                        cg.precond.prepare(&sys, gh);
                        cg.w.iter_mut().for_each(|w| w.fill(1.0));
                        let set = CgSettings {
                            eta: 1e-13,
                            rtol: 1e-13,
                            max_iter: 500,
                            exact: true,
                        };
                        let mut xs = sys.field.hidden_zeros();
                        cg.solve(&mut sys, gh, &b, &mut xs, &set)
                            .unwrap_or_else(|e| panic!("{precond:?} failed: {e:?}"));
                        let got = flat(&xs);
                        let err = (&got - &want).norm() / want.norm();
                        let what = format!("{act:?} {loss:?} skips={skips} γh={gh} {precond:?}");
                        assert!(err < 1e-9, "{what}: relative error {err:e}");
                        // The same solve on the field's f32 copy, to f32's accuracy.
                        let set = CgSettings {
                            eta: 1e-5,
                            rtol: 1e-5,
                            ..set
                        };
                        let mut single = SingleSolver::new(&*sys.field, &b).expect("f32 copy");
                        let w = sys
                            .field
                            .hidden_zeros()
                            .iter()
                            .map(|m| m.add_scalar(1.0))
                            .collect();
                        single.prepare(&sys, precond, gh, &w);
                        let mut xs = sys.field.hidden_zeros();
                        single
                            .solve(&mut sys, gh, &b, &mut xs, &set)
                            .unwrap_or_else(|e| panic!("{what} f32 failed: {e:?}"));
                        let err = (&flat(&xs) - &want).norm() / want.norm();
                        assert!(err < 5e-5, "{what} f32: relative error {err:e}");
                    }
                }
            }
        }
    }
}

/// Relaxes with ROS2 under the driver's step control; returns the final
/// state and the mean CG iterations a solve.
fn ros2_relax(
    net: &Network<f64>,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    precond: Precond,
    precision: SolveDType,
) -> (Vec<DMatrix<f64>>, f64) {
    let mut field = Field::of_network(net, x.clone(), y.clone());
    let z0 = field.feedforward();
    let k = z0.len();
    let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; k]);
    let mut ros = Rosenbrock::new(Scheme::Ros2, &z0);
    ros.preconditioner = precond;
    ros.solve_dtype = precision;
    let (mut z, mut h) = (z0, 0.1);
    let mut f = sys.field.hidden_zeros();
    sys.field.force(&z, &mut f);
    let worst = |f: &[DMatrix<f64>]| f.iter().map(|m| m.norm()).fold(0.0, f64::max);
    let f0 = worst(&f);
    for _ in 0..400 {
        let err = ros.attempt(&mut sys, &z, h, 1e-4, 1e-2);
        if err.is_finite() && err <= 1.0 {
            std::mem::swap(&mut z, ros.proposal());
        }
        h *= if err.is_finite() {
            (0.9 * err.max(1e-10).powf(-0.5)).clamp(0.2, 5.0)
        } else {
            0.2
        };
        sys.field.force(&z, &mut f);
        if worst(&f) < 1e-9 * f0 {
            break;
        }
    }
    assert!(
        worst(&f) < 1e-9 * f0,
        "{precond:?}: residual {:e}",
        worst(&f) / f0
    );
    assert_eq!(ros.solves_in_f32(), precision == SolveDType::F32);
    let (iters, solves, _) = ros.cg_counts();
    (z, iters as f64 / solves as f64)
}

/// Linear μPC residual nets: the sweep preconditioner's CG iterations a
/// solve stay nearly flat from depth 8 to 64, the tridiagonal one's grow;
/// both reach the closed-form equilibrium, and so do the sweep's f32 solves
/// in about as many iterations.
#[test]
fn sweep_preconditioner_iterations_do_not_grow_with_depth() {
    let mut iters = Vec::new();
    for depth in [8, 64] {
        let topo = Topology::uniform(6, 16, 2, depth).with_skips(true);
        let net = net::<f64>(topo, Parameterisation::mupc(0.5, 1.0), 5);
        let mut r = rng(6);
        let (x, y) = (normal(6, 4, 1.0, &mut r), normal(2, 4, 1.0, &mut r));
        let exact = exact_equilibrium(&net, &x, &y).unwrap();
        let solvers = [
            (Precond::Sweep, SolveDType::Native),
            (Precond::Tridiagonal, SolveDType::Native),
            (Precond::Sweep, SolveDType::F32),
        ];
        for (precond, precision) in solvers {
            let (z, it) = ros2_relax(&net, &x, &y, precond, precision);
            let err = rel_err(&z, &exact[1..depth]);
            let what = format!("L={depth} {precond:?} {precision:?}");
            assert!(err < 1e-7, "{what}: relative error {err:e}");
            eprintln!("{what}: {it:.2} iterations a solve");
            iters.push(it);
        }
    }
    let (sweep8, tri8, sweep64, tri64) = (iters[0], iters[1], iters[3], iters[4]);
    for (native, single) in [(iters[0], iters[2]), (iters[3], iters[5])] {
        assert!(
            single < 1.2 * native + 0.5,
            "f32 {single:.2}, f64 {native:.2}"
        );
    }
    assert!(sweep64 < 1.5 * sweep8, "sweep: {sweep8:.2} → {sweep64:.2}");
    assert!(tri64 > 1.5 * tri8, "tridiagonal: {tri8:.2} → {tri64:.2}");
    assert!(
        tri64 > 2.0 * sweep64,
        "at L = 64: tridiagonal {tri64:.2}, sweep {sweep64:.2}"
    );
}

/// ROS2 with the sweep preconditioner (the sweeps run on two column halves
/// at once), with f64 or f32 solves, gives bitwise the same relaxation with
/// one thread as with two.
#[test]
fn ros2_sweeps_do_not_depend_on_the_thread_count() {
    let depth = 12;
    let topo = Topology::uniform(6, 16, 3, depth)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net = net::<f64>(topo, Parameterisation::default(), 2);
    let mut r = rng(5);
    let (x, y) = (normal(6, 5, 1.0, &mut r), normal(3, 5, 1.0, &mut r));
    for precision in [SolveDType::Native, SolveDType::F32] {
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| ros2_relax(&net, &x, &y, Precond::Sweep, precision).0)
        };
        assert!(bitwise_equal(&run(1), &run(2)), "{precision:?}");
    }
}

/// Through the driver, on a tanh net that crosses nonconvex regions: f32
/// stage solves end at the equilibrium of f64 solves (the force stays f64),
/// with the residual asked.
#[test]
fn f32_solves_reach_the_f64_equilibrium() {
    let depth = 24;
    let topo = Topology::uniform(6, 24, 2, depth)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net = net::<f64>(topo, Parameterisation::default(), 8);
    let mut r = rng(9);
    let (x, y) = (normal(6, 4, 1.0, &mut r), normal(2, 4, 1.0, &mut r));
    let run = |precision| {
        let cfg = RelaxConfig {
            method: Method::Ros2,
            dt_tau: 0.1,
            rtol: 1e-2,
            atol: 1e-4,
            residual_tol: 1e-9,
            t_max_tau: 1e9,
            trace_every_tau: 0.0,
            solve_dtype: precision,
            ..Default::default()
        };
        relax_from_feedforward(&net, &x, &y, &cfg)
    };
    let (native, single) = (run(SolveDType::Native), run(SolveDType::F32));
    for out in [&native, &single] {
        assert_eq!(out.stop, StopReason::Residual);
    }
    let err = rel_err(&single.state, &native.state);
    assert!(
        err < 1e-7,
        "f32 against f64 solves: relative difference {err:e}"
    );
}
