//! `pcchip relax`: one relaxation of one batch equals the relaxation of the
//! first training step on the same batch, its counters agree with the
//! field's, it does not depend on the thread count, and the command line
//! writes relax.json, the trace and the activities, and plots them.

use pcchip::circuit::{Circuit, DType, Source};
use pcchip::relax::Method;
use pcchip::run::relax_batch;
use pcchip::run::train::{run, RunOptions, Silent};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pcchip-relaxcmd-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    d
}

/// A small tanh residual regression circuit whose 6-bit DACs quantise the
/// batch (so clamping through them matters).
fn circuit(method: Method, dtype: DType) -> Circuit {
    let mut c = Circuit {
        name: "relaxcmd".into(),
        dtype,
        ..Default::default()
    };
    c.network.width = 24;
    c.network.depth = 5;
    c.data.source = Source::TeacherStudent;
    c.data.teacher_inputs = 6;
    c.data.teacher_outputs = 2;
    c.data.teacher_samples = 64;
    c.data.teacher_width = 8;
    c.train.batch_size = 8;
    c.train.max_steps = 1;
    c.record.every_steps = 1;
    c.periphery.dac.bits = 6;
    c.relax.method = method;
    c.relax.residual_tol = 1e-6;
    c.relax.t_max_tau = 400.0;
    c.relax.trace_every_tau = 2.0;
    if method == Method::Euler {
        c.relax.noise_std = 1e-3;
    } else {
        c.relax.rtol = 1e-3;
        c.relax.atol = 1e-6;
    }
    c
}

fn opts(dir: &Path) -> RunOptions {
    RunOptions {
        out_dir: dir.to_path_buf(),
        base_dir: ".".into(),
        weights: None,
    }
}

#[test]
fn relax_equals_the_first_training_steps_relaxation() {
    for (method, dtype) in [
        (Method::Euler, DType::F64),
        (Method::Ros3, DType::F64),
        (Method::Euler, DType::F32),
    ] {
        let c = circuit(method, dtype);
        let run_dir = tmp_dir(&format!("run-{}", method.name()));
        let report = run(&c, &opts(&run_dir), &mut Silent).unwrap();
        let step = &report.steps[0];
        let dir = tmp_dir(&format!("relax-{}", method.name()));
        let r = relax_batch(&c, Path::new("."), None, None, &dir).unwrap();
        let what = format!("{} {:?}", method.name(), dtype);
        assert_eq!(r.t_tau, step.t_relax_tau, "{what}: time");
        assert_eq!(r.energy_start, step.energy_start, "{what}: F at t = 0");
        assert_eq!(r.energy_end, step.energy_end, "{what}: F at the stop");
        assert_eq!(r.field_evals, step.n_evals, "{what}: evaluations");
        assert_eq!(r.steps_accepted, step.n_integrator_steps, "{what}: steps");
        assert_eq!(r.stop, step.stop, "{what}: stop rule");
        assert!(r.trace_points >= 2, "{what}: trace");
        // The trace in relaxation.csv is the training step's trace.
        let a = std::fs::read_to_string(dir.join("relaxation.csv")).unwrap();
        let b = std::fs::read_to_string(run_dir.join("relaxation.csv")).unwrap();
        assert_eq!(a, b, "{what}: relaxation.csv");
    }
}

#[test]
fn counters_agree_with_the_field() {
    let depth = 5;
    // Euler: every product is one of a field evaluation's 2L − 1.
    let c = circuit(Method::Euler, DType::F64);
    let r = relax_batch(&c, Path::new("."), None, None, &tmp_dir("count-euler")).unwrap();
    assert_eq!(r.weight_products, r.field_evals * (2 * depth - 1));
    assert_eq!((r.cg_iterations, r.hessian_vector_products), (0, 0));
    assert_eq!(r.steps_rejected, 0);
    // ROS3: the stage solves add CG iterations and their products.
    let c = circuit(Method::Ros3, DType::F64);
    let r = relax_batch(&c, Path::new("."), None, None, &tmp_dir("count-ros3")).unwrap();
    assert!(r.cg_iterations > 0);
    assert!(r.weight_products > r.field_evals * (2 * depth - 1) + r.cg_iterations);
}

#[test]
fn relax_is_independent_of_the_thread_count() {
    let c = circuit(Method::Ros3, DType::F64);
    let on = |threads: usize| {
        let dir = tmp_dir(&format!("threads-{threads}"));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let r = pool
            .install(|| relax_batch(&c, Path::new("."), None, None, &dir))
            .unwrap();
        (
            r.t_tau,
            r.energy_end,
            std::fs::read(dir.join("activities.safetensors")).unwrap(),
        )
    };
    assert_eq!(on(1), on(2));
}

fn pcchip(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pcchip"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn command_line_writes_and_plots_a_relaxation() {
    let dir = tmp_dir("cli");
    let circuit_file = dir.with_extension("toml");
    std::fs::write(
        &circuit_file,
        toml::to_string(&circuit(Method::Ros3, DType::F64)).unwrap(),
    )
    .unwrap();
    let (cf, out) = (circuit_file.to_str().unwrap(), dir.to_str().unwrap());
    let o = pcchip(&["relax", cf, "--out", out, "--set", "network.depth=4"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("relax.json")).unwrap()).unwrap();
    assert_eq!(json["depth"], 4);
    assert_eq!(json["method"], "ros3");
    assert_eq!(json["stop"], "residual");
    let z = std::fs::read(dir.join("activities.safetensors")).unwrap();
    let t = safetensors::SafeTensors::deserialize(&z).unwrap();
    let mut names: Vec<String> = t.names().into_iter().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["x", "y", "z1", "z2", "z3"]);
    assert_eq!(t.tensor("z2").unwrap().shape(), [8, 24]);
    let o = pcchip(&["plot", out]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("relaxation.png").exists());
    // A batch file of the wrong width is invalid input (exit 2).
    let o = pcchip(&["relax", cf, "--out", out, "--set", "data.teacher_inputs=5"]);
    assert!(
        o.status.success(),
        "a narrower data set is a different circuit, not an error"
    );
    let o = pcchip(&["relax", cf, "--out", out, "--batch", cf]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
