//! Is the night's capacity ready? Instances available at their night class, ECS running counts
//! at desired. A shortfall nightshift could not fill (quota, capacity) is reported as degraded
//! rather than "not ready": the night goes on with what it got.

use super::Snapshot;
use crate::config::Scenario;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub ready: bool,
    /// What is not ready yet, one line each.
    pub waiting: Vec<String>,
    /// Capacity below the configured target that does not hold readiness back.
    pub degraded: Vec<String>,
}

pub fn readiness(scenario: &Scenario, snapshot: &Snapshot) -> Readiness {
    let mut waiting = Vec::new();
    let mut degraded = Vec::new();
    for target in &scenario.ecs {
        let name = format!("{}/{}", target.cluster, target.service);
        match snapshot.service(&target.cluster, &target.service) {
            Some(s) if s.is_active() => {
                if s.running < s.desired {
                    waiting.push(format!(
                        "{name}: {} of {} tasks running",
                        s.running, s.desired
                    ));
                }
                let wanted = super::up::target_desired(target);
                if s.desired < wanted {
                    degraded.push(format!(
                        "{name}: desired count {} is below the night's {wanted}",
                        s.desired
                    ));
                }
            }
            _ => waiting.push(format!("{name}: service not found")),
        }
    }
    for target in &scenario.docdb {
        let Some(cluster) = snapshot.cluster(&target.cluster) else {
            waiting.push(format!("DocumentDB cluster {}: not found", target.cluster));
            continue;
        };
        if cluster.sole_writer().is_none() {
            waiting.push(format!(
                "{}: {} writers (failover in progress?)",
                target.cluster,
                cluster.writer_count()
            ));
        }
        let readers = cluster.readers().count();
        for i in cluster.live() {
            if !i.is_available() {
                waiting.push(format!("{}: {}", i.id, i.status));
            } else if let Some(pending) = &i.pending_class {
                waiting.push(format!("{}: class change to {pending} pending", i.id));
            } else if let Some(class) = &target.resize {
                // Without a reader the writer cannot be resized (no failover target): that is
                // reported at scale-up and does not hold readiness back.
                if &i.class != class && (readers > 0 || !i.writer) {
                    waiting.push(format!("{}: class {} (night: {class})", i.id, i.class));
                }
            }
        }
        if readers < usize::from(target.replicas) {
            degraded.push(format!(
                "{}: {readers} of {} readers",
                target.cluster, target.replicas
            ));
        }
    }
    Readiness {
        ready: waiting.is_empty(),
        waiting,
        degraded,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn ready_when_instances_are_available_and_tasks_run() {
        let s = scenario(10, 20, 1, None);
        let snap = snapshot_with(
            10,
            None,
            &[managed(&reader_id(1), false, "db.r6g.large", RUN)],
        );
        let r = readiness(&s, &snap);
        assert!(r.ready, "{r:?}");
        assert!(r.degraded.is_empty());
    }

    #[test]
    fn not_ready_while_creating_or_tasks_start_and_degraded_when_short() {
        let s = scenario(10, 20, 2, None);
        let mut creating = managed(&reader_id(1), false, "db.r6g.large", RUN);
        creating.status = "creating".into();
        let mut snap = snapshot_with(10, None, &[creating]);
        snap.services[0].running = 4;
        let r = readiness(&s, &snap);
        assert!(!r.ready);
        assert_eq!(r.waiting.len(), 2, "{:?}", r.waiting);
        assert!(r.waiting[0].contains("4 of 10 tasks running"));
        assert!(r.waiting[1].ends_with(": creating"));
        assert_eq!(r.degraded, ["db: 1 of 2 readers"]);
    }

    #[test]
    fn a_resize_in_progress_is_not_ready() {
        let s = scenario(10, 20, 1, Some("db.r6g.2xlarge"));
        let snap = snapshot_with(10, None, &[instance("own-1", false, "db.r6g.2xlarge")]);
        let r = readiness(&s, &snap);
        assert!(!r.ready);
        assert!(
            r.waiting[0].contains("db-w: class db.r6g.large"),
            "{:?}",
            r.waiting
        );
    }
}
