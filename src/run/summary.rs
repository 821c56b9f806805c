//! The summary `pcchip run` prints at the end of a run.

use crate::report::Report;
use crate::timing::StepCost;
use std::fmt::Write as _;
use std::path::Path;

/// "the chip runs at 0.250× the speed of sequential backprop (slower)".
pub fn plainly(speedup: f64, baseline: &str) -> String {
    let verdict = if speedup > 1.0 {
        "faster"
    } else if speedup < 1.0 {
        "slower"
    } else {
        "as fast"
    };
    format!("the chip runs at {speedup:.3}× the speed of {baseline} ({verdict})")
}

/// The run's summary, one line a quantity (times in τ and s, energies in J),
/// ending with the output folder; empty when the report has no summary.
pub fn run_summary(report: &Report, out: &Path) -> String {
    let Some(s) = &report.summary else {
        return String::new();
    };
    let tau = report.circuit.dynamics.tau_s;
    let mut o = String::new();
    let w = &mut o;
    let row = |w: &mut String, label: &str, value: String| {
        let _ = writeln!(w, "  {label:<34} {value:>14}");
    };
    let _ = writeln!(
        w,
        "pcchip run `{}` — {} steps in {:.1} s of simulation",
        report.circuit.name, s.steps, s.wall_s
    );
    row(w, "test loss", format!("{:.4}", s.test_loss));
    if let Some(t) = &report.derived.text {
        let nats = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.4}"));
        row(
            w,
            "held-out loss, nats per character",
            format!("{:.4}", s.test_loss / t.seq_len.max(1) as f64),
        );
        row(w, "  … unigram baseline", nats(t.unigram_nats_per_char));
        row(w, "  … bigram baseline", nats(t.bigram_nats_per_char));
    }
    if let Some(a) = s.test_accuracy {
        row(w, "test accuracy", format!("{:.2} %", 100.0 * a));
    }
    row(
        w,
        "median relaxation time",
        format!("{:.1} τ", s.median_t_relax_tau),
    );
    row(
        w,
        &format!("  … in seconds (τ = {tau:.0e} s)"),
        format!("{:.3e} s", s.median_t_relax_s),
    );
    if let Some(c) = s.mean_cos_bp {
        row(w, "mean cosine(PC update, backprop)", format!("{c:.4}"));
    }
    row(
        w,
        "speedup t_BP / t_PC (median)",
        format!("{:.3}", s.median_speedup),
    );
    let _ = writeln!(w, "  {}", plainly(s.median_speedup, "sequential backprop"));
    let _ = writeln!(
        w,
        "  {}",
        plainly(s.median_speedup_pipelined, "layer-pipelined backprop")
    );
    row(
        w,
        "energy ratio E_BP / E_PC (median)",
        format!("{:.3}", s.median_energy_ratio),
    );
    if let Some(c) = &s.last_step_cost {
        let phases = |p: &StepCost| {
            p.phases
                .iter()
                .map(|ph| format!("{} {:.3e} s", ph.name, ph.time_s))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            w,
            "  PC step:  {:.3e} s, {:.3e} J  ({})",
            c.pc.time_s,
            c.pc.energy_j,
            phases(&c.pc)
        );
        let _ = writeln!(
            w,
            "  BP step:  {:.3e} s, {:.3e} J  ({})",
            c.bp.time_s,
            c.bp.energy_j,
            phases(&c.bp)
        );
        let sources = |p: &StepCost| {
            p.sources
                .named()
                .iter()
                .map(|(n, e)| format!("{n} {e:.2e}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(w, "  energy by source, J: PC {}", sources(&c.pc));
        let _ = writeln!(w, "                       BP {}", sources(&c.bp));
    }
    let _ = writeln!(w, "  written to {}", out.display());
    o
}

#[cfg(test)]
mod tests {
    use super::plainly;

    #[test]
    fn the_verdict_follows_the_speedup() {
        assert!(plainly(0.25, "x").ends_with("0.250× the speed of x (slower)"));
        assert!(plainly(2.0, "x").ends_with("(faster)"));
        assert!(plainly(1.0, "x").ends_with("(as fast)"));
    }
}
