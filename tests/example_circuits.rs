//! Every example circuit in circuits/ parses, validates and builds a chip
//! whose relaxation settings pass the preflight checks.

use pcchip::circuit;
use pcchip::run::check::derive;
use pcchip::run::train::RunOptions;
use std::path::Path;

#[test]
fn every_example_circuit_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("circuits");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let c = circuit::load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        let opts = RunOptions {
            out_dir: "unused".into(),
            base_dir: dir.clone(),
            weights: None,
        };
        let derived = derive(&c, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            derived.widths.len(),
            c.network.n_layers() + 1,
            "{}",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 8, "expected the example circuits, found {n}");
}
