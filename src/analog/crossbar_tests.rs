//! Statistics of the crossbar's noise models, sampled (unit tests of
//! `crossbar.rs`). Tolerances are 4–6 standard errors of the estimate at
//! the sample sizes used, so a wrong law fails and a right one passes for
//! any seed. tests/analog.rs covers the programmed array's aggregate
//! statistics; these check the laws device by device and column by column.

use super::*;
use rand::SeedableRng;

/// `n` conductances (µS) of one device type programmed to `target_us`.
fn programmed(dev: &DeviceConfig, target_us: f64, n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| program_device(dev, target_us, &mut rng).0)
        .collect()
}

/// Sample mean and (population) standard deviation.
fn mean_std(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Programming noise is N(0, σ_abs² + (ρ·G_T)²) around the target: mean,
/// std and the Gaussian's 1σ and 2σ fractions (a uniform law of the same
/// std has 57.7 % within 1σ), at several targets away from the rails.
#[test]
fn programming_noise_is_gaussian_with_the_configured_std() {
    const N: usize = 100_000;
    for (abs, rel) in [(0.5, 0.0), (0.0, 0.04), (0.5, 0.05)] {
        let dev = DeviceConfig {
            prog_noise_abs_us: abs,
            prog_noise_rel: rel,
            ..DeviceConfig::default()
        };
        for (k, target) in [8.0, 12.0, 16.0].into_iter().enumerate() {
            let sigma = (abs * abs + (rel * target) * (rel * target)).sqrt();
            let g = programmed(&dev, target, N, 11 + k as u64);
            let (mean, std) = mean_std(&g);
            let what = format!("σ_abs {abs}, ρ {rel}, G_T {target}");
            assert!(
                (mean - target).abs() < 5.0 * sigma / (N as f64).sqrt(),
                "{what}: mean {mean}"
            );
            assert!(
                (std / sigma - 1.0).abs() < 0.01,
                "{what}: std {std} vs {sigma}"
            );
            let within = |m: f64| {
                g.iter()
                    .filter(|&&x| (x - target).abs() < m * sigma)
                    .count() as f64
                    / N as f64
            };
            assert!(
                (within(1.0) - 0.682_689).abs() < 0.006,
                "{what}: 1σ {}",
                within(1.0)
            );
            assert!(
                (within(2.0) - 0.954_500).abs() < 0.003,
                "{what}: 2σ {}",
                within(2.0)
            );
        }
    }
}

/// Device-to-device variation is a gain: G ← G·(1 + δ), so its std grows
/// in proportion to the conductance and its mean stays at the target.
#[test]
fn device_to_device_spread_is_proportional_to_the_conductance() {
    const N: usize = 100_000;
    let dev = DeviceConfig {
        d2d_variability_rel: 0.05,
        ..DeviceConfig::default()
    };
    for (k, target) in [5.0, 10.0, 20.0].into_iter().enumerate() {
        let (mean, std) = mean_std(&programmed(&dev, target, N, 21 + k as u64));
        let sigma = 0.05 * target;
        assert!(
            (mean - target).abs() < 5.0 * sigma / (N as f64).sqrt(),
            "mean {mean}"
        );
        assert!(
            (std / sigma - 1.0).abs() < 0.01,
            "G_T {target}: std {std} vs {sigma}"
        );
    }
}

/// Quantisation comes before the noise: the draws centre on the nearest
/// level (15 µS for a 17 µS target with 5 µS steps), not on the target,
/// and spread continuously around it.
#[test]
fn programming_noise_is_applied_after_quantisation() {
    const N: usize = 100_000;
    let dev = DeviceConfig {
        g_min_us: 5.0,
        g_max_us: 30.0,
        n_levels: 6,
        prog_noise_abs_us: 1.0,
        ..DeviceConfig::default()
    };
    let g = programmed(&dev, 17.0, N, 31);
    let (mean, std) = mean_std(&g);
    assert!((mean - 15.0).abs() < 5.0 / (N as f64).sqrt(), "mean {mean}");
    assert!((std - 1.0).abs() < 0.01, "std {std}");
    let on_level = g
        .iter()
        .filter(|&&x| ((x - 5.0) / 5.0).fract() == 0.0)
        .count();
    assert!(on_level < N / 1000, "{on_level} draws exactly on a level");
}

/// At a rail the noise is clipped: a device programmed to G_min (the idle
/// partner of every pair) stays exactly at G_min half the time and sits
/// σ/√(2π) above it on average (the rectified Gaussian).
#[test]
fn noise_at_g_min_is_rectified() {
    const N: usize = 100_000;
    let dev = DeviceConfig {
        g_min_us: 5.0,
        g_max_us: 30.0,
        prog_noise_abs_us: 1.0,
        ..DeviceConfig::default()
    };
    let g = programmed(&dev, 5.0, N, 41);
    assert!(g.iter().all(|&x| x >= 5.0));
    let at_rail = g.iter().filter(|&&x| x == 5.0).count() as f64 / N as f64;
    assert!((at_rail - 0.5).abs() < 0.008, "fraction at G_min {at_rail}");
    let (mean, _) = mean_std(&g);
    let want = 5.0 + 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    assert!((mean - want).abs() < 0.01, "mean {mean} vs {want}");
}

/// Read noise adds N(0, σ_b²) to each output of column b, with
/// σ_b = read_noise_rel·√2·(G_max/s)·‖x_b‖₂: zero for a zero input, in
/// proportion to the column's norm otherwise, mean zero, independent
/// between columns; the outputs' previous values are kept (added to).
#[test]
fn read_noise_scales_with_each_columns_input_norm() {
    const N: usize = 20_000;
    let dev = DeviceConfig {
        read_noise_rel: 0.03,
        ..DeviceConfig::default()
    };
    let w = DMatrix::<f64>::from_fn(N, 4, |i, j| ((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.5);
    let cfg = CrossbarConfig {
        device: dev.clone(),
        ..Default::default()
    };
    let xb = Crossbar::program(&w, &cfg, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    // Column norms 0, 1 and 3.
    let x = DMatrix::<f64>::from_fn(4, 3, |_, b| [0.0, 0.5, 1.5][b]);
    let mut out = DMatrix::<f64>::from_element(N, 3, 1.5);
    xb.add_read_noise(&x, &mut out, &mut ChaCha8Rng::seed_from_u64(5));
    let noise = out.add_scalar(-1.5);
    assert!(noise.column(0).iter().all(|&e| e == 0.0));
    let unit = 0.03 * 2f64.sqrt() * dev.g_max_us / xb.mapping().scale_us_per_unit;
    for (b, norm) in [(1, 1.0), (2, 3.0)] {
        let col: Vec<f64> = noise.column(b).iter().copied().collect();
        let (mean, std) = mean_std(&col);
        let sigma = unit * norm;
        assert!(
            mean.abs() < 5.0 * sigma / (N as f64).sqrt(),
            "column {b}: mean {mean}"
        );
        assert!(
            (std / sigma - 1.0).abs() < 0.03,
            "column {b}: std {std} vs {sigma}"
        );
    }
    let (c1, c2) = (noise.column(1), noise.column(2));
    let r = c1.dot(&c2) / (c1.norm() * c2.norm());
    assert!(
        r.abs() < 5.0 / (N as f64).sqrt(),
        "correlation between columns {r}"
    );
}

/// Without read noise the outputs are untouched and no random number is
/// drawn (the noise stream, and so every later draw, is unchanged).
#[test]
fn read_noise_off_leaves_outputs_and_stream_untouched() {
    let w = DMatrix::<f64>::from_fn(6, 5, |i, j| (i as f64 - j as f64) * 0.1);
    let xb = Crossbar::program(
        &w,
        &CrossbarConfig::default(),
        &mut ChaCha8Rng::seed_from_u64(0),
    )
    .unwrap();
    let x = DMatrix::<f64>::from_element(5, 4, 0.7);
    let mut out = DMatrix::<f64>::from_element(6, 4, -2.0);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    xb.add_read_noise(&x, &mut out, &mut rng);
    assert!(out.iter().all(|&e| e == -2.0));
    assert_eq!(
        rng.random::<u64>(),
        ChaCha8Rng::seed_from_u64(9).random::<u64>()
    );
}
