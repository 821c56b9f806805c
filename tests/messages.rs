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
