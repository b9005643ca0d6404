//! The function under measurement: the real `bootstrap`, started from an image root (host.rs) as a
//! plain process or in the Lambda-like sandbox (sandbox.sh), served by a Runtime API of the
//! benchmark's own that timestamps every request.
//!
//! Why not `host::Function`: the benchmark needs the instant of the first `GET invocation/next`
//! (the end of init) and the process id of `bootstrap` itself (inside the sandbox it is a child of
//! bubblewrap) for `/proc/<pid>/status` and `/proc/<pid>/stat`. The HTTP server, the image layout,
//! Lambda's environment and the sandbox are host.rs's.

use crate::host::{self, HttpRequest, HttpResponse, HttpServer, ImageRoot, Launch};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{oneshot, Notify};

const API_PREFIX: &str = "/2018-06-01/runtime";
/// Time each invocation is given (`Lambda-Runtime-Deadline-Ms`).
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);

/// What the function answered, and when the answer arrived.
#[derive(Debug, Clone)]
pub struct Reply {
    pub at: Instant,
    /// `invocation/{id}/response` (true) or `invocation/{id}/error` (false).
    pub ok: bool,
    pub body: Value,
}

impl Reply {
    /// The response's `outcome`, or `error <errorType>`.
    pub fn outcome(&self) -> String {
        if self.ok {
            self.body["outcome"].as_str().unwrap_or("?").to_string()
        } else {
            format!("error {}", self.body["errorType"].as_str().unwrap_or("?"))
        }
    }
}

#[derive(Default)]
struct ApiState {
    queue: Mutex<VecDeque<(String, Vec<u8>)>>,
    queued: Notify,
    waiters: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    /// The instant of every `GET invocation/next`, in order.
    nexts: Mutex<Vec<Instant>>,
    next_arrived: Notify,
    init_error: Mutex<Option<(Instant, Value)>>,
    init_failed: Notify,
}

/// A Runtime API on loopback that records when each request arrived; stops when dropped.
pub struct Api {
    server: HttpServer,
    state: Arc<ApiState>,
}

impl Api {
    pub async fn start() -> Api {
        let state = Arc::new(ApiState::default());
        let handler_state = Arc::clone(&state);
        let server = host::serve_http(move |request| {
            let state = Arc::clone(&handler_state);
            async move { route(&state, request).await }
        })
        .await
        .expect("binding the benchmark's Runtime API on loopback");
        Api { server, state }
    }

    pub fn address(&self) -> String {
        self.server.addr.to_string()
    }

    /// Queue an event; the reply arrives through the receiver.
    pub fn enqueue(&self, payload: Vec<u8>) -> oneshot::Receiver<Reply> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        lock(&self.state.waiters).insert(request_id.clone(), tx);
        lock(&self.state.queue).push_back((request_id, payload));
        self.state.queued.notify_one();
        rx
    }

    /// The instant of the `n`th `GET invocation/next` (1-based), waiting up to `limit` for it.
    pub async fn wait_next(&self, n: usize, limit: Duration) -> Option<Instant> {
        let wait = async {
            loop {
                let arrived = self.state.next_arrived.notified();
                if let Some(at) = lock(&self.state.nexts).get(n - 1) {
                    return *at;
                }
                arrived.await;
            }
        };
        tokio::time::timeout(limit, wait).await.ok()
    }

    /// The `init/error` report and when it arrived, waiting up to `limit` for it.
    pub async fn wait_init_error(&self, limit: Duration) -> Option<(Instant, Value)> {
        let wait = async {
            loop {
                let failed = self.state.init_failed.notified();
                if let Some(report) = lock(&self.state.init_error).clone() {
                    return report;
                }
                failed.await;
            }
        };
        tokio::time::timeout(limit, wait).await.ok()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn route(state: &ApiState, request: HttpRequest) -> HttpResponse {
    let arrived = Instant::now();
    let accepted = || HttpResponse::new(202, r#"{"status":"OK"}"#);
    let path = request.path.split('?').next().unwrap_or_default();
    let Some(rest) = path.strip_prefix(API_PREFIX) else {
        return HttpResponse::new(404, "{}");
    };
    match (request.method.as_str(), rest) {
        ("GET", "/invocation/next") => {
            lock(&state.nexts).push(arrived);
            state.next_arrived.notify_waiters();
            let (request_id, payload) = loop {
                let queued = state.queued.notified();
                if let Some(event) = lock(&state.queue).pop_front() {
                    break event;
                }
                queued.await;
            };
            let deadline = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                + INVOCATION_TIMEOUT;
            let hex_id = request_id.replace('-', "");
            HttpResponse::new(200, payload)
                .header("Content-Type", "application/json")
                .header("Lambda-Runtime-Aws-Request-Id", request_id.clone())
                .header(
                    "Lambda-Runtime-Deadline-Ms",
                    deadline.as_millis().to_string(),
                )
                .header("Lambda-Runtime-Invoked-Function-Arn", host::FUNCTION_ARN)
                .header(
                    "Lambda-Runtime-Trace-Id",
                    format!(
                        "Root=1-{:08x}-{};Parent={};Sampled=0",
                        deadline.as_secs(),
                        &hex_id[..24],
                        &hex_id[..16]
                    ),
                )
        }
        ("POST", "/init/error") => {
            let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            *lock(&state.init_error) = Some((arrived, body));
            state.init_failed.notify_waiters();
            accepted()
        }
        ("POST", rest) if rest.starts_with("/invocation/") => {
            let rest = &rest["/invocation/".len()..];
            let (id, ok) = if let Some(id) = rest.strip_suffix("/response") {
                (id, true)
            } else if let Some(id) = rest.strip_suffix("/error") {
                (id, false)
            } else {
                return HttpResponse::new(404, "{}");
            };
            let body = serde_json::from_slice(&request.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&request.body).into_owned())
            });
            if let Some(waiter) = lock(&state.waiters).remove(id) {
                let _ = waiter.send(Reply {
                    at: arrived,
                    ok,
                    body,
                });
            }
            accepted()
        }
        _ => HttpResponse::new(404, "{}"),
    }
}

