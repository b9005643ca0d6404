use super::testing::{base_with, BASE, CONTRACT};
use super::*;
use crate::text::config_duration as format_duration;

#[test]
fn contract_example_parses_into_the_expected_values() {
    let config = parse(CONTRACT, "contract.toml").expect("contract example must parse");
    assert_eq!(config.table, "nightshift-runs");
    assert_eq!(config.source, "contract.toml");
    assert_eq!(config.scenario_names(), vec!["nightly-batch"]);
    let s = config.scenario("nightly-batch").expect("scenario by name");
    assert_eq!(s.timezone_name, "Asia/Tokyo");
    assert_eq!(
        s.timezone,
        crate::text::time_zones().get("Asia/Tokyo").unwrap()
    );
    assert_eq!(
        s.ecs,
        vec![EcsTarget {
            cluster: "batch".into(),
            service: "worker".into(),
            desired: 10,
            max: 20,
        }]
    );
    assert_eq!(
        s.docdb,
        vec![ClusterTarget {
            engine: Engine::DocumentDb,
            cluster: "batch-db".into(),
            replicas: 3,
            instance_class: Some("db.r6g.large".into()),
            resize: None,
            serverless_min: None,
            fallback_classes: Vec::new(),
        }]
    );
    let sd = &s.scale_down;
    assert_eq!(sd.quiet_for, Duration::from_secs(15 * 60));
    assert_eq!(sd.deadline, jiff::civil::time(7, 30, 0, 0));
    assert_eq!(sd.min_hold, Duration::from_secs(30 * 60));
    assert_eq!(sd.missing_data, MissingData::Busy);
    assert_eq!(
        sd.metrics,
        vec![MetricSpec {
            namespace: "Batch".into(),
            name: "JobsRunning".into(),
            dimensions: BTreeMap::from([("Job".to_string(), "nightly".to_string())]),
            stat: "Maximum".into(),
            period: Duration::from_secs(60),
            below: 1.0,
        }]
    );
    assert_eq!(
        s.completion,
        vec![
            CompletionMatcher::EcsTaskStopped {
                group: "family:nightly-job".into()
            },
            CompletionMatcher::BatchJobDone {
                job_queue: "nightly-queue".into()
            },
        ]
    );
    assert!(s.skip_dates.is_empty());
    assert!(config.scenario("other").is_none());
}

#[test]
fn optional_keys_take_their_defaults_and_extras_parse() {
    let text = BASE
        .replace("table = \"runs\"\n", "")
        .replace("  missing_data = \"busy\"\n", "")
        .replace(
            "timezone = \"Asia/Tokyo\"\n",
            "timezone = \"Europe/Berlin\"\nskip_dates = [\"2026-12-31\", \"2027-01-01\"]\n",
        )
        .replace(
            "instance_class = \"db.r6g.large\"\n",
            "instance_class = \"db.r6g.large\"\n  resize = \"db.r6g.2xlarge\"\n",
        )
        .replace("stat = \"Maximum\"", "stat = \"p99.9\"")
        .replace("period = \"1m\"", "period = \"5m\"");
    let config = parse(&text, "t.toml").expect("valid");
    assert_eq!(config.table, DEFAULT_TABLE);
    let s = &config.scenarios[0];
    assert_eq!(s.timezone_name, "Europe/Berlin");
    assert_eq!(s.scale_down.missing_data, MissingData::Busy);
    assert_eq!(s.scale_down.metrics[0].stat, "p99.9");
    assert_eq!(s.scale_down.metrics[0].period, Duration::from_secs(300));
    assert!(s.scale_down.metrics[0].dimensions.is_empty());
    assert_eq!(s.docdb[0].resize.as_deref(), Some("db.r6g.2xlarge"));
    assert_eq!(
        s.skip_dates,
        vec![
            jiff::civil::date(2026, 12, 31),
            jiff::civil::date(2027, 1, 1)
        ]
    );
}

#[test]
fn docdb_with_zero_replicas_and_no_resize_is_allowed() {
    let config = parse(&base_with("replicas = 3", "replicas = 0"), "t.toml").expect("valid");
    assert_eq!(config.scenarios[0].docdb[0].replicas, 0);
}

