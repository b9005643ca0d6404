//! The function: a `bootstrap` process, with the environment Lambda gives it, served by its own
//! Runtime API.

use super::image::{sandbox_script, ImageRoot, Launch, BOOTSTRAP_IN_IMAGE, CONFIG_IN_IMAGE};
use super::runtime_api::{ErrorReport, Invoked, RuntimeApi};
use serde_json::Value;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::task::JoinHandle;

/// How long a test waits for a function to finish its init, or to exit once it should. Every such
/// wait ends on the event itself (an init error, the first request for an event, the process's
/// exit), so this is only reached when bootstrap hangs; it is generous because a loaded machine can
/// take many seconds to start a process in the sandbox and let it run.
pub const PROCESS_LIMIT: Duration = Duration::from_secs(120);

/// How init ended.
#[derive(Debug)]
pub enum Init {
    /// The function reported an init error (`POST /runtime/init/error`).
    Failed(ErrorReport),
    /// The function asked for its first event: init succeeded.
    Ready,
    /// The process exited without reporting an init error or asking for an event.
    Exited(Option<ExitStatus>),
    /// None of these within [`PROCESS_LIMIT`].
    Hung,
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

    /// Copy `source` into this output until it closes; the task ends then.
    fn collect<R: AsyncRead + Unpin + Send + 'static>(
        &self,
        source: R,
        echo: bool,
    ) -> JoinHandle<()> {
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
        })
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
    /// The tasks copying the process's output; done once it closed both pipes.
    collectors: Vec<JoinHandle<()>>,
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
        let mut collectors = Vec::new();
        if let Some(out) = child.stdout.take() {
            collectors.push(stdout.collect(out, echo));
        }
        if let Some(err) = child.stderr.take() {
            collectors.push(stderr.collect(err, echo));
        }
        Ok(Function {
            api,
            root,
            child,
            stdout,
            stderr,
            collectors,
        })
    }

    /// Hand the function one event and wait for its answer. Fails, with what the process
    /// printed, if it exits or does not answer within the invocation timeout.
    pub async fn invoke(&mut self, payload: impl Into<Vec<u8>>) -> Result<Invoked, String> {
        let (request_id, answer) = self.api.enqueue(payload);
        // The function answers by its deadline (it fits its AWS calls into the time left); the
        // grace after it is for a loaded machine scheduling the answer late, not for slow work.
        let limit = self.api.timeout + Duration::from_secs(30);
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

    /// Wait for the process to exit (up to [`PROCESS_LIMIT`]), then for everything it printed.
    pub async fn wait_exit(&mut self) -> Option<ExitStatus> {
        let status = tokio::time::timeout(PROCESS_LIMIT, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        if status.is_some() {
            self.drain_output().await;
        }
        status
    }

    /// Wait until the output collectors have read the pipes to their end: a test that reads
    /// `stderr` after the exit sees all of it, however slowly the collectors were scheduled.
    async fn drain_output(&mut self) {
        for collector in std::mem::take(&mut self.collectors) {
            // Bounded: a process the function started could keep a pipe open after it exits.
            let _ = tokio::time::timeout(PROCESS_LIMIT, collector).await;
        }
    }

    /// How init ends: an init error, the first request for an event, or the process's exit;
    /// [`Init::Hung`] after [`PROCESS_LIMIT`] without any of them.
    pub async fn init(&mut self) -> Init {
        let (api, child) = (&self.api, &mut self.child);
        let outcome = tokio::select! {
            report = api.wait_init_error(PROCESS_LIMIT) => match report {
                Some(report) => Init::Failed(report),
                None => Init::Hung,
            },
            () = api.wait_next_call() => Init::Ready,
            status = child.wait() => Init::Exited(status.ok()),
        };
        match outcome {
            // A report posted just before the exit (the usual order) still counts as the outcome.
            Init::Exited(status) => match self.api.init_error() {
                Some(report) => Init::Failed(report),
                None => {
                    self.drain_output().await;
                    Init::Exited(status)
                }
            },
            other => other,
        }
    }

    /// The init error the function reports; `None` once init ends any other way (see [`Init`]).
    pub async fn init_error(&mut self) -> Option<ErrorReport> {
        match self.init().await {
            Init::Failed(report) => Some(report),
            Init::Ready | Init::Exited(_) | Init::Hung => None,
        }
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
