//! Summaries of repeated measurements and the Markdown tables they are printed in.

use std::time::Duration;

/// Median, 90th percentile (nearest rank), minimum and maximum of `n` samples.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        let rank = ((n as f64) * 0.9).ceil() as usize;
        Some(Summary {
            median,
            p90: v[rank.clamp(1, n) - 1],
            min: v[0],
            max: v[n - 1],
        })
    }

    pub fn of_durations(samples: &[Duration]) -> Option<Summary> {
        Summary::of(&samples.iter().map(ms).collect::<Vec<_>>())
    }
}

pub fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A number with `decimals` decimals, or "–" for a missing value.
pub fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.decimals$}"))
}

/// A Markdown table whose columns are padded so that it also reads well in a terminal.
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Columns of text, aligned left (the first always is); the others are figures.
    text: Vec<usize>,
}

impl Table {
    pub fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            text: vec![0],
        }
    }

    /// Mark more columns as text (aligned left).
    pub fn text_columns(mut self, columns: &[usize]) -> Table {
        self.text.extend_from_slice(columns);
        self
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let columns = self.head.len();
        let width = |i: usize| {
            self.rows
                .iter()
                .filter_map(|r| r.get(i))
                .chain(std::iter::once(&self.head[i]))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(1)
                .max(3)
        };
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> = (0..columns)
                .map(|i| {
                    let cell = cells.get(i).map_or("", String::as_str);
                    if self.text.contains(&i) {
                        format!("{cell:<w$}", w = widths[i])
                    } else {
                        format!("{cell:>w$}", w = widths[i])
                    }
                })
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        println!("{}", line(&self.head));
        let rule: Vec<String> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                if self.text.contains(&i) {
                    "-".repeat(*w)
                } else {
                    format!("{}:", "-".repeat(w - 1))
                }
            })
            .collect();
        println!("| {} |", rule.join(" | "));
        for row in &self.rows {
            println!("{}", line(row));
        }
        println!();
    }
}
