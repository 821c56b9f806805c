//! `alignment_grid`: from a sweep's `sweep.csv`, the PC–BP cosine averaged
//! over seeds as a width × depth heatmap, each cell annotated with its
//! value, and a colour bar; a sweep of one or two depths is drawn as lines
//! of the cosine against width (log scale), one a depth.

use super::data::SweepGrid;
use super::style::*;
use super::Figure;
use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub(crate) struct GridFigure<'a> {
    pub grid: &'a SweepGrid,
}

/// Colour range of the cells: their extremes, widened when all are equal.
fn value_range(grid: &SweepGrid) -> (f64, f64) {
    let r = lin_range(grid.cos.iter().flatten().flatten().copied());
    let (lo, hi) = (r.start, r.end);
    (lo.max(-1.0), hi.min(1.0).max(lo.max(-1.0) + 1e-6))
}

fn label(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 {
        format!("{}", v as i64)
    } else {
        tick(v)
    }
}

impl Figure for GridFigure<'_> {
    fn stem(&self) -> &'static str {
        "alignment_grid"
    }

    fn size(&self) -> (u32, u32) {
        (1300, 1000)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let g = self.grid;
        let max_seeds = g.n_seeds.iter().flatten().copied().max().unwrap_or(0);
        let min_seeds = g
            .n_seeds
            .iter()
            .flatten()
            .copied()
            .filter(|n| *n > 0)
            .min()
            .unwrap_or(0);
        let seeds = if min_seeds == max_seeds {
            format!("{max_seeds}")
        } else {
            format!("{min_seeds}–{max_seeds}")
        };
        if g.depths.len() <= 2 {
            return self.draw_lines(root, &seeds);
        }
        let body = header(
            root,
            "PC–BP gradient alignment over width and depth",
            &format!("cosine of the PC update with the backprop gradient, all layers, mean over {seeds} seed(s); blank cells: no value"),
        )?;
        let (plot, key) = body.split_horizontally(body.dim_in_pixel().0 - 170);
        let (nw, nd) = (g.widths.len() as u32, g.depths.len() as u32);
        let (lo, hi) = value_range(g);
        let colour = |v: f64| viridis((v - lo) / (hi - lo));
        let mut chart = ChartBuilder::on(&plot)
            .margin(20)
            .x_label_area_size(70)
            .y_label_area_size(100)
            // `a..b` of integers is inclusive in plotters: one segment per value.
            .build_cartesian_2d(
                (0..nw.saturating_sub(1)).into_segmented(),
                (0..nd.saturating_sub(1)).into_segmented(),
            )?;
        let fmt_w = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) if (*i as usize) < g.widths.len() => {
                label(g.widths[*i as usize])
            }
            _ => String::new(),
        };
        let fmt_d = |v: &SegmentValue<u32>| match v {
            SegmentValue::CenterOf(i) if (*i as usize) < g.depths.len() => {
                label(g.depths[*i as usize])
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(if g.cnn {
                "channels C (per stage)"
            } else {
                "width n (units per hidden layer)"
            })
            .y_desc(if g.cnn {
                "residual blocks per stage"
            } else {
                "depth L (layers)"
            })
            .label_style(text(LABEL_PX))
            .axis_desc_style(text(LABEL_PX))
            .x_labels(nw as usize + 1)
            .y_labels(nd as usize + 1)
            .x_label_formatter(&fmt_w)
            .y_label_formatter(&fmt_d)
            .draw()?;
        let cells: Vec<(u32, u32, f64)> = (0..nd)
            .flat_map(|j| (0..nw).map(move |i| (i, j)))
            .filter_map(|(i, j)| Some((i, j, g.cos[j as usize][i as usize]?)))
            .collect();
        chart.draw_series(cells.iter().map(|&(i, j, v)| {
            Rectangle::new(
                [
                    (SegmentValue::Exact(i), SegmentValue::Exact(j)),
                    (SegmentValue::Exact(i + 1), SegmentValue::Exact(j + 1)),
                ],
                colour(v).filled(),
            )
        }))?;
        // Annotations: dark text on the light end of the scale, white on the dark end.
        let px = (CAPTION_PX as f64 * (6.0 / (nw.max(nd) as f64).max(6.0))).max(12.0) as u32;
        chart.draw_series(cells.iter().map(|&(i, j, v)| {
            let t = (v - lo) / (hi - lo);
            let style = if t > 0.55 {
                text(px).color(&BLACK)
            } else {
                text(px).color(&WHITE)
            };
            Text::new(
                format!("{v:.3}"),
                (SegmentValue::CenterOf(i), SegmentValue::CenterOf(j)),
                style.pos(Pos::new(HPos::Center, VPos::Center)),
            )
        }))?;
        colour_bar(&key, lo..hi, "cos(PC update, BP gradient)", &colour)
    }
}

impl GridFigure<'_> {
    /// The cosine against width, one line a depth.
    fn draw_lines<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        seeds: &str,
    ) -> FigResult
    where
        DB::ErrorType: 'static,
    {
        let g = self.grid;
        let body = header(
            root,
            "PC–BP gradient alignment against width",
            &format!("cosine of the PC update with the backprop gradient, all layers, mean over {seeds} seed(s)"),
        )?;
        let x = log_range(g.widths.iter().copied());
        let y = lin_range(g.cos.iter().flatten().flatten().copied().chain([1.0]));
        let mut chart = ChartBuilder::on(&body)
            .margin(20)
            .margin_right(40)
            .x_label_area_size(70)
            .y_label_area_size(100)
            .build_cartesian_2d(x.log_scale(), y)?;
        chart
            .configure_mesh()
            .x_desc(if g.cnn {
                "channels C (per stage)"
            } else {
                "width n (units per hidden layer; d_model)"
            })
            .y_desc("cos(PC update, BP gradient)")
            .label_style(text(TICK_PX))
            .axis_desc_style(text(LABEL_PX))
            .light_line_style(grid_colour())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
        for (j, depth) in g.depths.iter().enumerate() {
            let c = palette(j);
            let pts: Vec<(f64, f64)> = g
                .widths
                .iter()
                .zip(&g.cos[j])
                .filter_map(|(w, v)| Some((*w, (*v)?)))
                .collect();
            let name = if g.cnn { "blocks per stage" } else { "depth" };
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(3)))?
                .label(format!("{name} {}", label(*depth)))
                .legend(legend_line(c, 3));
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 6, c.filled())))?;
            chart.draw_series(pts.iter().map(|&(w, v)| {
                Text::new(
                    format!("{v:.3}"),
                    (w, v),
                    text(TICK_PX).pos(Pos::new(HPos::Center, VPos::Bottom)),
                )
            }))?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        Ok(())
    }
}
