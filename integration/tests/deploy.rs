//! `nightshift template` against the handler: the schedules of one night, taken from the
//! generated template (their cron expressions and inputs, with `<aws.scheduler.scheduled-time>`
//! filled in as the Scheduler does) and replayed in order, each delivered twice as a Scheduler
//! retry would, against the emulator. The night closes at the first quiet check after
//! `min_hold`, or at the deadline check; everything after answers "no open run".

use crate::{harness, support};
use jiff::{civil, SignedDuration, Timestamp};
use nightshift::app::{Adapters, App, Invocation};
use nightshift::aws::calls::CallLog;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::schedule::Cron;
use nightshift::{config, Outcome, Response};
use serde_json::Value;
use std::sync::Arc;

struct ScheduledNight {
    app: App,
    config: Arc<config::Config>,
    template: Value,
    job: String,
    calls: CallLog,
    ecs_cluster: String,
    service: String,
    db: String,
}

/// The night of 2026-11-25 (a Wednesday) in Tokyo: scale-up 23:00, deadline 07:30.
async fn scheduled_night() -> ScheduledNight {
    let sdk = support::sdk_config().await;
    let table = harness::fresh_table().await;
    let ecs_cluster = support::unique("sched");
    let service = support::unique("worker");
    let db = support::unique("scheddb");
    let job = support::unique("job");
    support::create_ecs_service(&sdk, &ecs_cluster, &service, 2).await;
    support::register_scalable_target(&sdk, &ecs_cluster, &service, 2, 4).await;
    support::create_docdb_cluster(&sdk, &db).await;
    let text = format!(
        r#"
table = "{table}"
[[scenario]]
name = "nightly"
timezone = "Asia/Tokyo"
  [[scenario.ecs]]
  cluster = "{ecs_cluster}"
  service = "{service}"
  desired = 6
  max = 8
  [[scenario.docdb]]
  cluster = "{db}"
  replicas = 1
  instance_class = "db.r6g.large"
  [scenario.scale_down]
  quiet_for = "15m"
  deadline = "07:30"
  min_hold = "30m"
    [[scenario.scale_down.metric]]
    namespace = "Batch"
    name = "JobsRunning"
    dimensions = {{ Job = "{job}" }}
    stat = "Maximum"
    period = "1m"
    below = 1
  [scenario.schedule]
  scale_up = "23:00"
  check_every = "10m"
  scale_down = "06:00"
  days = ["MON", "TUE", "WED", "THU", "FRI"]
"#
    );
    let config = Arc::new(config::parse(&text, "scheduled.toml").unwrap_or_else(|e| panic!("{e}")));
    let migrations = nightshift::migrations::embedded().unwrap();
    let template = nightshift::template::build(
        &config,
        "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/nightshift:test",
        &migrations,
    )
    .unwrap()
    .to_value();
    let calls = CallLog::new();
    let clients = harness::logged_scaling_clients(&calls).await;
    let store = DynamoStore::new(
        harness::logged_client(&calls).await,
        &table,
        Timeouts::default(),
    );
    let app = App::build(
        config.clone(),
        harness::settings(),
        Adapters::new(store, clients),
    );
    ScheduledNight {
        app,
        config,
        template,
        job,
        calls,
        ecs_cluster,
        service,
        db,
    }
}

/// One firing of a schedule: when, and the input the Scheduler sends.
#[derive(Debug, Clone)]
struct Firing {
    at: Timestamp,
    /// Local time of day, `HH:MM`.
    local: String,
    logical_id: String,
    payload: String,
}

