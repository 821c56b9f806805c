//! `pcchip::interrupt`: a request from outside stops a relaxation at its
//! next check, ends the fixed-point solver's iterations and stops a training
//! run after its step; withdrawn, everything runs to its own rules again.
//! One test in its own binary: the request is process-wide.

use pcchip::circuit::parse;
use pcchip::relax::StopReason;
use pcchip::run::grads::grads_in_memory;
use pcchip::run::input::QUICKSTART;
use pcchip::run::relax::relax_in_memory;
use pcchip::run::train::{run, RunOptions, Silent};
use std::path::Path;

fn circuit(extra: &[&str]) -> pcchip::circuit::Circuit {
    let mut set: Vec<String> = vec!["network.width=24".into(), "dtype=\"f64\"".into()];
    set.extend(extra.iter().map(|s| s.to_string()));
    parse(QUICKSTART, "<quickstart>", "quickstart", &set).expect("circuit")
}

#[test]
fn a_request_stops_relaxation_solver_and_run_and_clearing_it_restores_them() {
    let here = Path::new(".");
    let long = circuit(&["relax.residual_tol=0", "relax.t_max_tau=1e6"]);
    pcchip::interrupt::request();
    let (_, s) = relax_in_memory::<f64>(&long, here, None, None).expect("relax");
    assert_eq!(s.relaxation.stop, StopReason::Interrupted);
    assert!(
        s.relaxation.t_tau < 10.0,
        "stopped at {} τ",
        s.relaxation.t_tau
    );

    let c = circuit(&[]);
    let (eq, _) = grads_in_memory::<f64>(&c, here, None, None).expect("grads");
    assert!(
        !eq.solve.at_equilibrium(),
        "the solver ran on: {:?}",
        eq.solve
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let opts = RunOptions {
        out_dir: dir.path().join("run"),
        base_dir: here.into(),
        weights: None,
    };
    let short = circuit(&["train.max_steps=5", "data.n_samples=300"]);
    let report = run(&short, &opts, &mut Silent).expect("run");
    assert_eq!(
        report.steps.len(),
        1,
        "a run stops after the step in progress"
    );
    assert_eq!(report.status, pcchip::report::Status::Running);

    pcchip::interrupt::clear();
    let (_, s) = relax_in_memory::<f64>(&c, here, None, None).expect("relax");
    assert_eq!(s.relaxation.stop, StopReason::Residual);
    let (eq, _) = grads_in_memory::<f64>(&c, here, None, None).expect("grads");
    assert!(eq.solve.at_equilibrium());
    let report = run(&short, &opts, &mut Silent).expect("run");
    assert_eq!(report.steps.len(), 5);
}
