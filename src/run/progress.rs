//! Progress on stderr: the bar of `pcchip run` (loss, accuracy, mean
//! relaxation time of the last 20 steps in τ, the last evaluation) and
//! the cell bar of `pcchip sweep`.

use crate::chip::{EvalRecord, StepRecord};
use crate::run::train::Observer;
use indicatif::{ProgressBar, ProgressStyle};

fn bar(template: &str) -> ProgressBar {
    let b = ProgressBar::new(0);
    b.set_style(ProgressStyle::with_template(template).expect("template"));
    b
}

/// The run's progress bar (none when quiet), as an [`Observer`].
pub struct RunProgress {
    bar: Option<ProgressBar>,
    relax_tau: Vec<f64>,
    last_eval: String,
}

impl RunProgress {
    /// A bar on stderr, or nothing when `quiet`.
    pub fn new(quiet: bool) -> Self {
        RunProgress {
            bar: (!quiet)
                .then(|| bar("{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}")),
            relax_tau: vec![],
            last_eval: String::new(),
        }
    }

    /// Runs `f` with a bar (none when `quiet`), cleared when `f` returns.
    pub fn around<R>(quiet: bool, f: impl FnOnce(&mut RunProgress) -> R) -> R {
        let mut p = RunProgress::new(quiet);
        let out = f(&mut p);
        p.finish();
        out
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Observer for RunProgress {
    fn start(&mut self, total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
    }
    fn step(&mut self, r: &StepRecord) {
        self.relax_tau.push(r.t_relax_tau);
        let n = self.relax_tau.len().min(20);
        let mean = self.relax_tau[self.relax_tau.len() - n..]
            .iter()
            .sum::<f64>()
            / n as f64;
        if let Some(bar) = &self.bar {
            let acc = r
                .accuracy
                .map_or(String::new(), |a| format!(" acc {:.1}%", 100.0 * a));
            bar.set_message(format!(
                "loss {:.4}{acc} relax {:.1}τ{}",
                r.loss, mean, self.last_eval
            ));
            bar.inc(1);
        }
    }
    fn warn(&mut self, message: &str) {
        eprintln!("warning: {message}");
    }
    fn resumed(&mut self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }
    fn eval(&mut self, r: &EvalRecord) {
        self.last_eval = match r.accuracy {
            Some(a) => format!(" | {} acc {:.1}%", r.split, 100.0 * a),
            None => format!(" | {} loss {:.4}", r.split, r.loss),
        };
    }
}

/// The sweep's cell bar on a terminal; elsewhere one stderr line a cell.
pub struct CellProgress {
    bar: Option<ProgressBar>,
}

impl CellProgress {
    /// A bar when `terminal`, else lines.
    pub fn new(terminal: bool) -> Self {
        CellProgress {
            bar: terminal
                .then(|| bar("{bar:30} {pos}/{len} cells [{elapsed_precise}<{eta_precise}] {msg}")),
        }
    }

    /// Shows that `done` of `total` cells are finished, the last as `what`.
    pub fn cell(&self, what: String, done: usize, total: usize) {
        match &self.bar {
            Some(b) => {
                b.set_length(total as u64);
                b.set_position(done as u64);
                b.set_message(what);
            }
            None => eprintln!("cell {done}/{total} {what}"),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
