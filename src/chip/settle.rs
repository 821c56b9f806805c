//! [`Chip::settle`]: the one relaxation of a clamped batch, from the
//! feedforward state, that the training step, `pcchip relax`, `pcchip grads`,
//! the sweep and the bench all call. It returns the relaxation and the
//! signals the controller reads, taken from the field's last evaluation
//! (the final state: the relaxation's last stopping check evaluated there),
//! with the feedforward output read on the way (one feedforward pass).
//! [`Chip::equilibrate`] is its counterpart where only the fixed point
//! matters: the same field's equilibrium by the `[equilibrium]` solver.

use super::{Chip, ChipError};
use crate::analog::Converter;
use crate::controller::read_weight_grads;
use crate::real::{cosine, Real};
use crate::relax::{fixed_point, relax, Field, FixedPoint, Relaxation, Signals, System};
use nalgebra::DMatrix;
use rand_chacha::ChaCha8Rng;

/// Whether a relaxation records its trace, and the backprop gradient the
/// trace's cosine is measured against.
#[derive(Clone, Copy, Debug)]
pub enum TraceRequest<'r, T: Real> {
    /// No trace (the circuit's `trace_every_tau` is ignored).
    Off,
    /// The circuit's trace, with the cosine to `reference` when given.
    On { reference: Option<&'r [DMatrix<T>]> },
}

/// A relaxed batch.
pub struct Settled<T: Real> {
    /// The relaxation: final activities, stop rule, counters, trace.
    pub relaxation: Relaxation<T>,
    /// What the controller reads at the final state (before the ADCs).
    pub signals: Signals<T>,
    /// The feedforward output μ_L at the start (before the ADCs), n_out × B.
    pub feedforward_output: DMatrix<T>,
}

impl<T: Real> Chip<T> {
    /// Relaxes the batch (x, y), used as given (clamp it first with
    /// [`Chip::clamp`] to model the DACs), from the feedforward state with
    /// the circuit's relaxation settings and node noise from `rng`.
    pub fn settle(
        &self,
        x: &DMatrix<T>,
        y: &DMatrix<T>,
        trace: TraceRequest<'_, T>,
        rng: &mut ChaCha8Rng,
    ) -> Result<Settled<T>, ChipError> {
        let mut cfg = self.config.relax.clone();
        let reference = match trace {
            TraceRequest::Off => {
                cfg.trace_every_tau = 0.0;
                None
            }
            TraceRequest::On { reference } => reference,
        };
        let (dynamics, tau_rel) = (self.dynamics(), self.tau_rel());
        let mut field = self.field(x.clone(), y.clone());
        let (z0, feedforward_output) = field.feedforward_with_output();
        let mut sys = System::new(&mut field, dynamics, tau_rel)
            .with_loop_delay(self.config.loop_delay_tau());
        if reference.is_some() || cfg.update_tol > 0.0 {
            // The trace's alignment of the gradient the controller applies,
            // and the update-direction rule on what the controller reads.
            let (layers, adc) = (self.layers(), *self.controller.adc());
            sys = sys.with_applied_gradient(Box::new(move |s| {
                read_weight_grads(s, &layers, &adc).grads
            }));
        }
        let relaxation = relax(&mut sys, z0, &cfg, rng, reference)?;
        let signals = field.signals(relaxation.activities());
        Ok(Settled {
            relaxation,
            signals,
            feedforward_output,
        })
    }
}

/// A batch's equilibrium found by the fixed-point solver.
pub struct Equilibrated<T: Real> {
    /// The solve: activities, convergence, iteration counts.
    pub fixed_point: FixedPoint<T>,
    /// What the controller reads at the equilibrium (before the ADCs).
    pub signals: Signals<T>,
}

impl<T: Real> Chip<T> {
    /// The equilibrium of the batch (x, y), used as given, on the chip's
    /// field (effective weights, integrator leak) by the circuit's
    /// `[equilibrium]` settings: no dynamics, no node noise, no loop delay
    /// (none of them moves a noiseless fixed point). A computation of the
    /// simulator, not of the chip: it reads copies of the arrays' effective
    /// weights, and the chip's array-read counters do not move.
    pub fn equilibrate(&self, x: &DMatrix<T>, y: &DMatrix<T>) -> Equilibrated<T> {
        let net = self.network();
        let leak = T::of(self.config.leak());
        let mut field = Field::of_network_with_leak(&net, leak, x.clone(), y.clone());
        let fixed_point = fixed_point::solve(&field, &self.config.equilibrium);
        // The signals are the field's last evaluation: evaluate it there.
        let mut scratch = field.hidden_zeros();
        field.force(&fixed_point.activities, &mut scratch);
        let signals = field.signals(&fixed_point.activities);
        Equilibrated {
            fixed_point,
            signals,
        }
    }
}

impl<T: Real> Chip<T> {
    /// The cosines with `bp` of the PC weight gradient at the exact
    /// equilibrium of (x, y) ([`Chip::equilibrate`]): as the controller
    /// reads it through the ADCs, and unquantised. The targets of the
    /// alignment times.
    pub fn equilibrium_cosines(
        &self,
        x: &DMatrix<T>,
        y: &DMatrix<T>,
        bp: &[DMatrix<T>],
    ) -> (f64, f64) {
        let eq = self.equilibrate(x, y);
        let applied = self.read(&eq.signals).grads;
        let exact = read_weight_grads(&eq.signals, &self.layers(), &Converter::ideal()).grads;
        (cosine(&applied, bp), cosine(&exact, bp))
    }
}
