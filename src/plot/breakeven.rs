//! `breakeven`: from a bench run over several τ (`pcchip bench --taus`), the
//! speedup against sequential backprop (solid) and against layer-pipelined
//! backprop (dashed) as a function of the integrator time constant τ, one
//! colour per depth and dynamics, with the τ below the loop-delay stability
//! bound shaded and the break-even line (speedup 1) dashed.

use super::data::BenchRow;
use super::style::*;
use super::Figure;
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct BreakEvenFigure<'a> {
    pub rows: &'a [BenchRow],
}

/// Rows grouped by (dynamics, depth), in order of first appearance, each
/// sorted by τ.
fn groups(rows: &[BenchRow]) -> Vec<(String, Vec<&BenchRow>)> {
    let mut out: Vec<(String, Vec<&BenchRow>)> = vec![];
    for r in rows {
        let key = format!("{} L = {}", r.dynamics, r.depth);
        match out.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(r),
            None => out.push((key, vec![r])),
        }
    }
    for g in &mut out {
        g.1.sort_by(|a, b| a.tau_s.total_cmp(&b.tau_s));
    }
    out
}

/// Whether a bench has more than one τ (the figure is drawn only then).
pub(crate) fn has_tau_axis(rows: &[BenchRow]) -> bool {
    let mut taus: Vec<f64> = rows
        .iter()
        .map(|r| r.tau_s)
        .filter(|t| t.is_finite())
        .collect();
    taus.sort_by(f64::total_cmp);
    taus.dedup();
    taus.len() > 1
}

impl Figure for BreakEvenFigure<'_> {
    fn stem(&self) -> &'static str {
        "breakeven"
    }

    fn size(&self) -> (u32, u32) {
        (1300, 900)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let body = header(
            root,
            "Break-even map: PC chip against backprop on the same crossbars",
            "solid: vs sequential BP · dashed: vs layer-pipelined BP · shaded: τ below the loop-delay bound",
        )?;
        let x = log_range(self.rows.iter().map(|r| r.tau_s));
        let speeds = self
            .rows
            .iter()
            .flat_map(|r| [r.speedup, r.speedup_pipe.unwrap_or(f64::NAN)]);
        let y = log_range(speeds.chain([1.0]));
        let mut chart = ChartBuilder::on(&body)
            .margin(15)
            .margin_right(30)
            .x_label_area_size(60)
            .y_label_area_size(100)
            .build_cartesian_2d(x.clone().log_scale(), y.clone().log_scale())?;
        chart
            .configure_mesh()
            .x_desc("integrator time constant τ (s)")
            .y_desc("speedup t_BP / t_PC")
            .label_style(text(TICK_PX))
            .axis_desc_style(text(LABEL_PX))
            .light_line_style(grid_colour())
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
        for (i, (name, rows)) in groups(self.rows).iter().enumerate() {
            let c = palette(i);
            // The unstable τ: from the axis start to midway (geometrically)
            // between the largest unstable τ and the next stable one.
            let unstable = rows
                .iter()
                .filter(|r| !r.stable)
                .map(|r| r.tau_s)
                .reduce(f64::max);
            if let Some(worst) = unstable {
                let next = rows
                    .iter()
                    .find(|r| r.stable && r.tau_s > worst)
                    .map(|r| r.tau_s);
                let top = next.map_or(worst, |n| (worst * n).sqrt());
                let shade = c.mix(0.12).filled();
                chart.draw_series([Rectangle::new([(x.start, y.start), (top, y.end)], shade)])?;
            }
            let seq: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.stable && r.speedup.is_finite() && r.speedup > 0.0)
                .map(|r| (r.tau_s, r.speedup))
                .collect();
            chart
                .draw_series(LineSeries::new(seq.iter().copied(), c.stroke_width(3)))?
                .label(name.as_str())
                .legend(legend_line(c, 3));
            chart.draw_series(seq.iter().map(|p| Circle::new(*p, 6, c.filled())))?;
            let pipe: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.stable)
                .filter_map(|r| Some((r.tau_s, r.speedup_pipe?)))
                .filter(|p| p.1.is_finite() && p.1 > 0.0)
                .collect();
            chart.draw_series(DashedLineSeries::new(
                pipe.iter().copied(),
                10,
                6,
                c.stroke_width(2),
            ))?;
        }
        draw_break_even(&mut chart, &x)?;
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}
