//! A training run, end to end: circuit → data → chip → steps → report.
//! Every failure after the circuit was accepted leaves a valid report.

use crate::chip::{dataset::load_split, Chip, ChipError, EvalRecord, StepRecord};
use crate::circuit::Circuit;
use crate::data::{Batches, Dataset};
use crate::real::Real;
use crate::report::{median, Report, ReportWriter, Status, Summary};
use crate::run::checkpoint::{self, RunState};
use crate::run::dispatch::{dispatch, Job};
use crate::run::prepare::{fits_memory, invalid};
pub use crate::run::prepare::{prepare, prepare_with, GivenWeights};
use crate::run::weights::save_weights;
use crate::run::RunError;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Receives progress (the CLI draws a progress bar).
pub trait Observer {
    fn start(&mut self, _total_steps: usize) {}
    fn step(&mut self, _rec: &StepRecord) {}
    fn eval(&mut self, _rec: &EvalRecord) {}
    /// A resumed run starts with `done` of its steps already taken.
    fn resumed(&mut self, _done: usize) {}
    /// A setting adjusted to the data (the message names the key).
    fn warn(&mut self, _message: &str) {}
    /// Asked after every step (and its checkpoint): `true` stops the run
    /// there, which then returns its partial report (status `running`).
    fn stop(&mut self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

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

/// Runs the circuit in its dtype.
pub fn run(
    circuit: &Circuit,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> Result<Report, RunError> {
    run_checkpointed(circuit, opts, 0, obs)
}

/// Runs the circuit, saving a checkpoint into `<out>/checkpoint/` after
/// every `checkpoint_every`-th step (0 = never; none after the last step).
pub fn run_checkpointed(
    circuit: &Circuit,
    opts: &RunOptions,
    checkpoint_every: usize,
    obs: &mut dyn Observer,
) -> Result<Report, RunError> {
    let job = Fresh {
        circuit,
        opts,
        checkpoint_every,
        obs,
    };
    dispatch(circuit.dtype, job)
}

/// Continues the interrupted run in `dir` from its checkpoint, writing into
/// `dir`, to exactly the numbers of an uninterrupted run. Checkpoints go on
/// every `checkpoint_every` steps (`None`: the interval the run had).
/// `Invalid` when the run is complete, has no checkpoint, or its checkpoint
/// does not fit the circuit and data it names.
pub fn resume(
    dir: &Path,
    checkpoint_every: Option<usize>,
    obs: &mut dyn Observer,
) -> Result<Report, RunError> {
    let bad = RunError::Invalid;
    if let Ok(text) = std::fs::read_to_string(dir.join("report.json")) {
        let status = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("status").cloned());
        if status == Some(serde_json::Value::from("complete")) {
            return Err(bad(format!(
                "{}: the run is complete (report.json status \"complete\"); nothing to resume",
                dir.display()
            )));
        }
    }
    let ckpt = checkpoint::locate(dir).map_err(|e| bad(e.to_string()))?;
    let state = checkpoint::read_state(&ckpt).map_err(|e| bad(e.to_string()))?;
    let circuit = &state.report.circuit;
    crate::circuit::validate::validate(circuit).map_err(|(key, message)| {
        bad(format!(
            "{}: circuit: {key}: {message}",
            ckpt.join("state.json").display()
        ))
    })?;
    let every = checkpoint_every.unwrap_or(state.run.checkpoint_every);
    let dtype = circuit.dtype;
    let job = Resumed {
        dir,
        ckpt: &ckpt,
        state,
        checkpoint_every: every,
        obs,
    };
    dispatch(dtype, job)
}

fn io(e: impl std::fmt::Display, what: &str) -> RunError {
    RunError::Failed(format!("{what}: {e}"))
}

/// Opens the run folder for writing: a folder locked by another run, or an
/// output path that is an existing file, is bad input (`Invalid`); any other
/// failure names the folder (`Failed`).
fn open_writer(dir: &Path) -> Result<ReportWriter, RunError> {
    check_out_dir(dir)?;
    ReportWriter::create(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => RunError::Invalid(e.to_string()),
        _ => io(
            e,
            &format!("{}: cannot write the run folder", dir.display()),
        ),
    })
}

/// Refuses an output folder that exists as something other than a folder.
pub fn check_out_dir(dir: &Path) -> Result<(), RunError> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(RunError::Invalid(format!(
            "{}: --out names an existing file, not a folder; choose a folder",
            dir.display()
        ))),
        _ => Ok(()),
    }
}

