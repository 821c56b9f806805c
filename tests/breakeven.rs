//! The break-even map (issue 20): `pcchip bench --taus` runs every depth
//! at each τ, writes bench.csv with the map's columns, marks the points
//! below the loop-delay stability bound as unstable (not simulated, the
//! same points `pcchip run` refuses), and `pcchip plot` draws speedup
//! against τ.

use pcchip::run::bench::{bench, BenchOptions, CSV_HEADER};
use std::path::{Path, PathBuf};
use std::process::Command;

const SMALL: &str = "[data]\nsource = \"gaussian-toy\"\nteacher_inputs = 4\nteacher_samples = 16\n[network]\nwidth = 8\ndepth = 2\n[train]\nbatch_size = 8\n[dynamics]\nloop_delay_ns = 5.0\n";

fn folder(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pcchip-breakeven-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cells(line: &str) -> Vec<String> {
    line.split(',').map(str::to_string).collect()
}

#[test]
fn bench_over_taus_writes_the_map_and_marks_unstable_points() {
    let dir = folder("map");
    let c = pcchip::circuit::parse(SMALL, "small.toml", "small", &[]).unwrap();
    let taus = vec![1e-9, 1e-8, 1e-7];
    let dynamics = ["first-order".to_string()];
    let opts = BenchOptions::from_flags(vec![2], 1, &dynamics, false, None, taus.clone()).unwrap();
    let out = dir.join("bench");
    let rows = bench(&c, Path::new("."), &out, &opts, |_| {}).unwrap();
    assert_eq!(rows.len(), 3);
    let csv = std::fs::read_to_string(out.join("bench.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next().unwrap(), CSV_HEADER);
    assert!(CSV_HEADER.starts_with(
        "depth,dynamics,tau_s,loop_delay_s,stable,t_relax_tau,t_align_tau,cos_applied,t_pc_s,t_bp_seq_s,t_bp_pipe_s,speedup_seq,speedup_pipe,energy_ratio_seq,energy_ratio_pipe,stop_rule"
    ));
    let header = cells(CSV_HEADER);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let data: Vec<Vec<String>> = lines.map(cells).collect();
    // τ = 1 ns is below a 5 ns loop's bound; 100 ns is above it.
    assert_eq!(data[0][col("stable")], "false");
    assert_eq!(
        data[0][col("t_relax_tau")],
        "",
        "an unstable point is not simulated"
    );
    assert_eq!(data[2][col("stable")], "true");
    for (row, r) in data.iter().zip(&rows) {
        assert_eq!(row[col("tau_s")].parse::<f64>().unwrap(), r.tau_s);
        assert_eq!(row[col("loop_delay_s")].parse::<f64>().unwrap(), 5e-9);
        if r.stable {
            assert!(r.speedup > 0.0 && r.speedup_pipe > 0.0 && r.speedup_pipe < r.speedup);
            assert_eq!(row[col("energy_ratio_pipe")], row[col("energy_ratio_seq")]);
            assert!(!row[col("stop_rule")].is_empty());
        }
    }
    // Exactly the points `pcchip run` refuses are marked unstable.
    for r in &rows {
        let text = SMALL.replace(
            "[dynamics]\n",
            &format!("[dynamics]\ntau_s = {:e}\n", r.tau_s),
        );
        let file = dir.join("point.toml");
        std::fs::write(&file, format!("{text}[relax]\ndt_tau = 0.05\n")).unwrap();
        let run = Command::new(env!("CARGO_BIN_EXE_pcchip"))
            .args(["run", "--set", "train.max_steps=1", "--out"])
            .arg(dir.join(format!("run-{:e}", r.tau_s)))
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert_eq!(
            run.status.code() == Some(2),
            !r.stable,
            "τ = {}: {err}",
            r.tau_s
        );
    }
    // The plot: speedup against τ, and the usual figure.
    let plot = Command::new(env!("CARGO_BIN_EXE_pcchip"))
        .args(["plot"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        plot.status.success(),
        "{}",
        String::from_utf8_lossy(&plot.stderr)
    );
    assert!(out.join("breakeven.png").exists() && out.join("speedup.png").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn taus_out_of_range_are_refused() {
    let d = ["first-order".to_string()];
    for bad in [0.0, -1e-9, 2.0, f64::NAN] {
        let e = BenchOptions::from_flags(vec![2], 1, &d, false, None, vec![bad]).unwrap_err();
        assert!(e.to_string().contains("--taus"), "{e}");
    }
}

/// `--tau-margins`: each depth × dynamics runs at multiples of its own
/// smallest stable τ, which the rows report; margins below 1, together
/// with --taus, or on a circuit without a delay are refused.
#[test]
fn bench_at_margins_of_each_points_bound() {
    let dir = folder("margins");
    let c = pcchip::circuit::parse(SMALL, "small.toml", "small", &[]).unwrap();
    let dynamics = ["first-order".to_string(), "inertial-pd".to_string()];
    let opts = BenchOptions::from_flags(vec![2, 3], 1, &dynamics, false, None, vec![])
        .unwrap()
        .with_tau_margins(vec![1.5, 4.0])
        .unwrap();
    let rows = bench(&c, Path::new("."), &dir.join("bench"), &opts, |_| {}).unwrap();
    assert_eq!(rows.len(), 8);
    for pair in rows.chunks(2) {
        let t_min = pair[0].tau_min_s.expect("a bound");
        assert_eq!(pair[1].tau_min_s, Some(t_min), "one bound a point");
        for (r, m) in pair.iter().zip([1.5, 4.0]) {
            assert!(
                r.stable && ((r.tau_s / t_min - m) / m).abs() < 1e-12,
                "{r:?}"
            );
        }
        assert_eq!(
            pair[0].derivative_gain.is_some(),
            pair[0].dynamics == "inertial-pd"
        );
    }
    let d = ["first-order".to_string()];
    let base = || BenchOptions::from_flags(vec![2], 1, &d, false, None, vec![]).unwrap();
    for bad in [0.5, f64::NAN] {
        let e = base().with_tau_margins(vec![bad]).unwrap_err();
        assert!(e.to_string().contains("--tau-margins"), "{e}");
    }
    let both = BenchOptions::from_flags(vec![2], 1, &d, false, None, vec![1e-7]).unwrap();
    assert!(both.with_tau_margins(vec![2.0]).is_err());
    let no_delay = pcchip::circuit::parse(
        &SMALL.replace("loop_delay_ns = 5.0", "loop_delay_ns = 0.0"),
        "small.toml",
        "small",
        &[],
    )
    .unwrap();
    let opts = base().with_tau_margins(vec![2.0]).unwrap();
    let e = bench(&no_delay, Path::new("."), &dir.join("b2"), &opts, |_| {}).unwrap_err();
    assert!(e.to_string().contains("loop delay"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
