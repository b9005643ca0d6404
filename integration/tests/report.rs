//! `nightshift history` and `nightshift show` end to end: the demo night of
//! integration/fixtures/report/demo-night.json (built by the unit tests of src/report/tests/demo.rs from the
//! gate's own evidence) is loaded into a fresh table on the emulator, the real CLI binary reads it
//! back, and its output must equal the snapshots the unit tests compare. The HTML report is then
//! rendered in headless Chromium (Debian's `chromium`): a screenshot is taken and the DOM checked.

use crate::harness::{cli, fails, ok};
use crate::support;
use nightshift::aws::dynamodb::DynamoStore;
use nightshift::aws::Timeouts;
use nightshift::history::{OpenRun, RunStatus};
use nightshift::ports::HistoryStore;
use nightshift::report::{EventView, HistoryReport, NightReport, RunView};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The demo fixture, as src/report/tests/demo.rs writes it.
#[derive(Deserialize)]
struct Demo {
    now: jiff::Timestamp,
    runs: Vec<RunView>,
    events: Vec<EventView>,
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("integration/fixtures")
        .join(name)
}

fn fixture(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (`cargo test --lib report` writes the report fixtures with UPDATE_SNAPSHOTS=1)", path.display()))
}

/// A fresh table holding the demo's runs and events, written as the app writes them: each run
/// opened, its events recorded, then closed (oldest first, so each scenario has one open run at
/// most).
async fn demo_table() -> (String, Demo) {
    let table = crate::harness::fresh_table().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&support::sdk_config().await),
        &table,
        Timeouts::default(),
    );
    let demo: Demo = serde_json::from_str(&fixture("report/demo-night.json"))
        .expect("demo-night.json holds the demo");
    let mut runs = demo.runs.clone();
    runs.sort_by_key(|r| r.opened_at);
    for run in &runs {
        let mut opening = run.to_record();
        opening.status = RunStatus::Open;
        opening.closed_at = None;
        assert_eq!(
            store.open_run(&opening).await.expect("open_run"),
            OpenRun::Opened
        );
        for event in demo.events.iter().filter(|e| {
            e.scenario.as_deref() == Some(&run.scenario) && e.run.as_deref() == Some(&run.run)
        }) {
            store
                .record_event(&event.to_record())
                .await
                .expect("record_event");
        }
        if let Some(closed) = run.closed_at {
            store
                .close_run(&run.scenario, &run.run, closed, &run.summary)
                .await
                .expect("close_run");
        }
    }
    (table, demo)
}

fn contract_config() -> String {
    fixture_path("config/contract.toml").display().to_string()
}

#[tokio::test]
async fn history_and_show_print_the_demo_night_as_the_snapshots_say() {
    let (table, demo) = demo_table().await;
    let now = demo.now.to_string();
    let base = ["--table", table.as_str(), "--now", now.as_str()];

    let table_out = ok(cli().arg("history").args(base));
    assert_eq!(table_out, fixture("report/history.txt"));
    let json_out = ok(cli().args(["history", "--output", "json"]).args(base));
    assert_eq!(json_out, fixture("report/history.json"));
    let parsed: HistoryReport = serde_json::from_str(&json_out).expect("history JSON parses");
    assert_eq!(parsed.runs.len(), 6);
    assert_eq!(parsed.next, None);

    let config = contract_config();
    let night = [
        "show",
        "nightly-batch",
        "2026-11-25",
        "--config",
        config.as_str(),
    ];
    assert_eq!(ok(cli().args(night).args(base)), fixture("report/show.txt"));
    // Without the config there is no time zone: UTC only.
    assert_eq!(
        ok(cli()
            .args(["show", "nightly-batch", "2026-11-25"])
            .args(base)),
        fixture("report/show-utc.txt")
    );
    let json_out = ok(cli().args(night).args(["--output", "json"]).args(base));
    assert_eq!(json_out, fixture("report/show.json"));
    let parsed: NightReport = serde_json::from_str(&json_out).expect("show JSON parses");
    assert_eq!(parsed.events.len(), 9);

    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("night.html");
    let html_arg = html.display().to_string();
    ok(cli()
        .args(night)
        .args(["--output", "html", "--out", html_arg.as_str()])
        .args(base));
    let written = std::fs::read_to_string(&html).expect("the HTML report was written");
    assert_eq!(written, fixture("report/show.html"));
}

