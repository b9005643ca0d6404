//! The convergence loop's side of the capacity fallback (`crate::plan::fallback` decides): the
//! (class, zone) refusals of this step, the rewrite of a refused create to its next candidate,
//! and what the step records about it (returned: the loop records it).

use crate::plan::fallback::{self, CapacityRefusal};
use crate::plan::safety::{self, SafetyContext, Verdict, VettedCall, Violation};
use crate::plan::Call;
use crate::ports::CallError;
use std::collections::BTreeSet;

#[derive(Default)]
pub(super) struct CapacityFallback {
    /// Every (class, zone) refused with InsufficientDBInstanceCapacity in this step.
    refused: Vec<CapacityRefusal>,
    /// Readers refused in this step (created later or not).
    refused_readers: BTreeSet<String>,
    /// Readers for which every class and zone has been refused (said once).
    exhausted: BTreeSet<String>,
}

/// What to do for a planned create.
pub(super) enum Instead {
    /// Make this call: the planned one, or its next candidate, vetted again.
    Make(VettedCall),
    /// The safety check refused the next candidate.
    Refused(Violation),
    /// No candidate is left; the line to record as degraded, the first time for this reader.
    Exhausted(Option<String>),
}

fn instance_of(call: &Call) -> Option<&str> {
    match call {
        Call::CreateDbInstance { instance, .. } => Some(instance),
        _ => None,
    }
}

impl CapacityFallback {
    /// The call to make for `call`: itself, or its next candidate when its class and zone were
    /// refused in this step. A candidate is a new call, made only if the safety check allows it
    /// (it keeps the reader's identity, tags and tier; its class and zone changed, and the reader
    /// cap and zone rules hold for it as for any create).
    pub(super) fn instead(&mut self, ctx: &SafetyContext<'_>, call: VettedCall) -> Instead {
        if !fallback::is_refused(&call, &self.refused) {
            return Instead::Make(call);
        }
        let scenario = ctx.scenario;
        if let Some(next) = fallback::next_attempt(scenario, ctx.snapshot, &call, &self.refused) {
            return match safety::vet_one(&next, ctx) {
                Verdict::Allowed(next) => Instead::Make(next),
                Verdict::Refused(violation) => Instead::Refused(violation),
            };
        }
        let Some(instance) = instance_of(&call).map(str::to_string) else {
            return Instead::Exhausted(None);
        };
        if !self.exhausted.insert(instance.clone()) {
            return Instead::Exhausted(None);
        }
        let retried = scenario
            .cluster(call.cluster())
            .is_some_and(|t| !t.fallback_classes.is_empty());
        Instead::Exhausted(Some(format!(
            "reader {instance} of {} not created: InsufficientDBInstanceCapacity for every class and zone tried ({}){}",
            call.cluster(),
            fallback::tried(call.cluster(), &self.refused),
            if retried { "; the next check tries again" } else { "" }
        )))
    }

    /// Was `error` a capacity refusal of a create? Then it is recorded, and true: the caller
    /// tries the next candidate.
    pub(super) fn refused(&mut self, call: &Call, error: &CallError) -> bool {
        if !fallback::is_capacity_refusal(error.code.as_deref()) {
            return false;
        }
        let Some(refusal) = CapacityRefusal::of(call, &error.message) else {
            return false;
        };
        if let Some(instance) = instance_of(call) {
            self.refused_readers.insert(instance.to_string());
        }
        if !self.refused.contains(&refusal) {
            self.refused.push(refusal);
        }
        true
    }

    /// A create went through: when it is a fallback, the note saying which class and zone it
    /// got.
    pub(super) fn created(&self, call: &Call) -> Option<String> {
        let Call::CreateDbInstance {
            cluster,
            instance,
            class,
            zone,
            ..
        } = call
        else {
            return None;
        };
        if !self.refused_readers.contains(instance) {
            return None;
        }
        Some(format!(
            "reader {instance} created as {class}{} after InsufficientDBInstanceCapacity for {}",
            zone.as_ref()
                .map_or_else(String::new, |z| format!(" in {z}")),
            fallback::tried(cluster, &self.refused)
        ))
    }
}
