//! `pcchip grads`: the equilibrium PC weight gradients and the backprop
//! gradients at given weights and batch, written as safetensors
//! (`pc.W1` …, `bp.W1` …, scalars `energy`, `loss`, `max_abs_dF_dz`,
//! `residual`, `at_equilibrium`, `t_relax_tau` (relaxation) or
//! `newton_iterations` (fixed-point solver), for linear MSE networks
//! `energy_closed_form`; metadata `solver` and `stop`: the relaxation's
//! rule, or `converged` / `not-converged`), with their cosines. The
//! equilibrium comes from `[equilibrium]`'s solver. With a batch file the network's input and output widths
//! are the batch's, and the circuit's data set is not read.

use crate::chip::{Chip, ChipError, TraceRequest};
use crate::circuit::Circuit;
use crate::data::Dataset;
use crate::net::{equilibrium_energy, errors, weight_grads, Activation};
use crate::real::{cosine, Real};
use crate::relax::{Field, Solver, StopReason};
use crate::report::tensors::{read_tensors, write_tensors_with_metadata, Tensor};
use crate::run::check::fmt_list;
use crate::run::dispatch::{dispatch, Job};
use crate::run::train::{prepare_with, GivenWeights};
use crate::run::RunError;
use nalgebra::DMatrix;
use std::path::{Path, PathBuf};

/// What `grads` computed.
#[derive(Clone, Debug)]
pub struct GradsSummary {
    pub cos_global: f64,
    pub cos_layers: Vec<f64>,
    pub energy: f64,
    pub loss: f64,
    pub energy_closed_form: Option<f64>,
    /// How the equilibrium was found.
    pub solve: Solve,
    /// Worst residual relative to its start (see [`Equilibrium::residual`]).
    pub residual: f64,
    /// max |∂F/∂z| over hidden units and samples at the stop, F the batch
    /// mean energy (jpc's normalisation); 0 at an exact equilibrium.
    pub max_abs_grad_z: f64,
    /// A hint when the relaxation stopped short of equilibrium on a kinked
    /// activation (relu, hard-tanh), where the residual cannot reach zero.
    pub kink_hint: Option<String>,
}

impl GradsSummary {
    /// The one-line account of how the relaxation ended: "relaxed to
    /// equilibrium …" only when the residual rule fired.
    pub fn stop_line(&self) -> String {
        let (r, g) = (self.residual, self.max_abs_grad_z);
        let (t, stop) = match self.solve {
            Solve::Relaxation {
                t_relax_tau, stop, ..
            } => (t_relax_tau, stop),
            Solve::FixedPoint {
                iterations,
                cg_iterations,
                n_converged,
                batch,
            } => {
                let counts = format!("{iterations} Newton iterations, {cg_iterations} CG iterations; residual {r:.3e} of the feedforward state's; max |∂F/∂z| = {g:.3e}");
                return if n_converged == batch {
                    format!("equilibrium by the fixed-point solver (error-newton) in {counts}")
                } else {
                    format!("not at equilibrium: the fixed-point solver (error-newton) met the test for {n_converged} of {batch} samples in {counts}; raise equilibrium.max_iterations or loosen equilibrium.max_abs_grad / rel_residual, or use --set equilibrium.solver=relaxation")
                };
            }
        };
        match stop {
            StopReason::Residual => format!(
                "relaxed to equilibrium in {t:.1} τ (residual {r:.3e} of its start; max |∂F/∂z| = {g:.3e})"
            ),
            StopReason::MaxTime => format!(
                "not at equilibrium: stopped by t_max ({t:.1} τ) at residual {r:.3e} of its start (max |∂F/∂z| = {g:.3e}); raise relax.t_max_tau"
            ),
            StopReason::MaxSteps => format!(
                "not at equilibrium: stopped by relax.max_steps at {t:.1} τ at residual {r:.3e} of its start (max |∂F/∂z| = {g:.3e}); raise relax.max_steps or loosen rtol/atol"
            ),
            other => format!(
                "stopped by the {} rule in {t:.1} τ at residual {r:.3e} of its start (max |∂F/∂z| = {g:.3e}); not checked to be an equilibrium",
                other.name()
            ),
        }
    }
}

