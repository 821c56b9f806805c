//! Unit tests of train.rs.

use super::*;

#[test]
fn a_non_finite_quantity_of_a_step_is_named() {
    let text = "[data]\nsource = \"gaussian-toy\"\nteacher_inputs = 4\nteacher_samples = 20\n[network]\nwidth = 8\ndepth = 2\n";
    let c = crate::circuit::parse(text, "t", "t", &[]).unwrap();
    let opts = RunOptions {
        out_dir: PathBuf::new(),
        base_dir: PathBuf::from("."),
        weights: None,
    };
    let (mut chip, train, _, _) = prepare::<f32>(&c, &opts).unwrap();
    let (x, y) = train.batch::<f32>(&[0, 1, 2, 3]);
    let rec = chip.train_step(&x, &y, 0, true).unwrap();
    assert_eq!(non_finite(&rec, &chip), None);
    let mut bad = rec.clone();
    bad.loss = f64::NAN;
    assert_eq!(non_finite(&bad, &chip).as_deref(), Some("the loss is NaN"));
    let mut bad = rec;
    bad.e_pc_j = f64::INFINITY;
    assert!(non_finite(&bad, &chip)
        .unwrap()
        .contains("PC step's energy is inf"));
}
