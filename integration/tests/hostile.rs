//! Hostile input (RELIABILITY.md, "Hostile input"): every file of `integration/fixtures/hostile/` through the real
//! `bootstrap` binary.
//!
//! Events are handed to a running bootstrap by the Runtime API host
//! (`integration/support/src/host/`), in the Lambda-like sandbox when it can run (else as a plain
//! child process, announced), with the AWS endpoint pointed at a recording proxy in front of the
//! emulator: every AWS call the function makes is seen on the wire and attributed to the input
//! that caused it. Configs go through bootstrap init (`POST /runtime/init/error`) and through
//! `nightshift validate`.
//!
//! Per input the test asserts the answer documented in `manifest.json` (the `errorType`, the
//! reject code the message starts with, a fragment of the message; or the outcome and reason of a
//! response), the exact DynamoDB writes (a rejection is recorded: one PutItem), zero mutating
//! ECS / Application Auto Scaling / DocumentDB / CloudWatch calls, no panic, and that the process
//! keeps serving. After the corpus it reads the bootstrap's peak RSS (`VmHWM`) and checks the
//! scene's AWS state is still the day-time baseline. Entries marked `bug` are known gaps: today's
//! answer (`current`) is accepted and reported as such until the fix makes `expect` true.
//!
//! `cargo test --test integration hostile_ -- --nocapture` prints the table.

use crate::support::{host, scene};
use crate::{harness, support};
use host::{Answer, Function, HttpRequest, HttpResponse, ImageRoot, Launch, Modes};
use scene::Scene;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Peak RSS the bootstrap may reach over the whole corpus (it idles at ~20 MiB).
const RSS_BOUND_KIB: u64 = 200 * 1024;

fn fixtures() -> PathBuf {
    host::repo_root().join("integration/fixtures/hostile")
}

// ---------------------------------------------------------------------------------------------
// The manifest
// ---------------------------------------------------------------------------------------------

/// One corpus entry with its bytes.
pub struct Entry {
    pub file: String,
    pub kind: String,
    pub category: String,
    pub app_env: String,
    pub expect: Value,
    pub current: Option<Value>,
    pub bug: Option<String>,
    pub meta: Value,
    pub bytes: Vec<u8>,
    /// A config's holiday file, written beside it as `holidays.ics`.
    pub holidays: Option<Vec<u8>>,
}

