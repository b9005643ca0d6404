//! The Lambda side of the end-to-end tests and of the nightly demo, without Lambda:
//!
//! - [`RuntimeApi`]: the Lambda Runtime API on loopback (`/2018-06-01/runtime/...`). It hands the
//!   real `bootstrap` process one event per `GET invocation/next` (long-polled, as Lambda does),
//!   with the `Lambda-Runtime-*` headers, and collects what comes back on `invocation/{id}/response`,
//!   `invocation/{id}/error` and `init/error`.
//! - [`ImageRoot`]: `var/task` and `var/runtime` laid out and permissioned as in the container
//!   image (Dockerfile), under `target/`.
//! - [`Function`]: `bootstrap` started from an image root, inside the Lambda-like sandbox of
//!   `sandbox.sh` (a non-root uid, read-only root, writable `/tmp` only) or directly, with the
//!   environment Lambda gives a function, its output captured.
//! - [`serve_http`]: the small HTTP/1.1 server under all of it, also used to fake an AWS endpoint.
//!
//! Shared by `integration/tests/lambda.rs`, `integration/tests/hostile.rs`, the demo
//! (`integration/runtime/night.rs`) and the benchmarks, so that the demo plays the night exactly
//! the way the tests check it.

use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

/// The repository root (this crate is `integration/support/`).
pub fn repo_root() -> PathBuf {
    let support = Path::new(env!("CARGO_MANIFEST_DIR"));
    support.ancestors().nth(2).unwrap_or(support).to_path_buf()
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 server
// ---------------------------------------------------------------------------------------------

/// One HTTP request as received.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP response to send.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> HttpResponse {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// A running [`serve_http`] server; stops when dropped.
pub struct HttpServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve HTTP/1.1 on a free loopback port: every request goes to `handler`, whose answer may
/// take as long as it likes (long polls). Keep-alive and chunked request bodies are supported;
/// nothing else a loopback peer of these tests needs.
pub async fn serve_http<F, Fut>(handler: F) -> io::Result<HttpServer>
where
    F: Fn(HttpRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HttpResponse> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let handler = Arc::new(handler);
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let handler = Arc::clone(&handler);
            connections.spawn(async move {
                let _ = serve_connection(stream, handler.as_ref()).await;
            });
        }
    });
    Ok(HttpServer { addr, task })
}

