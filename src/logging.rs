//! Logging for the Lambda function (tracing + tracing-subscriber), following Lambda's advanced
//! logging controls:
//!
//! - `AWS_LAMBDA_LOG_FORMAT=JSON`: one JSON object per line, with `timestamp`, `level` and
//!   `message` first (what CloudWatch's JSON log format expects), then the fields of the
//!   enclosing spans (`requestId` from lambda_runtime's invocation span) and of the event
//!   (`scenario`, `step`, `outcome`, …), then `target`;
//! - otherwise readable text, one line per event, without colour codes (CloudWatch shows them raw).
//!
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (`TRACE` … `ERROR`, `FATAL`), else from `RUST_LOG`
//! (full `EnvFilter` directives, e.g. `nightshift=debug,info`), else `INFO`. A value that cannot
//! be understood never stops the function: it falls back to `INFO` and says so in the first lines.

use serde_json::Value;
use std::fmt;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (`AWS_LAMBDA_LOG_FORMAT=JSON`).
    Json,
    /// Human-readable text (Lambda's default `Text` format).
    Text,
}

/// Logging settings read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `EnvFilter` directives, already checked to parse.
    pub filter: String,
    /// Variables that were set but not understood; logged as warnings once logging is up.
    pub warnings: Vec<String>,
}

impl LogSettings {
    /// Read `AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` and `RUST_LOG` from the process.
    pub fn from_env() -> LogSettings {
        LogSettings::from_vars(|name| std::env::var(name).ok())
    }

    /// Read the settings through `var` (the process environment, or a map in tests).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> LogSettings {
        let mut warnings = Vec::new();
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());

        let format = match set("AWS_LAMBDA_LOG_FORMAT") {
            None => LogFormat::Text,
            Some(v) if v.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(v) if v.trim().eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(v) => {
                warnings.push(format!(
                    "AWS_LAMBDA_LOG_FORMAT={v:?} is not understood: writing text; set it to JSON or Text"
                ));
                LogFormat::Text
            }
        };

        let filter = if let Some(level) = set("AWS_LAMBDA_LOG_LEVEL") {
            match lambda_level(&level) {
                Some(directive) => directive.to_string(),
                None => {
                    warnings.push(format!(
                        "AWS_LAMBDA_LOG_LEVEL={level:?} is not understood: logging at INFO; use TRACE, DEBUG, INFO, WARN, ERROR or FATAL"
                    ));
                    "info".to_string()
                }
            }
        } else if let Some(directives) = set("RUST_LOG") {
            match EnvFilter::try_new(&directives) {
                Ok(_) => directives,
                Err(e) => {
                    warnings.push(format!(
                        "RUST_LOG={directives:?} is not understood ({e}): logging at INFO; use e.g. RUST_LOG=debug or RUST_LOG=nightshift=debug,info"
                    ));
                    "info".to_string()
                }
            }
        } else {
            "info".to_string()
        };

        LogSettings {
            format,
            filter,
            warnings,
        }
    }
}

/// The `EnvFilter` directive for one of Lambda's log levels (case-insensitive).
fn lambda_level(level: &str) -> Option<&'static str> {
    match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some("trace"),
        "DEBUG" => Some("debug"),
        "INFO" => Some("info"),
        "WARN" | "WARNING" => Some("warn"),
        // tracing has no level above ERROR.
        "ERROR" | "FATAL" => Some("error"),
        _ => None,
    }
}

/// A subscriber for `settings` writing to `writer`.
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    // `settings.filter` was checked by `from_vars`; a hand-built one that does not parse
    // falls back to INFO rather than failing start-up.
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false);
    match settings.format {
        LogFormat::Json => Box::new(
            builder
                .fmt_fields(JsonFields::new())
                .event_format(LambdaJson)
                .finish(),
        ),
        LogFormat::Text => Box::new(builder.with_target(false).finish()),
    }
}

/// Install the process-wide subscriber (standard output, which Lambda sends to CloudWatch) and
/// log the settings' warnings. Does nothing if a subscriber is already installed.
pub fn init(settings: &LogSettings) {
    if tracing::subscriber::set_global_default(subscriber(settings, std::io::stdout)).is_ok() {
        for warning in &settings.warnings {
            tracing::warn!("{warning}");
        }
    }
}

