//! Range and consistency checks of a parsed circuit, before any work starts.
//! Each failure names the dotted key and the allowed range or the fix.

use super::schema::{Circuit, DynamicsSpec, NetworkKind, NetworkSpec, Order, Source, TauRule};
use crate::relax::Dynamics;

type Check = Result<(), (String, String)>;

/// Re-keys a module's "key: message" (or "module.key: message", or
/// "module.sub.key: message") under `section`: the module's own prefix is
/// replaced by the section, the rest of the path is kept
/// ("timing.digital.e_per_flop_pj" stays whole, "converter.bits" under
/// "periphery.adc" becomes "periphery.adc.bits").
fn keyed(section: &str, msg: impl ToString) -> (String, String) {
    let msg = msg.to_string();
    match msg.split_once(": ") {
        Some((key, rest)) if !key.is_empty() && !key.contains(' ') => {
            let path = key.split_once('.').map_or(key, |(_, p)| p);
            (format!("{section}.{path}"), rest.to_string())
        }
        _ => (section.to_string(), msg),
    }
}

fn ensure(ok: bool, key: &str, msg: impl Into<String>) -> Check {
    if ok {
        Ok(())
    } else {
        Err((key.to_string(), msg.into()))
    }
}

fn positive(key: &str, v: f64) -> Check {
    ensure(
        v.is_finite() && v > 0.0,
        key,
        format!("expected a finite value > 0, got {v}"),
    )
}

fn unit_interval(key: &str, v: f64) -> Check {
    ensure(
        (0.0..1.0).contains(&v),
        key,
        format!("expected 0 ≤ value < 1, got {v}"),
    )
}

impl Circuit {
    /// The chip's loop delay d (ns): `dynamics.loop_delay_ns` when set;
    /// when absent, the arrays' settling `timing.t_settle_ns` on a chip
    /// with any device non-ideality, and 0 on ideal devices (the "ideal"
    /// preset is the mathematical network, as jpc relaxes it).
    pub fn loop_delay_ns(&self) -> f64 {
        match self.dynamics.loop_delay_ns {
            Some(d) => d,
            None if self.device.is_ideal() => 0.0,
            None => self
                .timing
                .t_settle_ns
                .max(self.attention_loop().map_or(0.0, |l| l.loop_delay_ns)),
        }
    }

    /// A transformer's attention as the controller runs it during the
    /// relaxation, one sequence a block's digital unit, its values through
    /// the ADCs (and as many DACs) of the block's tiles
    /// ([`crate::timing::attention`]; `evaluations` and energy are those of
    /// a zero-length relaxation). `None` for other networks. On a chip with
    /// non-ideal devices its loop delay (1.5 periods) is the default
    /// `dynamics.loop_delay_ns` when larger than the arrays' settling.
    pub fn attention_loop(&self) -> Option<crate::timing::attention::AttentionLoop> {
        let n = &self.network;
        if n.kind != NetworkKind::Transformer {
            return None;
        }
        let (shape, adcs) = self.attention_shape()?;
        Some(crate::timing::attention::attention_loop(
            &self.timing,
            shape,
            1,
            adcs,
            adcs,
            0.0,
        ))
    }

    /// A transformer's attention shape and the ADCs of one block's tiles.
    pub fn attention_shape(&self) -> Option<(crate::timing::attention::AttentionShape, usize)> {
        let n = &self.network;
        if n.kind != NetworkKind::Transformer || n.width == 0 {
            return None;
        }
        let shape = crate::timing::attention::AttentionShape {
            seq_len: self.data.seq_len,
            d_model: n.width,
            n_heads: n.n_heads.max(1),
            layer_norm: n.layer_norm,
        };
        let (r, c) = self.tile.grid(12 * n.width, n.width);
        Some((shape, r * c * self.timing.n_adc_per_tile.max(1)))
    }

    /// Whether the relaxation simulates the loop delay: a delay set in the
    /// file always is (methods that cannot carry it are refused); the
    /// derived default is where the method can carry it (euler,
    /// symplectic-euler) and otherwise only bounds τ (a warning says so).
    pub fn simulates_loop_delay(&self) -> bool {
        use crate::relax::Method;
        self.loop_delay_ns() > 0.0
            && (self.dynamics.loop_delay_ns.is_some()
                || matches!(self.relax.method, Method::Euler | Method::SymplecticEuler))
    }
}

