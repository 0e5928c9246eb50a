//! Printing for people (aligned tables) and for scripts (one JSON document).

use std::io::Write;

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use super::error::CliResult;

/// Writes one JSON document and a newline on stdout.
pub fn json<T: Serialize>(value: &T) -> CliResult {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// A list as JSON (`--json`), or as a table, or the sentence that says
/// there is nothing to list.
pub fn listing<T: Serialize>(
    items: &[T],
    as_json: bool,
    when_empty: &str,
    headers: Vec<&'static str>,
    row: impl Fn(&T) -> Vec<String>,
) -> CliResult {
    if as_json {
        return json(&items);
    }
    if items.is_empty() {
        println!("{when_empty}");
        return Ok(());
    }
    let mut table = Table::new(headers);
    for item in items {
        table.row(row(item));
    }
    table.print()
}

/// A plain-text table: columns padded to the widest cell, long cells cut.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    max_width: usize,
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Self {
        Self {
            headers,
            rows: Vec::new(),
            max_width: 48,
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn print(&self) -> CliResult {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        out.write_all(self.render().as_bytes())?;
        Ok(())
    }

    pub fn render(&self) -> String {
        let cut = |s: &str| -> String {
            let flat = s.replace(['\n', '\r', '\t'], " ");
            if flat.chars().count() > self.max_width {
                let mut c: String = flat.chars().take(self.max_width - 1).collect();
                c.push('…');
                c
            } else {
                flat
            }
        };
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|c| cut(c)).collect())
            .collect();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut text = String::new();
        let line = |cells: Vec<&str>, text: &mut String| {
            let mut parts = Vec::new();
            for (i, cell) in cells.iter().enumerate() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                if i + 1 == cells.len() {
                    parts.push(cell.to_string());
                } else {
                    parts.push(format!("{cell}{}", " ".repeat(pad)));
                }
            }
            text.push_str(parts.join("  ").trim_end());
            text.push('\n');
        };
        line(self.headers.clone(), &mut text);
        for row in &rows {
            line(row.iter().map(String::as_str).collect(), &mut text);
        }
        text
    }
}

/// A timestamp in the rep's local time, to the minute.
pub fn when(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

/// A value already in percent (0–100), one decimal: "12.5%".
pub fn percent(p: Option<f64>) -> String {
    p.map(|p| format!("{p:.1}%")).unwrap_or_else(|| "-".into())
}

/// A fraction (0–1) as a whole percent: 2 of 3 reads "67%".
pub fn share(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
}

pub fn or_dash(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => "-".into(),
    }
}

#[cfg(test)]
mod share_tests {
    use super::share;

    #[test]
    fn a_fraction_reads_as_a_whole_percent() {
        assert_eq!(share(2.0 / 3.0), "67%");
        assert_eq!(share(0.0), "0%");
        assert_eq!(share(1.0), "100%");
    }
}
