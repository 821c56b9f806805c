//! The digital controller (MODEL.md §4): reads the errors and layer inputs
//! through the ADCs after the relaxation ([`Signals`], written by the
//! field), forms every layer's local weight gradient from them
//! ([`Layer::weight_grad`]; for dense layers the one formula of ∂F/∂W_ℓ,
//! [`crate::net::layer_weight_grad`]: −a_ℓ Λ_ℓ mean_b ε_ℓ φ(z_{ℓ−1})ᵀ), applies the optimiser with the parameterisation's
//! per-layer rates, and programs the conductance changes into the arrays
//! (ideal writes or quantised pulses), all layers in parallel.

pub mod optimiser;
pub mod schedule;

pub use optimiser::Optimiser;
pub use schedule::{Schedule, ScheduleKind};

use crate::analog::{Converter, Crossbar, PulseSpec};
use crate::circuit::Programming;
use crate::layer::Layer;
use crate::real::Real;
use crate::relax::Signals;
use nalgebra::DMatrix;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// The gradients the controller read, and the conversions that saturated.
pub struct Reading<T: Real> {
    /// ∂F/∂W_ℓ from the ADC-read signals, index ℓ − 1.
    pub grads: Vec<DMatrix<T>>,
    /// ADC conversions that saturated.
    pub n_saturated: usize,
}

/// Local weight gradients of `layers` from their `signals` read through
/// the ADC `adc`.
pub fn read_weight_grads<T: Real>(
    signals: &Signals<T>,
    layers: &[Box<dyn Layer<T> + '_>],
    adc: &Converter,
) -> Reading<T> {
    let out: Vec<(DMatrix<T>, usize)> = signals
        .layers
        .par_iter()
        .zip(layers.par_iter())
        .map(|(s, layer)| {
            let (mut eps, mut input) = (s.error.clone(), s.input.clone());
            let n_sat = adc.quantize_matrix(&mut eps) + adc.quantize_matrix(&mut input);
            (layer.weight_grad(&eps, &input, s.precision), n_sat)
        })
        .collect();
    let n_saturated = out.iter().map(|(_, s)| s).sum();
    Reading {
        grads: out.into_iter().map(|(g, _)| g).collect(),
        n_saturated,
    }
}

/// The controller: its ADC, optimiser and programming scheme.
#[derive(Clone, Debug)]
pub struct Controller<T: Real> {
    adc: Converter,
    optimiser: Optimiser<T>,
    programming: Programming,
    pulse: PulseSpec,
}

impl<T: Real> Controller<T> {
    /// A controller reading through `adc`, updating with `optimiser` and
    /// programming by `programming` (pulses of `pulse` when pulsed).
    pub fn new(
        adc: Converter,
        optimiser: Optimiser<T>,
        programming: Programming,
        pulse: PulseSpec,
    ) -> Self {
        Controller {
            adc,
            optimiser,
            programming,
            pulse,
        }
    }

    /// The ADC the controller reads through.
    pub fn adc(&self) -> &Converter {
        &self.adc
    }

    /// The optimiser and its state.
    pub fn optimiser(&self) -> &Optimiser<T> {
        &self.optimiser
    }

    /// The optimiser, for restoring a checkpoint.
    pub fn optimiser_mut(&mut self) -> &mut Optimiser<T> {
        &mut self.optimiser
    }

    /// Sets the schedule's horizon H (updates) when it has none.
    pub fn default_horizon(&mut self, total_steps: u64) {
        let s = &mut self.optimiser.schedule;
        if s.horizon == 0 {
            s.horizon = total_steps;
        }
    }

    /// Reads the relaxed signals of `layers` through the ADCs into weight gradients.
    pub fn read(&self, signals: &Signals<T>, layers: &[Box<dyn Layer<T> + '_>]) -> Reading<T> {
        read_weight_grads(signals, layers, &self.adc)
    }

    /// The optimiser's weight changes ΔW_ℓ for the gradients read.
    pub fn update(&mut self, grads: &[DMatrix<T>]) -> Vec<DMatrix<T>> {
        self.optimiser.step(grads)
    }

    /// Programs the changes `delta` into the arrays as the circuit programs
    /// them, drawing write noise from `rng`; returns the saturated writes.
    pub fn program(
        &self,
        cores: &mut [Crossbar<T>],
        delta: &[DMatrix<T>],
        rng: &mut ChaCha8Rng,
    ) -> usize {
        let mut n_sat = 0;
        for (core, d) in cores.iter_mut().zip(delta) {
            n_sat += match self.programming {
                Programming::Ideal => core.program_update(d, rng),
                Programming::Pulsed => core.program_pulses(d, &self.pulse, rng).n_saturated,
            };
        }
        n_sat
    }
}
