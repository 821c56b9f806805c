//! What a run leaves in its folder, written as it goes so that an
//! interrupted or failed run still leaves valid files:
//! - `report.json`: the resolved circuit, derived quantities, every step's
//!   record, evaluations and (at the end) the summary; `status` says whether
//!   it is complete. Rewritten atomically (temporary file, then rename).
//! - `relaxation.csv`: traces of the recorded relaxations, appended.
//! - `weights.safetensors`: the chip's effective weights W1 … WL at the end.

pub mod tensors;

use crate::chip::{EvalRecord, StepRecord};
use crate::circuit::Circuit;
use crate::relax::{Spectrum, Trace};
use crate::timing::Comparison;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Running,
    Complete,
    Failed,
}

/// Quantities derived from the circuit and the data.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Derived {
    /// `[n_0, …, n_L]`.
    pub widths: Vec<usize>,
    pub n_params: usize,
    pub n_crossbars: usize,
    pub n_tiles: usize,
    /// Tile grid (rows × cols of tiles) of each layer's array.
    pub tile_grids: Vec<(usize, usize)>,
    /// a_ℓ and η_ℓ per layer.
    pub multipliers: Vec<f64>,
    pub learning_rates: Vec<f64>,
    /// Extreme rates of the linearised relaxation, eigenvalues of R⁻¹H at
    /// the first batch's feedforward state (1/τ); with every ρ_ℓ = 1 these
    /// are the activity Hessian's extreme eigenvalues.
    pub spectrum: Option<Spectrum>,
    /// Per-layer time constants ρ_ℓ = τ_ℓ/τ in force (hidden layers 1 … L−1).
    #[serde(default)]
    pub tau_rel: Vec<f64>,
    /// Damping in force (inertial dynamics).
    pub damping: Option<f64>,
    /// Derivative gain β in force ("inertial-pd" dynamics), τ.
    #[serde(default)]
    pub derivative_gain: Option<f64>,
    /// The loop-delay stability bound at the first batch's feedforward
    /// state, when the circuit has a loop delay.
    #[serde(default)]
    pub delay_bound: Option<crate::chip::DelayBound>,
    /// Settings the run adjusted to the data, each naming the key and what
    /// was used instead (printed at the start; see docs/circuit-format.md).
    #[serde(default)]
    pub warnings: Vec<String>,
    pub n_train: usize,
    pub n_test: usize,
    /// The text corpus of a `data.source = "text"` run: its vocabulary
    /// (what `pcchip sample` and a resumed run decode with) and baselines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextInfo>,
}

/// A text run's corpus: the vocabulary built from its training split and
/// the held-out losses of the n-gram baselines of the same split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextInfo {
    /// The corpus's name (a file stem, or "shakespeare_tragedies").
    pub corpus: String,
    /// The vocabulary: its symbols in id order (id i is the i-th char).
    pub vocabulary: String,
    /// Characters a sequence T.
    pub seq_len: usize,
    /// Characters in the training and held-out splits.
    pub n_train_chars: usize,
    pub n_held_out_chars: usize,
    /// Held-out loss of the add-one unigram and bigram models (nats/char).
    pub unigram_nats_per_char: Option<f64>,
    pub bigram_nats_per_char: Option<f64>,
}

impl TextInfo {
    /// The corpus's description, baselines computed.
    pub fn of(corpus: &crate::data::text::TextCorpus) -> Self {
        TextInfo {
            corpus: corpus.name.clone(),
            vocabulary: corpus.vocab.symbols().iter().collect(),
            seq_len: corpus.train.seq_len(),
            n_train_chars: corpus.train.n_chars(),
            n_held_out_chars: corpus.held_out.n_chars(),
            unigram_nats_per_char: corpus.unigram_loss(),
            bigram_nats_per_char: corpus.bigram_loss(),
        }
    }

    /// The vocabulary as a [`crate::data::text::Vocabulary`].
    pub fn vocab(&self) -> crate::data::text::Vocabulary {
        crate::data::text::Vocabulary::from_symbols(self.vocabulary.chars())
    }
}

/// The run's headline numbers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub steps: usize,
    pub test_loss: f64,
    pub test_accuracy: Option<f64>,
    /// Median relaxation time over all steps, τ and s.
    pub median_t_relax_tau: f64,
    pub median_t_relax_s: f64,
    /// Mean PC–BP cosine over recorded steps.
    pub mean_cos_bp: Option<f64>,
    /// Medians over all steps of t_BP/t_PC and E_BP/E_PC.
    pub median_speedup: f64,
    pub median_energy_ratio: f64,
    /// Median over all steps of t_BP,pipelined / t_PC.
    #[serde(default)]
    pub median_speedup_pipelined: f64,
    /// The cost breakdown of the last step.
    pub last_step_cost: Option<Comparison>,
    /// The chip's simulated clock at the final evaluation (s): the steps'
    /// times plus `train.eval_delay_s`.
    #[serde(default)]
    pub chip_clock_s: f64,
    /// Wall-clock time of the simulation (s).
    pub wall_s: f64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub pcchip_version: String,
    pub status: Status,
    pub error: Option<String>,
    pub circuit: Circuit,
    pub derived: Derived,
    pub steps: Vec<StepRecord>,
    pub evals: Vec<EvalRecord>,
    pub summary: Option<Summary>,
}