/// The dynamics the relaxation will run (damping and derivative gain
/// resolved later when automatic; 0 until then).
pub fn dynamics_of(c: &Circuit) -> Dynamics {
    dynamics_with(&c.dynamics, c.dynamics.damping, c.dynamics.derivative_gain)
}

/// The dynamics of `d` with damping γ `damping` (0 when unresolved). A
/// first-order loop on op-amps of finite gain–bandwidth gains the op-amp's
/// pole: τ dz/dt + τ_a d²z/dt² = force with τ_a = 1/(2π GBW), i.e. inertial
/// dynamics with m = τ_a/τ and γ = 1 (an inverting integrator with
/// A(s) = ω_t/s responds as −1/(sτ)·1/(1 + s/ω_t) for ω_t τ ≫ 1).
pub fn dynamics_with(d: &DynamicsSpec, damping: Option<f64>, derivative: Option<f64>) -> Dynamics {
    if d.order == Order::FirstOrder && d.opamp_gbw_mhz > 0.0 {
        let tau_a = 1.0 / (2.0 * std::f64::consts::PI * d.opamp_gbw_mhz * 1e6);
        return Dynamics::inertial(1.0, tau_a / d.tau_s);
    }
    Dynamics::of(
        d.order,
        damping.unwrap_or(0.0),
        d.mass,
        derivative.unwrap_or(0.0),
    )
}

/// The circuit's name is a folder name under runs/, never a path: not
/// empty, no separator, not `.` or `..`, no control character.
fn check_name(name: &str) -> Check {
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|ch| ch == '/' || ch == '\\' || ch.is_control())
        || std::path::Path::new(name).is_absolute();
    ensure(
        !bad,
        "name",
        format!("expected a name (the run folder runs/<name>), not a path: {name:?} is empty, holds a path separator or control character, or is `.` or `..`; use --out to choose another folder"),
    )
}

/// The residual CNN's keys (the image's fit to the data is checked when
/// the chip is built, which knows the data's width).
fn check_resnet(n: &NetworkSpec) -> Check {
    let range = |key: &str, v: usize, lo: usize, hi: usize| {
        ensure(
            (lo..=hi).contains(&v),
            key,
            format!("expected {lo} … {hi}, got {v}"),
        )
    };
    range("network.channels", n.channels, 1, 1024)?;
    range("network.blocks_per_stage", n.blocks_per_stage, 0, 256)?;
    range("network.stages", n.stages, 1, 8)?;
    range("network.kernel", n.kernel, 1, 15)?;
    ensure(
        n.kernel % 2 == 1,
        "network.kernel",
        format!("expected an odd size (same padding), got {}", n.kernel),
    )?;
    if let Some(image) = n.image {
        ensure(
            !image.contains(&0),
            "network.image",
            format!("expected [C, H, W], each ≥ 1, got {image:?}"),
        )?;
    }
    ensure(
        n.hidden_widths.is_empty(),
        "network.hidden_widths",
        "not used by kind = \"resnet\" (its widths are channels × pixels); remove it",
    )
}

/// The transformer's keys and the text source they go with (the
/// vocabulary's size is known when the data is loaded).
fn check_transformer(c: &Circuit) -> Check {
    let n = &c.network;
    let text = c.data.source == Source::Text;
    if n.kind != NetworkKind::Transformer {
        ensure(
            !n.layer_norm,
            "network.layer_norm",
            "only a transformer's blocks have a layer norm; remove it",
        )?;
        return ensure(
            !text,
            "data.source",
            "\"text\" needs network.kind = \"transformer\" (one softmax per character)",
        );
    }
    ensure(
        text,
        "network.kind",
        format!(
            "\"transformer\" reads token sequences: set data.source = \"text\", not {:?}",
            c.data.source
        ),
    )?;
    ensure(
        n.n_heads >= 1 && n.width.is_multiple_of(n.n_heads),
        "network.n_heads",
        format!(
            "{} heads must be ≥ 1 and divide width (d_model) = {}",
            n.n_heads, n.width
        ),
    )?;
    ensure(
        n.loss == crate::net::Loss::CrossEntropy,
        "network.loss",
        "a transformer predicts the next character: set loss = \"cross-entropy\"",
    )?;
    ensure(
        n.hidden_widths.is_empty(),
        "network.hidden_widths",
        "not used by kind = \"transformer\" (every block is width wide); remove it",
    )?;
    ensure(
        c.equilibrium.solver != crate::relax::Solver::ErrorNewton,
        "equilibrium.solver",
        "\"error-newton\" forms each layer's Jacobian, a (T·N)² matrix a sequence for a transformer block; use \"relaxation\" or \"auto\"",
    )
}