/// The manifest's entries, generated ones built from their parts.
pub fn corpus() -> Vec<Entry> {
    let path = fixtures().join("manifest.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let manifest: Value = serde_json::from_str(&text).expect("manifest.json is JSON");
    let entries = manifest["entries"]
        .as_array()
        .expect("manifest has entries");
    entries
        .iter()
        .map(|e| {
            let file = e["file"].as_str().expect("entry file").to_string();
            let bytes = match e.get("generate") {
                Some(parts) => generate(parts),
                None => std::fs::read(fixtures().join(&file))
                    .unwrap_or_else(|err| panic!("{file}: {err}")),
            };
            let text = |k: &str| e[k].as_str().map(str::to_string);
            let holidays = match (e.get("holidays_generate"), text("holidays")) {
                (Some(parts), _) => Some(generate(parts)),
                (None, Some(file)) => Some(
                    std::fs::read(fixtures().join(&file))
                        .unwrap_or_else(|err| panic!("{file}: {err}")),
                ),
                (None, None) => None,
            };
            Entry {
                kind: text("kind").expect("entry kind"),
                category: text("category").expect("entry category"),
                app_env: text("app_env").unwrap_or_else(|| "prod".into()),
                expect: e["expect"].clone(),
                current: e.get("current").cloned(),
                bug: text("bug").or_else(|| text("bug_message")),
                meta: e.clone(),
                file,
                bytes,
                holidays,
            }
        })
        .collect()
}

/// Builds a generated file: `text` parts as is, `repeat` parts `times` times, `repeat_numbered`
/// parts with `{n}` replaced by 0..times.
fn generate(parts: &Value) -> Vec<u8> {
    let mut out = String::new();
    for part in parts.as_array().expect("generate is a list") {
        if let Some(text) = part["text"].as_str() {
            out.push_str(text);
        }
        let times = part["times"].as_u64().unwrap_or(0) as usize;
        if let Some(unit) = part["repeat"].as_str() {
            out.push_str(&unit.repeat(times));
        }
        if let Some(template) = part["repeat_numbered"].as_str() {
            for n in 0..times {
                out.push_str(&template.replace("{n}", &n.to_string()));
            }
        }
    }
    out.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The recording proxy: every AWS call, on the wire
// ---------------------------------------------------------------------------------------------

/// One AWS call seen by the proxy.
#[derive(Debug, Clone)]
pub struct Call {
    pub service: String,
    pub operation: String,
}

impl Call {
    fn is_read(&self) -> bool {
        ["Describe", "Get", "List", "BatchGet", "Query", "Scan"]
            .iter()
            .any(|p| self.operation.starts_with(p))
    }

    /// A DynamoDB write: the guard and the run history, nightshift's own table.
    pub fn is_table_write(&self) -> bool {
        self.service == "dynamodb" && !self.is_read()
    }

    /// A call that changes AWS resources: ECS, Application Auto Scaling, DocumentDB (rds),
    /// CloudWatch, anything but reads and the table.
    pub fn is_mutating(&self) -> bool {
        self.service != "dynamodb" && self.service != "sts" && !self.is_read()
    }
}

/// Service (from the SigV4 credential scope) and operation (X-Amz-Target, the Query protocol's
/// `Action`, or the RPC v2 CBOR path) of a request.
fn classify(request: &HttpRequest) -> Call {
    let service = request
        .header("authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("?")
        .to_string();
    let operation = if let Some(target) = request.header("x-amz-target") {
        target.rsplit('.').next().unwrap_or(target).to_string()
    } else if let Some(op) = request.path.split("/operation/").nth(1) {
        op.split('?').next().unwrap_or(op).to_string()
    } else {
        String::from_utf8_lossy(&request.body)
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .unwrap_or("?")
            .to_string()
    };
    Call { service, operation }
}

/// An HTTP proxy on loopback that forwards every request to the emulator and records it.
pub struct RecordingProxy {
    pub server: host::HttpServer,
    pub calls: Arc<Mutex<Vec<Call>>>,
}

impl RecordingProxy {
    pub async fn start(upstream: &str) -> RecordingProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&calls);
        let server = host::serve_http(move |request| {
            let upstream = upstream.clone();
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().push(classify(&request));
                forward(&upstream, request).await.unwrap_or_else(|e| {
                    HttpResponse::new(502, format!("recording proxy: upstream failed: {e}"))
                })
            }
        })
        .await
        .expect("start the recording proxy");
        RecordingProxy { server, calls }
    }

    pub fn len(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    pub fn since(&self, start: usize) -> Vec<Call> {
        self.calls.lock().unwrap()[start..].to_vec()
    }
}

/// One request to `upstream` (`host:port`) over a fresh connection, answer read to EOF.
async fn forward(upstream: &str, request: HttpRequest) -> std::io::Result<HttpResponse> {
    let mut stream = tokio::net::TcpStream::connect(upstream).await?;
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.path);
    for (name, value) in &request.headers {
        if !["connection", "content-length", "transfer-encoding"].contains(&name.as_str()) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!(
        "connection: close\r\ncontent-length: {}\r\n\r\n",
        request.body.len()
    ));
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&request.body).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let bad = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status"))?;
    let mut response = HttpResponse::new(status, Vec::new());
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        let lower = name.to_ascii_lowercase();
        if lower == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
        if !["connection", "content-length", "transfer-encoding"].contains(&lower.as_str()) {
            response = response.header(name, value);
        }
    }
    if chunked {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    }
    response.body = body;
    Ok(response)
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..eol]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The function under test
// ---------------------------------------------------------------------------------------------

/// The bootstrap under test (as lambda.rs chooses it), copied once per test run: the corpus
/// starts it dozens of times, and a concurrent `cargo build` in a shared target directory must
/// not swap the binary in the middle.
fn bootstrap() -> PathBuf {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let debug = PathBuf::from(env!("CARGO_BIN_EXE_bootstrap"));
        let (path, note) = host::locate_bootstrap(Some(&debug)).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("hostile tests run bootstrap: {note}");
        stable_copy(&path, "bootstrap")
    })
    .clone()
}

/// The sandbox when it can run; a plain child process otherwise (announced; CI requires the
/// sandbox, as lambda.rs does).
fn launch() -> Launch {
    match host::sandbox_unavailable() {
        None => Launch::Sandboxed,
        Some(reason) => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(!ci, "the Lambda-like sandbox cannot run under CI: {reason}");
            eprintln!("hostile: the sandbox cannot run ({reason}); bootstrap runs as a plain child process");
            Launch::Direct
        }
    }
}