/// The firings of the template's schedules for the night that starts on `date`, in time order:
/// each schedule's cron expression read back and expanded, as the Scheduler does in the
/// scenario's zone, into every local minute it fires from the night's scale-up on `date` to the
/// same time the next day.
fn firings(template: &Value, date: civil::Date, zone: &str) -> Vec<Firing> {
    let tz = jiff::tz::TimeZone::get(zone).unwrap();
    let schedules: Vec<(&String, Cron, &Value)> = template["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Scheduler::Schedule")
        .map(|(id, r)| {
            let props = &r["Properties"];
            assert_eq!(props["ScheduleExpressionTimezone"], zone, "{id}");
            let expr = props["ScheduleExpression"].as_str().unwrap();
            (
                id,
                Cron::parse(expr).unwrap_or_else(|e| panic!("{id}: {e}")),
                props,
            )
        })
        .collect();
    let local_minutes =
        |day: civil::Date| (0..24u8).flat_map(move |h| (0..60u8).map(move |m| (day, h, m)));
    let minutes: Vec<(civil::Date, u8, u8)> = local_minutes(date)
        .chain(local_minutes(date.tomorrow().unwrap()))
        .collect();
    let (_, up, _) = schedules
        .iter()
        .find(|(id, _, _)| id.contains("ScaleUp"))
        .expect("a scale-up schedule");
    let (up_hour, up_minute) = (up.hours[0], up.minutes[0]);
    let night_start = minutes
        .iter()
        .position(|(d, h, m)| *d == date && (*h, *m) == (up_hour, up_minute))
        .unwrap();
    let mut out = Vec::new();
    for (day, hour, minute) in &minutes[night_start..night_start + 24 * 60] {
        for (id, cron, props) in &schedules {
            if !cron.fires_at(day.weekday(), *hour, *minute) {
                continue;
            }
            let at = day
                .at(*hour as i8, *minute as i8, 0, 0)
                .to_zoned_datetime(tz.clone())
                .unwrap()
                .timestamp();
            let input = props["Target"]["Input"].as_str().unwrap();
            out.push(Firing {
                at,
                local: format!("{hour:02}:{minute:02}"),
                logical_id: id.to_string(),
                payload: input.replace("<aws.scheduler.scheduled-time>", &at.to_string()),
            });
        }
    }
    out.sort_by_key(|f| (f.at, !f.logical_id.contains("ScaleDown")));
    out
}

/// The firing of the schedule whose logical id contains `role`, at local `hh_mm`.
fn firing(firings: &[Firing], role: &str, hh_mm: &str) -> Firing {
    firings
        .iter()
        .find(|f| f.logical_id.contains(role) && f.local == hh_mm)
        .unwrap_or_else(|| panic!("no {role} at {hh_mm}: {firings:#?}"))
        .clone()
}

impl ScheduledNight {
    async fn publish(&self, from: Timestamp, to: Timestamp, value: f64) {
        harness::publish_job_metric("JobsRunning", &self.job, from, to, value).await;
    }

    async fn deliver(&self, firing: &Firing, attempt: u32) -> Response {
        let inv = Invocation {
            request_id: format!("{}-{attempt}", firing.logical_id),
            deadline: None,
            now: firing.at + SignedDuration::from_secs(i64::from(attempt)),
            function_arn: None,
        };
        self.app
            .handle(firing.payload.as_bytes(), &inv)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", firing.logical_id))
    }

