//! Budgets checked before anything is allocated or run (issue #21, classes
//! 1–3): sizes beyond the machine's memory, settings whose step count can
//! never finish, and values outside the range where the arithmetic stays
//! finite are refused with exit code 2, naming the key, by `check` as by
//! `run` (and `sweep`, `bench`, `--resume`), writing nothing.

use pcchip::circuit::{self, Circuit};
use pcchip::run::train::{run_checkpointed, Observer, RunOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small, fast circuit: the Gaussian toy (D = 4), width 8, depth 2, one step.
const SMALL: &str = "[data]\nsource = \"gaussian-toy\"\nteacher_inputs = 4\nteacher_samples = 20\n[network]\nwidth = 8\ndepth = 2\n[train]\nmax_steps = 1\n";

fn folder(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pcchip-budgets-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn pcchip(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcchip"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run pcchip")
}

/// Asserts exit code 2, no panic, and the words `want` in the message.
fn refused(out: &Output, want: &[&str]) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in want {
        assert!(err.contains(w), "`{w}` missing from: {err}");
    }
    err
}

/// `check` and `run` with `--set` overrides on the small circuit: both
/// refused naming `want`, and `run` writes nothing.
fn both_refuse(tag: &str, sets: &[&str], env: &[(&str, &str)], want: &[&str]) {
    let dir = folder(tag);
    let c = dir.join("c.toml");
    std::fs::write(&c, SMALL).unwrap();
    let c = c.to_str().unwrap();
    let mut args = vec![c];
    for s in sets {
        args.extend(["--set", s]);
    }
    let mut check = vec!["check"];
    check.extend(&args);
    refused(&pcchip(&check, env), want);
    let out = dir.join("out");
    let mut run = vec!["run", "--quiet", "--out", out.to_str().unwrap()];
    run.extend(&args);
    refused(&pcchip(&run, env), want);
    assert!(!out.exists(), "{tag}: nothing is written");
}

#[test]
fn sizes_beyond_memory_are_refused_before_allocating() {
    let mem = ["available", "memory"];
    let with = |k: &'static str| [&[k][..], &mem[..]].concat();
    both_refuse(
        "width",
        &["network.width=1000000000"],
        &[],
        &with("network.width"),
    );
    both_refuse(
        "depth",
        &["network.depth=1000000000"],
        &[],
        &with("network.depth"),
    );
    both_refuse(
        "hidden",
        &["network.hidden_widths=[100000000000]"],
        &[],
        &with("network.hidden_widths"),
    );
    both_refuse(
        "teacher",
        &[
            "data.source=\"teacher-student\"",
            "data.teacher_samples=100000000000",
        ],
        &[],
        &with("data.teacher_samples"),
    );
    // Both figures, against a stated budget: the small circuit fits 1 GB,
    // not 10 kB.
    both_refuse(
        "budget",
        &[],
        &[("PCCHIP_MEMORY_BYTES", "10000")],
        &["network.width", "10.0 kB available"],
    );
    let dir = folder("fits");
    std::fs::write(dir.join("c.toml"), SMALL).unwrap();
    let ok = pcchip(
        &["check", dir.join("c.toml").to_str().unwrap()],
        &[("PCCHIP_MEMORY_BYTES", "1e9")],
    );
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
}

