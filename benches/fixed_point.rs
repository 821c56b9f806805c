//! The fixed-point solver (`[equilibrium] solver = "error-newton"`) on the
//! nets of issue 25's comparison with jpc's ePC: tanh μPC residual MLP,
//! 64 → 128 × (L − 1) → 10, MSE, batch 16, f64, ideal chip, at depths 8,
//! 16, 32 and 64, to the default tolerances (max |∂F_b/∂z| ≤ 1e-12 or
//! 1e-10 of the feedforward value). benches/jpc_epc/run.sh times the same
//! solve side by side with jpc.
//!
//! Run: `cargo bench --bench fixed_point -- --noplot` (`--quick` for a fast pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nalgebra::DMatrix;
use pcchip::chip::Chip;
use pcchip::circuit;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const CIRCUIT: &str = include_str!("jpc_epc/circuit.toml");

fn bench_solve(c: &mut Criterion) {
    let mut group = c.benchmark_group("fixed_point");
    group.sample_size(10);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = DMatrix::from_fn(64, 16, |_, _| rng.random_range(-2.0f64..2.0));
    let mut y = DMatrix::zeros(10, 16);
    for b in 0..16 {
        y[(rng.random_range(0..10), b)] = 1.0;
    }
    for depth in [8, 16, 32, 64] {
        let sets = [format!("network.depth={depth}")];
        let circuit = circuit::parse(CIRCUIT, "epc", "epc", &sets).expect("circuit");
        let chip = Chip::<f64>::build(&circuit, 64, 10, None).expect("chip");
        let solved = chip.equilibrate(&x, &y);
        assert!(solved.fixed_point.converged(), "depth {depth}");
        group.bench_function(BenchmarkId::from_parameter(depth), |b| {
            b.iter(|| black_box(chip.equilibrate(&x, &y).fixed_point.iterations))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_solve);
criterion_main!(benches);
