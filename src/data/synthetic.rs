//! Synthetic regression sets: a teacher–student task and the paper's toy
//! Gaussian regression. All draws come from a `ChaCha8Rng` seeded with the
//! given seed, in the order documented on each function, so a seed fixes the
//! set bit for bit. Knows nothing about the student network.

use super::Dataset;
use nalgebra::DMatrix;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn normal(rng: &mut ChaCha8Rng, rows: usize, cols: usize, std: f64) -> DMatrix<f64> {
    DMatrix::from_fn(rows, cols, |_, _| {
        std * rng.sample::<f64, _>(StandardNormal)
    })
}

/// Teacher–student regression: `y = W₂ · tanh(W₁ · x) + ε`.
///
/// Shapes: `x` is `d_in × n_samples`, `y` is `d_out × n_samples`; the teacher
/// has one hidden layer of `teacher_width` tanh units and no biases.
/// Draws, in order (column-major each): `W₁ ~ N(0, 1/d_in)` (`teacher_width × d_in`),
/// `W₂ ~ N(0, 1/teacher_width)` (`d_out × teacher_width`), `x ~ N(0, I)`,
/// then the noise `ε ~ N(0, noise_std²)` (not drawn when `noise_std = 0`).
/// The 1/fan-in variances keep pre-activations and targets of order one.
pub fn teacher_student(
    d_in: usize,
    d_out: usize,
    n_samples: usize,
    teacher_width: usize,
    noise_std: f64,
    seed: u64,
) -> Dataset {
    assert!(
        d_in > 0 && teacher_width > 0,
        "teacher_student: expected d_in ≥ 1 and teacher_width ≥ 1"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w1 = normal(&mut rng, teacher_width, d_in, (d_in as f64).recip().sqrt());
    let w2 = normal(
        &mut rng,
        d_out,
        teacher_width,
        (teacher_width as f64).recip().sqrt(),
    );
    let x = normal(&mut rng, d_in, n_samples, 1.0);
    let mut y = w2 * (w1 * &x).map(f64::tanh);
    if noise_std > 0.0 {
        y += normal(&mut rng, d_out, n_samples, noise_std);
    }
    Dataset {
        name: "teacher_student".into(),
        x,
        y,
        labels: None,
        encoding: super::Encoding::Dense,
    }
}

/// The paper's toy Gaussian regression with its sizes: D = 40 inputs, 20 samples.
pub fn gaussian_toy(seed: u64) -> Dataset {
    gaussian_regression(40, 20, seed)
}

/// Toy Gaussian regression: `x ~ N(0, I_D)` (`d × n_samples`, drawn first,
/// column-major), then one scalar target per sample, `+1` or `−1` with
/// probability ½ each. Targets are unrelated to inputs: with `D ≥ n` a linear
/// model can still fit them exactly.
pub fn gaussian_regression(d: usize, n_samples: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = normal(&mut rng, d, n_samples, 1.0);
    let y = DMatrix::from_fn(
        1,
        n_samples,
        |_, _| if rng.random_bool(0.5) { 1.0 } else { -1.0 },
    );
    Dataset {
        name: "gaussian_toy".into(),
        x,
        y,
        labels: None,
        encoding: super::Encoding::Dense,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_toy_shapes_and_signs() {
        let d = gaussian_toy(5);
        assert_eq!((d.n_features(), d.len(), d.n_outputs()), (40, 20, 1));
        assert!(d.y.iter().all(|&v| v == 1.0 || v == -1.0));
        assert!(d.y.iter().any(|&v| v == 1.0) && d.y.iter().any(|&v| v == -1.0));
        assert_eq!(d, gaussian_toy(5));
        assert_ne!(d, gaussian_toy(6));
        let big = gaussian_regression(50, 4000, 1);
        let (mean, var) = (big.x.mean(), big.x.variance());
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.02,
            "mean {mean}, var {var}"
        );
        assert!(big.y.mean().abs() < 0.05);
    }

    #[test]
    fn teacher_student_is_a_tanh_net() {
        let clean = teacher_student(8, 3, 200, 16, 0.0, 9);
        let noisy = teacher_student(8, 3, 200, 16, 0.1, 9);
        assert_eq!((clean.x.shape(), clean.y.shape()), ((8, 200), (3, 200)));
        assert_eq!(clean.x, noisy.x);
        let resid = &noisy.y - &clean.y;
        let std = (resid.norm_squared() / resid.len() as f64).sqrt();
        assert!((std - 0.1).abs() < 0.01, "noise std {std}");
        // targets bounded by the L1 norm of W₂'s rows: finite and of order one
        let rms = (clean.y.norm_squared() / clean.y.len() as f64).sqrt();
        assert!(rms > 0.1 && rms < 3.0, "target rms {rms}");
    }
}
