//! The circuit file's schema: one struct a TOML section, every key with its
//! unit in its name or doc, its default and its range. Defaults live in the
//! `Default` impls; ranges are checked in `validate.rs`. Sections that belong
//! to one module reuse that module's config (device, mapping, tile,
//! converters, relaxation, timing).

use crate::analog::{ConverterConfig, DeviceConfig, MappingConfig, TileConfig};
use crate::controller::ScheduleKind;
use crate::net::{Activation, Loss, OptimiserKind, Parameterisation};
use crate::relax::{FixedPointSettings, RelaxConfig};
use crate::timing::TimingConfig;
use serde::{Deserialize, Serialize};

/// The simulation's floating-point type (circuit key `dtype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// 32-bit floats: fast; the default.
    #[default]
    F32,
    /// 64-bit floats: for validation against the theory.
    F64,
}

/// A whole experiment: the chip, its data and its schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Circuit {
    /// Name used in reports and as the default output folder `runs/<name>`.
    /// Default: the file's stem.
    pub name: String,
    /// Seed of every random stream (initialisation, programming, data),
    /// 0 … 2⁶⁴−1. Default 0. Seeds above 2⁶³−1 (beyond a TOML integer)
    /// are written as strings: `seed = "18446744073709551615"`.
    #[serde(with = "seed_serde")]
    pub seed: u64,
    /// Floating-point type, "f32" or "f64". Default "f32". The old
    /// spelling `precision` is accepted.
    #[serde(alias = "precision")]
    pub dtype: DType,
    pub network: NetworkSpec,
    pub parameterisation: Parameterisation,
    /// Device model; `preset = "ideal" | "pcm" | "reram"` fills the other keys,
    /// which may then be overridden one by one.
    pub device: DeviceConfig,
    pub mapping: MappingConfig,
    pub tile: TileConfig,
    pub periphery: Periphery,
    pub dynamics: DynamicsSpec,
    pub relax: RelaxConfig,
    /// How `grads`, `sweep` and the references find the equilibrium
    /// (`run`, `relax` and bench's relaxation times keep `[relax]`).
    pub equilibrium: FixedPointSettings,
    pub controller: ControllerSpec,
    pub timing: TimingConfig,
    pub data: DataSpec,
    pub train: TrainSpec,
    pub record: RecordSpec,
}

impl Default for Circuit {
    fn default() -> Self {
        Circuit {
            name: "circuit".into(),
            seed: 0,
            dtype: DType::F32,
            network: NetworkSpec::default(),
            parameterisation: Parameterisation::default(),
            device: DeviceConfig::default(),
            mapping: MappingConfig::default(),
            tile: TileConfig::default(),
            periphery: Periphery::default(),
            dynamics: DynamicsSpec::default(),
            relax: RelaxConfig::default(),
            equilibrium: FixedPointSettings::default(),
            controller: ControllerSpec::default(),
            timing: TimingConfig::default(),
            data: DataSpec::default(),
            train: TrainSpec::default(),
            record: RecordSpec::default(),
        }
    }
}

/// The family of network `[network]` describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkKind {
    /// A chain of dense layers.
    Mlp,
    /// The residual CNN of the limits paper.
    Resnet,
    /// The nanoGPT-style transformer of issue #24 (`width` = d_model,
    /// `depth` = blocks, `n_heads`) on `data.source = "text"`.
    Transformer,
}

