//! What the controller reads of the field after a force evaluation: every
//! layer's error, drive and precision ([`Signals`]).

use super::{input, Field};
use crate::real::Real;
use nalgebra::DMatrix;

/// What the controller reads of one layer ℓ after a force evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSignals<T: Real> {
    /// ε_ℓ (for the output, y − μ_L or y − softmax(μ_L)), n_out × B.
    pub error: DMatrix<T>,
    /// The layer's input φ(z_{ℓ−1}) (x for ℓ = 1), n_in × B.
    pub input: DMatrix<T>,
    /// The precision Λ_ℓ of the layer's error (λ for the output, 1 otherwise).
    pub precision: T,
}

/// What the field writes for the controller: every layer's signals, ℓ = 1..L
/// (index ℓ − 1), at the last evaluated state.
#[derive(Clone, Debug, PartialEq)]
pub struct Signals<T: Real> {
    pub layers: Vec<LayerSignals<T>>,
}

impl<T: Real> Field<'_, T> {
    /// The signals of the last force evaluation, which was at `z`.
    pub fn signals(&self, z: &[DMatrix<T>]) -> Signals<T> {
        let layers = (1..=self.depth())
            .map(|l| {
                let drive = self.drive(z, l);
                LayerSignals {
                    error: self.eps[l - 1].clone(),
                    input: drive.clone(),
                    precision: self.spec.precision(l),
                }
            })
            .collect();
        Signals { layers }
    }

    /// Layer ℓ's drive d_ℓ at the last evaluated state `z`: φ(z_{ℓ−1}) or
    /// z_{ℓ−1} itself ([`FieldSpec::phi_drive`]; x for ℓ = 1).
    pub(super) fn drive<'b>(&'b self, z: &'b [DMatrix<T>], l: usize) -> &'b DMatrix<T> {
        if self.spec.phi_drive[l - 1] {
            &self.pre[l - 1]
        } else {
            input(&self.x, z, l)
        }
    }

    /// Λ_ℓ (λ for the output layer, 1 otherwise).
    pub fn precision_of(&self, l: usize) -> T {
        self.spec.precision(l)
    }
}