fn function_env(table: &str, endpoint: &str, app_env: &str) -> Vec<(String, String)> {
    [
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDNIGHTSHIFTTEST"),
        ("AWS_SECRET_ACCESS_KEY", "nightshift-test-secret"),
        ("AWS_SESSION_TOKEN", "nightshift-test-session"),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("APP_ENV", app_env),
        ("NIGHTSHIFT_TABLE", table),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

async fn start(name: &str, config: &str, env: &[(String, String)]) -> Function {
    let root = ImageRoot::build(name, &bootstrap(), config, Modes::default())
        .unwrap_or_else(|e| panic!("laying out the image root: {e}"));
    Function::start(root, launch(), env, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The pid of the bootstrap process served by the Runtime API at `address`.
fn bootstrap_pid(address: &str) -> Option<u32> {
    let needle = format!("AWS_LAMBDA_RUNTIME_API={address}\0");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            if comm.trim() != "bootstrap" {
                return None;
            }
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            environ
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
                .then_some(pid)
        })
}

/// `VmHWM` (peak resident set) of `pid`, in KiB.
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn panicked(function: &Function) -> bool {
    function.stderr.text().contains("panicked") || function.stdout.text().contains("panicked")
}

// ---------------------------------------------------------------------------------------------
// Checking answers
// ---------------------------------------------------------------------------------------------

/// Whether an event's answer and table writes are the ones `expect` documents.
fn check_event(expect: &Value, answer: &Answer, writes: &[String]) -> Result<(), String> {
    let fragment = expect["fragment"].as_str().unwrap_or("");
    match (expect["answer"].as_str(), answer) {
        (Some("error"), Answer::Error(e)) => {
            let want = expect["errorType"].as_str().unwrap_or("NonRetryable");
            if e.error_type != want {
                return Err(format!("errorType {} (want {want})", e.error_type));
            }
            if let Some(code) = expect["code"].as_str() {
                if !e.error_message.starts_with(&format!("{code}: ")) {
                    return Err(format!("message does not start with `{code}: `"));
                }
            }
            if !e.error_message.contains(fragment) {
                return Err(format!("message lacks {fragment:?}"));
            }
        }
        (Some("response"), Answer::Response(r)) => {
            let want = expect["outcome"].as_str().unwrap_or("?");
            if r["outcome"] != want {
                return Err(format!("outcome {} (want {want})", r["outcome"]));
            }
            // The full explanation: `detail` when the response has one, else the reason.
            let explanation = r["detail"]
                .as_str()
                .filter(|d| !d.is_empty())
                .or(r["reason"].as_str())
                .unwrap_or("");
            if !explanation.contains(fragment) {
                return Err(format!("reason lacks {fragment:?}"));
            }
        }
        (want, _) => return Err(format!("a {} answer (want {want:?})", answer_kind(answer))),
    }
    let mut want: Vec<String> = expect["table_writes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let mut got = writes.to_vec();
    want.sort();
    got.sort();
    if want != got {
        return Err(format!("table writes {got:?} (want {want:?})"));
    }
    Ok(())
}

fn answer_kind(answer: &Answer) -> &'static str {
    match answer {
        Answer::Response(_) => "response",
        Answer::Error(_) => "error",
    }
}

fn describe(answer: &Answer) -> String {
    let text = match answer {
        Answer::Response(r) => format!("response {} {:?}", r["outcome"], r["reason"]),
        Answer::Error(e) => format!("error {} {:?}", e.error_type, e.error_message),
    };
    text.chars().take(400).collect()
}

/// Per-category counts for the table.
#[derive(Default, Clone)]
pub struct Tally {
    pub files: usize,
    pub documented: usize,
    pub known_gaps: usize,
    pub mutating: usize,
    pub table_writes: usize,
    pub panics: usize,
}

fn print_table(title: &str, tallies: &BTreeMap<String, Tally>) {
    println!("\n{title}");
    println!(
        "{:<44} {:>5} {:>10} {:>9} {:>8} {:>7} {:>6}",
        "category", "files", "documented", "known gap", "mutating", "table w", "panics"
    );
    let mut total = Tally::default();
    for (category, t) in tallies {
        println!(
            "{:<44} {:>5} {:>10} {:>9} {:>8} {:>7} {:>6}",
            category, t.files, t.documented, t.known_gaps, t.mutating, t.table_writes, t.panics
        );
        total.files += t.files;
        total.documented += t.documented;
        total.known_gaps += t.known_gaps;
        total.mutating += t.mutating;
        total.table_writes += t.table_writes;
        total.panics += t.panics;
    }
    println!(
        "{:<44} {:>5} {:>10} {:>9} {:>8} {:>7} {:>6}",
        "total",
        total.files,
        total.documented,
        total.known_gaps,
        total.mutating,
        total.table_writes,
        total.panics
    );
}

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

#[test]
fn hostile_corpus_has_at_least_60_committed_files_each_with_a_documented_answer() {
    let entries = corpus();
    let committed = entries
        .iter()
        .filter(|e| e.meta.get("generate").is_none())
        .count();
    assert!(committed >= 60, "{committed} committed files");
    let on_disk: usize = ["events", "configs"]
        .iter()
        .map(|d| std::fs::read_dir(fixtures().join(d)).map_or(0, |r| r.count()))
        .sum();
    assert_eq!(
        on_disk, committed,
        "every committed file is in the manifest, once"
    );
    for e in &entries {
        assert!(
            ["event", "config"].contains(&e.kind.as_str()),
            "{}: kind {}",
            e.file,
            e.kind
        );
        if e.kind == "event" {
            assert!(
                e.expect["answer"].is_string() && e.expect["fragment"].is_string(),
                "{}: no documented answer",
                e.file
            );
            assert!(["prod", "test"].contains(&e.app_env.as_str()), "{}", e.file);
        } else {
            assert!(
                e.expect["fragments"]
                    .as_array()
                    .is_some_and(|f| !f.is_empty()),
                "{}: no documented message",
                e.file
            );
        }
        assert_eq!(
            e.meta.get("bug").is_some(),
            e.current.is_some(),
            "{}: a known gap has both `bug` and `current`",
            e.file
        );
    }
    let huge = entries.iter().filter(|e| e.bytes.len() >= 1 << 20).count();
    assert!(huge >= 2, "the 1 MB inputs are generated");
}

#[tokio::test]
async fn hostile_events_get_their_documented_answer_with_no_mutating_call() {
    let cfg = support::sdk_config().await;
    let table = harness::fresh_table().await;
    // A real scene: an event wrongly taken for a scale-up or a scale-down would act on it, and
    // the proxy would see the calls.
    let scene = Scene::unique(&table);
    scene.create(&cfg).await;
    let proxy = RecordingProxy::start(&support::emulator_url()).await;
    let config = scene.config(None);

    let mut functions: BTreeMap<String, Function> = BTreeMap::new();
    for app_env in ["prod", "test"] {
        let env = function_env(&table, &proxy.server.url(), app_env);
        functions.insert(
            app_env.to_string(),
            start(&format!("hostile-{app_env}"), &config, &env).await,
        );
    }

    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut gaps = Vec::new();
    for entry in corpus().into_iter().filter(|e| e.kind == "event") {
        let function = functions
            .get_mut(&entry.app_env)
            .expect("a function per APP_ENV");
        let before = proxy.len();
        let stderr_before = function.stderr.text().len();
        let invoked = function.invoke(entry.bytes.clone()).await;
        let invoked = match invoked {
            Ok(invoked) => invoked,
            Err(e) => panic!("{}: the function did not answer: {e}", entry.file),
        };
        let calls = proxy.since(before);
        let writes: Vec<String> = calls
            .iter()
            .filter(|c| c.is_table_write())
            .map(|c| c.operation.clone())
            .collect();
        let mutating: Vec<&Call> = calls.iter().filter(|c| c.is_mutating()).collect();
        let tally = tallies.entry(entry.category.clone()).or_default();
        tally.files += 1;
        tally.mutating += mutating.len();
        tally.table_writes += writes.len();
        let stderr = function.stderr.text();
        if stderr
            .get(stderr_before..)
            .unwrap_or("")
            .contains("panicked")
        {
            tally.panics += 1;
            failures.push(format!(
                "{}: a panic: {}",
                entry.file,
                &stderr[stderr_before..]
            ));
        }
        if !mutating.is_empty() {
            failures.push(format!("{}: mutating calls {mutating:?}", entry.file));
        }
        if let (Some(max), Answer::Error(e)) =
            (entry.meta["max_message_bytes"].as_u64(), &invoked.answer)
        {
            if e.error_message.len() as u64 > max {
                failures.push(format!(
                    "{}: a {}-byte message (at most {max})",
                    entry.file,
                    e.error_message.len()
                ));
            }
        }
        match check_event(&entry.expect, &invoked.answer, &writes) {
            Ok(()) => {
                tally.documented += 1;
                if let Some(bug) = &entry.bug {
                    println!(
                        "FIXED? {} now answers as documented; remove its bug note ({bug})",
                        entry.file
                    );
                }
            }
            Err(why) => match &entry.current {
                Some(current) if check_event(current, &invoked.answer, &writes).is_ok() => {
                    tally.known_gaps += 1;
                    gaps.push(format!(
                        "{}: {} (want: {why}); bug: {}",
                        entry.file,
                        describe(&invoked.answer),
                        entry.bug.as_deref().unwrap_or("")
                    ));
                }
                _ => failures.push(format!(
                    "{}: {why}; got {} with table writes {writes:?}",
                    entry.file,
                    describe(&invoked.answer)
                )),
            },
        }
    }

    // Still serving, and nothing panicked, in either function.
    let mut rss = Vec::new();
    for (app_env, function) in functions.iter_mut() {
        let alive = function
            .invoke(r#"{"scenario": "nightly-batch", "step": "check", "id": "hostile-alive"}"#)
            .await
            .unwrap_or_else(|e| panic!("APP_ENV={app_env}: not serving after the corpus: {e}"));
        assert!(
            matches!(alive.answer, Answer::Response(_)),
            "APP_ENV={app_env}: {:?}",
            alive.answer
        );
        if panicked(function) {
            failures.push(format!(
                "APP_ENV={app_env}: a panic:\n{}",
                function.stderr.text()
            ));
        }
        let pid = bootstrap_pid(&function.api.address())
            .unwrap_or_else(|| panic!("no bootstrap process for APP_ENV={app_env}"));
        let hwm = vm_hwm_kib(pid).expect("VmHWM of the bootstrap");
        rss.push((app_env.clone(), pid, hwm));
    }
    let after = scene.state(&cfg).await;

    print_table(
        "hostile events (real bootstrap via the Runtime API; calls seen by a recording proxy)",
        &tallies,
    );
    for (app_env, pid, hwm) in &rss {
        println!(
            "peak RSS (VmHWM) of bootstrap APP_ENV={app_env} (pid {pid}) after the corpus: {:.1} MiB (bound {} MiB)",
            *hwm as f64 / 1024.0,
            RSS_BOUND_KIB / 1024
        );
    }
    println!("AWS state after the corpus: {after}");
    for gap in &gaps {
        println!("KNOWN GAP {gap}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for (app_env, _, hwm) in &rss {
        assert!(
            *hwm < RSS_BOUND_KIB,
            "APP_ENV={app_env}: peak RSS {hwm} KiB"
        );
    }
    assert!(
        after.is_baseline(),
        "the corpus changed the AWS state: {after}"
    );
}

/// The validate CLI on one config file: (exit code, stderr, peak RSS in KiB when measurable).
fn validate(path: &Path) -> (Option<i32>, String, Option<u64>) {
    // python3's getrusage(RUSAGE_CHILDREN) gives the child's peak RSS without a libc dependency.
    let script = "import resource,subprocess,sys\n\
                  r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE)\n\
                  sys.stderr.buffer.write(r.stderr)\n\
                  sys.stderr.write('\\nMAXRSS_KIB=%d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
                  sys.exit(r.returncode if r.returncode >= 0 else 128 - r.returncode)\n";
    let nightshift = nightshift_cli();
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&nightshift)
        .args(["validate", "--config"])
        .arg(path)
        .output();
    match output {
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            let (text, rss) = match stderr.rsplit_once("\nMAXRSS_KIB=") {
                Some((text, rss)) => (text.to_string(), rss.trim().parse().ok()),
                None => (stderr, None),
            };
            (out.status.code(), text, rss)
        }
        Err(_) => {
            let out = harness::run(cli().args(["validate", "--config"]).arg(path));
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).to_string(),
                None,
            )
        }
    }
}

