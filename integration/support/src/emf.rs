//! A checker of CloudWatch Embedded Metric Format lines, after the specification
//! (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html),
//! written from its rules, independently of nightshift's writer:
//!
//! - the root is an object with an `_aws` object holding `Timestamp` (a number: epoch ms) and
//!   `CloudWatchMetrics` (a non-empty array of metric directives);
//! - a directive has `Namespace` (1 to 255 characters, not only whitespace), `Dimensions` (an
//!   array of dimension sets, each an array of at most 30 strings) and `Metrics` (at most 100
//!   metric definitions, each with a `Name` of 1 to 255 characters, an optional `Unit` of the
//!   CloudWatch units and an optional `StorageResolution` of 1 or 60);
//! - each dimension named is a root member whose value is a string (1 to 1024 characters);
//! - each metric named is a root member whose value is a number or an array of at most 100 numbers.

use serde_json::Value;

/// CloudWatch's standard units (MetricDatum `Unit`).
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Whether a log line is meant as EMF: a JSON object with an `_aws` member.
pub fn is_emf(line: &Value) -> bool {
    line.get("_aws").is_some()
}

/// Every rule `line` breaks (empty: valid). `expected_namespace` is checked on every directive.
pub fn check(line: &Value, expected_namespace: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(root) = line.as_object() else {
        return vec!["the line is not a JSON object".into()];
    };
    let Some(aws) = root.get("_aws").and_then(Value::as_object) else {
        return vec!["no `_aws` object".into()];
    };
    if !aws
        .get("Timestamp")
        .is_some_and(|t| t.is_u64() || t.is_i64())
    {
        problems.push("`_aws.Timestamp` is not an integer (epoch milliseconds)".into());
    }
    let directives = match aws.get("CloudWatchMetrics").and_then(Value::as_array) {
        Some(d) if !d.is_empty() => d,
        _ => {
            problems.push("`_aws.CloudWatchMetrics` is not a non-empty array".into());
            return problems;
        }
    };
    for (i, directive) in directives.iter().enumerate() {
        let at = format!("CloudWatchMetrics[{i}]");
        match directive.get("Namespace").and_then(Value::as_str) {
            Some(ns) if !ns.trim().is_empty() && ns.chars().count() <= 255 => {
                if ns != expected_namespace {
                    problems.push(format!(
                        "{at}: namespace {ns:?}, not {expected_namespace:?}"
                    ));
                }
            }
            other => problems.push(format!("{at}: bad Namespace {other:?}")),
        }
        match directive.get("Dimensions").and_then(Value::as_array) {
            None => problems.push(format!("{at}: Dimensions is not an array")),
            Some(sets) => {
                for set in sets {
                    let Some(names) = set.as_array() else {
                        problems.push(format!("{at}: a dimension set is not an array"));
                        continue;
                    };
                    if names.len() > 30 {
                        problems.push(format!(
                            "{at}: {} dimensions in a set (max 30)",
                            names.len()
                        ));
                    }
                    for name in names {
                        let Some(name) = name.as_str() else {
                            problems.push(format!("{at}: dimension {name} is not a string"));
                            continue;
                        };
                        match root.get(name).and_then(Value::as_str) {
                            Some(v) if !v.is_empty() && v.chars().count() <= 1024 => {}
                            other => problems.push(format!(
                                "{at}: dimension {name:?} is not a root string member ({other:?})"
                            )),
                        }
                    }
                }
            }
        }
        let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
            problems.push(format!("{at}: Metrics is not an array"));
            continue;
        };
        if metrics.len() > 100 {
            problems.push(format!("{at}: {} metrics (max 100)", metrics.len()));
        }
        for metric in metrics {
            let Some(name) = metric.get("Name").and_then(Value::as_str) else {
                problems.push(format!("{at}: a metric without a Name: {metric}"));
                continue;
            };
            if name.is_empty() || name.chars().count() > 255 {
                problems.push(format!(
                    "{at}: metric name {name:?} is not 1 to 255 characters"
                ));
            }
            if let Some(unit) = metric.get("Unit") {
                if !unit.as_str().is_some_and(|u| UNITS.contains(&u)) {
                    problems.push(format!(
                        "{at}: {name}: unit {unit} is not a CloudWatch unit"
                    ));
                }
            }
            if let Some(res) = metric.get("StorageResolution") {
                if !(res == 1 || res == 60) {
                    problems.push(format!(
                        "{at}: {name}: StorageResolution {res} is not 1 or 60"
                    ));
                }
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                other => problems.push(format!(
                    "{at}: metric {name:?} has no numeric root member ({other:?})"
                )),
            }
        }
    }
    problems
}

/// The metrics a line declares, in order: (name, unit as declared). Members that are not
/// declared (`message`, the dimensions, `currency`) are not metrics.
pub fn declared(line: &Value) -> Vec<(String, Option<String>)> {
    line.pointer("/_aws/CloudWatchMetrics")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("Metrics").and_then(Value::as_array))
        .flatten()
        .filter_map(|m| {
            let name = m.get("Name")?.as_str()?.to_string();
            let unit = m.get("Unit").and_then(Value::as_str).map(str::to_string);
            Some((name, unit))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn good() -> Value {
        json!({
            "message": "x",
            "scenario": "nightly-batch",
            "step": "check",
            "Acted": 1,
            "DurationMs": [12.5, 3.0],
            "_aws": {
                "Timestamp": 1764104400000i64,
                "CloudWatchMetrics": [{
                    "Namespace": "Nightshift",
                    "Dimensions": [["scenario", "step"]],
                    "Metrics": [{"Name": "Acted", "Unit": "Count"}, {"Name": "DurationMs", "Unit": "Milliseconds"}]
                }]
            }
        })
    }

    #[test]
    fn a_valid_line_passes_and_each_broken_rule_is_named() {
        assert_eq!(check(&good(), "Nightshift"), Vec::<String>::new());
        let broken = |f: &dyn Fn(&mut Value), says: &str| {
            let mut line = good();
            f(&mut line);
            let problems = check(&line, "Nightshift");
            assert!(
                problems.iter().any(|p| p.contains(says)),
                "{says}: {problems:?}"
            );
        };
        broken(&|l| l["_aws"]["Timestamp"] = json!("now"), "Timestamp");
        broken(&|l| l["_aws"]["CloudWatchMetrics"] = json!([]), "non-empty");
        broken(
            &|l| l["_aws"]["CloudWatchMetrics"][0]["Namespace"] = json!("Other"),
            "namespace",
        );
        broken(
            &|l| l["scenario"] = json!(3),
            "\"scenario\" is not a root string",
        );
        broken(
            &|l| {
                l.as_object_mut().unwrap().remove("step");
            },
            "\"step\"",
        );
        broken(&|l| l["Acted"] = json!("1"), "\"Acted\" has no numeric");
        broken(
            &|l| l["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Minutes"),
            "not a CloudWatch unit",
        );
        broken(
            &|l| {
                let many: Vec<Value> = (0..101).map(|i| json!({"Name": format!("M{i}")})).collect();
                for i in 0..101 {
                    l[format!("M{i}")] = json!(1);
                }
                l["_aws"]["CloudWatchMetrics"][0]["Metrics"] = json!(many);
            },
            "101 metrics (max 100)",
        );
        assert!(!is_emf(&json!({"message": "plain"})));
    }
}
