//! Crossbar tests: ideal products, static error statistics, tiling,
//! saturation, updates, drift and read noise. All seeded.

use nalgebra::DMatrix;
use pcchip::analog::{
    AnalogError, Converter, ConverterConfig, Crossbar, CrossbarConfig, DeviceConfig, DevicePreset,
    MappingConfig, TileConfig,
};
use pcchip::{Real, WeightOperator};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random<T: Real>(r: usize, c: usize, seed: u64) -> DMatrix<T> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    DMatrix::from_fn(r, c, |_, _| T::of(rng.random::<f64>() * 2.0 - 1.0))
}

fn rel_err<T: Real>(a: &DMatrix<T>, b: &DMatrix<T>) -> f64 {
    (a - b).norm().f64() / b.norm().f64()
}

fn cfg(device: DeviceConfig) -> CrossbarConfig {
    CrossbarConfig {
        device,
        ..CrossbarConfig::default()
    }
}

fn ideal_products<T: Real>(tol: f64) {
    let w = random::<T>(70, 90, 1);
    let xb = Crossbar::program(
        &w,
        &cfg(DevicePreset::Ideal.config()),
        &mut ChaCha8Rng::seed_from_u64(2),
    )
    .unwrap();
    let dense = w.clone();
    assert!(rel_err(xb.effective_weights(), &w) < tol);
    let (v, u) = (random::<T>(90, 16, 3), random::<T>(70, 16, 4));
    let (mut a, mut b) = (DMatrix::zeros(70, 16), DMatrix::zeros(70, 16));
    xb.forward_into(&v, &mut a);
    dense.forward_into(&v, &mut b);
    assert!(rel_err(&a, &b) < tol, "forward {}", rel_err(&a, &b));
    let (mut a, mut b) = (DMatrix::zeros(90, 16), DMatrix::zeros(90, 16));
    xb.transpose_into(&u, &mut a);
    dense.transpose_into(&u, &mut b);
    assert!(rel_err(&a, &b) < tol, "transpose {}", rel_err(&a, &b));
    // No read noise on the ideal device.
    let before = a.clone();
    xb.add_read_noise(&u, &mut a, &mut ChaCha8Rng::seed_from_u64(5));
    assert_eq!(a, before);
}

#[test]
fn ideal_preset_reproduces_exact_products_f64() {
    ideal_products::<f64>(1e-14);
}

#[test]
fn ideal_preset_reproduces_exact_products_f32() {
    ideal_products::<f32>(1e-6);
}

/// Std of programmed-minus-target over the G⁺ devices of a constant matrix.
fn measured_prog_std(device: DeviceConfig, target_us: f64) -> f64 {
    let scale = 10.0;
    let w = DMatrix::<f64>::from_element(256, 256, (target_us - device.g_min_us) / scale);
    let c = CrossbarConfig {
        device,
        mapping: MappingConfig {
            scale_us_per_unit: scale,
            headroom: 1.0,
        },
        ..Default::default()
    };
    let xb = Crossbar::program(&w, &c, &mut ChaCha8Rng::seed_from_u64(7)).unwrap();
    let g = xb.conductances_us().0;
    let n = g.len() as f64;
    let mean = g.iter().sum::<f64>() / n;
    assert!(
        (mean - target_us).abs() < 0.02,
        "mean {mean} vs target {target_us}"
    );
    (g.iter().map(|x| (x - target_us).powi(2)).sum::<f64>() / n).sqrt()
}

#[test]
fn programming_noise_std_matches_configuration() {
    let base = DeviceConfig {
        g_min_us: 5.0,
        g_max_us: 30.0,
        ..DeviceConfig::default()
    };
    let abs = measured_prog_std(
        DeviceConfig {
            prog_noise_abs_us: 1.0,
            ..base.clone()
        },
        15.0,
    );
    assert!((abs - 1.0).abs() < 0.02, "absolute noise std {abs}");
    let rel = measured_prog_std(
        DeviceConfig {
            prog_noise_rel: 0.04,
            ..base.clone()
        },
        20.0,
    );
    assert!((rel - 0.8).abs() < 0.02 * 0.8, "relative noise std {rel}");
    let both = measured_prog_std(
        DeviceConfig {
            prog_noise_abs_us: 0.6,
            prog_noise_rel: 0.04,
            ..base.clone()
        },
        20.0,
    );
    assert!((both - 1.0).abs() < 0.02, "combined noise std {both}");
    let d2d = measured_prog_std(
        DeviceConfig {
            d2d_variability_rel: 0.05,
            ..base
        },
        20.0,
    );
    assert!((d2d - 1.0).abs() < 0.02, "d2d std {d2d}");
}

