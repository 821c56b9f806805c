//! The PC vector field against its roofline: one `Field::force` evaluation
//! (batch 64, a tanh μPC residual net 784 → 512 × 15 hidden → 10, depth 16,
//! f32) next to the plain `gemm` products of the same shapes (every layer's
//! forward W·φ(z) and every hidden layer's feedback Wᵀ·ε), on one thread;
//! then the same `force` in a 1-thread and a 2-thread rayon pool.
//!
//! Throughput is reported in "elements" = floating-point operations of the
//! products (2·m·k·n each), so criterion's Gelem/s reads as GFLOP/s.
//! Targets (issue): 1-thread `force` ≥ 60 % of the GEMM throughput, 2-thread
//! ≥ 1.7× the 1-thread. Run: `cargo bench --bench relax -- --noplot`
//! (`--quick` for a fast, noisier pass).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nalgebra::DMatrix;
use pcchip::net::{Activation, Network, Parameterisation, Topology};
use pcchip::relax::Field;
use pcchip::{gemm, Real};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::hint::black_box;

const D_IN: usize = 784;
const WIDTH: usize = 512;
const D_OUT: usize = 10;
const DEPTH: usize = 16;
const BATCH: usize = 64;

fn normal<T: Real>(r: usize, c: usize, std: f64, rng: &mut ChaCha8Rng) -> DMatrix<T> {
    DMatrix::from_fn(r, c, |_, _| {
        T::of(std * rng.sample::<f64, _>(StandardNormal))
    })
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("rayon pool")
}

fn bench_force(c: &mut Criterion) {
    type T = f32;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let topo = Topology::uniform(D_IN, WIDTH, D_OUT, DEPTH)
        .with_activation(Activation::Tanh)
        .with_skips(true);
    let net = Network::<T>::init(topo, Parameterisation::default(), &mut rng);
    let x = normal::<T>(D_IN, BATCH, 1.0, &mut rng);
    let y = normal::<T>(D_OUT, BATCH, 1.0, &mut rng);
    let mut field = Field::of_network(&net, x.clone(), y);
    // A state off equilibrium: the feedforward pass plus noise.
    let mut z = field.feedforward();
    for zl in z.iter_mut() {
        *zl += normal::<T>(zl.nrows(), BATCH, 0.1, &mut rng);
    }
    let mut out = field.hidden_zeros();

    // The products `force` computes: forward of every layer, transposed of layers 2..L.
    let fwd_in: Vec<DMatrix<T>> = (0..DEPTH)
        .map(|i| if i == 0 { x.clone() } else { z[i - 1].clone() })
        .collect();
    let mut fwd_out: Vec<DMatrix<T>> = net
        .weights
        .iter()
        .map(|w| DMatrix::zeros(w.nrows(), BATCH))
        .collect();
    let bwd_in: Vec<DMatrix<T>> = net.weights[1..]
        .iter()
        .map(|w| normal::<T>(w.nrows(), BATCH, 1.0, &mut rng))
        .collect();
    let mut bwd_out: Vec<DMatrix<T>> = net.weights[1..]
        .iter()
        .map(|w| DMatrix::zeros(w.ncols(), BATCH))
        .collect();
    let macs: usize = net.weights.iter().map(|w| w.len()).sum::<usize>()
        + net.weights[1..].iter().map(|w| w.len()).sum::<usize>();
    let flops = 2 * macs * BATCH;

    let (p1, p2) = (pool(1), pool(2));
    let mut g = c.benchmark_group(format!(
        "force_{D_IN}-{WIDTH}x{}-{D_OUT}_depth{DEPTH}_batch{BATCH}_{}",
        DEPTH - 1,
        T::NAME
    ));
    g.throughput(Throughput::Elements(flops as u64));
    g.bench_function("gemm_products_1thread", |b| {
        b.iter(|| {
            for ((w, v), o) in net.weights.iter().zip(&fwd_in).zip(fwd_out.iter_mut()) {
                gemm(1.0, w, false, black_box(v), 0.0, o);
            }
            for ((w, u), o) in net.weights[1..].iter().zip(&bwd_in).zip(bwd_out.iter_mut()) {
                gemm(1.0, w, true, black_box(u), 0.0, o);
            }
        })
    });
    g.bench_function("force_1thread", |b| {
        p1.install(|| b.iter(|| field.force(black_box(&z), &mut out)))
    });
    g.bench_function("force_2threads", |b| {
        p2.install(|| b.iter(|| field.force(black_box(&z), &mut out)))
    });
    g.finish();
}

criterion_group!(benches, bench_force);
criterion_main!(benches);
