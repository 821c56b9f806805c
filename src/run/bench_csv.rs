//! bench.csv: one row a bench point, the break-even map's columns first
//! (scripts read them by name), then the simulator's own figures.

use super::bench::BenchRow;
use super::RunError;
use std::io::Write;
use std::path::Path;

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.6e}"))
}

/// The columns of bench.csv: the break-even map's first (scripts read
/// them by name), then the simulator's own figures.
pub const CSV_HEADER: &str = "depth,dynamics,tau_s,loop_delay_s,stable,t_relax_tau,t_align_tau,cos_applied,t_pc_s,t_bp_seq_s,t_bp_pipe_s,speedup_seq,speedup_pipe,energy_ratio_seq,energy_ratio_pipe,stop_rule,t_cos99_tau,dt_tau,damping,wall_step_s,wall_step_1thread_s,peak_rss_mb,state_mb,derivative_gain,tau_min_s";

/// A number for the CSV (empty when not finite: an unsimulated point).
fn fmt_num(v: f64) -> String {
    fmt_opt(Some(v).filter(|x| x.is_finite()))
}

/// Writes bench.json and bench.csv of `rows` into `dir`.
pub(super) fn write_outputs(dir: &Path, rows: &[BenchRow]) -> Result<(), RunError> {
    let fail = |e: std::io::Error| RunError::Failed(format!("{}: {e}", dir.display()));
    let json = serde_json::to_vec_pretty(rows).map_err(|e| RunError::Failed(e.to_string()))?;
    std::fs::write(dir.join("bench.json"), json).map_err(fail)?;
    let mut f = std::fs::File::create(dir.join("bench.csv")).map_err(fail)?;
    writeln!(f, "{CSV_HEADER}").map_err(fail)?;
    for r in rows {
        let cells = [
            r.depth.to_string(),
            r.dynamics.clone(),
            format!("{:.6e}", r.tau_s),
            format!("{:.6e}", r.loop_delay_s),
            r.stable.to_string(),
            fmt_num(r.median_t_relax_tau),
            fmt_opt(r.t_align_tau),
            fmt_opt(r.cos_bp),
            fmt_num(r.t_pc_s),
            fmt_num(r.t_bp_s),
            fmt_num(r.t_bp_pipe_s),
            fmt_num(r.speedup),
            fmt_num(r.speedup_pipe),
            fmt_num(r.energy_ratio),
            fmt_num(r.energy_ratio_pipe),
            r.stop_rule.clone(),
            fmt_opt(r.t_cos99_tau),
            format!("{:.4e}", r.dt_tau),
            fmt_opt(r.damping),
            fmt_num(r.wall_step_s),
            fmt_opt(r.wall_step_1thread_s),
            format!("{:.1}", r.peak_rss_mb),
            fmt_num(r.state_mb),
            fmt_opt(r.derivative_gain),
            fmt_opt(r.tau_min_s),
        ];
        writeln!(f, "{}", cells.join(",")).map_err(fail)?;
    }
    Ok(())
}