impl GradsSummary {
    /// The scalars `grads` writes beside the gradients, by name: `energy`,
    /// `loss`, `max_abs_dF_dz`, `residual`, `at_equilibrium` (0 or 1), then
    /// `t_relax_tau` (relaxation) or `newton_iterations` (fixed point), and
    /// `energy_closed_form` for linear MSE networks.
    pub fn scalars(&self) -> Vec<(&'static str, f64)> {
        let at_eq = f64::from(u8::from(self.solve.at_equilibrium()));
        let mut v = vec![
            ("energy", self.energy),
            ("loss", self.loss),
            ("max_abs_dF_dz", self.max_abs_grad_z),
            ("residual", self.residual),
            ("at_equilibrium", at_eq),
        ];
        v.push(match self.solve {
            Solve::Relaxation { t_relax_tau, .. } => ("t_relax_tau", t_relax_tau),
            Solve::FixedPoint { iterations, .. } => ("newton_iterations", iterations as f64),
        });
        if let Some(f) = self.energy_closed_form {
            v.push(("energy_closed_form", f));
        }
        v
    }

    /// What `pcchip grads` prints after [`GradsSummary::stop_line`]: the
    /// energy and loss, the closed form where there is one, the cosines, and
    /// the file written.
    pub fn report(&self, out: &Path) -> String {
        let mut s = format!(
            "energy F = {:.9e}, loss ℒ = {:.9e}\n",
            self.energy, self.loss
        );
        if let Some(f) = self.energy_closed_form {
            s += &format!(
                "closed-form F* = {f:.9e} (relative difference {:.2e})\n",
                (self.energy - f).abs() / f.abs().max(f64::MIN_POSITIVE)
            );
        }
        s += &format!(
            "cosine(PC, BP): global {:.6}; per layer {}\n",
            self.cos_global,
            fmt_list(&self.cos_layers)
        );
        s + &format!("written to {}\n", out.display())
    }
}

/// The hint for a kinked activation whose equilibrium test was not met
/// (`None` otherwise).
fn kink_hint(circuit: &Circuit, solve: &Solve) -> Option<String> {
    let act = circuit.network.activation;
    let kinked = matches!(act, Activation::Relu | Activation::HardTanh);
    (kinked && !solve.at_equilibrium()).then(|| {
        let name = if act == Activation::Relu { "relu" } else { "hard-tanh" };
        match solve {
            Solve::FixedPoint { .. } => format!(
                "network.activation = \"{name}\" has kinks: where the minimum sits on one the force jumps across it and cannot vanish, so neither this solver nor a relaxation meets a zero-force test; what is written is the lowest energy the solver found (below a long Euler relaxation's on the nets tried; max |∂F/∂z| above says how far from a smooth equilibrium). Loosen equilibrium.max_abs_grad / rel_residual to accept it"
            ),
            Solve::Relaxation { .. } => format!(
                "network.activation = \"{name}\" has kinks: the force jumps where a unit crosses one, so the residual cannot reach zero and adaptive steps collapse there. Use a fixed step below the stability limit instead, e.g. --set relax.method=euler --set relax.dt_tau=0.2 (`pcchip check` prints the limit), with a relax.residual_tol the kinks allow (1e-2), or accept the t_max stop"
            ),
        }
    })
}

/// Reads a batch file: `x` [B, D] and `y` [B, n_out] (row = sample).
pub fn read_batch<T: Real>(path: &Path) -> Result<(DMatrix<T>, DMatrix<T>), RunError> {
    let t = read_tensors::<T>(path).map_err(|e| RunError::Invalid(e.to_string()))?;
    let get = |name: &str| {
        t.iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.transpose())
            .ok_or_else(|| {
                RunError::Invalid(format!(
                    "{}: no tensor `{name}` (a batch file holds x [B, D] and y [B, n_out])",
                    path.display()
                ))
            })
    };
    Ok((get("x")?, get("y")?))
}

/// The circuit's first training batch: the first `train.batch_size`
/// samples of epoch 0's order for the circuit's seed.
pub fn first_batch<T: Real>(train: &Dataset, circuit: &Circuit) -> (DMatrix<T>, DMatrix<T>) {
    let idx: Vec<usize> = crate::data::epoch_order(train.len(), circuit.seed, 0)
        .into_iter()
        .take(circuit.train.batch_size)
        .collect();
    train.batch::<T>(&idx)
}

/// Runs `grads` for the circuit; `weights` and `batch` files are optional.
pub fn grads(
    circuit: &Circuit,
    base_dir: &Path,
    weights: Option<PathBuf>,
    batch: Option<&Path>,
    out: &Path,
) -> Result<GradsSummary, RunError> {
    let job = Grads {
        circuit,
        base_dir,
        weights,
        batch,
        out,
    };
    dispatch(circuit.dtype, job)
}