/// A fresh run, for [`dispatch`].
struct Fresh<'a> {
    circuit: &'a Circuit,
    opts: &'a RunOptions,
    checkpoint_every: usize,
    obs: &'a mut dyn Observer,
}

impl Job for Fresh<'_> {
    type Output = Result<Report, RunError>;
    fn call<T: Real>(self) -> Self::Output {
        run_typed::<T>(self.circuit, self.opts, self.checkpoint_every, self.obs)
    }
}

/// A resumed run, for [`dispatch`].
struct Resumed<'a> {
    dir: &'a Path,
    ckpt: &'a Path,
    state: checkpoint::State,
    checkpoint_every: usize,
    obs: &'a mut dyn Observer,
}

impl Job for Resumed<'_> {
    type Output = Result<Report, RunError>;
    fn call<T: Real>(self) -> Self::Output {
        resume_typed::<T>(
            self.dir,
            self.ckpt,
            self.state,
            self.checkpoint_every,
            self.obs,
        )
    }
}

fn run_typed<T: Real>(
    circuit: &Circuit,
    opts: &RunOptions,
    checkpoint_every: usize,
    obs: &mut dyn Observer,
) -> Result<Report, RunError> {
    let started = Instant::now();
    check_out_dir(&opts.out_dir)?;
    let (chip, train, test, derived) = prepare::<T>(circuit, opts)?;
    for w in &derived.warnings {
        obs.warn(w);
    }
    let mut writer = open_writer(&opts.out_dir)?;
    checkpoint::clear(&opts.out_dir).map_err(|e| io(e, "checkpoint"))?;
    let report = Report::new(circuit.clone(), derived);
    writer.save(&report).map_err(|e| io(e, "report.json"))?;
    let base = match opts.base_dir.as_os_str().is_empty() {
        true => Path::new("."),
        false => opts.base_dir.as_path(),
    };
    let base_dir = std::path::absolute(base).unwrap_or_else(|_| opts.base_dir.clone());
    let session = Session {
        chip,
        train,
        test,
        report,
        writer,
        base_dir,
        checkpoint_every,
        wall_before: 0.0,
        started,
    };
    session.drive(obs)
}

fn resume_typed<T: Real>(
    dir: &Path,
    ckpt: &Path,
    state: checkpoint::State,
    checkpoint_every: usize,
    obs: &mut dyn Observer,
) -> Result<Report, RunError> {
    let started = Instant::now();
    let circuit = state.report.circuit.clone();
    let base_dir = state.run.base_dir.clone();
    let (train, test) =
        load_split(&circuit, &base_dir).map_err(|e| RunError::Invalid(e.to_string()))?;
    let d = &state.report.derived;
    let here = |m: String| RunError::Invalid(format!("{}: {m}", ckpt.display()));
    if (train.len(), test.len()) != (d.n_train, d.n_test) || train.is_empty() {
        return Err(here(format!(
            "the run had {} train / {} test samples, the data now give {} / {}",
            d.n_train,
            d.n_test,
            train.len(),
            test.len()
        )));
    }
    fits_memory(&circuit, &train, &test).map_err(|e| here(e.to_string()))?;
    let text = super::prepare::text_info(&circuit, &base_dir)?;
    if text.as_ref().map(|t| &t.vocabulary) != d.text.as_ref().map(|t| &t.vocabulary) {
        return Err(here(format!(
            "the run's vocabulary {:?} differs from the one the text now gives, {:?}: the corpus changed",
            d.text.as_ref().map(|t| &t.vocabulary),
            text.as_ref().map(|t| &t.vocabulary)
        )));
    }
    let mut chip =
        Chip::<T>::build(&circuit, train.n_features(), train.n_outputs(), None).map_err(invalid)?;
    if chip.topology().widths != d.widths {
        return Err(here(format!(
            "the run had widths {:?}, the circuit and data now build {:?}",
            d.widths,
            chip.topology().widths
        )));
    }
    checkpoint::restore(&mut chip, &state, ckpt).map_err(|e| RunError::Invalid(e.to_string()))?;
    let per_epoch = batches_of(&circuit).n_batches(train.len());
    if (state.run.epoch, state.run.batch) != (state.step / per_epoch, state.step % per_epoch)
        || state.report.steps.len() != state.step
    {
        return Err(here(format!(
            "step {} does not match epoch {}, batch {} and {} recorded steps",
            state.step,
            state.run.epoch,
            state.run.batch,
            state.report.steps.len()
        )));
    }
    let mut writer = open_writer(dir)?;
    writer
        .continue_csv(state.run.relaxation_csv_bytes)
        .map_err(|e| RunError::Invalid(format!("relaxation.csv: {e}")))?;
    writer
        .save(&state.report)
        .map_err(|e| io(e, "report.json"))?;
    let session = Session {
        chip,
        train,
        test,
        report: state.report,
        writer,
        base_dir,
        checkpoint_every,
        wall_before: state.run.wall_s,
        started,
    };
    session.drive(obs)
}

