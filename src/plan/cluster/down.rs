//! Restore of one cluster: the readers this run added deleted, resized classes reverted readers
//! first, then the writer role failed back to a reverted instance (the baseline writer when
//! possible), then the old writer reverted or deleted as a reader. The writer is never deleted
//! or resized while it is the writer; an unplanned failover during the night is left as it is
//! unless the new writer is an instance nightshift must delete or revert.
use super::up::failover_target;
use super::{ClusterBaseline, ClusterState, InstanceBaseline, InstanceState};
use crate::plan::{Call, Plan};

/// Where a baseline instance's class stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClassState {
    /// At its baseline class.
    Baseline,
    /// A change back to the baseline class is pending.
    Reverting,
    /// Has the night class nightshift gave it: revert.
    Night,
    /// Some other class, set by someone else: drift, left alone.
    Other,
}

fn class_state(live: &InstanceState, base: &InstanceBaseline, night: Option<&str>) -> ClassState {
    if live.class == base.class && live.pending_class.is_none() {
        ClassState::Baseline
    } else if live.effective_class() == base.class {
        ClassState::Reverting
    } else if Some(live.effective_class()) == night {
        ClassState::Night
    } else {
        ClassState::Other
    }
}

pub(crate) fn restore_cluster(
    scenario: &str,
    b: &ClusterBaseline,
    live: &ClusterState,
    run: &str,
) -> Plan {
    let mut plan = Plan::default();
    let cluster = &b.cluster;
    let Some(writer) = live.sole_writer() else {
        plan.waiting.push(format!(
            "{} cluster {cluster} has {} writers right now (failover in progress?): its restore waits for exactly one",
            b.family().name(),
            live.writer_count()
        ));
        return plan;
    };
    let night = b.night_class.as_deref();
    let ours =
        |i: &InstanceState| i.is_tagged_for_run(scenario, run) && b.instance(&i.id).is_none();

    // Readers first: revert the baseline instances nightshift resized.
    let mut readers_settled = true;
    for reader in live.readers() {
        let Some(base) = b.instance(&reader.id) else {
            continue;
        };
        match class_state(reader, base, night) {
            ClassState::Baseline => {}
            ClassState::Reverting => {
                readers_settled = false;
                plan.waiting.push(format!(
                    "reader {} is {} on its way back to {}",
                    reader.id, reader.status, base.class
                ));
            }
            ClassState::Night if reader.is_available() => {
                readers_settled = false;
                plan.calls.push(Call::ModifyDbInstanceClass {
                    cluster: cluster.clone(),
                    instance: reader.id.clone(),
                    class: base.class.clone(),
                    from: reader.class.clone(),
                });
            }
            ClassState::Night => {
                readers_settled = false;
                plan.waiting.push(format!(
                    "reader {} is {}: its revert to {} waits",
                    reader.id, reader.status, base.class
                ));
            }
            ClassState::Other => plan.drift.push(format!(
                "{}: class {} is neither its baseline {} nor the night's: changed during the night, left as it is",
                reader.id,
                reader.effective_class(),
                base.class
            )),
        }
    }

    // Does the writer role have to move before nightshift may finish?
    let writer_ours = ours(writer);
    let writer_class = b
        .instance(&writer.id)
        .map(|base| (base, class_state(writer, base, night)));
    let writer_needs_move = writer_ours || matches!(writer_class, Some((_, ClassState::Night)));
    match writer_class {
        Some((base, ClassState::Other)) => plan.drift.push(format!(
            "writer {}: class {} is neither its baseline {} nor the night's: changed during the night, left as it is",
            writer.id,
            writer.effective_class(),
            base.class
        )),
        Some((base, ClassState::Reverting)) => plan.waiting.push(format!(
            "writer {} has a pending change back to {}",
            writer.id, base.class
        )),
        _ => {}
    }
    if !writer_needs_move && b.writer.as_deref() != Some(writer.id.as_str()) {
        plan.drift.push(format!(
            "writer is {} (it was {} before the night): a failover happened during the night; left as it is",
            writer.id,
            b.writer.as_deref().unwrap_or("unknown")
        ));
    }

    // When the writer must give up its role and no instance of the baseline is a reader to take
    // it, one of the night's readers is kept to bridge: fail over to it, revert the old writer,
    // fail back, then delete the bridge.
    let our_readers: Vec<&InstanceState> = live.readers().filter(|r| ours(r)).collect();
    let baseline_readers: Vec<&InstanceState> = live
        .readers()
        .filter(|r| b.instance(&r.id).is_some())
        .collect();
    let bridge = if writer_needs_move && !writer_ours && baseline_readers.is_empty() {
        failover_target(&our_readers, |_| true)
            .or_else(|| our_readers.iter().copied().min_by_key(|r| r.id.clone()))
    } else {
        None
    };

    let mut failover_to = None;
    if writer_needs_move {
        let candidates: Vec<&InstanceState> = baseline_readers
            .iter()
            .copied()
            .filter(|r| {
                b.instance(&r.id)
                    .is_some_and(|base| class_state(r, base, night) == ClassState::Baseline)
            })
            .collect();
        let preferred = candidates
            .iter()
            .copied()
            .find(|r| r.is_available() && b.writer.as_deref() == Some(r.id.as_str()))
            .or_else(|| failover_target(&candidates, |_| true))
            .or(bridge.filter(|r| r.is_available()));
        if !readers_settled {
            plan.waiting.push(format!(
                "writer {} moves after the readers are back at their classes",
                writer.id
            ));
        } else if !live.is_available() {
            plan.waiting.push(format!(
                "cluster {cluster} is {}: the failover waits",
                live.status
            ));
        } else if let Some(target) = preferred {
            failover_to = Some(target.id.clone());
            plan.calls.push(Call::FailoverDbCluster {
                cluster: cluster.clone(),
                target: target.id.clone(),
                from: writer.id.clone(),
            });
            plan.waiting.push(format!(
                "after the failover to {}, {} is {} as a reader",
                target.id,
                writer.id,
                if writer_ours { "deleted" } else { "reverted" }
            ));
        } else if writer_ours && bridge.is_none() && baseline_readers.is_empty() {
            plan.notes.push(format!(
                "{} (created by nightshift) is the writer and no instance of the baseline is left to take over: it is kept; delete it by hand once another instance is the writer",
                writer.id
            ));
        } else {
            plan.waiting.push(format!(
                "writer {} moves once a reverted reader is available",
                writer.id
            ));
        }
    }

    // Delete the night's readers (never the writer, never the bridge or the failover target).
    // In the order that keeps the remaining instances evenly spread over the zones.
    for reader in super::zones::removal_order(live, &our_readers) {
        if bridge.is_some_and(|br| br.id == reader.id) && writer_needs_move {
            plan.notes.push(format!(
                "{} is kept until the writer role has moved back",
                reader.id
            ));
            continue;
        }
        if failover_to.as_deref() == Some(reader.id.as_str()) {
            continue;
        }
        if reader.is_busy() {
            plan.waiting.push(format!(
                "{} is {}: it is deleted once that finishes",
                reader.id, reader.status
            ));
            continue;
        }
        plan.calls.push(Call::DeleteDbInstance {
            cluster: cluster.clone(),
            instance: reader.id.clone(),
        });
    }

    // Instances that are not nightshift's to remove, said once.
    for i in live.live() {
        if b.instance(&i.id).is_some() || ours(i) {
            continue;
        }
        if i.is_tagged_for(scenario) {
            plan.notes.push(format!(
                "{} was created by another run of {scenario} ({}): left as it is",
                i.id,
                i.tags
                    .get(crate::plan::TAG_RUN)
                    .map_or("unknown run", String::as_str)
            ));
        } else {
            plan.notes.push(format!(
                "{} is not nightshift's (no {} tag for this run): left as it is",
                i.id,
                crate::plan::TAG_SCENARIO
            ));
        }
    }
    for base in &b.instances {
        if live.instance(&base.id).is_none_or(InstanceState::is_gone) {
            plan.notes
                .push(format!("{} (in the baseline) no longer exists", base.id));
        }
    }
    plan
}
