//! Plain text tables and `--json` output for listings.

use serde::Serialize;

/// Prints `rows` under `header`, columns padded to their widest cell.
pub(crate) fn print(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Prints `value` as pretty JSON.
pub(crate) fn json<T: Serialize>(value: &T) -> crate::Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| crate::Error::Run(format!("encoding JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// An optional value as a cell ("-" when absent).
pub(crate) fn opt<T: std::fmt::Display>(value: &Option<T>) -> String {
    value.as_ref().map_or_else(|| "-".to_string(), T::to_string)
}

/// A time as a cell: RFC 3339 in UTC, seconds precision.
pub(crate) fn time(value: &Option<chrono::DateTime<chrono::Utc>>) -> String {
    value.map_or_else(
        || "-".to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// A long text cut to `max` characters for a table cell.
pub(crate) fn cut(text: &Option<String>, max: usize) -> String {
    match text {
        None => "-".to_string(),
        Some(text) => {
            let line = text.lines().next().unwrap_or_default();
            if line.chars().count() > max {
                let short: String = line.chars().take(max.saturating_sub(3)).collect();
                format!("{short}...")
            } else {
                line.to_string()
            }
        }
    }
}
