//! The circuit's learning-rate schedule reaches the arrays: on an ideal
//! chip with SGD, a warm-up of W updates makes the first weight change
//! exactly 1/W of the constant schedule's (the same relaxation, the same
//! gradient), and a cosine that ends at f = 0 after H updates leaves the
//! weights unchanged at update H.

mod common;
use common::*;
use pcchip::chip::Chip;
use pcchip::circuit::{Circuit, DType, Source};
use pcchip::controller::ScheduleKind;
use pcchip::net::OptimiserKind;

fn circuit() -> Circuit {
    let mut c = Circuit {
        name: "schedule".into(),
        dtype: DType::F64,
        ..Default::default()
    };
    c.network.width = 10;
    c.network.depth = 3;
    c.data.source = Source::TeacherStudent;
    c.controller.optimiser = OptimiserKind::Sgd;
    c.controller.lr = 0.05;
    c.relax.t_max_tau = 5.0;
    c
}

/// The weight change of each step of `steps` on one batch.
fn changes(c: &Circuit, steps: usize) -> Vec<f64> {
    let mut chip = Chip::<f64>::build(c, 4, 2, None).unwrap();
    let mut r = rng(3);
    let (x, y) = (
        normal::<f64>(4, 6, 1.0, &mut r),
        normal::<f64>(2, 6, 1.0, &mut r),
    );
    (0..steps)
        .map(|_| {
            let before: Vec<_> = chip
                .cores()
                .iter()
                .map(|k| k.effective_weights().clone())
                .collect();
            chip.train_step(&x, &y, 0, false).unwrap();
            chip.cores()
                .iter()
                .zip(&before)
                .map(|(k, b)| (k.effective_weights() - b).norm_squared())
                .sum::<f64>()
                .sqrt()
        })
        .collect()
}

#[test]
fn a_warmup_scales_the_first_update() {
    let base = circuit();
    let mut warm = circuit();
    warm.controller.warmup_steps = 4;
    let (a, b) = (changes(&base, 1)[0], changes(&warm, 1)[0]);
    assert!(a > 0.0);
    assert!((b / a - 0.25).abs() < 1e-9, "ratio {}", b / a);
}

#[test]
fn a_cosine_to_zero_stops_at_its_horizon() {
    let mut c = circuit();
    c.controller.lr_schedule = ScheduleKind::Cosine;
    c.controller.decay_steps = 3;
    c.controller.lr_final_frac = 0.0;
    let d = changes(&c, 4);
    assert!(d[0] > 0.0 && d[1] > 0.0, "{d:?}");
    assert!(d[2] == 0.0 && d[3] == 0.0, "{d:?}");
}