#[tokio::test]
async fn hostile_configs_fail_init_and_validate_with_their_specific_message() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut gaps = Vec::new();
    let mut peak_validate: u64 = 0;
    let mut largest_message = (0usize, String::new());
    for entry in corpus().into_iter().filter(|e| e.kind == "config") {
        let tally = tallies.entry(entry.category.clone()).or_default();
        tally.files += 1;
        let name = entry.file.replace('/', "-");
        let path = dir.path().join(&name);
        std::fs::write(&path, &entry.bytes).expect("write the config");
        let beside = dir.path().join("holidays.ics");
        match &entry.holidays {
            Some(ics) => std::fs::write(&beside, ics).expect("write the holiday file"),
            None => {
                let _ = std::fs::remove_file(&beside);
            }
        }
        let fragments: Vec<String> = entry.expect["fragments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let expected_type = entry.expect["errorType"]
            .as_str()
            .unwrap_or("NonRetryable.InvalidConfig");
        let accepted_today = entry.current.as_ref().and_then(Value::as_str) == Some("accepted");

        // bootstrap init: the same bytes as /var/task/nightshift.toml.
        let root = ImageRoot::build("hostile-config", &bootstrap(), "", Modes::default())
            .unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(root.task_dir().join("nightshift.toml"), &entry.bytes)
            .expect("write the image's config");
        if let Some(ics) = &entry.holidays {
            std::fs::write(root.task_dir().join("holidays.ics"), ics)
                .expect("write the image's holiday file");
        }
        let env = function_env("hostile-unused", "http://127.0.0.1:9", "prod");
        let mut function = Function::start(root, launch(), &env, false)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let report = function.init_error().await;
        let mut problems = Vec::new();
        let mut gap = false;
        let mut init_ok = false;
        match &report {
            Some(report) => {
                if report.error_type != expected_type {
                    problems.push(format!("init errorType {}", report.error_type));
                }
                if report.header.as_deref() != Some(expected_type) {
                    problems.push(format!("init error header {:?}", report.header));
                }
                for f in &fragments {
                    if !report.error_message.contains(f.as_str()) {
                        problems.push(format!("init message lacks {f:?}"));
                    }
                }
                if report.error_message.len() > largest_message.0 {
                    largest_message = (report.error_message.len(), entry.file.clone());
                }
                if entry.meta["escaped"].as_bool() == Some(true)
                    && report.error_message.chars().any(raw_control_or_bidi)
                {
                    let raw = format!(
                        "{}: init message holds raw control or bidi characters; bug: {}",
                        entry.file,
                        entry.bug.as_deref().unwrap_or("")
                    );
                    if entry.bug.is_some() {
                        gaps.push(raw);
                        gap = true;
                    } else {
                        problems.push(raw);
                    }
                }
                if let Some(max) = entry.meta["max_message_bytes"].as_u64() {
                    if report.error_message.len() as u64 > max {
                        let too_long = format!(
                            "{}: init message is {} bytes (want at most {max}); bug: {}",
                            entry.file,
                            report.error_message.len(),
                            entry.bug.as_deref().unwrap_or("")
                        );
                        if entry.bug.is_some() {
                            gaps.push(too_long);
                            gap = true;
                        } else {
                            problems.push(too_long);
                        }
                    }
                }
                match function.wait_exit().await {
                    Some(status) if !status.success() => {}
                    other => problems.push(format!("bootstrap did not exit non-zero: {other:?}")),
                }
                if function.api.next_calls() != 0 {
                    problems.push("bootstrap asked for an event after a failed init".into());
                }
            }
            None => {
                init_ok = function.api.next_calls() > 0;
                if !accepted_today {
                    problems.push(format!(
                        "no init error ({})",
                        if init_ok {
                            "init succeeded"
                        } else {
                            "no answer"
                        }
                    ));
                }
            }
        }
        if panicked(&function) {
            tally.panics += 1;
            problems.push(format!("panic: {}", function.stderr.text()));
        }
        drop(function);

        // nightshift validate.
        let (code, stderr, rss) = validate(&path);
        peak_validate = peak_validate.max(rss.unwrap_or(0));
        if stderr.contains("panicked") {
            tally.panics += 1;
            problems.push(format!("validate panicked: {stderr}"));
        }
        let validate_ok = code == Some(0);
        if report.is_some() {
            if code != Some(2) {
                problems.push(format!("validate exit {code:?}: {}", excerpt(&stderr)));
            }
            for f in &fragments {
                if !stderr.contains(f.as_str()) {
                    problems.push(format!("validate output lacks {f:?}"));
                }
            }
        }

        if report.is_none() && accepted_today && init_ok && validate_ok {
            gap = true;
            gaps.push(format!(
                "{}: accepted by init and validate (want a rejection naming {fragments:?}); bug: {}",
                entry.file,
                entry.bug.as_deref().unwrap_or("")
            ));
        }
        if !problems.is_empty() {
            failures.push(format!("{}: {}", entry.file, problems.join("; ")));
        } else if gap {
            tally.known_gaps += 1;
        } else {
            tally.documented += 1;
        }
    }
    print_table(
        "hostile configs (bootstrap init via the Runtime API, and `nightshift validate`)",
        &tallies,
    );
    println!(
        "peak RSS of `nightshift validate` over the configs: {}; largest init error message: {} bytes ({})",
        if peak_validate > 0 {
            format!("{:.1} MiB", peak_validate as f64 / 1024.0)
        } else {
            "n/a (no python3)".into()
        },
        largest_message.0,
        largest_message.1
    );
    for gap in &gaps {
        println!("KNOWN GAP {gap}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        peak_validate < RSS_BOUND_KIB,
        "validate peak RSS {peak_validate} KiB"
    );
}

/// The nightshift CLI, copied once per test run for the same reason as [`bootstrap`].
fn nightshift_cli() -> PathBuf {
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| {
        let built = PathBuf::from(env!("CARGO_BIN_EXE_nightshift"));
        stable_copy(&built, "nightshift")
    })
    .clone()
}

