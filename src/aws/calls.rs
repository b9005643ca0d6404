//! An SDK interceptor that logs every AWS call a client makes: operation, service and HTTP status.
//!
//! Tests use it to prove what was (and was not) called, e.g. that a duplicate delivery's only
//! DynamoDB write is the failed conditional put, or that no query is a Scan; benchmarks use it to
//! count AWS calls per event.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use std::sync::{Arc, Mutex};

/// One call as seen by the interceptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub service: String,
    pub operation: String,
    /// HTTP status, or None when no response arrived (timeout, connection refused).
    pub status: Option<u16>,
}

impl Call {
    /// Operations that change state, by AWS naming convention (Describe/Get/List/Query/Scan read).
    pub fn is_mutating(&self) -> bool {
        const READS: &[&str] = &["Describe", "Get", "List", "Query", "Scan", "BatchGet"];
        !READS.iter().any(|p| self.operation.starts_with(p))
    }
}

/// A shared, clonable log of calls; attach with `.interceptor(log.clone())` on a client config.
#[derive(Debug, Clone, Default)]
pub struct CallLog {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl CallLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Forget the calls so far.
    pub fn clear(&self) {
        if let Ok(mut c) = self.calls.lock() {
            c.clear();
        }
    }

    /// Operation names so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.operation).collect()
    }
}

/// Counts every call into the invocation's EMF metrics (`AwsCalls`, [`crate::emf::note`]):
/// attached to the clients the function runs with; outside an observed invocation it does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallCounter;

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "nightshift::CallCounter"
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        crate::emf::note(|o| o.aws_calls += 1);
        Ok(())
    }
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "nightshift::CallLog"
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map(|m| (m.service().to_string(), m.name().to_string()))
            .unwrap_or_else(|| ("?".into(), "?".into()));
        let status = context.response().map(|r| r.status().as_u16());
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(Call {
                service,
                operation,
                status,
            });
        }
        Ok(())
    }
}
