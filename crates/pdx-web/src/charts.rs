//! Charts for the audit pages: SVG drawn on the server by plotters, readable without colour
//! (one series, direct labels on the axes) and always shown beside a table of the same figures.

use plotters::prelude::*;

/// A bar chart of `values` (one bar per label), `width` × `height` pixels, the value axis
/// named `unit`. Returns the SVG document, or none when it cannot be drawn.
pub fn bars(
    labels: &[String],
    values: &[u64],
    unit: &str,
    (width, height): (u32, u32),
) -> Option<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let top = values.iter().copied().max().unwrap_or(0).max(1);
        let count = u32::try_from(values.len()).ok()?.max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d((0u32..count).into_segmented(), 0u64..top + top / 10 + 1)
            .ok()?;
        let every = (count / 8).max(1);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(RGBColor(0xe3, 0xe7, 0xeb))
            .bold_line_style(RGBColor(0xc8, 0xcf, 0xd6))
            .axis_style(RGBColor(0x4a, 0x55, 0x61))
            .label_style(
                ("sans-serif", 15)
                    .into_font()
                    .color(&RGBColor(0x1b, 0x1f, 0x24)),
            )
            .y_desc(unit)
            .x_labels(labels.len().min(60))
            .x_label_formatter(&|segment| match segment {
                SegmentValue::CenterOf(i) if i % every == 0 => {
                    labels.get(*i as usize).cloned().unwrap_or_default()
                }
                _ => String::new(),
            })
            .draw()
            .ok()?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(RGBColor(0x0b, 0x5c, 0xad).filled())
                    .margin(2)
                    .data(values.iter().enumerate().map(|(i, v)| (i as u32, *v))),
            )
            .ok()?;
        root.present().ok()?;
    }
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_chart_is_an_svg_with_its_labels_as_text() {
        let labels: Vec<String> = (1..=30).map(|d| format!("11-{d:02}")).collect();
        let values: Vec<u64> = (1..=30).map(|d| d * 3).collect();
        let svg = bars(&labels, &values, "请求次数", (720, 280)).expect("drawn");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("请求次数"));
        assert!(svg.contains("11-01"));
        assert!(svg.matches("<rect").count() >= 30, "a bar per day");
        assert!(
            !svg.contains("style="),
            "no inline styles: the page policy refuses them"
        );
    }
}
