//! A request from outside to stop the computation in progress: the Python
//! package sets it when Ctrl-C arrives while the library works. At their
//! next check a relaxation stops with [`StopReason::Interrupted`], the
//! fixed-point solver ends its iterations (its samples then count as not
//! converged), and a training run returns its partial report. The command
//! line never sets it (Ctrl-C ends the process there). The request is
//! process-wide; whoever sets it clears it with [`clear`] before the next
//! computation.
//!
//! [`StopReason::Interrupted`]: crate::relax::StopReason::Interrupted

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks the computation in progress to stop at its next check.
pub fn request() {
    REQUESTED.store(true, Ordering::SeqCst);
}

/// Withdraws the request.
pub fn clear() {
    REQUESTED.store(false, Ordering::SeqCst);
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}
