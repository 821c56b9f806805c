//! A [`Chip`]: the network's layers as programmed crossbars, the relaxation
//! circuit and the digital controller. One training step is
//! clamp → relax → read → update (MODEL.md §4):
//!
//! 1. clamp x and y through the DACs, start from the feedforward state;
//! 2. relax all hidden layers at once (the circuit's ODE, [`crate::relax`]);
//! 3. read ε_ℓ and φ(z_{ℓ−1}) through the ADCs and form the local gradients;
//! 4. optimiser step and programming of the conductance changes.
//!
//! Random streams (all from the circuit's seed): 0 initial weights,
//! 1 programming and writes, 2 relaxation noise.

pub mod dataset;
mod step;

pub use step::{EvalRecord, StepRecord};

use crate::analog::{Converter, Crossbar, CrossbarConfig};
use crate::circuit::{Circuit, Order, Programming};
use crate::controller::Optimiser;
use crate::net::{Network, Parameterisation, Topology};
use crate::operator::WeightOperator;
use crate::real::Real;
use crate::relax::{Dynamics, Field, FieldSpec};
use crate::timing::{ChipGeometry, Comparison, Phase, StepCost};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Why a chip could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum ChipError {
    /// The circuit does not fit the data or the network (exit code 2).
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// The relaxation failed (exit code 1).
    #[error(transparent)]
    Relax(#[from] crate::relax::RelaxError),
    /// A quantity of the step turned NaN or infinite (exit code 1).
    #[error("{0}; the run stops here (the report keeps the steps before)")]
    NonFinite(String),
}

impl ChipError {
    fn invalid(key: &str, message: impl ToString) -> Self {
        ChipError::Invalid {
            key: key.into(),
            message: message.to_string(),
        }
    }
}

/// Seeded stream `k` of the circuit's seed.
pub fn stream(seed: u64, k: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(k);
    rng
}

/// The simulated chip and its controller state.
pub struct Chip<T: Real> {
    pub circuit: Circuit,
    pub topology: Topology,
    pub param: Parameterisation,
    /// One crossbar a layer, W_1 … W_L.
    pub cores: Vec<Crossbar<T>>,
    pub optimiser: Optimiser<T>,
    pub geometry: ChipGeometry,
    dac: Converter,
    adc: Converter,
    /// Programming and write noise.
    pub rng_write: ChaCha8Rng,
    /// Relaxation (node) noise.
    pub rng_noise: ChaCha8Rng,
    /// Training steps taken.
    pub step: usize,
    /// The damping in force for inertial dynamics (resolved when automatic).
    pub damping: Option<f64>,
    /// Per-layer time constants chosen by `tau_rule = "auto"` (resolved by
    /// [`Chip::preflight`], fixed afterwards like the capacitors they model).
    pub tau_rel_auto: Option<Vec<f64>>,
}

impl<T: Real> Chip<T> {
    /// Builds the chip for data of `d_in` inputs and `d_out` outputs,
    /// from given raw weights or the parameterisation's initialisation.
    pub fn build(
        circuit: &Circuit,
        d_in: usize,
        d_out: usize,
        weights: Option<Vec<DMatrix<T>>>,
    ) -> Result<Self, ChipError> {
        let n = &circuit.network;
        let mut widths = vec![d_in];
        if n.hidden_widths.is_empty() {
            widths.extend(std::iter::repeat_n(n.width, n.depth - 1));
        } else {
            widths.extend(&n.hidden_widths);
        }
        widths.push(d_out);
        let topology = Topology {
            widths,
            activation: n.activation,
            skips: n.skips,
            loss: n.loss,
            lambda: n.output_precision,
        };
        topology
            .validate()
            .map_err(|m| ChipError::invalid("network", m))?;
        let param = circuit.parameterisation.for_topology(n.skips);
        let net = match weights {
            Some(w) => Network::from_weights(topology.clone(), param, w)
                .map_err(|m| ChipError::invalid("weights", m))?,
            None => Network::init(topology.clone(), param, &mut stream(circuit.seed, 0)),
        };
        let mut rng_write = stream(circuit.seed, 1);
        let xb_cfg = CrossbarConfig {
            device: circuit.device.clone(),
            mapping: circuit.mapping.clone(),
            tile: circuit.tile.clone(),
        };
        let cores = net
            .weights
            .iter()
            .map(|w| Crossbar::program(w, &xb_cfg, &mut rng_write))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| ChipError::invalid("device", m))?;
        let c = &circuit.controller;
        let lr = (1..=topology.depth())
            .map(|l| c.lr * param.lr_factor(c.optimiser, &topology.widths, l))
            .collect();
        let shapes: Vec<_> = net.weights.iter().map(|w| w.shape()).collect();
        let optimiser = Optimiser::new(
            c.optimiser,
            lr,
            (c.momentum, c.beta1, c.beta2, c.eps),
            &shapes,
        );
        let geometry = ChipGeometry::new(&topology.widths, circuit.tile.rows, circuit.tile.cols)
            .map_err(|e| ChipError::invalid("tile", e.to_string()))?;
        let conv = |cfg, key: &str| Converter::new(cfg).map_err(|m| ChipError::invalid(key, m));
        Ok(Chip {
            dac: conv(&circuit.periphery.dac, "periphery.dac")?,
            adc: conv(&circuit.periphery.adc, "periphery.adc")?,
            circuit: circuit.clone(),
            topology,
            param,
            cores,
            optimiser,
            geometry,
            rng_write,
            rng_noise: stream(circuit.seed, 2),
            step: 0,
            damping: circuit.dynamics.damping,
            tau_rel_auto: None,
        })
    }

    /// Number of weight layers L.
    pub fn depth(&self) -> usize {
        self.topology.depth()
    }

    /// The mathematical network with the arrays' effective weights.
    pub fn network(&self) -> Network<T> {
        let w = self
            .cores
            .iter()
            .map(|c| c.effective_weights().clone())
            .collect();
        Network::from_weights(self.topology.clone(), self.param, w).expect("shapes of the chip")
    }

    /// The relaxation's vector field over the crossbars for a clamped batch.
    pub fn field(&self, x: DMatrix<T>, y: DMatrix<T>) -> Field<'_, T> {
        let cores = self
            .cores
            .iter()
            .map(|c| c as &dyn WeightOperator<T>)
            .collect();
        let gain = self.circuit.dynamics.opamp_gain;
        let leak = T::of(if gain > 0.0 { 1.0 / gain } else { 0.0 });
        let net_spec = FieldSpec::new(&self.topology, &self.param, leak);
        Field::new(cores, net_spec, x, y)
    }

    /// The relaxation dynamics in force.
    pub fn dynamics(&self) -> Dynamics {
        match self.circuit.dynamics.order {
            Order::FirstOrder => Dynamics::FirstOrder,
            Order::Inertial => Dynamics::Inertial {
                damping: self.damping.unwrap_or(0.0),
                mass: self.circuit.dynamics.mass,
            },
        }
    }

    /// τ_ℓ/τ for the hidden layers: the manual list, the automatic rule's
    /// (once resolved by [`Chip::preflight`]), or all 1.
    pub fn tau_rel(&self) -> Vec<f64> {
        let t = &self.circuit.dynamics.tau_rel;
        if !t.is_empty() {
            t.clone()
        } else if let Some(a) = &self.tau_rel_auto {
            a.clone()
        } else {
            vec![1.0; self.depth() - 1]
        }
    }

    /// Clamps a batch through the DACs (returns the number of saturated conversions).
    pub fn clamp(&self, x: &mut DMatrix<T>, y: &mut DMatrix<T>) -> usize {
        self.dac.quantize_matrix(x) + self.dac.quantize_matrix(y)
    }

    /// The feedforward (inference) read f(x) through the arrays, the output
    /// digitised by the ADCs.
    pub fn forward(&self, x: &DMatrix<T>) -> DMatrix<T> {
        let mut x = x.clone();
        self.dac.quantize_matrix(&mut x);
        let y = DMatrix::zeros(*self.topology.widths.last().expect("widths"), x.ncols());
        let field = self.field(x.clone(), y);
        let z = field.feedforward();
        let l = self.depth();
        let act = self.topology.activation;
        let pre = if l == 1 { x } else { act.of_matrix(&z[l - 2]) };
        let mut out = DMatrix::zeros(self.topology.widths[l], pre.ncols());
        self.cores[l - 1].forward_into(&pre, &mut out);
        out *= T::of(self.param.multipliers(&self.topology.widths)[l - 1]);
        self.adc.quantize_matrix(&mut out);
        out
    }

    /// Applies the weight changes as the circuit programs them; returns the
    /// number of saturated device writes.
    pub fn program(&mut self, delta: &[DMatrix<T>]) -> usize {
        let c = &self.circuit.controller;
        let spec = crate::analog::PulseSpec {
            dg_us: c.pulse_dg_us,
            max_pulses: c.max_pulses,
            noise_rel: c.pulse_noise_rel,
        };
        let mut n_sat = 0;
        for (core, d) in self.cores.iter_mut().zip(delta) {
            n_sat += match c.programming {
                Programming::Ideal => core.program_update(d, &mut self.rng_write),
                Programming::Pulsed => {
                    core.program_pulses(d, &spec, &mut self.rng_write)
                        .n_saturated
                }
            };
        }
        n_sat
    }

    /// Time and energy of one step with a measured relaxation time, against
    /// sequential backprop. The PC step also pays for its starting point:
    /// the feedforward initialisation is one sequential forward pass ("init").
    pub fn cost(&self, batch: usize, t_relax_s: f64) -> Comparison {
        let mut c = Comparison::new(&self.circuit.timing, &self.geometry, batch, t_relax_s);
        if let Some(fwd) = c.bp.phase("forward").cloned() {
            let mut phases = vec![Phase {
                name: "init".into(),
                ..fwd
            }];
            phases.extend(c.pc.phases.iter().cloned());
            c.pc = StepCost::from_phases(phases);
            c.speedup = c.bp.time_s / c.pc.time_s;
            c.speedup_pipelined = c.bp_pipelined.as_ref().map(|p| p.time_s / c.pc.time_s);
            c.energy_ratio = c.bp.energy_j / c.pc.energy_j;
            if let Some(d) = &c.digital {
                c.digital_speedup = Some(d.time_s / c.pc.time_s);
                c.digital_energy_ratio = Some(d.energy_j / c.pc.energy_j);
            }
        }
        c
    }

    /// Devices stuck at either bound, over all arrays.
    pub fn n_stuck(&self) -> usize {
        self.cores
            .iter()
            .map(|c| {
                let s = c.stats();
                s.n_stuck_at_min + s.n_stuck_at_max
            })
            .sum()
    }

    /// Weights saturated at programming and in updates so far, over all arrays.
    pub fn n_saturated(&self) -> usize {
        self.cores
            .iter()
            .map(|c| {
                let s = c.stats();
                s.n_saturated_program + s.n_saturated_update
            })
            .sum()
    }
}
