//! The data against the circuit, before a chip is built: a data set with no
//! input or no target column is refused naming the key, and settings that
//! exceed the data become warnings naming the key and what is used instead
//! (issue #21: no silent clamps; docs/circuit-format.md), as does a
//! derived loop delay the method cannot simulate.

use crate::circuit::{Circuit, Source};
use crate::data::Dataset;

/// Why the training data has no input or no output column, naming the key.
pub fn empty_side(circuit: &Circuit, train: &Dataset) -> String {
    let d = &circuit.data;
    match (d.source, train.n_features() == 0) {
        (Source::Csv, true) => format!(
            "data.target_columns: {:?} (with label_column {:?}) cover every column of {}; no input column is left",
            d.target_columns, d.label_column, d.csv
        ),
        (Source::Idx, true) => format!("data.images: {}: the images have 0 pixels", d.images),
        (Source::Csv, false) => format!(
            "data.target_columns: {}: no target column (set target_columns or label_column)",
            d.csv
        ),
        (_, true) => "data: the samples have no input features".into(),
        (_, false) => "data: the samples have no targets".into(),
    }
}

/// Settings the run adjusts to the data, each naming the key and what is
/// used instead.
pub fn warnings(circuit: &Circuit, train: &Dataset, test: &Dataset) -> Vec<String> {
    let mut out = Vec::new();
    let n_data = train.len() + test.len();
    if circuit.data.n_samples > n_data {
        out.push(format!(
            "data.n_samples = {} exceeds the {n_data} samples of the data; all {n_data} are used",
            circuit.data.n_samples
        ));
    }
    if circuit.train.batch_size > train.len() {
        out.push(format!(
            "train.batch_size = {} exceeds the {} training samples; each step uses all {}",
            circuit.train.batch_size,
            train.len(),
            train.len()
        ));
    }
    let delay = circuit.loop_delay_ns();
    if delay > 0.0 && !circuit.simulates_loop_delay() {
        out.push(format!(
            "dynamics.loop_delay_ns is absent, so the loop delay is timing.t_settle_ns = {delay} ns: it bounds τ (checked), but \"{}\" cannot simulate it and relaxes an ideal loop; use method \"euler\" or \"symplectic-euler\" to simulate it, or set dynamics.loop_delay_ns = 0",
            circuit.relax.method.name()
        ));
    }
    out
}