impl Report {
    pub fn new(circuit: Circuit, derived: Derived) -> Self {
        Report {
            pcchip_version: env!("CARGO_PKG_VERSION").into(),
            status: Status::Running,
            error: None,
            circuit,
            derived,
            steps: vec![],
            evals: vec![],
            summary: None,
        }
    }
}

/// Median of a list (NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Writes a run's folder incrementally.
pub struct ReportWriter {
    dir: PathBuf,
    csv: Option<BufWriter<File>>,
    /// `<dir>/.pcchip.lock`, locked for as long as the writer lives (the
    /// operating system releases it when the process ends, however it ends).
    _lock: File,
}

/// The lock file that keeps a second run out of a folder being written.
pub const LOCK_FILE: &str = ".pcchip.lock";

impl ReportWriter {
    /// Creates (or reuses) the folder and locks it: one writer per folder.
    /// Another process holding the lock gives an error of kind
    /// `WouldBlock` whose message names the folder.
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!(
                        "{}: another pcchip run is writing into this folder; wait for it to end or choose another --out",
                        dir.display()
                    ),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        Ok(ReportWriter {
            dir: dir.to_path_buf(),
            csv: None,
            _lock: lock,
        })
    }

    /// The run's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Rewrites report.json atomically.
    pub fn save(&mut self, report: &Report) -> std::io::Result<()> {
        let tmp = self.dir.join(".report.json.tmp");
        let json = serde_json::to_vec_pretty(report).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, self.dir.join("report.json"))?;
        if let Some(csv) = &mut self.csv {
            csv.flush()?;
        }
        Ok(())
    }

    /// Flushes relaxation.csv to disk and returns its length in bytes (0
    /// before the first trace).
    pub fn sync_csv(&mut self) -> std::io::Result<u64> {
        match &mut self.csv {
            None => Ok(0),
            Some(csv) => {
                csv.flush()?;
                csv.get_ref().sync_all()?;
                Ok(csv.get_ref().metadata()?.len())
            }
        }
    }

    /// Continues relaxation.csv after its first `len` bytes (a checkpoint's
    /// [`ReportWriter::sync_csv`]): later rows are cut, new ones appended;
    /// 0 starts the file afresh.
    pub fn continue_csv(&mut self, len: u64) -> std::io::Result<()> {
        let path = self.dir.join("relaxation.csv");
        self.csv = None;
        if len == 0 {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let mut f = std::fs::OpenOptions::new().write(true).open(&path)?;
        let have = f.metadata()?.len();
        if have < len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{}: {have} bytes, but the checkpoint was taken at {len}",
                    path.display()
                ),
            ));
        }
        f.set_len(len)?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))?;
        self.csv = Some(BufWriter::new(f));
        Ok(())
    }

    /// Appends a relaxation trace to relaxation.csv (τ given in s for the time column).
    pub fn append_trace(&mut self, step: usize, trace: &Trace, tau_s: f64) -> std::io::Result<()> {
        if self.csv.is_none() {
            let mut f = BufWriter::new(File::create(self.dir.join("relaxation.csv"))?);
            let n_layers = trace.layer_error.first().map_or(0, Vec::len);
            write!(f, "step,t_tau,t_s,energy,kinetic,residual,cos_bp")?;
            for l in 1..=n_layers {
                write!(f, ",err_{l}")?;
            }
            writeln!(f, ",cos_applied")?;
            self.csv = Some(f);
        }
        let f = self.csv.as_mut().expect("opened above");
        for i in 0..trace.len() {
            let cos = trace
                .cosine
                .get(i)
                .map_or(String::new(), |c| format!("{c:.9}"));
            write!(
                f,
                "{step},{:.6},{:.6e},{:.9e},{:.6e},{:.6e},{cos}",
                trace.t_tau[i],
                trace.t_tau[i] * tau_s,
                trace.energy[i],
                trace.kinetic[i],
                trace.residual[i]
            )?;
            for e in &trace.layer_error[i] {
                write!(f, ",{e:.6e}")?;
            }
            let applied = trace
                .cosine_applied
                .get(i)
                .map_or(String::new(), |c| format!("{c:.9}"));
            writeln!(f, ",{applied}")?;
        }
        Ok(())
    }
}
