//! What a training step costs: [`StepCost`] (total, per [`Phase`] and per
//! source of energy, [`EnergySources`]) and the [`Comparison`] of the PC
//! chip with the backprop baselines.
//!
//! Phases are computed in ns and pJ and converted to s and J here, at the
//! report boundary. A phase's energy is the sum of its sources by
//! construction ([`Phase::new`]); each source is charged from its own
//! constants only (tested by zeroing the others). This file knows no
//! physics: only sums and ratios.

use super::bp::{bp_pipelined_step, bp_step, digital_bp_step};
use super::config::TimingConfig;
use super::geometry::ChipGeometry;
use super::pc::pc_step;
use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign};

/// Where a step's energy goes (J in reports; the costing builds it in pJ).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnergySources {
    /// The crossbars conducting: `e_mac_pj` per weight per settling time.
    pub arrays: f64,
    /// DAC and ADC conversions (`e_dac_pj`, `e_adc_pj`).
    pub converters: f64,
    /// Bias of the activity nodes (integrators, error units) while they
    /// relax: `p_node_uw` per node.
    pub node_bias: f64,
    /// Digital work: partial sums, φ/φ′, the outer products of the update
    /// (`e_digital_op_pj`, `e_digital_mac_pj`) and a digital accelerator.
    pub digital: f64,
    /// Programming pulses (`e_write_pulse_pj`).
    pub programming: f64,
}

impl EnergySources {
    /// The sum of the parts.
    pub fn total(&self) -> f64 {
        self.arrays + self.converters + self.node_bias + self.digital + self.programming
    }

    /// Every part times `k`.
    pub fn scaled(self, k: f64) -> Self {
        EnergySources {
            arrays: k * self.arrays,
            converters: k * self.converters,
            node_bias: k * self.node_bias,
            digital: k * self.digital,
            programming: k * self.programming,
        }
    }

    /// The parts as `(name, value)`, in a fixed order.
    pub fn named(&self) -> [(&'static str, f64); 5] {
        [
            ("arrays", self.arrays),
            ("converters", self.converters),
            ("node_bias", self.node_bias),
            ("digital", self.digital),
            ("programming", self.programming),
        ]
    }
}

impl Add for EnergySources {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        EnergySources {
            arrays: self.arrays + o.arrays,
            converters: self.converters + o.converters,
            node_bias: self.node_bias + o.node_bias,
            digital: self.digital + o.digital,
            programming: self.programming + o.programming,
        }
    }
}

impl AddAssign for EnergySources {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

/// One phase of a step (`"clamp"`, `"relax"`, `"readout"`, `"update"`, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// The phase's name.
    pub name: String,
    /// Wall-clock time of the phase for the whole batch, s.
    pub time_s: f64,
    /// Energy of the phase for the whole batch, J (the sum of `sources`).
    pub energy_j: f64,
    /// The same energy by source, J.
    #[serde(default)]
    pub sources: EnergySources,
}

impl Phase {
    /// A phase from its time in ns and its energy by source in pJ.
    pub fn new(name: &str, time_ns: f64, energy_pj: EnergySources) -> Self {
        let sources = energy_pj.scaled(1e-12);
        Phase {
            name: name.to_string(),
            time_s: time_ns * 1e-9,
            energy_j: sources.total(),
            sources,
        }
    }
}

/// Time and energy of one training step (one batch); phases run one after another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepCost {
    /// Sum of the phases' times, s.
    pub time_s: f64,
    /// Sum of the phases' energies, J.
    pub energy_j: f64,
    /// The same energy by source, summed over the phases, J.
    #[serde(default)]
    pub sources: EnergySources,
    /// The phases, in the order they run.
    pub phases: Vec<Phase>,
}

impl StepCost {
    /// Sums sequential phases.
    pub fn from_phases(phases: Vec<Phase>) -> Self {
        StepCost {
            time_s: phases.iter().map(|p| p.time_s).sum(),
            energy_j: phases.iter().map(|p| p.energy_j).sum(),
            sources: phases
                .iter()
                .fold(EnergySources::default(), |a, p| a + p.sources),
            phases,
        }
    }

    /// The phase called `name`, if any.
    pub fn phase(&self, name: &str) -> Option<&Phase> {
        self.phases.iter().find(|p| p.name == name)
    }
}

/// The PC chip against sequential backprop on the same crossbars, and
/// optionally against a digital accelerator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The PC chip's step.
    pub pc: StepCost,
    /// Sequential backprop on the same crossbars.
    pub bp: StepCost,
    /// t_BP / t_PC (> 1: PC is faster).
    pub speedup: f64,
    /// E_BP / E_PC (> 1: PC uses less energy).
    pub energy_ratio: f64,
    /// Layer-pipelined backprop on the same crossbars (same energy as `bp`).
    #[serde(default)]
    pub bp_pipelined: Option<StepCost>,
    /// t_BP,pipelined / t_PC (> 1: PC is faster).
    #[serde(default)]
    pub speedup_pipelined: Option<f64>,
    /// Backprop on the digital accelerator, when one is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digital: Option<StepCost>,
    /// t_digital / t_PC, when a digital accelerator is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digital_speedup: Option<f64>,
    /// E_digital / E_PC, when a digital accelerator is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digital_energy_ratio: Option<f64>,
}

impl Comparison {
    /// Costs a batch of `batch` samples with a measured relaxation time
    /// `t_relax_s` (per round, s) on every configured system. A batch of 0
    /// costs nothing and gives NaN ratios.
    pub fn new(cfg: &TimingConfig, geom: &ChipGeometry, batch: usize, t_relax_s: f64) -> Self {
        let pc = pc_step(cfg, geom, batch, t_relax_s);
        let bp = bp_step(cfg, geom, batch);
        let pipe = bp_pipelined_step(cfg, geom, batch);
        let digital = cfg
            .digital
            .as_ref()
            .map(|d| digital_bp_step(d, geom, batch));
        Comparison {
            speedup: bp.time_s / pc.time_s,
            energy_ratio: bp.energy_j / pc.energy_j,
            speedup_pipelined: Some(pipe.time_s / pc.time_s),
            bp_pipelined: Some(pipe),
            digital_speedup: digital.as_ref().map(|d| d.time_s / pc.time_s),
            digital_energy_ratio: digital.as_ref().map(|d| d.energy_j / pc.energy_j),
            pc,
            bp,
            digital,
        }
    }
}
