//! How results reach the terminal: readable tables by default, JSON with `--json`, and errors
//! in one line on standard error.

use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

/// No borders; one line under the header. (See comfy-table's preset format: the sixth
/// character draws header lines, the rest are left blank.)
const HEADER_LINE_ONLY: &str = "     ─             ";

/// Prints `value` as pretty JSON.
pub fn print_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints rows under a header as a table.
pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    if rows.is_empty() {
        println!("(none)");
        return;
    }
    let mut table = Table::new();
    table
        .load_preset(HEADER_LINE_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    println!("{table}");
}

/// Prints one record as a two-column table of field names and values.
pub fn print_record(fields: Vec<(&str, String)>) {
    let width = fields.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, value) in fields {
        let mut lines = value.lines();
        println!("{name:<width$}  {}", lines.next().unwrap_or(""));
        for line in lines {
            println!("{:<width$}  {line}", "");
        }
    }
}

/// A list of principals, or `-` when empty.
pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

pub fn optional(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".to_owned())
}

pub fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

/// The error's message with its causes, on one line.
pub fn describe_error(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
