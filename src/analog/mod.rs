//! Analog crossbar cores and their periphery (MODEL.md §4).
//!
//! One circuit element per file: [`device`] (one resistive device and its
//! non-idealities), [`mapping`] (weights ↔ differential conductance pairs),
//! [`tile`] (physical array size), [`crossbar`] (a programmed array computing
//! W·v and Wᵀ·u), [`converter`] (DAC/ADC at the chip's edges).
//! This module knows nothing of predictive coding. docs/devices.md gives the
//! device model and the presets' sources.

pub mod converter;
pub mod crossbar;
pub mod device;
pub mod drift;
pub mod mapping;
pub mod pulses;
pub mod tile;

pub use converter::{Converter, ConverterConfig};
pub use crossbar::{Crossbar, CrossbarConfig, CrossbarState, CrossbarStats};
pub use device::{DeviceConfig, DevicePreset};
pub use drift::DriftClock;
pub use mapping::{Mapping, MappingConfig};
pub use pulses::{PulseCount, PulseSpec};
pub use tile::TileConfig;