/// [`grads`]'s arguments, for [`dispatch`].
struct Grads<'a> {
    circuit: &'a Circuit,
    base_dir: &'a Path,
    weights: Option<PathBuf>,
    batch: Option<&'a Path>,
    out: &'a Path,
}

impl Job for Grads<'_> {
    type Output = Result<GradsSummary, RunError>;
    fn call<T: Real>(self) -> Self::Output {
        let Grads {
            circuit,
            base_dir,
            weights,
            batch,
            out,
        } = self;
        grads_typed::<T>(circuit, base_dir, weights, batch, out)
    }
}

fn grads_typed<T: Real>(
    circuit: &Circuit,
    base_dir: &Path,
    weights: Option<PathBuf>,
    batch: Option<&Path>,
    out: &Path,
) -> Result<GradsSummary, RunError> {
    let weights = weights
        .map(|p| GivenWeights::<T>::from_file(&p, circuit))
        .transpose()?;
    let batch = batch.map(GivenBatch::from_file).transpose()?;
    let (eq, summary) = grads_in_memory(circuit, base_dir, weights, batch)?;
    let mut tensors: Vec<(String, Tensor<T>)> = Vec::new();
    for (l, g) in eq.pc.iter().enumerate() {
        tensors.push((format!("pc.W{}", l + 1), Tensor::Matrix(g)));
    }
    for (l, g) in eq.bp.iter().enumerate() {
        tensors.push((format!("bp.W{}", l + 1), Tensor::Matrix(g)));
    }
    for (name, v) in summary.scalars() {
        tensors.push((name.into(), Tensor::Scalar(v)));
    }
    let meta = [
        ("stop".to_string(), eq.solve.stop_name().to_string()),
        ("solver".to_string(), eq.solve.solver().name().to_string()),
    ];
    write_tensors_with_metadata(out, &tensors, &meta)
        .map_err(|e| RunError::Failed(e.to_string()))?;
    Ok(summary)
}

/// A batch given to a command: `x` [D, B] and `y` [n_out, B] (column =
/// sample), and what names it in messages (a file's path, or `x`/`y`).
#[derive(Clone, Debug)]
pub struct GivenBatch<T: Real> {
    pub x: DMatrix<T>,
    pub y: DMatrix<T>,
    pub source: String,
}

impl<T: Real> GivenBatch<T> {
    /// A batch file: `x` [B, D] and `y` [B, n_out] (row = sample).
    pub fn from_file(path: &Path) -> Result<Self, RunError> {
        let (x, y) = read_batch::<T>(path)?;
        let source = path.display().to_string();
        Ok(GivenBatch { x, y, source })
    }
}

/// `grads` in memory, nothing written: the equilibrium of the batch (the
/// circuit's first training batch when `None`; with a batch the network's
/// input and output widths are the batch's and `[data]` is not read) at
/// the given weights (the circuit's initialisation when `None`).
pub fn grads_in_memory<T: Real>(
    circuit: &Circuit,
    base_dir: &Path,
    weights: Option<GivenWeights<T>>,
    batch: Option<GivenBatch<T>>,
) -> Result<(Equilibrium<T>, GradsSummary), RunError> {
    let (chip, x, y) = match batch {
        Some(b) => (
            chip_for_batch(circuit, weights, &b.x, &b.y, &b.source)?,
            b.x,
            b.y,
        ),
        None => {
            let (chip, train, _, _): (Chip<T>, _, _, _) = prepare_with(circuit, base_dir, weights)?;
            let (x, y) = first_batch(&train, circuit);
            (chip, x, y)
        }
    };
    chip.check_step_on_batch(&x, &y).map_err(chip_error)?;
    let eq = equilibrium(&chip, &x, &y)?;
    let summary = GradsSummary {
        cos_global: eq.cos_global(),
        cos_layers: eq.cos_layers(),
        energy: eq.energy,
        loss: eq.loss,
        energy_closed_form: eq.energy_closed_form,
        solve: eq.solve,
        residual: eq.residual,
        max_abs_grad_z: eq.max_abs_grad_z,
        kink_hint: kink_hint(circuit, &eq.solve),
    };
    Ok((eq, summary))
}

