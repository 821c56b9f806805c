//! Checkpoint and resume: a run stopped (or killed) after a checkpoint and
//! resumed gives exactly the numbers of an uninterrupted run — step records,
//! evaluations, relaxation.csv and weights.safetensors, byte for byte — on
//! a chip whose random streams matter (PCM device, noisy writes, node noise).
//! Resuming what cannot be resumed is a clear error with exit code 2.

use pcchip::analog::DevicePreset;
use pcchip::chip::{dataset::load_split, Chip, StepRecord};
use pcchip::circuit::{Circuit, DType, Programming, Source};
use pcchip::net::{Activation, OptimiserKind};
use pcchip::report::{Report, Status};
use pcchip::run::checkpoint;
use pcchip::run::train::{resume, run, run_checkpointed, Observer, RunOptions, Silent};
use pcchip::run::RunError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// 96 training samples in batches of 16: 6 steps an epoch, 18 in all.
fn noisy_circuit(dtype: DType, optimiser: OptimiserKind) -> Circuit {
    let mut c = Circuit {
        name: "noisy".into(),
        dtype,
        seed: 11,
        ..Default::default()
    };
    c.network.width = 12;
    c.network.depth = 3;
    c.network.activation = Activation::Tanh;
    c.device = DevicePreset::Pcm.config();
    c.data.source = Source::TeacherStudent;
    c.data.teacher_inputs = 6;
    c.data.teacher_outputs = 2;
    c.data.teacher_samples = 120;
    c.data.teacher_width = 6;
    c.data.test_frac = 0.2;
    c.train.batch_size = 16;
    c.train.epochs = 3;
    c.train.eval_every_steps = 5;
    c.relax.noise_std = 0.02;
    c.relax.residual_tol = 1e-3;
    c.relax.t_max_tau = 60.0;
    c.record.every_steps = 3;
    c.controller.optimiser = optimiser;
    c.controller.momentum = 0.5;
    c.controller.lr = 0.05;
    c
}

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pcchip-resume-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

fn opts(dir: &Path) -> RunOptions {
    RunOptions {
        out_dir: dir.to_path_buf(),
        base_dir: ".".into(),
        weights: None,
    }
}

/// Stops the run once step `at` is done.
struct StopAt(usize, usize);
impl Observer for StopAt {
    fn step(&mut self, r: &StepRecord) {
        self.1 = r.step;
    }
    fn stop(&mut self) -> bool {
        self.1 == self.0
    }
}

/// report.json as JSON with the wall-clock field cleared.
fn report_json(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("report.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    if v["summary"].is_object() {
        v["summary"]["wall_s"] = serde_json::Value::Null;
    }
    v
}

/// Everything a run writes, wall-clock aside, is byte-identical.
fn assert_same_outputs(want: &Path, got: &Path) {
    let (a, b) = (report_json(want), report_json(got));
    assert_eq!(a["status"], "complete");
    assert_eq!(a["steps"], b["steps"], "step records");
    assert_eq!(a["evals"], b["evals"], "evaluations");
    assert_eq!(a, b, "the whole report");
    for f in ["weights.safetensors", "relaxation.csv"] {
        let (x, y) = (
            std::fs::read(want.join(f)).unwrap(),
            std::fs::read(got.join(f)).unwrap(),
        );
        assert!(!x.is_empty(), "{f} is written");
        assert!(x == y, "{f} differs after resume");
    }
}

fn state_step(dir: &Path) -> usize {
    checkpoint::read_state(&dir.join(checkpoint::DIR))
        .unwrap()
        .step
}

/// Stopped twice (mid-epoch, then on an epoch boundary) and resumed each
/// time: the same numbers as one uninterrupted run, in f32 with Adam and
/// pulsed programming, and in f64 with SGD momentum and stochastic rounding,
/// both on drifting arrays.
#[test]
fn a_stopped_and_resumed_run_equals_the_uninterrupted_run() {
    let mut ideal_levels = noisy_circuit(DType::F64, OptimiserKind::Sgd);
    ideal_levels.device.n_levels = 64; // ideal writes round stochastically
    let mut pulsed = noisy_circuit(DType::F32, OptimiserKind::Adam);
    pulsed.controller.programming = Programming::Pulsed;
    pulsed.controller.pulse_dg_us = 0.05;
    // PCM drift (ν = 0.05) from a reference time shorter than a step, so the
    // arrays drift during the run: the checkpoint must hold the chip's clock
    // and every pair's write time.
    for c in [&mut pulsed, &mut ideal_levels] {
        c.device.drift_t0_s = 1e-7;
    }
    for (k, c) in [pulsed, ideal_levels].iter().enumerate() {
        let full = tmp_dir(&format!("full{k}"));
        let report = run(c, &opts(&full), &mut Silent).unwrap();
        assert_eq!(report.steps.len(), 18);
        let part = tmp_dir(&format!("part{k}"));
        // Stop after step 7; the checkpoint is at step 4 (epoch 0, batch 4).
        let r = run_checkpointed(c, &opts(&part), 4, &mut StopAt(7, 0)).unwrap();
        assert_eq!((r.status, r.steps.len()), (Status::Running, 7));
        assert_eq!(state_step(&part), 4);
        // Resume, keep the interval, stop after 14: checkpoint at 12 (epoch 2, batch 0).
        let r = resume(&part, None, &mut StopAt(14, 0)).unwrap();
        assert_eq!((r.status, r.steps.len()), (Status::Running, 14));
        let s = checkpoint::read_state(&part.join(checkpoint::DIR)).unwrap();
        assert_eq!((s.step, s.run.epoch, s.run.batch), (12, 2, 0));
        // A save interrupted between its renames leaves checkpoint.old, which is used.
        std::fs::rename(part.join(checkpoint::DIR), part.join(checkpoint::OLD)).unwrap();
        let r = resume(&part, None, &mut Silent).unwrap();
        assert_eq!(r.status, Status::Complete);
        assert_same_outputs(&full, &part);
        for d in [full, part] {
            std::fs::remove_dir_all(d).ok();
        }
    }
}

