//! The exceptions the package raises, and the library's errors mapped onto
//! them with the command line's messages: bad input (exit code 2 on the
//! command line) is an `InputError` (a `ValueError`), a circuit file or
//! override the loader rejected a `CircuitError` (an `InputError`), a run
//! that failed after it started (exit code 1) a `RunError` (a
//! `RuntimeError`).

use pcchip::run::RunError as LibError;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::PyErr;

create_exception!(
    pcchip,
    InputError,
    PyValueError,
    "Invalid input: a circuit, data, weights or array the chip cannot take. The message names the file, line and key, or the array."
);
create_exception!(
    pcchip,
    CircuitError,
    InputError,
    "A circuit file or override the loader rejected (the message names the file, line, column and key)."
);
create_exception!(
    pcchip,
    RunError,
    PyRuntimeError,
    "A computation that failed after it started (for example a relaxation that diverged); the message says where."
);

/// The library's error as the matching exception, with its message.
pub fn to_py(e: LibError) -> PyErr {
    let message = e.to_string();
    match e {
        LibError::Circuit(_) => CircuitError::new_err(message),
        LibError::Invalid(_) | LibError::Grid(_) => InputError::new_err(message),
        LibError::Failed(_) => RunError::new_err(message),
    }
}

/// An `InputError` with `message`.
pub fn input(message: impl Into<String>) -> PyErr {
    InputError::new_err(message.into())
}