/// The chip for a batch (`x` [D, B], `y` [n_out, B]): input and output
/// widths are the batch's, so the circuit's `[data]` is not read; the
/// preflight (time constants, damping, stability) runs on this batch.
/// `source` names the batch in messages.
pub fn chip_for_batch<T: Real>(
    circuit: &Circuit,
    weights: Option<GivenWeights<T>>,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
    source: &str,
) -> Result<Chip<T>, RunError> {
    if x.ncols() == 0 || x.ncols() != y.ncols() || x.nrows() == 0 || y.nrows() == 0 {
        return Err(RunError::Invalid(format!(
            "{source}: x is [{}, {}] and y [{}, {}]; expected x [B, D] and y [B, n_out] with the same B ≥ 1 and D, n_out ≥ 1",
            x.ncols(),
            x.nrows(),
            y.ncols(),
            y.nrows()
        )));
    }
    let label = weights.as_ref().map(|w| w.source.clone());
    let mut chip = Chip::<T>::build(circuit, x.nrows(), y.nrows(), weights.map(|w| w.matrices))
        .map_err(|e| match (e, &label) {
            (ChipError::Invalid { key, message }, Some(s)) if key == "weights" => {
                RunError::Invalid(format!("{s}: {message}"))
            }
            (e, _) => chip_error(e),
        })?;
    chip.preflight(x, y).map_err(chip_error)?;
    Ok(chip)
}

fn chip_error(e: ChipError) -> RunError {
    match e {
        ChipError::Relax(r) => RunError::Failed(r.to_string()),
        other => RunError::Invalid(other.to_string()),
    }
}

/// How an [`Equilibrium`] was found (circuit key `equilibrium.solver`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Solve {
    /// The circuit's relaxation (`[relax]`) to its stopping rule: time (τ),
    /// the rule, and field evaluations.
    Relaxation {
        t_relax_tau: f64,
        stop: StopReason,
        n_evals: usize,
    },
    /// The fixed-point solver: Newton and conjugate-gradient iterations
    /// (of the slowest block of samples) and the samples that met
    /// `[equilibrium]`'s stopping test.
    FixedPoint {
        iterations: usize,
        cg_iterations: usize,
        n_converged: usize,
        batch: usize,
    },
}

impl Solve {
    /// The solver's name in circuit files and reports.
    pub fn solver(&self) -> Solver {
        match self {
            Solve::Relaxation { .. } => Solver::Relaxation,
            Solve::FixedPoint { .. } => Solver::ErrorNewton,
        }
    }

    /// Whether the equilibrium test was met: the residual rule of a
    /// relaxation, every sample's test of the fixed-point solver.
    pub fn at_equilibrium(&self) -> bool {
        match *self {
            Solve::Relaxation { stop, .. } => stop == StopReason::Residual,
            Solve::FixedPoint {
                n_converged, batch, ..
            } => n_converged == batch,
        }
    }

    /// The relaxation's stopping rule (`None` for the fixed-point solver).
    pub fn stop(&self) -> Option<StopReason> {
        match *self {
            Solve::Relaxation { stop, .. } => Some(stop),
            Solve::FixedPoint { .. } => None,
        }
    }

    /// The relaxation time (τ; `None` for the fixed-point solver).
    pub fn t_relax_tau(&self) -> Option<f64> {
        match *self {
            Solve::Relaxation { t_relax_tau, .. } => Some(t_relax_tau),
            Solve::FixedPoint { .. } => None,
        }
    }

    /// How it ended, as written to the `stop` metadata: the rule's name,
    /// or `converged` / `not-converged`.
    pub fn stop_name(&self) -> &'static str {
        match (self.stop(), self.at_equilibrium()) {
            (Some(r), _) => r.name(),
            (None, true) => "converged",
            (None, false) => "not-converged",
        }
    }
}

/// The chip's equilibrium on one batch, with the gradients to compare.
#[derive(Clone, Debug)]
pub struct Equilibrium<T: Real> {
    /// ∂F/∂W_ℓ at the equilibrium activities, on the arrays' effective
    /// weights (exact arithmetic, no converters).
    pub pc: Vec<DMatrix<T>>,
    /// The same gradient as the controller reads it through the ADCs.
    pub read: Vec<DMatrix<T>>,
    /// ∇_W ℒ by backprop on the same weights and batch.
    pub bp: Vec<DMatrix<T>>,
    /// F at the equilibrium activities and ℒ (batch means).
    pub energy: f64,
    pub loss: f64,
    /// F* of the linear theory (linear MSE networks only).
    pub energy_closed_form: Option<f64>,
    /// How it was found.
    pub solve: Solve,
    /// Worst residual relative to its start: a relaxation's worst layer at
    /// its last check; the fixed-point solver's worst sample's ‖∇_z F_b‖.
    pub residual: f64,
    /// max |∂F/∂z| over hidden units and samples at the stop, F the batch
    /// mean energy (the per-sample force divided by B, as jpc normalises).
    pub max_abs_grad_z: f64,
}

