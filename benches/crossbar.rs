//! Noiseless crossbar products against the plain GEMM of the same shape:
//! a 512×512 array over a batch of 64, forward (W·V) and transposed (Wᵀ·U),
//! in f32 and f64. The crossbar's in-loop cost should stay within 1.5× of
//! the plain product. Run: `cargo bench --bench crossbar -- --quick --noplot`.

use criterion::{criterion_group, criterion_main, Criterion};
use nalgebra::DMatrix;
use pcchip::analog::{Crossbar, CrossbarConfig, DevicePreset};
use pcchip::{gemm, Real, WeightOperator};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

const N: usize = 512;
const BATCH: usize = 64;

fn random<T: Real>(r: usize, c: usize, rng: &mut ChaCha8Rng) -> DMatrix<T> {
    DMatrix::from_fn(r, c, |_, _| T::of(rng.random::<f64>() * 2.0 - 1.0))
}

fn bench_precision<T: Real>(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let w = random::<T>(N, N, &mut rng);
    let v = random::<T>(N, BATCH, &mut rng);
    let cfg = CrossbarConfig {
        device: DevicePreset::Pcm.config(),
        ..CrossbarConfig::default()
    };
    let xb = Crossbar::program(&w, &cfg, &mut rng).expect("valid preset");
    let mut out = DMatrix::<T>::zeros(N, BATCH);
    let mut g = c.benchmark_group(format!("crossbar_{}x{}_batch{}_{}", N, N, BATCH, T::NAME));
    g.bench_function("plain_gemm_forward", |b| {
        b.iter(|| {
            gemm(
                T::one(),
                black_box(&w),
                false,
                black_box(&v),
                T::zero(),
                &mut out,
            )
        })
    });
    g.bench_function("crossbar_forward", |b| {
        b.iter(|| xb.forward_into(black_box(&v), &mut out))
    });
    g.bench_function("plain_gemm_transpose", |b| {
        b.iter(|| {
            gemm(
                T::one(),
                black_box(&w),
                true,
                black_box(&v),
                T::zero(),
                &mut out,
            )
        })
    });
    g.bench_function("crossbar_transpose", |b| {
        b.iter(|| xb.transpose_into(black_box(&v), &mut out))
    });
    let mut noise_rng = ChaCha8Rng::seed_from_u64(1);
    g.bench_function("crossbar_forward_read_noise", |b| {
        b.iter(|| {
            xb.forward_into(black_box(&v), &mut out);
            xb.add_read_noise(&v, &mut out, &mut noise_rng);
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    bench_precision::<f32>(c);
    bench_precision::<f64>(c);
}

criterion_group!(crossbar, benches);
criterion_main!(crossbar);
