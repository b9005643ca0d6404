//! `--set KEY=VALUE[,KEY=VALUE…]`: one candidate setting of a scenario's `[scenario.scale_down]`.
//!
//! The candidate is validated by the config itself: the value is written into the scenario's
//! `scale_down` table of the config document and the whole document goes through
//! [`config::parse`], so a bad value gets exactly the message and hint `nightshift validate`
//! would give it (`src/config/validate/scale_down.rs`), with `--set …` in place of the file.

use crate::config::{self, Scenario};

/// The keys `--set` accepts, as a user writes them (`scale_down.` may prefix each).
pub const KEYS: &[&str] = &[
    "quiet_for",
    "min_hold",
    "deadline",
    "missing_data",
    "metric.below",
    "metric.stat",
    "metric.period",
    "metric[N].below",
    "metric[N].stat",
    "metric[N].period",
];

const SCALAR_KEYS: [&str; 4] = ["quiet_for", "min_hold", "deadline", "missing_data"];
const METRIC_KEYS: [&str; 3] = ["below", "stat", "period"];

/// One setting to replay: its label (the `--set` text, or `current`) and the scenario as it
/// would be with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub label: String,
    pub scenario: Scenario,
}

/// Where a `--set` key points in the scenario's `scale_down` table.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Scalar(&'static str),
    Metric { index: usize, key: &'static str },
}

/// The candidate `spec` (`quiet_for=10m,min_hold=20m`) of scenario `name` in the config text
/// `text` (the file `source`). Errors name the `--set` text, the key, the problem and the fix.
pub fn candidate(text: &str, source: &str, name: &str, spec: &str) -> Result<Setting, String> {
    candidate_with(text, source, name, spec, &config::InMemory::default())
}

/// [`candidate`] for a config whose included files (a holiday file) are read from `files`.
pub fn candidate_with(
    text: &str,
    source: &str,
    name: &str,
    spec: &str,
    files: &dyn config::Files,
) -> Result<Setting, String> {
    let mut doc: toml::Table = text
        .parse()
        .map_err(|e| format!("{source}: the config does not parse as TOML: {e}"))?;
    let scale_down = scenario_scale_down(&mut doc, name).ok_or_else(|| {
        format!("{source}: no [[scenario]] named \"{name}\" with a [scenario.scale_down]")
    })?;
    let pairs: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if pairs.is_empty() {
        return Err(format!(
            "--set \"{spec}\": nothing to set; write KEY=VALUE, e.g. --set quiet_for=10m (several keys of one candidate: --set quiet_for=10m,min_hold=20m)"
        ));
    }
    let metrics = scale_down
        .get("metric")
        .and_then(toml::Value::as_array)
        .map_or(0, Vec::len);
    for pair in pairs {
        let (key, value) = pair.split_once('=').ok_or_else(|| {
            format!("--set \"{pair}\": expected KEY=VALUE, e.g. --set quiet_for=10m")
        })?;
        let (key, value) = (key.trim(), value.trim());
        match target(key, metrics)? {
            Target::Scalar(k) => {
                scale_down.insert(k.to_string(), toml::Value::String(value.to_string()));
            }
            Target::Metric { index, key: k } => {
                let value = match (k, value.parse::<f64>()) {
                    ("below", Ok(v)) => toml::Value::Float(v),
                    _ => toml::Value::String(value.to_string()),
                };
                if let Some(m) = scale_down
                    .get_mut("metric")
                    .and_then(toml::Value::as_array_mut)
                    .and_then(|a| a.get_mut(index))
                    .and_then(toml::Value::as_table_mut)
                {
                    m.insert(k.to_string(), value);
                }
            }
        }
    }
    let edited = toml::to_string(&doc).map_err(|e| format!("--set \"{spec}\": {e}"))?;
    let label = format!("--set {spec}");
    let cfg = config::parse_with(&edited, &label, files).map_err(|errors| {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| {
                let key = if e.key.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", e.key)
                };
                let hint = if e.hint.is_empty() {
                    String::new()
                } else {
                    format!("\n  hint: {}", e.hint)
                };
                format!("{label}: {key}{}{hint}", e.message)
            })
            .collect();
        lines.join("\n")
    })?;
    let scenario = cfg
        .scenario(name)
        .cloned()
        .ok_or_else(|| format!("{label}: scenario \"{name}\" disappeared"))?;
    Ok(Setting {
        label: spec.to_string(),
        scenario,
    })
}

/// The `scale_down` table of the `[[scenario]]` called `name`.
fn scenario_scale_down<'a>(doc: &'a mut toml::Table, name: &str) -> Option<&'a mut toml::Table> {
    doc.get_mut("scenario")?
        .as_array_mut()?
        .iter_mut()
        .filter_map(toml::Value::as_table_mut)
        .find(|s| s.get("name").and_then(toml::Value::as_str) == Some(name))?
        .get_mut("scale_down")?
        .as_table_mut()
}

fn target(key: &str, metrics: usize) -> Result<Target, String> {
    let bare = key.strip_prefix("scale_down.").unwrap_or(key);
    if let Some(k) = SCALAR_KEYS.iter().find(|k| **k == bare) {
        return Ok(Target::Scalar(k));
    }
    let unknown = || {
        let near = strsim_near(bare)
            .map(|n| format!("did you mean \"{n}\"? "))
            .unwrap_or_default();
        format!(
            "--set: unknown key \"{key}\": {near}--set accepts the scale_down keys {} (metric[N] picks the N-th [[scenario.scale_down.metric]], from 0)",
            KEYS.join(", ")
        )
    };
    let Some(rest) = bare.strip_prefix("metric") else {
        return Err(unknown());
    };
    let (index, field) = if let Some(field) = rest.strip_prefix('.') {
        if metrics > 1 {
            return Err(format!(
                "--set: \"{key}\" is ambiguous: the scenario has {metrics} metrics; name one, e.g. metric[1].{field}"
            ));
        }
        (0, field)
    } else if let Some(indexed) = rest.strip_prefix('[') {
        let (n, field) = indexed.split_once("].").ok_or_else(unknown)?;
        let n: usize = n.parse().map_err(|_| unknown())?;
        if n >= metrics {
            return Err(format!(
                "--set: \"{key}\": the scenario has {metrics} metric(s), numbered from 0"
            ));
        }
        (n, field)
    } else {
        return Err(unknown());
    };
    let field = METRIC_KEYS
        .iter()
        .find(|k| **k == field)
        .ok_or_else(unknown)?;
    Ok(Target::Metric { index, key: field })
}

fn strsim_near(key: &str) -> Option<&'static str> {
    KEYS.iter()
        .copied()
        .filter(|k| !k.contains("[N]"))
        .map(|k| (k, strsim::jaro_winkler(key, k)))
        .filter(|(_, score)| *score > 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(k, _)| k)
}
