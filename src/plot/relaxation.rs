//! `relaxation`: how the recorded relaxations settle. Top row: energy F and
//! the worst-layer residual against simulated time (log y), one line per
//! chosen step, each step's stopping time dashed. Bottom row: one panel per
//! chosen step with every layer's error norm, coloured by depth.
//! Time is in τ; the subtitle converts to seconds with the circuit's τ.

use super::data::StepTrace;
use super::style::*;
use super::Figure;
use crate::report::Report;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Up to `k` traces spread over the recorded steps: first, last and evenly between.
pub(crate) fn choose_steps(traces: &[StepTrace], k: usize) -> Vec<StepTrace> {
    let n = traces.len();
    if n <= k || k < 2 {
        return traces.iter().take(k).cloned().collect();
    }
    let mut idx: Vec<usize> = (0..k)
        .map(|i| (i * (n - 1) + (k - 1) / 2) / (k - 1))
        .collect();
    idx.dedup();
    idx.iter().map(|&i| traces[i].clone()).collect()
}

/// Subtitle giving the time unit in seconds.
pub(crate) fn time_caption(report: &Report) -> String {
    let tau = report.circuit.dynamics.tau_s;
    format!(
        "circuit `{}`; time in units of τ = {} (t [s] = t/τ × {:.3e} s)",
        report.circuit.name,
        seconds(tau),
        tau
    )
}

/// Stopping time (τ) and rule of `step` from the report, when it is there.
pub(crate) fn stop_of(report: &Report, step: usize) -> Option<(f64, String)> {
    let r = report.steps.iter().find(|s| s.step == step)?;
    let rule = serde_json::to_value(r.stop)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Some((r.t_relax_tau, rule))
}

/// What the relaxation figure needs besides the traces: from a run's
/// report.json or a `pcchip relax` folder's relax.json.
pub(crate) struct RelaxView {
    pub caption: String,
    /// The circuit's `relax.residual_tol` (drawn when > 0).
    pub residual_tol: f64,
    /// (step, stopping time in τ, rule) per relaxation.
    pub stops: Vec<(usize, f64, String)>,
}

impl RelaxView {
    pub fn of_report(report: &Report) -> Self {
        RelaxView {
            caption: time_caption(report),
            residual_tol: report.circuit.relax.residual_tol,
            stops: report
                .steps
                .iter()
                .filter_map(|s| stop_of(report, s.step).map(|(t, r)| (s.step, t, r)))
                .collect(),
        }
    }

    fn stop(&self, step: usize) -> Option<(f64, String)> {
        self.stops
            .iter()
            .find(|s| s.0 == step)
            .map(|s| (s.1, s.2.clone()))
    }
}

pub(crate) struct RelaxationFigure<'a> {
    pub view: &'a RelaxView,
    pub title: &'a str,
    pub traces: &'a [StepTrace],
}

impl Figure for RelaxationFigure<'_> {
    fn stem(&self) -> &'static str {
        "relaxation"
    }

    fn size(&self) -> (u32, u32) {
        (1800, 1200)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let body = header(root, self.title, &self.view.caption)?;
        let (top, bottom) = body.split_vertically(body.dim_in_pixel().1 * 52 / 100);
        let (energy, residual) = top.split_horizontally(top.dim_in_pixel().0 / 2);
        let t_max = self
            .traces
            .iter()
            .flat_map(|t| t.t_tau.iter().copied())
            .chain(
                self.traces
                    .iter()
                    .filter_map(|t| self.view.stop(t.step).map(|s| s.0)),
            )
            .fold(0.0f64, f64::max)
            .max(1e-9);
        self.draw_log_panel(
            &energy,
            t_max,
            "Energy F",
            "energy F (batch mean)",
            |t| &t.energy,
            None,
        )?;
        let tol = self.view.residual_tol;
        self.draw_log_panel(
            &residual,
            t_max,
            "Worst-layer residual",
            "residual (relative to t = 0)",
            |t| &t.residual,
            (tol > 0.0).then_some(tol),
        )?;
        self.draw_errors(&bottom, t_max)
    }
}

