//! How the commands that talk to a server print: aligned tables sized to the terminal (the
//! default), JSON for scripts, CSV for lists.

pub mod style;
pub mod table;

use std::io::{IsTerminal, Write};

use serde::Serialize;
use serde_json::Value;

pub use style::Style;

/// `--output`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, cut to the terminal's width.
    #[default]
    Table,
    /// The API's JSON, pretty-printed.
    Json,
    /// Comma-separated values with a header row (lists).
    Csv,
}

#[derive(clap::Args, Clone, Copy, Debug)]
pub struct OutputArg {
    /// Output format: table, json or csv.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

/// Prints a list of items in `format`, the table and CSV showing `columns` (fields of each
/// item; dots for nested fields, e.g. `user.username`).
///
/// # Errors
/// Items that do not serialize, or standard output closed.
pub fn print_list<T: Serialize>(
    format: Format,
    items: &[T],
    columns: &[&str],
) -> anyhow::Result<()> {
    let values: Vec<Value> = items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&values)?)?,
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(columns)?;
            for v in &values {
                w.write_record(columns.iter().map(|c| cell(v, c)))?;
            }
            w.flush()?;
        }
        Format::Table => {
            let headers: Vec<String> = columns.iter().map(|c| header(c)).collect();
            let rows: Vec<Vec<String>> = values
                .iter()
                .map(|v| columns.iter().map(|c| cell(v, c)).collect())
                .collect();
            write!(
                out,
                "{}",
                table::render(&headers, &rows, terminal_width(), Style::stdout())
            )?;
        }
    }
    Ok(())
}

/// Prints one item: a two-column table of `fields` (all fields when empty), or its JSON.
///
/// # Errors
/// The item does not serialize, or standard output closed.
pub fn print_one<T: Serialize>(format: Format, item: &T, fields: &[&str]) -> anyhow::Result<()> {
    let v = serde_json::to_value(item)?;
    match format {
        Format::Json => return print_json(&v),
        Format::Csv => {
            return print_list(format, std::slice::from_ref(&v), &field_names(&v, fields))
        }
        Format::Table => {}
    }
    let names = field_names(&v, fields);
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|f| vec![(*f).to_owned(), cell(&v, f)])
        .collect();
    print!(
        "{}",
        table::render(
            &["FIELD".into(), "VALUE".into()],
            &rows,
            terminal_width(),
            Style::stdout()
        )
    );
    Ok(())
}

fn field_names<'a>(v: &'a Value, fields: &[&'a str]) -> Vec<&'a str> {
    if !fields.is_empty() {
        return fields.to_vec();
    }
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Prints JSON as is (for answers that have no table of their own).
///
/// # Errors
/// The value does not serialize.
pub fn print_json<T: Serialize>(item: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(item)?);
    Ok(())
}

/// A note for a person (standard error), e.g. that a list was cut at `--limit`.
pub fn note(message: &str) {
    eprintln!("{message}");
}

/// `user.username` → `USER USERNAME`.
fn header(column: &str) -> String {
    column.replace(['_', '.'], " ").to_uppercase()
}

/// The text of field `path` of `v`: strings as they are, null as empty, lists joined with
/// commas, objects as compact JSON.
#[must_use]
pub fn cell(v: &Value, path: &str) -> String {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur.get(part) {
            Some(next) => next,
            None => return String::new(),
        };
    }
    text(cur)
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(text).collect::<Vec<_>>().join(",")
        }
        other => other.to_string(),
    }
}

/// The terminal's width when standard output is one; `None` (never cut) otherwise.
fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_, cols)| usize::from(cols))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn cells_read_nested_fields_and_lists() {
        let v = json!({"user": {"username": "ada"}, "groups": ["a", "b"], "grade": 9, "x": null});
        assert_eq!(super::cell(&v, "user.username"), "ada");
        assert_eq!(super::cell(&v, "groups"), "a,b");
        assert_eq!(super::cell(&v, "grade"), "9");
        assert_eq!(super::cell(&v, "x"), "");
        assert_eq!(super::cell(&v, "missing.deeper"), "");
    }
}
