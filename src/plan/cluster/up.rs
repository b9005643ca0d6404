//! Scale-up of one cluster: the readers to add and the resize phase that is due.

use super::ids::reader_identifier;
use super::{ClusterState, InstanceState};
use crate::config::ClusterTarget;
use crate::plan::{Call, Plan, ADDED_READER_PROMOTION_TIER, MAX_READERS, TAG_RUN, TAG_SCENARIO};
use std::collections::{BTreeMap, BTreeSet};

/// Highest ordinal tried for a new reader's identifier. 15 readers at most exist at once; the
/// rest of the room covers identifiers still held by instances being deleted.
const MAX_ORDINAL: u32 = 99;

/// Readers to add and the resize phase that is due, for one cluster. `add_readers` is false for
/// a check's continuation.
pub(crate) fn plan_cluster(
    scenario: &str,
    target: &ClusterTarget,
    live: &ClusterState,
    run: &str,
    add_readers: bool,
) -> Plan {
    let mut plan = Plan::default();
    let cluster = &target.cluster;
    let Some(writer) = live.sole_writer() else {
        plan.waiting.push(format!(
            "{} cluster {cluster} has {} writers right now (failover in progress?): its changes wait for exactly one",
            target.engine.name(),
            live.writer_count()
        ));
        return plan;
    };
    let readers: Vec<&InstanceState> = live.readers().collect();
    let new_class = reader_class(target, live);
    let mut creating = 0;
    if add_readers {
        let wanted = usize::from(target.replicas).min(MAX_READERS);
        if readers.len() >= wanted {
            if wanted > 0 || !readers.is_empty() {
                plan.notes.push(format!(
                    "{cluster}: has {} readers, the night needs {wanted}: none added",
                    readers.len()
                ));
            }
        } else if let Some(new_class) = new_class {
            let missing = (wanted - readers.len()).min(MAX_READERS - readers.len());
            let zones = super::zones::assign(live, missing);
            let taken: BTreeSet<&str> = live.instances.iter().map(|i| i.id.as_str()).collect();
            let engine = if live.engine.is_empty() {
                target.engine.default_engine().to_string()
            } else {
                live.engine.clone()
            };
            let tags = BTreeMap::from([
                (TAG_SCENARIO.to_string(), scenario.to_string()),
                (TAG_RUN.to_string(), run.to_string()),
            ]);
            for ordinal in 1..=MAX_ORDINAL {
                if creating == missing {
                    break;
                }
                let id = reader_identifier(cluster, scenario, ordinal);
                if taken.contains(id.as_str()) {
                    continue;
                }
                plan.calls.push(Call::CreateDbInstance {
                    cluster: cluster.clone(),
                    engine: engine.clone(),
                    instance: id,
                    class: new_class.to_string(),
                    promotion_tier: ADDED_READER_PROMOTION_TIER,
                    tags: tags.clone(),
                    zone: zones.get(creating).cloned().flatten(),
                });
                creating += 1;
            }
            match &target.instance_class {
                Some(configured) if live.serverless.is_some() && configured != new_class => {
                    plan.notes.push(format!(
                        "{cluster} is {} Serverless cluster: its new readers are {new_class}, not {configured}",
                        crate::plan::article(target.engine.name())
                    ))
                }
                _ => {}
            }
            if creating < missing {
                plan.notes.push(format!(
                    "{cluster}: only {creating} of {missing} missing readers could get an identifier"
                ));
            }
        } else {
            // The config requires instance_class wherever replicas adds readers.
            plan.notes.push(format!(
                "{cluster}: no instance_class for the readers the night needs: none added"
            ));
        }
    }
    if let Some(class) = &target.resize {
        plan_resize(
            &mut plan,
            cluster,
            class,
            writer,
            &readers,
            creating > 0,
            live,
        );
    }
    plan
}

/// The class of the readers nightshift adds: `db.serverless` on a serverless cluster, else the
/// night's class (`resize`) or `instance_class` (None: a cluster that adds no readers names none).
pub(crate) fn reader_class<'a>(target: &'a ClusterTarget, live: &ClusterState) -> Option<&'a str> {
    if live.serverless.is_some() {
        Some(super::serverless::SERVERLESS_CLASS)
    } else {
        target
            .resize
            .as_deref()
            .or(target.instance_class.as_deref())
    }
}

/// Resize phases, derived from the live state: (1) every reader to `class`; (2) once all readers
/// have it and are available, fail over to one of them; (3) the old writer, now a reader, is
/// resized by phase 1 of a later round. The writer itself is never modified.
fn plan_resize(
    plan: &mut Plan,
    cluster: &str,
    class: &str,
    writer: &InstanceState,
    readers: &[&InstanceState],
    readers_being_added: bool,
    live: &ClusterState,
) {
    let mut readers_settled = !readers_being_added;
    for reader in readers {
        if reader.effective_class() != class {
            readers_settled = false;
            if reader.is_available() {
                plan.calls.push(Call::ModifyDbInstanceClass {
                    cluster: cluster.to_string(),
                    instance: reader.id.clone(),
                    class: class.to_string(),
                    from: reader.class.clone(),
                });
            } else {
                plan.waiting.push(format!(
                    "reader {} is {}: its resize to {class} waits",
                    reader.id, reader.status
                ));
            }
        } else if reader.class != class || !reader.is_available() {
            readers_settled = false;
            plan.waiting.push(format!(
                "reader {} is {} on its way to {class}",
                reader.id, reader.status
            ));
        }
    }
    if writer.effective_class() == class {
        if writer.class != class {
            plan.waiting.push(format!(
                "writer {} has a pending change to {class}",
                writer.id
            ));
        }
        return;
    }
    if !readers_settled {
        plan.waiting.push(format!(
            "writer {} keeps {} until every reader has {class}: then nightshift fails over to a resized reader and resizes the old writer",
            writer.id, writer.class
        ));
        return;
    }
    if !live.is_available() {
        plan.waiting.push(format!(
            "cluster {cluster} is {}: the failover to a resized reader waits",
            live.status
        ));
        return;
    }
    match failover_target(readers, |r| r.class == class) {
        Some(target) => {
            plan.calls.push(Call::FailoverDbCluster {
                cluster: cluster.to_string(),
                target: target.id.clone(),
                from: writer.id.clone(),
            });
            plan.waiting.push(format!(
                "after the failover to {}, the old writer {} is resized as a reader",
                target.id, writer.id
            ));
        }
        None => plan.notes.push(format!(
            "writer {} keeps class {}: the cluster has no reader to fail over to (set replicas to 1 or more to resize the writer)",
            writer.id, writer.class
        )),
    }
}

/// The reader to promote: available and acceptable to `ok`; the cluster's own instances before
/// the night's temporary ones (those go away at scale-down), then by promotion tier and id.
pub(crate) fn failover_target<'a>(
    readers: &[&'a InstanceState],
    ok: impl Fn(&InstanceState) -> bool,
) -> Option<&'a InstanceState> {
    readers
        .iter()
        .copied()
        .filter(|r| r.is_available() && ok(r))
        .min_by_key(|r| {
            (
                r.tags.contains_key(TAG_SCENARIO),
                r.promotion_tier.unwrap_or(ADDED_READER_PROMOTION_TIER),
                r.id.clone(),
            )
        })
}
