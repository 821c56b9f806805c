//! The `pcchip` command: parses, calls the library, prints. Exit codes:
//! 0 success, 1 the run failed, 2 invalid input.

use clap::{Args, Parser, Subcommand};
use pcchip::circuit::Circuit;
use pcchip::run::bench::{self, BenchOptions};
use pcchip::run::input::{default_out, load_circuit};
use pcchip::run::progress::RunProgress;
use pcchip::run::sweep_cmd::{self, SweepArgs};
use pcchip::run::train::{self, RunOptions};
use pcchip::run::{check, grads, plot_cmd, relax_batch, summary, RunError};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pcchip",
    version,
    about = "Simulate analog predictive-coding chips"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The circuit a command runs.
#[derive(Args)]
struct CircuitArg {
    /// Circuit file (TOML); the embedded quickstart when omitted.
    circuit: Option<PathBuf>,
    /// Override a circuit key by its dotted path, e.g. network.width=256 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

impl CircuitArg {
    /// The circuit and the folder its relative paths refer to.
    fn load(&self) -> Result<(Circuit, PathBuf), RunError> {
        load_circuit(self.circuit.as_deref(), &self.set)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train the simulated chip; progress on stderr, summary on stdout.
    Run(RunArgs),
    /// The chip's speedup against sequential backprop as a function of depth.
    Bench(BenchArgs),
    /// Equilibrium PC and backprop gradients at given weights and batch.
    Grads(GradsArgs),
    /// One relaxation of one batch, no training: relax.json, relaxation.csv, activities.
    Relax(RelaxArgs),
    /// PC–BP gradient alignment over a width × depth × seed grid (cells in parallel).
    Sweep(SweepCli),
    /// Figures of a finished run (or bench/sweep) folder.
    Plot {
        /// A run folder (report.json, relaxation.csv), or a bench folder (bench.csv).
        dir: PathBuf,
        /// png or svg.
        #[arg(long, default_value = "png")]
        format: String,
    },
    /// Validate a circuit; print it resolved (every default filled in) with its derived quantities.
    Check(CircuitArg),
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    circuit: CircuitArg,
    /// Output folder (default runs/<circuit name>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Start from these raw weights (safetensors W1 … WL).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Save the chip's full state into <out>/checkpoint/ every K steps (0 = never).
    #[arg(long, value_name = "K")]
    checkpoint_every: Option<usize>,
    /// Continue the interrupted run in DIR from its checkpoint (the circuit is the run's own).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["circuit", "out", "set", "weights"])]
    resume: Option<PathBuf>,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    circuit: CircuitArg,
    /// Depths to run (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec![2, 4, 8, 16, 32, 64, 128])]
    depths: Vec<usize>,
    /// Training steps per depth.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Dynamics to compare: first-order, inertial, inertial-pd (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = vec!["first-order".to_string(), "inertial".to_string()])]
    dynamics: Vec<String>,
    /// Skip the one-thread timing of the simulator.
    #[arg(long)]
    no_thread_compare: bool,
    /// Cap each relaxation at this simulated time (τ); times become lower
    /// bounds. For memory and wall-clock checks at large sizes.
    #[arg(long)]
    t_max_tau: Option<f64>,
    /// Integrator time constants τ (s, comma-separated) to run every depth
    /// at: the break-even map (default: the circuit's dynamics.tau_s).
    #[arg(long, value_delimiter = ',')]
    taus: Vec<f64>,
    /// Multiples (≥ 1, comma-separated) of each point's smallest stable τ
    /// for the circuit's loop delay to run it at, instead of --taus: the
    /// bound differs by depth and dynamics.
    #[arg(long, value_delimiter = ',')]
    tau_margins: Vec<f64>,
    /// Output folder (default runs/<circuit name>-bench).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct GradsArgs {
    #[command(flatten)]
    circuit: CircuitArg,
    /// Raw weights W1 … WL (safetensors); default: the circuit's initialisation.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Batch file with x [B, D] and y [B, n_out] (the network's input and
    /// output widths; [data] is then not read); default: the circuit's first batch.
    #[arg(long)]
    batch: Option<PathBuf>,
    /// Output safetensors file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct RelaxArgs {
    #[command(flatten)]
    circuit: CircuitArg,
    /// Raw weights W1 … WL (safetensors); default: the circuit's initialisation.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Batch file with x [B, D] and y [B, n_out]; default: the circuit's first training batch.
    #[arg(long)]
    batch: Option<PathBuf>,
    /// Output folder (default runs/<circuit name>-relax).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct SweepCli {
    /// Circuit file (TOML).
    #[arg(required_unless_present = "merge")]
    circuit: Option<PathBuf>,
    /// Hidden widths (comma-separated), e.g. 8,32,128.
    #[arg(long, required_unless_present = "merge")]
    widths: Option<String>,
    /// Depths L (comma-separated), e.g. 2,4,8.
    #[arg(long, required_unless_present = "merge")]
    depths: Option<String>,
    /// Seeds (comma-separated); default: the circuit's seed.
    #[arg(long)]
    seeds: Option<String>,
    /// Also train K steps on the chip and measure the cosine again.
    #[arg(long, default_value_t = 0)]
    steps: usize,
    /// Run only the I-th of N slices of the grid (cells with index mod N = I).
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Join the sweeps in these folders (shards of one grid) into --out.
    #[arg(long, num_args = 1.., value_name = "DIR", conflicts_with_all = ["circuit", "widths", "depths", "seeds", "shard", "set"])]
    merge: Vec<PathBuf>,
    /// Output folder (default runs/<circuit name>-sweep).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override a key of every cell's circuit by its dotted path, e.g. network.activation=relu (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn run(cmd: Command) -> Result<(), RunError> {
    match cmd {
        Command::Run(a) => {
            let (every, quiet) = (a.checkpoint_every, a.quiet);
            let (report, out_dir) = match a.resume {
                Some(dir) => (
                    RunProgress::around(quiet, |p| train::resume(&dir, every, p)),
                    dir,
                ),
                None => {
                    let (c, base_dir) = a.circuit.load()?;
                    let out_dir = default_out(a.out, &c.name, "");
                    let weights = a.weights;
                    let opts = RunOptions {
                        out_dir,
                        base_dir,
                        weights,
                    };
                    let every = every.unwrap_or(0);
                    let run = |p: &mut RunProgress| train::run_checkpointed(&c, &opts, every, p);
                    (RunProgress::around(quiet, run), opts.out_dir)
                }
            };
            print!("{}", summary::run_summary(&report?, &out_dir));
        }
        Command::Bench(a) => {
            let (c, base_dir) = a.circuit.load()?;
            let threads = !a.no_thread_compare;
            let opts = BenchOptions::from_flags(
                a.depths,
                a.steps,
                &a.dynamics,
                threads,
                a.t_max_tau,
                a.taus,
            )?
            .with_tau_margins(a.tau_margins)?;
            let out_dir = default_out(a.out, &c.name, "-bench");
            println!("{}", bench::table_header());
            let rows = bench::bench(&c, &base_dir, &out_dir, &opts, |r| {
                println!("{}", r.line());
                if let Some(note) = r.memory_note() {
                    eprintln!("note: {note}");
                }
            })?;
            let (n, dir) = (rows.len(), out_dir.display());
            println!("{n} points written to {dir}/bench.json and bench.csv");
        }
        Command::Grads(a) => {
            let (c, base_dir) = a.circuit.load()?;
            let g = grads::grads(&c, &base_dir, a.weights, a.batch.as_deref(), &a.out)?;
            println!("{}", g.stop_line());
            if let Some(hint) = &g.kink_hint {
                eprintln!("note: {hint}");
            }
            print!("{}", g.report(&a.out));
        }
        Command::Relax(a) => {
            let (c, base_dir) = a.circuit.load()?;
            let out = default_out(a.out, &c.name, "-relax");
            let r = relax_batch(&c, &base_dir, a.weights, a.batch.as_deref(), &out)?;
            print!("{}", r.report(&out));
        }
        Command::Sweep(a) => {
            let done = if a.merge.is_empty() {
                sweep_cmd::sweep_cmd(SweepArgs {
                    circuit: a.circuit,
                    widths: a.widths,
                    depths: a.depths,
                    seeds: a.seeds,
                    steps: a.steps,
                    shard: a.shard,
                    out: a.out,
                    set: a.set,
                })?
            } else {
                sweep_cmd::merge_cmd(&a.merge, a.out.as_deref())?
            };
            if let Some(w) = &done.warning {
                eprintln!("pcchip: warning: {w}");
            }
            print!("{}", done.text);
        }
        Command::Plot { dir, format } => {
            let format = plot_cmd::parse_format(&format)?;
            for p in plot_cmd::plot_dir(&dir, format)? {
                println!("{}", p.display());
            }
        }
        Command::Check(a) => {
            let (c, base_dir) = a.load()?;
            print!("{}", check::check(&c, &base_dir)?);
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pcchip: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

#[cfg(test)]
#[path = "main_tests.rs"]
mod tests;
