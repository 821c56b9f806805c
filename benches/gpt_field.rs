//! One field evaluation (force) of the transformer of
//! circuits/gpt-shakespeare.toml (V = 73 symbols, T = 32 characters,
//! d_model 64, 4 heads, 2 blocks; f32, batch 32 sequences) against plain
//! GEMMs of the same flops, both in FLOP/s (criterion's "elements" are the
//! projections' flops: every array's forward read per token, and the
//! feedback of layers 2..L; the digital attention comes on top).
//! Run: `cargo bench --bench gpt_field -- --quick --noplot`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nalgebra::DMatrix;
use pcchip::data::text::{one_hot_inputs, one_hot_tokens};
use pcchip::net::{GptSpec, Network, Parameterisation, Topology};
use pcchip::relax::Field;
use pcchip::{gemm, Real};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const BATCH: usize = 32;
const V: usize = 73;
const T: usize = 32;

fn random<T: Real>(r: usize, c: usize, rng: &mut ChaCha8Rng) -> DMatrix<T> {
    DMatrix::from_fn(r, c, |_, _| T::of(rng.random::<f64>() * 2.0 - 1.0))
}

fn bench(c: &mut Criterion) {
    let spec = GptSpec {
        vocab: V,
        seq_len: T,
        d_model: 64,
        heads: 4,
        blocks: 2,
        mu_attention: true,
        layer_norm: false,
    };
    let top = Topology::gpt(&spec).expect("layout");
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let net: Network<f32> = Network::init(top.clone(), Parameterisation::default(), &mut rng);
    let ids = DMatrix::<u32>::from_fn(T + 1, BATCH, |_, _| rng.random_range(0..V as u32));
    let x = one_hot_inputs::<f32>(&ids.rows(0, T).into_owned(), V);
    let y = one_hot_tokens::<f32>(&ids.rows(1, T).into_owned(), V);
    let mut field = Field::of_network(&net, x, y);
    let z = field.feedforward();
    let mut out = field.hidden_zeros();
    let flops: u64 = (1..=top.depth())
        .map(|l| {
            let (rows, cols) = top.weight_shape(l);
            // A block reads each of its 12N × N array's rows once a token.
            let directions = if l == 1 { 1 } else { 2 };
            (2 * rows * cols * T * BATCH * directions) as u64
        })
        .sum();
    let mut g = c.benchmark_group(format!("gpt_shakespeare_batch{BATCH}_f32"));
    g.throughput(Throughput::Elements(flops));
    g.bench_function("field_force", |b| {
        b.iter(|| field.force(black_box(&z), &mut out))
    });
    let (w, v) = (
        random::<f32>(256, 64, &mut rng),
        random::<f32>(64, T * BATCH, &mut rng),
    );
    let mut o = DMatrix::<f32>::zeros(256, T * BATCH);
    let per_gemm = (2 * 256 * 64 * T * BATCH) as u64;
    let reps = flops.div_ceil(per_gemm).max(1);
    g.throughput(Throughput::Elements(reps * per_gemm));
    g.bench_function("gemm_256x64x1024_same_flops", |b| {
        b.iter(|| {
            for _ in 0..reps {
                gemm(1.0, black_box(&w), false, black_box(&v), 0.0, &mut o);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
