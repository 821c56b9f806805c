//! Long computations off the Python thread: the work runs on a worker
//! thread while the calling thread waits without the GIL, waking every
//! 50 ms to forward the worker's messages (progress lines) and to check for
//! Ctrl-C. On Ctrl-C the library is asked to stop ([`pcchip::interrupt`]),
//! the worker finishes at its next check, and the `KeyboardInterrupt` is
//! raised; a panic in the worker becomes a `RunError`, never an abort.

use crate::errors::{to_py, RunError as PyRunError};
use pcchip::run::RunError;
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::Duration;

/// How often the waiting thread wakes to check for signals.
const POLL: Duration = Duration::from_millis(50);

/// Runs `work` on a worker thread (GIL released), passing each message it
/// sends to `on_message` on the calling thread (GIL held).
pub fn interruptible<R: Send>(
    py: Python<'_>,
    work: impl FnOnce(&Sender<String>) -> Result<R, RunError> + Send,
    mut on_message: impl FnMut(Python<'_>, String),
) -> PyResult<R> {
    pcchip::interrupt::clear();
    let (tx, rx) = channel::<String>();
    let outcome = std::thread::scope(|s| {
        let handle = s.spawn(move || catch_unwind(AssertUnwindSafe(|| work(&tx))));
        let mut rx: Receiver<String> = rx;
        let mut interrupted: Option<PyErr> = None;
        loop {
            let (back, messages) = py.detach(move || {
                let mut got = Vec::new();
                if let Ok(m) = rx.recv_timeout(POLL) {
                    got.push(m);
                    got.extend(rx.try_iter());
                }
                (rx, got)
            });
            rx = back;
            for m in messages {
                on_message(py, m);
            }
            if handle.is_finished() {
                break;
            }
            if interrupted.is_none() {
                if let Err(e) = py.check_signals() {
                    pcchip::interrupt::request();
                    interrupted = Some(e);
                }
            }
        }
        for m in rx.try_iter() {
            on_message(py, m);
        }
        (handle.join(), interrupted)
    });
    pcchip::interrupt::clear();
    match outcome {
        (_, Some(e)) => Err(e),
        (Ok(Ok(result)), None) => result.map_err(to_py),
        (Ok(Err(panic)) | Err(panic), None) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown cause".into());
            Err(PyRunError::new_err(format!(
                "internal error (a bug in pcchip, please report it): {what}"
            )))
        }
    }
}
