//! Time and energy of a training step (MODEL.md §5): the PC chip
//! (clamp → relax → readout → update) against sequential backprop on the same
//! crossbars and, optionally, against a digital accelerator.
//!
//! - [`config`]: the constants ([`TimingConfig`], [`DigitalAccelerator`]) and `validate`.
//! - [`geometry`]: widths and tile size → tiles, devices and activity nodes per layer.
//! - [`pc`]: [`pc_step`]; [`bp`]: [`bp_step`], [`digital_bp_step`]; the shared
//!   update lives in `update.rs`.
//! - [`cost`]: [`StepCost`], [`Phase`], [`EnergySources`], [`Comparison`].
//! - [`attention`]: the controller's digital attention of a transformer block
//!   (issue #24): its work, its sampled-data loop and the delay it imposes.
//!
//! The relaxation time is an input, measured by the simulator; this module
//! never estimates it. It knows nothing of the network's values, only its shape.
//! Equations, constants and sources: `docs/timing.md`.

pub mod attention;
pub mod bp;
pub mod config;
pub mod cost;
pub mod geometry;
pub mod pc;
mod update;

#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod tests;

pub use bp::{bp_pipelined_step, bp_step, digital_bp_step, flow_shop_makespan};
pub use config::{DigitalAccelerator, TimingConfig, TimingError};
pub use cost::{Comparison, EnergySources, Phase, StepCost};
pub use geometry::{ArraySpec, ChipGeometry, LayerGeometry, DEVICES_PER_WEIGHT};
pub use pc::{pc_step, relax_power_pj_per_ns};
