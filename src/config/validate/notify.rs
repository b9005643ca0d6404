//! `[notify]`: the event bus nightshift sends its own events to.

use super::Validator;
use crate::config::raw::RawNotify;
use crate::config::{EventBus, Notify};
use toml::Spanned;

const HINT: &str = "set event_bus to a bus name such as \"default\" or \"ops-events\", or to its ARN \"arn:aws:events:<region>:<account>:event-bus/<name>\"; remove [notify] to send no events";

impl Validator<'_> {
    /// The typed `[notify]`, or None when it names no bus (no events) or a bad one (reported).
    pub(super) fn notify(&mut self, raw: &Spanned<RawNotify>) -> Option<Notify> {
        let bus = raw.get_ref().event_bus.as_ref()?;
        match EventBus::parse(bus.get_ref().trim()) {
            Ok(event_bus) => Some(Notify { event_bus }),
            Err(problem) => {
                self.push(&bus.span(), "notify.event_bus", problem, HINT);
                None
            }
        }
    }
}