/// Changes one part of a restored chip's state.
type Spoil<'a> = dyn Fn(&mut Chip<f64>) + 'a;

/// The checkpoint holds what the future depends on: restored, the next step
/// is the uninterrupted run's; with either random stream or the optimiser's
/// state reset, it is not (so the equality above is not vacuous).
#[test]
fn every_part_of_the_state_matters() {
    let mut c = noisy_circuit(DType::F64, OptimiserKind::Adam);
    c.controller.programming = Programming::Pulsed;
    c.controller.pulse_dg_us = 0.05;
    let full = tmp_dir("parts-full");
    let report = run(&c, &opts(&full), &mut Silent).unwrap();
    let part = tmp_dir("parts");
    run_checkpointed(&c, &opts(&part), 4, &mut StopAt(4, 0)).unwrap();
    let ckpt = part.join(checkpoint::DIR);
    let state = checkpoint::read_state(&ckpt).unwrap();
    let (train, _) = load_split(&c, Path::new(".")).unwrap();
    let batch = pcchip::Batches {
        batch_size: 16,
        drop_last: false,
    }
    .epoch(train.len(), c.seed, 0)[4]
        .clone();
    let (x, y) = train.batch::<f64>(&batch);
    let next = |spoil: &Spoil<'_>| {
        let mut chip = Chip::<f64>::build(&c, 6, 2, None).unwrap();
        checkpoint::restore(&mut chip, &state, &ckpt).unwrap();
        spoil(&mut chip);
        let rec = chip.train_step(&x, &y, 0, false).unwrap();
        let w: Vec<f64> = chip
            .cores()
            .iter()
            .flat_map(|c| c.effective_weights().iter().copied().collect::<Vec<_>>())
            .collect();
        (rec.t_relax_tau, rec.energy_end, w)
    };
    let want = &report.steps[4];
    let exact = next(&|_| {});
    assert_eq!((exact.0, exact.1), (want.t_relax_tau, want.energy_end));
    let spoilt: [(&str, &Spoil<'_>); 4] = [
        ("rng_noise", &|ch| {
            let mut s = ch.state();
            s.rng_noise = pcchip::chip::stream(c.seed, 2);
            ch.restore(s).unwrap();
        }),
        ("rng_write", &|ch| {
            let mut s = ch.state();
            s.rng_write = pcchip::chip::stream(c.seed, 1);
            ch.restore(s).unwrap();
        }),
        ("Adam moments", &|ch| {
            let mut s = ch.state();
            s.moments.0.iter_mut().for_each(|m| m.fill(0.0));
            ch.restore(s).unwrap();
        }),
        ("Adam step count", &|ch| {
            let mut s = ch.state();
            s.optimiser_t = 0;
            ch.restore(s).unwrap();
        }),
    ];
    for (what, spoil) in spoilt {
        assert_ne!(next(spoil), exact, "resetting {what} changes nothing");
    }
    for d in [full, part] {
        std::fs::remove_dir_all(d).ok();
    }
}

fn invalid(r: Result<Report, RunError>) -> String {
    match r {
        Err(e @ RunError::Invalid(_)) => {
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        }
        Err(e) => panic!("expected invalid input, got failure {e}"),
        Ok(_) => panic!("expected an error"),
    }
}