/// The JSON line format: `{"timestamp":…,"level":…,"message":…,<span fields>,<event fields>,"target":…}`.
///
/// tracing-subscriber's own JSON format nests the message and fields under `fields` and the
/// request ID under `span`; Lambda's JSON format and CloudWatch Logs Insights want them at the
/// top level, so that `requestId`, `scenario` or `outcome` can be queried directly.
pub struct LambdaJson;

impl<S, N> FormatEvent<S, N> for LambdaJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = JsonLine::default();
        // Outermost span first, so that inner spans and then the event itself win on a clash.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(formatted) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                // With `JsonFields`, span fields are stored as a JSON object.
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&formatted.fields) {
                    for (name, value) in map {
                        fields.set(&name, value);
                    }
                }
            }
        }
        event.record(&mut fields);
        spread_emf(&mut fields);
        let message = fields
            .take("message")
            .unwrap_or_else(|| Value::String(String::new()));
        let metadata = event.metadata();
        let timestamp = format!("{:.3}", jiff::Timestamp::now());

        let mut line = String::with_capacity(256);
        line.push('{');
        push_pair(&mut line, "timestamp", &Value::String(timestamp));
        push_pair(
            &mut line,
            "level",
            &Value::String(metadata.level().as_str().to_string()),
        );
        push_pair(&mut line, "message", &message);
        for (name, value) in &fields.0 {
            push_pair(&mut line, name, value);
        }
        push_pair(
            &mut line,
            "target",
            &Value::String(metadata.target().to_string()),
        );
        line.push('}');
        writeln!(writer, "{line}")
    }
}

/// The field that holds an invocation's Embedded Metric Format members as JSON text
/// (src/emf.rs): the JSON line carries them at its top level, where CloudWatch reads `_aws`.
pub const EMF_FIELD: &str = "emf";

fn spread_emf(fields: &mut JsonLine) {
    let Some(Value::String(text)) = fields.take(EMF_FIELD) else {
        return;
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(members)) => {
            for (name, value) in members {
                fields.set(&name, value);
            }
        }
        // Not an object: kept as it came.
        _ => fields.set(EMF_FIELD, Value::String(text)),
    }
}

fn push_pair(line: &mut String, name: &str, value: &Value) {
    if !line.ends_with('{') {
        line.push(',');
    }
    // Serializing a string or a `Value` cannot fail.
    line.push_str(&serde_json::to_string(name).unwrap_or_default());
    line.push(':');
    line.push_str(&serde_json::to_string(value).unwrap_or_default());
}

/// Fields in the order they were first seen; a later value for the same name replaces it.
#[derive(Default)]
struct JsonLine(Vec<(String, Value)>);

impl JsonLine {
    fn set(&mut self, name: &str, value: Value) {
        // `timestamp`, `level` and `target` are written by the formatter itself.
        if matches!(name, "timestamp" | "level" | "target") {
            return;
        }
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, old)) => *old = value,
            None => self.0.push((name.to_string(), value)),
        }
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        let index = self.0.iter().position(|(n, _)| n == name)?;
        Some(self.0.remove(index).1)
    }
}

