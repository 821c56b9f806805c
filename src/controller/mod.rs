//! The digital controller (MODEL.md §4): reads the errors and layer inputs
//! through the ADCs after the relaxation, forms every layer's local weight
//! gradient ∂F/∂W_ℓ = −a_ℓ Λ_ℓ mean_b ε_ℓ φ(z_{ℓ−1})ᵀ, applies the optimiser
//! with the parameterisation's per-layer rates, and programs the conductance
//! changes (ideal writes or quantised pulses), all layers in parallel.

pub mod optimiser;

pub use optimiser::Optimiser;

use crate::analog::Converter;
use crate::real::{gemm_abt, Real};
use crate::relax::Field;
use nalgebra::DMatrix;
use rayon::prelude::*;

/// Local weight gradients from the signals read through the ADC `adc`.
/// Returns the gradients and the number of saturated conversions.
pub fn read_weight_grads<T: Real>(
    field: &Field<T>,
    z: &[DMatrix<T>],
    adc: &Converter,
) -> (Vec<DMatrix<T>>, usize) {
    let signals = field.signals(z);
    let inv_batch = 1.0 / field.batch() as f64;
    let out: Vec<(DMatrix<T>, usize)> = signals
        .into_par_iter()
        .enumerate()
        .map(|(i, (mut eps, mut pre))| {
            let l = i + 1;
            let n_sat = adc.quantize_matrix(&mut eps) + adc.quantize_matrix(&mut pre);
            let c = -field.spec.multipliers[i] * field.precision_of(l) * T::of(inv_batch);
            let mut g = DMatrix::zeros(eps.nrows(), pre.nrows());
            gemm_abt(c, &eps, &pre, T::zero(), &mut g);
            (g, n_sat)
        })
        .collect();
    let n_sat = out.iter().map(|(_, s)| s).sum();
    (out.into_iter().map(|(g, _)| g).collect(), n_sat)
}
