//! What a training step costs: [`StepCost`] (total and per [`Phase`]) and the
//! [`Comparison`] of the PC chip with the backprop baselines.
//!
//! Phases are computed in ns and pJ and converted to s and J here, at the
//! report boundary. This file knows no physics: only sums and ratios.

use super::bp::{bp_pipelined_step, bp_step, digital_bp_step};
use super::config::TimingConfig;
use super::geometry::ChipGeometry;
use super::pc::pc_step;
use serde::{Deserialize, Serialize};

/// One phase of a step (`"clamp"`, `"relax"`, `"readout"`, `"update"`, …).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// The phase's name.
    pub name: String,
    /// Wall-clock time of the phase for the whole batch, s.
    pub time_s: f64,
    /// Energy of the phase for the whole batch, J.
    pub energy_j: f64,
}

impl Phase {
    /// A phase from its time in ns and energy in pJ.
    pub fn from_ns_pj(name: &str, time_ns: f64, energy_pj: f64) -> Self {
        Phase {
            name: name.to_string(),
            time_s: time_ns * 1e-9,
            energy_j: energy_pj * 1e-12,
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
    /// The phases, in the order they run.
    pub phases: Vec<Phase>,
}

impl StepCost {
    /// Sums sequential phases.
    pub fn from_phases(phases: Vec<Phase>) -> Self {
        StepCost {
            time_s: phases.iter().map(|p| p.time_s).sum(),
            energy_j: phases.iter().map(|p| p.energy_j).sum(),
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
