//! SVG charts for the training report: per-genre F1, per-genre confusion
//! counts and the loss / validation curves of a run. Each function takes plain
//! numbers and returns a standalone SVG document, so the report can embed it or
//! write it to a file; nothing here touches the model or the disk.
//!
//! Bar charts are horizontal with one band per genre, first genre on top, and
//! grow taller with the number of genres so ~30 names stay readable. Values
//! that are not finite never panic: bars treat them as 0, curves skip them.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::{Error, Result};

/// One genre's confusion counts on an evaluation split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelCounts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

/// Chart width in pixels.
const WIDTH: u32 = 960;
/// Height of everything in a bar chart but its bands: caption, x axis, margins.
const BAR_CHROME: u32 = 140;
/// Height of one genre's band in a bar chart.
const BAND: u32 = 26;
/// Font of captions, axis labels and value labels.
const FONT: &str = "sans-serif";

/// One bar of a genre's confusion group: legend text, colour, the count it shows.
type ConfusionBar = (&'static str, RGBColor, fn(&LabelCounts) -> usize);
/// The bars of each genre in [`label_confusion_bars`], top to bottom.
const CONFUSION: [ConfusionBar; 3] = [
    ("true positives", RGBColor(46, 139, 87), |c| c.tp),
    ("false positives", RGBColor(214, 69, 65), |c| c.fp),
    ("false negatives", RGBColor(240, 165, 0), |c| c.fn_),
];

/// The canvas every chart draws on.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
/// What drawing returns before [`render`] turns its error into [`Error::Chart`].
type Drawn = std::result::Result<(), DrawingAreaErrorKind<std::io::Error>>;
/// A bar chart: values along x, one [`Bands`] band per genre along y.
type BarChart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, Bands>>;

/// Horizontal bar chart of per-genre F1 (0..1), one bar per label in the order given, with its value.
pub fn label_f1_bars(title: &str, labels: &[String], f1: &[f64]) -> Result<String> {
    same_len(labels, f1.len(), "F1 values")?;
    let f1: Vec<f64> = f1.iter().map(|&v| finite(v).clamp(0.0, 1.0)).collect();
    let tick = |x: &f64| format!("{x:.1}");
    bar_chart(title, labels, 0.0..1.0, "F1", &tick, |chart| {
        let value = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        chart.draw_series(f1.iter().enumerate().map(|(i, &v)| {
            let y = i as f64;
            Rectangle::new([(0.0, y + 0.15), (v, y + 0.85)], BLUE.mix(0.7).filled())
        }))?;
        // Value labels sit just past each bar's end (in the right margin for F1 = 1).
        chart.draw_series(f1.iter().enumerate().map(|(i, &v)| {
            let text = Text::new(format!("{v:.2}"), (4, 0), value.clone());
            EmptyElement::at((v, i as f64 + 0.5)) + text
        }))?;
        Ok(())
    })
}

/// Per-genre true positives, false positives and false negatives as grouped bars, with a legend.
pub fn label_confusion_bars(
    title: &str,
    labels: &[String],
    counts: &[LabelCounts],
) -> Result<String> {
    same_len(labels, counts.len(), "confusion counts")?;
    let most = counts
        .iter()
        .map(|c| c.tp.max(c.fp).max(c.fn_))
        .max()
        .unwrap_or(0)
        .max(1);
    // Headroom on the right keeps the legend off the longest bars.
    bar_chart(
        title,
        labels,
        0.0..most as f64 * 1.4,
        "examples",
        &whole,
        |chart| {
            let thick = 0.8 / CONFUSION.len() as f64;
            for (k, (name, color, count)) in CONFUSION.into_iter().enumerate() {
                chart
                    .draw_series(counts.iter().enumerate().map(|(i, c)| {
                        let y = i as f64 + 0.1 + thick * k as f64;
                        Rectangle::new([(0.0, y), (count(c) as f64, y + thick)], color.filled())
                    }))?
                    .label(name)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                    });
            }
            legend(chart)
        },
    )
}

