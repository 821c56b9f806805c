//! Thin products, C = op(W)·B with few columns of B: matrixmultiply
//! (`gemm_packed`, which packs W on every call) against the packing-free
//! kernels (`gemm_thin`), forward (W·v) and transposed (Wᵀ·u), on one
//! thread. The shapes are the stiff relaxation's (128×128 by 8 columns, f64)
//! and a wider layer (512×512 by 8, 16, 32 and 64 columns, f32 and f64);
//! `THIN_MAX_COLS` in src/real/gemm.rs is set from where the kernels stop winning.
//!
//! Throughput is reported in "elements" = floating-point operations
//! (2·m·k·n), so criterion's Gelem/s reads as GFLOP/s.
//! Run: `cargo bench --bench thin_gemm -- --noplot` (`--quick` for a fast,
//! noisier pass).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nalgebra::DMatrix;
use pcchip::real::{gemm_packed, gemm_thin, gemm_transposed};
use pcchip::Real;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

fn random<T: Real>(r: usize, c: usize, rng: &mut ChaCha8Rng) -> DMatrix<T> {
    DMatrix::from_fn(r, c, |_, _| T::of(rng.random::<f64>() * 2.0 - 1.0))
}

/// Old against new for W (width × width) times `cols` columns, both ways.
fn shape<T: Real>(c: &mut Criterion, width: usize, cols: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let w = random::<T>(width, width, &mut rng);
    let v = random::<T>(width, cols, &mut rng);
    let mut out = DMatrix::<T>::zeros(width, cols);
    let mut g = c.benchmark_group(format!("thin_{width}x{width}_by_{cols}_{}", T::NAME));
    g.throughput(Throughput::Elements((2 * width * width * cols) as u64));
    for transpose in [false, true] {
        let dir = if transpose { "transposed" } else { "forward" };
        g.bench_function(format!("packed_{dir}"), |b| {
            b.iter(|| {
                gemm_packed(
                    T::one(),
                    black_box(&w),
                    transpose,
                    black_box(&v),
                    T::zero(),
                    &mut out,
                )
            })
        });
        g.bench_function(format!("thin_{dir}"), |b| {
            b.iter(|| {
                gemm_thin(
                    T::one(),
                    black_box(&w),
                    transpose,
                    black_box(&v),
                    T::zero(),
                    &mut out,
                )
            })
        });
    }
    g.finish();
}

/// A deep net's pattern: `layers` different width² matrices, each times
/// `cols` columns in turn, so that W comes from the outer caches as in
/// `Field::force` (the stiff relaxation: 64 layers of 128², 8 columns, f64,
/// 8 MB; perf_pair's 128 × 32: 32 layers of 128², 64 columns, f32).
fn layers<T: Real>(c: &mut Criterion, layers: usize, width: usize, cols: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let ws: Vec<DMatrix<T>> = (0..layers)
        .map(|_| random(width, width, &mut rng))
        .collect();
    let v = random::<T>(width, cols, &mut rng);
    let mut out = DMatrix::<T>::zeros(width, cols);
    let mut g = c.benchmark_group(format!(
        "thin_{layers}_layers_{width}x{width}_by_{cols}_{}",
        T::NAME
    ));
    g.throughput(Throughput::Elements(
        (2 * width * width * cols * layers) as u64,
    ));
    for transpose in [false, true] {
        let dir = if transpose { "transposed" } else { "forward" };
        g.bench_function(format!("packed_{dir}"), |b| {
            b.iter(|| {
                for w in &ws {
                    gemm_packed(
                        T::one(),
                        black_box(w),
                        transpose,
                        black_box(&v),
                        T::zero(),
                        &mut out,
                    );
                }
            })
        });
        g.bench_function(format!("thin_{dir}"), |b| {
            b.iter(|| {
                for w in &ws {
                    gemm_thin(
                        T::one(),
                        black_box(w),
                        transpose,
                        black_box(&v),
                        T::zero(),
                        &mut out,
                    );
                }
            })
        });
    }
    // The feedback from a transposed copy (what the crossbars do).
    let wts: Vec<DMatrix<T>> = ws.iter().map(|w| w.transpose()).collect();
    g.bench_function("copy_transposed", |b| {
        b.iter(|| {
            for (w, wt) in ws.iter().zip(&wts) {
                gemm_transposed(black_box(w), black_box(wt), black_box(&v), &mut out);
            }
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    shape::<f64>(c, 128, 8);
    layers::<f64>(c, 64, 128, 8);
    layers::<f32>(c, 32, 128, 64);
    layers::<f32>(c, 8, 256, 64);
    for cols in [8, 16, 32, 64] {
        shape::<f64>(c, 512, cols);
        shape::<f32>(c, 512, cols);
    }
}

criterion_group!(thin_gemm, benches);
criterion_main!(thin_gemm);