#[test]
fn table_override_replaces_the_table_unless_blank() {
    let config = parse(BASE, "t.toml").expect("valid");
    assert_eq!(config.clone().with_table_override(None).table, "runs");
    assert_eq!(
        config.clone().with_table_override(Some("  ".into())).table,
        "runs"
    );
    assert_eq!(
        config.with_table_override(Some("other-runs".into())).table,
        "other-runs"
    );
}

#[test]
fn load_reports_a_missing_file_with_the_way_to_point_at_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("absent.toml");
    let errors = load(&path).expect_err("missing file");
    assert_eq!(errors.len(), 1);
    let e = &errors.0[0];
    assert_eq!(e.line, 0);
    assert!(
        e.message.contains(&path.display().to_string()),
        "{}",
        e.message
    );
    assert!(e.message.contains("does not exist"), "{}", e.message);
    assert!(
        e.hint.contains("--config") && e.hint.contains("NIGHTSHIFT_CONFIG"),
        "{}",
        e.hint
    );
    assert_eq!(
        errors.to_string(),
        format!("{}: {}\n  hint: {}", e.file, e.message, e.hint)
    );
}

#[test]
fn load_reads_and_validates_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ok.toml");
    std::fs::write(&path, CONTRACT).expect("write");
    let config = load(&path).expect("valid file");
    assert_eq!(config.source, path.display().to_string());
    assert_eq!(config.scenario_names(), vec!["nightly-batch"]);
}

#[test]
fn parse_duration_accepts_the_documented_forms() {
    for (text, secs) in [
        ("30s", 30),
        ("15m", 900),
        ("2h", 7_200),
        ("1h30m", 5_400),
        ("90s", 90),
        ("1d", 86_400),
        ("1d2h3m4s", 93_784),
        ("0s", 0),
    ] {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_secs(secs)),
            "{text}"
        );
    }
}

#[test]
fn parse_duration_rejects_bad_forms_with_specific_messages() {
    for (text, message) in [
        ("", "empty duration"),
        ("-5m", "\"-5m\" is negative"),
        ("15", "\"15\" has no unit"),
        ("15x", "unknown unit \"x\""),
        ("100ms", "unknown unit \"ms\""),
        ("1.5h", "is not a whole number"),
        ("1m1h", "smaller unit first"),
        ("1h1h", "repeats a unit"),
        ("1h 30m", "contains whitespace"),
        ("m", "\"m\" has a unit without a number"),
        ("99999999999999999999s", "is too large"),
        ("213503982334602d", "is too large"),
        ("213503982334601d8h", "is too large"),
    ] {
        let err = parse_duration(text).expect_err(text);
        assert!(err.contains(message), "{text}: {err}");
        assert!(err.contains("\"30s\", \"15m\", \"2h\""), "{text}: {err}");
    }
}

#[test]
fn format_duration_round_trips() {
    for secs in [0, 59, 60, 90, 3_600, 5_400, 93_784] {
        let d = Duration::from_secs(secs);
        assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }
    assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
}

#[test]
fn notify_is_optional_and_its_event_bus_is_checked_with_a_position() {
    assert_eq!(parse(CONTRACT, "c.toml").expect("contract").notify, None);
    let with = |bus: &str| format!("{BASE}\n[notify]\nevent_bus = \"{bus}\"\n");
    let config = parse(&with("ops-events"), "t.toml").expect("valid");
    assert_eq!(
        config.notify.map(|n| n.event_bus),
        Some(EventBus::Name("ops-events".into()))
    );
    let arn = "arn:aws:events:ap-northeast-1:123456789012:event-bus/ops";
    let config = parse(&with(arn), "t.toml").expect("valid");
    assert_eq!(config.notify.expect("notify").event_bus.target(), arn);
    assert_eq!(
        parse(&format!("{BASE}\n[notify]\n"), "t.toml")
            .expect("no bus: no events")
            .notify,
        None
    );

    let errors = parse(&with("ops events"), "t.toml").expect_err("a space");
    let text = errors.to_string();
    assert!(text.contains("notify.event_bus"), "{text}");
    assert!(text.contains("contains ' '"), "{text}");
    assert!(text.contains("remove [notify] to send no events"), "{text}");
    let errors =
        parse(&format!("{BASE}\n[notify]\nevent_buss = \"x\"\n"), "t.toml").expect_err("a typo");
    assert!(
        errors.to_string().contains("did you mean `event_bus`"),
        "{errors}"
    );
}