/// `[network]`: the shape of the PC network. Input and output widths come
/// from the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    /// Hidden width N (units); a transformer's d_model. Default 128, ≥ 1.
    pub width: usize,
    /// Number of weight layers L; a transformer's number of blocks n.
    /// Default 4, ≥ 1.
    pub depth: usize,
    /// "mlp" (a chain of dense layers: width, depth, hidden_widths, skips),
    /// "resnet" (the residual CNN of the limits paper: channels,
    /// blocks_per_stage, stages, kernel, image) or "transformer" (width =
    /// d_model, depth = blocks, n_heads; needs data.source = "text").
    /// Default "mlp".
    pub kind: NetworkKind,
    /// transformer: attention heads H, dividing `width`. Default 4.
    pub n_heads: usize,
    /// transformer: pre-norm layer norm (no gain or bias) before the
    /// attention and MLP projections of every block. Default false (as in
    /// the paper's runs).
    pub layer_norm: bool,
    /// resnet: channels C of every stage. Default 8, ≥ 1.
    pub channels: usize,
    /// resnet: residual blocks per stage. Default 1, ≥ 0.
    pub blocks_per_stage: usize,
    /// resnet: stages, each (conv, blocks, 2×2 average pool). Default 3, ≥ 1.
    pub stages: usize,
    /// resnet: kernel size k (odd). Default 3.
    pub kernel: usize,
    /// resnet: input image [C, H, W]; default by the data source (mnist
    /// [1, 28, 28], cifar10 [3, 32, 32]); needed for other sources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<[usize; 3]>,
    /// Per-layer hidden widths n_1 … n_{L−1} (units); empty = all `width`,
    /// otherwise exactly L − 1 values, each ≥ 1. Default [].
    pub hidden_widths: Vec<usize>,
    /// "linear", "tanh", "relu", "gelu" or "hard-tanh". Default "tanh".
    pub activation: Activation,
    /// Identity skips between hidden layers (needs equal hidden widths). Default true.
    pub skips: bool,
    /// "mse" or "cross-entropy". Default "mse".
    pub loss: Loss,
    /// Output precision λ (dimensionless), > 0. Default 1.
    pub output_precision: f64,
}

impl NetworkSpec {
    /// Number of PC layers L: `depth` for an mlp; for a resnet each stage's
    /// conv, blocks and pool, then the readout.
    pub fn n_layers(&self) -> usize {
        match self.kind {
            NetworkKind::Mlp => self.depth,
            NetworkKind::Transformer => self.depth + 2,
            NetworkKind::Resnet => self.stages * (self.blocks_per_stage + 2) + 1,
        }
    }

    /// The resnet's input image: `image`, or the data source's ([1, 28, 28]
    /// for mnist and idx, [3, 32, 32] for cifar10), `None` for others.
    pub fn image_of(&self, source: Source) -> Option<[usize; 3]> {
        self.image.or(match source {
            Source::Mnist | Source::Idx => Some([1, 28, 28]),
            Source::Cifar10 => Some([3, 32, 32]),
            _ => None,
        })
    }
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            kind: NetworkKind::Mlp,
            n_heads: 4,
            layer_norm: false,
            channels: 8,
            blocks_per_stage: 1,
            stages: 3,
            kernel: 3,
            image: None,
            width: 128,
            depth: 4,
            hidden_widths: vec![],
            activation: Activation::Tanh,
            skips: true,
            loss: Loss::Mse,
            output_precision: 1.0,
        }
    }
}

/// `[periphery]`: converters where the digital controller meets the cores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Periphery {
    /// DACs that clamp x and y (full scale in activity units).
    pub dac: ConverterConfig,
    /// ADCs that read ε_ℓ and φ(z_{ℓ−1}) after the relaxation, and the
    /// outputs of the feedforward (inference) read.
    pub adc: ConverterConfig,
}

