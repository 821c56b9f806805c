//! `pcchip bench`: the layer-parallel speedup against sequential backprop as
//! a function of depth (MODEL.md §5–§7). For each depth, at the circuit's
//! width, a few training steps are run (every step recorded and traced) and
//! the relaxation time, the time to align with backprop, the chip's time and
//! energy against sequential backprop, and the simulator's own wall-clock
//! (one thread and all threads) are reported. Each depth's run leaves its
//! own run folder (`depth-<L>-<dynamics>/`), which `pcchip plot` can draw.

use crate::chip::explicit_step_limit;
use crate::circuit::{Circuit, DType, Order};
use crate::relax::Method;
use crate::report::{median, Report};
pub use crate::run::bench_csv::CSV_HEADER;
use crate::run::check::derive;
use crate::run::train::{run, Observer, RunOptions};
use crate::run::{bench_csv, RunError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to bench.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Depths L to run.
    pub depths: Vec<usize>,
    /// Training steps per depth.
    pub steps: usize,
    /// Dynamics to compare.
    pub orders: Vec<Order>,
    /// Also time the steps on one thread (doubles the cost).
    pub compare_threads: bool,
    /// Cap the relaxation at this simulated time (τ) instead of the default
    /// allowance (≈ 60 L² τ first order, 100 L τ inertial); relaxation and
    /// alignment times are then lower bounds. For memory and cost checks.
    pub t_max_tau: Option<f64>,
    /// Integrator time constants τ (s) to run each depth at (the break-even
    /// map); empty = the circuit's `dynamics.tau_s`.
    pub taus: Vec<f64>,
    /// Multiples M of each point's smallest stable τ (its loop-delay bound,
    /// which differs by depth and dynamics) to run it at, instead of `taus`;
    /// empty = none. Needs a loop delay.
    pub tau_margins: Vec<f64>,
}

/// One depth × dynamics result.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BenchRow {
    pub depth: usize,
    pub dynamics: String,
    /// The point's τ (s) and loop delay (s).
    #[serde(default)]
    pub tau_s: f64,
    #[serde(default)]
    pub loop_delay_s: f64,
    /// Whether τ is above the loop-delay stability bound; an unstable point
    /// is not simulated (its times are NaN) unless `relax.allow_unstable`.
    #[serde(default = "yes")]
    pub stable: bool,
    /// The stopping rule of most steps (`residual`, `max-time`, …; empty
    /// when not simulated).
    #[serde(default)]
    pub stop_rule: String,
    /// Median simulated relaxation time over the steps (τ).
    pub median_t_relax_tau: f64,
    /// Median time until the PC–BP cosine stays within 1% of its final value (τ).
    pub t_align_tau: Option<f64>,
    /// Median time until the PC–BP cosine stays ≥ 0.99 (τ), when reached.
    pub t_cos99_tau: Option<f64>,
    /// Median final PC–BP cosine.
    pub cos_bp: Option<f64>,
    /// Median t_PC, t_BP (s) and ratios.
    pub t_pc_s: f64,
    pub t_bp_s: f64,
    pub speedup: f64,
    pub energy_ratio: f64,
    /// Median t_BP,pipelined (s) and t_BP,pipelined / t_PC.
    #[serde(default)]
    pub t_bp_pipe_s: f64,
    #[serde(default)]
    pub speedup_pipe: f64,
    /// E_BP,pipelined / E_PC: pipelining changes backprop's time, not its
    /// energy, so this equals `energy_ratio`.
    #[serde(default)]
    pub energy_ratio_pipe: f64,
    /// The step (τ) the explicit integrator used, the damping and the
    /// derivative gain ("inertial-pd", τ) in force.
    pub dt_tau: f64,
    pub damping: Option<f64>,
    #[serde(default)]
    pub derivative_gain: Option<f64>,
    /// The point's smallest stable τ for its loop delay (s), with a delay.
    #[serde(default)]
    pub tau_min_s: Option<f64>,
    /// Simulator wall-clock per training step, all threads and one thread (s).
    pub wall_step_s: f64,
    pub wall_step_1thread_s: Option<f64>,
    /// Peak resident memory of the process so far (MB; the depths run in the
    /// given order, so this is the peak up to this point) and the chip
    /// state's size (MB; NaN for a point not simulated).
    pub peak_rss_mb: f64,
    pub state_mb: f64,
}

fn yes() -> bool {
    true
}