/// A copy of `source` under `target/hostile-bin/`, named after its size and modification time:
/// made once per build (older copies are removed), shared by every test of the run.
fn stable_copy(source: &Path, label: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| host::repo_root().join("target"));
    let dir = target.join("hostile-bin");
    std::fs::create_dir_all(&dir).expect("create target/hostile-bin");
    let meta = std::fs::metadata(source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let name = format!("{label}-{}-{modified}", meta.len());
    let dest = dir.join(&name);
    if !dest.is_file() {
        let partial = dir.join(format!("{name}.partial-{}", std::process::id()));
        std::fs::copy(source, &partial)
            .unwrap_or_else(|e| panic!("copying {}: {e}", source.display()));
        std::fs::rename(&partial, &dest).expect("rename the copy into place");
        for old in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let file = old.file_name().to_string_lossy().into_owned();
            // Copies of earlier builds, once no run of an hour ago can still be using them.
            let stale = old
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if file.starts_with(&format!("{label}-")) && file != name && stale {
                let _ = std::fs::remove_file(old.path());
            }
        }
    }
    dest
}

/// The copied CLI with the environment `harness::cli` gives (emulator, test credentials, nothing
/// of the developer's AWS setup).
fn cli() -> std::process::Command {
    let mut cmd = std::process::Command::new(nightshift_cli());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", support::emulator_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDNIGHTSHIFTTEST")
        .env("AWS_SECRET_ACCESS_KEY", "nightshift-test-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/nightshift-test/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/nightshift-test/credentials",
        );
    cmd
}