    /// Replays every firing (twice each); returns the firing that closed the night.
    async fn replay(&self, firings: &[Firing]) -> Firing {
        let mut closed_by: Option<Firing> = None;
        for firing in firings {
            let first = self.deliver(firing, 0).await;
            let again = self.deliver(firing, 1).await;
            let local = firing
                .at
                .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap());
            let reason: String = first.explanation().chars().take(90).collect();
            eprintln!(
                "{} {:<28} {:<9} {reason}",
                local.strftime("%H:%M"),
                firing.logical_id,
                first.outcome.as_str()
            );
            assert_eq!(
                again.outcome,
                Outcome::Duplicate,
                "{}: a Scheduler retry is a duplicate: {again:?}",
                firing.logical_id
            );
            match &closed_by {
                Some(_) => assert_eq!(
                    first.outcome,
                    Outcome::Skipped,
                    "{} after the close: {first:?}",
                    firing.logical_id
                ),
                None if firing.logical_id.contains("ScaleUp") => {
                    assert_eq!(first.outcome, Outcome::Acted, "{first:?}")
                }
                None => {
                    if first.outcome == Outcome::Acted
                        && first.explanation().starts_with("scale-down (")
                        && first.explanation().ends_with(" closed")
                    {
                        closed_by = Some(firing.clone());
                    } else {
                        assert!(
                            matches!(first.outcome, Outcome::Deferred | Outcome::Acted),
                            "{}: {first:?}",
                            firing.logical_id
                        );
                    }
                }
            }
        }
        closed_by.expect("the night never closed")
    }

    async fn at_baseline(&self) {
        let sdk = support::sdk_config().await;
        let desired = aws_sdk_ecs::Client::new(&sdk)
            .describe_services()
            .cluster(&self.ecs_cluster)
            .services(&self.service)
            .send()
            .await
            .unwrap()
            .services()[0]
            .desired_count();
        assert_eq!(desired, 2);
        let members = aws_sdk_docdb::Client::new(&sdk)
            .describe_db_clusters()
            .db_cluster_identifier(&self.db)
            .send()
            .await
            .unwrap()
            .db_clusters()[0]
            .db_cluster_members()
            .len();
        assert_eq!(members, 1, "writer only");
    }

    /// Every call the night made is allowed by the template's function role, and the role grants
    /// nothing the night did not use (but what the tagging CreateDBInstance needs).
    fn policy_allows_every_call(&self) {
        let policy = &self.template["Resources"]["FunctionRole"]["Properties"]["Policies"][0]
            ["PolicyDocument"];
        let used: std::collections::BTreeSet<String> = self
            .calls
            .calls()
            .iter()
            .flat_map(|c| nightshift::iam::actions_of(&c.service, &c.operation))
            .collect();
        let granted: std::collections::BTreeSet<String> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|st| st["Action"].as_array().unwrap().iter())
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        // CreateDBInstance with Tags is authorized against rds:AddTagsToResource too. The size of
        // a service's tasks is read only when they may run on Fargate (the config cannot say
        // which they do); this night's service runs on EC2.
        let needed_without_a_call = [
            "rds:AddTagsToResource".to_string(),
            "ecs:DescribeTaskDefinition".to_string(),
        ];
        let unused: Vec<&String> = granted
            .iter()
            .filter(|a| !used.contains(*a) && !needed_without_a_call.contains(a))
            .collect();
        assert!(
            unused.is_empty(),
            "the role grants actions no call of the night needs: {unused:?}"
        );
        for call in self.calls.calls() {
            for action in nightshift::iam::actions_of(&call.service, &call.operation) {
                assert!(
                    nightshift::iam::allows(policy, &action),
                    "the template's role does not allow {action} ({} {})",
                    call.service,
                    call.operation
                );
            }
        }
    }
}

#[tokio::test]
async fn a_scheduled_night_replayed_from_the_template_closes_at_the_first_quiet_check_after_min_hold(
) {
    let night = scheduled_night().await;
    let date = civil::date(2026, 11, 25);
    let firings = firings(&night.template, date, "Asia/Tokyo");
    // 23:00, 50 checks every 10 min to 07:20, 06:00 scale-down, 07:30 deadline, 08:00 overdue,
    // from 7 schedules.
    assert_eq!(firings.len(), 1 + 50 + 1 + 1 + 1, "{firings:#?}");
    let schedules: std::collections::BTreeSet<&str> =
        firings.iter().map(|f| f.logical_id.as_str()).collect();
    assert_eq!(schedules.len(), 7, "{schedules:?}");
    let checks: Vec<&str> = firings
        .iter()
        .filter(|f| f.logical_id.contains("Checks"))
        .map(|f| f.local.as_str())
        .collect();
    assert_eq!(checks.len(), 50);
    assert_eq!((checks[0], checks[49]), ("23:10", "07:20"));
    // Friday's night runs into Saturday; Saturday starts none (the days are MON-FRI).
    let friday = self::firings(&night.template, civil::date(2026, 11, 27), "Asia/Tokyo");
    assert_eq!(friday.len(), firings.len());
    let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let on_saturday = friday
        .iter()
        .filter(|f| f.at.to_zoned_datetime(tokyo.clone()).date() == civil::date(2026, 11, 28))
        .count();
    assert_eq!(
        on_saturday,
        45 + 1 + 1 + 1,
        "00:00-07:20 checks, 06:00, 07:30, 08:00"
    );
    assert!(self::firings(&night.template, civil::date(2026, 11, 28), "Asia/Tokyo").is_empty());
    let up = firings[0].at;
    let quiet_from = up + SignedDuration::from_mins(125); // 01:05
    night
        .publish(up - SignedDuration::from_mins(30), quiet_from, 4.0)
        .await;
    night
        .publish(quiet_from, up + SignedDuration::from_hours(9), 0.0)
        .await;
    let closed = night.replay(&firings).await;
    // The first check whose whole quiet_for window (15 min, the newest minutes still being
    // ingested not counted) lies after 01:05 is the one at 01:30: 01:20 still sees 01:05 - 15 min.
    let quiet_for = night.config.scenarios[0].scale_down.quiet_for.as_secs() as i64;
    let earliest = quiet_from + SignedDuration::from_secs(quiet_for);
    assert!(
        closed.at >= earliest,
        "closed at {} before the quiet window {earliest}",
        closed.at
    );
    assert!(
        closed.at <= earliest + SignedDuration::from_mins(10 + 3),
        "closed at {}: a later check than the first quiet one",
        closed.at
    );
    assert!(closed.logical_id.contains("Check"), "{closed:?}");
    night.at_baseline().await;
    night.policy_allows_every_call();
}