#[test]
fn stuck_at_fractions_match() {
    let dev = DeviceConfig {
        stuck_at_min_frac: 0.05,
        stuck_at_max_frac: 0.02,
        ..DeviceConfig::default()
    };
    let xb = Crossbar::<f32>::program(
        &random(300, 300, 1),
        &cfg(dev.clone()),
        &mut ChaCha8Rng::seed_from_u64(3),
    )
    .unwrap();
    let s = xb.stats();
    let n = 2.0 * 300.0 * 300.0;
    let (fmin, fmax) = (s.n_stuck_at_min as f64 / n, s.n_stuck_at_max as f64 / n);
    assert!((fmin - 0.05).abs() < 0.05 * 0.05, "stuck at min {fmin}");
    assert!((fmax - 0.02).abs() < 0.05 * 0.02, "stuck at max {fmax}");
    let (gp, gn) = xb.conductances_us();
    let at_max = gp
        .iter()
        .chain(gn.iter())
        .filter(|&&g| g == dev.g_max_us)
        .count();
    assert!(at_max >= s.n_stuck_at_max);
}

#[test]
fn distinct_levels_equal_n_levels() {
    for n_levels in [2u32, 5, 16, 64] {
        let dev = DeviceConfig {
            n_levels,
            ..DeviceConfig::default()
        };
        let c = CrossbarConfig {
            device: dev.clone(),
            mapping: MappingConfig {
                scale_us_per_unit: 0.0,
                headroom: 1.0,
            },
            ..Default::default()
        };
        let xb =
            Crossbar::<f64>::program(&random(128, 128, 9), &c, &mut ChaCha8Rng::seed_from_u64(1))
                .unwrap();
        let (gp, gn) = xb.conductances_us();
        let mut levels: Vec<u64> = gp.iter().chain(gn.iter()).map(|g| g.to_bits()).collect();
        levels.sort_unstable();
        levels.dedup();
        assert_eq!(levels.len(), n_levels as usize, "n_levels {n_levels}");
    }
}

