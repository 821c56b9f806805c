//! After a relaxation the field's cached signals are those of the final
//! state, so a training step reads the errors without evaluating again
//! (`relax`'s contract; `Chip::train_step` relies on it).

mod common;
use common::*;
use pcchip::net::{Activation, Parameterisation, Topology};
use pcchip::relax::*;

#[test]
fn field_holds_the_final_state() {
    let topo = Topology::uniform(5, 12, 3, 5)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net = net::<f64>(topo, Parameterisation::default(), 4);
    let mut r = rng(9);
    let (x, y) = (
        normal::<f64>(5, 6, 1.0, &mut r),
        normal::<f64>(3, 6, 1.0, &mut r),
    );
    let first_order = Dynamics::FirstOrder;
    let inertial = Dynamics::inertial(0.5, 1.0);
    // (method, dynamics, residual_tol, check_every_tau, noise, rail)
    let cases = [
        (Method::Euler, first_order, 1e-4, 1.0, 0.0, 0.0),
        (Method::Euler, first_order, 0.0, 0.7, 1e-2, 0.0),
        (Method::Heun, first_order, 0.0, 1e9, 0.0, 1.5),
        (Method::Dopri5, first_order, 1e-6, 0.3, 0.0, 0.0),
        (Method::Ros3, first_order, 1e-8, 1.0, 0.0, 0.0),
        (Method::Ros2, first_order, 0.0, 2.5, 0.0, 0.0),
        (Method::SymplecticEuler, inertial, 1e-3, 1.0, 0.0, 0.0),
    ];
    for (method, dynamics, residual_tol, check_every_tau, noise_std, rail) in cases {
        let cfg = RelaxConfig {
            method,
            dt_tau: 0.2,
            residual_tol,
            check_every_tau,
            noise_std,
            rail,
            t_max_tau: 30.0,
            trace_every_tau: 0.0,
            ..Default::default()
        };
        let mut field = Field::of_network(&net, x.clone(), y.clone());
        let z0 = field.feedforward();
        let mut sys = System::new(&mut field, dynamics, vec![1.0; 4]);
        let out = relax(&mut sys, z0, &cfg, &mut rng(1), None).unwrap();
        let cached = field.signals(out.activities());
        let energy = field.energy();
        let mut scratch = field.hidden_zeros();
        field.force(out.activities(), &mut scratch);
        assert!(
            cached == field.signals(out.activities()) && energy == field.energy(),
            "{} {:?}: the field was last evaluated elsewhere (stop {:?})",
            method.name(),
            dynamics,
            out.stop
        );
    }
}

/// A check interval far below the adaptive steps (10⁹ checks allowed over
/// t_max, the validation's limit) costs at most one check a step, and the
/// next check time is found without t / interval turns of bookkeeping.
#[test]
fn tiny_check_interval_finishes() {
    let topo = Topology::uniform(4, 8, 2, 4).with_activation(Activation::Tanh);
    let net = net::<f64>(topo, Parameterisation::default(), 2);
    let mut r = rng(3);
    let (x, y) = (
        normal::<f64>(4, 3, 1.0, &mut r),
        normal::<f64>(2, 3, 1.0, &mut r),
    );
    let cfg = RelaxConfig {
        method: Method::Ros3,
        dt_tau: 0.1,
        rtol: 1e-2,
        atol: 1e-4,
        residual_tol: 0.0,
        check_every_tau: 1e-3,
        t_max_tau: 1e6,
        trace_every_tau: 0.0,
        ..Default::default()
    };
    let mut field = Field::of_network(&net, x, y);
    let z0 = field.feedforward();
    let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; 3]);
    let out = relax(&mut sys, z0, &cfg, &mut rng(1), None).unwrap();
    assert_eq!(out.stop, StopReason::MaxTime);
    assert!(out.n_steps < 10_000, "{} steps", out.n_steps);
}
