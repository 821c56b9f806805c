//! A training run, end to end: circuit → data → chip → steps → report.
//! Every failure after the circuit was accepted leaves a valid report.

use crate::chip::{dataset::load_split, Chip, ChipError, EvalRecord, StepRecord};
use crate::circuit::{Circuit, Precision};
use crate::data::{Batches, Dataset};
use crate::net::Loss;
use crate::real::Real;
use crate::report::tensors::{read_tensors, write_tensors, Tensor};
use crate::report::{median, Derived, Report, ReportWriter, Status, Summary};
use nalgebra::DMatrix;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Receives progress (the CLI draws a progress bar).
pub trait Observer {
    fn start(&mut self, _total_steps: usize) {}
    fn step(&mut self, _rec: &StepRecord) {}
    fn eval(&mut self, _rec: &EvalRecord) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// Why a run did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad input: circuit, data or weights (exit code 2); nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// The run failed after it started (exit code 1); the report says where.
    #[error("{0}")]
    Failed(String),
}

impl RunError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Invalid(_) => 2,
            RunError::Failed(_) => 1,
        }
    }
}

/// Where a run reads from and writes to.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Output folder.
    pub out_dir: PathBuf,
    /// Folder that relative data paths in the circuit refer to.
    pub base_dir: PathBuf,
    /// Start from these raw weights (safetensors `W1` … `WL`) instead of the initialisation.
    pub weights: Option<PathBuf>,
}

fn invalid(e: ChipError) -> RunError {
    match e {
        ChipError::Relax(r) => RunError::Failed(r.to_string()),
        other => RunError::Invalid(other.to_string()),
    }
}

/// Reads `W1` … `WL` from a safetensors file.
pub fn load_weights<T: Real>(path: &Path, depth: usize) -> Result<Vec<DMatrix<T>>, String> {
    let mut all = read_tensors::<T>(path)?;
    (1..=depth)
        .map(|l| {
            let name = format!("W{l}");
            all.iter()
                .position(|(n, _)| *n == name)
                .map(|i| all.swap_remove(i).1)
                .ok_or_else(|| {
                    format!(
                        "{}: no tensor `{name}` (expected W1 … W{depth})",
                        path.display()
                    )
                })
        })
        .collect()
}

/// Writes the chip's effective weights as `W1` … `WL`.
pub fn save_weights<T: Real>(chip: &Chip<T>, path: &Path) -> Result<(), String> {
    let tensors: Vec<(String, Tensor<T>)> = chip
        .cores
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("W{}", i + 1), Tensor::Matrix(c.effective_weights())))
        .collect();
    write_tensors(path, &tensors)
}

/// Builds the chip and its data, checked, without writing anything.
pub fn prepare<T: Real>(
    circuit: &Circuit,
    opts: &RunOptions,
) -> Result<(Chip<T>, Dataset, Dataset, Derived), RunError> {
    let (train, test) =
        load_split(circuit, &opts.base_dir).map_err(|e| RunError::Invalid(e.to_string()))?;
    if train.is_empty() {
        return Err(RunError::Invalid(
            "data: the training split is empty; lower data.test_frac or add samples".into(),
        ));
    }
    if circuit.network.loss == Loss::CrossEntropy && train.labels.is_none() {
        return Err(RunError::Invalid("network.loss: \"cross-entropy\" needs class labels, but the data set is a regression; use loss = \"mse\"".into()));
    }
    let weights = match &opts.weights {
        Some(p) => Some(load_weights::<T>(p, circuit.network.depth).map_err(RunError::Invalid)?),
        None => None,
    };
    let mut chip = Chip::<T>::build(circuit, train.n_features(), train.n_outputs(), weights)
        .map_err(invalid)?;
    let first: Vec<usize> = crate::data::epoch_order(train.len(), circuit.seed, 0)
        .into_iter()
        .take(circuit.train.batch_size)
        .collect();
    let (x, y) = train.batch::<T>(&first);
    let spectrum = chip.preflight(&x, &y).map_err(invalid)?;
    let widths = chip.topology.widths.clone();
    let derived = Derived {
        n_params: chip.topology.n_params(),
        n_crossbars: chip.cores.len(),
        n_tiles: chip.geometry.n_tiles(),
        tile_grids: chip.cores.iter().map(|c| c.stats().tile_grid).collect(),
        multipliers: chip.param.multipliers(&widths),
        learning_rates: chip.optimiser.lr.clone(),
        spectrum,
        tau_rel: chip.tau_rel(),
        damping: chip
            .damping
            .filter(|_| circuit.dynamics.order == crate::circuit::Order::Inertial),
        n_train: train.len(),
        n_test: test.len(),
        widths,
    };
    Ok((chip, train, test, derived))
}