async fn serve_connection<F, Fut>(stream: TcpStream, handler: &F) -> io::Result<()>
where
    F: Fn(HttpRequest) -> Fut,
    Fut: Future<Output = HttpResponse>,
{
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(request) = read_request(&mut reader).await? {
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let response = handler(request).await;
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            response.status,
            reason(response.status)
        );
        for (name, value) in &response.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", response.body.len()));
        write.write_all(head.as_bytes()).await?;
        write.write_all(&response.body).await?;
        write.flush().await?;
        if close {
            break;
        }
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn bad_data(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Read one request; `None` when the peer closed the connection between requests.
async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
) -> io::Result<Option<HttpRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(bad_data(format!("bad request line {line:?}")));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(bad_data("connection closed inside the headers"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| bad_data(format!("bad header {header:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut request = HttpRequest {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad_data(format!("bad chunk size {line:?}")))?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await?;
            if size == 0 {
                break;
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| bad_data(format!("bad content-length {length:?}")))?;
        request.body = vec![0; length];
        reader.read_exact(&mut request.body).await?;
    }
    Ok(Some(request))
}

// ---------------------------------------------------------------------------------------------
// The Lambda Runtime API
// ---------------------------------------------------------------------------------------------

const API_PREFIX: &str = "/2018-06-01/runtime";

/// The function ARN handed to the function in `Lambda-Runtime-Invoked-Function-Arn`.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:nightshift";

/// An error the function reported: the body of `init/error` or `invocation/{id}/error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    pub error_type: String,
    pub error_message: String,
    /// The `Lambda-Runtime-Function-Error-Type` header, if sent.
    pub header: Option<String>,
}

impl ErrorReport {
    fn from_request(request: &HttpRequest) -> ErrorReport {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let text = |key: &str| body[key].as_str().unwrap_or_default().to_string();
        ErrorReport {
            error_type: text("errorType"),
            error_message: text("errorMessage"),
            header: request
                .header("lambda-runtime-function-error-type")
                .map(str::to_string),
        }
    }
}

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `invocation/{id}/response`: the body as JSON (`Value::String` if it was not JSON).
    Response(Value),
    /// `invocation/{id}/error`.
    Error(ErrorReport),
}

/// One finished invocation.
#[derive(Debug, Clone)]
pub struct Invoked {
    pub request_id: String,
    pub answer: Answer,
}

struct Pending {
    request_id: String,
    payload: Vec<u8>,
}

#[derive(Default)]
struct ApiState {
    queue: Mutex<VecDeque<Pending>>,
    queued: Notify,
    answers: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: Mutex<Option<ErrorReport>>,
    init_failed: Notify,
    next_calls: AtomicUsize,
    /// Requests to paths this host does not serve (a test fails on any).
    unexpected: Mutex<Vec<String>>,
}

/// The Runtime API on a loopback port; stops when dropped.
pub struct RuntimeApi {
    server: HttpServer,
    state: Arc<ApiState>,
    /// Time each invocation is given (`Lambda-Runtime-Deadline-Ms` = now + this).
    pub timeout: Duration,
}

impl RuntimeApi {
    pub async fn start() -> io::Result<RuntimeApi> {
        let state = Arc::new(ApiState::default());
        let timeout = Duration::from_secs(30);
        let handler_state = Arc::clone(&state);
        let server = serve_http(move |request| {
            let state = Arc::clone(&handler_state);
            async move { route(&state, request, timeout).await }
        })
        .await?;
        Ok(RuntimeApi {
            server,
            state,
            timeout,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.server.addr.to_string()
    }

    /// Queue an event under a fresh request ID; the answer arrives through the receiver.
    pub fn enqueue(&self, payload: impl Into<Vec<u8>>) -> (String, oneshot::Receiver<Answer>) {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.state
            .answers
            .lock()
            .unwrap()
            .insert(request_id.clone(), tx);
        self.state.queue.lock().unwrap().push_back(Pending {
            request_id: request_id.clone(),
            payload: payload.into(),
        });
        self.state.queued.notify_one();
        (request_id, rx)
    }

    /// The init error the function reported, if any.
    pub fn init_error(&self) -> Option<ErrorReport> {
        self.state.init_error.lock().unwrap().clone()
    }

    /// Wait up to `timeout` for an init error.
    pub async fn wait_init_error(&self, timeout: Duration) -> Option<ErrorReport> {
        let notified = self.state.init_failed.notified();
        if let Some(report) = self.init_error() {
            return Some(report);
        }
        let _ = tokio::time::timeout(timeout, notified).await;
        self.init_error()
    }

    /// How many times the function asked for its next event.
    pub fn next_calls(&self) -> usize {
        self.state.next_calls.load(Ordering::SeqCst)
    }

    /// Requests this host could not route (method and path).
    pub fn unexpected_requests(&self) -> Vec<String> {
        self.state.unexpected.lock().unwrap().clone()
    }
}

async fn route(state: &ApiState, request: HttpRequest, timeout: Duration) -> HttpResponse {
    let accepted = || HttpResponse::new(202, r#"{"status":"OK"}"#);
    let path = request
        .path
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return unexpected(state, &request);
    };
    match (request.method.as_str(), rest) {
        ("GET", "/invocation/next") => {
            state.next_calls.fetch_add(1, Ordering::SeqCst);
            let event = loop {
                // Register interest before looking, so that a wake-up between the two is kept.
                let queued = state.queued.notified();
                if let Some(event) = state.queue.lock().unwrap().pop_front() {
                    break event;
                }
                queued.await;
            };
            let deadline = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                + timeout;
            HttpResponse::new(200, event.payload)
                .header("Content-Type", "application/json")
                .header("Lambda-Runtime-Aws-Request-Id", event.request_id.clone())
                .header(
                    "Lambda-Runtime-Deadline-Ms",
                    deadline.as_millis().to_string(),
                )
                .header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
                .header(
                    "Lambda-Runtime-Trace-Id",
                    format!(
                        "Root=1-{:08x}-{};Parent={};Sampled=0",
                        deadline.as_secs(),
                        &event.request_id.replace('-', "")[..24],
                        &event.request_id.replace('-', "")[..16]
                    ),
                )
        }
        ("POST", "/init/error") => {
            *state.init_error.lock().unwrap() = Some(ErrorReport::from_request(&request));
            state.init_failed.notify_waiters();
            accepted()
        }
        ("POST", rest) if rest.starts_with("/invocation/") => {
            let rest = &rest["/invocation/".len()..];
            let (id, answer) = if let Some(id) = rest.strip_suffix("/response") {
                let body = serde_json::from_slice(&request.body).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&request.body).into_owned())
                });
                (id, Answer::Response(body))
            } else if let Some(id) = rest.strip_suffix("/error") {
                (id, Answer::Error(ErrorReport::from_request(&request)))
            } else {
                return unexpected(state, &request);
            };
            match state.answers.lock().unwrap().remove(id) {
                Some(waiter) => {
                    let _ = waiter.send(answer);
                    accepted()
                }
                // Lambda answers an unknown or already answered request ID like this.
                None => HttpResponse::new(
                    400,
                    r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
                ),
            }
        }
        _ => unexpected(state, &request),
    }
}

