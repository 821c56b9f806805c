//! The `pcchip` command: parses, calls the library, prints. Exit codes:
//! 0 success, 1 the run failed, 2 invalid input.

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pcchip::chip::{EvalRecord, StepRecord};
use pcchip::circuit::{self, Circuit};
use pcchip::report::Report;
use pcchip::run::train::{self, Observer, RunError, RunOptions};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The circuit `pcchip run` uses when none is given.
const QUICKSTART: &str = include_str!("../circuits/quickstart.toml");

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

#[derive(Subcommand)]
enum Command {
    /// Train the simulated chip; progress on stderr, summary on stdout.
    Run {
        /// Circuit file (TOML); the embedded quickstart when omitted.
        circuit: Option<PathBuf>,
        /// Output folder (default runs/<circuit name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a circuit key by its dotted path, e.g. network.width=256.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
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
    },
    /// The chip's speedup against sequential backprop as a function of depth.
    Bench {
        /// Circuit file (TOML); the embedded quickstart when omitted.
        circuit: Option<PathBuf>,
        /// Depths to run (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = vec![2, 4, 8, 16, 32, 64, 128])]
        depths: Vec<usize>,
        /// Training steps per depth.
        #[arg(long, default_value_t = 3)]
        steps: usize,
        /// Dynamics to compare: first-order, inertial (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = vec!["first-order".to_string(), "inertial".to_string()])]
        dynamics: Vec<String>,
        /// Skip the one-thread timing of the simulator.
        #[arg(long)]
        no_thread_compare: bool,
        /// Cap each relaxation at this simulated time (τ); times become lower
        /// bounds. For memory and wall-clock checks at large sizes.
        #[arg(long)]
        t_max_tau: Option<f64>,
        /// Output folder (default runs/<circuit name>-bench).
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Equilibrium PC and backprop gradients at given weights and batch.
    Grads {
        circuit: Option<PathBuf>,
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
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// One relaxation of one batch, no training: relax.json, relaxation.csv, activities.
    Relax {
        /// Circuit file (TOML); the embedded quickstart when omitted.
        circuit: Option<PathBuf>,
        /// Raw weights W1 … WL (safetensors); default: the circuit's initialisation.
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Batch file with x [B, D] and y [B, n_out]; default: the circuit's first training batch.
        #[arg(long)]
        batch: Option<PathBuf>,
        /// Output folder (default runs/<circuit name>-relax).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a circuit key by its dotted path, e.g. network.depth=128.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// PC–BP gradient alignment over a width × depth × seed grid (cells in parallel).
    Sweep {
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
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Figures of a finished run (or bench/sweep) folder.
    Plot {
        /// A run folder (report.json, relaxation.csv), or a bench folder (bench.csv).
        dir: PathBuf,
        /// png or svg.
        #[arg(long, default_value = "png")]
        format: String,
    },
    /// Validate a circuit; print it resolved, with derived quantities.
    Check {
        circuit: Option<PathBuf>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

fn load(path: &Option<PathBuf>, set: &[String]) -> Result<(Circuit, PathBuf), RunError> {
    let bad = |e: circuit::CircuitError| RunError::Invalid(e.to_string());
    match path {
        Some(p) => {
            let c = circuit::load(p, set).map_err(bad)?;
            let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
            Ok((c, base))
        }
        None => Ok((
            circuit::parse(QUICKSTART, "<embedded quickstart>", "quickstart", set).map_err(bad)?,
            PathBuf::from("."),
        )),
    }
}

struct Progress {
    bar: Option<ProgressBar>,
    relax_tau: Vec<f64>,
    last_eval: String,
}

impl Observer for Progress {
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

fn print_summary(report: &Report, out: &Path) {
    let Some(s) = &report.summary else { return };
    let tau = report.circuit.dynamics.tau_s;
    println!(
        "pcchip run `{}` — {} steps in {:.1} s of simulation",
        report.circuit.name, s.steps, s.wall_s
    );
    println!(
        "  {:<34} {:>14}",
        "test loss",
        format!("{:.4}", s.test_loss)
    );
    if let Some(a) = s.test_accuracy {
        println!(
            "  {:<34} {:>14}",
            "test accuracy",
            format!("{:.2} %", 100.0 * a)
        );
    }
    println!(
        "  {:<34} {:>14}",
        "median relaxation time",
        format!("{:.1} τ", s.median_t_relax_tau)
    );
    println!(
        "  {:<34} {:>14}",
        "  … in seconds (τ = {tau:.0e} s)".replace("{tau:.0e}", &format!("{tau:.0e}")),
        format!("{:.3e} s", s.median_t_relax_s)
    );
    if let Some(c) = s.mean_cos_bp {
        println!(
            "  {:<34} {:>14}",
            "mean cosine(PC update, backprop)",
            format!("{c:.4}")
        );
    }
    println!(
        "  {:<34} {:>14}",
        "speedup t_BP / t_PC (median)",
        format!("{:.3}", s.median_speedup)
    );
    println!("  {}", plainly(s.median_speedup, "sequential backprop"));
    println!(
        "  {}",
        plainly(s.median_speedup_pipelined, "layer-pipelined backprop")
    );
    println!(
        "  {:<34} {:>14}",
        "energy ratio E_BP / E_PC (median)",
        format!("{:.3}", s.median_energy_ratio)
    );
    if let Some(c) = &s.last_step_cost {
        let phases = |p: &pcchip::timing::StepCost| {
            p.phases
                .iter()
                .map(|ph| format!("{} {:.3e} s", ph.name, ph.time_s))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "  PC step:  {:.3e} s, {:.3e} J  ({})",
            c.pc.time_s,
            c.pc.energy_j,
            phases(&c.pc)
        );
        println!(
            "  BP step:  {:.3e} s, {:.3e} J  ({})",
            c.bp.time_s,
            c.bp.energy_j,
            phases(&c.bp)
        );
    }
    println!("  written to {}", out.display());
}

fn run(cmd: Command) -> Result<(), RunError> {
    match cmd {
        Command::Run {
            circuit,
            out,
            set,
            weights,
            quiet,
            checkpoint_every,
            resume,
        } => {
            let (fresh, out_dir) = match resume {
                Some(dir) => (None, dir),
                None => {
                    let (c, base_dir) = load(&circuit, &set)?;
                    let dir = out.unwrap_or_else(|| PathBuf::from("runs").join(&c.name));
                    (Some((c, base_dir)), dir)
                }
            };
            let bar = (!quiet).then(|| {
                let b = ProgressBar::new(0);
                b.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
                    )
                    .expect("template"),
                );
                b
            });
            let mut progress = Progress {
                bar,
                relax_tau: vec![],
                last_eval: String::new(),
            };
            let result = match fresh {
                Some((c, base_dir)) => {
                    let opts = RunOptions {
                        out_dir: out_dir.clone(),
                        base_dir,
                        weights,
                    };
                    train::run_checkpointed(&c, &opts, checkpoint_every.unwrap_or(0), &mut progress)
                }
                None => train::resume(&out_dir, checkpoint_every, &mut progress),
            };
            if let Some(b) = &progress.bar {
                b.finish_and_clear();
            }
            print_summary(&result?, &out_dir);
            Ok(())
        }
        Command::Bench {
            circuit,
            depths,
            steps,
            dynamics,
            no_thread_compare,
            t_max_tau,
            out,
            set,
        } => {
            let (c, base_dir) = load(&circuit, &set)?;
            let orders = dynamics
                .iter()
                .map(|d| match d.as_str() {
                    "first-order" => Ok(circuit::Order::FirstOrder),
                    "inertial" => Ok(circuit::Order::Inertial),
                    other => Err(RunError::Invalid(format!(
                        "--dynamics: unknown `{other}`; expected first-order or inertial"
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
            let out_dir =
                out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-bench", c.name)));
            let opts = pcchip::run::bench::BenchOptions {
                depths,
                steps,
                orders,
                compare_threads: !no_thread_compare,
                t_max_tau,
            };
            println!(
                "{:>5} {:>12} {:>10} {:>10} {:>10} {:>11} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                "depth",
                "dynamics",
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
            );
            let rows = pcchip::run::bench::bench(&c, &base_dir, &out_dir, &opts, |r| {
                let o = |v: Option<f64>| v.map_or("—".to_string(), |x| format!("{x:.1}"));
                println!(
                    "{:>5} {:>12} {:>10.1} {:>10} {:>10} {:>11.3e} {:>11.3e} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9} {:>9.0} {:>9.0}",
                    r.depth, r.dynamics, r.median_t_relax_tau, o(r.t_align_tau), o(r.t_cos99_tau), r.t_pc_s, r.t_bp_s, r.speedup, r.speedup_pipe, r.energy_ratio, r.wall_step_s,
                    r.wall_step_1thread_s.map_or("—".into(), |x| format!("{x:.3}")),
                    r.peak_rss_mb, r.state_mb
                );
                // Below ~100 MB the process's fixed share (data set, code) dominates.
                if r.state_mb >= 100.0 && r.peak_rss_mb > 2.0 * r.state_mb {
                    eprintln!(
                        "note: peak memory {:.0} MB is above twice the chip state ({:.0} MB)",
                        r.peak_rss_mb, r.state_mb
                    );
                }
            })?;
            println!(
                "{} points written to {}/bench.json and bench.csv",
                rows.len(),
                out_dir.display()
            );
            Ok(())
        }
        Command::Grads {
            circuit,
            weights,
            batch,
            out,
            set,
        } => {
            let (c, base_dir) = load(&circuit, &set)?;
            let g = pcchip::run::grads::grads(&c, &base_dir, weights, batch.as_deref(), &out)?;
            println!("{}", g.stop_line());
            if let Some(hint) = &g.kink_hint {
                eprintln!("note: {hint}");
            }
            println!("energy F = {:.9e}, loss ℒ = {:.9e}", g.energy, g.loss);
            if let Some(f) = g.energy_closed_form {
                println!(
                    "closed-form F* = {f:.9e} (relative difference {:.2e})",
                    (g.energy - f).abs() / f.abs().max(f64::MIN_POSITIVE)
                );
            }
            println!(
                "cosine(PC, BP): global {:.6}; per layer {}",
                g.cos_global,
                fmt_list(&g.cos_layers)
            );
            println!("written to {}", out.display());
            Ok(())
        }
        Command::Relax {
            circuit,
            weights,
            batch,
            out,
            set,
        } => {
            let (c, base_dir) = load(&circuit, &set)?;
            let out =
                out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-relax", c.name)));
            let r = pcchip::run::relax_batch(&c, &base_dir, weights, batch.as_deref(), &out)?;
            println!(
                "{}: {:.4} τ ({:.3e} s), stopped by {:?} at residual {:.2e}",
                r.method, r.t_tau, r.t_s, r.stop, r.residual
            );
            println!(
                "{} steps accepted, {} rejected; {} field evaluations, {} Hessian–vector products, {} CG iterations, {} weight products; {:.3} s wall",
                r.steps_accepted,
                r.steps_rejected,
                r.field_evals,
                r.hessian_vector_products,
                r.cg_iterations,
                r.weight_products,
                r.wall_s
            );
            println!("written to {}", out.display());
            Ok(())
        }
        Command::Sweep {
            circuit,
            widths,
            depths,
            seeds,
            steps,
            shard,
            merge,
            out,
            set,
        } => {
            let args = SweepArgs {
                circuit,
                widths,
                depths,
                seeds,
                steps,
                shard,
                out,
                set,
            };
            if merge.is_empty() {
                sweep_cmd(args)
            } else {
                let out = args.out.ok_or_else(|| {
                    RunError::Invalid("--merge needs --out DIR for the joined sweep".into())
                })?;
                let f = pcchip::run::sweep::merge(&merge, &out)?;
                println!(
                    "merged {} cells from {} folders into {}",
                    f.cells.len(),
                    merge.len(),
                    out.display()
                );
                print_sweep_table(&f);
                Ok(())
            }
        }
        Command::Plot { dir, format } => {
            let format = match format.as_str() {
                "png" => pcchip::plot::Format::Png,
                "svg" => pcchip::plot::Format::Svg,
                other => {
                    return Err(RunError::Invalid(format!(
                        "--format: unknown `{other}`; expected png or svg"
                    )))
                }
            };
            let bad = |e: pcchip::plot::PlotError| RunError::Invalid(e.to_string());
            let mut written = Vec::new();
            if dir.join("bench.csv").exists() {
                written.push(pcchip::plot::plot_bench(&dir, format).map_err(bad)?);
            }
            if dir.join("relax.json").exists() {
                written.push(pcchip::plot::plot_relax(&dir, format).map_err(bad)?);
            }
            if dir.join("sweep.csv").exists() {
                written.push(pcchip::plot::plot_sweep(&dir, format).map_err(bad)?);
            }
            if written.is_empty() || dir.join("report.json").exists() {
                written.extend(pcchip::plot::plot_run(&dir, format).map_err(bad)?);
            }
            for p in written {
                println!("{}", p.display());
            }
            Ok(())
        }
        Command::Check { circuit, set } => {
            let (c, base_dir) = load(&circuit, &set)?;
            let opts = RunOptions {
                out_dir: PathBuf::new(),
                base_dir,
                weights: None,
            };
            let derived = match c.dtype {
                circuit::DType::F32 => train::prepare::<f32>(&c, &opts)?.3,
                circuit::DType::F64 => train::prepare::<f64>(&c, &opts)?.3,
            };
            println!("# resolved circuit (every default and preset value filled in)");
            println!(
                "{}",
                toml::to_string_pretty(&c).map_err(|e| RunError::Failed(e.to_string()))?
            );
            println!("# derived quantities");
            println!("# widths           {:?}", derived.widths);
            println!("# parameters       {}", derived.n_params);
            println!(
                "# crossbars        {} (tile grids {:?}), {} tiles of {}×{}",
                derived.n_crossbars, derived.tile_grids, derived.n_tiles, c.tile.rows, c.tile.cols
            );
            println!("# multipliers a_ℓ  {}", fmt_list(&derived.multipliers));
            println!("# learning rates   {}", fmt_list(&derived.learning_rates));
            println!(
                "# τ                {:.3e} s; t_max {:.3e} s",
                c.dynamics.tau_s,
                c.relax.t_max_tau * c.dynamics.tau_s
            );
            if let Some(s) = derived.spectrum {
                println!("# rates λ_min … λ_max of R⁻¹H (the activity Hessian H when all ρ_ℓ = 1) at the feedforward state: {:.4e} … {:.4} (1/τ); condition {:.1}", s.lambda_min, s.lambda_max, s.condition());
                println!(
                    "# first-order relaxation time scale 1/λ_min ≈ {:.1} τ = {:.3e} s",
                    1.0 / s.lambda_min,
                    c.dynamics.tau_s / s.lambda_min
                );
                if let Some(lim) = c.relax.method.stability_limit() {
                    println!(
                        "# explicit stability limit of \"{}\": dt_tau < {:.4}",
                        c.relax.method.name(),
                        lim / s.lambda_max
                    );
                }
            }
            if !derived.tau_rel.is_empty() {
                println!(
                    "# time constants   ρ_ℓ = τ_ℓ/τ {} ({})",
                    fmt_list(&derived.tau_rel),
                    match (c.dynamics.tau_rel.is_empty(), c.dynamics.tau_rule) {
                        (false, _) => "manual tau_rel",
                        (true, circuit::TauRule::Uniform) => "uniform",
                        (true, circuit::TauRule::Auto) => "auto",
                    }
                );
            }
            if let Some(g) = derived.damping {
                println!("# damping γ        {g:.4}");
            }
            println!(
                "# data             {} train / {} test samples",
                derived.n_train, derived.n_test
            );
            Ok(())
        }
    }
}

struct SweepArgs {
    circuit: Option<PathBuf>,
    widths: Option<String>,
    depths: Option<String>,
    seeds: Option<String>,
    steps: usize,
    shard: Option<String>,
    out: Option<PathBuf>,
    set: Vec<String>,
}

fn sweep_cmd(a: SweepArgs) -> Result<(), RunError> {
    use pcchip::run::sweep::{parse_list, CircuitSource, Grid, Shard, SweepOptions};
    let bad = RunError::Invalid;
    let widths = parse_list("--widths", a.widths.as_deref().unwrap_or("")).map_err(bad)?;
    let depths = parse_list("--depths", a.depths.as_deref().unwrap_or("")).map_err(bad)?;
    let shard = a
        .shard
        .as_deref()
        .map(str::parse::<Shard>)
        .transpose()
        .map_err(bad)?;
    let path = a
        .circuit
        .ok_or_else(|| bad("sweep: a circuit file is needed".into()))?;
    let src = CircuitSource::read(&path, &a.set)?;
    let base = src.base()?;
    let seeds = match &a.seeds {
        Some(s) => parse_list("--seeds", s).map_err(bad)?,
        None => vec![base.seed],
    };
    let grid = Grid::new(widths, depths, seeds).map_err(bad)?;
    let out_dir = a
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-sweep", base.name)));
    let opts = SweepOptions {
        grid,
        steps: a.steps,
        shard,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} cells [{elapsed_precise}<{eta_precise}] {msg}",
            )
            .expect("template"),
        );
        b
    });
    let result = pcchip::run::sweep::sweep(&src, &opts, &out_dir, |r, done, total| {
        let cos = r.cos_global.map_or("—".into(), |c| format!("{c:.6}"));
        let tau = r.t_relax_tau.map_or("—".into(), |t| format!("{t:.1}"));
        let what = format!(
            "width {} depth {} seed {}: cos {cos}, relax {tau} τ{}, {:.1} s",
            r.width,
            r.depth,
            r.seed,
            r.error
                .as_ref()
                .map_or(String::new(), |e| format!(" (failed: {e})")),
            r.wall_s
        );
        match &bar {
            Some(b) => {
                b.set_length(total as u64);
                b.set_position(done as u64);
                b.set_message(what);
            }
            None => eprintln!("cell {done}/{total} {what}"),
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let f = result?;
    let capped = f
        .cells
        .iter()
        .filter(|c| c.stop.is_some_and(|s| s.capped()))
        .count();
    if capped > 0 {
        eprintln!("pcchip: warning: {capped} cell(s) stopped at relax.t_max_tau or relax.max_steps before reaching relax.residual_tol (marked * below); raise them");
    }
    let shard = f.shard.map_or(String::new(), |s| format!(" (shard {s})"));
    println!(
        "{} cells{shard} of `{}` written to {}/sweep.json and sweep.csv",
        f.cells.len(),
        f.circuit_name,
        out_dir.display()
    );
    print_sweep_table(&f);
    Ok(())
}

/// The seed-averaged cosine table of a sweep, in Markdown.
fn print_sweep_table(f: &pcchip::run::sweep::SweepFile) {
    println!("\ncos(PC, BP) at initialisation, mean ± std over seeds:\n");
    print!("{}", pcchip::run::sweep::seed_table(f, |c| c.cos_global, 4));
    if f.steps > 0 {
        println!("\ncos(PC, BP) after {} training steps:\n", f.steps);
        print!("{}", pcchip::run::sweep::seed_table(f, |c| c.cos_steps, 4));
    }
    println!("\nrelaxation time (τ), mean ± std over seeds:\n");
    print!(
        "{}",
        pcchip::run::sweep::seed_table(f, |c| c.t_relax_tau, 1)
    );
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

/// "0.25× the speed of sequential backprop (slower)".
fn plainly(speedup: f64, baseline: &str) -> String {
    let verdict = if speedup > 1.0 {
        "faster"
    } else if speedup < 1.0 {
        "slower"
    } else {
        "as fast"
    };
    format!("the chip runs at {speedup:.3}× the speed of {baseline} ({verdict})")
}

fn fmt_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.4e}")).collect();
    format!("[{}]", items.join(", "))
}
