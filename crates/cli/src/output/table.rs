//! Aligned tables, shrunk to the terminal's width by truncating the widest columns.

use unicode_width::UnicodeWidthStr;

use super::style::Style;

/// The narrowest a column is cut to.
const MIN_WIDTH: usize = 6;

/// Renders `rows` under `headers`, fitting `max_width` columns when given.
#[must_use]
pub fn render(
    headers: &[String],
    rows: &[Vec<String>],
    max_width: Option<usize>,
    style: Style,
) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.width());
        }
    }
    if let Some(max) = max_width {
        fit(&mut widths, max);
    }
    let mut out = String::new();
    let header: Vec<String> = headers.to_vec();
    push_row(&mut out, &header, &widths, |_, shown| style.bold(shown));
    for row in rows {
        push_row(&mut out, row, &widths, |value, shown| {
            style.by_meaning_of(value, shown)
        });
    }
    out
}

/// Narrows the widest columns until the row (with two spaces between columns) fits.
fn fit(widths: &mut [usize], max: usize) {
    let gaps = 2 * widths.len().saturating_sub(1);
    while widths.iter().sum::<usize>() + gaps > max {
        let Some((i, w)) = widths.iter().copied().enumerate().max_by_key(|(_, w)| *w) else {
            return;
        };
        if w <= MIN_WIDTH {
            return;
        }
        widths[i] = w - 1;
    }
}

fn push_row(
    out: &mut String,
    cells: &[String],
    widths: &[usize],
    paint: impl Fn(&str, &str) -> String,
) {
    let last = widths.len().saturating_sub(1);
    for (i, (cell, &w)) in cells.iter().zip(widths).enumerate() {
        let shown = truncate(cell, w);
        let pad = w.saturating_sub(shown.width());
        out.push_str(&paint(cell, &shown));
        if i < last {
            out.push_str(&" ".repeat(pad + 2));
        }
    }
    out.push('\n');
}

/// `s` cut to `width` columns, ending in `…` when cut.
fn truncate(s: &str, width: usize) -> String {
    let s = s.replace(['\n', '\r', '\t'], " ");
    if s.width() <= width {
        return s;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let cw = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + cw + 1 > width {
            break;
        }
        out.push(c);
        used += cw;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> Style {
        Style { colour: false }
    }

    #[test]
    fn columns_line_up() {
        let t = render(
            &["NAME".into(), "STATE".into()],
            &[
                vec!["ada".into(), "active".into()],
                vec!["grace-h".into(), "x".into()],
            ],
            None,
            plain(),
        );
        assert_eq!(t, "NAME     STATE\nada      active\ngrace-h  x\n");
    }

    #[test]
    fn wide_tables_are_cut_to_the_width() {
        let long = "x".repeat(100);
        let t = render(
            &["A".into(), "B".into()],
            &[vec!["short".into(), long]],
            Some(40),
            plain(),
        );
        for line in t.lines() {
            assert!(line.width() <= 40, "{line}");
        }
        assert!(t.contains('…'));
    }
}
