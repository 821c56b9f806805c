//! Messages that name their cause (issue #21, class 7): the documented
//! largest seed is accepted, one beyond it is refused naming the key.

use std::process::Command;

const SMALL: &str = "[data]\nsource = \"gaussian-toy\"\nteacher_inputs = 4\nteacher_samples = 20\n[network]\nwidth = 8\ndepth = 2\n[train]\nmax_steps = 1\n";

#[test]
fn the_largest_seed_is_accepted_and_one_beyond_refused() {
    let dir = std::env::temp_dir().join(format!("pcchip-messages-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("c.toml");
    std::fs::write(&c, SMALL).unwrap();
    let file = dir.join("s.toml");
    std::fs::write(&file, format!("seed = \"18446744073709551615\"\n{SMALL}")).unwrap();
    let pcchip = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pcchip"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = dir.join("out");
    let (c, file, out) = (
        c.to_str().unwrap(),
        file.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let max = "seed=18446744073709551615";
    for args in [
        vec!["check", c, "--set", max],
        vec!["check", file],
        vec!["run", c, "--quiet", "--out", out, "--set", max],
    ] {
        let o = pcchip(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {o:?}");
    }
    let report = std::fs::read_to_string(dir.join("out/report.json")).unwrap();
    assert!(
        report.contains("18446744073709551615"),
        "the report keeps the seed"
    );
    for bad in ["seed=18446744073709551616", "seed=-1", "seed=1.5"] {
        let o = pcchip(&["check", c, "--set", bad]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(
            err.contains("seed") && err.contains("18446744073709551615"),
            "{err}"
        );
    }
}

/// No silent clamps (issue #21, class 8): a batch larger than the training
/// set and more samples than the data are printed warnings naming the key
/// and what was used, in `run` and `check`; a weight file with a tensor the
/// network has no layer for is refused (exit 2) naming the tensor.
#[test]
fn adjusted_settings_are_named_and_extra_weights_refused() {
    let dir = std::env::temp_dir().join(format!("pcchip-clamps-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join("c.toml");
    // SMALL ends in its [train] table: 20 samples, 16 for training.
    std::fs::write(&c, format!("{SMALL}batch_size = 64\n")).unwrap();
    let pcchip = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pcchip"))
            .args(args)
            .output()
            .unwrap()
    };
    let (c, out) = (c.to_str().unwrap(), dir.join("out"));
    let out = out.to_str().unwrap();
    let run = pcchip(&["run", c, "--out", out, "--set", "data.n_samples=500"]);
    assert_eq!(run.status.code(), Some(0), "{run:?}");
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("warning: train.batch_size = 64 exceeds the 16 training samples"),
        "{err}"
    );
    assert!(
        err.contains("warning: data.n_samples = 500 exceeds the 20 samples"),
        "{err}"
    );
    let check = pcchip(&["check", c]);
    assert!(String::from_utf8_lossy(&check.stdout).contains("# warning: train.batch_size"));
    // The run's weights plus one tensor it has no layer for.
    let weights = dir.join("out/weights.safetensors");
    let mut tensors = pcchip::report::tensors::read_tensors::<f64>(&weights).unwrap();
    tensors.push(("b1".into(), nalgebra::DMatrix::zeros(8, 1)));
    let named: Vec<(String, pcchip::report::tensors::Tensor<f64>)> = tensors
        .iter()
        .map(|(n, m)| (n.clone(), pcchip::report::tensors::Tensor::Matrix(m)))
        .collect();
    let extra = dir.join("extra.safetensors");
    pcchip::report::tensors::write_tensors(&extra, &named).unwrap();
    let o = pcchip(&[
        "run",
        c,
        "--out",
        &format!("{out}2"),
        "--weights",
        extra.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("unexpected tensor `b1`"));
    std::fs::remove_dir_all(&dir).ok();
}

/// Target columns covering every CSV column name the key instead of "width
/// of layer 0 is 0" (issue #21, class 7), and a UTF-8 BOM is accepted.
#[test]
fn a_csv_without_input_columns_names_target_columns() {
    let dir = std::env::temp_dir().join(format!("pcchip-allcols-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("d.csv"), "\u{feff}a,b,c\n1,2,3\n4,5,6\n7,8,9\n").unwrap();
    let circuit = |cols: &str| {
        format!("[data]\nsource = \"csv\"\ncsv = \"d.csv\"\nhas_header = true\ntarget_columns = {cols}\ntest_frac = 0\n[network]\nwidth = 4\ndepth = 2\n")
    };
    for (cols, code) in [("[0, 1, 2]", 2), ("[2]", 0)] {
        let c = dir.join("c.toml");
        std::fs::write(&c, circuit(cols)).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_pcchip"))
            .args(["check", c.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(code), "{cols}: {o:?}");
        if code == 2 {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("data.target_columns") && err.contains("no input column"),
                "{err}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