#[test]
fn same_seed_same_array_different_seed_differs() {
    let w = random::<f32>(64, 48, 11);
    let c = cfg(DevicePreset::Pcm.config());
    let prog = |seed| Crossbar::program(&w, &c, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
    let (a, b, d) = (prog(5), prog(5), prog(6));
    assert_eq!(a.conductances_us(), b.conductances_us());
    assert_eq!(a.effective_weights(), b.effective_weights());
    assert_ne!(a.effective_weights(), d.effective_weights());
    // PCM errors are small but present.
    let e = rel_err(a.effective_weights(), &w);
    assert!(e > 1e-3 && e < 0.5, "PCM relative weight error {e}");
}

fn tiled_agrees<T: Real>(tol: f64) {
    let w = random::<T>(250, 300, 21);
    let tiled = CrossbarConfig {
        tile: TileConfig {
            rows: 100,
            cols: 70,
        },
        ..Default::default()
    };
    let xt = Crossbar::program(&w, &tiled, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let xu = Crossbar::program(
        &w,
        &CrossbarConfig::default(),
        &mut ChaCha8Rng::seed_from_u64(1),
    )
    .unwrap();
    assert_eq!(xt.stats().tile_grid, (3, 5));
    assert_eq!(xt.stats().n_tiles, 15);
    assert_eq!(xu.stats().n_tiles, 1);
    let adc = Converter::ideal();
    let (v, u) = (random::<T>(300, 8, 2), random::<T>(250, 8, 3));
    let (mut a, mut b) = (DMatrix::zeros(250, 8), DMatrix::zeros(250, 8));
    xt.forward_digital_into(&v, &mut a, &adc);
    xu.forward_into(&v, &mut b);
    assert!(rel_err(&a, &b) < tol, "tiled forward {}", rel_err(&a, &b));
    let (mut a, mut b) = (DMatrix::zeros(300, 8), DMatrix::zeros(300, 8));
    xt.transpose_digital_into(&u, &mut a, &adc);
    xu.transpose_into(&u, &mut b);
    assert!(rel_err(&a, &b) < tol, "tiled transpose {}", rel_err(&a, &b));
    // An 8-bit ADC per tile: each of the 5 partial sums is within half an LSB.
    let adc8 = Converter::new(&ConverterConfig {
        bits: 8,
        full_scale: 40.0,
        pga_steps: 0,
    })
    .unwrap();
    let mut q = DMatrix::zeros(300, 8);
    assert_eq!(xt.transpose_digital_into(&u, &mut q, &adc8), 0);
    let worst = (&q - &b).amax().f64();
    assert!(
        worst <= 3.0 * 0.5 * adc8.lsb() + tol * 10.0,
        "ADC error {worst} vs LSB {}",
        adc8.lsb()
    );
}

#[test]
fn tiled_and_untiled_agree_when_ideal_f64() {
    tiled_agrees::<f64>(1e-12);
}

#[test]
fn tiled_and_untiled_agree_when_ideal_f32() {
    tiled_agrees::<f32>(1e-5);
}

fn hand_made() -> (Crossbar<f64>, CrossbarConfig) {
    let dev = DeviceConfig {
        g_min_us: 0.0,
        g_max_us: 10.0,
        ..DeviceConfig::default()
    };
    let c = CrossbarConfig {
        device: dev,
        mapping: MappingConfig {
            scale_us_per_unit: 10.0,
            headroom: 1.0,
        },
        ..Default::default()
    };
    let w = DMatrix::from_row_slice(2, 3, &[0.5, 1.5, -1.0, -2.0, 1.0, 0.0]);
    (
        Crossbar::program(&w, &c, &mut ChaCha8Rng::seed_from_u64(0)).unwrap(),
        c,
    )
}

#[test]
fn saturation_counting_on_hand_made_matrix() {
    let (mut xb, _) = hand_made();
    assert_eq!(xb.stats().n_saturated_program, 2);
    let want = DMatrix::from_row_slice(2, 3, &[0.5, 1.0, -1.0, -1.0, 1.0, 0.0]);
    assert_eq!(xb.effective_weights(), &want);
    let dw = DMatrix::from_row_slice(2, 3, &[0.6, -0.5, -0.1, 0.25, 0.0, -3.0]);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(xb.program_update(&dw, &mut rng), 3);
    let want = DMatrix::from_row_slice(2, 3, &[1.0, 0.5, -1.0, -0.75, 1.0, -1.0]);
    assert!(
        (xb.effective_weights() - want).amax() < 1e-14,
        "{}",
        xb.effective_weights()
    );
    assert_eq!(xb.stats().n_saturated_update, 3);
    let (gp, gn) = xb.conductances_us();
    assert!(gp
        .iter()
        .chain(gn.iter())
        .all(|&g| (0.0..=10.0).contains(&g)));
}

#[test]
fn update_is_exact_on_noisy_free_devices() {
    let w = random::<f64>(40, 40, 4) * 0.5;
    let dev = DeviceConfig {
        stuck_at_min_frac: 0.0,
        stuck_at_max_frac: 0.0,
        ..DevicePreset::Reram.config()
    };
    let mut xb = Crossbar::program(&w, &cfg(dev), &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
    let before = xb.effective_weights().clone();
    let dw = random::<f64>(40, 40, 5) * 0.05;
    assert_eq!(xb.program_update(&dw, &mut ChaCha8Rng::seed_from_u64(1)), 0);
    assert!((xb.effective_weights() - (before + &dw)).amax() < 1e-12);
}

#[test]
fn update_compensates_with_the_free_partner_of_a_stuck_device() {
    let dev = DeviceConfig {
        stuck_at_max_frac: 0.5,
        ..DeviceConfig::default()
    };
    let w = DMatrix::<f64>::from_element(30, 30, 0.1);
    let c = CrossbarConfig {
        device: dev,
        mapping: MappingConfig {
            scale_us_per_unit: 10.0,
            headroom: 1.0,
        },
        ..Default::default()
    };
    let mut xb = Crossbar::program(&w, &c, &mut ChaCha8Rng::seed_from_u64(8)).unwrap();
    let (gp, gn) = xb.conductances_us();
    let one_stuck: Vec<bool> = gp
        .iter()
        .zip(gn.iter())
        .map(|(&p, &n)| (p == 25.0) != (n == 25.0))
        .collect();
    let before = xb.effective_weights().clone();
    let dw = DMatrix::<f64>::from_element(30, 30, -0.2);
    xb.program_update(&dw, &mut ChaCha8Rng::seed_from_u64(0));
    let after = xb.effective_weights();
    let mut n_checked = 0;
    for k in 0..900 {
        let reachable = (before[k] - 0.2).abs() <= 2.5;
        if one_stuck[k] && reachable {
            assert!((after[k] - (before[k] - 0.2)).abs() < 1e-12);
            n_checked += 1;
        }
    }
    assert!(
        n_checked > 100,
        "only {n_checked} single-stuck pairs checked"
    );
}

#[test]
fn quantised_update_is_unbiased() {
    let dev = DeviceConfig {
        n_levels: 11,
        ..DeviceConfig::default()
    };
    let c = CrossbarConfig {
        device: dev,
        mapping: MappingConfig {
            scale_us_per_unit: 10.0,
            headroom: 1.0,
        },
        ..Default::default()
    };
    let w = DMatrix::<f64>::from_element(100, 100, 0.5);
    let mut xb = Crossbar::program(&w, &c, &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    xb.program_update(
        &DMatrix::from_element(100, 100, 0.03),
        &mut ChaCha8Rng::seed_from_u64(2),
    );
    let mean = xb.effective_weights().mean();
    assert!(
        (mean - 0.53).abs() < 0.005,
        "mean after a sub-level update {mean}"
    );
}

#[test]
fn drift_follows_power_law_and_is_not_cumulative() {
    let dev = DeviceConfig {
        drift_nu: 0.05,
        drift_t0_s: 20.0,
        ..DeviceConfig::default()
    };
    let w = random::<f64>(20, 30, 3);
    let mut xb = Crossbar::program(&w, &cfg(dev), &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    xb.apply_drift(3600.0);
    let f = (3600.0f64 / 20.0).powf(-0.05);
    assert!((xb.effective_weights() - &w * f).amax() < 1e-13);
    xb.apply_drift(3600.0);
    assert!((xb.effective_weights() - &w * f).amax() < 1e-13);
    xb.apply_drift(1.0);
    assert!((xb.effective_weights() - &w).amax() < 1e-13);
}

#[test]
fn read_noise_std_matches_model() {
    let dev = DeviceConfig {
        read_noise_rel: 0.03,
        ..DeviceConfig::default()
    };
    let w = random::<f64>(50, 40, 1);
    let xb = Crossbar::program(&w, &cfg(dev), &mut ChaCha8Rng::seed_from_u64(0)).unwrap();
    let v = DMatrix::<f64>::from_element(40, 2000, 0.5); // ‖v_b‖ = √40·0.5
    let mut out = DMatrix::zeros(50, 2000);
    xb.add_read_noise(&v, &mut out, &mut ChaCha8Rng::seed_from_u64(1));
    let want = 0.03 * 2f64.sqrt() * 25.0 / xb.mapping().scale_us_per_unit * 40f64.sqrt() * 0.5;
    let got = (out.iter().map(|x| x * x).sum::<f64>() / out.len() as f64).sqrt();
    assert!(
        (got / want - 1.0).abs() < 0.02,
        "read noise std {got} vs {want}"
    );
    assert!(out.mean().abs() < 0.03 * want);
}

#[test]
fn invalid_input_is_an_error_not_a_panic() {
    let w = random::<f64>(3, 3, 0);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let bad = cfg(DeviceConfig {
        g_min_us: 30.0,
        ..DeviceConfig::default()
    });
    let e = Crossbar::program(&w, &bad, &mut rng).unwrap_err();
    assert!(
        matches!(
            e,
            AnalogError::OutOfRange {
                key: "device.g_max_us",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "device.g_max_us: got 25, expected g_max_us > g_min_us = 30"
    );
    let bad = CrossbarConfig {
        tile: TileConfig { rows: 0, cols: 4 },
        ..Default::default()
    };
    assert_eq!(
        Crossbar::program(&w, &bad, &mut rng)
            .unwrap_err()
            .to_string(),
        "tile.rows: got 0, expected ≥ 1 (outputs per array)"
    );
    let mut nan = w.clone();
    nan[(1, 2)] = f64::NAN;
    let e = Crossbar::program(&nan, &CrossbarConfig::default(), &mut rng).unwrap_err();
    assert!(
        matches!(e, AnalogError::NonFiniteWeight { row: 1, col: 2, value } if value.is_nan()),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "crossbar: weight (1, 2) is NaN, expected a finite value"
    );
    let c: CrossbarConfig =
        toml::from_str("[device]\ng_max_us = 40.0\n[tile]\nrows = 256\n").unwrap();
    assert_eq!(
        (c.device.g_max_us, c.tile.rows, c.tile.cols),
        (40.0, 256, 512)
    );
    assert!(toml::from_str::<CrossbarConfig>("[tile]\nrow = 3\n").is_err());
}
