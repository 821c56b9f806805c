//! The Python package (python/): built with maturin in a fresh virtual
//! environment, then its pytest suite (python/tests), which compares the
//! package's results with this build's command line bit for bit. Needs
//! `python3` (or `PCCHIP_PYTHON`) with `venv`, and PyPI for maturin, numpy
//! and pytest. The extension builds into target/python (kept between runs,
//! so a second run only relinks what changed).

use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn python() -> String {
    std::env::var("PCCHIP_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Runs `cmd`, panicking with its output when it fails.
fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn version_of(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).expect("read manifest");
    let table: toml::Table = toml::from_str(&text).expect("parse manifest");
    table["package"]["version"]
        .as_str()
        .expect("package.version")
        .to_string()
}

#[test]
fn the_python_package_version_follows_the_crate() {
    let py = version_of(&Path::new(ROOT).join("python/Cargo.toml"));
    assert_eq!(py, env!("CARGO_PKG_VERSION"), "python/Cargo.toml's version");
}

#[test]
fn the_python_package_builds_in_a_fresh_venv_and_its_tests_pass() {
    let root = PathBuf::from(ROOT);
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-venv");
    std::fs::remove_dir_all(&venv).ok();
    run(
        Command::new(python()).args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    let bin = venv.join("bin");
    let pip = |args: &[&str]| {
        let mut c = Command::new(bin.join("python"));
        c.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(args);
        c
    };
    run(
        &mut pip(&["maturin>=1.9,<2", "numpy>=1.21", "pytest>=7"]),
        "pip install maturin numpy pytest",
    );
    // maturin (the build backend) from the venv; the extension's build
    // directory beside the crate's own, outside the lock cargo holds now.
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run(
        pip(&["--no-build-isolation"])
            .arg(root.join("python"))
            .env("PATH", &path)
            .env("CARGO_TARGET_DIR", root.join("target/python")),
        "pip install ./python",
    );
    run(
        Command::new(bin.join("python"))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(root.join("python/tests"))
            .current_dir(&venv)
            .env("PATH", &path)
            .env("PCCHIP_BIN", env!("CARGO_BIN_EXE_pcchip")),
        "pytest python/tests",
    );
}
