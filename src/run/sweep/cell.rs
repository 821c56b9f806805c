//! One cell of a sweep: build the chip at its initialisation, find its
//! equilibrium (`[equilibrium]`'s solver) on the circuit's first training batch and compare the PC
//! gradient with backprop's (exactly as `pcchip grads` does); optionally
//! train K steps on the chip and compare again on the same batch.

use super::Cell;
use crate::chip::{Chip, ChipError};
use crate::circuit::Circuit;
use crate::data::Batches;
use crate::net::s_matrix;
use crate::real::Real;
use crate::relax::{Solver, StopReason};
use crate::run::dispatch::{dispatch, Job};
use crate::run::grads::{equilibrium, first_batch, Solve};
use crate::run::train::{prepare, RunOptions};
use crate::run::RunError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one cell measured. Numbers are `None` where they do not apply or
/// the cell failed (then `error` says why).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellResult {
    /// Position in the grid's cell order.
    pub index: usize,
    pub width: usize,
    pub depth: usize,
    pub seed: u64,
    /// cos(PC, BP) at initialisation: the equilibrium PC weight gradient
    /// against the backprop gradient, all layers and each layer ℓ = 1..L.
    pub cos_global: Option<f64>,
    pub cos_layers: Vec<f64>,
    /// The same with the PC gradient read through the ADCs (the chip's update).
    pub cos_read: Option<f64>,
    /// Relaxation time to equilibrium (τ) and the rule that stopped it
    /// (`max-time`: not at equilibrium).
    pub t_relax_tau: Option<f64>,
    pub stop: Option<StopReason>,
    /// Field evaluations of the relaxation (its cost).
    pub n_evals: Option<usize>,
    /// The equilibrium's solver (`equilibrium.solver`; with `relaxation`
    /// the three fields above are set) and whether its test was met.
    #[serde(default)]
    pub solver: Option<Solver>,
    #[serde(default)]
    pub at_equilibrium: Option<bool>,
    /// Linear networks: mean eigenvalue of S minus 1 (MODEL.md §3; for a
    /// scalar output F* = ℒ/s).
    pub s_minus_1: Option<f64>,
    /// Energy F at the relaxed state, the closed-form F* (linear MSE
    /// networks) and the backprop loss ℒ (batch means).
    pub energy: Option<f64>,
    pub energy_closed_form: Option<f64>,
    pub loss: Option<f64>,
    /// With `--steps K`: cos(PC, BP) on the same batch after K training steps.
    pub cos_steps: Option<f64>,
    pub cos_steps_layers: Vec<f64>,
    /// Why the cell failed.
    pub error: Option<String>,
    /// Wall-clock of the cell (s); not part of the CSV (it varies run to run).
    pub wall_s: f64,
}

impl CellResult {
    fn empty(c: &Cell) -> Self {
        CellResult {
            index: c.index,
            width: c.width,
            depth: c.depth,
            seed: c.seed,
            cos_global: None,
            cos_layers: vec![],
            cos_read: None,
            t_relax_tau: None,
            stop: None,
            n_evals: None,
            solver: None,
            at_equilibrium: None,
            s_minus_1: None,
            energy: None,
            energy_closed_form: None,
            loss: None,
            cos_steps: None,
            cos_steps_layers: vec![],
            error: None,
            wall_s: 0.0,
        }
    }
}

/// Measures one cell of circuit `circuit` (already the cell's circuit);
/// a failure is kept in the result.
pub fn measure(c: &Cell, circuit: &Circuit, base_dir: &Path, steps: usize) -> CellResult {
    let start = Instant::now();
    let mut r = CellResult::empty(c);
    let job = Measure {
        circuit,
        base_dir,
        steps,
        r: &mut r,
    };
    let out = dispatch(circuit.dtype, job);
    if let Err(e) = out {
        r.error = Some(e.to_string());
    }
    r.wall_s = start.elapsed().as_secs_f64();
    r
}

/// [`measure`]'s arguments, for [`dispatch`].
struct Measure<'a> {
    circuit: &'a Circuit,
    base_dir: &'a Path,
    steps: usize,
    r: &'a mut CellResult,
}

impl Job for Measure<'_> {
    type Output = Result<(), RunError>;
    fn call<T: Real>(self) -> Self::Output {
        measure_typed::<T>(self.circuit, self.base_dir, self.steps, self.r)
    }
}

/// A finite value, or `None`.
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn measure_typed<T: Real>(
    circuit: &Circuit,
    base_dir: &Path,
    steps: usize,
    r: &mut CellResult,
) -> Result<(), RunError> {
    let opts = RunOptions {
        out_dir: PathBuf::new(),
        base_dir: base_dir.into(),
        weights: None,
    };
    let (mut chip, train, _, _): (Chip<T>, _, _, _) = prepare(circuit, &opts)?;
    let (x, y) = first_batch::<T>(&train, circuit);
    let eq = equilibrium(&chip, &x, &y)?;
    r.cos_global = finite(eq.cos_global());
    r.cos_layers = eq.cos_layers();
    r.cos_read = finite(eq.cos_read());
    r.t_relax_tau = eq.solve.t_relax_tau();
    r.stop = eq.solve.stop();
    if let Solve::Relaxation { n_evals, .. } = eq.solve {
        r.n_evals = Some(n_evals);
    }
    r.solver = Some(eq.solve.solver());
    r.at_equilibrium = Some(eq.solve.at_equilibrium());
    r.energy = finite(eq.energy);
    r.energy_closed_form = eq.energy_closed_form;
    r.loss = finite(eq.loss);
    r.s_minus_1 = s_matrix(&chip.network()).ok().map(|s| {
        let n = s.nrows() as f64;
        s.trace().f64() / n - 1.0
    });
    if steps > 0 {
        train_steps(&mut chip, &train, circuit, steps)?;
        let eq = equilibrium(&chip, &x, &y)?;
        r.cos_steps = finite(eq.cos_global());
        r.cos_steps_layers = eq.cos_layers();
    }
    Ok(())
}

/// `steps` training steps on the chip, through the training set's epochs
/// in the circuit's order.
fn train_steps<T: Real>(
    chip: &mut Chip<T>,
    train: &crate::data::Dataset,
    circuit: &Circuit,
    steps: usize,
) -> Result<(), RunError> {
    let batches = Batches {
        batch_size: circuit.train.batch_size,
        drop_last: false,
    };
    let mut epoch = 0;
    while chip.steps_taken() < steps {
        for chunk in batches.epoch(train.len(), circuit.seed, epoch as u64) {
            if chip.steps_taken() >= steps {
                break;
            }
            let (x, y) = train.batch::<T>(&chunk);
            chip.train_step(&x, &y, epoch, false).map_err(|e| match e {
                ChipError::Relax(e) => {
                    RunError::Failed(format!("training step {}: {e}", chip.steps_taken() + 1))
                }
                other => RunError::Invalid(other.to_string()),
            })?;
        }
        epoch += 1;
    }
    Ok(())
}
