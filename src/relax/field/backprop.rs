//! Backprop through the field's layers, for networks of any layer kind:
//! the reference the PC gradients are compared with (MODEL.md §1). For a
//! dense chain it equals [`crate::net::backprop`] (which keeps its own
//! product order, so dense results stay bit-for-bit those of earlier
//! versions).

use super::{input, Field};
use crate::net::{loss_of_output_grouped, softmax_grouped, Backprop, Loss};
use crate::real::Real;
use nalgebra::DMatrix;

impl<T: Real> Field<'_, T> {
    /// ℒ of the feedforward network on the clamped batch and its gradient
    /// by an explicit backward pass through the layers: δ_L = ∂ℒ/∂μ_L and,
    /// for ℓ = L…1, ∇W_ℓ from δ_ℓ and the drive d_ℓ (the layer's own
    /// [`crate::layer::Layer::weight_grad`] with error −δ_ℓ and precision
    /// B), δ_{ℓ−1} = (∂μ_ℓ/∂z_{ℓ−1})ᵀ δ_ℓ. A pool's gradient is empty.
    /// Counts no products (a computation of the simulator).
    pub fn backprop(&self) -> Backprop<T> {
        let act = self.spec.activation;
        let (z, out) = self.feedforward_with_output();
        let (x, y) = (&self.x, &self.y);
        let batch = x.ncols();
        let scale = T::of(1.0 / batch.max(1) as f64);
        let mut delta = match self.spec.loss {
            Loss::Mse => (&out - y) * scale,
            Loss::CrossEntropy => (softmax_grouped(&out, self.spec.softmax_group) - y) * scale,
        };
        let depth = self.depth();
        let mut grads = vec![DMatrix::zeros(0, 0); depth];
        for l in (1..=depth).rev() {
            let layer = &self.layers[l - 1];
            let zin = input(x, &z, l);
            let phi = self.spec.phi_drive[l - 1];
            let drive = if phi { act.of_matrix(zin) } else { zin.clone() };
            grads[l - 1] = layer.weight_grad(&(-&delta), &drive, T::of(batch as f64));
            if l > 1 {
                let mut back = DMatrix::zeros(layer.n_in(), batch);
                layer.feedback_into(&delta, &mut back);
                let a = layer.multiplier();
                if phi {
                    back.zip_apply(zin, |b, zi| *b *= a * act.dphi(zi));
                } else {
                    back.scale_mut(a);
                }
                if layer.has_skip() {
                    back += &delta;
                }
                delta = back;
            }
        }
        Backprop {
            loss: loss_of_output_grouped(self.spec.loss, self.spec.softmax_group, &out, y),
            grads,
            output: out,
        }
    }
}