/// Complete runs, folders without checkpoint, and checkpoints that do not
/// fit their circuit are refused with exit code 2 and a message naming why.
#[test]
fn what_cannot_be_resumed_is_refused() {
    let mut c = noisy_circuit(DType::F32, OptimiserKind::Adam);
    c.train.max_steps = 5;
    let done = tmp_dir("err-done");
    run_checkpointed(&c, &opts(&done), 2, &mut Silent).unwrap();
    let e = invalid(resume(&done, None, &mut Silent));
    assert!(e.contains("complete"), "{e}");

    // A fresh run into a folder holding a checkpoint removes it first.
    let none = tmp_dir("err-none");
    run_checkpointed(&c, &opts(&none), 1, &mut StopAt(2, 0)).unwrap();
    assert_eq!(state_step(&none), 2);
    run(&c, &opts(&none), &mut StopAt(2, 0)).unwrap();
    let e = invalid(resume(&none, None, &mut Silent));
    assert!(
        e.contains("no checkpoint") && e.contains("--checkpoint-every"),
        "{e}"
    );
    let e = invalid(resume(&tmp_dir("err-missing"), None, &mut Silent));
    assert!(e.contains("no checkpoint"), "{e}");

    // Tensors of a wider network under this circuit: the shapes do not fit.
    let stopped = |c: &Circuit, tag: &str| {
        let d = tmp_dir(tag);
        run_checkpointed(c, &opts(&d), 2, &mut StopAt(3, 0)).unwrap();
        d
    };
    let a = stopped(&c, "err-a");
    let mut wide = c.clone();
    wide.network.width = 16;
    let b = stopped(&wide, "err-b");
    let tensors = |d: &Path| d.join(checkpoint::DIR).join("tensors.safetensors");
    std::fs::copy(tensors(&b), tensors(&a)).unwrap();
    let e = invalid(resume(&a, None, &mut Silent));
    assert!(
        e.contains("tensors.safetensors") && e.contains("16") && e.contains("12"),
        "{e}"
    );
    // A circuit edited in the checkpoint no longer fits its tensors.
    let state_path = b.join(checkpoint::DIR).join("state.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    v["report"]["circuit"]["network"]["width"] = 8.into();
    v["report"]["derived"]["widths"] = serde_json::json!([6, 8, 8, 2]);
    std::fs::write(&state_path, v.to_string()).unwrap();
    let e = invalid(resume(&b, None, &mut Silent));
    assert!(e.contains("layer 1") && e.contains("8"), "{e}");
    // An invalid circuit in the checkpoint names the key.
    v["report"]["circuit"]["network"]["width"] = 0.into();
    std::fs::write(&state_path, v.to_string()).unwrap();
    let e = invalid(resume(&b, None, &mut Silent));
    assert!(e.contains("network.width"), "{e}");
    // Garbage instead of the state.
    std::fs::write(&state_path, "{").unwrap();
    let e = invalid(resume(&b, None, &mut Silent));
    assert!(e.contains("state.json"), "{e}");
    for d in [done, none, a, b] {
        std::fs::remove_dir_all(d).ok();
    }
}

const CLI_CIRCUIT: &str = r#"
name = "resume-cli"
seed = 5
precision = "f32"
[network]
width = 12
depth = 3
activation = "tanh"
loss = "mse"
[device]
preset = "pcm"
[relax]
method = "euler"
noise_std = 0.02
t_max_tau = 60.0
[controller]
programming = "pulsed"
pulse_dg_us = 0.05
[data]
source = "teacher-student"
teacher_inputs = 6
teacher_outputs = 2
teacher_samples = 250
teacher_width = 6
[train]
epochs = 3
batch_size = 16
eval_every_steps = 7
[record]
every_steps = 2
"#;

fn pcchip(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pcchip"))
        .args(args)
        .arg(dir)
        .output()
        .expect("run pcchip")
}

/// `pcchip run --checkpoint-every 2`, killed with SIGKILL after a checkpoint,
/// then `pcchip run --resume DIR`: the same report, weights and trace file
/// as an uninterrupted run.
#[test]
fn a_killed_run_resumes_to_the_same_numbers() {
    let root = tmp_dir("cli");
    std::fs::create_dir_all(&root).unwrap();
    let circuit = root.join("c.toml");
    std::fs::write(&circuit, CLI_CIRCUIT).unwrap();
    let c = circuit.to_str().unwrap();
    let (full, killed) = (root.join("full"), root.join("killed"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pcchip"))
        .args(["run", c, "--quiet", "--checkpoint-every", "2", "--out"])
        .arg(&killed)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pcchip");
    let started = Instant::now();
    let state = killed.join(checkpoint::DIR).join("state.json");
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no checkpoint in 60 s"
        );
        std::thread::sleep(Duration::from_millis(5));
        let step = std::fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["step"].as_u64());
        if step.is_some_and(|s| s >= 2) {
            break;
        }
    }
    child.kill().expect("kill -9");
    child.wait().ok();
    let at_kill = report_json(&killed);
    assert_eq!(at_kill["status"], "running", "killed before the end");
    let out = pcchip(&["run", c, "--quiet", "--out"], &full);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = pcchip(&["run", "--quiet", "--resume"], &killed);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("39 steps"));
    assert_same_outputs(&full, &killed);

    // Resuming the now complete run, or with a circuit or --set, is refused.
    let out = pcchip(&["run", "--resume"], &killed);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("complete"));
    for extra in [vec![c], vec!["--set", "seed=1"], vec!["--out", c]] {
        let mut args = vec!["run"];
        args.extend(extra);
        args.push("--resume");
        let out = pcchip(&args, &killed);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("cannot be used with"), "{err}");
    }
    std::fs::remove_dir_all(root).ok();
}
