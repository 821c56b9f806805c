//! `speedup`: from a bench's `bench.csv`, the speedup t_BP/t_PC and the
//! relaxation time against network depth on log–log axes, one curve per
//! dynamics ("first-order", "inertial"), with the break-even line dashed.

use super::data::BenchRow;
use super::style::*;
use super::Figure;
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct SpeedupFigure<'a> {
    pub rows: &'a [BenchRow],
}

/// Rows grouped by dynamics (and by τ when the bench ran several), in
/// order of first appearance, each sorted by depth; unstable points left out.
fn by_dynamics(rows: &[BenchRow]) -> Vec<(String, Vec<BenchRow>)> {
    let per_tau = super::breakeven::has_tau_axis(rows);
    let mut groups: Vec<(String, Vec<BenchRow>)> = vec![];
    for r in rows.iter().filter(|r| r.stable) {
        let key = match per_tau {
            true => format!("{} τ = {:.0e} s", r.dynamics, r.tau_s),
            false => r.dynamics.clone(),
        };
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.1.push(r.clone()),
            None => groups.push((key, vec![r.clone()])),
        }
    }
    for g in &mut groups {
        g.1.sort_by(|a, b| a.depth.total_cmp(&b.depth));
    }
    groups
}

fn positive(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite() && p.0 > 0.0 && p.1 > 0.0
}

impl Figure for SpeedupFigure<'_> {
    fn stem(&self) -> &'static str {
        "speedup"
    }

    fn size(&self) -> (u32, u32) {
        (1800, 850)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let body = header(
            root,
            "PC chip against backprop: scaling with depth",
            "speedup = t_BP / t_PC per training step (above 1: the PC chip is faster); relaxation time in units of τ",
        )?;
        let (left, right) = body.split_horizontally(body.dim_in_pixel().0 / 2);
        let groups = by_dynamics(self.rows);
        let x = log_range(self.rows.iter().map(|r| r.depth));

        // Speedup.
        let y = log_range(self.rows.iter().map(|r| r.speedup).chain([1.0]));
        let mut chart = ChartBuilder::on(&left)
            .caption("Speedup against depth", text(CAPTION_PX))
            .margin(15)
            .margin_right(30)
            .x_label_area_size(60)
            .y_label_area_size(100)
            .build_cartesian_2d(x.clone().log_scale(), y.log_scale())?;
        chart
            .configure_mesh()
            .x_desc("depth L (layers)")
            .y_desc("speedup t_BP / t_PC")
            .label_style(text(TICK_PX))
            .axis_desc_style(text(LABEL_PX))
            .light_line_style(grid_colour())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
        for (i, (name, rows)) in groups.iter().enumerate() {
            let c = palette(i);
            let pts: Vec<(f64, f64)> = rows
                .iter()
                .map(|r| (r.depth, r.speedup))
                .filter(positive)
                .collect();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(3)))?
                .label(name.as_str())
                .legend(legend_line(c, 3));
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 6, c.filled())))?;
        }
        draw_break_even(&mut chart, &x)?;
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;

        // Relaxation and alignment times.
        let y = log_range(
            self.rows
                .iter()
                .flat_map(|r| [r.t_relax_tau, r.t_align_tau.unwrap_or(f64::NAN)]),
        );
        let mut chart = ChartBuilder::on(&right)
            .caption("Relaxation time against depth", text(CAPTION_PX))
            .margin(15)
            .margin_right(30)
            .x_label_area_size(60)
            .y_label_area_size(100)
            .build_cartesian_2d(x.log_scale(), y.log_scale())?;
        chart
            .configure_mesh()
            .x_desc("depth L (layers)")
            .y_desc("time t / τ")
            .label_style(text(TICK_PX))
            .axis_desc_style(text(LABEL_PX))
            .light_line_style(grid_colour())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
        for (i, (name, rows)) in groups.iter().enumerate() {
            let c = palette(i);
            let relax: Vec<(f64, f64)> = rows
                .iter()
                .map(|r| (r.depth, r.t_relax_tau))
                .filter(positive)
                .collect();
            chart
                .draw_series(LineSeries::new(relax.iter().copied(), c.stroke_width(3)))?
                .label(format!("{name}: median relaxation time"))
                .legend(legend_line(c, 3));
            chart.draw_series(relax.iter().map(|p| Circle::new(*p, 6, c.filled())))?;
            let align: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|r| Some((r.depth, r.t_align_tau?)))
                .filter(positive)
                .collect();
            if !align.is_empty() {
                chart
                    .draw_series(DashedLineSeries::new(
                        align.iter().copied(),
                        10,
                        6,
                        c.stroke_width(3),
                    ))?
                    .label(format!("{name}: time to align (cosine within 1% of final)"))
                    .legend(legend_dashed!(c));
                chart.draw_series(align.iter().map(|p| TriangleMarker::new(*p, 7, c.filled())))?;
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}
