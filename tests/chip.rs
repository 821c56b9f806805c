//! The chip against the mathematics: an ideal chip's training step equals
//! the network's PC step, training reduces the loss, runs are deterministic
//! whatever the thread count, and failed runs leave a valid report.

mod common;
use common::*;
use nalgebra::DMatrix;
use pcchip::chip::Chip;
use pcchip::circuit::{Circuit, DType, Source};
use pcchip::controller::Optimiser;
use pcchip::net::*;
use pcchip::relax::*;
use pcchip::report::{Report, Status};
use pcchip::run::train::{run, RunOptions, Silent};
use pcchip::run::RunError;

/// A small regression circuit on the ideal device in f64.
fn small_circuit() -> Circuit {
    let mut c = Circuit {
        name: "small".into(),
        dtype: DType::F64,
        ..Default::default()
    };
    c.network.width = 16;
    c.network.depth = 3;
    c.data.source = Source::TeacherStudent;
    c.data.teacher_inputs = 8;
    c.data.teacher_outputs = 2;
    c.data.teacher_samples = 96;
    c.data.teacher_width = 8;
    c.train.batch_size = 16;
    c.train.epochs = 2;
    c.relax.residual_tol = 1e-8;
    c.relax.t_max_tau = 500.0;
    c
}

#[test]
fn ideal_chip_step_equals_the_mathematical_step() {
    for optimiser in [OptimiserKind::Sgd, OptimiserKind::Adam] {
        let mut c = small_circuit();
        c.controller.optimiser = optimiser;
        c.controller.momentum = 0.5;
        let mut chip = Chip::<f64>::build(&c, 8, 2, None).unwrap();
        let net = chip.network();
        let mut r = rng(3);
        let x = normal::<f64>(8, 16, 1.0, &mut r);
        let y = normal::<f64>(2, 16, 1.0, &mut r);
        chip.train_step(&x, &y, 0, false).unwrap();
        // The same step by hand on the mathematical network.
        let mut field = Field::of_network(&net, x.clone(), y.clone());
        let z0 = field.feedforward();
        let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; 2]);
        let out = relax(&mut sys, z0, &c.relax, &mut rng(0), None).unwrap();
        let mut z = vec![x.clone()];
        z.extend(out.activities().iter().cloned());
        z.push(y.clone());
        let grads = weight_grads(&net, &z, &errors(&net, &z));
        let lr = (1..=3)
            .map(|l| c.controller.lr * net.param.lr_factor(optimiser, &net.topology.widths, l))
            .collect();
        let shapes: Vec<_> = net.weights.iter().map(|w| w.shape()).collect();
        let mut opt = Optimiser::new(optimiser, lr, (0.5, 0.9, 0.999, 1e-8), &shapes);
        let delta = opt.step(&grads);
        let want: Vec<DMatrix<f64>> = net.weights.iter().zip(&delta).map(|(w, d)| w + d).collect();
        let got: Vec<DMatrix<f64>> = chip
            .cores()
            .iter()
            .map(|c| c.effective_weights().clone())
            .collect();
        let diff: f64 = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).amax())
            .fold(0.0, f64::max);
        assert!(diff < 1e-10, "{optimiser:?}: max |ΔW| difference {diff:e}");
        assert!(
            delta.iter().map(|d| d.amax()).fold(0.0, f64::max) > 1e-6,
            "the step changed the weights"
        );
    }
}

fn tmp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("pcchip-test-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

fn opts(dir: &std::path::Path) -> RunOptions {
    RunOptions {
        out_dir: dir.to_path_buf(),
        base_dir: ".".into(),
        weights: None,
    }
}

#[test]
fn training_reduces_the_loss_on_a_small_task() {
    let mut c = small_circuit();
    c.train.epochs = 15;
    c.controller.lr = 0.05;
    let dir = tmp_dir("train");
    let report = run(&c, &opts(&dir), &mut Silent).unwrap();
    let first: f64 = report.steps[..5].iter().map(|s| s.loss).sum::<f64>() / 5.0;
    let n = report.steps.len();
    let last: f64 = report.steps[n - 5..].iter().map(|s| s.loss).sum::<f64>() / 5.0;
    assert!(last < 0.6 * first, "loss {first} → {last}");
    assert_eq!(report.status, Status::Complete);
    // What was written reads back.
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back.steps.len(), n);
    assert!(dir.join("weights.safetensors").exists() && dir.join("relaxation.csv").exists());
    std::fs::remove_dir_all(&dir).ok();
}

/// Same circuit, same seed: bitwise-identical reports with 1 and 2 threads.
#[test]
fn runs_are_deterministic_across_thread_counts() {
    let mut c = small_circuit();
    c.dtype = DType::F32;
    c.device = pcchip::analog::DevicePreset::Pcm.config();
    c.relax.noise_std = 0.01;
    c.relax.residual_tol = 1e-3;
    c.record.every_steps = 2;
    let go = |threads: usize| {
        let dir = tmp_dir(&format!("det{threads}"));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let report = pool.install(|| run(&c, &opts(&dir), &mut Silent).unwrap());
        std::fs::remove_dir_all(&dir).ok();
        let mut v = serde_json::to_value(&report).unwrap();
        v["summary"]["wall_s"] = serde_json::Value::Null;
        v
    };
    assert_eq!(go(1), go(2));
}

/// A run that diverges stops with exit code 1 and leaves a valid, failed report.
#[test]
fn a_diverging_run_leaves_a_valid_failed_report() {
    let mut c = small_circuit();
    c.controller.optimiser = OptimiserKind::Sgd;
    c.controller.lr = 1e4; // the weights explode after the first updates
    c.mapping.headroom = 1e6; // a conductance range wide enough not to bound the weights
    c.relax.residual_tol = 1e-3;
    c.relax.divergence_bound = 1e3;
    let dir = tmp_dir("diverge");
    let Err(err) = run(&c, &opts(&dir), &mut Silent) else {
        panic!("the run should diverge")
    };
    assert!(matches!(err, RunError::Failed(_)), "{err}");
    assert_eq!(err.exit_code(), 1);
    let back: Report =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(back.status, Status::Failed);
    assert!(
        back.error.as_deref().unwrap_or("").contains("diverged"),
        "{:?}",
        back.error
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The speedup comes from the measured relaxation: doubling τ leaves the
/// relaxation (in τ) and t_BP unchanged and adds exactly the extra
/// relaxation seconds (one round a sample) to t_PC.
#[test]
fn changing_tau_changes_only_the_pc_relaxation_time() {
    let step = |tau_s: f64| {
        let mut c = small_circuit();
        c.dynamics.tau_s = tau_s;
        let mut chip = Chip::<f64>::build(&c, 8, 2, None).unwrap();
        let mut r = rng(5);
        let x = normal::<f64>(8, 16, 1.0, &mut r);
        let y = normal::<f64>(2, 16, 1.0, &mut r);
        chip.train_step(&x, &y, 0, false).unwrap()
    };
    let (a, b) = (step(1e-7), step(2e-7));
    assert_eq!(a.t_relax_tau, b.t_relax_tau);
    assert_eq!(a.t_bp_s, b.t_bp_s);
    assert!((b.t_relax_s - 2.0 * a.t_relax_s).abs() < 1e-18);
    let extra = 16.0 * (b.t_relax_s - a.t_relax_s); // 16 samples, one at a time
    assert!(
        ((b.t_pc_s - a.t_pc_s) - extra).abs() < 1e-12 * b.t_pc_s,
        "{} vs {extra}",
        b.t_pc_s - a.t_pc_s
    );
    assert!(b.speedup < a.speedup);
}