/// A call an idempotent retry found already done (`ok: already exists`), recorded as the app
/// records it: `show` reads it as done in the table, the JSON and the HTML, never as a failure.
#[tokio::test]
async fn show_reads_a_call_already_done_as_done() {
    let (table, demo) = demo_table().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&support::sdk_config().await),
        &table,
        Timeouts::default(),
    );
    // A retried scale-up of the demo night: its reader had been created by the first delivery.
    let mut event = demo.events[0].to_record();
    event.key = "nightly-batch/scale-up/2026-11-25T13:00:00Z#retry".into();
    event.received_at += jiff::SignedDuration::from_secs(60);
    event.finished_at += jiff::SignedDuration::from_secs(60);
    event.reason = "1 call already done".into();
    event.detail = String::new();
    event.actions.truncate(2);
    event.actions[1].result = "ok: already exists".into();
    store.record_event(&event).await.expect("record_event");

    let now = demo.now.to_string();
    let base = ["--table", table.as_str(), "--now", now.as_str()];
    let night = ["show", "nightly-batch", "2026-11-25"];
    let text = ok(cli().args(night).args(base));
    // The call's line may wrap: compare the words.
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("docdb CreateDBInstance batch-db-nightly-batch-r1: reader db.r6g.large in batch-db [done: already exists]"),
        "{text}"
    );
    assert!(!flat.contains("[error"), "{text}");

    let json_out = ok(cli().args(night).args(["--output", "json"]).args(base));
    let parsed: serde_json::Value = serde_json::from_str(&json_out).expect("show JSON parses");
    let retried = parsed["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["key"] == event.key.as_str()))
        .unwrap_or_else(|| panic!("the retried event is not in the JSON: {json_out}"));
    assert_eq!(retried["actions"][1]["result"], "ok: already exists");
    assert_eq!(retried["actions"][1]["status"], "already-done");
    assert_eq!(retried["actions"][0]["status"], "done");

    let html = ok(cli().args(night).args(["--output", "html"]).args(base));
    let item = html
        .split("<li class=\"event ")
        .find(|item| item.contains("#retry"))
        .unwrap_or_else(|| panic!("the retried event is not in the HTML"));
    assert!(
        item.starts_with("outcome-acted\""),
        "the retried scale-up is marked as an error: {item}"
    );
    assert!(
        item.contains("<li class=\"action already-done\">"),
        "{item}"
    );
    assert!(!item.contains("failed"), "{item}");
}

#[tokio::test]
async fn history_filters_by_scenario_since_and_status_and_pages_with_a_cursor() {
    let (table, demo) = demo_table().await;
    let now = demo.now.to_string();
    let base = ["--table", table.as_str(), "--now", now.as_str()];
    let runs = |args: &[&str]| -> HistoryReport {
        let out = ok(cli()
            .args(["history", "--output", "json"])
            .args(base)
            .args(args));
        serde_json::from_str(&out).expect("history JSON parses")
    };
    let ids = |report: &HistoryReport| -> Vec<String> {
        report
            .runs
            .iter()
            .map(|r| format!("{}/{}", r.scenario, r.run))
            .collect()
    };

    let config = contract_config();
    // One scenario, with its zone from the config and without: the same three nights (the
    // fourth, 2026-11-10, is older than 7d).
    let expected = [
        "nightly-batch/2026-11-26",
        "nightly-batch/2026-11-25",
        "nightly-batch/2026-11-24",
    ];
    assert_eq!(
        ids(&runs(&["--scenario", "nightly-batch", "--config", &config])),
        expected
    );
    assert_eq!(ids(&runs(&["--scenario", "nightly-batch"])), expected);
    // 16 days reach 2026-11-10T14:10Z: the run of that night opened at 13:00, before it.
    assert_eq!(
        ids(&runs(&["--scenario", "nightly-batch", "--since", "16d"])),
        expected
    );
    assert_eq!(
        ids(&runs(&["--scenario", "nightly-batch", "--since", "17d"])).len(),
        4
    );
    assert_eq!(
        ids(&runs(&["--scenario", "reports"])),
        ["reports/2026-11-25.2", "reports/2026-11-25"]
    );
    assert_eq!(
        ids(&runs(&["--status", "open"])),
        ["nightly-batch/2026-11-26"]
    );
    assert_eq!(ids(&runs(&["--status", "closed"])).len(), 5);
    assert_eq!(ids(&runs(&["--since", "1d"])).len(), 3);

    // Pages of two walk the same six runs, newest first, then stop.
    let all = ids(&runs(&[]));
    for scenario in [None, Some("nightly-batch")] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let mut args = vec!["--limit", "2"];
            if let Some(s) = scenario {
                args.extend(["--scenario", s]);
            }
            if let Some(c) = &cursor {
                args.extend(["--cursor", c.as_str()]);
            }
            let page = runs(&args);
            assert!(page.runs.len() <= 2);
            seen.extend(ids(&page));
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        assert!(cursor.is_none(), "paging did not end");
        match scenario {
            None => assert_eq!(seen, all),
            Some(_) => assert_eq!(seen, expected),
        }
    }
    // The table prints the cursor to continue with.
    let table_out = ok(cli().args(["history", "--limit", "2"]).args(base));
    assert!(
        table_out.contains("more runs: repeat the command with\n  --cursor "),
        "{table_out}"
    );
}