/// A character that must not reach a terminal or a log line raw (new lines separate the message
/// from its hint and are fine).
fn raw_control_or_bidi(c: char) -> bool {
    (c.is_control() && c != '\n')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn excerpt(text: &str) -> String {
    text.chars().take(300).collect()
}

// ---------------------------------------------------------------------------------------------
// Regression tests of the bugs the corpus found (pure functions, in process), fixed in c5c4aab:
// duplicate JSON keys, an unrecordable unknown-field rejection, unvalidated resource names, and
// config messages that echoed huge or raw (control, bidi) values.
// ---------------------------------------------------------------------------------------------

#[test]
fn duplicate_keys_in_an_event_are_rejected_not_resolved_last_one_wins() {
    // Read as {"step": "scale-up"} today: a filter or log that reads the first value sees a check.
    let payload = br#"{"scenario": "nightly-batch", "step": "check", "step": "scale-up"}"#;
    let rejection = nightshift::event::parse(payload)
        .expect_err("an event with a duplicate key must be rejected");
    assert!(rejection.message.contains("duplicate"), "{rejection}");
    assert!(rejection.message.contains("step"), "{rejection}");
}

#[test]
fn wildcards_and_path_traversal_in_resource_names_are_rejected_by_the_config() {
    let contract = harness::CONTRACT_CONFIG;
    for (from, to) in [
        (r#"cluster = "batch-db""#, r#"cluster = "*""#),
        (r#"service = "worker""#, r#"service = "../../worker""#),
        (r#"cluster = "batch""#, r#"cluster = "batch/*""#),
    ] {
        let text = contract.replace(from, to);
        assert_ne!(text, contract, "{from}");
        let errors = nightshift::config::parse(&text, "names.toml")
            .expect_err("a resource name AWS would refuse (or a wildcard) must be rejected");
        assert!(
            errors
                .to_string()
                .contains(to.split('"').nth(1).unwrap_or("")),
            "{errors}"
        );
    }
}

#[test]
fn config_messages_echo_at_most_a_short_excerpt_of_a_huge_value() {
    let text = harness::CONTRACT_CONFIG.replace(
        r#"table = "nightshift-runs""#,
        &format!(r#"table = "{}""#, "x/".repeat(512 * 1024)),
    );
    let errors = nightshift::config::parse(&text, "huge.toml").expect_err("an invalid table name");
    let message = errors.to_string();
    assert!(message.len() < 8 * 1024, "{} bytes", message.len());
}

#[test]
fn config_messages_escape_control_and_bidi_characters() {
    for name in [
        "nightly\\u0000batch",
        "nightly\\u202ebatch",
        "\\u001b[2Jnightly",
    ] {
        let text = harness::CONTRACT_CONFIG
            .replace(r#"name = "nightly-batch""#, &format!(r#"name = "{name}""#));
        let errors = nightshift::config::parse(&text, "raw.toml").expect_err("a bad name");
        let message = errors.to_string();
        assert!(
            !message.chars().any(raw_control_or_bidi),
            "raw character in {message:?}"
        );
    }
}

#[test]
fn a_rejection_message_stays_short_however_many_unknown_fields() {
    let mut payload = String::from(r#"{"scenario": "nightly-batch", "step": "check""#);
    for n in 0..2000 {
        payload.push_str(&format!(r#", "{}{n}": 0"#, r#"\""#.repeat(59)));
    }
    payload.push('}');
    assert!(payload.len() <= nightshift::event::MAX_EVENT_BYTES);
    let rejection = nightshift::event::parse(payload.as_bytes()).expect_err("unknown fields");
    assert_eq!(rejection.code, nightshift::event::RejectCode::UnknownField);
    assert!(
        rejection.message.len() < 4096,
        "{} bytes: the record of this rejection must fit in a DynamoDB item",
        rejection.message.len()
    );
}

/// The rehearsal clock through the CLI: `nightshift invoke --now` under `APP_ENV=prod` is refused
/// before any AWS call; the same command outside prod acts (so the proxy would see a mutation).
#[tokio::test]
async fn hostile_cli_invoke_now_is_refused_in_prod_with_no_aws_call() {
    let cfg = support::sdk_config().await;
    let table = harness::fresh_table().await;
    let scene = Scene::unique(&table);
    scene.create(&cfg).await;
    let proxy = RecordingProxy::start(&support::emulator_url()).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = dir.path().join("nightshift.toml");
    std::fs::write(&config, scene.config(None)).expect("write the config");
    let event = dir.path().join("scale-up.json");
    std::fs::write(
        &event,
        r#"{"scenario": "nightly-batch", "step": "scale-up"}"#,
    )
    .expect("write the event");
    let now = jiff::Timestamp::now().to_string();
    let invoke = |app_env: &str| {
        let mut cmd = cli();
        cmd.env("AWS_ENDPOINT_URL", proxy.server.url())
            .env("NIGHTSHIFT_TABLE", &table)
            .env("APP_ENV", app_env)
            .args(["invoke", "--config"])
            .arg(&config)
            .arg("--event")
            .arg(&event)
            .args(["--now", &now]);
        cmd
    };

    let mut prod = invoke("prod");
    let out = tokio::task::spawn_blocking(move || harness::run(&mut prod))
        .await
        .expect("the CLI ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--now is for rehearsals and tests and is refused when APP_ENV=prod"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let calls_in_prod = proxy.len();
    assert_eq!(calls_in_prod, 0, "{:?}", proxy.since(0));
    assert!(scene.state(&cfg).await.is_baseline());

    // Outside prod the same rehearsal acts: the proxy sees its mutating calls.
    let mut rehearsal = invoke("test");
    let out = tokio::task::spawn_blocking(move || harness::run(&mut rehearsal))
        .await
        .expect("the CLI ran");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mutating = proxy.since(0).iter().filter(|c| c.is_mutating()).count();
    assert!(
        mutating > 0,
        "the rehearsal scaled up: {:?}",
        proxy.since(0)
    );
    println!(
        "nightshift invoke --now: APP_ENV=prod refused (exit 2) with {calls_in_prod} AWS calls; APP_ENV=test acted with {mutating} mutating calls"
    );
}