/// The first quantity of a step that is not finite (the loss, the energies,
/// the times and energies of both steps, their ratios, the residual, a
/// weight read back from the arrays), named for the report.
fn non_finite<T: Real>(r: &StepRecord, chip: &Chip<T>) -> Option<String> {
    let scalars = [
        ("the loss", r.loss),
        ("the energy at the start of the relaxation", r.energy_start),
        ("the energy at the end of the relaxation", r.energy_end),
        ("the relaxation time", r.t_relax_s),
        ("the residual", r.residual),
        ("the PC step's time", r.t_pc_s),
        ("the backprop step's time", r.t_bp_s),
        ("the PC step's energy", r.e_pc_j),
        ("the backprop step's energy", r.e_bp_j),
        ("the speedup", r.speedup),
        ("the energy ratio", r.energy_ratio),
    ];
    if let Some((what, v)) = scalars.iter().find(|(_, v)| !v.is_finite()) {
        return Some(format!("{what} is {v}"));
    }
    chip.cores().iter().enumerate().find_map(|(l, c)| {
        let w = c.effective_weights();
        w.iter().position(|v| !v.f64().is_finite()).map(|k| {
            format!(
                "weight W{}[{}, {}] is {}",
                l + 1,
                k % w.nrows(),
                k / w.nrows(),
                w[k]
            )
        })
    })
}

fn batches_of(circuit: &Circuit) -> Batches {
    Batches {
        batch_size: circuit.train.batch_size,
        drop_last: false,
    }
}

/// A run in progress, fresh or resumed.
struct Session<T: Real> {
    chip: Chip<T>,
    train: Dataset,
    test: Dataset,
    report: Report,
    writer: ReportWriter,
    base_dir: PathBuf,
    checkpoint_every: usize,
    /// Wall-clock time of earlier sessions of this run (s).
    wall_before: f64,
    started: Instant,
}

impl<T: Real> Session<T> {
    fn wall_s(&self) -> f64 {
        self.wall_before + self.started.elapsed().as_secs_f64()
    }

    fn checkpoint(&mut self, epoch: usize, batch: usize) -> Result<(), RunError> {
        let fail = |e: String| RunError::Failed(format!("checkpoint: {e}"));
        let bytes = self
            .writer
            .sync_csv()
            .map_err(|e| fail(format!("relaxation.csv: {e}")))?;
        let run = RunState {
            epoch,
            batch,
            checkpoint_every: self.checkpoint_every,
            base_dir: self.base_dir.clone(),
            wall_s: self.wall_s(),
            relaxation_csv_bytes: bytes,
        };
        checkpoint::save(self.writer.dir(), &self.chip, run, &self.report)
            .map_err(|e| fail(e.to_string()))?;
        self.writer
            .save(&self.report)
            .map_err(|e| io(e, "report.json"))
    }

