//! `pcchip sweep` through the CLI on small networks: shards merge into the
//! unsharded sweep byte for byte, the PC–BP cosine rises with width at fixed
//! depth (MODEL.md §3), bad merges and bad lists are refused with exit 2, and
//! the CSV does not depend on the number of threads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A μPC residual network on the toy regression (D = 16, 12 samples), ideal
/// devices, f64, inertial relaxation to a tight residual.
fn circuit(dir: &Path, name: &str, activation: &str, device: &str) -> PathBuf {
    let text = format!(
        r#"
precision = "f64"
seed = 0
[network]
width = 16
depth = 3
activation = "{activation}"
skips = true
[parameterisation]
scheme = "mupc"
[device]
preset = "{device}"
[dynamics]
order = "inertial"
[relax]
method = "symplectic-euler"
dt_tau = 0.5
residual_tol = 1e-6
t_max_tau = 20000.0
trace_every_tau = 0.0
[controller]
optimiser = "sgd"
lr = 0.01
[data]
source = "gaussian-toy"
teacher_inputs = 16
teacher_samples = 12
test_frac = 0.0
[train]
batch_size = 12
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn pcchip(args: &[&str], threads: Option<usize>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcchip"));
    cmd.args(args);
    if let Some(n) = threads {
        cmd.env("RAYON_NUM_THREADS", n.to_string());
    }
    cmd.output().unwrap()
}

fn ok(args: &[&str]) -> Output {
    let out = pcchip(args, None);
    assert!(
        out.status.success(),
        "pcchip {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command that must be refused with exit 2; returns its stderr.
fn refused(args: &[&str]) -> String {
    let out = pcchip(args, None);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "pcchip {args:?}: {err}");
    err
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The CSV's rows as maps column → cell.
fn rows(dir: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

fn num(row: &std::collections::HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col} = `{}`", row[col]))
}

#[test]
fn merged_shards_equal_the_unsharded_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let c = circuit(tmp.path(), "lin", "linear", "ideal");
    let grid = [
        "--widths", "8,16", "--depths", "2,3", "--seeds", "0,1", "--steps", "1",
    ];
    let whole = tmp.path().join("whole");
    let mut args = vec!["sweep", s(&c), "--out", s(&whole)];
    args.extend(grid);
    ok(&args);
    let mut shard_dirs = vec![];
    for i in 0..3 {
        let d = tmp.path().join(format!("shard{i}"));
        let shard = format!("{i}/3");
        let mut args = vec!["sweep", s(&c), "--out", s(&d), "--shard", &shard];
        args.extend(grid);
        ok(&args);
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("sweep.json")).unwrap()).unwrap();
        assert_eq!(json["shard"]["index"], i);
        assert_eq!(json["shard"]["count"], 3);
        shard_dirs.push(d);
    }
    let merged = tmp.path().join("merged");
    let mut args = vec!["sweep", "--out", s(&merged), "--merge"];
    args.extend(shard_dirs.iter().map(|d| s(d)));
    ok(&args);
    let a = std::fs::read_to_string(whole.join("sweep.csv")).unwrap();
    let b = std::fs::read_to_string(merged.join("sweep.csv")).unwrap();
    assert_eq!(a, b, "merged CSV differs from the unsharded one");
    assert_eq!(a.lines().count(), 1 + 8);
    assert!(merged.join("alignment_grid.png").exists());
    // Every cell relaxed to the closed-form equilibrium and trained a step.
    for r in rows(&whole) {
        assert_eq!(r["status"], "ok");
        let (f, f_star) = (num(&r, "energy"), num(&r, "energy_closed_form"));
        assert!((f - f_star).abs() < 1e-6 * f_star, "F {f} vs F* {f_star}");
        assert!(num(&r, "s_minus_1") > 0.0);
        assert_ne!(num(&r, "cos_steps"), num(&r, "cos_global"));
        let layers = r["cos_layers"].split(';').count();
        assert_eq!(layers, r["depth"].parse::<usize>().unwrap());
    }
    // A cell is what `pcchip grads` reports for the cell's circuit.
    let sets: Vec<String> = ["network.width=16", "network.depth=3", "seed=1"]
        .map(String::from)
        .to_vec();
    let cell_circuit = pcchip::circuit::load(&c, &sets).unwrap();
    let g = pcchip::run::grads::grads(
        &cell_circuit,
        tmp.path(),
        None,
        None,
        &tmp.path().join("g.safetensors"),
    )
    .unwrap();
    let row = rows(&whole)
        .into_iter()
        .find(|r| r["width"] == "16" && r["depth"] == "3" && r["seed"] == "1")
        .unwrap();
    assert_eq!(num(&row, "cos_global"), g.cos_global);
    assert_eq!(
        row["t_relax_tau"], "",
        "the fixed-point solver has no relaxation time"
    );
    assert_eq!(
        (row["solver"].as_str(), row["at_equilibrium"].as_str()),
        ("error-newton", "true")
    );
    assert!(g.solve.at_equilibrium());
}

/// Mean cos_global over seeds for each width of a one-depth sweep.
fn cosine_by_width(dir: &Path, widths: &[usize]) -> Vec<f64> {
    let rows = rows(dir);
    widths
        .iter()
        .map(|w| {
            let v: Vec<f64> = rows
                .iter()
                .filter(|r| r["width"] == w.to_string())
                .map(|r| num(r, "cos_global"))
                .collect();
            assert_eq!(v.len(), 3);
            v.iter().sum::<f64>() / 3.0
        })
        .collect()
}

#[test]
fn cosine_rises_with_width_at_fixed_depth() {
    let tmp = tempfile::tempdir().unwrap();
    let widths = [8, 32, 128];
    for act in ["linear", "tanh"] {
        let c = circuit(tmp.path(), act, act, "ideal");
        let out = tmp.path().join(act);
        ok(&[
            "sweep",
            s(&c),
            "--widths",
            "8,32,128",
            "--depths",
            "4",
            "--seeds",
            "0,1,2",
            "--out",
            s(&out),
        ]);
        let cos = cosine_by_width(&out, &widths);
        assert!(
            cos[0] < cos[1] && cos[1] < cos[2],
            "{act}: cosine must rise with width at depth 4: {cos:?}"
        );
        assert!(cos[2] > 0.98, "{act}: N/L = 32 must align: {cos:?}");
    }
}

#[test]
fn merge_refuses_overlapping_missing_and_foreign_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let c = circuit(tmp.path(), "lin", "linear", "ideal");
    let run = |name: &str, shard: &str, extra: &[&str]| {
        let d = tmp.path().join(name);
        let widths = if extra.contains(&"--widths") {
            &[][..]
        } else {
            &["--widths", "8"][..]
        };
        let mut args = vec![
            "sweep",
            s(&c),
            "--depths",
            "2",
            "--seeds",
            "0,1",
            "--shard",
            shard,
            "--out",
            s(&d),
        ];
        args.extend(widths);
        args.extend(extra);
        ok(&args);
        d
    };
    let a = run("a", "0/2", &[]);
    let b = run("b", "1/2", &[]);
    let out = tmp.path().join("m");
    let merge = |dirs: &[&Path]| {
        let mut args = vec!["sweep", "--out", s(&out), "--merge"];
        args.extend(dirs.iter().map(|d| s(d)));
        args.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    let refuse = |dirs: &[&Path]| {
        let args = merge(dirs);
        refused(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let e = refuse(&[&a, &a]);
    assert!(e.contains("in both") && e.contains("overlapping"), "{e}");
    let e = refuse(&[&a]);
    assert!(e.contains("in no shard") && e.contains("1/2"), "{e}");
    let other = run("other", "1/2", &["--set", "network.output_precision=2.0"]);
    let e = refuse(&[&a, &other]);
    assert!(
        e.contains("different circuits") && e.contains("network.output_precision"),
        "{e}"
    );
    let wider = run("wider", "1/2", &["--widths", "8,16"]);
    let e = refuse(&[&a, &wider]);
    assert!(e.contains("different grids"), "{e}");
    // A cell that is not in the grid (an edited file).
    let json = b.join("sweep.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    v["cells"][0]["width"] = 99.into();
    let edited = tmp.path().join("edited");
    std::fs::create_dir_all(&edited).unwrap();
    std::fs::write(edited.join("sweep.json"), v.to_string()).unwrap();
    let e = refuse(&[&a, &edited]);
    assert!(
        e.contains("width 99") && e.contains("not in the grid"),
        "{e}"
    );
    let e = refuse(&[&a, &tmp.path().join("nowhere")]);
    assert!(e.contains("no sweep.json"), "{e}");
    assert!(!out.exists(), "a refused merge writes nothing");
    let args = merge(&[&a, &b]);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(rows(&out).len(), 2);
}

#[test]
fn bad_lists_are_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let c = circuit(tmp.path(), "lin", "linear", "ideal");
    let out = tmp.path().join("never");
    for (flag, value, want) in [
        ("--widths", "", "empty"),
        ("--widths", "0,8", "≥ 1"),
        ("--widths", "8,,16", "empty item"),
        ("--depths", "4,4", "twice"),
        ("--depths", "two", "`two`"),
        ("--seeds", "-1", "`-1`"),
        ("--shard", "2/2", "I must be < N"),
        ("--shard", "0/0", "N must be ≥ 1"),
    ] {
        let mut args = vec!["sweep", s(&c), "--out", s(&out)];
        for (f, v) in [("--widths", "8"), ("--depths", "2")] {
            if f != flag {
                args.extend([f, v]);
            }
        }
        let arg = format!("{flag}={value}");
        args.push(&arg);
        let e = refused(&args);
        assert!(e.contains(flag) && e.contains(want), "{flag} {value}: {e}");
    }
    let e = refused(&[
        "sweep",
        s(&c),
        "--widths",
        "8",
        "--depths",
        "2",
        "--set",
        "network.widht=8",
        "--out",
        s(&out),
    ]);
    assert!(e.contains("widht"), "{e}");
    assert!(!out.exists(), "nothing is written for bad input");
}

#[test]
fn one_and_two_threads_give_the_same_csv() {
    let tmp = tempfile::tempdir().unwrap();
    // Nonlinear, on PCM-like devices (programming noise, converters).
    let c = circuit(tmp.path(), "pcm", "tanh", "pcm");
    let mut csv = vec![];
    for threads in [1, 2] {
        let out = tmp.path().join(format!("t{threads}"));
        let o = pcchip(
            &[
                "sweep",
                s(&c),
                "--widths",
                "8,24",
                "--depths",
                "2,3",
                "--seeds",
                "3,4",
                "--steps",
                "2",
                "--out",
                s(&out),
            ],
            Some(threads),
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        csv.push(std::fs::read_to_string(out.join("sweep.csv")).unwrap());
    }
    assert_eq!(csv[0], csv[1], "1 and 2 threads differ");
    assert_eq!(csv[0].lines().count(), 1 + 8);
}
