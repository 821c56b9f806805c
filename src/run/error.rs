//! Why a command did not complete, and its exit code.

use crate::circuit::CircuitError;
use crate::run::sweep::GridError;

/// Why a command did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad input: circuit, data, weights or flags (exit code 2); nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// A circuit file or `--set` override the loader rejected (exit code 2).
    #[error(transparent)]
    Circuit(#[from] CircuitError),
    /// A bad sweep list or shard (exit code 2).
    #[error(transparent)]
    Grid(#[from] GridError),
    /// The run failed after it started (exit code 1); the report says where.
    #[error("{0}")]
    Failed(String),
}

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Invalid(_) | RunError::Circuit(_) | RunError::Grid(_) => 2,
            RunError::Failed(_) => 1,
        }
    }
}
