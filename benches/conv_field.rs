//! One field evaluation (force) of the residual CNN of
//! circuits/resnet-mnist.toml (1×28×28 images, 3 stages of conv, one
//! block and a pool, readout to 10; f32, batch 64) against plain GEMMs,
//! both reported in FLOP/s (criterion's "elements" are flops here: the
//! forward products of every layer and the feedback of layers 2..L, as
//! 2·C_out·C_in·k² multiply–adds per pixel). Issue #23 asks the field to
//! reach at least half the GEMM's rate.
//! Run: `cargo bench --bench conv_field -- --quick --noplot`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nalgebra::DMatrix;
use pcchip::net::{Activation, LayerKind, Loss, Network, Parameterisation, ResNetSpec, Topology};
use pcchip::relax::Field;
use pcchip::{gemm, Real};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const BATCH: usize = 64;

fn random<T: Real>(r: usize, c: usize, rng: &mut ChaCha8Rng) -> DMatrix<T> {
    DMatrix::from_fn(r, c, |_, _| T::of(rng.random::<f64>() * 2.0 - 1.0))
}

/// Flops of one force evaluation: forward of every layer, feedback of 2..L.
fn field_flops(top: &Topology) -> u64 {
    (1..=top.depth())
        .map(|l| {
            let per = match top.kind(l) {
                LayerKind::Conv { h, w, .. } => {
                    let (rows, cols) = top.weight_shape(l);
                    2 * rows * cols * h * w
                }
                LayerKind::Dense => 2 * top.widths[l] * top.widths[l - 1],
                LayerKind::Pool { .. } => 0,
                // Not in this benchmark (a CNN): the projections' products.
                LayerKind::Tokenwise { seq_len, .. } | LayerKind::Block { seq_len, .. } => {
                    let (rows, cols) = top.weight_shape(l);
                    2 * rows * cols * seq_len
                }
            };
            let directions = if l == 1 { 1 } else { 2 };
            (per * directions * BATCH) as u64
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    for channels in [8, 16] {
        let spec = ResNetSpec {
            image: [1, 28, 28],
            channels,
            blocks_per_stage: 1,
            stages: 3,
            kernel: 3,
            n_out: 10,
        };
        let (kinds, widths) = spec.layout().expect("layout");
        let top =
            Topology::of_layers(kinds, widths, Activation::Tanh).with_loss(Loss::CrossEntropy);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let net: Network<f32> = Network::init(top.clone(), Parameterisation::default(), &mut rng);
        let x = random::<f32>(784, BATCH, &mut rng);
        let y = DMatrix::from_fn(10, BATCH, |i, j| if i == j % 10 { 1.0 } else { 0.0 });
        let mut field = Field::of_network(&net, x, y);
        let z = field.feedforward();
        let mut out = field.hidden_zeros();
        let flops = field_flops(&top);
        let mut g = c.benchmark_group(format!("resnet_mnist_c{channels}_batch{BATCH}_f32"));
        g.throughput(Throughput::Elements(flops));
        g.bench_function("field_force", |b| {
            b.iter(|| field.force(black_box(&z), &mut out))
        });
        // GEMMs of the relaxation's usual shape (512² against 64 columns),
        // as many as make the same flops.
        let (w, v) = (
            random::<f32>(512, 512, &mut rng),
            random::<f32>(512, BATCH, &mut rng),
        );
        let mut o = DMatrix::<f32>::zeros(512, BATCH);
        let per_gemm = (2 * 512 * 512 * BATCH) as u64;
        let reps = flops.div_ceil(per_gemm).max(1);
        g.throughput(Throughput::Elements(reps * per_gemm));
        g.bench_function("gemm_512x512x64_same_flops", |b| {
            b.iter(|| {
                for _ in 0..reps {
                    gemm(1.0, black_box(&w), false, black_box(&v), 0.0, &mut o);
                }
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