#[tokio::test]
async fn ops_commands_say_what_is_wrong_and_what_to_do() {
    let (table, _) = demo_table().await;

    // No table.
    let err = fails(cli().args(["history", "--table", "nightshift-no-such-table"]));
    assert!(
        err.contains("nightshift migrate --table nightshift-no-such-table"),
        "{err}"
    );

    // A cursor that is not one.
    let err = fails(cli().args(["history", "--table", &table, "--cursor", "zz"]));
    assert!(
        err.starts_with("error: invalid --cursor: pass the value printed by the previous page"),
        "{err}"
    );

    // Unknown run, unknown scenario.
    let err = fails(cli().args(["show", "nightly-batch", "2026-11-30", "--table", &table]));
    assert!(
        err.contains("no run 2026-11-30 for scenario nightly-batch")
            && err.contains("`nightshift history --scenario nightly-batch` lists its runs"),
        "{err}"
    );
    let config = contract_config();
    let err = fails(cli().args([
        "show",
        "nightly-bach",
        "2026-11-25",
        "--table",
        &table,
        "--config",
        &config,
    ]));
    assert!(
        err.contains("\"nightly-bach\" is not a scenario of") && err.contains("nightly-batch"),
        "{err}"
    );

    // Nothing listens at the endpoint: the error names the variable that sent it there.
    let err = fails(
        cli()
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
            .args(["history", "--table", &table]),
    );
    assert!(
        err.contains("could not connect") && err.contains("AWS_ENDPOINT_URL=http://127.0.0.1:1"),
        "{err}"
    );
    let err = fails(
        cli()
            .env("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
            .args(["show", "nightly-batch", "2026-11-25", "--table", &table]),
    );
    assert!(
        err.contains("AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:1"),
        "{err}"
    );

    // No region, no credentials: said before any call.
    let err = fails(
        cli()
            .env_remove("AWS_REGION")
            .args(["history", "--table", &table]),
    );
    assert!(err.contains("set AWS_REGION"), "{err}");
    let err = fails(
        cli()
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["history", "--table", &table]),
    );
    assert!(
        err.contains("no AWS credentials") && err.contains("AWS_ACCESS_KEY_ID"),
        "{err}"
    );
}

/// `/usr/bin/chromium`, or None (with a loud message) when it is missing outside CI; in CI a
/// missing browser fails the test.
pub(crate) fn chromium() -> Option<&'static Path> {
    let path = Path::new(CHROMIUM);
    if path.exists() {
        return Some(path);
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    assert!(
        !ci,
        "{CHROMIUM} is missing and CI is set: install it with `apt-get install -y chromium` \
         (integration/test.sh does)"
    );
    eprintln!(
        "\n\
         ************************************************************************************\n\
         * SKIPPED the HTML report rendering test: {CHROMIUM} is not installed.        *\n\
         * Install it with `apt-get install -y chromium` (integration/test.sh does).       *\n\
         ************************************************************************************\n"
    );
    None
}

/// How long one headless chromium run may take before the test gives up on it.
const CHROMIUM_LIMIT: Duration = Duration::from_secs(300);