fn unexpected(state: &ApiState, request: &HttpRequest) -> HttpResponse {
    state
        .unexpected
        .lock()
        .unwrap()
        .push(format!("{} {}", request.method, request.path));
    HttpResponse::new(
        404,
        r#"{"errorMessage":"not served by the test Runtime API"}"#,
    )
}

// ---------------------------------------------------------------------------------------------
// The image layout and the sandbox
// ---------------------------------------------------------------------------------------------

/// Where bootstrap lives in the image: `${LAMBDA_RUNTIME_DIR}/bootstrap`, which the base image's
/// entrypoint runs.
pub const BOOTSTRAP_IN_IMAGE: &str = "/var/runtime/bootstrap";
/// Where the config lives in the image (`NIGHTSHIFT_CONFIG`).
pub const CONFIG_IN_IMAGE: &str = "/var/task/nightshift.toml";

/// The file modes of the image (Dockerfile: `COPY --chmod=...`).
#[derive(Debug, Clone, Copy)]
pub struct Modes {
    pub bootstrap: u32,
    pub config: u32,
}

impl Default for Modes {
    fn default() -> Modes {
        Modes {
            bootstrap: 0o755,
            config: 0o644,
        }
    }
}

/// A directory holding `var/runtime/bootstrap` and `var/task/nightshift.toml`, permissioned as in
/// the image. Removed when dropped unless `NIGHTSHIFT_KEEP_SANDBOX=1`.
pub struct ImageRoot {
    pub dir: PathBuf,
}

