//! nightshift's own events: one EventBridge PutEvents call per step (`[notify] event_bus`).

use crate::ports::{CallError, CallErrorKind, EventSink, OutboundEvent};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

/// The EventBridge adapter behind [`EventSink`].
#[derive(Clone, Debug)]
pub struct EventsClient {
    client: aws_sdk_eventbridge::Client,
}

impl EventsClient {
    pub fn new(sdk: &aws_config::SdkConfig) -> EventsClient {
        let conf = aws_sdk_eventbridge::config::Builder::from(sdk)
            .interceptor(crate::aws::calls::CallCounter)
            .build();
        EventsClient {
            client: aws_sdk_eventbridge::Client::from_conf(conf),
        }
    }
}

#[async_trait]
impl EventSink for EventsClient {
    async fn put_events(&self, bus: &str, entries: &[OutboundEvent]) -> Result<(), CallError> {
        let entries: Vec<PutEventsRequestEntry> = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .event_bus_name(bus)
                    .source(&e.source)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .time(aws_smithy_types::DateTime::from_millis(
                        e.time.as_millisecond(),
                    ))
                    .build()
            })
            .collect();
        let output = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| CallError::from_sdk(&e, "PutEvents", "events:PutEvents", bus))?;
        if output.failed_entry_count() == 0 {
            return Ok(());
        }
        // Partial failure: the call succeeded, some entries were refused (each says why).
        let refused = output.entries().iter().find(|e| e.error_code().is_some());
        let code = refused.and_then(|e| e.error_code()).map(str::to_string);
        let message = refused.and_then(|e| e.error_message()).unwrap_or("refused");
        Err(CallError {
            kind: match code.as_deref() {
                Some("ThrottlingException" | "InternalFailure") => CallErrorKind::Retryable,
                Some(c) if c.contains("AccessDenied") => CallErrorKind::AccessDenied,
                Some("ResourceNotFoundException") => CallErrorKind::NotFound,
                _ => CallErrorKind::Permanent,
            },
            operation: "PutEvents",
            iam_action: "events:PutEvents",
            resource: bus.to_string(),
            message: format!(
                "{} of {} entries refused: {}: {message}",
                output.failed_entry_count(),
                output.entries().len(),
                code.as_deref().unwrap_or("error")
            ),
            code,
        })
    }
}
