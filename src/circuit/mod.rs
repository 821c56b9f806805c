//! The circuit file: schema (serde), the device preset, `--set` overrides,
//! and validation with `file:line:column: key: message` errors. This is the
//! only place that knows about TOML text positions.

pub mod budget;
pub mod load;
pub mod schema;
pub mod validate;

pub use load::{load, parse, CircuitError};
pub use schema::*;
pub use validate::{dynamics_of, dynamics_with};
