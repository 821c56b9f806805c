//! Where runs write (issue #21, classes 5 and 6): the circuit's `name` is a
//! folder name, never a path; `--out` naming a file is bad input; and one
//! run at a time writes into a folder (exit code 2 for all three).

use pcchip::report::ReportWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SMALL: &str = "[data]\nsource = \"gaussian-toy\"\nteacher_inputs = 4\nteacher_samples = 20\n[network]\nwidth = 8\ndepth = 2\n[train]\nmax_steps = 1\n";

fn folder(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pcchip-paths-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs pcchip in `cwd`.
fn pcchip(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcchip"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("run pcchip")
}

fn refused(out: &Output, want: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in want {
        assert!(err.contains(w), "`{w}` missing from: {err}");
    }
}

#[test]
fn a_name_that_is_a_path_is_refused() {
    let dir = folder("names");
    let work = dir.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("c.toml"), SMALL).unwrap();
    let abs = format!("name=\"{}\"", dir.join("abs").display());
    let names = [
        "name=\"../escape\"",
        "name=\"a/b\"",
        "name=\"a\\\\b\"",
        "name=\"\"",
        "name=\"..\"",
        "name=\".\"",
        abs.as_str(),
    ];
    for set in names {
        for cmd in ["check", "run"] {
            let out = pcchip(&work, &[cmd, "c.toml", "--set", set]);
            refused(&out, &["name", "not a path"]);
        }
        // Nothing escaped the working folder or appeared in it.
        let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(entries.len(), 1, "{set}: only work/ is there");
        assert!(!work.join("runs").exists(), "{set}");
    }
    // A plain name writes runs/<name> under the working folder.
    let ok = pcchip(
        &work,
        &["run", "c.toml", "--quiet", "--set", "name=\"fine\""],
    );
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(work.join("runs/fine/report.json").exists());
}

#[test]
fn out_naming_an_existing_file_is_bad_input() {
    let dir = folder("outfile");
    std::fs::write(dir.join("c.toml"), SMALL).unwrap();
    std::fs::write(dir.join("taken"), "not a folder").unwrap();
    for cmd in ["run", "bench"] {
        let mut args = vec![cmd, "c.toml", "--out", "taken"];
        if cmd == "bench" {
            args.extend(["--depths", "2", "--steps", "1"]);
        } else {
            args.push("--quiet");
        }
        refused(&pcchip(&dir, &args), &["taken", "existing file"]);
    }
    let out = pcchip(
        &dir,
        &[
            "sweep", "c.toml", "--widths", "8", "--depths", "2", "--out", "taken",
        ],
    );
    refused(&out, &["taken", "existing file"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("taken")).unwrap(),
        "not a folder"
    );
}

#[test]
fn a_second_writer_of_a_run_folder_is_refused() {
    let dir = folder("lock");
    std::fs::write(dir.join("c.toml"), SMALL).unwrap();
    let out = dir.join("out");
    // Another run (here: this process) is writing into the folder.
    let held = ReportWriter::create(&out).unwrap();
    let second = pcchip(&dir, &["run", "c.toml", "--quiet", "--out", "out"]);
    refused(&second, &["out", "another pcchip run is writing"]);
    assert!(
        !out.join("report.json").exists(),
        "the second run wrote nothing"
    );
    drop(held);
    // Once the first writer is gone the folder is free again.
    let ok = pcchip(&dir, &["run", "c.toml", "--quiet", "--out", "out"]);
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(out.join("report.json").exists());
}
