//! The pcchip side of benches/jpc_epc/compare.py: the fixed-point solver's
//! wall time to a PC weight gradient within `--tol` (relative, all layers)
//! of a reference, on given weights and batch (jpc's layout, as `pcchip
//! grads --weights --batch`).
//!
//!     cargo run --release --example equilibrium_vs_epc -- \
//!         CIRCUIT.toml W.safetensors BATCH.safetensors REF.safetensors [--tol 1e-4] [--reps 5]
//!
//! REF holds `pc.W1` … (e.g. `pcchip grads` at its default, tight
//! tolerances). The smallest Newton iteration count k whose gradient is
//! within `--tol` is found first (every stopping test off, exactly k
//! iterations from the feedforward state); then the solve plus the weight
//! gradient at k iterations is timed `--reps` times in this process (chip
//! building and process start excluded, as JIT is on jpc's side). Prints
//! one JSON line: k, the median seconds, the relative error reached.

use nalgebra::DMatrix;
use pcchip::chip::Chip;
use pcchip::net::{errors, weight_grads};
use pcchip::relax::Solver;
use pcchip::report::tensors::read_tensors;
use pcchip::run::grads::{chip_for_batch, read_batch};
use pcchip::run::train::GivenWeights;
use pcchip::run::weights::load_weights;
use std::path::PathBuf;
use std::time::Instant;

fn rel_err(a: &[DMatrix<f64>], b: &[DMatrix<f64>]) -> f64 {
    let (mut d, mut n) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        d += (x - y).norm_squared();
        n += y.norm_squared();
    }
    (d / n).sqrt()
}

/// The PC weight gradient after the chip's fixed-point solve.
fn solve(chip: &Chip<f64>, x: &DMatrix<f64>, y: &DMatrix<f64>) -> Vec<DMatrix<f64>> {
    let eq = chip.equilibrate(x, y);
    let net = chip.network();
    let mut z = vec![x.clone()];
    z.extend(eq.fixed_point.activities);
    z.push(y.clone());
    weight_grads(&net, &z, &errors(&net, &z))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: f64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map_or(default, |v| v.parse().expect("a number"))
    };
    let (tol, reps) = (flag("--tol", 1e-4), flag("--reps", 5.0) as usize);
    let [circuit, weights, batch, reference] = [0, 1, 2, 3].map(|i| {
        PathBuf::from(
            args.get(i)
                .expect("usage: equilibrium_vs_epc CIRCUIT W BATCH REF [--tol 1e-4] [--reps 5]"),
        )
    });
    let mut c = pcchip::circuit::load(&circuit, &["dtype=\"f64\"".into()]).expect("circuit");
    c.equilibrium.solver = Solver::ErrorNewton;
    c.equilibrium.max_abs_grad = 0.0;
    c.equilibrium.rel_residual = 0.0;
    let (x, y) = read_batch::<f64>(&batch).expect("batch");
    let want: Vec<DMatrix<f64>> = {
        let t = read_tensors::<f64>(&reference).expect("reference");
        (1..=c.network.depth)
            .map(|l| {
                let name = format!("pc.W{l}");
                t.iter().find(|(n, _)| *n == name).expect("pc.W*").1.clone()
            })
            .collect()
    };
    let given = GivenWeights {
        matrices: load_weights::<f64>(&weights, c.network.depth, c.dtype).expect("weights"),
        source: weights.display().to_string(),
    };
    let label = batch.display().to_string();
    let chip_with = |k: usize| {
        let mut c = c.clone();
        c.equilibrium.max_iterations = k;
        chip_for_batch::<f64>(&c, Some(given.clone()), &x, &y, &label).expect("chip")
    };
    let (k, err) = (1..=100)
        .map(|k| (k, rel_err(&solve(&chip_with(k), &x, &y), &want)))
        .find(|&(_, e)| e <= tol)
        .expect("within 100 iterations");
    let chip = chip_with(k);
    let mut times: Vec<f64> = (0..reps.max(1))
        .map(|_| {
            let t0 = Instant::now();
            std::hint::black_box(solve(&chip, &x, &y));
            t0.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"depth\": {}, \"iterations\": {k}, \"seconds\": {:.6e}, \"rel_err\": {err:.3e}, \"threads\": {}}}",
        c.network.depth,
        times[times.len() / 2],
        rayon::current_num_threads()
    );
}
