//! The stiff integrator: the exact activity Hessian–vector product against
//! finite differences of the force, and ROS2 with it reaching equilibria of
//! deep μPC residual nets (linear: the closed form; tanh: a residual far
//! below where the Gauss–Newton W-method stalls).

mod common;
use common::*;
use nalgebra::DMatrix;
use pcchip::net::*;
use pcchip::relax::*;

/// `hvp_exact` is the directional derivative of −force, for the smooth
/// activations, both losses, with and without skips, with a leak; the
/// Gauss–Newton `hvp` is not (the φ'' term matters).
#[test]
fn exact_hvp_matches_finite_differences_of_the_force() {
    for act in [Activation::Tanh, Activation::Gelu, Activation::Linear] {
        for loss in [Loss::Mse, Loss::CrossEntropy] {
            for skips in [false, true] {
                let topo = Topology::uniform(4, 6, 3, 4)
                    .with_activation(act)
                    .with_loss(loss)
                    .with_skips(skips)
                    .with_lambda(1.3);
                let mut r = rng(8);
                let net = Network::<f64>::init(topo, Parameterisation::default(), &mut r);
                let x = normal(4, 3, 1.0, &mut r);
                let y = targets(loss, 3, 3, &mut r);
                let mut field = leaky_field(&net, x, y, 0.01);
                // Large activities and weights: far from any equilibrium,
                // where φ'' is large.
                let z: Vec<DMatrix<f64>> = (0..3).map(|_| normal(6, 3, 1.5, &mut r)).collect();
                let v: Vec<DMatrix<f64>> = (0..3).map(|_| normal(6, 3, 1.0, &mut r)).collect();
                let mut f0 = field.hidden_zeros();
                field.force(&z, &mut f0);
                field.linearise_exact(&z);
                let (mut hv, mut gn) = (field.hidden_zeros(), field.hidden_zeros());
                field.hvp_exact(&v, &mut hv);
                field.hvp(&v, &mut gn);
                let h = 1e-5;
                let shift = |s: f64| -> Vec<DMatrix<f64>> {
                    z.iter().zip(&v).map(|(a, b)| a + b * s).collect()
                };
                let (mut fp, mut fm) = (field.hidden_zeros(), field.hidden_zeros());
                field.force(&shift(h), &mut fp);
                field.force(&shift(-h), &mut fm);
                let fd: Vec<DMatrix<f64>> = fp
                    .iter()
                    .zip(&fm)
                    .map(|(p, m)| (m - p) / (2.0 * h))
                    .collect();
                let what = format!("{act:?} {loss:?} skips={skips}");
                let (e_exact, e_gn) = (rel_err(&hv, &fd), rel_err(&gn, &fd));
                assert!(e_exact < 1e-7, "{what}: exact HVP off by {e_exact:e}");
                if act.is_linear() {
                    assert!(e_gn < 1e-7, "{what}: GN = exact for linear nets, {e_gn:e}");
                } else {
                    assert!(e_gn > 1e-3, "{what}: GN should miss the φ'' term, {e_gn:e}");
                }
            }
        }
    }
}

/// The curvature diagonal is the only difference and vanishes for a linear net.
#[test]
fn curvature_diagonal_is_present_only_after_an_exact_linearisation() {
    let topo = Topology::uniform(4, 5, 2, 3).with_activation(Activation::Tanh);
    let mut r = rng(2);
    let net = Network::<f64>::init(topo, Parameterisation::default(), &mut r);
    let mut field = Field::of_network(&net, normal(4, 2, 1.0, &mut r), normal(2, 2, 1.0, &mut r));
    let z: Vec<DMatrix<f64>> = (0..2).map(|_| normal(5, 2, 1.0, &mut r)).collect();
    let mut f = field.hidden_zeros();
    field.force(&z, &mut f);
    field.linearise_exact(&z);
    let c = field.curvature_diagonal().expect("exact linearisation");
    assert!(c.iter().any(|m| m.amax() > 1e-3));
    field.linearise();
    assert!(field.curvature_diagonal().is_none());
}

