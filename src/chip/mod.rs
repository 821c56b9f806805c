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

pub mod config;
pub mod dataset;
pub mod preflight;
mod settle;
mod step;

pub use config::ChipConfig;
pub use preflight::{explicit_step_limit, DelayBound};
pub use settle::{Equilibrated, Settled, TraceRequest};
pub use step::{accuracy, EvalRecord, StepRecord};

use crate::analog::{Converter, Crossbar, CrossbarConfig, CrossbarState, PulseSpec};
use crate::circuit::{Circuit, NetworkKind};
use crate::controller::{Controller, Optimiser, Schedule};
use crate::layer::Layer;
use crate::net::{ArchError, GptSpec, Network, Parameterisation, ResNetSpec, Scheme, Topology};
use crate::operator::WeightOperator;
use crate::real::Real;
use crate::relax::{Dynamics, Field, FieldSpec};
use crate::timing::{ArraySpec, ChipGeometry, Comparison, Phase, StepCost};
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
    /// A restored array state that does not fit layer `layer`'s array.
    #[error("layer {layer}: {source}")]
    State {
        layer: usize,
        source: crate::analog::StateError,
    },
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

/// The network a circuit describes for data of `d_in` inputs and `d_out`
/// outputs: a dense chain, or the residual CNN (`network.kind = "resnet"`)
/// on the data's images.
pub fn topology_of(circuit: &Circuit, d_in: usize, d_out: usize) -> Result<Topology, ChipError> {
    let n = &circuit.network;
    let mut topology = match n.kind {
        NetworkKind::Mlp => {
            let mut widths = vec![d_in];
            if n.hidden_widths.is_empty() {
                widths.extend(std::iter::repeat_n(n.width, n.depth - 1));
            } else {
                widths.extend(&n.hidden_widths);
            }
            widths.push(d_out);
            Topology::uniform(d_in, n.width, d_out, n.depth)
                .with_skips(n.skips)
                .with_widths(widths)
        }
        NetworkKind::Resnet => {
            let Some(image) = n.image_of(circuit.data.source) else {
                return Err(ChipError::invalid(
                    "network.image",
                    "a resnet needs the image shape [C, H, W] of this data source",
                ));
            };
            if image.iter().product::<usize>() != d_in {
                return Err(ChipError::invalid(
                    "network.image",
                    format!(
                        "{image:?} is {} values a sample, but the data has {d_in} features",
                        image.iter().product::<usize>()
                    ),
                ));
            }
            let spec = ResNetSpec {
                image,
                channels: n.channels,
                blocks_per_stage: n.blocks_per_stage,
                stages: n.stages,
                kernel: n.kernel,
                n_out: d_out,
            };
            let (kinds, widths) = spec
                .layout()
                .map_err(|ArchError::Invalid { key, message }| ChipError::invalid(key, message))?;
            Topology::of_layers(kinds, widths, n.activation)
        }
        NetworkKind::Transformer => {
            let t = circuit.data.seq_len;
            let spec = GptSpec {
                vocab: d_out / t.max(1),
                seq_len: t,
                d_model: n.width,
                heads: n.n_heads,
                blocks: n.depth,
                mu_attention: circuit.parameterisation.scheme != Scheme::Sp,
                layer_norm: n.layer_norm,
            };
            if d_out != spec.vocab * t || d_in != t * (spec.vocab + t) {
                return Err(ChipError::invalid(
                    "data.seq_len",
                    format!("{d_in} inputs and {d_out} outputs are not the one-hot codes of {t} characters"),
                ));
            }
            let mut topology = Topology::gpt(&spec)
                .map_err(|ArchError::Invalid { key, message }| ChipError::invalid(key, message))?;
            topology.lambda = n.output_precision;
            return Ok(topology);
        }
    };
    topology.activation = n.activation;
    topology.loss = n.loss;
    topology.lambda = n.output_precision;
    Ok(topology)
}

