//! Shared look of every figure: the embedded font, text sizes, colours
//! (a categorical palette and the viridis scale for depth and heatmaps),
//! axis-range and tick-label helpers, smoothing and the colour bar.
//! Knows nothing about pcchip's files.

use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;
use std::sync::Once;

/// What every figure's drawing code returns; converted to a `PlotError` at the file boundary.
pub(crate) type FigResult = Result<(), Box<dyn std::error::Error>>;

/// Font family every text uses; registered from the embedded DejaVu Sans.
pub(crate) const FONT: &str = "sans-serif";
/// Text sizes (px) at the default figure sizes.
pub(crate) const TITLE_PX: u32 = 34;
pub(crate) const CAPTION_PX: u32 = 26;
pub(crate) const LABEL_PX: u32 = 22;
pub(crate) const TICK_PX: u32 = 19;
pub(crate) const LEGEND_PX: u32 = 18;

/// Registers DejaVu Sans (regular, bold) as `sans-serif` once per process, so
/// that drawing needs neither fontconfig nor system fonts.
pub(crate) fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded files are valid TrueType; a failure would be a packaging bug.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Text style of the given size.
pub(crate) fn text(px: u32) -> TextStyle<'static> {
    (FONT, px).into_font().into()
}

/// Categorical colours (Tableau 10), for steps and dynamics.
pub(crate) fn palette(i: usize) -> RGBColor {
    const C: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

/// The viridis colour scale at `t` ∈ [0, 1] (clamped), piecewise linear over 9 stops.
pub(crate) fn viridis(t: f64) -> RGBColor {
    const S: [(f64, f64, f64); 9] = [
        (68.0, 1.0, 84.0),
        (71.0, 44.0, 122.0),
        (59.0, 81.0, 139.0),
        (44.0, 113.0, 142.0),
        (33.0, 144.0, 141.0),
        (39.0, 173.0, 129.0),
        (92.0, 200.0, 99.0),
        (170.0, 220.0, 50.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (S.len() - 1) as f64;
    let i = (x.floor() as usize).min(S.len() - 2);
    let f = x - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(
        mix(S[i].0, S[i + 1].0),
        mix(S[i].1, S[i + 1].1),
        mix(S[i].2, S[i + 1].2),
    )
}

/// Colour of layer `l` (1-based) of `n_layers` on the depth scale.
pub(crate) fn depth_colour(l: usize, n_layers: usize) -> RGBColor {
    if n_layers <= 1 {
        return viridis(0.0);
    }
    // Stop short of viridis' pale yellow end, which is hard to see on white.
    viridis(0.9 * (l - 1) as f64 / (n_layers - 1) as f64)
}

/// Padded linear range covering the finite values; a unit range when there are none.
pub(crate) fn lin_range(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = finite_extremes(values.into_iter().filter(|v| v.is_finite()));
    match (lo, hi) {
        (Some(lo), Some(hi)) if hi > lo => {
            let pad = 0.05 * (hi - lo);
            lo - pad..hi + pad
        }
        (Some(v), _) => {
            let pad = if v == 0.0 { 1.0 } else { 0.1 * v.abs() };
            v - pad..v + pad
        }
        _ => 0.0..1.0,
    }
}

/// Range for a log axis covering the positive finite values, padded by a
/// fraction of a decade; 0.1..10 when there are none.
pub(crate) fn log_range(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = finite_extremes(values.into_iter().filter(|v| v.is_finite() && *v > 0.0));
    match (lo, hi) {
        (Some(lo), Some(hi)) if hi > lo => {
            let pad = ((hi / lo).log10() * 0.05).max(0.02);
            with_decade(lo / 10f64.powf(pad), hi * 10f64.powf(pad))
        }
        (Some(v), _) => with_decade(v / 2.0, v * 2.0),
        _ => 0.1..10.0,
    }
}

/// plotters labels a log axis only from the first power of ten inside it:
/// lower `lo` to the power of ten below it when the axis holds none, or when
/// that costs less than half a decade, so the axis always carries labels.
fn with_decade(lo: f64, hi: f64) -> Range<f64> {
    let below = 10f64.powf(lo.log10().floor());
    let has_power = 10f64.powf(lo.log10().ceil()) <= hi;
    if !has_power || lo / below < 3.0 {
        // Slightly under the power so rounding cannot push it out of range.
        below * 0.98..hi
    } else {
        lo..hi
    }
}

fn finite_extremes(values: impl Iterator<Item = f64>) -> (Option<f64>, Option<f64>) {
    values.fold((None, None), |(lo, hi), v| {
        (
            Some(lo.map_or(v, |l: f64| l.min(v))),
            Some(hi.map_or(v, |h: f64| h.max(v))),
        )
    })
}

/// Tick label: plain for moderate magnitudes, scientific otherwise.
pub(crate) fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e4).contains(&a) {
        let s = format!("{v:.0e}");
        s.replace("e", "×10^")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

/// Seconds as a short engineering string (`100 ns`, `3.4 µs`).
pub(crate) fn seconds(s: f64) -> String {
    let (scale, unit) = match s.abs() {
        0.0 => (1.0, "s"),
        a if a < 1e-9 => (1e12, "ps"),
        a if a < 1e-6 => (1e9, "ns"),
        a if a < 1e-3 => (1e6, "µs"),
        a if a < 1.0 => (1e3, "ms"),
        _ => (1.0, "s"),
    };
    format!("{} {unit}", tick(s * scale))
}

/// Centred moving average over `window` points (shrinking at the ends).
pub(crate) fn smooth(values: &[f64], window: usize) -> Vec<f64> {
    let h = window / 2;
    (0..values.len())
        .map(|i| {
            let lo = i.saturating_sub(h);
            let hi = (i + h + 1).min(values.len());
            let s: Vec<f64> = values[lo..hi]
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .collect();
            if s.is_empty() {
                f64::NAN
            } else {
                s.iter().sum::<f64>() / s.len() as f64
            }
        })
        .collect()
}

/// A vertical colour bar of viridis over `range` (with `colour_of` mapping a
/// value to its colour), labelled `label`, filling `area`.
pub(crate) fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    range: Range<f64>,
    label: &str,
    colour_of: &dyn Fn(f64) -> RGBColor,
) -> FigResult
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .margin_top(20)
        .margin_bottom(20)
        .margin_right(10)
        .x_label_area_size(0)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..1.0, range.clone())?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(label)
        .y_label_style(text(TICK_PX))
        .axis_desc_style(text(LABEL_PX))
        .y_label_formatter(&|v| tick(*v))
        .draw()?;
    let n = 100;
    let h = (range.end - range.start) / n as f64;
    chart.draw_series((0..n).map(|i| {
        let v0 = range.start + i as f64 * h;
        Rectangle::new([(0.0, v0), (1.0, v0 + h)], colour_of(v0 + 0.5 * h).filled())
    }))?;
    Ok(())
}