/// Training loss by step (line, left axis) and a validation metric by step (points and line, right axis).
pub fn training_curves(
    title: &str,
    loss: &[(f64, f64)],
    validation: &[(f64, f64)],
    metric_name: &str,
) -> Result<String> {
    let (loss, validation) = (finite_points(loss), finite_points(validation));
    let steps = extent(loss.iter().chain(&validation).map(|p| p.0), 0.0..0.0);
    // Headroom above both curves keeps the legend off them.
    let loss_range = headroom(extent(loss.iter().map(|p| p.1), 0.0..0.0));
    let metric_range = headroom(extent(validation.iter().map(|p| p.1), 0.0..1.0));
    render((WIDTH, 480), |root| {
        let mut chart = builder(root, title)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .right_y_label_area_size(60)
            .build_cartesian_2d(steps.clone(), loss_range)?
            .set_secondary_coord(steps, metric_range);
        chart
            .configure_mesh()
            .max_light_lines(1)
            .x_desc("step")
            .x_label_formatter(&whole)
            .y_desc("training loss")
            .label_style((FONT, 15))
            .draw()?;
        chart
            .configure_secondary_axes()
            .y_desc(metric_name)
            .label_style((FONT, 15))
            .draw()?;
        let red = RED.stroke_width(2);
        chart
            .draw_series(LineSeries::new(loss.iter().copied(), red))?
            .label("training loss")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], red));
        // A lone loss point makes no line; mark it so the chart is not blank.
        if let [only] = loss[..] {
            chart.draw_series([Circle::new(only, 3, RED.filled())])?;
        }
        let blue = BLUE.stroke_width(2);
        chart
            .draw_secondary_series(LineSeries::new(validation.iter().copied(), blue))?
            .label(metric_name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], blue));
        chart
            .draw_secondary_series(validation.iter().map(|&p| Circle::new(p, 4, BLUE.filled())))?;
        legend(&mut *chart)
    })
}

/// Draws on a white SVG canvas of `size` and returns the document; any plotters error becomes [`Error::Chart`].
fn render(size: (u32, u32), draw: impl FnOnce(&Area<'_>) -> Drawn) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|()| draw(&root))
            .and_then(|()| root.present())
            .map_err(|e| Error::Chart(e.to_string()))?;
    }
    Ok(svg)
}

/// A chart builder with the caption and margins every chart shares.
fn builder<'a, 'b>(root: &'a Area<'b>, title: &str) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, (FONT, 26))
        .margin(16)
        .margin_right(48);
    builder
}

/// A horizontal bar chart with one band per label (the y axis text) over `x`; `bars` draws into it.
fn bar_chart(
    title: &str,
    labels: &[String],
    x: Range<f64>,
    x_desc: &str,
    x_tick: &dyn Fn(&f64) -> String,
    bars: impl FnOnce(&mut BarChart<'_>) -> Drawn,
) -> Result<String> {
    let n = labels.len();
    let rows = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    let height = BAND.saturating_mul(rows).saturating_add(BAR_CHROME);
    let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let label_area = u32::try_from(16 + 8 * widest.min(WIDTH as usize)).unwrap_or(WIDTH);
    render((WIDTH, height), |root| {
        let mut chart = builder(root, title)
            .x_label_area_size(40)
            .y_label_area_size(label_area.min(WIDTH / 3))
            .build_cartesian_2d(x, Bands(n))?;
        let name = |y: &f64| labels.get(y.floor() as usize).cloned().unwrap_or_default();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .max_light_lines(1)
            .x_desc(x_desc)
            .x_label_formatter(x_tick)
            .y_label_formatter(&name)
            .label_style((FONT, 16))
            .draw()?;
        bars(&mut chart)
    })
}

/// The legend every chart with several series draws, in the upper right corner.
fn legend<'a, CT: CoordTranslate>(chart: &mut ChartContext<'a, SVGBackend<'a>, CT>) -> Drawn {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 15))
        .draw()
}

/// A y axis of `n` bands, band `i` spanning `i..i + 1` from the top, ticked at band centres.
#[derive(Clone)]
struct Bands(usize);

impl Ranged for Bands {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, (bottom, top): (i32, i32)) -> i32 {
        top + (f64::from(bottom - top) * v / self.0.max(1) as f64).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            (0..self.0).map(|i| i as f64 + 0.5).collect()
        }
    }

    fn range(&self) -> Range<f64> {
        0.0..self.0.max(1) as f64
    }
}

/// Fails with [`Error::Chart`] unless there is one value per label.
fn same_len(labels: &[String], values: usize, what: &str) -> Result<()> {
    if labels.len() == values {
        Ok(())
    } else {
        Err(Error::Chart(format!(
            "{} labels but {values} {what}",
            labels.len()
        )))
    }
}

/// `v`, or 0 where it is NaN or infinite.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// The points whose coordinates are both finite.
fn finite_points(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .copied()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect()
}

/// Tick text for axes of whole numbers (counts, steps): fractional ticks get none.
fn whole(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{:.0}", x.round())
    } else {
        String::new()
    }
}

/// `range` with 15% more room at the top.
fn headroom(range: Range<f64>) -> Range<f64> {
    range.start..range.end + 0.15 * (range.end - range.start)
}

/// The smallest range holding `base` and every value, one unit wide where that would be empty.
fn extent(values: impl Iterator<Item = f64>, base: Range<f64>) -> Range<f64> {
    let (lo, hi) = values.fold((base.start, base.end), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo < hi {
        lo..hi
    } else {
        lo..lo + 1.0
    }
}
