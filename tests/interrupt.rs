//! A run killed mid-way leaves a valid report.json marked as still running,
//! with the steps recorded so far.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_killed_run_leaves_a_valid_partial_report() {
    let dir = std::env::temp_dir().join(format!("pcchip-kill-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let circuit = concat!(env!("CARGO_MANIFEST_DIR"), "/circuits/quickstart.toml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pcchip"))
        .args(["run", circuit, "--quiet", "--out"])
        .arg(&dir)
        .args(["--set", "record.every_steps=2", "--set", "train.epochs=5"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pcchip");
    let report = dir.join("report.json");
    let started = Instant::now();
    let steps = loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no progress in 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
        let Ok(text) = std::fs::read_to_string(&report) else {
            continue;
        };
        let json: serde_json::Value =
            serde_json::from_str(&text).expect("report.json is always valid JSON");
        let n = json["steps"].as_array().map_or(0, Vec::len);
        if n >= 4 {
            break n;
        }
    };
    child.kill().expect("kill");
    child.wait().ok();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(
        json["status"], "running",
        "an interrupted run is marked incomplete"
    );
    assert!(json["steps"].as_array().unwrap().len() >= steps);
    assert!(json["summary"].is_null());
    std::fs::remove_dir_all(&dir).ok();
}
