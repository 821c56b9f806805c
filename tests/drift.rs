//! Drift on the chip's clock: each device pair drifts from its own write
//! time by G(t) = G_w·(max(t − t_w, t0)/t0)^(−ν); a run's training steps
//! advance the clock by their simulated time, so a device with t0 shorter
//! than a step drifts during training, and `train.eval_delay_s` ages the
//! arrays before the final evaluation.

use nalgebra::DMatrix;
use pcchip::analog::{Crossbar, CrossbarConfig, DeviceConfig};
use pcchip::circuit::{parse, Circuit};
use pcchip::report::Report;
use pcchip::run::train::{run, RunOptions, Silent};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn drifting(nu: f64, t0: f64) -> CrossbarConfig {
    CrossbarConfig {
        device: DeviceConfig {
            drift_nu: nu,
            drift_t0_s: t0,
            ..DeviceConfig::default()
        },
        ..CrossbarConfig::default()
    }
}

#[test]
fn each_pair_drifts_from_its_own_write_time() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let w = DMatrix::from_fn(6, 5, |_, _| rng.random::<f64>() * 2.0 - 1.0);
    let (nu, t0) = (0.1, 1.0);
    let mut xb = Crossbar::program(&w, &drifting(nu, t0), &mut rng).unwrap();
    let g0 = xb.conductances_us().0.clone();
    xb.age_to(0.5); // younger than t0: no drift yet
    assert_eq!(xb.conductances_us().0, &g0);
    xb.age_to(10.0);
    let f10 = 10f64.powf(-nu);
    assert!((xb.effective_weights() - &w * f10).amax() < 1e-12);
    // Rewrite column 2 at t = 10; the rest keeps its write time 0.
    let mut delta = DMatrix::zeros(6, 5);
    delta.column_mut(2).fill(0.01);
    xb.program_update(&delta, &mut rng);
    let g_w = xb.conductances_us().0.clone();
    xb.age_to(110.0);
    let g = xb.conductances_us().0;
    for j in 0..5 {
        for i in 0..6 {
            let want = if j == 2 {
                g_w[(i, j)] * 100f64.powf(-nu)
            } else {
                g0[(i, j)] * 110f64.powf(-nu)
            };
            assert!(
                (g[(i, j)] - want).abs() < 1e-12 * want.abs().max(1.0),
                "pair ({i}, {j}): {} vs {want}",
                g[(i, j)]
            );
        }
    }
    // Absolute, not cumulative: back to t = 10 restores the written values
    // of column 2 (younger than t0 there) and the t = 10 drift elsewhere.
    xb.age_to(10.0);
    let g = xb.conductances_us().0;
    assert!((g[(0, 2)] - g_w[(0, 2)]).abs() < 1e-12);
    assert!((g[(0, 0)] - g0[(0, 0)] * f10).abs() < 1e-12);
    // Without drift the array never changes.
    let mut still = Crossbar::program(&w, &drifting(0.0, t0), &mut rng).unwrap();
    still.age_to(1e9);
    assert!((still.effective_weights() - &w).amax() < 1e-12);
}

const CIRCUIT: &str = r#"
name = "drift"
seed = 4
precision = "f64"
[network]
width = 16
depth = 3
[device]
drift_nu = 0.05
drift_t0_s = 1e-7
[relax]
method = "euler"
dt_tau = 0.2
residual_tol = 1e-3
t_max_tau = 60.0
[controller]
optimiser = "adam"
lr = 0.02
[data]
source = "teacher-student"
teacher_inputs = 5
teacher_outputs = 2
teacher_samples = 60
teacher_width = 6
[train]
epochs = 1
batch_size = 12
max_steps = 4
"#;

fn run_with(sets: &[&str]) -> (Report, Vec<DMatrix<f64>>) {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    let c: Circuit = parse(CIRCUIT, "drift.toml", "drift", &sets).unwrap();
    let dir = std::env::temp_dir().join(format!(
        "pcchip-drift-{}-{}",
        std::process::id(),
        sets.join("_").replace(['=', '.'], "-")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = RunOptions {
        out_dir: dir.clone(),
        base_dir: ".".into(),
        weights: None,
    };
    let report = run(&c, &opts, &mut Silent).unwrap();
    let w = pcchip::report::tensors::read_tensors::<f64>(&dir.join("weights.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    (report, w)
}

#[test]
fn drift_acts_in_a_run_on_the_chips_clock() {
    let (still, w_still) = run_with(&["device.drift_nu=0"]);
    let (drifting, w_drift) = run_with(&[]);
    let s = drifting.summary.as_ref().unwrap();
    // The clock is the steps' simulated time.
    let t_steps: f64 = drifting.steps.iter().map(|r| r.t_pc_s).sum();
    assert!((s.chip_clock_s - t_steps).abs() <= 1e-12 * t_steps);
    assert!(t_steps > 1e-7, "a step outlasts t0 = 100 ns");
    // The first step reads the arrays as programmed; later ones drifted.
    assert_eq!(still.steps[0].loss, drifting.steps[0].loss);
    assert_ne!(still.steps[3].loss, drifting.steps[3].loss);
    assert_ne!(w_still, w_drift);
    // An idle day before the final evaluation: every pair was written by
    // the last step (Adam moves every weight), so all weights scale by the
    // same factor (day/t0)^(−ν) relative to the run without the delay.
    let day = 86_400.0;
    let (late, w_late) = run_with(&["train.eval_delay_s=86400"]);
    let f = (day / 1e-7f64).powf(-0.05);
    for (a, b) in w_late.iter().zip(&w_drift) {
        assert!((a - b * f).amax() < 1e-9 * b.amax(), "weights after a day");
    }
    let test = |r: &Report| r.evals.last().unwrap().loss;
    assert_ne!(test(&late), test(&drifting));
    let clock = late.summary.as_ref().unwrap().chip_clock_s;
    assert!((clock - (t_steps + day)).abs() < 1e-6);
}
