//! Syntax and shape errors of the first pass: the parser's and serde's messages turned into ones
//! that name the key (found by span in the parsed tree), the problem and the fix.

use super::SourceText;
use crate::config::diagnostics::{dotted_keys, example_for, render_path, table_label};
use crate::config::diagnostics::{ConfigError, Segment};
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// What the spanned TOML tree says about the place a serde error points at.
struct Located {
    path: Vec<Segment>,
    /// TOML type of the value found there, when the span is a value ("datetime", "string", …).
    value_type: Option<&'static str>,
}

/// Finds the deepest key or value whose span is exactly `target`. serde errors carry only a
/// span, but the spanned tree knows which key or table each span belongs to.
fn locate(root: &DeTable<'_>, target: &Range<usize>) -> Option<Located> {
    let mut best = None;
    locate_in_table(root, target, &mut Vec::new(), &mut best);
    best
}

fn locate_in_table(
    table: &DeTable<'_>,
    target: &Range<usize>,
    path: &mut Vec<Segment>,
    best: &mut Option<Located>,
) {
    for (key, value) in table.iter() {
        path.push(Segment::Key(key.get_ref().to_string()));
        if key.span() == *target {
            consider(path, None, best);
        }
        locate_in_value(value, target, path, best);
        path.pop();
    }
}

fn locate_in_value(
    value: &Spanned<DeValue<'_>>,
    target: &Range<usize>,
    path: &mut Vec<Segment>,
    best: &mut Option<Located>,
) {
    if value.span() == *target {
        consider(path, Some(value.get_ref().type_str()), best);
    }
    match value.get_ref() {
        DeValue::Table(table) => locate_in_table(table, target, path, best),
        DeValue::Array(array) => {
            for (i, item) in array.iter().enumerate() {
                path.push(Segment::Index(i));
                locate_in_value(item, target, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

fn consider(path: &[Segment], value_type: Option<&'static str>, best: &mut Option<Located>) {
    if best.as_ref().is_none_or(|b| path.len() > b.path.len()) {
        *best = Some(Located {
            path: path.to_vec(),
            value_type,
        });
    }
}

/// The names between backticks in a serde message, e.g. "unknown field `x`, expected `a` or `b`".
fn backticked(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).collect()
}

/// Keys whose value is an array of tables, written `[[…]]`; every other array holds values.
const TABLE_ARRAYS: [&str; 9] = [
    "scenario",
    "ecs",
    "docdb",
    "aurora",
    "neptune",
    "metric",
    "completion",
    "batch",
    "asg",
];

/// A TOML syntax error: the position and the parser's words, with the usual fix.
pub(super) fn syntax_error(src: &SourceText<'_>, error: &toml::de::Error) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    let raw = error.message();
    let hint = if raw.contains("duplicate key") {
        "each key may appear only once per table: remove or rename the repeated key"
    } else {
        "fix the TOML syntax at this position (strings need double quotes, tables need [brackets]; see https://toml.io)"
    };
    src.error(&span, "", format!("TOML syntax error: {raw}"), hint)
}

/// Turns a serde error about the shape (a missing key, a wrong type) into a message that names the key, the problem and the fix.
pub(super) fn shape_error(
    src: &SourceText<'_>,
    root: &DeTable<'_>,
    error: &toml::de::Error,
) -> ConfigError {
    let span = error.span().unwrap_or(0..0);
    let raw = error.message();
    let located = locate(root, &span);
    let path = located.as_ref().map(|l| l.path.clone()).unwrap_or_default();
    let key = render_path(&path);

    if raw.starts_with("missing field") {
        let missing = backticked(raw).first().copied().unwrap_or("").to_string();
        let label = table_label(&path);
        let mut full = path.clone();
        full.push(Segment::Key(missing.clone()));
        let message = format!("missing required key `{missing}` in {label}");
        let hint = format!(
            "add {} to this {label} table",
            example_for(&render_path(&full))
        );
        return src.error(&span, render_path(&full), message, hint);
    }

    if let Some(rest) = raw.strip_prefix("invalid type: ") {
        let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let example = example_for(&key);
        if found.contains(" as i128") || found.contains(" as u128") {
            let hint = format!("use a whole number that fits in 64 bits, e.g. {example}");
            return src.error(&span, key, "integer is too large", hint);
        }
        // TOML dates and times reach serde as maps; say what the user actually wrote.
        let found = match (located.as_ref().and_then(|l| l.value_type), found) {
            (Some("datetime"), _) => "an unquoted date/time",
            (_, "map") => "a table",
            (_, "sequence") => "an array",
            (_, other) => other,
        };
        let header = dotted_keys(&path);
        let last_key = header.rsplit('.').next().unwrap_or("");
        let (expected, hint) = match expected {
            "i64" => (
                "a whole number",
                format!("write a whole number without quotes, e.g. {example}"),
            ),
            "f64" => (
                "a number",
                format!("write a number without quotes, e.g. {example}"),
            ),
            "a string" => (
                "a quoted string",
                format!("put the value in double quotes, e.g. {example}"),
            ),
            "a sequence" if TABLE_ARRAYS.contains(&last_key) => (
                "an array of tables",
                format!("write [[{header}]] (double brackets): each one adds an entry"),
            ),
            "a sequence" => ("an array", format!("write an array, e.g. {example}")),
            _ => ("a table", format!("write it as a table: {example}")),
        };
        return src.error(
            &span,
            key,
            format!("wrong type: found {found}, expected {expected}"),
            hint,
        );
    }

    src.error(
        &span,
        key,
        format!("invalid value: {raw}"),
        "compare this entry with the example in docs/configuration.md",
    )
}