/// Runs the circuit in its precision.
pub fn run(
    circuit: &Circuit,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> Result<Report, RunError> {
    match circuit.precision {
        Precision::F32 => run_typed::<f32>(circuit, opts, obs),
        Precision::F64 => run_typed::<f64>(circuit, opts, obs),
    }
}

fn io(e: impl std::fmt::Display, what: &str) -> RunError {
    RunError::Failed(format!("{what}: {e}"))
}

fn run_typed<T: Real>(
    circuit: &Circuit,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> Result<Report, RunError> {
    let started = Instant::now();
    let (mut chip, train, test, derived) = prepare::<T>(circuit, opts)?;
    let mut writer = ReportWriter::create(&opts.out_dir)
        .map_err(|e| io(e, &opts.out_dir.display().to_string()))?;
    let mut report = Report::new(circuit.clone(), derived);
    writer.save(&report).map_err(|e| io(e, "report.json"))?;
    let t = &circuit.train;
    let batches = Batches {
        batch_size: t.batch_size,
        drop_last: false,
    };
    let per_epoch = batches.n_batches(train.len());
    let mut total = per_epoch * t.epochs;
    if t.max_steps > 0 {
        total = total.min(t.max_steps);
    }
    obs.start(total);
    let eval_batch = 256;
    'epochs: for epoch in 0..t.epochs {
        for chunk in batches.epoch(train.len(), circuit.seed, epoch as u64) {
            if chip.step >= total {
                break 'epochs;
            }
            let (x, y) = train.batch::<T>(&chunk);
            let record = chip.step % circuit.record.every_steps == 0;
            let rec = match chip.train_step(&x, &y, epoch, record) {
                Ok(rec) => rec,
                Err(e) => {
                    report.status = Status::Failed;
                    report.error = Some(format!("step {}: {e}", chip.step + 1));
                    writer.save(&report).map_err(|e| io(e, "report.json"))?;
                    return Err(RunError::Failed(report.error.clone().unwrap_or_default()));
                }
            };
            if let Some(trace) = &rec.trace {
                writer
                    .append_trace(rec.step, trace, circuit.dynamics.tau_s)
                    .map_err(|e| io(e, "relaxation.csv"))?;
            }
            obs.step(&rec);
            report.steps.push(rec);
            let eval_now =
                t.eval_every_steps > 0 && chip.step % t.eval_every_steps == 0 && chip.step < total;
            if eval_now {
                let ev = chip.evaluate(&test, eval_batch, "test", epoch);
                obs.eval(&ev);
                report.evals.push(ev);
            }
            if eval_now || record {
                writer.save(&report).map_err(|e| io(e, "report.json"))?;
            }
        }
    }
    let epoch = report.steps.last().map_or(0, |s| s.epoch);
    let train_sub: Vec<usize> = (0..train.len().min(1000)).collect();
    let ev_train = chip.evaluate(&train.select(&train_sub), eval_batch, "train", epoch);
    report.evals.push(ev_train);
    let ev = if test.is_empty() {
        chip.evaluate(&train, eval_batch, "train-all", epoch)
    } else {
        chip.evaluate(&test, eval_batch, "test", epoch)
    };
    obs.eval(&ev);
    report.evals.push(ev.clone());
    save_weights(&chip, &opts.out_dir.join("weights.safetensors"))
        .map_err(|e| io(e, "weights.safetensors"))?;
    let steps = &report.steps;
    let cos: Vec<f64> = steps.iter().filter_map(|s| s.cos_bp).collect();
    let last_batch = steps
        .last()
        .map_or(t.batch_size, |_| t.batch_size.min(train.len()));
    report.summary = Some(Summary {
        steps: steps.len(),
        test_loss: ev.loss,
        test_accuracy: ev.accuracy,
        median_t_relax_tau: median(steps.iter().map(|s| s.t_relax_tau).collect()),
        median_t_relax_s: median(steps.iter().map(|s| s.t_relax_s).collect()),
        mean_cos_bp: (!cos.is_empty()).then(|| cos.iter().sum::<f64>() / cos.len() as f64),
        median_speedup: median(steps.iter().map(|s| s.speedup).collect()),
        median_energy_ratio: median(steps.iter().map(|s| s.energy_ratio).collect()),
        last_step_cost: steps.last().map(|s| chip.cost(last_batch, s.t_relax_s)),
        wall_s: started.elapsed().as_secs_f64(),
    });
    report.status = Status::Complete;
    writer.save(&report).map_err(|e| io(e, "report.json"))?;
    Ok(report)
}
