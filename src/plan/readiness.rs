//! Is the night's capacity ready? Each kind says what it waits for (instances available at their
//! night class, ECS running counts at desired). A shortfall nightshift could not fill (quota,
//! capacity) is reported as degraded rather than "not ready": the night goes on with what it got.

use super::kind::{each_kind, Kind, Order, Visit};
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
    struct Ready<'a> {
        scenario: &'a Scenario,
        snapshot: &'a Snapshot,
        out: Readiness,
    }
    impl Visit for Ready<'_> {
        fn visit<K: Kind>(&mut self) {
            for target in K::targets(self.scenario) {
                K::readiness(target, self.snapshot, &mut self.out);
            }
        }
    }
    let mut ready = Ready {
        scenario,
        snapshot,
        out: Readiness::default(),
    };
    each_kind(Order::ScaleDown, &mut ready);
    let mut out = ready.out;
    out.ready = out.waiting.is_empty();
    out
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
