//! The work of one training step is pinned: one feedforward pass (L array
//! reads), the relaxation's field evaluations (2L − 1 reads each for the
//! explicit methods), and nothing else on the arrays — no second
//! feedforward pass for the loss, no extra evaluation to refresh the errors
//! the controller reads. A change that brings a double pass back fails here.

mod common;
use common::*;
use pcchip::chip::Chip;
use pcchip::circuit::{Circuit, DType, Source};
use pcchip::relax::{relax, Dynamics, Field, Method, System};

fn circuit(method: Method) -> Circuit {
    let mut c = Circuit {
        name: "counts".into(),
        dtype: DType::F64,
        ..Default::default()
    };
    c.network.width = 12;
    c.network.depth = 4;
    c.data.source = Source::TeacherStudent;
    c.relax.method = method;
    c.relax.dt_tau = 0.1;
    c.relax.residual_tol = 1e-3;
    c.relax.t_max_tau = 50.0;
    c
}

#[test]
fn one_step_reads_the_arrays_once_forward_then_only_for_the_relaxation() {
    for method in [Method::Euler, Method::Heun, Method::Rk4] {
        for record in [false, true] {
            let c = circuit(method);
            let depth = c.network.depth as u64;
            let mut chip = Chip::<f64>::build(&c, 5, 2, None).unwrap();
            let mut r = rng(4);
            let (x, y) = (
                normal::<f64>(5, 7, 1.0, &mut r),
                normal::<f64>(2, 7, 1.0, &mut r),
            );
            // The same relaxation counted independently, on the mathematical network.
            let net = chip.network();
            let mut field = Field::of_network(&net, x.clone(), y.clone());
            let z0 = field.feedforward();
            let mut sys = System::new(&mut field, Dynamics::FirstOrder, chip.tau_rel());
            let mut cfg = c.relax.clone();
            cfg.trace_every_tau = 0.0;
            let alone = relax(&mut sys, z0, &cfg, &mut rng(0), None).unwrap();
            let before = chip.array_reads();
            let rec = chip.train_step(&x, &y, 0, record).unwrap();
            assert_eq!(
                rec.n_evals,
                alone.n_evals,
                "{} record={record}: the step evaluates the field more often than its relaxation",
                method.name()
            );
            let relaxation_reads = rec.n_evals as u64 * (2 * depth - 1);
            assert_eq!(alone.n_products as u64, relaxation_reads);
            assert_eq!(
                rec.n_array_reads,
                depth + relaxation_reads,
                "{} record={record}: one feedforward pass (L reads) and the relaxation's reads",
                method.name()
            );
            // Programming reads nothing.
            assert_eq!(chip.array_reads() - before, rec.n_array_reads);
        }
    }
}

#[test]
fn evaluation_reads_each_array_once_per_chunk() {
    let c = circuit(Method::Euler);
    let chip = Chip::<f64>::build(&c, 5, 2, None).unwrap();
    let x = normal::<f64>(5, 9, 1.0, &mut rng(2));
    let before = chip.array_reads();
    let _ = chip.forward(&x);
    assert_eq!(chip.array_reads() - before, c.network.depth as u64);
}