#[tokio::test]
async fn a_scheduled_night_busy_until_morning_closes_at_the_deadline_check() {
    let night = scheduled_night().await;
    let date = civil::date(2026, 11, 25);
    let firings = firings(&night.template, date, "Asia/Tokyo");
    let up = firings[0].at;
    night
        .publish(
            up - SignedDuration::from_mins(30),
            up + SignedDuration::from_hours(10),
            4.0,
        )
        .await;
    let closed = night.replay(&firings).await;
    assert!(
        closed.logical_id.contains("DeadlineCheck0730"),
        "{closed:?}"
    );
    assert_eq!(
        closed.at,
        "2026-11-25T22:30:00Z".parse::<Timestamp>().unwrap()
    );
    night.at_baseline().await;
    night.policy_allows_every_call();
}

/// A `MakeWriter` collecting the JSON log lines, for the overdue alarm's metric filter.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLog {
    type Writer = CapturedLog;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The template's overdue alarm counts log lines with `alarm = "night-overdue"` (its metric
/// filter `{ $.alarm = "night-overdue" }`): a night whose checks never ran (say, every
/// scheduled check was lost) is still open at the overdue check 30 minutes past the deadline,
/// and that check writes exactly one such line, in Lambda's JSON format, before it closes the
/// night. A check inside the night writes none.
#[tokio::test(flavor = "current_thread")]
async fn a_night_still_open_at_its_overdue_check_logs_the_line_the_overdue_alarm_counts() {
    let night = scheduled_night().await;
    let firings = firings(&night.template, civil::date(2026, 11, 25), "Asia/Tokyo");
    let filter = night.template["Resources"]["NightOverdueMetricFilter"]["Properties"]
        ["FilterPattern"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(filter, "{ $.alarm = \"night-overdue\" }");
    let up = firing(&firings, "ScaleUp", "23:00").at;
    night
        .publish(
            up - SignedDuration::from_mins(30),
            up + SignedDuration::from_hours(10),
            4.0,
        )
        .await;

    let log = CapturedLog::default();
    let settings = nightshift::logging::LogSettings::from_vars(|name| {
        (name == "AWS_LAMBDA_LOG_FORMAT").then(|| "JSON".to_string())
    });
    let _guard =
        tracing::subscriber::set_default(nightshift::logging::subscriber(&settings, log.clone()));
    assert_eq!(
        night
            .deliver(&firing(&firings, "ScaleUp", "23:00"), 0)
            .await
            .outcome,
        Outcome::Acted
    );
    let inside = night.deliver(&firing(&firings, "Checks", "01:00"), 0).await;
    assert_eq!(inside.outcome, Outcome::Deferred, "{inside:?}");
    let lines = |log: &CapturedLog| -> Vec<Value> {
        String::from_utf8(log.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect()
    };
    let overdue = |lines: &[Value]| -> Vec<Value> {
        lines
            .iter()
            .filter(|l| l["alarm"] == "night-overdue")
            .cloned()
            .collect()
    };
    assert!(
        overdue(&lines(&log)).is_empty(),
        "no alarm line inside the night"
    );
    let late = night
        .deliver(&firing(&firings, "OverdueCheck", "08:00"), 0)
        .await;
    assert_eq!(
        late.outcome,
        Outcome::Acted,
        "the overdue check closes the night: {late:?}"
    );
    let alarms = overdue(&lines(&log));
    assert_eq!(alarms.len(), 1, "{alarms:?}");
    assert_eq!(alarms[0]["level"], "WARN");
    assert_eq!(alarms[0]["scenario"], "nightly");
    assert_eq!(alarms[0]["minutes_past_deadline"], 30);
    assert!(alarms[0]["timestamp"].is_string() && alarms[0]["message"].is_string());
}