/// `[dynamics]`: the relaxation circuit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DynamicsSpec {
    /// Integrator time constant τ = C/g (s), 0 < τ ≤ 1. Default 3e-7 (300 ns:
    /// six times the default 50 ns loop delay, the arrays' settling, which
    /// keeps a first-order loop stable up to λ_max ≈ 9).
    pub tau_s: f64,
    /// "first-order" (τ dz/dt = −∂F/∂z), "inertial" (MODEL.md §7) or
    /// "inertial-pd" (inertial with a derivative branch on the error
    /// feedback, docs/model.md). Default "first-order".
    pub order: Order,
    /// Inertial damping γ (dimensionless), ≥ 0; absent = automatic (critical
    /// damping of the slowest mode, estimated at the feedforward state).
    pub damping: Option<f64>,
    /// Inertial time constant relative to τ, m = τ_v/τ, > 0. Default 1.
    pub mass: f64,
    /// Gain β of "inertial-pd"'s derivative branch (τ), > 0: the velocity
    /// integrator is driven by force + β·τ·d(force)/dt. Absent = automatic
    /// (the β that maximises the stable loop delay over the rate band at
    /// the feedforward state, src/relax/delay.rs). Only with "inertial-pd".
    pub derivative_gain: Option<f64>,
    /// DC gain A of the integrators' op-amps; the integrator leaks at 1/A
    /// per τ. 0 = ideal (infinite gain), otherwise ≥ 1. Default 0.
    pub opamp_gain: f64,
    /// Per-layer time constants τ_ℓ/τ (dimensionless) for hidden layers
    /// 1 … L−1; empty = all 1, otherwise exactly L − 1 values, each > 0. Default [].
    pub tau_rel: Vec<f64>,
    /// How the per-layer time constants are chosen when `tau_rel` is empty:
    /// "uniform" (all 1) or "auto" (Jacobi rule at the feedforward state,
    /// docs/inertial.md). Default "uniform"; "auto" excludes `tau_rel`.
    pub tau_rule: TauRule,
    /// Loop delay of every node's feedback (crossbar read, error amplifier,
    /// φ/φ′ circuit), ns, ≥ 0; simulated as a delay-differential equation
    /// (src/relax/delay.rs; euler and symplectic-euler). Absent =
    /// `timing.t_settle_ns` on non-ideal devices, 0 on ideal ones
    /// ([`Circuit::loop_delay_ns`]).
    pub loop_delay_ns: Option<f64>,
    /// Gain–bandwidth product of the integrators' op-amps (MHz), ≥ 0; 0 =
    /// ideal. A first-order loop then gains the op-amp's pole τ_a = 1/(2π GBW):
    /// inertial dynamics with m = τ_a/τ and γ = 1 (docs/model.md). Default 0.
    pub opamp_gbw_mhz: f64,
}

/// The rule for the per-layer time constants ρ_ℓ = τ_ℓ/τ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum TauRule {
    /// Every ρ_ℓ = 1 (or the manual `tau_rel`).
    #[default]
    Uniform,
    /// ρ_ℓ = mean Hessian diagonal of layer ℓ / the largest such mean.
    Auto,
}

pub use crate::relax::Order;

impl Default for DynamicsSpec {
    fn default() -> Self {
        DynamicsSpec {
            tau_s: 3e-7,
            order: Order::FirstOrder,
            damping: None,
            mass: 1.0,
            derivative_gain: None,
            opamp_gain: 0.0,
            tau_rel: vec![],
            tau_rule: TauRule::Uniform,
            loop_delay_ns: None,
            opamp_gbw_mhz: 0.0,
        }
    }
}

/// How the controller writes weight changes into the arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Programming {
    /// Exact conductance changes (bounded to [G_min, G_max]).
    #[default]
    Ideal,
    /// Quantised write pulses with cycle-to-cycle noise.
    Pulsed,
}