#[test]
fn sweep_and_bench_refuse_huge_sizes_and_write_nothing() {
    let dir = folder("sweep");
    let c = dir.join("c.toml");
    std::fs::write(&c, SMALL).unwrap();
    let out = dir.join("sweep");
    let o = pcchip(
        &[
            "sweep",
            c.to_str().unwrap(),
            "--widths",
            "8,1000000000",
            "--depths",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    refused(&o, &["network.width", "available"]);
    assert!(!out.join("sweep.json").exists() && !out.join("sweep.csv").exists());
    let bench = dir.join("bench");
    let o = pcchip(
        &[
            "bench",
            c.to_str().unwrap(),
            "--depths",
            "2,1000000000",
            "--steps",
            "1",
            "--t-max-tau",
            "10",
            "--out",
            bench.to_str().unwrap(),
        ],
        &[],
    );
    refused(&o, &["depth 1000000000", "network.depth"]);
    assert!(!bench.exists());
}

/// Stops a run after its first step.
struct StopFirst;
impl Observer for StopFirst {
    fn stop(&mut self) -> bool {
        true
    }
}

#[test]
fn a_resumed_checkpoint_with_a_huge_width_is_refused() {
    let dir = folder("resume");
    let mut c: Circuit = circuit::parse(SMALL, "small", "small", &[]).unwrap();
    c.train.max_steps = 3;
    c.train.batch_size = 4;
    let opts = RunOptions {
        out_dir: dir.join("run"),
        base_dir: dir.clone(),
        weights: None,
    };
    run_checkpointed(&c, &opts, 1, &mut StopFirst).unwrap();
    let state = dir.join("run/checkpoint/state.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    v["report"]["circuit"]["network"]["width"] = 1_000_000_000u64.into();
    std::fs::write(&state, v.to_string()).unwrap();
    let o = pcchip(&["run", "--resume", dir.join("run").to_str().unwrap()], &[]);
    refused(&o, &["state.json", "network.width", "available"]);
}

#[test]
fn settings_that_can_never_finish_are_refused() {
    for key in [
        "relax.dt_tau",
        "relax.check_every_tau",
        "relax.trace_every_tau",
    ] {
        let set = format!("{key}=1e-300");
        both_refuse(
            key,
            &[&set, "precision=\"f64\""],
            &[],
            &[key, "steps", "limit"],
        );
    }
    // 1e-7 τ over t_max 1000 τ is 1e10 Euler steps: beyond the limit, in range of f32.
    both_refuse(
        "dt-1e-7",
        &["relax.dt_tau=1e-7", "relax.t_max_tau=1000"],
        &[],
        &["relax.dt_tau", "1e9"],
    );
    // For an adaptive method dt_tau is only the first step: accepted.
    let dir = folder("adaptive");
    std::fs::write(dir.join("c.toml"), SMALL).unwrap();
    let ok = pcchip(
        &[
            "check",
            dir.join("c.toml").to_str().unwrap(),
            "--set",
            "relax.method=\"dopri5\"",
            "--set",
            "relax.dt_tau=1e-12",
        ],
        &[],
    );
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
}

#[test]
fn every_float_key_stays_where_the_arithmetic_is_finite() {
    for key in [
        "data.target_on",
        "data.teacher_noise",
        "mapping.headroom",
        "parameterisation.gamma0",
        "network.output_precision",
        "controller.lr",
        "timing.digital_macs_per_ns",
    ] {
        for v in ["1e300", "1e-300"] {
            let set = format!("{key}={v}");
            both_refuse(key, &[&set, "precision=\"f64\""], &[], &[key, "finite"]);
        }
    }
    // Finite in f64, outside the range of an f32 run.
    both_refuse(
        "f32",
        &["data.target_on=1e20"],
        &[],
        &["data.target_on", "f32"],
    );
    let dir = folder("f64");
    std::fs::write(dir.join("c.toml"), SMALL).unwrap();
    let ok = pcchip(
        &[
            "check",
            dir.join("c.toml").to_str().unwrap(),
            "--set",
            "data.target_on=1e20",
            "--set",
            "precision=\"f64\"",
        ],
        &[],
    );
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
}

fn write_csv(dir: &Path, big: &str) -> PathBuf {
    let p = dir.join("d.csv");
    std::fs::write(&p, format!("1,2,0\n3,{big},1\n5,6,0\n7,8,1\n")).unwrap();
    p
}

#[test]
fn data_and_weight_values_outside_f32_are_refused_in_an_f32_run() {
    let dir = folder("files");
    write_csv(&dir, "1e20");
    let circuit = "[data]\nsource = \"csv\"\ncsv = \"d.csv\"\nlabel_column = 2\ntest_frac = 0\n[network]\nwidth = 8\ndepth = 2\n[train]\nmax_steps = 1\nbatch_size = 2\n";
    std::fs::write(dir.join("c.toml"), circuit).unwrap();
    let c = dir.join("c.toml");
    for cmd in ["check", "run"] {
        let out = dir.join("out");
        let mut args = vec![cmd, c.to_str().unwrap()];
        if cmd == "run" {
            args.extend(["--quiet", "--out", out.to_str().unwrap()]);
        }
        refused(&pcchip(&args, &[]), &["d.csv", "data row 2", "f32"]);
        assert!(!out.exists());
    }
    // The same file is fine in f64.
    let ok = pcchip(
        &["check", c.to_str().unwrap(), "--set", "precision=\"f64\""],
        &[],
    );
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");

    // Weights: an f64 tensor holding 1e20 in an f32 run.
    let small = dir.join("small.toml");
    std::fs::write(&small, SMALL).unwrap();
    let w1: Vec<f64> = (0..32).map(|i| if i == 5 { 1e20 } else { 0.1 }).collect();
    let w2: Vec<f64> = vec![0.1; 8];
    let header = r#"{"W1":{"dtype":"F64","shape":[8,4],"data_offsets":[0,256]},"W2":{"dtype":"F64","shape":[1,8],"data_offsets":[256,320]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    for v in w1.iter().chain(&w2) {
        bytes.extend(v.to_le_bytes());
    }
    let w = dir.join("w.safetensors");
    std::fs::write(&w, bytes).unwrap();
    let out = dir.join("wout");
    let o = pcchip(
        &[
            "run",
            small.to_str().unwrap(),
            "--quiet",
            "--weights",
            w.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    refused(&o, &["w.safetensors", "W1[1, 1]", "f32"]);
    assert!(!out.exists());
}