/// A running bootstrap and its Runtime API. Killed when dropped.
pub struct Function {
    pub api: Api,
    pub spawned: Instant,
    child: tokio::process::Child,
    pub launch: Launch,
    pub log: PathBuf,
    invoked: usize,
    /// The container's name, when the function is the image run by podman (see
    /// [`Function::start_container`]); removed when the function stops.
    container: Option<String>,
}

impl Function {
    /// Start bootstrap from `root` with Lambda's environment plus `env`. `first` is queued before
    /// the process starts, as on a cold start, where the event is waiting when init ends.
    pub async fn start(
        root: &ImageRoot,
        launch: Launch,
        env: &[(String, String)],
        log: &Path,
        first: Option<Vec<u8>>,
    ) -> (Function, Option<oneshot::Receiver<Reply>>) {
        let api = Api::start().await;
        let first = first.map(|payload| api.enqueue(payload));
        let command = match launch {
            Launch::Sandboxed => {
                let mut c = tokio::process::Command::new(host::sandbox_script());
                c.arg(&root.dir).arg(host::BOOTSTRAP_IN_IMAGE);
                c
            }
            Launch::Direct => {
                let mut c = tokio::process::Command::new(root.dir.join("var/runtime/bootstrap"));
                c.current_dir(root.task_dir());
                c
            }
        };
        let mut environment = host::lambda_environment(&api.address());
        if launch == Launch::Direct {
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
        Function::spawn(api, command, launch, environment, log, first)
    }

    /// Start `program` with `args` in `cwd` as a plain process, with Lambda's environment plus
    /// `env` (the side-by-side's Python baseline and the runs under valgrind).
    pub async fn start_program(
        program: &Path,
        args: &[String],
        cwd: &Path,
        env: &[(String, String)],
        log: &Path,
        first: Option<Vec<u8>>,
    ) -> (Function, Option<oneshot::Receiver<Reply>>) {
        let api = Api::start().await;
        let first = first.map(|payload| api.enqueue(payload));
        let mut command = tokio::process::Command::new(program);
        command.args(args).current_dir(cwd);
        let mut environment = host::lambda_environment(&api.address());
        environment.extend(env.iter().cloned());
        Function::spawn(api, command, Launch::Direct, environment, log, first)
    }

    /// Start the image `image` as Lambda runs it (`host::lambda_run_args`: podman with runc,
    /// uid 993, read-only root, writable /tmp only, its own entrypoint and environment) with
    /// Lambda's environment plus `env`, and `root`'s config mounted read-only over the image's,
    /// so that every launch of a sample reads the same config. `first` is queued before the
    /// container starts.
    pub async fn start_container(
        image: &str,
        root: &ImageRoot,
        env: &[(String, String)],
        log: &Path,
        first: Option<Vec<u8>>,
    ) -> (Function, Option<oneshot::Receiver<Reply>>) {
        let api = Api::start().await;
        let first = first.map(|payload| api.enqueue(payload));
        let name = host::container_name("bench");
        let mut environment = host::lambda_container_environment(&api.address());
        environment.extend(env.iter().cloned());
        let config = root.task_dir().join("nightshift.toml");
        let mut command = tokio::process::Command::new("podman");
        command.args(host::lambda_run_args(
            image,
            &name,
            &environment,
            &[(config, host::CONFIG_IN_IMAGE)],
        ));
        // podman's own environment; the function's is in its arguments.
        let own: Vec<(String, String)> = ["PATH", "HOME"]
            .into_iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect();
        let (mut function, first) = Function::spawn(api, command, Launch::Direct, own, log, first);
        function.container = Some(name);
        (function, first)
    }

    fn spawn(
        api: Api,
        mut command: tokio::process::Command,
        launch: Launch,
        environment: Vec<(String, String)>,
        log: &Path,
        first: Option<oneshot::Receiver<Reply>>,
    ) -> (Function, Option<oneshot::Receiver<Reply>>) {
        let out = File::create(log)
            .unwrap_or_else(|e| panic!("creating the function log {}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("sharing the function log {}: {e}", log.display()));
        command
            .env_clear()
            .envs(environment)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let spawned = Instant::now();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting bootstrap ({launch:?}): {e}"));
        (
            Function {
                api,
                spawned,
                child,
                launch,
                log: log.to_path_buf(),
                invoked: usize::from(first.is_some()),
                container: None,
            },
            first,
        )
    }

    /// Wait until bootstrap asks for its next event with nothing queued: every event so far is
    /// answered and the process is idle.
    pub async fn wait_idle(&self) -> Instant {
        match self
            .api
            .wait_next(self.invoked + 1, INVOCATION_TIMEOUT)
            .await
        {
            Some(at) => at,
            None => panic!(
                "{}",
                self.failure("bootstrap did not ask for its next event")
            ),
        }
    }

    /// Hand the function one event; returns the reply and the wall time from queueing it to the
    /// answer's arrival.
    pub async fn invoke(&mut self, payload: Vec<u8>) -> (Reply, Duration) {
        let queued = Instant::now();
        let rx = self.api.enqueue(payload);
        self.invoked += 1;
        let reply = self.await_reply(rx).await;
        let wall = reply.at.duration_since(queued);
        (reply, wall)
    }

    pub async fn await_reply(&mut self, rx: oneshot::Receiver<Reply>) -> Reply {
        let limit = INVOCATION_TIMEOUT + Duration::from_secs(5);
        tokio::select! {
            reply = tokio::time::timeout(limit, rx) => match reply {
                Ok(Ok(reply)) => reply,
                _ => panic!("{}", self.failure("no answer from bootstrap")),
            },
            status = self.child.wait() => panic!(
                "{}",
                self.failure(&format!("bootstrap exited ({status:?}) before answering"))
            ),
        }
    }

    /// The process id of `bootstrap` itself (in the sandbox: the descendant of bubblewrap; in a
    /// container: its first process, which the entrypoint replaced with bootstrap).
    pub fn bootstrap_pid(&self) -> u32 {
        if let Some(name) = &self.container {
            return host::podman(&["container", "inspect", "--format", "{{.State.Pid}}", name])
                .ok()
                .and_then(|pid| pid.trim().parse().ok())
                .unwrap_or_else(|| panic!("{}", self.failure("no process in the container")));
        }
        let top = self.child.id().expect("bootstrap is running");
        if self.launch == Launch::Direct {
            return top;
        }
        find_descendant(top, "bootstrap").unwrap_or_else(|| {
            panic!(
                "{}",
                self.failure("no process named bootstrap under the sandbox")
            )
        })
    }

    /// Ask the process to end (SIGTERM, so that a tool like valgrind writes its results) and
    /// wait up to `limit` for it to exit; killed after that.
    pub async fn terminate(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        if let Some(pid) = self.child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                let _ = self.child.kill().await;
                None
            }
        }
    }

    /// Kill the process and wait for it (a container: remove it, then its `podman run`).
    pub async fn stop(mut self) {
        if let Some(name) = self.container.take() {
            host::remove_container(&name);
        }
        let _ = self.child.kill().await;
    }

    pub fn failure(&self, what: &str) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{what}; last lines of {}:\n{}",
            self.log.display(),
            tail.join("\n")
        )
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        // A container outlives a killed `podman run` (conmon keeps it): a sample that panics
        // must not leave one behind.
        if let Some(name) = self.container.take() {
            host::remove_container(&name);
        }
    }
}

