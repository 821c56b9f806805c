//! Inertial (second-order) relaxation, MODEL.md §7: E + kinetic energy never
//! rises, and the automatic damping (critical for the slowest mode) is
//! within a factor of two of the best damping of a scan.

mod common;
use common::*;
use nalgebra::DMatrix;
use pcchip::net::*;
use pcchip::relax::*;

fn tanh_net(depth: usize) -> (Network<f64>, DMatrix<f64>, DMatrix<f64>) {
    let topo = Topology::uniform(10, 64, 1, depth)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net: Network<f64> = net(topo, Parameterisation::default(), 11);
    let mut r = rng(12);
    let x = normal(10, 8, 1.0, &mut r);
    let y = DMatrix::from_fn(1, 8, |_, j| if j % 2 == 0 { 1.0 } else { -1.0 });
    (net, x, y)
}

#[test]
fn energy_plus_kinetic_energy_never_rises() {
    let (net, x, y) = tanh_net(8);
    for damping in [0.0, 0.05, 0.5] {
        let mut field = Field::of_network(&net, x.clone(), y.clone());
        let z0 = field.feedforward();
        let mut sys = System::new(&mut field, Dynamics::inertial(damping, 1.0), vec![1.0; 7]);
        let cfg = RelaxConfig {
            method: Method::Rk4,
            dt_tau: 0.05,
            check_every_tau: 0.05,
            trace_every_tau: 0.05,
            residual_tol: 0.0,
            t_max_tau: 40.0,
            ..Default::default()
        };
        let out = relax(&mut sys, z0, &cfg, &mut rng(0), None).unwrap();
        let tr = &out.trace;
        let total: Vec<f64> = tr
            .energy
            .iter()
            .zip(&tr.kinetic)
            .map(|(e, k)| e + k)
            .collect();
        for w in total.windows(2) {
            assert!(
                w[1] <= w[0] + 1e-9 * w[0].abs(),
                "γ = {damping}: E + K rose {} → {}",
                w[0],
                w[1]
            );
        }
        if damping > 0.0 {
            assert!(total.last().unwrap() < &total[0]);
        }
    }
}

/// Time (τ) until the PC–BP cosine stays within 1% of its final value.
fn time_to_align(net: &Network<f64>, x: &DMatrix<f64>, y: &DMatrix<f64>, damping: f64) -> f64 {
    let reference = backprop(net, x, y).grads;
    let mut field = Field::of_network(net, x.clone(), y.clone());
    let z0 = field.feedforward();
    let k = z0.len();
    let mut sys = System::new(&mut field, Dynamics::inertial(damping, 1.0), vec![1.0; k]);
    let cfg = RelaxConfig {
        method: Method::SymplecticEuler,
        dt_tau: 0.2,
        trace_every_tau: 0.5,
        check_every_tau: 0.5,
        residual_tol: 1e-6,
        t_max_tau: 5000.0,
        ..Default::default()
    };
    let out = relax(&mut sys, z0, &cfg, &mut rng(0), Some(&reference)).unwrap();
    out.trace.time_to_align(0.01).expect("aligned")
}

#[test]
fn automatic_damping_is_near_the_best_of_a_scan() {
    let (net, x, y) = tanh_net(16);
    let mut field = Field::of_network(
        &net,
        x.columns(0, 1).into_owned(),
        y.columns(0, 1).into_owned(),
    );
    let z = field.feedforward();
    let s = hessian_extremes(&mut field, &z, 200, 1e-3, 0);
    let auto = 2.0 * s.lambda_min.sqrt();
    let scan: Vec<(f64, f64)> = [0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
        .iter()
        .map(|f| (f * auto, time_to_align(&net, &x, &y, f * auto)))
        .collect();
    let best = scan
        .iter()
        .cloned()
        .fold((0.0, f64::INFINITY), |b, p| if p.1 < b.1 { p } else { b });
    assert!(
        best.0 >= auto / 2.0 && best.0 <= auto * 2.0,
        "auto γ = {auto:.4}, scan (γ, t_align) = {scan:.3?}"
    );
}

/// With rails that bind, the residual leaves out the clipped nodes pushed
/// outward, so the rule fires; both dynamics reach the same constrained
/// equilibrium as a long run without the rule.
#[test]
fn residual_rule_fires_at_binding_rails() {
    let (net, x, y) = tanh_net(6);
    let run = |dynamics: Dynamics, method: Method, residual_tol: f64| {
        let mut field = Field::of_network(&net, x.clone(), y.clone());
        let z0 = field.feedforward();
        let bound = z0.iter().map(|m| m.amax()).fold(0.0, f64::max);
        let rail = 0.5 * bound;
        let mut sys = System::new(&mut field, dynamics, vec![1.0; 5]);
        let cfg = RelaxConfig {
            method,
            dt_tau: 0.1,
            rail,
            residual_tol,
            t_max_tau: 1500.0,
            ..Default::default()
        };
        let out = relax(&mut sys, z0, &cfg, &mut rng(0), None).unwrap();
        let clipped = out.activities()[..]
            .iter()
            .flat_map(|m| m.iter())
            .filter(|v| v.abs() >= rail * (1.0 - 1e-9))
            .count();
        assert!(clipped > 0, "the rail must bind for this test");
        out
    };
    let long = run(Dynamics::FirstOrder, Method::Euler, 0.0);
    assert_eq!(long.stop, StopReason::MaxTime);
    let inertial = Dynamics::inertial(0.5, 1.0);
    for (d, m) in [
        (Dynamics::FirstOrder, Method::Euler),
        (inertial, Method::SymplecticEuler),
    ] {
        let out = run(d, m, 1e-4);
        assert_eq!(out.stop, StopReason::Residual, "{d:?}");
        assert!(out.t_tau < 1000.0);
        let rel = (out.energy_end - long.energy_end).abs() / long.energy_end;
        assert!(
            rel < 1e-3,
            "{d:?}: F = {} vs long run {}",
            out.energy_end,
            long.energy_end
        );
    }
}