impl ImageRoot {
    /// Lay out an image root named after `name` under `target/lambda-sandbox/`. The binary is
    /// copied (not linked), so that its mode is the image's and a non-root uid can reach it.
    pub fn build(
        name: &str,
        bootstrap: &Path,
        config: &str,
        modes: Modes,
    ) -> io::Result<ImageRoot> {
        let base = std::env::var_os("NIGHTSHIFT_SANDBOX_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| target_dir().join("lambda-sandbox"));
        let dir = base.join(format!(
            "{name}-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        let task = dir.join("var/task");
        let runtime = dir.join("var/runtime");
        std::fs::create_dir_all(&task)?;
        std::fs::create_dir_all(&runtime)?;
        for d in [&base, &dir, &dir.join("var"), &task, &runtime] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
        }
        let root = ImageRoot { dir };
        root.check_reachable()?;
        std::fs::copy(bootstrap, runtime.join("bootstrap")).map_err(|e| {
            io::Error::new(e.kind(), format!("copying {}: {e}", bootstrap.display()))
        })?;
        std::fs::set_permissions(
            runtime.join("bootstrap"),
            std::fs::Permissions::from_mode(modes.bootstrap),
        )?;
        std::fs::write(task.join("nightshift.toml"), config)?;
        std::fs::set_permissions(
            task.join("nightshift.toml"),
            std::fs::Permissions::from_mode(modes.config),
        )?;
        Ok(root)
    }

    pub fn task_dir(&self) -> PathBuf {
        self.dir.join("var/task")
    }

    /// Every directory above the image root must be searchable by others, or the sandbox's
    /// non-root uid cannot even reach the bind mounts' sources.
    fn check_reachable(&self) -> io::Result<()> {
        for dir in self.dir.ancestors().skip(1) {
            let mode = std::fs::metadata(dir)?.permissions().mode();
            if mode & 0o001 == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} (mode {:o}) is not searchable by others, so the sandbox's non-root uid cannot reach {}; set NIGHTSHIFT_SANDBOX_DIR to a directory under /tmp",
                        dir.display(),
                        mode & 0o777,
                        self.dir.display()
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Drop for ImageRoot {
    fn drop(&mut self) {
        if std::env::var("NIGHTSHIFT_KEEP_SANDBOX").as_deref() != Ok("1") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// `integration/runtime/sandbox.sh`: the one definition of the Lambda-like sandbox.
pub fn sandbox_script() -> PathBuf {
    repo_root().join("integration/runtime/sandbox.sh")
}

/// Why the sandbox cannot run here, if it cannot: bubblewrap missing, or not root (setpriv
/// needs root to drop to the sandbox uid).
pub fn sandbox_unavailable() -> Option<String> {
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
    };
    if !on_path("bwrap") {
        return Some("bubblewrap (bwrap) is not installed: apt-get install -y bubblewrap".into());
    }
    if !on_path("setpriv") {
        return Some("setpriv (util-linux) is not installed".into());
    }
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(str::to_string))
        });
    if uid.as_deref() != Some("0") {
        return Some(format!(
            "the sandbox drops to a non-root uid with setpriv, which needs root; this process runs as uid {}",
            uid.unwrap_or_else(|| "?".into())
        ));
    }
    None
}

/// How bootstrap is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// In the Lambda-like sandbox (sandbox.sh).
    Sandboxed,
    /// As a plain child process (the demo's fallback where bubblewrap is missing).
    Direct,
}

/// Which `bootstrap` binary to run, and a note saying why.
///
/// `NIGHTSHIFT_BOOTSTRAP_BIN` when set (CI builds the release binary and points here); else
/// `target/release/bootstrap` when it is newer than every source file; else `fallback` (the
/// debug binary cargo built for this test run), so that a stale release build is never tested.
pub fn locate_bootstrap(fallback: Option<&Path>) -> Result<(PathBuf, String), String> {
    if let Some(path) = std::env::var_os("NIGHTSHIFT_BOOTSTRAP_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            let note = format!("NIGHTSHIFT_BOOTSTRAP_BIN={}", path.display());
            Ok((path, note))
        } else {
            Err(format!(
                "NIGHTSHIFT_BOOTSTRAP_BIN={} does not exist: build it with `cargo build --release --bin bootstrap`",
                path.display()
            ))
        };
    }
    let release = target_dir().join("release/bootstrap");
    let fresh = modified(&release)
        .is_some_and(|built| newest_source().is_none_or(|source| built >= source));
    if fresh {
        return Ok((
            release,
            "target/release/bootstrap (release build, up to date)".into(),
        ));
    }
    match fallback {
        Some(path) if path.is_file() => Ok((
            path.to_path_buf(),
            format!(
                "{} — NOT the release build ({}); run `cargo build --release --bin bootstrap` or set NIGHTSHIFT_BOOTSTRAP_BIN to test what ships",
                path.display(),
                if release.is_file() { "target/release/bootstrap is older than the sources" } else { "target/release/bootstrap does not exist" }
            ),
        )),
        _ => Err("no bootstrap binary: run `cargo build --release --bin bootstrap` or set NIGHTSHIFT_BOOTSTRAP_BIN".into()),
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The newest modification time of what the binary is built from.
fn newest_source() -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Some(t) = modified(&path) {
                *newest = (*newest).max(Some(t));
            }
        }
    }
    let root = repo_root();
    let mut newest = None;
    walk(&root.join("src"), &mut newest);
    walk(&root.join("migrations"), &mut newest);
    for file in ["Cargo.toml", "Cargo.lock"] {
        newest = newest.max(modified(&root.join(file)));
    }
    newest
}