impl<T: Real> Equilibrium<T> {
    /// cos(PC, BP) over all layers.
    pub fn cos_global(&self) -> f64 {
        cosine(&self.pc, &self.bp)
    }

    /// cos(PC, BP) of each layer ℓ = 1..L with weights.
    pub fn cos_layers(&self) -> Vec<f64> {
        per_layer(&self.pc, &self.bp)
    }

    /// cos(ADC-read PC gradient, BP) over all layers.
    pub fn cos_read(&self) -> f64 {
        cosine(&self.read, &self.bp)
    }
}

/// Per layer with weights (a pool, which has none, is left out).
fn per_layer<T: Real>(a: &[DMatrix<T>], b: &[DMatrix<T>]) -> Vec<f64> {
    (0..a.len())
        .filter(|&l| !a[l].is_empty())
        .map(|l| cosine(&a[l..=l], &b[l..=l]))
        .collect()
}

/// The equilibrium of (x, y) by the circuit's `equilibrium.solver`
/// ([`Solver::resolve`]): the fixed-point solver, or the chip's relaxation from the
/// feedforward state with the circuit's `[relax]` settings (no trace; node
/// noise from stream 2 of the seed). Returns the equilibrium PC gradients
/// next to backprop's. `x`, `y` are used as given (not clamped through
/// the DACs).
pub fn equilibrium<T: Real>(
    chip: &Chip<T>,
    x: &DMatrix<T>,
    y: &DMatrix<T>,
) -> Result<Equilibrium<T>, RunError> {
    let net = chip.network();
    let bp = chip.backprop(x, y);
    let cfg = chip.config();
    let solver = (cfg.equilibrium.solver).resolve(&cfg.relax, chip.topology().newton_solvable());
    let (activities, signals, solve, residual) = match solver {
        Solver::ErrorNewton | Solver::Auto => {
            let e = chip.equilibrate(x, y);
            let f = e.fixed_point;
            let solve = Solve::FixedPoint {
                iterations: f.iterations,
                cg_iterations: f.cg_iterations,
                n_converged: f.n_converged,
                batch: f.batch,
            };
            (f.activities, e.signals, solve, f.residual)
        }
        Solver::Relaxation => {
            let mut rng = crate::chip::stream(chip.config().seed, 2);
            let settled = chip
                .settle(x, y, TraceRequest::Off, &mut rng)
                .map_err(|e| RunError::Failed(e.to_string()))?;
            let r = settled.relaxation;
            let solve = Solve::Relaxation {
                t_relax_tau: r.t_tau,
                stop: r.stop,
                n_evals: r.n_evals,
            };
            let residual = r.residual;
            (r.activities().to_vec(), settled.signals, solve, residual)
        }
    };
    let mut field = chip.field(x.clone(), y.clone());
    let mut scratch = field.hidden_zeros();
    field.force(&activities, &mut scratch);
    let per_sample = scratch.iter().map(|f| f.amax().f64()).fold(0.0, f64::max);
    let max_abs_grad_z = per_sample / x.ncols().max(1) as f64;
    let read = chip.read(&signals).grads;
    let energy_closed_form = equilibrium_energy(&net, x, y).ok();
    let (pc, energy) = if net.topology.is_dense_chain() {
        let mut z = vec![x.clone()];
        z.extend(activities);
        z.push(y.clone());
        let pc = weight_grads(&net, &z, &errors(&net, &z));
        (pc, crate::net::energy(&net, &z))
    } else {
        // Other layer kinds: the field's own gradients and energy, at the
        // equilibrium just evaluated (on the arrays' effective weights).
        let mut exact = Field::of_network(&net, x.clone(), y.clone());
        let mut scratch = exact.hidden_zeros();
        exact.force(&activities, &mut scratch);
        (exact.weight_grads(&activities), exact.energy())
    };
    Ok(Equilibrium {
        energy,
        energy_closed_form,
        pc,
        read,
        bp: bp.grads,
        loss: bp.loss,
        solve,
        residual,
        max_abs_grad_z,
    })
}
