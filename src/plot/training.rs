//! `training`: loss and accuracy against training step. Each step's batch
//! value (thin, pale) with its moving average, and the evaluations on the
//! test (and train) split from report.json's `evals`.

use super::style::*;
use super::Figure;
use crate::report::Report;
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct TrainingFigure<'a> {
    pub report: &'a Report,
}

impl Figure for TrainingFigure<'_> {
    fn stem(&self) -> &'static str {
        "training"
    }

    fn size(&self) -> (u32, u32) {
        (1800, 850)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let r = self.report;
        let subtitle = format!(
            "circuit `{}`; batch values smoothed over a centred window of {} steps",
            r.circuit.name,
            window(r.steps.len())
        );
        let body = header(root, "Training: loss and accuracy", &subtitle)?;
        let (left, right) = body.split_horizontally(body.dim_in_pixel().0 / 2);
        let loss = Metric {
            caption: "Loss",
            y_desc: "loss ℒ",
            log_y: true,
            scale: 1.0,
            batch: r
                .steps
                .iter()
                .map(|s| (s.step as f64, Some(s.loss)))
                .collect(),
            evals: r
                .evals
                .iter()
                .map(|e| (e.split.clone(), e.step as f64, Some(e.loss)))
                .collect(),
        };
        let acc = Metric {
            caption: "Accuracy",
            y_desc: "accuracy (%)",
            log_y: false,
            scale: 100.0,
            batch: r
                .steps
                .iter()
                .map(|s| (s.step as f64, s.accuracy))
                .collect(),
            evals: r
                .evals
                .iter()
                .map(|e| (e.split.clone(), e.step as f64, e.accuracy))
                .collect(),
        };
        loss.draw(&left, window(r.steps.len()))?;
        acc.draw(&right, window(r.steps.len()))
    }
}

/// Odd smoothing window: about 1/25 of the steps, at least 1.
fn window(n_steps: usize) -> usize {
    (n_steps / 25) | 1
}

struct Metric {
    caption: &'static str,
    y_desc: &'static str,
    log_y: bool,
    /// Multiplier applied to every value (100 for percent).
    scale: f64,
    /// (step, value) of every training step.
    batch: Vec<(f64, Option<f64>)>,
    /// (split, step, value) of every evaluation.
    evals: Vec<(String, f64, Option<f64>)>,
}

impl Metric {
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>, window: usize) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let keep = |v: f64| v.is_finite() && (!self.log_y || v > 0.0);
        let batch: Vec<(f64, f64)> = self
            .batch
            .iter()
            .filter_map(|(s, v)| Some((*s, (*v)? * self.scale)))
            .filter(|p| keep(p.1))
            .collect();
        let evals: Vec<(&str, f64, f64)> = self
            .evals
            .iter()
            .filter_map(|(sp, s, v)| Some((sp.as_str(), *s, (*v)? * self.scale)))
            .filter(|p| keep(p.2))
            .collect();
        if batch.is_empty() && evals.is_empty() {
            return no_data(
                area,
                self.caption,
                &format!("no {} recorded", self.caption.to_lowercase()),
            );
        }
        let values = || batch.iter().map(|p| p.1).chain(evals.iter().map(|p| p.2));
        let x = lin_range(batch.iter().map(|p| p.0).chain(evals.iter().map(|p| p.1)));
        let x = x.start.max(0.0)..x.end;
        let smoothed: Vec<(f64, f64)> = batch
            .iter()
            .map(|p| p.0)
            .zip(smooth(
                &batch.iter().map(|p| p.1).collect::<Vec<_>>(),
                window,
            ))
            .collect();
        let builder = || {
            let mut b = ChartBuilder::on(area);
            b.caption(self.caption, text(CAPTION_PX))
                .margin(15)
                .margin_right(30)
                .x_label_area_size(60)
                .y_label_area_size(100);
            b
        };
        // Both axis kinds share the drawing code below through this macro.
        macro_rules! body {
            ($chart:ident) => {{
                $chart
                    .configure_mesh()
                    .x_desc("training step")
                    .y_desc(self.y_desc)
                    .label_style(text(TICK_PX))
                    .axis_desc_style(text(LABEL_PX))
                    .light_line_style(grid_colour())
                    .x_label_formatter(&|v| tick(*v))
                    .y_label_formatter(&|v| tick(*v))
                    .draw()?;
                let c = palette(0);
                if !batch.is_empty() {
                    $chart
                        .draw_series(LineSeries::new(
                            batch.iter().copied(),
                            c.mix(0.3).stroke_width(1),
                        ))?
                        .label("train batch")
                        .legend(legend_line(RGBColor(170, 200, 225), 2));
                    $chart
                        .draw_series(LineSeries::new(smoothed.iter().copied(), c.stroke_width(3)))?
                        .label("train batch, smoothed")
                        .legend(legend_line(c, 3));
                }
                for (k, split) in ["test", "train"].iter().enumerate() {
                    let pts: Vec<(f64, f64)> = evals
                        .iter()
                        .filter(|e| e.0 == *split)
                        .map(|e| (e.1, e.2))
                        .collect();
                    if pts.is_empty() {
                        continue;
                    }
                    let c = palette(1 + 2 * k);
                    $chart
                        .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(3)))?
                        .label(format!("{split} set (evaluation)"))
                        .legend(move |(x, y)| {
                            EmptyElement::at((x, y))
                                + PathElement::new(vec![(0, 0), (24, 0)], c.stroke_width(3))
                                + Circle::new((12, 0), 6, c.filled())
                        });
                    $chart.draw_series(pts.iter().map(|p| Circle::new(*p, 6, c.filled())))?;
                }
                draw_legend(
                    &mut $chart,
                    if self.log_y {
                        SeriesLabelPosition::UpperRight
                    } else {
                        SeriesLabelPosition::LowerRight
                    },
                )?;
            }};
        }
        if self.log_y {
            let mut chart = builder().build_cartesian_2d(x, log_range(values()).log_scale())?;
            body!(chart);
        } else {
            let y = lin_range(values());
            let mut chart = builder().build_cartesian_2d(x, y)?;
            body!(chart);
        }
        Ok(())
    }
}
