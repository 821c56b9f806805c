//! [`ChipConfig`]: the circuit resolved once into what a built chip reads
//! while it runs. The rest of the circuit (network, device, mapping, tile,
//! periphery, controller) is consumed when the chip is built, into its
//! crossbars, converters and controller; the chip does not keep the circuit.

use crate::circuit::{Circuit, DynamicsSpec};
use crate::relax::{FixedPointSettings, RelaxConfig};
use crate::timing::TimingConfig;

/// What the chip reads of its circuit after it is built.
#[derive(Clone, Debug, PartialEq)]
pub struct ChipConfig {
    /// Seed of every random stream (0 weights, 1 writes, 2 node noise).
    pub seed: u64,
    /// The relaxation circuit: τ (s), order, damping, mass, op-amp gain, τ_ℓ.
    pub dynamics: DynamicsSpec,
    /// How the relaxation is integrated and stopped.
    pub relax: RelaxConfig,
    /// How the equilibrium is found where only the fixed point matters.
    pub equilibrium: FixedPointSettings,
    /// Time and energy constants of the chip and its backprop baseline.
    pub timing: TimingConfig,
    /// Whether recorded relaxations trace the cosine to the backprop gradient.
    pub trace_alignment: bool,
    /// The chip's loop delay d (ns), set or derived ([`Circuit::loop_delay_ns`]).
    pub loop_delay_ns: f64,
    /// Whether the relaxation simulates it ([`Circuit::simulates_loop_delay`]).
    pub simulate_delay: bool,
    /// A transformer's attention shape and the ADCs of a block's tiles
    /// ([`Circuit::attention_shape`]), for the controller's share of the cost.
    pub attention: Option<(crate::timing::attention::AttentionShape, usize)>,
}

impl ChipConfig {
    /// The part of `circuit` a running chip needs.
    pub fn of(circuit: &Circuit) -> Self {
        ChipConfig {
            seed: circuit.seed,
            dynamics: circuit.dynamics.clone(),
            relax: circuit.relax.clone(),
            equilibrium: circuit.equilibrium.clone(),
            timing: circuit.timing.clone(),
            trace_alignment: circuit.record.trace_alignment,
            loop_delay_ns: circuit.loop_delay_ns(),
            simulate_delay: circuit.simulates_loop_delay(),
            attention: circuit.attention_shape(),
        }
    }

    /// The loop delay the relaxation simulates, in units of τ (0 when it
    /// does not).
    pub fn loop_delay_tau(&self) -> f64 {
        match self.simulate_delay {
            true => self.loop_delay_ns * 1e-9 / self.dynamics.tau_s,
            false => 0.0,
        }
    }

    /// Integrator leak g_leak = 1/A of an op-amp of DC gain A (per τ; 0 when ideal).
    pub fn leak(&self) -> f64 {
        let gain = self.dynamics.opamp_gain;
        if gain > 0.0 {
            1.0 / gain
        } else {
            0.0
        }
    }
}
