//! Sparklines drawn on the server as inline SVG (no script, no inline style: the look comes
//! from classes in the stylesheet).

use std::fmt::Write as _;

use maud::{html, Markup};

/// Height of the drawing in SVG units (the width is one unit per value).
const HEIGHT: f64 = 20.0;

/// A line (and the area under it) through `values`, scaled to the largest, with `label` as
/// its accessible name.
#[must_use]
pub fn sparkline(values: &[i64], label: &str) -> Markup {
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let width = values.len().saturating_sub(1).max(1);
    let mut points = String::new();
    for (i, v) in values.iter().enumerate() {
        #[allow(clippy::cast_precision_loss)]
        let y = HEIGHT - 1.0 - (*v as f64 / max as f64) * (HEIGHT - 2.0);
        let _ = write!(points, "{i},{y:.2} ");
    }
    let points = points.trim_end();
    let area = format!(
        "M0,{HEIGHT} L{} L{width},{HEIGHT} Z",
        points.replace(' ', " L")
    );
    html! {
        svg.spark viewBox={ "0 0 " (width) " " (HEIGHT) } preserveAspectRatio="none"
            role="img" aria-label=(label) focusable="false" {
            title { (label) }
            line.axis x1="0" y1=(HEIGHT) x2=(width) y2=(HEIGHT) {}
            path.area d=(area) {}
            polyline.line points=(points) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_to_the_largest_value() {
        let svg = sparkline(&[0, 5, 10], "jobs").into_string();
        assert!(svg.contains(r#"points="0,19.00 1,10.00 2,1.00""#), "{svg}");
        assert!(svg.contains(r#"aria-label="jobs""#));
        assert!(!svg.contains("style"), "no inline style: {svg}");
        let flat = sparkline(&[0, 0], "none").into_string();
        assert!(flat.contains(r#"points="0,19.00 1,19.00""#), "{flat}");
    }
}