impl Visit for JsonLine {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // NaN and infinities are not JSON numbers.
        let value = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.set(field.name(), value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), Value::String(crate::text::error_chain(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `message` arrives here as `format_args!`, whose Debug is its Display.
        self.set(field.name(), Value::String(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A `MakeWriter` that collects everything written, for assertions.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn settings(vars: &[(&str, &str)]) -> LogSettings {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LogSettings::from_vars(|name| vars.get(name).cloned())
    }

    /// Log what bootstrap logs for one handled event, inside lambda_runtime's invocation span.
    fn log_one_event(settings: &LogSettings) -> String {
        let out = Captured::default();
        tracing::subscriber::with_default(subscriber(settings, out.clone()), || {
            let span = tracing::info_span!("Lambda runtime invoke", requestId = "req-42");
            let _entered = span.enter();
            tracing::info!(
                scenario = "nightly-batch",
                step = "scale-up",
                outcome = "acted",
                actions = 2u64,
                "scale-up of nightly-batch: acted"
            );
            tracing::debug!("not shown at INFO");
        });
        out.text()
    }

    #[test]
    fn json_lines_carry_timestamp_level_message_request_id_scenario_step_and_outcome() {
        let text = log_one_event(&settings(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "one line per event, DEBUG filtered: {text}");
        let line: Value = serde_json::from_str(lines[0]).expect("the line is one JSON object");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "scale-up of nightly-batch: acted");
        assert_eq!(line["requestId"], "req-42");
        assert_eq!(line["scenario"], "nightly-batch");
        assert_eq!(line["step"], "scale-up");
        assert_eq!(line["outcome"], "acted");
        assert_eq!(line["actions"], 2);
        assert_eq!(line["target"], module_path!());
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            timestamp.parse::<jiff::Timestamp>().is_ok() && timestamp.ends_with('Z'),
            "{timestamp}"
        );
        assert!(
            lines[0].starts_with(r#"{"timestamp":"#),
            "timestamp, level and message come first: {}",
            lines[0]
        );
    }

    #[test]
    fn json_escapes_quotes_and_newlines_and_an_event_field_overrides_a_span_field() {
        let out = Captured::default();
        let s = settings(&[("AWS_LAMBDA_LOG_FORMAT", "json")]);
        tracing::subscriber::with_default(subscriber(&s, out.clone()), || {
            let span = tracing::info_span!("outer", requestId = "from-span", step = "check");
            let _entered = span.enter();
            tracing::warn!(requestId = "from-event", "a \"quoted\"\nreason");
        });
        let text = out.text();
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "a \"quoted\"\nreason");
        assert_eq!(line["requestId"], "from-event");
        assert_eq!(line["step"], "check");
    }

    #[test]
    fn the_emf_field_is_spread_into_the_json_line() {
        let out = Captured::default();
        let s = settings(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
        let emf = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"scenario":"s","Acted":1}"#;
        tracing::subscriber::with_default(subscriber(&s, out.clone()), || {
            tracing::info!(scenario = "s", emf, "handled");
            tracing::info!(emf = "not json", "kept");
        });
        let text = out.text();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["_aws"]["Timestamp"], 1, "{text}");
        assert_eq!(lines[0]["Acted"], 1);
        assert_eq!(lines[0]["scenario"], "s");
        assert!(lines[0].get("emf").is_none(), "{text}");
        assert_eq!(lines[1]["emf"], "not json");
    }

    #[test]
    fn text_is_the_default_and_is_readable_without_colour_codes() {
        let text = log_one_event(&settings(&[]));
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(serde_json::from_str::<Value>(text.trim_end()).is_err());
        for needle in [
            "INFO",
            "requestId=\"req-42\"",
            "scale-up of nightly-batch: acted",
            "outcome=\"acted\"",
        ] {
            assert!(text.contains(needle), "{needle:?} in {text}");
        }
        assert!(!text.contains('\u{1b}'), "no ANSI escapes: {text:?}");
    }

    #[test]
    fn aws_lambda_log_level_wins_over_rust_log() {
        let s = settings(&[("AWS_LAMBDA_LOG_LEVEL", "debug"), ("RUST_LOG", "error")]);
        assert_eq!(s.filter, "debug");
        assert!(s.warnings.is_empty());
        assert_eq!(log_one_event(&s).lines().count(), 2, "DEBUG is shown");

        let s = settings(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]);
        assert_eq!(s.filter, "error");
        assert_eq!(log_one_event(&s), "", "INFO is filtered out at FATAL");
    }

    #[test]
    fn rust_log_directives_are_used_when_lambda_sets_no_level() {
        let s = settings(&[("RUST_LOG", "warn,nightshift=debug")]);
        assert_eq!(s.filter, "warn,nightshift=debug");
        assert_eq!(s.format, LogFormat::Text);
        assert_eq!(settings(&[]).filter, "info");
    }

    #[test]
    fn values_that_are_not_understood_fall_back_with_a_warning() {
        let s = settings(&[
            ("AWS_LAMBDA_LOG_FORMAT", "yaml"),
            ("AWS_LAMBDA_LOG_LEVEL", "loud"),
        ]);
        assert_eq!(s.format, LogFormat::Text);
        assert_eq!(s.filter, "info");
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("AWS_LAMBDA_LOG_FORMAT=\"yaml\""));
        assert!(s.warnings[1].contains("use TRACE, DEBUG, INFO, WARN, ERROR or FATAL"));

        let s = settings(&[("RUST_LOG", "nightshift=[")]);
        assert_eq!(s.filter, "info");
        assert!(
            s.warnings[0].starts_with("RUST_LOG=\"nightshift=[\""),
            "{:?}",
            s.warnings
        );
    }
}