/// Linear μPC residual net, depth 48 (activity Hessian κ ≈ 1e3–1e4): ROS2
/// and ROS3 reach the closed-form equilibrium to 1e-8 (relative) in a few
/// dozen steps, where explicit Euler at its stability limit would need ≈ 1e4.
#[test]
fn rosenbrock_reaches_the_linear_equilibrium_of_a_deep_net_in_few_steps() {
    let depth = 48;
    let topo = Topology::uniform(6, 24, 2, depth).with_skips(true);
    let net = net::<f64>(topo, Parameterisation::mupc(0.5, 1.0), 5);
    let mut r = rng(6);
    let (x, y) = (normal(6, 4, 1.0, &mut r), normal(2, 4, 1.0, &mut r));
    let exact = exact_equilibrium(&net, &x, &y).unwrap();
    for method in [Method::Ros2, Method::Ros3] {
        let cfg = RelaxConfig {
            method,
            dt_tau: 0.1,
            // Loose path tolerances suffice: the equilibrium does not depend
            // on the path, and the last (Newton-like) steps polish it.
            rtol: 1e-2,
            atol: 1e-4,
            residual_tol: 1e-10,
            t_max_tau: 1e9,
            ..Default::default()
        };
        let out = relax_from_feedforward(&net, &x, &y, &cfg);
        assert_eq!(out.stop, StopReason::Residual, "{method:?}");
        let err = rel_err(out.activities(), &exact[1..depth]);
        assert!(err < 1e-8, "{method:?}: relative error {err:e}");
        assert!(out.n_steps < 200, "{method:?}: {} steps", out.n_steps);
    }
}

/// Tanh μPC residual net, depth 32: with the exact Hessian ROS2 brings the
/// worst layer's residual below 1e-10 of its start; the Gauss–Newton W-method
/// given the same work does not get there.
#[test]
fn exact_jacobian_converges_where_gauss_newton_stalls() {
    let depth = 32;
    let topo = Topology::uniform(8, 32, 2, depth)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net = net::<f64>(topo, Parameterisation::default(), 3);
    let mut r = rng(4);
    let (x, y) = (normal(8, 4, 1.0, &mut r), normal(2, 4, 1.0, &mut r));
    let run = |jac: rosenbrock::Jacobian, max_steps: usize| -> (f64, usize) {
        let mut field = Field::of_network(&net, x.clone(), y.clone());
        let z0 = field.feedforward();
        let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; depth - 1]);
        let mut ros = rosenbrock::Rosenbrock::new(rosenbrock::Scheme::Ros2, &z0);
        ros.jacobian = jac;
        let (mut z, mut h, mut steps) = (z0, 0.1, 0);
        let mut f = sys.field.hidden_zeros();
        sys.field.force(&z, &mut f);
        let worst = |f: &[DMatrix<f64>]| f.iter().map(|m| m.norm()).fold(0.0, f64::max);
        let f0 = worst(&f);
        while steps < max_steps {
            let err = ros.attempt(&mut sys, &z, h, 1e-4, 1e-2);
            let fac = (0.9 * err.max(1e-10).powf(-0.5)).clamp(0.2, 5.0);
            if err.is_finite() && err <= 1.0 {
                std::mem::swap(&mut z, ros.proposal());
                steps += 1;
            }
            h *= if err.is_finite() { fac } else { 0.2 };
            sys.field.force(&z, &mut f);
            if worst(&f) < 1e-10 * f0 {
                break;
            }
        }
        (worst(&f) / f0, steps)
    };
    let (res_exact, steps) = run(rosenbrock::Jacobian::Exact, 200);
    assert!(res_exact < 1e-10, "exact: residual {res_exact:e}");
    let (res_gn, _) = run(rosenbrock::Jacobian::GaussNewton, steps);
    assert!(
        res_gn > 10.0 * res_exact,
        "GN after {steps} steps: {res_gn:e} vs exact {res_exact:e}"
    );
}

/// In single precision ROS2 still relaxes a deep tanh net through the
/// driver: the linear solves stop at f32 rounding instead of failing, and the
/// result agrees with the f64 relaxation to f32-level accuracy.
#[test]
fn ros2_relaxes_in_single_precision() {
    let depth = 24;
    let topo = Topology::uniform(8, 32, 2, depth)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net64 = net::<f64>(topo, Parameterisation::default(), 9);
    let net32: Network<f32> = net64.cast();
    let mut r = rng(10);
    let (x, y) = (
        normal::<f64>(8, 4, 1.0, &mut r),
        normal::<f64>(2, 4, 1.0, &mut r),
    );
    let cfg = RelaxConfig {
        method: Method::Ros2,
        dt_tau: 0.1,
        rtol: 1e-2,
        atol: 1e-4,
        residual_tol: 1e-5,
        t_max_tau: 1e9,
        ..Default::default()
    };
    let want = relax_from_feedforward(&net64, &x, &y, &cfg);
    let mut field = Field::of_network(&net32, x.map(|v| v as f32), y.map(|v| v as f32));
    let z0 = field.feedforward();
    let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; depth - 1]);
    let got = relax(&mut sys, z0, &cfg, &mut rng(0), None).expect("f32 relaxation");
    assert_eq!(got.stop, StopReason::Residual);
    let err = rel_err(got.activities(), want.activities());
    assert!(err < 1e-4, "f32 vs f64: {err:e}");
}
