//! Fixtures shared by the config tests: the contract example, a small valid config whose line
//! numbers the tests rely on, and assertions on the errors of a rejected text.

use super::{parse, ConfigError};

/// The contract example of docs/contract.md, verbatim.
pub(super) const CONTRACT: &str = include_str!("../../integration/fixtures/config/contract.toml");

/// A small valid config; bad-config tests change one line, so line numbers below are stable:
/// 1 table, 3 name, 4 timezone, 5 [[scenario.ecs]], 8 desired, 9 max, 12 replicas,
/// 13 instance_class, 14 [scenario.scale_down], 15 quiet_for, 16 deadline, 17 min_hold,
/// 18 missing_data, 19 [[metric]], 22 stat, 23 period, 24 below, 26 source.
pub(super) const BASE: &str = r#"table = "runs"
[[scenario]]
name = "nightly"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "batch"
  service = "worker"
  desired = 10
  max = 20
  [[scenario.docdb]]
  cluster = "batch-db"
  replicas = 3
  instance_class = "db.r6g.large"
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
  missing_data = "busy"
    [[scenario.scale_down.metric]]
    namespace = "Batch"
    name = "JobsRunning"
    stat = "Maximum"
    period = "1m"
    below = 1
  [[scenario.completion]]
  source = "aws.ecs"
  group = "family:nightly-job"
"#;

/// BASE with a `[scenario.schedule]` of these lines (line 28 is the header, 29 the first key).
pub(super) fn with_schedule(lines: &str) -> String {
    format!("{BASE}  [scenario.schedule]\n{lines}")
}

/// BASE with exactly one occurrence of `from` replaced.
pub(super) fn base_with(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "ambiguous edit {from:?}");
    BASE.replacen(from, to, 1)
}

pub(super) fn errors(text: &str) -> Vec<ConfigError> {
    match parse(text, "test.toml") {
        Ok(config) => panic!("config should be rejected, got {config:?}"),
        Err(errors) => errors.0,
    }
}

/// Asserts that `text` yields exactly one error, at `line`, for `key`, whose message
/// contains `message` and whose hint contains `hint`.
#[track_caller]
pub(super) fn assert_single_error(text: &str, line: usize, key: &str, message: &str, hint: &str) {
    let errors = errors(text);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    let e = &errors[0];
    assert_eq!(e.file, "test.toml");
    assert_eq!(e.line, line, "line of {e:#?}");
    assert_eq!(e.key, key, "key of {e:#?}");
    assert!(
        e.message.contains(message),
        "message {:?} lacks {message:?}",
        e.message
    );
    assert!(e.hint.contains(hint), "hint {:?} lacks {hint:?}", e.hint);
}