impl RelaxationFigure<'_> {
    /// One log-y panel with a line per step and its stopping time dashed.
    fn draw_log_panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        t_max: f64,
        caption: &str,
        y_desc: &str,
        series: impl Fn(&StepTrace) -> &Vec<f64>,
        tolerance: Option<f64>,
    ) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let y = log_range(
            self.traces
                .iter()
                .flat_map(|t| series(t).iter().copied())
                .chain(tolerance),
        );
        let mut chart = ChartBuilder::on(area)
            .caption(caption, text(CAPTION_PX))
            .margin(15)
            .margin_right(30)
            .x_label_area_size(60)
            .y_label_area_size(110)
            .build_cartesian_2d(0.0..t_max * 1.02, y.clone().log_scale())?;
        chart
            .configure_mesh()
            .x_desc("relaxation time t / τ")
            .y_desc(y_desc)
            .label_style(text(TICK_PX))
            .axis_desc_style(text(LABEL_PX))
            .light_line_style(grid_colour())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
        for (i, tr) in self.traces.iter().enumerate() {
            let c = palette(i);
            let pts = tr
                .t_tau
                .iter()
                .zip(series(tr))
                .filter(|(t, v)| t.is_finite() && v.is_finite() && **v > 0.0)
                .map(|(t, v)| (*t, *v));
            chart
                .draw_series(LineSeries::new(pts, c.stroke_width(3)))?
                .label(format!("step {}", tr.step))
                .legend(legend_line(c, 3));
            if let Some((t_stop, _)) = self.view.stop(tr.step) {
                chart.draw_series(DashedLineSeries::new(
                    [(t_stop, y.start), (t_stop, y.end)],
                    10,
                    6,
                    c.stroke_width(2),
                ))?;
            }
        }
        if !self.traces.is_empty() {
            // Legend entry for the stopping-time marks.
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label("stopping time")
                .legend(legend_dashed!(RGBColor(80, 80, 80)));
        }
        if let Some(tol) = tolerance {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, tol), (t_max * 1.02, tol)],
                    4,
                    4,
                    BLACK.stroke_width(2),
                ))?
                .label(format!("residual tolerance {}", tick(tol)))
                .legend(legend_dashed!(BLACK));
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }

    /// One panel per step with each layer's error norm, plus the depth key.
    fn draw_errors<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        t_max: f64,
    ) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let n_layers = self
            .traces
            .iter()
            .map(|t| t.errors.len())
            .max()
            .unwrap_or(0);
        if self.traces.is_empty() || n_layers == 0 {
            return no_data(
                area,
                "Layer error norms",
                "relaxation.csv has no err_ℓ columns",
            );
        }
        let use_bar = n_layers > 8;
        let (panels, key) = if use_bar {
            let w = area.dim_in_pixel().0;
            let (p, k) = area.split_horizontally(w - 150);
            (p, Some(k))
        } else {
            (area.clone(), None)
        };
        let cells = panels.split_evenly((1, self.traces.len()));
        let y_max = self
            .traces
            .iter()
            .flat_map(|t| t.errors.iter().flatten().copied())
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let y_max = if y_max > 0.0 { y_max * 1.05 } else { 1.0 };
        for (k, (cell, tr)) in cells.iter().zip(self.traces).enumerate() {
            let mut chart = ChartBuilder::on(cell)
                .caption(
                    format!("Layer error norms, step {}", tr.step),
                    text(CAPTION_PX - 2),
                )
                .margin(12)
                .margin_right(20)
                .x_label_area_size(60)
                .y_label_area_size(if k == 0 { 100 } else { 70 })
                .build_cartesian_2d(0.0..t_max * 1.02, 0.0..y_max)?;
            let mut mesh = chart.configure_mesh();
            mesh.x_desc("t / τ")
                .label_style(text(TICK_PX))
                .axis_desc_style(text(LABEL_PX))
                .light_line_style(grid_colour())
                .x_labels(5)
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v));
            if k == 0 {
                mesh.y_desc("error norm ‖ε_ℓ‖ (rms over batch)");
            }
            mesh.draw()?;
            for (l, errs) in tr.errors.iter().enumerate() {
                let c = depth_colour(l + 1, n_layers);
                let pts = tr
                    .t_tau
                    .iter()
                    .zip(errs)
                    .filter(|(t, v)| t.is_finite() && v.is_finite())
                    .map(|(t, v)| (*t, *v));
                let s = chart.draw_series(LineSeries::new(pts, c.stroke_width(3)))?;
                if !use_bar && k == 0 {
                    let name = if l + 1 == n_layers {
                        format!("layer {} (output)", l + 1)
                    } else {
                        format!("layer {}", l + 1)
                    };
                    s.label(name).legend(legend_line(c, 3));
                }
            }
            if let Some((t_stop, rule)) = self.view.stop(tr.step) {
                let s = chart.draw_series(DashedLineSeries::new(
                    [(t_stop, 0.0), (t_stop, y_max)],
                    10,
                    6,
                    BLACK.stroke_width(2),
                ))?;
                if k == 0 {
                    s.label(format!("stop ({rule})"))
                        .legend(legend_dashed!(BLACK));
                }
            }
            if k == 0 {
                draw_legend(&mut chart, SeriesLabelPosition::MiddleRight)?;
            }
        }
        if let Some(key) = key {
            let n = n_layers as f64;
            colour_bar(&key, 1.0..n, "layer ℓ (depth)", &|v| {
                depth_colour(v.round() as usize, n_layers)
            })?;
        }
        Ok(())
    }
}