    /// Takes the remaining steps, then evaluates, writes the weights and the summary.
    fn drive(mut self, obs: &mut dyn Observer) -> Result<Report, RunError> {
        let circuit = self.report.circuit.clone();
        let t = &circuit.train;
        let batches = batches_of(&circuit);
        let per_epoch = batches.n_batches(self.train.len());
        let mut total = per_epoch * t.epochs;
        if t.max_steps > 0 {
            total = total.min(t.max_steps);
        }
        obs.start(total);
        self.chip.set_default_lr_horizon(total);
        let first = self.chip.steps_taken();
        if first > 0 {
            obs.resumed(first);
        }
        let eval_batch = 256;
        'epochs: for epoch in first / per_epoch..t.epochs {
            let skip = if epoch == first / per_epoch {
                first % per_epoch
            } else {
                0
            };
            let plan = batches.epoch(self.train.len(), circuit.seed, epoch as u64);
            for (b, chunk) in plan.iter().enumerate().skip(skip) {
                let chip = &mut self.chip;
                if chip.steps_taken() >= total {
                    break 'epochs;
                }
                let (x, y) = self.train.batch::<T>(chunk);
                let record = chip
                    .steps_taken()
                    .is_multiple_of(circuit.record.every_steps);
                let rec =
                    match chip.train_step(&x, &y, epoch, record).and_then(|r| {
                        match non_finite(&r, chip) {
                            None => Ok(r),
                            Some(what) => Err(ChipError::NonFinite(what)),
                        }
                    }) {
                        Ok(rec) => rec,
                        Err(e) => {
                            let report = &mut self.report;
                            report.status = Status::Failed;
                            report.error = Some(format!("step {}: {e}", chip.steps_taken() + 1));
                            self.writer.save(report).map_err(|e| io(e, "report.json"))?;
                            return Err(RunError::Failed(report.error.clone().unwrap_or_default()));
                        }
                    };
                if let Some(trace) = &rec.trace {
                    self.writer
                        .append_trace(rec.step, trace, circuit.dynamics.tau_s)
                        .map_err(|e| io(e, "relaxation.csv"))?;
                }
                obs.step(&rec);
                self.report.steps.push(rec);
                let step = chip.steps_taken();
                let eval_now = t.eval_every_steps > 0
                    && step.is_multiple_of(t.eval_every_steps)
                    && step < total;
                if eval_now {
                    let ev = chip.evaluate(&self.test, eval_batch, "test", epoch);
                    obs.eval(&ev);
                    self.report.evals.push(ev);
                }
                if eval_now || record {
                    self.writer
                        .save(&self.report)
                        .map_err(|e| io(e, "report.json"))?;
                }
                let every = self.checkpoint_every;
                if every > 0 && step.is_multiple_of(every) && step < total {
                    let (e, b) = if b + 1 == per_epoch {
                        (epoch + 1, 0)
                    } else {
                        (epoch, b + 1)
                    };
                    self.checkpoint(e, b)?;
                }
                if obs.stop() || crate::interrupt::requested() {
                    self.writer
                        .save(&self.report)
                        .map_err(|e| io(e, "report.json"))?;
                    return Ok(self.report);
                }
            }
        }
        self.finish(obs, eval_batch)
    }

    fn finish(mut self, obs: &mut dyn Observer, eval_batch: usize) -> Result<Report, RunError> {
        let t = self.report.circuit.train.clone();
        // The final evaluation reads the arrays after the idle delay (drift).
        self.chip.idle(t.eval_delay_s);
        let (chip, train, test) = (&self.chip, &self.train, &self.test);
        let report = &mut self.report;
        let epoch = report.steps.last().map_or(0, |s| s.epoch);
        let train_sub: Vec<usize> = (0..train.len().min(1000)).collect();
        let ev_train = chip.evaluate(&train.select(&train_sub), eval_batch, "train", epoch);
        report.evals.push(ev_train);
        let ev = if test.is_empty() {
            chip.evaluate(train, eval_batch, "train-all", epoch)
        } else {
            chip.evaluate(test, eval_batch, "test", epoch)
        };
        if !ev.loss.is_finite() {
            report.status = Status::Failed;
            report.error = Some(format!(
                "final evaluation ({}): the loss is {}",
                ev.split, ev.loss
            ));
            self.writer.save(report).map_err(|e| io(e, "report.json"))?;
            return Err(RunError::Failed(report.error.clone().unwrap_or_default()));
        }
        obs.eval(&ev);
        report.evals.push(ev.clone());
        save_weights(chip, &self.writer.dir().join("weights.safetensors"))
            .map_err(|e| io(e, "weights.safetensors"))?;
        let steps = &report.steps;
        let cos: Vec<f64> = steps.iter().filter_map(|s| s.cos_bp).collect();
        let last_batch = steps
            .last()
            .map_or(t.batch_size, |_| t.batch_size.min(train.len()));
        let wall_s = self.wall_before + self.started.elapsed().as_secs_f64();
        report.summary = Some(Summary {
            steps: steps.len(),
            test_loss: ev.loss,
            test_accuracy: ev.accuracy,
            median_t_relax_tau: median(steps.iter().map(|s| s.t_relax_tau).collect()),
            median_t_relax_s: median(steps.iter().map(|s| s.t_relax_s).collect()),
            mean_cos_bp: (!cos.is_empty()).then(|| cos.iter().sum::<f64>() / cos.len() as f64),
            median_speedup: median(steps.iter().map(|s| s.speedup).collect()),
            median_speedup_pipelined: median(steps.iter().map(|s| s.speedup_pipe).collect()),
            median_energy_ratio: median(steps.iter().map(|s| s.energy_ratio).collect()),
            last_step_cost: steps.last().map(|s| chip.cost(last_batch, s.t_relax_s)),
            chip_clock_s: chip.clock_s(),
            wall_s,
        });
        report.status = Status::Complete;
        self.writer.save(report).map_err(|e| io(e, "report.json"))?;
        Ok(self.report)
    }
}

#[cfg(test)]
#[path = "train_tests.rs"]
mod tests;
