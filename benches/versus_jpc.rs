//! The work that ../shared/bench/perf_pair.sh times against jpc, and the
//! depth-128 stiff relaxation of circuits/deep-128.toml.
//!
//! - `jpc_step`: one ideal-chip training step — feedforward state, 50
//!   explicit Euler steps of 0.1 τ, Adam — of a tanh μPC residual net
//!   784 → N × (L − 1) → 10, batch 64, f32, at the three sizes of the
//!   side-by-side table in docs/performance.md (256 × 8, 512 × 16, 128 × 32).
//! - `deep128`: one relaxation of circuits/deep-128.toml's first batch
//!   (ROS3 to a worst-layer residual of 1e-6; f64, f32 stage solves), the
//!   work of `pcchip relax circuits/deep-128.toml`.
//!
//! Run: `cargo bench --bench versus_jpc -- --noplot` (`--quick` for a fast pass).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use nalgebra::DMatrix;
use pcchip::chip::Chip;
use pcchip::circuit;
use pcchip::run::grads::first_batch;
use pcchip::run::relax::settle;
use pcchip::run::train::{prepare, RunOptions};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const PERF_CIRCUIT: &str = r#"
name = "perf-vs-jpc"
dtype = "f32"
[network]
activation = "tanh"
skips = true
[parameterisation]
scheme = "mupc"
alpha = 0.5
[device]
preset = "ideal"
[periphery]
dac = { bits = 0 }
adc = { bits = 0 }
[dynamics]
tau_rule = "uniform"
[relax]
method = "euler"
dt_tau = 0.1
t_max_tau = 5.0
check_every_tau = 1e9
residual_tol = 0.0
energy_tol = 0.0
update_tol = 0.0
trace_every_tau = 0.0
[controller]
optimiser = "adam"
[record]
trace_alignment = false
"#;
const DEEP128: &str = include_str!("../circuits/deep-128.toml");

fn perf_chip(width: usize, depth: usize) -> Chip<f32> {
    let sets = [
        format!("network.width={width}"),
        format!("network.depth={depth}"),
    ];
    let c = circuit::parse(PERF_CIRCUIT, "perf", "perf", &sets).expect("circuit");
    Chip::build(&c, 784, 10, None).expect("chip")
}

fn bench_jpc_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("jpc_step");
    group.sample_size(10);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x = DMatrix::from_fn(784, 64, |_, _| rng.random_range(0.0f32..1.0));
    let mut y = DMatrix::zeros(10, 64);
    for b in 0..64 {
        y[(rng.random_range(0..10), b)] = 1.0;
    }
    for (width, depth) in [(256, 8), (512, 16), (128, 32)] {
        let mut chip = perf_chip(width, depth);
        let id = BenchmarkId::from_parameter(format!("{width}x{depth}"));
        group.bench_function(id, |b| {
            b.iter(|| black_box(chip.train_step(&x, &y, 0, false).expect("step")))
        });
    }
    group.finish();
}

fn bench_deep128(c: &mut Criterion) {
    let mut group = c.benchmark_group("deep128");
    group.sample_size(10);
    let circuit = circuit::parse(DEEP128, "deep-128", "deep-128", &[]).expect("circuit");
    let opts = RunOptions {
        out_dir: "unused".into(),
        base_dir: ".".into(),
        weights: None,
    };
    let (mut chip, train, _, _) = prepare::<f64>(&circuit, &opts).expect("chip");
    let (x, y) = first_batch::<f64>(&train, &circuit);
    group.bench_function("ros3", |b| {
        b.iter(|| black_box(settle(&mut chip, &x, &y).expect("relaxation").wall_s))
    });
    group.finish();
}

criterion_group!(benches, bench_jpc_step, bench_deep128);
criterion_main!(benches);
