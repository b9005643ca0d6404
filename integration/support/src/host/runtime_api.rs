//! The Lambda Runtime API (`/2018-06-01/runtime/...`) on a loopback port.

use super::http::{serve_http, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{oneshot, Notify};

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
    next_called: Notify,
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

    /// Wait until the function has asked for an event at least once (its init is done).
    pub async fn wait_next_call(&self) {
        loop {
            // Register interest before looking, so that a call between the two is kept.
            let called = self.state.next_called.notified();
            if self.next_calls() > 0 {
                return;
            }
            called.await;
        }
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
            state.next_called.notify_waiters();
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
