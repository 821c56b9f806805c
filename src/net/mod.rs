//! The predictive-coding network as mathematics (MODEL.md §1–3): topology,
//! activations, parameterisations, energy and its gradients, the backprop
//! reference and the linear theory. Knows nothing of hardware.

pub mod activation;
pub mod arch;
pub mod backprop;
pub mod energy;
pub mod linear;
pub mod network;
pub mod param;

pub use activation::Activation;
pub use arch::{ArchError, GptSpec, LayerKind, ResNetSpec};
pub use backprop::{backprop, loss_of_output, loss_of_output_grouped, Backprop};
pub use energy::{
    activity_grads, energy, errors, feedforward, layer_energies, layer_weight_grad, output,
    predict, presynaptic, residual_rms, softmax, softmax_grouped, weight_grads, Activities,
};
pub use linear::{
    effective_weight, equilibrium_energy, exact_equilibrium, s_matrix, LinearTheoryError,
};
pub use network::{Loss, Network, NetworkError, Topology};
pub use param::{OptimiserKind, Parameterisation, Scheme};