/// A centred message inside a panel with nothing to plot.
pub(crate) fn no_data<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    message: &str,
) -> FigResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        title.to_string(),
        (w as i32 / 2, 20),
        text(CAPTION_PX).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        )),
    ))?;
    area.draw(&Text::new(
        message.to_string(),
        (w as i32 / 2, h as i32 / 2),
        text(LABEL_PX)
            .color(&RGBColor(90, 90, 90))
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Center,
            )),
    ))?;
    Ok(())
}

/// Draws the figure title and a one-line subtitle; returns the area below.
pub(crate) fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<DrawingArea<DB, Shift>, Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let title_style = TextStyle::from((FONT, TITLE_PX, FontStyle::Bold).into_font());
    let below = root.margin(12, 0, 0, 0).titled(title, title_style)?;
    if subtitle.is_empty() {
        return Ok(below);
    }
    let sub = text(LABEL_PX).color(&RGBColor(60, 60, 60));
    Ok(below.titled(subtitle, sub)?)
}

/// Legend glyph of a line of the given style.
pub(crate) fn legend_line(
    colour: RGBColor,
    width: u32,
) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(width))
}

/// Legend glyph of a dashed line (two short dashes): `legend_dashed!(colour)`
/// is a closure from the glyph's position to the element.
macro_rules! legend_dashed {
    ($colour:expr) => {{
        let s = $colour.stroke_width(2);
        move |(x, y): (i32, i32)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (9, 0)], s)
                + PathElement::new(vec![(15, 0), (24, 0)], s)
        }
    }};
}
pub(crate) use legend_dashed;

/// Mesh configuration shared by all panels: text sizes, light grid, tick labels.
pub(crate) fn grid_colour() -> RGBColor {
    RGBColor(225, 225, 225)
}

/// Draws the chart's series legend in the house style (legend font, pale
/// background, grey border) at `pos`.
pub(crate) fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
) -> FigResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .label_font(text(LEGEND_PX))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(150, 150, 150))
        .position(pos)
        .draw()?;
    Ok(())
}

/// The break-even line (speedup 1) across `x`, dashed black, with its
/// legend entry, on a log–log speedup chart.
pub(crate) fn draw_break_even<'a, DB>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<LogCoord<f64>, LogCoord<f64>>>,
    x: &Range<f64>,
) -> FigResult
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
{
    chart
        .draw_series(DashedLineSeries::new(
            [(x.start, 1.0), (x.end, 1.0)],
            12,
            8,
            BLACK.stroke_width(2),
        ))?
        .label("break-even (speedup 1)")
        .legend(legend_dashed!(BLACK));
    Ok(())
}