/// The environment Lambda gives the function (reserved names included, as Lambda sets them),
/// pointed at `runtime_api`. Callers add the AWS endpoint, credentials and nightshift's own.
pub fn lambda_environment(runtime_api: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", "nightshift"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/nightshift"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/25/[$LATEST]local"),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
        ("LAMBDA_TASK_ROOT", "/var/task"),
        ("LAMBDA_RUNTIME_DIR", "/var/runtime"),
        ("TZ", ":UTC"),
        ("LANG", "en_US.UTF-8"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        // The image's own (Dockerfile ENV).
        ("NIGHTSHIFT_CONFIG", CONFIG_IN_IMAGE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Text a child process wrote, collected as it arrives.
#[derive(Clone, Default)]
pub struct Output(Arc<Mutex<String>>);

impl Output {
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    fn collect<R: AsyncRead + Unpin + Send + 'static>(&self, source: R, echo: bool) {
        let sink = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(source).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    eprintln!("    │ {line}");
                }
                let mut text = sink.0.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
    }
}

/// The function: a bootstrap process served by its own Runtime API. Killed when dropped.
pub struct Function {
    pub api: RuntimeApi,
    /// The image root bootstrap runs from, removed when the function is dropped.
    pub root: ImageRoot,
    child: tokio::process::Child,
    pub stdout: Output,
    pub stderr: Output,
}

impl Function {
    /// Start `root`'s bootstrap with Lambda's environment plus `env` (which wins on a clash).
    /// `echo` copies the function's output to standard error as it comes (the demo).
    pub async fn start(
        root: ImageRoot,
        launch: Launch,
        env: &[(String, String)],
        echo: bool,
    ) -> io::Result<Function> {
        let api = RuntimeApi::start().await?;
        let mut command = match launch {
            Launch::Sandboxed => {
                let mut c = tokio::process::Command::new(sandbox_script());
                c.arg(&root.dir).arg(BOOTSTRAP_IN_IMAGE);
                c
            }
            Launch::Direct => {
                let mut c = tokio::process::Command::new(root.dir.join("var/runtime/bootstrap"));
                c.current_dir(root.task_dir());
                c
            }
        };
        command.env_clear();
        let mut environment = lambda_environment(&api.address());
        if launch == Launch::Direct {
            // Outside the sandbox the image's paths do not exist: use the image root's.
            environment.retain(|(k, _)| k != "NIGHTSHIFT_CONFIG");
            environment.push((
                "NIGHTSHIFT_CONFIG".into(),
                root.task_dir()
                    .join("nightshift.toml")
                    .display()
                    .to_string(),
            ));
        }
        environment.extend(env.iter().cloned());
        command
            .envs(environment)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            io::Error::new(e.kind(), format!("starting bootstrap ({launch:?}): {e}"))
        })?;
        let (stdout, stderr) = (Output::default(), Output::default());
        if let Some(out) = child.stdout.take() {
            stdout.collect(out, echo);
        }
        if let Some(err) = child.stderr.take() {
            stderr.collect(err, echo);
        }
        Ok(Function {
            api,
            root,
            child,
            stdout,
            stderr,
        })
    }

    /// Hand the function one event and wait for its answer. Fails, with what the process
    /// printed, if it exits or does not answer within the invocation timeout.
    pub async fn invoke(&mut self, payload: impl Into<Vec<u8>>) -> Result<Invoked, String> {
        let (request_id, answer) = self.api.enqueue(payload);
        let limit = self.api.timeout + Duration::from_secs(5);
        tokio::select! {
            answer = tokio::time::timeout(limit, answer) => match answer {
                Ok(Ok(answer)) => Ok(Invoked { request_id, answer }),
                _ => Err(self.failure(&format!("no answer to {request_id} within {limit:?}"))),
            },
            status = self.child.wait() => Err(self.failure(&format!(
                "bootstrap exited ({}) before answering {request_id}",
                status.map_or_else(|e| e.to_string(), |s| s.to_string())
            ))),
        }
    }

    /// Wait up to `timeout` for the process to exit.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        // Let the output collectors drain the pipes.
        tokio::time::sleep(Duration::from_millis(100)).await;
        status
    }

    /// A message with everything the process printed, for assertion failures.
    pub fn failure(&self, what: &str) -> String {
        format!(
            "{what}\n--- bootstrap stdout ---\n{}--- bootstrap stderr ---\n{}",
            self.stdout.text(),
            self.stderr.text()
        )
    }

    /// Every stdout line that is a JSON object (the function's JSON log lines).
    pub fn json_log_lines(&self) -> Vec<Value> {
        self.stdout
            .text()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(Value::is_object)
            .collect()
    }
}
