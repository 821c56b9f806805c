//! The one floating-point dispatch: every command that runs the chip (run,
//! resume, bench, grads, relax, sweep, check) states its work once, generic
//! over the scalar type, as a [`Job`], and [`dispatch`] runs it at the
//! circuit's [`DType`].

use crate::circuit::DType;
use crate::real::Real;

/// Work generic over the scalar type `T` (f32 or f64).
pub trait Job {
    /// What the work returns, the same for every `T`.
    type Output;
    /// Does the work in `T`.
    fn call<T: Real>(self) -> Self::Output;
}

/// Runs `job` in the scalar type `dtype` names.
pub fn dispatch<J: Job>(dtype: DType, job: J) -> J::Output {
    match dtype {
        DType::F32 => job.call::<f32>(),
        DType::F64 => job.call::<f64>(),
    }
}
