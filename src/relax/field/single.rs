//! A single-precision copy of the field, for the stiff integrator's linear
//! solves ([`crate::relax::rosenbrock`]): the same cores as f32 matrices and
//! the same linearised point, so the conjugate-gradient solves stream half
//! the bytes and run twice the SIMD lanes, while the force (and so the
//! equilibrium) stays in the run's precision.

use super::{Field, FieldSpec, Linearisation};
use crate::layer::{Dense, Layer};
use crate::real::Real;
use crate::relax::state::{convert, convert_matrix};
use nalgebra::DMatrix;

/// `m` in precision `S`.
fn cast<T: Real, S: Real>(m: &DMatrix<T>) -> DMatrix<S> {
    let mut out = DMatrix::zeros(0, 0);
    convert_matrix(m, &mut out);
    out
}

impl<T: Real> Field<'_, T> {
    /// The field with every core copied as an f32 matrix, or `None` when a
    /// core cannot give its matrix ([`crate::operator::WeightOperator::matrix`]).
    /// Call [`Field::copy_linearisation_into`] before using its Hessian.
    pub fn single_precision_copy(&self) -> Option<Field<'static, f32>> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let w = l.matrix()?;
                let a = l.multiplier().f64() as f32;
                Some(Box::new(Dense::owned(cast(w), a, l.has_skip())) as Box<dyn Layer<f32>>)
            })
            .collect::<Option<Vec<_>>>()?;
        let s = &self.spec;
        let spec = FieldSpec {
            multipliers: layers.iter().map(|l| l.multiplier()).collect(),
            skips: layers.iter().map(|l| l.has_skip()).collect(),
            phi_drive: s.phi_drive.clone(),
            activation: s.activation,
            loss: s.loss,
            softmax_group: s.softmax_group,
            lambda: s.lambda.f64() as f32,
            leak: s.leak.f64() as f32,
        };
        Some(Field::with_layers(
            layers,
            spec,
            cast(&self.x),
            cast(&self.y),
        ))
    }

    /// Gives `other` (a [`Field::single_precision_copy`] of this field) this
    /// field's last linearisation, converted.
    pub fn copy_linearisation_into(&self, other: &mut Field<'_, f32>) {
        let (src, dst): (&Linearisation<T>, &mut Linearisation<f32>) = (&self.lin, &mut other.lin);
        convert(&src.dpre, &mut dst.dpre);
        convert(&src.curv, &mut dst.curv);
        match (&src.p, &mut dst.p) {
            (Some(p), Some(q)) => convert_matrix(p, q),
            (Some(p), q) => *q = Some(cast(p)),
            (None, q) => *q = None,
        }
        dst.exact = src.exact;
    }
}
