//! `pcchip check`: the circuit validated and resolved (every default and
//! preset value filled in), then the quantities derived from it on its data:
//! widths, parameters, crossbars and tiles, the multipliers a_ℓ and learning
//! rates, the time constant τ (s), the rates of the relaxation at the
//! feedforward state (1/τ) with the time scale and stability limit they
//! imply, the time constants ρ_ℓ, the damping, the equilibrium solver
//! `grads` and `sweep` use, and the data's size.

use crate::chip::explicit_step_limit;
use crate::circuit::{Circuit, TauRule};
use crate::real::Real;
use crate::report::Derived;
use crate::run::dispatch::{dispatch, Job};
use crate::run::train::{prepare, RunOptions};
use crate::run::RunError;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The quantities `check` and the report derive from the circuit on its
/// data (the chip is built and preflighted at the circuit's dtype; nothing
/// is written).
pub fn derive(circuit: &Circuit, opts: &RunOptions) -> Result<Derived, RunError> {
    struct Derive<'a>(&'a Circuit, &'a RunOptions);
    impl Job for Derive<'_> {
        type Output = Result<Derived, RunError>;
        fn call<T: Real>(self) -> Self::Output {
            Ok(prepare::<T>(self.0, self.1)?.3)
        }
    }
    dispatch(circuit.dtype, Derive(circuit, opts))
}

/// The circuit as TOML with every default and preset value filled in (what
/// `check` prints first, and what a run stores).
pub fn resolved_toml(c: &Circuit) -> Result<String, RunError> {
    toml::to_string_pretty(c).map_err(|e| RunError::Failed(e.to_string()))
}

/// `[a, b, …]` with four significant digits in exponent form.
pub fn fmt_list(v: &[f64]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:.4e}")).collect();
    format!("[{}]", items.join(", "))
}

/// The text `pcchip check` prints: the resolved circuit as TOML, then the
/// derived quantities as `#` comments. Relative data paths resolve against
/// `base_dir`.
pub fn check(c: &Circuit, base_dir: &Path) -> Result<String, RunError> {
    let opts = RunOptions {
        out_dir: PathBuf::new(),
        base_dir: base_dir.into(),
        weights: None,
    };
    let derived = derive(c, &opts)?;
    let toml = resolved_toml(c)?;
    let mut s = String::new();
    let w = &mut s;
    // Writing into a String cannot fail.
    let _ = writeln!(
        w,
        "# resolved circuit (every default and preset value filled in)"
    );
    let _ = writeln!(w, "{toml}");
    let _ = writeln!(w, "# derived quantities");
    let _ = writeln!(w, "# widths           {:?}", derived.widths);
    let _ = writeln!(w, "# parameters       {}", derived.n_params);
    let _ = writeln!(
        w,
        "# crossbars        {} (tile grids {:?}), {} tiles of {}×{}",
        derived.n_crossbars, derived.tile_grids, derived.n_tiles, c.tile.rows, c.tile.cols
    );
    let _ = writeln!(w, "# multipliers a_ℓ  {}", fmt_list(&derived.multipliers));
    let _ = writeln!(
        w,
        "# learning rates   {}",
        fmt_list(&derived.learning_rates)
    );
    let _ = writeln!(
        w,
        "# τ                {:.3e} s; t_max {:.3e} s",
        c.dynamics.tau_s,
        c.relax.t_max_tau * c.dynamics.tau_s
    );
    if let Some(s) = derived.spectrum {
        let _ = writeln!(w, "# rates λ_min … λ_max of R⁻¹H (the activity Hessian H when all ρ_ℓ = 1) at the feedforward state: {:.4e} … {:.4} (1/τ); condition {:.1}", s.lambda_min, s.lambda_max, s.condition());
        let _ = writeln!(
            w,
            "# first-order relaxation time scale 1/λ_min ≈ {:.1} τ = {:.3e} s",
            1.0 / s.lambda_min,
            c.dynamics.tau_s / s.lambda_min
        );
        let dynamics =
            crate::circuit::dynamics_with(&c.dynamics, derived.damping, derived.derivative_gain);
        let limit = explicit_step_limit(c.relax.method, dynamics, s.lambda_max);
        if let Some(lim) = limit {
            let _ = writeln!(
                w,
                "# explicit stability limit of \"{}\": dt_tau < {lim:.4}",
                c.relax.method.name(),
            );
        }
    }
    let solver = c.equilibrium.solver;
    let _ = writeln!(
        w,
        "# equilibrium      grads and sweep use \"{}\"{}",
        solver
            .resolve(
                &c.relax,
                c.network.kind != crate::circuit::NetworkKind::Transformer
            )
            .name(),
        if solver == crate::relax::Solver::Auto {
            " (equilibrium.solver = \"auto\")"
        } else {
            ""
        }
    );
    if !derived.tau_rel.is_empty() {
        let rule = match (c.dynamics.tau_rel.is_empty(), c.dynamics.tau_rule) {
            (false, _) => "manual tau_rel",
            (true, TauRule::Uniform) => "uniform",
            (true, TauRule::Auto) => "auto",
        };
        let _ = writeln!(
            w,
            "# time constants   ρ_ℓ = τ_ℓ/τ {} ({rule})",
            fmt_list(&derived.tau_rel)
        );
    }
    if let Some(g) = derived.damping {
        let _ = writeln!(w, "# damping γ        {g:.4}");
    }
    if let Some(b) = derived.derivative_gain {
        let how = match c.dynamics.derivative_gain {
            Some(_) => "manual",
            None => "auto: the largest stable loop delay",
        };
        let _ = writeln!(w, "# derivative gain  β = {b:.4} τ ({how})");
    }
    for warning in &derived.warnings {
        let _ = writeln!(w, "# warning: {warning}");
    }
    if let Some(b) = &derived.delay_bound {
        let source = match c.dynamics.loop_delay_ns {
            Some(_) => "dynamics.loop_delay_ns",
            None => "default: timing.t_settle_ns, the arrays' settling",
        };
        let simulated = match c.simulates_loop_delay() {
            true => "simulated",
            false => "not simulated by this method",
        };
        let _ = writeln!(
            w,
            "# loop delay       {} ns ({source}; {simulated})",
            c.loop_delay_ns()
        );
        let _ = writeln!(
            w,
            "# loop delay       d = {:.4} τ; stable for d < {:.4} τ ({}, λ_max ≈ {:.4}); margin d_crit/d = {:.2}; smallest stable τ {:.3e} s",
            b.delay_tau,
            b.d_crit_tau,
            b.formula(c.dynamics.order),
            b.lambda_max,
            b.margin(),
            b.tau_min_s
        );
    } else if c.dynamics.loop_delay_ns.is_none() {
        let _ = writeln!(
            w,
            "# loop delay       none (ideal devices: the ideal loop; set dynamics.loop_delay_ns to add one)"
        );
    }
    let _ = writeln!(
        w,
        "# data             {} train / {} test samples",
        derived.n_train, derived.n_test
    );
    Ok(s)
}