/// `[controller]`: the digital controller's learning rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControllerSpec {
    /// "sgd" or "adam". Default "adam".
    pub optimiser: OptimiserKind,
    /// Base learning rate η (scaled per layer by the parameterisation), > 0. Default 0.05.
    pub lr: f64,
    /// "constant" or "cosine" (linear warm-up, then a cosine decay to
    /// `lr_final_frac` × lr). Default "constant".
    pub lr_schedule: ScheduleKind,
    /// Updates of linear warm-up from 0 to lr (either schedule). Default 0.
    pub warmup_steps: u64,
    /// Update at which the cosine reaches its final rate; 0 = the run's
    /// last step. Default 0.
    pub decay_steps: u64,
    /// The cosine's final rate as a fraction of lr, in [0, 1]. Default 0.1.
    pub lr_final_frac: f64,
    /// SGD momentum, in [0, 1). Default 0.
    pub momentum: f64,
    /// Adam β₁, in [0, 1). Default 0.9.
    pub beta1: f64,
    /// Adam β₂, in [0, 1). Default 0.999.
    pub beta2: f64,
    /// Adam ε, > 0. Default 1e-8.
    pub eps: f64,
    /// "ideal" or "pulsed". Default "ideal".
    pub programming: Programming,
    /// Conductance change of one write pulse (µS), > 0. Default 0.1.
    pub pulse_dg_us: f64,
    /// Most pulses per device per update, ≥ 1. Default 16.
    pub max_pulses: u32,
    /// Cycle-to-cycle std of one pulse's change, relative to `pulse_dg_us`, ≥ 0. Default 0.3.
    pub pulse_noise_rel: f64,
}

impl Default for ControllerSpec {
    fn default() -> Self {
        ControllerSpec {
            optimiser: OptimiserKind::Adam,
            lr: 0.05,
            lr_schedule: ScheduleKind::Constant,
            warmup_steps: 0,
            decay_steps: 0,
            lr_final_frac: 0.1,
            momentum: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            programming: Programming::Ideal,
            pulse_dg_us: 0.1,
            max_pulses: 16,
            pulse_noise_rel: 0.3,
        }
    }
}

/// Where the samples come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The embedded 5,000-image MNIST subset.
    #[default]
    Mnist,
    /// MNIST-format IDX files (`images`, `labels`).
    Idx,
    /// A numeric CSV file (`csv`, `label_column` or `target_columns`).
    Csv,
    /// Teacher–student regression (`teacher_*` keys).
    TeacherStudent,
    /// The paper's toy regression: D = 40 Gaussian inputs, targets ±1.
    GaussianToy,
    /// CIFAR-10's binary batch files (`cifar10`: a batch file or their folder).
    Cifar10,
    /// A UTF-8 text cut into sequences of `seq_len` characters with
    /// next-character targets (`text`: a .txt or .txt.gz file; empty = the
    /// embedded Shakespeare tragedies); the held-out split is its last
    /// `test_frac`.
    Text,
}

/// `[data]`: the data set and its split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSpec {
    /// "mnist", "idx", "csv", "cifar10", "teacher-student", "gaussian-toy"
    /// or "text". Default "mnist".
    pub source: Source,
    /// Fraction of samples held out for testing, in [0, 1) (text: the last
    /// fraction of the characters). Default 0.2.
    pub test_frac: f64,
    /// Use only the first n samples (after a seeded shuffle); 0 = all
    /// (text: n training sequences; the held-out split is kept whole).
    /// Default 0.
    pub n_samples: usize,
    /// text: a UTF-8 .txt or .txt.gz file (relative to the circuit file);
    /// empty = the embedded Shakespeare tragedies. Default "".
    pub text: String,
    /// text: characters a sequence T (the transformer's context), ≥ 1.
    /// Default 32.
    pub seq_len: usize,
    /// IDX image file (relative to the circuit file).
    pub images: String,
    /// IDX label file (relative to the circuit file).
    pub labels: String,
    /// CSV file (relative to the circuit file).
    pub csv: String,
    /// CIFAR-10 (binary version): a batch file, or the folder holding
    /// `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`
    /// (relative to the circuit file).
    pub cifar10: String,
    /// CSV: the first line is a header. Default false.
    pub has_header: bool,
    /// CSV: 0-based column of the class label (classification).
    pub label_column: Option<usize>,
    /// CSV: 0-based target columns (regression), when no label column.
    pub target_columns: Vec<usize>,
    /// One-hot value of the true class; must differ from `target_off`. Default 1.
    pub target_on: f64,
    /// One-hot value of the other classes. Default 0.
    pub target_off: f64,
    /// Teacher–student / toy: input dimension, ≥ 1. Default 40.
    pub teacher_inputs: usize,
    /// Teacher–student: output dimension, ≥ 1. Default 1.
    pub teacher_outputs: usize,
    /// Teacher–student / toy: number of samples, ≥ 2 (the paper's toy uses 20).
    /// Default 1000.
    pub teacher_samples: usize,
    /// Teacher–student: hidden width of the teacher, ≥ 1. Default 64.
    pub teacher_width: usize,
    /// Teacher–student: std of the label noise (target units), ≥ 0. Default 0.
    pub teacher_noise: f64,
}

