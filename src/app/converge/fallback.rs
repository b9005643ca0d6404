//! The convergence loop's side of the capacity fallback (`crate::plan::fallback` decides): the
//! (class, zone) refusals of this step, the rewrite of a refused create to its next candidate,
//! and what the step records about it.

use super::Converged;
use crate::plan::fallback::{self, CapacityRefusal};
use crate::plan::safety::{self, SafetyContext, Verdict, VettedCall};
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
    /// cap and zone rules hold for it as for any create). None when no candidate is left
    /// (recorded as degraded) or the candidate was refused (recorded as refused).
    pub(super) fn instead(
        &mut self,
        ctx: &SafetyContext<'_>,
        call: VettedCall,
        out: &mut Converged,
    ) -> Option<VettedCall> {
        if !fallback::is_refused(&call, &self.refused) {
            return Some(call);
        }
        let scenario = ctx.scenario;
        if let Some(next) = fallback::next_attempt(scenario, ctx.snapshot, &call, &self.refused) {
            return match safety::vet_one(&next, ctx) {
                Verdict::Allowed(next) => Some(next),
                Verdict::Refused(violation) => {
                    out.refuse(scenario, ctx.run, violation);
                    None
                }
            };
        }
        let instance = instance_of(&call)?.to_string();
        if self.exhausted.insert(instance.clone()) {
            let retried = scenario
                .docdb
                .iter()
                .any(|t| t.cluster == call.cluster() && !t.fallback_classes.is_empty());
            out.degraded.push(format!(
                "reader {instance} of {} not created: InsufficientDBInstanceCapacity for every class and zone tried ({}){}",
                call.cluster(),
                fallback::tried(call.cluster(), &self.refused),
                if retried { "; the next check tries again" } else { "" }
            ));
        }
        None
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

    /// A create went through: when it is a fallback, say which class and zone it got.
    pub(super) fn created(&self, call: &Call, out: &mut Converged) {
        let Call::CreateDbInstance {
            cluster,
            instance,
            class,
            zone,
            ..
        } = call
        else {
            return;
        };
        if !self.refused_readers.contains(instance) {
            return;
        }
        let line = format!(
            "reader {instance} created as {class}{} after InsufficientDBInstanceCapacity for {}",
            zone.as_ref()
                .map_or_else(String::new, |z| format!(" in {z}")),
            fallback::tried(cluster, &self.refused)
        );
        if !out.notes.contains(&line) {
            out.notes.push(line);
        }
    }
}