impl BenchOptions {
    /// The options from the command line's flags: `dynamics` names
    /// (`first-order`, `inertial`), depths ≥ 1, steps ≥ 1, a finite
    /// `t_max_tau` > 0 (τ) and τ values in (0, 1] s, each refused with the
    /// flag's name.
    pub fn from_flags(
        depths: Vec<usize>,
        steps: usize,
        dynamics: &[String],
        compare_threads: bool,
        t_max_tau: Option<f64>,
        taus: Vec<f64>,
    ) -> Result<Self, RunError> {
        if let Some(t) = taus
            .iter()
            .find(|t| !(t.is_finite() && **t > 0.0 && **t <= 1.0))
        {
            return Err(RunError::Invalid(format!(
                "--taus: {t} is not a time constant in (0, 1] s"
            )));
        }
        let orders = dynamics
            .iter()
            .map(|d| match d.as_str() {
                "first-order" => Ok(Order::FirstOrder),
                "inertial" => Ok(Order::Inertial),
                "inertial-pd" => Ok(Order::InertialPd),
                other => Err(RunError::Invalid(format!(
                    "--dynamics: unknown `{other}`; expected first-order, inertial or inertial-pd"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if t_max_tau.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return Err(RunError::Invalid(
                "--t-max-tau: expected a finite time > 0 (τ)".into(),
            ));
        }
        if depths.is_empty() || depths.contains(&0) || steps == 0 {
            return Err(RunError::Invalid(
                "--depths needs depths ≥ 1 and --steps ≥ 1".into(),
            ));
        }
        Ok(BenchOptions {
            depths,
            steps,
            orders,
            compare_threads,
            t_max_tau,
            taus,
            tau_margins: vec![],
        })
    }

    /// The same options running each point at multiples `margins` of its
    /// smallest stable τ (`--tau-margins`): each finite and ≥ 1, and not
    /// together with `--taus`.
    pub fn with_tau_margins(mut self, margins: Vec<f64>) -> Result<Self, RunError> {
        if let Some(m) = margins.iter().find(|m| !(m.is_finite() && **m >= 1.0)) {
            return Err(RunError::Invalid(format!(
                "--tau-margins: {m} is not a multiple ≥ 1 of the smallest stable τ"
            )));
        }
        if !margins.is_empty() && !self.taus.is_empty() {
            return Err(RunError::Invalid(
                "--tau-margins and --taus exclude each other: give one".into(),
            ));
        }
        self.tau_margins = margins;
        Ok(self)
    }
}

/// The header of the table `pcchip bench` prints, one [`BenchRow::line`] a point.
pub fn table_header() -> String {
    format!(
        "{:>5} {:>12} {:>9} {:>10} {:>10} {:>10} {:>11} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "depth",
        "dynamics",
        "τ s",
        "relax τ",
        "align τ",
        "cos≥.99 τ",
        "t_PC s",
        "t_BP s",
        "speedup",
        "vs pipe",
        "E ratio",
        "wall s",
        "1-thr s",
        "peak MB",
        "state MB"
    )
}

impl BenchRow {
    /// The row of the printed table (times in τ and s, memory in MB).
    pub fn line(&self) -> String {
        let r = self;
        let o = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{x:.1}"));
        if !r.stable {
            return format!(
                "{:>5} {:>12} {:>9.2e}   unstable: τ below the loop-delay bound (delay {:.2e} s); not simulated",
                r.depth, r.dynamics, r.tau_s, r.loop_delay_s
            );
        }
        format!(
            "{:>5} {:>12} {:>9.2e} {:>10.1} {:>10} {:>10} {:>11.3e} {:>11.3e} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9} {:>9.0} {:>9.0}",
            r.depth, r.dynamics, r.tau_s, r.median_t_relax_tau, o(r.t_align_tau), o(r.t_cos99_tau), r.t_pc_s, r.t_bp_s, r.speedup, r.speedup_pipe, r.energy_ratio, r.wall_step_s,
            r.wall_step_1thread_s.map_or("—".into(), |x| format!("{x:.3}")),
            r.peak_rss_mb, r.state_mb
        )
    }

    /// A note when the process's peak memory is above twice the chip's
    /// state (from 100 MB: below, the fixed share of data set and code
    /// dominates).
    pub fn memory_note(&self) -> Option<String> {
        (self.state_mb >= 100.0 && self.peak_rss_mb > 2.0 * self.state_mb).then(|| {
            format!(
                "peak memory {:.0} MB is above twice the chip state ({:.0} MB)",
                self.peak_rss_mb, self.state_mb
            )
        })
    }
}

struct StepClock {
    last: Option<Instant>,
    times: Vec<f64>,
}

impl Observer for StepClock {
    fn start(&mut self, _: usize) {
        self.last = Some(Instant::now());
    }
    fn step(&mut self, _: &crate::chip::StepRecord) {
        let now = Instant::now();
        if let Some(t) = self.last {
            self.times.push((now - t).as_secs_f64());
        }
        self.last = Some(now);
    }
}

/// Peak resident set size of this process (MB), from /proc (0 where unavailable).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Bytes of the chip's state (MB): per weight the effective weight read
/// back from the arrays, the optimiser moments, two conductances (f64) and
/// their two fault flags (1 byte each); per unit and sample the activity and
/// its error.
pub fn state_mb(widths: &[usize], batch: usize, scalar_bytes: usize, adam: bool) -> f64 {
    let weights: usize = widths.windows(2).map(|w| w[0] * w[1]).sum();
    let units: usize = widths.iter().sum();
    let moments = if adam { 2 } else { 1 };
    let per_weight = scalar_bytes * (1 + moments) + 2 * 8 + 2;
    let bytes = weights * per_weight + units * batch * scalar_bytes * 2;
    bytes as f64 / 1e6
}

/// The circuit for one bench point.
fn variant(
    circuit: &Circuit,
    depth: usize,
    order: Order,
    steps: usize,
    t_max_tau: Option<f64>,
) -> Circuit {
    let mut c = circuit.clone();
    c.network.depth = depth;
    c.network.hidden_widths.clear();
    c.dynamics.tau_rel.clear();
    c.dynamics.order = order;
    c.train.max_steps = steps;
    c.train.epochs = c.train.epochs.max(1);
    c.train.eval_every_steps = 0;
    c.record.every_steps = 1;
    c.record.trace_alignment = true;
    if c.relax.trace_every_tau == 0.0 {
        c.relax.trace_every_tau = 1.0;
    }
    c.relax.method = match (order, c.relax.method) {
        (Order::Inertial, Method::Ros2 | Method::Ros3 | Method::Euler | Method::Heun) => {
            Method::SymplecticEuler
        }
        (Order::InertialPd, _) => Method::SymplecticEuler,
        (Order::FirstOrder, Method::SymplecticEuler) => Method::Euler,
        (_, m) => m,
    };
    // The relaxation must not be cut short: allow ~L² τ (first order) or ~L τ (inertial).
    let l = depth as f64;
    let need = match order {
        Order::FirstOrder => 60.0 * l * l,
        Order::Inertial | Order::InertialPd => 100.0 * l,
    };
    c.relax.t_max_tau = t_max_tau.unwrap_or(c.relax.t_max_tau.max(need));
    c.name = format!("{}-depth{depth}-{}", circuit.name, order.name());
    c
}

/// Sets an explicit step to 80% of the stability limit estimated at the
/// feedforward state, when the circuit's step is above it.
fn fit_step(c: &mut Circuit, base_dir: &Path) -> Result<(), RunError> {
    if explicit_step_limit(c.relax.method, crate::circuit::dynamics_of(c), 1.0).is_none() {
        return Ok(());
    }
    let mut probe = c.clone();
    probe.relax.method = match c.dynamics.order {
        Order::Inertial => Method::Rk4,
        Order::InertialPd => Method::SymplecticEuler,
        Order::FirstOrder => Method::Dopri5,
    };
    probe.relax.dt_tau = 1e-3;
    probe.relax.allow_unstable = true;
    let opts = RunOptions {
        out_dir: PathBuf::new(),
        base_dir: base_dir.into(),
        weights: None,
    };
    let derived = derive(&probe, &opts)?;
    if let Some(s) = derived.spectrum {
        let dynamics =
            crate::circuit::dynamics_with(&c.dynamics, derived.damping, derived.derivative_gain);
        if let Some(limit) = explicit_step_limit(c.relax.method, dynamics, s.lambda_max) {
            c.relax.dt_tau = c.relax.dt_tau.min(0.8 * limit);
        }
    }
    Ok(())
}

fn median_opt(v: Vec<Option<f64>>) -> Option<f64> {
    let got: Vec<f64> = v.into_iter().flatten().collect();
    (!got.is_empty()).then(|| median(got))
}

/// The stopping rule of most steps (ties: the first seen).
fn most_common_stop(steps: &[crate::chip::StepRecord]) -> String {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for s in steps {
        let name = s.stop.name();
        match counts.iter_mut().find(|c| c.0 == name) {
            Some(c) => c.1 += 1,
            None => counts.push((name, 1)),
        }
    }
    let best = counts.iter().map(|c| c.1).max().unwrap_or(0);
    counts
        .iter()
        .find(|c| c.1 == best)
        .map_or(String::new(), |c| c.0.to_string())
}

/// The row of a point below its loop-delay stability bound (not simulated).
fn unstable_row(depth: usize, order: Order, c: &Circuit) -> BenchRow {
    let nan = f64::NAN;
    BenchRow {
        depth,
        dynamics: order.name().into(),
        tau_s: c.dynamics.tau_s,
        loop_delay_s: c.loop_delay_ns() * 1e-9,
        stable: false,
        stop_rule: String::new(),
        median_t_relax_tau: nan,
        t_align_tau: None,
        t_cos99_tau: None,
        cos_bp: None,
        t_pc_s: nan,
        t_bp_s: nan,
        speedup: nan,
        energy_ratio: nan,
        t_bp_pipe_s: nan,
        speedup_pipe: nan,
        energy_ratio_pipe: nan,
        dt_tau: c.relax.dt_tau,
        damping: None,
        derivative_gain: None,
        tau_min_s: None,
        wall_step_s: nan,
        wall_step_1thread_s: None,
        peak_rss_mb: peak_rss_mb(),
        state_mb: nan,
    }
}

/// Whether the point's τ is at or above its loop-delay bound (always, with
/// no delay or with `relax.allow_unstable`).
fn stable_point(c: &Circuit, base_dir: &Path) -> Result<bool, RunError> {
    if c.loop_delay_ns() == 0.0 || c.relax.allow_unstable {
        return Ok(true);
    }
    Ok(smallest_stable_tau(c, base_dir)?.is_none_or(|t| c.dynamics.tau_s >= t))
}

/// The point's smallest stable τ (s) for its loop delay, from the bound at
/// the first batch's feedforward state; `None` without a delay.
fn smallest_stable_tau(c: &Circuit, base_dir: &Path) -> Result<Option<f64>, RunError> {
    if c.loop_delay_ns() == 0.0 {
        return Ok(None);
    }
    let mut probe = c.clone();
    probe.relax.allow_unstable = true;
    let opts = RunOptions {
        out_dir: PathBuf::new(),
        base_dir: base_dir.into(),
        weights: None,
    };
    Ok(derive(&probe, &opts)?.delay_bound.map(|b| b.tau_min_s))
}

/// Runs the bench over dynamics × depth × τ; writes bench.json, bench.csv
/// and each simulated point's run folder.
pub fn bench(
    circuit: &Circuit,
    base_dir: &Path,
    out_dir: &Path,
    opts: &BenchOptions,
    mut progress: impl FnMut(&BenchRow),
) -> Result<Vec<BenchRow>, RunError> {
    if !opts.tau_margins.is_empty() && circuit.loop_delay_ns() == 0.0 {
        return Err(RunError::Invalid(
            "--tau-margins: the circuit has no loop delay (dynamics.loop_delay_ns = 0), so every τ is stable; set one or use --taus".into(),
        ));
    }
    let point = |depth: usize, order: Order, tau: f64| {
        let mut c = variant(circuit, depth, order, opts.steps, opts.t_max_tau);
        c.dynamics.tau_s = tau;
        c
    };
    // The τ values of each point: the list, or multiples of its bound.
    let taus_of = |depth: usize, order: Order| -> Result<Vec<f64>, RunError> {
        if opts.tau_margins.is_empty() {
            return Ok(match opts.taus.is_empty() {
                true => vec![circuit.dynamics.tau_s],
                false => opts.taus.clone(),
            });
        }
        let probe = point(depth, order, circuit.dynamics.tau_s);
        crate::circuit::validate::validate(&probe).map_err(|(key, m)| {
            RunError::Invalid(format!("depth {depth} ({}): {key}: {m}", order.name()))
        })?;
        let t_min = smallest_stable_tau(&probe, base_dir)?.unwrap_or(circuit.dynamics.tau_s);
        Ok(opts
            .tau_margins
            .iter()
            .map(|m| (m * t_min).min(1.0))
            .collect())
    };
    let mut plan = Vec::new();
    for &order in &opts.orders {
        for &depth in &opts.depths {
            plan.push((depth, order, taus_of(depth, order)?));
        }
    }
    // Every point's circuit is checked before anything is written.
    for &(depth, order, ref taus) in &plan {
        for &tau in taus {
            crate::circuit::validate::validate(&point(depth, order, tau)).map_err(|(key, m)| {
                RunError::Invalid(format!(
                    "depth {depth} ({}, τ = {tau:e} s): {key}: {m}",
                    order.name()
                ))
            })?;
        }
    }
    crate::run::train::check_out_dir(out_dir)?;
    std::fs::create_dir_all(out_dir)
        .map_err(|e| RunError::Failed(format!("{}: {e}", out_dir.display())))?;
    // An unwritable folder fails here, before any point is simulated.
    bench_csv::write_outputs(out_dir, &[])?;
    let mut rows = Vec::new();
    let single = opts.taus.is_empty() && opts.tau_margins.is_empty();
    for &(depth, order, ref taus) in &plan {
        for &tau in taus {
            let mut c = point(depth, order, tau);
            let row = if stable_point(&c, base_dir)? {
                fit_step(&mut c, base_dir)?;
                let name = match single {
                    true => format!("depth-{depth}-{}", order.name()),
                    false => format!("depth-{depth}-{}-tau-{tau:e}", order.name()),
                };
                simulate(&c, depth, order, base_dir, &out_dir.join(name), opts)?
            } else {
                unstable_row(depth, order, &c)
            };
            progress(&row);
            rows.push(row);
            bench_csv::write_outputs(out_dir, &rows)?;
        }
    }
    Ok(rows)
}

/// Runs one point's training steps (and, when asked, again on one thread)
/// into `dir`, and condenses them into its row.
fn simulate(
    c: &Circuit,
    depth: usize,
    order: Order,
    base_dir: &Path,
    dir: &Path,
    opts: &BenchOptions,
) -> Result<BenchRow, RunError> {
    let run_opts = RunOptions {
        out_dir: dir.to_path_buf(),
        base_dir: base_dir.into(),
        weights: None,
    };
    let mut clock = StepClock {
        last: None,
        times: vec![],
    };
    let report: Report = run(c, &run_opts, &mut clock)?;
    let peak_rss = peak_rss_mb();
    let one_thread = if opts.compare_threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map_err(|e| RunError::Failed(e.to_string()))?;
        let mut clock1 = StepClock {
            last: None,
            times: vec![],
        };
        let opts1 = RunOptions {
            out_dir: dir.join("one-thread"),
            ..run_opts.clone()
        };
        pool.install(|| run(c, &opts1, &mut clock1))?;
        Some(median(clock1.times))
    } else {
        None
    };
    let s = &report.steps;
    let scalar = if c.dtype == DType::F32 { 4 } else { 8 };
    let adam = c.controller.optimiser == crate::net::OptimiserKind::Adam;
    let energy_ratio = median(s.iter().map(|r| r.energy_ratio).collect());
    Ok(BenchRow {
        depth,
        dynamics: order.name().into(),
        tau_s: c.dynamics.tau_s,
        loop_delay_s: c.loop_delay_ns() * 1e-9,
        stable: true,
        stop_rule: most_common_stop(s),
        median_t_relax_tau: median(s.iter().map(|r| r.t_relax_tau).collect()),
        t_align_tau: median_opt(s.iter().map(|r| r.t_align_tau).collect()),
        t_cos99_tau: median_opt(s.iter().map(|r| r.t_cos99_tau).collect()),
        cos_bp: median_opt(s.iter().map(|r| r.cos_bp).collect()),
        t_pc_s: median(s.iter().map(|r| r.t_pc_s).collect()),
        t_bp_s: median(s.iter().map(|r| r.t_bp_s).collect()),
        speedup: median(s.iter().map(|r| r.speedup).collect()),
        energy_ratio,
        t_bp_pipe_s: median(s.iter().map(|r| r.t_bp_pipe_s).collect()),
        speedup_pipe: median(s.iter().map(|r| r.speedup_pipe).collect()),
        energy_ratio_pipe: energy_ratio,
        dt_tau: c.relax.dt_tau,
        damping: report.derived.damping,
        derivative_gain: report.derived.derivative_gain,
        tau_min_s: report.derived.delay_bound.map(|b| b.tau_min_s),
        wall_step_s: median(clock.times),
        wall_step_1thread_s: one_thread,
        peak_rss_mb: peak_rss,
        state_mb: state_mb(&report.derived.widths, c.train.batch_size, scalar, adam),
    })
}