impl Default for DataSpec {
    fn default() -> Self {
        DataSpec {
            source: Source::Mnist,
            test_frac: 0.2,
            n_samples: 0,
            text: String::new(),
            seq_len: 32,
            images: String::new(),
            labels: String::new(),
            csv: String::new(),
            cifar10: String::new(),
            has_header: false,
            label_column: None,
            target_columns: vec![],
            target_on: 1.0,
            target_off: 0.0,
            teacher_inputs: 40,
            teacher_outputs: 1,
            teacher_samples: 1000,
            teacher_width: 64,
            teacher_noise: 0.0,
        }
    }
}

/// `[train]`: the schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSpec {
    /// Passes over the training set, ≥ 1. Default 1.
    pub epochs: usize,
    /// Samples a step, ≥ 1. Default 64.
    pub batch_size: usize,
    /// Stop after this many steps; 0 = no limit. Default 0.
    pub max_steps: usize,
    /// Evaluate on the test set every this many steps (and at the end); 0 = only at the end. Default 50.
    pub eval_every_steps: usize,
    /// Simulated idle time between the last programming and the final
    /// evaluation (s), ≥ 0: the arrays drift over it by the device's law
    /// (inference long after training). Default 0.
    pub eval_delay_s: f64,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            epochs: 1,
            batch_size: 64,
            max_steps: 0,
            eval_every_steps: 50,
            eval_delay_s: 0.0,
        }
    }
}

/// `[record]`: what a run writes besides the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordSpec {
    /// Record a step's full diagnostics (PC–BP cosines, device counts, and a
    /// relaxation trace when `relax.trace_every_tau` > 0) every this many
    /// steps, ≥ 1. Default 10.
    pub every_steps: usize,
    /// Trace the PC–BP cosine over relaxation time in recorded steps. Default true.
    pub trace_alignment: bool,
}

impl Default for RecordSpec {
    fn default() -> Self {
        RecordSpec {
            every_steps: 10,
            trace_alignment: true,
        }
    }
}

/// The seed as a TOML/JSON integer when it fits an i64, else as a decimal
/// string; either form is read back.
mod seed_serde {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(*v) {
            Ok(i) => s.serialize_i64(i),
            Err(_) => s.serialize_str(&v.to_string()),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Int(i64),
        Unsigned(u64),
        Text(String),
        Float(f64),
        Other(serde::de::IgnoredAny),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let range = "expected an integer from 0 to 18446744073709551615 (2⁶⁴−1)";
        match Raw::deserialize(d)? {
            Raw::Int(i) => {
                u64::try_from(i).map_err(|_| D::Error::custom(format!("{range}, got {i}")))
            }
            Raw::Unsigned(u) => Ok(u),
            Raw::Text(t) => t
                .trim()
                .parse::<u64>()
                .map_err(|_| D::Error::custom(format!("{range}, got `{t}`"))),
            Raw::Float(f) => Err(D::Error::custom(format!("{range}, got {f}"))),
            Raw::Other(_) => Err(D::Error::custom(range)),
        }
    }
}