/// A self-contained page `html` rendered by headless Chromium: a screenshot into `png` (the window
/// `width`x`height`, after the page settles; at least `min_bytes`, or it is taken for blank) and
/// the page's DOM as Chromium built it.
pub(crate) fn rendered(
    browser: &Path,
    html: &Path,
    png: &Path,
    (width, height): (u32, u32),
    min_bytes: usize,
) -> String {
    let _ = std::fs::remove_file(png);
    let url = format!("file://{}", html.display());
    let profile = tempfile::tempdir().expect("chromium profile dir");
    let shot = headless(
        browser,
        profile.path(),
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
            // Let the page finish rendering before the shot (the machine is shared and busy).
            "--virtual-time-budget=5000".to_string(),
            url.clone(),
        ],
    );
    assert!(
        shot.status.success(),
        "chromium --screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(png).expect("screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(
        bytes.len() > min_bytes,
        "{} bytes: a blank page?",
        bytes.len()
    );
    let profile = tempfile::tempdir().expect("chromium profile dir");
    let dom = headless(browser, profile.path(), &["--dump-dom".to_string(), url]);
    assert!(dom.status.success(), "chromium --dump-dom failed");
    String::from_utf8_lossy(&dom.stdout).into_owned()
}

/// Runs headless Chromium with the flags that work on this machine kind (no GPU, no sandbox as
/// root, no background networking: the network is closed), killing it after [`CHROMIUM_LIMIT`].
pub(crate) fn headless(browser: &Path, profile: &Path, args: &[String]) -> Output {
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    // Read stdout on a thread so a large DOM cannot fill the pipe and stall the browser.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).map(|_| buf)
    });
    loop {
        if let Some(status) = child.try_wait().expect("chromium wait") {
            let stdout = reader
                .join()
                .expect("reader thread")
                .expect("chromium stdout");
            let mut stderr = Vec::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_end(&mut e, &mut stderr);
            }
            return Output {
                status,
                stdout,
                stderr,
            };
        }
        // Only a backstop for a browser that hangs: it renders in a second or two on an idle
        // machine, but starting it takes many seconds on a loaded one.
        if started.elapsed() > CHROMIUM_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within {CHROMIUM_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn show_html_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        return;
    };
    let (table, demo) = demo_table().await;
    let now = demo.now.to_string();
    // Kept after the run for a human to look at: target/tmp/report/.
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&out_dir).expect("target/tmp/report");
    let html = out_dir.join("night.html");
    let png = out_dir.join("night.png");
    let _ = std::fs::remove_file(&png);
    let config = contract_config();
    ok(cli().args([
        "show",
        "nightly-batch",
        "2026-11-25",
        "--config",
        &config,
        "--table",
        &table,
        "--now",
        &now,
        "--output",
        "html",
        "--out",
        &html.display().to_string(),
    ]));
    let url = format!("file://{}", html.display());

    let profile = tempfile::tempdir().expect("chromium profile dir");
    let shot = headless(
        browser,
        profile.path(),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,900".to_string(),
            url.clone(),
        ],
    );
    assert!(
        shot.status.success(),
        "chromium --screenshot failed ({}): {}",
        shot.status,
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {} ({e}); chromium said: {}",
            png.display(),
            String::from_utf8_lossy(&shot.stderr)
        )
    });
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is not a PNG",
        png.display()
    );
    assert!(
        bytes.len() > 10 * 1024,
        "{} is only {} bytes: a blank page?",
        png.display(),
        bytes.len()
    );

    let profile = tempfile::tempdir().expect("chromium profile dir");
    let dom = headless(browser, profile.path(), &["--dump-dom".to_string(), url]);
    assert!(dom.status.success(), "chromium --dump-dom failed");
    let dom = String::from_utf8_lossy(&dom.stdout);
    for hook in [
        "id=\"timeline\"",
        "id=\"timeline-chart\"",
        "id=\"metric-plot\"",
        "class=\"metric-chart\"",
        "class=\"threshold\"",
        "class=\"deadline\"",
        "class=\"quiet-window\"",
        "class=\"marker scale-up-requested\"",
        "class=\"marker capacity-ready\"",
        "class=\"marker scale-down-requested\"",
        "class=\"marker scale-down-done\"",
        "class=\"marker drift\"",
        "class=\"marker error\"",
    ] {
        assert!(dom.contains(hook), "the rendered page lacks {hook}");
    }
    assert_eq!(
        dom.matches("<li class=\"event ").count(),
        9,
        "one timeline entry per event"
    );
    assert!(!dom.contains("no metric evidence recorded"));
}
