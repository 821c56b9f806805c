//! Shared helpers for the integration tests: seeded random networks and batches.
#![allow(dead_code)]

pub mod layers;

use nalgebra::DMatrix;
use pcchip::net::{Loss, Network, Parameterisation, Topology};
use pcchip::relax::{relax, Dynamics, Field, RelaxConfig, Relaxation, System};
use pcchip::Real;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn normal<T: Real>(rows: usize, cols: usize, std: f64, rng: &mut ChaCha8Rng) -> DMatrix<T> {
    DMatrix::from_fn(rows, cols, |_, _| {
        T::of(std * rng.sample::<f64, _>(StandardNormal))
    })
}

/// Targets for a loss: standard normal (MSE) or random one-hot (CE).
pub fn targets<T: Real>(
    loss: Loss,
    n_out: usize,
    batch: usize,
    rng: &mut ChaCha8Rng,
) -> DMatrix<T> {
    match loss {
        Loss::Mse => normal(n_out, batch, 1.0, rng),
        Loss::CrossEntropy => {
            let mut y = DMatrix::zeros(n_out, batch);
            for b in 0..batch {
                y[(rng.random_range(0..n_out), b)] = T::one();
            }
            y
        }
    }
}

/// The paper's toy regression: x ~ N(0, I_D), scalar targets ±1.
pub fn toy_regression(d: usize, n: usize, rng: &mut ChaCha8Rng) -> (DMatrix<f64>, DMatrix<f64>) {
    let x = normal(d, n, 1.0, rng);
    let y = DMatrix::from_fn(1, n, |_, _| if rng.random_bool(0.5) { 1.0 } else { -1.0 });
    (x, y)
}

pub fn net<T: Real>(topology: Topology, param: Parameterisation, seed: u64) -> Network<T> {
    Network::init(topology, param, &mut rng(seed))
}

pub fn rel_err<A: Real, B: Real>(a: &[DMatrix<A>], b: &[DMatrix<B>]) -> f64 {
    let (mut d, mut n) = (0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        for (p, q) in x.iter().zip(y.iter()) {
            d += (p.f64() - q.f64()).powi(2);
            n += q.f64().powi(2);
        }
    }
    (d / n.max(1e-300)).sqrt()
}

/// Whether two states are identical bit for bit (f32 widens to f64 exactly).
pub fn bitwise_equal<T: Real>(a: &[DMatrix<T>], b: &[DMatrix<T>]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.shape() == y.shape()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| p.f64().to_bits() == q.f64().to_bits())
        })
}

/// The ideal field of `net` on a batch, with integrator leak `leak` (per τ).
pub fn leaky_field(
    net: &Network<f64>,
    x: DMatrix<f64>,
    y: DMatrix<f64>,
    leak: f64,
) -> pcchip::relax::Field<'_, f64> {
    let mut spec = pcchip::relax::FieldSpec::of_network(net);
    spec.leak = leak;
    let cores = net
        .weights
        .iter()
        .map(|w| w as &dyn pcchip::operator::WeightOperator<f64>)
        .collect();
    pcchip::relax::Field::new(cores, spec, x, y)
}

/// Relaxes `net`'s first-order dynamics from the feedforward state of the
/// batch (`x`, `y`) through the driver, all ρ_ℓ = 1.
pub fn relax_from_feedforward(
    net: &Network<f64>,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    cfg: &RelaxConfig,
) -> Relaxation<f64> {
    let mut field = Field::of_network(net, x.clone(), y.clone());
    let z0 = field.feedforward();
    let k = z0.len();
    let mut sys = System::new(&mut field, Dynamics::FirstOrder, vec![1.0; k]);
    relax(&mut sys, z0, cfg, &mut rng(0), None).expect("relaxation")
}

/// Backprop's weight gradient of `net` on (x, y) against central
/// differences of the loss along a random direction of every weight
/// (seeded by `seed`): |dℒ/dv − ⟨∇ℒ, v⟩| < 1e-6 of the larger of |⟨∇ℒ, v⟩|
/// and 1e-3. `label` names the case in the failure message.
pub fn assert_backprop_matches_directional_difference(
    net: &Network<f64>,
    x: &DMatrix<f64>,
    y: &DMatrix<f64>,
    seed: u64,
    label: &str,
) {
    let bp = Field::of_network(net, x.clone(), y.clone()).backprop();
    let mut r = rng(seed);
    let v: Vec<DMatrix<f64>> = net
        .weights
        .iter()
        .map(|w| normal::<f64>(w.nrows(), w.ncols(), 1.0, &mut r))
        .collect();
    let loss_at = |s: f64| {
        let w = net.weights.iter().zip(&v).map(|(a, b)| a + b * s).collect();
        let m = Network::from_weights(net.topology.clone(), net.param, w).unwrap();
        let loss = Field::of_network(&m, x.clone(), y.clone()).backprop().loss;
        loss
    };
    let h = 1e-5;
    let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h);
    let analytic: f64 = bp.grads.iter().zip(&v).map(|(g, d)| g.dot(d)).sum();
    assert!(
        (numeric - analytic).abs() < 1e-6 * analytic.abs().max(1e-3),
        "{label}: dℒ/dv {numeric} against {analytic}"
    );
}
