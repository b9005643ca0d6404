//! The stack's CloudWatch dashboard, from the config: per scenario a row of graphs of the
//! function's own EMF metrics (`crate::emf`): the nights and the steps' outcomes, errors and step
//! failures, lead (scale-up → capacity ready), night and idle minutes, the hours held above the
//! baseline and, with `[prices]`, their cost and savings.
//!
//! One dashboard per stack, not per scenario: forty scenarios stay one resource. The EMF lines
//! carry the dimensions `scenario` and `step`, so a scenario's figure is the sum over its steps,
//! written as `SUM(SEARCH(...))` of the metric and the scenario: one short expression per line of
//! a graph, whatever the steps, which keeps the body (a JSON string inside the template) small.
//! A test reads the metric names back out of a body and holds them to what the EMF lines declare.

use super::doc::{map, s, sub, Node};
use crate::config::{Config, Scenario};
use crate::emf::{DIMENSIONS, NAMESPACE};
use serde_json::{json, Value};

/// A day: one bar per night.
const PERIOD_S: u32 = 86_400;
/// Graph widths on the dashboard's 24-column grid.
const WIDE: u32 = 8;
const HIGH: u32 = 6;

/// The dashboard resource.
pub fn dashboard(config: &Config) -> Node {
    map([
        ("Type", s("AWS::CloudWatch::Dashboard")),
        ("Properties", map([("DashboardBody", sub(body(config)))])),
    ])
    .comment(
        "Type",
        "The nights at a glance, from the function's EMF metrics (namespace Nightshift): one row per scenario.\nNamed by CloudFormation (unique per stack).",
    )
}

/// One line of a graph: the scenario's `metric` summed over its steps.
fn line(id: &str, scenario: &str, metric: &str, stat: &str, label: &str) -> Value {
    let dims = DIMENSIONS.join(",");
    json!([{
        "id": id,
        "label": label,
        "expression": format!(
            "SUM(SEARCH('{{{NAMESPACE},{dims}}} MetricName=\"{metric}\" scenario=\"{scenario}\"','{stat}',{PERIOD_S}))"
        ),
    }])
}

fn graph(title: String, x: u32, y: u32, lines: Vec<Value>) -> Value {
    json!({
        "type": "metric",
        "x": x,
        "y": y,
        "width": WIDE,
        "height": HIGH,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "period": PERIOD_S,
            "metrics": lines,
        },
    })
}

/// The graphs of one scenario, from row `y`; returns the next free row.
fn scenario_rows(sc: &Scenario, currency: Option<&str>, y: u32, widgets: &mut Vec<Value>) -> u32 {
    let name = sc.name.as_str();
    widgets.push(json!({
        "type": "text", "x": 0, "y": y, "width": 24, "height": 1,
        "properties": { "markdown": format!("### {name}") },
    }));
    let y = y + 1;
    let l = |id: &str, metric: &str, stat: &str, label: &str| line(id, name, metric, stat, label);
    let mut graphs = vec![
        (
            format!("{name}: nights and step outcomes"),
            vec![
                l("n", "NightMinutes", "SampleCount", "nights closed"),
                l("a", "Acted", "Sum", "acted"),
                l("d", "Deferred", "Sum", "deferred"),
                l("s", "Skipped", "Sum", "skipped"),
                l("r", "Rejected", "Sum", "rejected"),
                l("u", "Duplicate", "Sum", "duplicate"),
                l("p", "InProgress", "Sum", "in progress"),
            ],
        ),
        (
            format!("{name}: errors and step failures"),
            vec![
                l("e", "Errors", "Sum", "errors"),
                l("f", "StepFailures", "Sum", "step failures"),
                l("h", "DeadlineHits", "Sum", "deadline hits while busy"),
                l("v", "EventsNotSent", "Sum", "events not sent"),
            ],
        ),
        (
            format!("{name}: lead, night and idle minutes"),
            vec![
                l("l", "CapacityReadyMinutes", "Maximum", "scale-up to ready"),
                l("m", "NightMinutes", "Maximum", "night"),
                l("i", "IdleMinutes", "Maximum", "idle after the batch"),
            ],
        ),
    ];
    let mut hours = Vec::new();
    // Every engine's readers, resizes and serverless capacity are counted in the same metrics
    // (Aurora's ACUs and Neptune's NCUs with DocumentDB's DCUs). The worker kinds' hours are the
    // report's only: no EMF metric carries them, so a scenario of only those has no hours graph
    // rather than an empty one.
    if sc.clusters().any(|d| d.replicas > 0) {
        hours.push(l("ri", "ReaderHours", "Sum", "reader instance-hours"));
    }
    if sc.clusters().any(|d| d.resize.is_some()) {
        hours.push(l("rz", "ResizedHours", "Sum", "resized instance-hours"));
    }
    if sc.clusters().any(|d| d.serverless_min.is_some()) {
        let unit = if sc
            .aurora
            .iter()
            .chain(&sc.neptune)
            .any(|d| d.serverless_min.is_some())
        {
            "serverless capacity-unit-hours"
        } else {
            "DCU-hours"
        };
        hours.push(l("dc", "DcuHours", "Sum", unit));
    }
    if !sc.ecs.is_empty() {
        hours.push(l("t", "TaskHours", "Sum", "task-hours"));
    }
    if !hours.is_empty() {
        graphs.push((format!("{name}: hours above the baseline"), hours));
    }
    if let Some(currency) = currency {
        graphs.push((
            format!("{name}: cost and savings, {currency}"),
            vec![
                l("c", "NightCost", "Sum", "cost"),
                l("sd", "SavedVsDeadline", "Sum", "saved vs the deadline"),
                l("sa", "SavedVsAlwaysOn", "Sum", "saved vs always on"),
            ],
        ));
    }
    let mut y = y;
    for row in graphs.chunks(3) {
        for (i, (title, lines)) in row.iter().enumerate() {
            widgets.push(graph(title.clone(), WIDE * i as u32, y, lines.clone()));
        }
        y += HIGH;
    }
    y
}

/// The dashboard's body (JSON, with `${AWS::Region}` for `Fn::Sub`).
pub fn body(config: &Config) -> String {
    let currency = config.prices.as_ref().map(|p| p.currency.as_str());
    let mut widgets = Vec::new();
    let mut y = 0;
    for sc in &config.scenarios {
        y = scenario_rows(sc, currency, y, &mut widgets);
    }
    // Plain JSON of strings and numbers: serialization cannot fail.
    serde_json::to_string(&json!({ "widgets": widgets })).unwrap_or_default()
}

/// Every (namespace, dimension names, metric name) a body's expressions name.
#[cfg(test)]
pub fn named_metrics(body: &str) -> Vec<(String, Vec<String>, String)> {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let widgets = value["widgets"].as_array().cloned().unwrap_or_default();
    for w in widgets {
        let lines = w["properties"]["metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for line in lines
            .iter()
            .flat_map(|l| l.as_array().cloned().unwrap_or_default())
        {
            let Some(expr) = line["expression"].as_str() else {
                continue;
            };
            let schema = expr
                .split_once("SEARCH('{")
                .and_then(|(_, rest)| rest.split_once('}'))
                .map(|(schema, _)| schema.split(',').map(str::to_string).collect::<Vec<_>>())
                .unwrap_or_default();
            let metric = expr
                .split_once("MetricName=\"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(name, _)| name.to_string())
                .unwrap_or_default();
            let (namespace, dims) = schema
                .split_first()
                .map_or((String::new(), Vec::new()), |(n, d)| {
                    (n.clone(), d.to_vec())
                });
            out.push((namespace, dims, metric));
        }
    }
    out
}