/// The first process named `name` (its `comm`) among the descendants of `pid`.
fn find_descendant(pid: u32, name: &str) -> Option<u32> {
    let mut parents: Vec<(u32, u32, String)> = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_string();
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((p, ppid, comm));
        }
    }
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for (p, ppid, comm) in &parents {
            if *ppid == parent {
                if comm == name {
                    return Some(*p);
                }
                frontier.push(*p);
            }
        }
    }
    None
}

/// Peak and current resident set size of a process, in KiB (`VmHWM`, `VmRSS`).
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub hwm_kib: u64,
    pub rss_kib: u64,
}

pub fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("/proc/{pid}/status has no {name}"))
    };
    Memory {
        hwm_kib: field("VmHWM:"),
        rss_kib: field("VmRSS:"),
    }
}

/// CPU time a process used so far: `utime + stime` from `/proc/<pid>/stat` (clock ticks, all of
/// its threads), and the sum of `/proc/<pid>/task/*/schedstat` run times (nanoseconds, threads
/// alive now) as a finer cross-check.
#[derive(Debug, Clone, Copy)]
pub struct Cpu {
    pub ticks: u64,
    /// The kernel's part of `ticks` (stime).
    pub stime_ticks: u64,
    pub sched_ns: u64,
}

pub fn cpu(pid: u32) -> Cpu {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/stat: {e}"));
    // Fields after the command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> u64 {
        fields
            .get(n - 3)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("/proc/{pid}/stat has no field {n}: {stat}"))
    };
    let mut sched_ns = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
                sched_ns += text
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    Cpu {
        ticks: field(14) + field(15),
        stime_ticks: field(15),
        sched_ns,
    }
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}