/// Everything a training step changes in a chip, for checkpoints: the
/// arrays, the optimiser's moments and step count, the random streams, the
/// steps taken and the damping in force.
#[derive(Clone, Debug)]
pub struct ChipState<T: Real> {
    pub cores: Vec<CrossbarState>,
    /// First moments (SGD velocity or Adam m) and Adam's second moments.
    pub moments: (Vec<DMatrix<T>>, Vec<DMatrix<T>>),
    pub optimiser_t: u64,
    pub rng_write: ChaCha8Rng,
    pub rng_noise: ChaCha8Rng,
    pub step: usize,
    pub damping: Option<f64>,
    /// The derivative gain in force ("inertial-pd"; resolved when automatic).
    pub derivative: Option<f64>,
    /// The chip's simulated clock, s since the arrays were first programmed.
    pub clock_s: f64,
}

/// The simulated chip and its controller state.
pub struct Chip<T: Real> {
    config: ChipConfig,
    topology: Topology,
    param: Parameterisation,
    /// One crossbar a layer, W_1 … W_L.
    cores: Vec<Crossbar<T>>,
    controller: Controller<T>,
    geometry: ChipGeometry,
    dac: Converter,
    /// Programming and write noise.
    rng_write: ChaCha8Rng,
    /// Relaxation (node) noise.
    rng_noise: ChaCha8Rng,
    /// Training steps taken.
    step: usize,
    /// The damping in force for inertial dynamics (resolved when automatic).
    damping: Option<f64>,
    /// The derivative gain β in force for "inertial-pd" dynamics (resolved
    /// when automatic).
    derivative: Option<f64>,
    /// Per-layer time constants chosen by `tau_rule = "auto"` (resolved by
    /// [`Chip::preflight`], fixed afterwards like the capacitors they model).
    tau_rel_auto: Option<Vec<f64>>,
    /// The chip's simulated clock, s since the arrays were first programmed:
    /// each training step advances it by the step's time, and the arrays
    /// drift on it ([`crate::analog::drift`]).
    clock_s: f64,
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
        let topology = topology_of(circuit, d_in, d_out)?;
        topology
            .validate()
            .map_err(|m| ChipError::invalid("network", m))?;
        let param = circuit.parameterisation.for_topology(topology.skips);
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
            .map(|l| c.lr * param.lr_factor_of(c.optimiser, &topology, l))
            .collect();
        let shapes: Vec<_> = net.weights.iter().map(|w| w.shape()).collect();
        let mut optimiser = Optimiser::new(
            c.optimiser,
            lr,
            (c.momentum, c.beta1, c.beta2, c.eps),
            &shapes,
        );
        optimiser.schedule = Schedule {
            kind: c.lr_schedule,
            warmup_steps: c.warmup_steps,
            horizon: c.decay_steps,
            final_frac: c.lr_final_frac,
        };
        let arrays: Vec<ArraySpec> = (1..=topology.depth())
            .map(|l| {
                let (rows, cols) = topology.weight_shape(l);
                ArraySpec {
                    rows,
                    cols,
                    units_in: topology.widths[l - 1],
                    units_out: topology.widths[l],
                    reads_per_sample: topology.kind(l).reads_per_sample(),
                }
            })
            .collect();
        let geometry = ChipGeometry::of_arrays(&arrays, circuit.tile.rows, circuit.tile.cols)
            .map_err(|e| ChipError::invalid("tile", e.to_string()))?;
        let conv = |cfg, key: &str| Converter::new(cfg).map_err(|m| ChipError::invalid(key, m));
        let pulse = PulseSpec {
            dg_us: c.pulse_dg_us,
            max_pulses: c.max_pulses,
            noise_rel: c.pulse_noise_rel,
        };
        let adc = conv(&circuit.periphery.adc, "periphery.adc")?;
        Ok(Chip {
            dac: conv(&circuit.periphery.dac, "periphery.dac")?,
            controller: Controller::new(adc, optimiser, c.programming, pulse),
            config: ChipConfig::of(circuit),
            topology,
            param,
            cores,
            geometry,
            rng_write,
            rng_noise: stream(circuit.seed, 2),
            step: 0,
            damping: circuit.dynamics.damping,
            derivative: circuit.dynamics.derivative_gain,
            tau_rel_auto: None,
            clock_s: 0.0,
        })
    }

    /// What the chip reads of its circuit.
    pub fn config(&self) -> &ChipConfig {
        &self.config
    }

    /// The network's shape, activation, skips and loss.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The parameterisation in force (multipliers a_ℓ, learning-rate factors).
    pub fn param(&self) -> &Parameterisation {
        &self.param
    }

    /// The crossbars W_1 … W_L.
    pub fn cores(&self) -> &[Crossbar<T>] {
        &self.cores
    }

    /// The optimiser and its state.
    pub fn optimiser(&self) -> &Optimiser<T> {
        self.controller.optimiser()
    }

    /// Lets a schedule without `controller.decay_steps` decay over the
    /// run's `total_steps` updates.
    pub fn set_default_lr_horizon(&mut self, total_steps: usize) {
        self.controller.default_horizon(total_steps as u64);
    }

    /// Tiles and their layout.
    pub fn geometry(&self) -> &ChipGeometry {
        &self.geometry
    }

    /// Training steps taken.
    pub fn steps_taken(&self) -> usize {
        self.step
    }

    /// The damping in force for inertial dynamics (resolved when automatic).
    pub fn damping(&self) -> Option<f64> {
        self.damping
    }

    /// The derivative gain β in force for "inertial-pd" dynamics (resolved
    /// when automatic).
    pub fn derivative_gain(&self) -> Option<f64> {
        self.derivative
    }

    /// Batched products read from all arrays so far (forward and transposed).
    pub fn array_reads(&self) -> u64 {
        self.cores.iter().filter_map(|c| c.reads()).sum()
    }

    /// The chip's simulated clock, s since the arrays were first programmed.
    pub fn clock_s(&self) -> f64 {
        self.clock_s
    }

    /// Advances the clock by `dt_s` (s) with the chip idle, ageing the arrays.
    pub fn idle(&mut self, dt_s: f64) {
        self.clock_s += dt_s;
        self.age_arrays();
    }

    /// Ages every array to the present clock (their conductances drift).
    fn age_arrays(&mut self) {
        let t = self.clock_s;
        for c in &mut self.cores {
            c.age_to(t);
        }
    }

    /// The controller's reading of relaxed signals through the ADCs.
    pub fn read(&self, signals: &crate::relax::Signals<T>) -> crate::controller::Reading<T> {
        self.controller.read(signals, &self.layers())
    }

    /// A copy of the node-noise stream as the next relaxation draws from it.
    pub fn noise_stream(&self) -> ChaCha8Rng {
        self.rng_noise.clone()
    }

    /// The state a checkpoint saves.
    pub fn state(&self) -> ChipState<T> {
        let o = self.controller.optimiser();
        ChipState {
            cores: self.cores.iter().map(|c| c.state()).collect(),
            moments: (o.m.clone(), o.v.clone()),
            optimiser_t: o.t,
            rng_write: self.rng_write.clone(),
            rng_noise: self.rng_noise.clone(),
            step: self.step,
            damping: self.damping,
            derivative: self.derivative,
            clock_s: self.clock_s,
        }
    }

    /// Restores a checkpoint's state (shapes checked by the caller against
    /// [`Chip::cores`]); `Err` names the layer whose arrays refuse it.
    pub fn restore(&mut self, s: ChipState<T>) -> Result<(), ChipError> {
        for (i, (core, c)) in self.cores.iter_mut().zip(s.cores).enumerate() {
            core.set_state(c).map_err(|source| ChipError::State {
                layer: i + 1,
                source,
            })?;
        }
        let o = self.controller.optimiser_mut();
        (o.m, o.v) = s.moments;
        o.t = s.optimiser_t;
        self.rng_write = s.rng_write;
        self.rng_noise = s.rng_noise;
        self.step = s.step;
        self.damping = s.damping;
        self.derivative = s.derivative;
        self.clock_s = s.clock_s;
        Ok(())
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

    /// ℒ and its backprop gradient on the arrays' effective weights for the
    /// batch (x, y) used as given: the reference of the PC gradients.
    pub fn backprop(&self, x: &DMatrix<T>, y: &DMatrix<T>) -> crate::net::Backprop<T> {
        let net = self.network();
        if self.topology.is_dense_chain() {
            crate::net::backprop(&net, x, y)
        } else {
            Field::of_network(&net, x.clone(), y.clone()).backprop()
        }
    }

    /// The network's layers over the crossbars (of the topology's kinds,
    /// with the parameterisation's multipliers and the topology's skips).
    pub fn layers(&self) -> Vec<Box<dyn Layer<T> + '_>> {
        let a = self.param.multipliers_of(&self.topology);
        self.cores
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let l = i + 1;
                let core = c as &dyn WeightOperator<T>;
                crate::layer::of_kind(
                    self.topology.kind(l),
                    core,
                    T::of(a[i]),
                    self.topology.has_skip(l),
                )
            })
            .collect()
    }

    /// The relaxation's vector field over the crossbars for a clamped batch.
    pub fn field(&self, x: DMatrix<T>, y: DMatrix<T>) -> Field<'_, T> {
        let leak = T::of(self.config.leak());
        let spec = FieldSpec::new(&self.topology, &self.param, leak);
        Field::with_layers(self.layers(), spec, x, y)
    }

    /// The relaxation dynamics in force.
    pub fn dynamics(&self) -> Dynamics {
        crate::circuit::dynamics_with(&self.config.dynamics, self.damping, self.derivative)
    }

    /// τ_ℓ/τ for the hidden layers: the manual list, the automatic rule's
    /// (once resolved by [`Chip::preflight`]), or all 1.
    pub fn tau_rel(&self) -> Vec<f64> {
        let t = &self.config.dynamics.tau_rel;
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

    /// The feedforward (inference) read f(x) through the arrays: x through
    /// the DACs, the output digitised by the ADCs.
    pub fn forward(&self, x: &DMatrix<T>) -> DMatrix<T> {
        let mut x = x.clone();
        self.dac.quantize_matrix(&mut x);
        let y = DMatrix::zeros(*self.topology.widths.last().expect("widths"), x.ncols());
        let (_, out) = self.field(x, y).feedforward_with_output();
        self.read_output(out)
    }

    /// The output μ_L as the ADCs digitise it.
    fn read_output(&self, mut out: DMatrix<T>) -> DMatrix<T> {
        self.controller.adc().quantize_matrix(&mut out);
        out
    }

    /// Time and energy of one step with a measured relaxation time, against
    /// sequential backprop. The PC step also pays for its starting point:
    /// the feedforward initialisation is one sequential forward pass ("init").
    pub fn cost(&self, batch: usize, t_relax_s: f64) -> Comparison {
        let mut c = self.cost_of_arrays(batch, t_relax_s);
        if let Some((shape, adcs)) = self.config.attention {
            let cfg = &self.config.timing;
            let n_blocks = (1..=self.topology.depth())
                .filter(|&l| matches!(self.topology.kind(l), crate::net::LayerKind::Block { .. }))
                .count();
            let rounds = (batch, cfg.rounds(batch));
            let t_relax_ns = t_relax_s * 1e9;
            crate::timing::attention::add_attention(
                &mut c, cfg, shape, n_blocks, adcs, rounds, t_relax_ns,
            );
        }
        c
    }

    /// [`Chip::cost`] of the arrays, converters and controller updates
    /// alone (no digital attention).
    fn cost_of_arrays(&self, batch: usize, t_relax_s: f64) -> Comparison {
        let mut c = Comparison::new(&self.config.timing, &self.geometry, batch, t_relax_s);
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
