//! Train a chip on a data set held in memory (here: two noisy Gaussian
//! blobs), through the same training step the `pcchip run` command uses,
//! and evaluate it.
//!
//!     cargo run --release --example custom_dataset

use nalgebra::DMatrix;
use pcchip::chip::Chip;
use pcchip::circuit::Circuit;
use pcchip::data::{Batches, Dataset, Targets};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn blobs(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let x = DMatrix::from_fn(8, n, |r, c| {
        let centre = if labels[c] == 0 { -0.5 } else { 0.5 };
        centre * if r < 4 { 1.0 } else { -1.0 } + 0.4 * rng.sample::<f64, _>(StandardNormal)
    });
    Dataset::classification("blobs", x, labels, Targets::default())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let train = blobs(512, 1);
    let test = blobs(256, 2);
    let mut circuit = Circuit::default();
    circuit.network.width = 32;
    circuit.network.depth = 3;
    circuit.controller.lr = 0.1;
    let mut chip = Chip::<f32>::build(&circuit, train.n_features(), train.n_outputs(), None)?;
    let batches = Batches {
        batch_size: 32,
        drop_last: false,
    };
    for epoch in 0..3 {
        for chunk in batches.epoch(train.len(), circuit.seed, epoch) {
            let (x, y) = train.batch::<f32>(&chunk);
            let rec = chip.train_step(&x, &y, epoch as usize, false)?;
            if rec.step % 8 == 0 {
                println!(
                    "step {:>3}: loss {:.4}, relaxation {:.1} τ ({:?})",
                    rec.step, rec.loss, rec.t_relax_tau, rec.stop
                );
            }
        }
        let ev = chip.evaluate(&test, 256, "test", epoch as usize);
        println!(
            "epoch {epoch}: test loss {:.4}, accuracy {:.1} %",
            ev.loss,
            100.0 * ev.accuracy.unwrap_or(0.0)
        );
    }
    Ok(())
}
