//! `alignment`: cosine between the chip's PC weight update and the backprop
//! gradient. Left: against relaxation time within the chosen recorded steps
//! (relaxation.csv's `cos_bp`). Right: against training step, all layers
//! together and per layer (report.json's `cos_bp`, `cos_bp_layers`).

use super::data::StepTrace;
use super::relaxation::{stop_of, time_caption};
use super::style::*;
use super::Figure;
use crate::report::Report;
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct AlignmentFigure<'a> {
    pub report: &'a Report,
    pub traces: &'a [StepTrace],
}

impl Figure for AlignmentFigure<'_> {
    fn stem(&self) -> &'static str {
        "alignment"
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
            "Alignment of the PC update with the backprop gradient",
            &time_caption(self.report),
        )?;
        let (left, right) = body.split_horizontally(body.dim_in_pixel().0 / 2);
        self.draw_over_time(&left)?;
        self.draw_over_steps(&right)
    }
}

impl AlignmentFigure<'_> {
    fn draw_over_time<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let caption = "During relaxation";
        let traced: Vec<(usize, Vec<(f64, f64)>)> = self
            .traces
            .iter()
            .map(|t| {
                let pts = t
                    .t_tau
                    .iter()
                    .zip(&t.cos_bp)
                    .filter_map(|(t, c)| Some((*t, (*c)?)))
                    .filter(|(t, c)| t.is_finite() && c.is_finite())
                    .collect();
                (t.step, pts)
            })
            .filter(|(_, p): &(usize, Vec<_>)| !p.is_empty())
            .collect();
        if traced.is_empty() {
            return no_data(
                area,
                caption,
                "no cos_bp in relaxation.csv (record.trace_alignment off?)",
            );
        }
        let t_max = traced
            .iter()
            .flat_map(|(_, p)| p.iter().map(|q| q.0))
            .fold(0.0f64, f64::max)
            .max(1e-9);
        let y = lin_range(
            traced
                .iter()
                .flat_map(|(_, p)| p.iter().map(|q| q.1))
                .chain([0.99]),
        );
        let y = y.start..y.end.min(1.01);
        let mut chart = ChartBuilder::on(area)
            .caption(caption, text(CAPTION_PX))
            .margin(15)
            .margin_right(30)
            .x_label_area_size(60)
            .y_label_area_size(100)
            .build_cartesian_2d(0.0..t_max * 1.02, y.clone())?;
        chart
            .configure_mesh()
            .x_desc("relaxation time t / τ")
            .y_desc("cos(PC update, BP gradient)")
            .label_style(text(TICK_PX))
            .axis_desc_style(text(LABEL_PX))
            .light_line_style(grid_colour())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
        for (i, (step, pts)) in traced.iter().enumerate() {
            let c = palette(i);
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(3)))?
                .label(format!("step {step}"))
                .legend(legend_line(c, 3));
            if let Some((t_stop, _)) = stop_of(self.report, *step) {
                chart.draw_series(DashedLineSeries::new(
                    [(t_stop, y.start), (t_stop, y.end)],
                    10,
                    6,
                    c.stroke_width(2),
                ))?;
            }
        }
        chart
            .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
            .label("stopping time")
            .legend(legend_dashed!(RGBColor(80, 80, 80)));
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, 0.99), (t_max * 1.02, 0.99)],
                4,
                4,
                BLACK.stroke_width(1),
            ))?
            .label("cos = 0.99")
            .legend(legend_dashed!(BLACK));
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
    }

    fn draw_over_steps<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let caption = "Over training";
        let global: Vec<(f64, f64)> = self
            .report
            .steps
            .iter()
            .filter_map(|s| Some((s.step as f64, s.cos_bp?)))
            .filter(|p| p.1.is_finite())
            .collect();
        let n_layers = self
            .report
            .steps
            .iter()
            .filter_map(|s| s.cos_bp_layers.as_ref().map(Vec::len))
            .max()
            .unwrap_or(0);
        let layers: Vec<Vec<(f64, f64)>> = (0..n_layers)
            .map(|l| {
                self.report
                    .steps
                    .iter()
                    .filter_map(|s| Some((s.step as f64, *s.cos_bp_layers.as_ref()?.get(l)?)))
                    .filter(|p| p.1.is_finite())
                    .collect()
            })
            .collect();
        if global.is_empty() && layers.iter().all(Vec::is_empty) {
            return no_data(area, caption, "no cos_bp in report.json's steps");
        }
        let use_bar = n_layers > 8;
        let (plot_area, key) = if use_bar {
            let (p, k) = area.split_horizontally(area.dim_in_pixel().0 - 140);
            (p, Some(k))
        } else {
            (area.clone(), None)
        };
        let all = || global.iter().chain(layers.iter().flatten());
        let x = lin_range(all().map(|p| p.0));
        let y = lin_range(all().map(|p| p.1));
        let y = y.start..y.end.min(1.01);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(caption, text(CAPTION_PX))
            .margin(15)
            .margin_right(30)
            .x_label_area_size(60)
            .y_label_area_size(100)
            .build_cartesian_2d(x, y)?;
        chart
            .configure_mesh()
            .x_desc("training step")
            .y_desc("cos(PC update, BP gradient)")
            .label_style(text(TICK_PX))
            .axis_desc_style(text(LABEL_PX))
            .light_line_style(grid_colour())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
        for (l, pts) in layers.iter().enumerate() {
            let c = depth_colour(l + 1, n_layers);
            let s = chart.draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?;
            if !use_bar {
                s.label(format!("layer {}", l + 1))
                    .legend(legend_line(c, 2));
            }
        }
        if !global.is_empty() {
            chart
                .draw_series(LineSeries::new(
                    global.iter().copied(),
                    BLACK.stroke_width(4),
                ))?
                .label("all layers")
                .legend(legend_line(BLACK, 4));
            chart.draw_series(global.iter().map(|p| Circle::new(*p, 5, BLACK.filled())))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        if let Some(key) = key {
            colour_bar(&key, 1.0..n_layers as f64, "layer ℓ (depth)", &|v| {
                depth_colour(v.round() as usize, n_layers)
            })?;
        }
        Ok(())
    }
}