/// Checks every section; the first failure is returned as (key, message).
pub fn validate(c: &Circuit) -> Check {
    check_name(&c.name)?;
    let n = &c.network;
    if n.kind == NetworkKind::Resnet {
        check_resnet(n)?;
    }
    check_transformer(c)?;
    ensure(
        n.depth >= 1,
        "network.depth",
        format!("expected ≥ 1 weight layer, got {}", n.depth),
    )?;
    ensure(n.width >= 1, "network.width", "expected ≥ 1 unit, got 0")?;
    if !n.hidden_widths.is_empty() {
        ensure(
            n.hidden_widths.len() == n.depth - 1,
            "network.hidden_widths",
            format!(
                "expected {} widths (one per hidden layer for depth {}), got {}",
                n.depth - 1,
                n.depth,
                n.hidden_widths.len()
            ),
        )?;
        ensure(
            !n.hidden_widths.contains(&0),
            "network.hidden_widths",
            "every width must be ≥ 1",
        )?;
        if n.skips {
            ensure(
                n.hidden_widths.windows(2).all(|w| w[0] == w[1]),
                "network.skips",
                format!("identity skips need equal hidden widths, got {:?}; set skips = false or equal widths", n.hidden_widths),
            )?;
        }
    }
    positive("network.output_precision", n.output_precision)?;
    let p = &c.parameterisation;
    positive("parameterisation.gamma0", p.gamma0)?;
    if let Some(alpha) = p.alpha {
        ensure(
            alpha.is_finite() && alpha >= 0.0,
            "parameterisation.alpha",
            format!("expected a finite value ≥ 0, got {alpha}"),
        )?;
    }

    c.device.validate().map_err(|m| keyed("device", m))?;
    c.mapping.validate().map_err(|m| keyed("mapping", m))?;
    c.tile.validate().map_err(|m| keyed("tile", m))?;
    c.periphery
        .dac
        .validate()
        .map_err(|m| keyed("periphery.dac", m))?;
    c.periphery
        .adc
        .validate()
        .map_err(|m| keyed("periphery.adc", m))?;

    let d = &c.dynamics;
    ensure(
        d.tau_s.is_finite() && d.tau_s > 0.0 && d.tau_s <= 1.0,
        "dynamics.tau_s",
        format!("expected 0 < tau_s ≤ 1 s, got {}", d.tau_s),
    )?;
    positive("dynamics.mass", d.mass)?;
    if let Some(g) = d.damping {
        ensure(
            g.is_finite() && g >= 0.0,
            "dynamics.damping",
            format!("expected a finite value ≥ 0, got {g}"),
        )?;
    }
    ensure(
        d.opamp_gain == 0.0 || (d.opamp_gain.is_finite() && d.opamp_gain >= 1.0),
        "dynamics.opamp_gain",
        format!("expected 0 (ideal) or a DC gain ≥ 1, got {}", d.opamp_gain),
    )?;
    if !d.tau_rel.is_empty() {
        ensure(
            d.tau_rule == TauRule::Uniform,
            "dynamics.tau_rel",
            "a manual list excludes tau_rule = \"auto\" (which computes the time constants); remove one of the two",
        )?;
        ensure(
            d.tau_rel.len() == n.depth - 1,
            "dynamics.tau_rel",
            format!(
                "expected {} values (one per hidden layer), got {}",
                n.depth - 1,
                d.tau_rel.len()
            ),
        )?;
        ensure(
            d.tau_rel.iter().all(|t| t.is_finite() && *t > 0.0),
            "dynamics.tau_rel",
            "every τ_ℓ/τ must be finite and > 0",
        )?;
    }
    ensure(
        d.opamp_gbw_mhz.is_finite() && (0.0..=1e9).contains(&d.opamp_gbw_mhz),
        "dynamics.opamp_gbw_mhz",
        format!(
            "expected a finite value in [0, 1e9] MHz, got {}",
            d.opamp_gbw_mhz
        ),
    )?;
    if let Some(b) = d.derivative_gain {
        positive("dynamics.derivative_gain", b)?;
        ensure(
            d.order == Order::InertialPd,
            "dynamics.derivative_gain",
            format!(
                "the derivative branch belongs to order = \"inertial-pd\", not \"{}\"; set the order or remove the key",
                d.order.name()
            ),
        )?;
    }
    if d.order == Order::InertialPd {
        use crate::relax::Method;
        ensure(
            c.relax.method == Method::SymplecticEuler,
            "relax.method",
            format!(
                "\"{}\" cannot carry the derivative branch of \"inertial-pd\" dynamics (it differences the loop's force from step to step); use \"symplectic-euler\"",
                c.relax.method.name()
            ),
        )?;
    }
    if d.opamp_gbw_mhz > 0.0 {
        use crate::relax::Method;
        ensure(
            d.order == Order::FirstOrder,
            "dynamics.opamp_gbw_mhz",
            "the op-amp's pole is modelled for first-order dynamics only (inertial nodes would gain a third state); use order = \"first-order\" or opamp_gbw_mhz = 0",
        )?;
        ensure(
            matches!(c.relax.method, Method::SymplecticEuler | Method::Rk4 | Method::Dopri5),
            "relax.method",
            format!(
                "\"{}\" cannot integrate dynamics.opamp_gbw_mhz = {}: the op-amp's pole adds a second state a node (inertial dynamics with m = τ_a/τ, γ = 1); use \"symplectic-euler\", \"rk4\" or \"dopri5\"",
                c.relax.method.name(),
                d.opamp_gbw_mhz
            ),
        )?;
    }
    c.relax
        .validate(&dynamics_of(c))
        .map_err(|m| keyed("relax", m))?;
    c.equilibrium
        .validate()
        .map_err(|e| (format!("equilibrium.{}", e.key()), e.to_string()))?;
    let delay = c.loop_delay_ns();
    ensure(
        delay.is_finite() && (0.0..=1e9).contains(&delay),
        "dynamics.loop_delay_ns",
        format!("expected a finite value in [0, 1e9] ns, got {delay}"),
    )?;
    if d.loop_delay_ns.is_some_and(|d| d > 0.0) {
        use crate::relax::Method;
        ensure(
            matches!(c.relax.method, Method::Euler | Method::SymplecticEuler),
            "relax.method",
            format!(
                "\"{}\" cannot carry dynamics.loop_delay_ns = {delay}: the loop delay is simulated on the fixed-step \"euler\" (first order) and \"symplectic-euler\" (inertial) only",
                c.relax.method.name(),
            ),
        )?;
    }
    if c.simulates_loop_delay() {
        let steps = delay * 1e-9 / d.tau_s / c.relax.dt_tau;
        ensure(
            steps <= crate::relax::delay::MAX_DELAY_STEPS as f64,
            "relax.dt_tau",
            format!(
                "the loop delay spans {steps:.3e} steps of dt_tau = {}; at most {} fit in the delay line (raise dt_tau)",
                c.relax.dt_tau,
                crate::relax::delay::MAX_DELAY_STEPS
            ),
        )?;
    }

    let k = &c.controller;
    positive("controller.lr", k.lr)?;
    ensure(
        (0.0..=1.0).contains(&k.lr_final_frac),
        "controller.lr_final_frac",
        format!("expected a value in [0, 1], got {}", k.lr_final_frac),
    )?;
    ensure(
        k.decay_steps == 0 || k.decay_steps > k.warmup_steps,
        "controller.decay_steps",
        format!(
            "expected 0 (the run's last step) or more than controller.warmup_steps = {}, got {}",
            k.warmup_steps, k.decay_steps
        ),
    )?;
    unit_interval("controller.momentum", k.momentum)?;
    unit_interval("controller.beta1", k.beta1)?;
    unit_interval("controller.beta2", k.beta2)?;
    positive("controller.eps", k.eps)?;
    positive("controller.pulse_dg_us", k.pulse_dg_us)?;
    ensure(k.max_pulses >= 1, "controller.max_pulses", "expected ≥ 1")?;
    ensure(
        k.pulse_noise_rel.is_finite() && k.pulse_noise_rel >= 0.0,
        "controller.pulse_noise_rel",
        format!("expected a finite value ≥ 0, got {}", k.pulse_noise_rel),
    )?;
    ensure(
        k.pulse_dg_us < c.device.g_max_us - c.device.g_min_us,
        "controller.pulse_dg_us",
        format!(
            "one pulse ({} µS) must be smaller than the conductance range G_max − G_min = {} µS",
            k.pulse_dg_us,
            c.device.g_max_us - c.device.g_min_us
        ),
    )?;

    c.timing
        .validate()
        .map_err(|e| keyed("timing", e.to_string()))?;

    let data = &c.data;
    unit_interval("data.test_frac", data.test_frac)?;
    ensure(
        data.target_on != data.target_off,
        "data.target_on",
        "must differ from data.target_off",
    )?;
    match data.source {
        Source::Text => {
            ensure(data.seq_len >= 1, "data.seq_len", "expected ≥ 1 character")?;
        }
        Source::Idx => {
            ensure(
                !data.images.is_empty(),
                "data.images",
                "source = \"idx\" needs the path of an IDX image file",
            )?;
            ensure(
                !data.labels.is_empty(),
                "data.labels",
                "source = \"idx\" needs the path of an IDX label file",
            )?;
        }
        Source::Csv => {
            ensure(
                !data.csv.is_empty(),
                "data.csv",
                "source = \"csv\" needs the path of a CSV file",
            )?;
            ensure(
                data.label_column.is_some() || !data.target_columns.is_empty(),
                "data.label_column",
                "source = \"csv\" needs a label_column (classification) or target_columns (regression)",
            )?;
        }
        Source::TeacherStudent | Source::GaussianToy => {
            ensure(
                data.teacher_inputs >= 1,
                "data.teacher_inputs",
                "expected ≥ 1",
            )?;
            ensure(
                data.teacher_outputs >= 1,
                "data.teacher_outputs",
                "expected ≥ 1",
            )?;
            ensure(
                data.teacher_samples >= 2,
                "data.teacher_samples",
                "expected ≥ 2",
            )?;
            ensure(
                data.teacher_width >= 1,
                "data.teacher_width",
                "expected ≥ 1",
            )?;
            ensure(
                data.teacher_noise.is_finite() && data.teacher_noise >= 0.0,
                "data.teacher_noise",
                "expected a finite value ≥ 0",
            )?;
        }
        Source::Cifar10 => {
            ensure(
                !data.cifar10.is_empty(),
                "data.cifar10",
                "source = \"cifar10\" needs the path of a CIFAR-10 batch file or of the folder holding them (cifar-10-batches-bin)",
            )?;
        }
        Source::Mnist => {}
    }
    ensure(c.train.epochs >= 1, "train.epochs", "expected ≥ 1")?;
    ensure(c.train.batch_size >= 1, "train.batch_size", "expected ≥ 1")?;
    ensure(
        c.train.eval_delay_s.is_finite() && (0.0..=1e12).contains(&c.train.eval_delay_s),
        "train.eval_delay_s",
        "expected a finite value in [0, 1e12] s",
    )?;
    ensure(
        c.record.every_steps >= 1,
        "record.every_steps",
        "expected ≥ 1",
    )?;
    let pair = |e: super::budget::BudgetError| (e.key().to_string(), e.reason());
    super::budget::check_floats(c).map_err(pair)?;
    super::budget::check_memory(c, super::budget::DataShape::from_keys(c)).map_err(pair)
}
