//! One full chip training step (clamp, relaxation, ADC read-out of the
//! errors, optimiser, crossbar programming) at a few widths and depths.
//!
//! The circuit is circuits/quickstart.toml (tanh μPC residual net, PCM-like
//! devices, 8-bit converters, Adam) with its width and depth overridden.
//! The relaxation runs for a fixed simulated time (stopping rules off), so
//! each step does the same work whatever the weights: the bench measures the
//! simulator's cost of a step, not how long the chip needs to settle (that is
//! `pcchip bench`'s job). Throughput is reported in simulated τ per second.
//!
//! Run: `cargo bench --bench train_step -- --noplot` (`--quick` for a fast pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use nalgebra::DMatrix;
use pcchip::chip::Chip;
use pcchip::circuit;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::hint::black_box;

const QUICKSTART: &str = include_str!("../circuits/quickstart.toml");
const D_IN: usize = 784;
const D_OUT: usize = 10;
const BATCH: usize = 32;
/// Simulated relaxation per step (τ).
const T_RELAX_TAU: f64 = 30.0;

/// (width, depth, dynamics) points.
const POINTS: [(usize, usize, &str); 5] = [
    (128, 4, "first-order"),
    (128, 16, "first-order"),
    (128, 16, "inertial"),
    (512, 4, "first-order"),
    (512, 16, "inertial"),
];

fn chip(width: usize, depth: usize, order: &str) -> Chip<f32> {
    let method = if order == "inertial" {
        "symplectic-euler"
    } else {
        "euler"
    };
    let sets: Vec<String> = [
        format!("network.width={width}"),
        format!("network.depth={depth}"),
        format!("dynamics.order=\"{order}\""),
        format!("relax.method=\"{method}\""),
        "relax.dt_tau=0.2".into(),
        format!("relax.t_max_tau={T_RELAX_TAU}"),
        "relax.residual_tol=0".into(),
        "relax.energy_tol=0".into(),
        "relax.update_tol=0".into(),
    ]
    .into();
    let c = circuit::parse(QUICKSTART, "quickstart", "quickstart", &sets).expect("circuit");
    Chip::build(&c, D_IN, D_OUT, None).expect("chip")
}

fn batch(rng: &mut ChaCha8Rng) -> (DMatrix<f32>, DMatrix<f32>) {
    let x = DMatrix::from_fn(D_IN, BATCH, |_, _| rng.sample::<f32, _>(StandardNormal));
    let mut y = DMatrix::zeros(D_OUT, BATCH);
    for b in 0..BATCH {
        y[(rng.random_range(0..D_OUT), b)] = 1.0;
    }
    (x, y)
}

fn bench_train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    group.sample_size(10);
    group.throughput(Throughput::Elements(T_RELAX_TAU as u64));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (x, y) = batch(&mut rng);
    for (width, depth, order) in POINTS {
        let mut chip = chip(width, depth, order);
        let id = BenchmarkId::new(order, format!("N{width}-L{depth}"));
        group.bench_function(id, |b| {
            b.iter(|| black_box(chip.train_step(&x, &y, 0, false).expect("step")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_train_step);
criterion_main!(benches);
