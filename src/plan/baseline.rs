//! The day-time baseline recorded when a run opens, and what a run remembers between
//! invocations ([`RunState`], stored as the run record's `baseline` JSON).
//!
//! The baseline also records the *night* values nightshift sets: scale-down restores a value only
//! when it still holds what nightshift set; anything else is drift, recorded and left alone.

use super::kind::{each_kind, Kind, Order, Visit};
use super::{ClusterBaseline, PlanError, ServiceBaseline, Snapshot};
use super::{EnvironmentBaseline, GroupBaseline};
use crate::config::Scenario;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The state before the night, and the night's intended values: one list per kind of target
/// (a kind added later gets a list that old runs read back empty: `#[serde(default)]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// When the baseline was read.
    pub taken_at: Timestamp,
    pub services: Vec<ServiceBaseline>,
    pub clusters: Vec<ClusterBaseline>,
    // --- worker kinds ---
    #[serde(default)]
    pub environments: Vec<EnvironmentBaseline>,
    #[serde(default)]
    pub groups: Vec<GroupBaseline>,
}

impl Baseline {
    pub fn service(&self, cluster: &str, service: &str) -> Option<&ServiceBaseline> {
        self.services
            .iter()
            .find(|s| s.cluster == cluster && s.service == service)
    }

    pub fn cluster(&self, cluster: &str) -> Option<&ClusterBaseline> {
        self.clusters.iter().find(|c| c.cluster == cluster)
    }

    /// Was this instance part of the cluster before the night?
    pub fn has_instance(&self, cluster: &str, instance: &str) -> bool {
        self.cluster(cluster)
            .is_some_and(|c| c.instance(instance).is_some())
    }
}

/// Read the baseline of every configured resource. Fails, like scale-up planning, when a
/// configured resource does not exist: no run is opened for a config that names nothing real.
pub fn capture_baseline(
    scenario: &Scenario,
    snapshot: &Snapshot,
    at: Timestamp,
) -> Result<Baseline, PlanError> {
    struct Capture<'a> {
        scenario: &'a Scenario,
        snapshot: &'a Snapshot,
        baseline: Result<Baseline, PlanError>,
    }
    impl Visit for Capture<'_> {
        fn visit<K: Kind>(&mut self) {
            let Ok(baseline) = &mut self.baseline else {
                return;
            };
            for target in K::targets(self.scenario) {
                match K::live(self.snapshot, target) {
                    Ok(live) => K::recorded_mut(baseline).push(K::capture(target, live)),
                    Err(e) => {
                        self.baseline = Err(e);
                        return;
                    }
                }
            }
        }
    }
    let mut capture = Capture {
        scenario,
        snapshot,
        baseline: Ok(Baseline {
            taken_at: at,
            services: Vec::new(),
            clusters: Vec::new(),
            environments: Vec::new(),
            groups: Vec::new(),
        }),
    };
    each_kind(Order::ScaleDown, &mut capture);
    capture.baseline
}

/// What a run remembers between invocations; stored as `RunRecord.baseline` (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    pub baseline: Baseline,
    /// The run was opened by a NIGHTSHIFT_DRY_RUN=1 scale-up (nothing was changed then).
    #[serde(default)]
    pub opened_by_dry_run: bool,
    /// When a check first saw the night's capacity ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<Timestamp>,
    /// When scale-down started: from then on checks continue the scale-down, and a late
    /// scale-up is out of order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_started_at: Option<Timestamp>,
    /// The rule that started the scale-down (quiet, deadline, forced): the close reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_rule: Option<crate::gate::Rule>,
    /// The run's scale-up has not converged yet: set when it opens the run, cleared by the step
    /// that converges it. A scale-up that AWS refused while the cluster was busy (backing up,
    /// failing over) fails, Lambda retries it twice within three minutes, and then it is
    /// dropped; until one converges, checks continue the whole scale-up, not only its
    /// asynchronous part. Absent (false) in the runs of earlier builds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scale_up_unfinished: bool,
    /// The night's profile, chosen when the run opened (None: the ordinary night, or a run of an
    /// earlier build): every later step uses it, whatever the config says by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::config::NightProfile>,
    /// When a check first saw the batch busy while the night's capacity was not ready: the
    /// batch's first busy datapoint (`Nightshift Capacity Late` is sent once, by that check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_late_since: Option<Timestamp>,
}

impl RunState {
    pub fn new(baseline: Baseline, dry_run: bool) -> RunState {
        RunState {
            baseline,
            opened_by_dry_run: dry_run,
            ready_at: None,
            scale_down_started_at: None,
            scale_down_rule: None,
            scale_up_unfinished: false,
            profile: None,
            capacity_late_since: None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        // Plain structs of strings and numbers: serialization cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    pub fn from_json(value: &serde_json::Value) -> Result<RunState, serde_json::Error> {
        serde_json::from_value(value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::plan::Capacity;

    #[test]
    fn baseline_records_live_values_and_the_night_targets() {
        let scenario = scenario(10, 20, 3, None);
        let mut snap = snapshot_with(2, Some(Capacity { min: 1, max: 4 }), &[]);
        snap.clusters[0].instances[0].promotion_tier = Some(1);
        let b = capture_baseline(&scenario, &snap, ts()).unwrap();
        let s = &b.services[0];
        assert_eq!((s.desired, s.night_desired), (2, 10));
        assert_eq!(s.scalable_target, Some(Capacity { min: 1, max: 4 }));
        assert_eq!(s.night_target, Some(Capacity { min: 10, max: 10 }));
        let c = &b.clusters[0];
        assert_eq!(c.writer.as_deref(), Some("db-w"));
        assert_eq!(c.instances.len(), 1);
        assert_eq!(c.night_readers, 3);
        assert!(b.has_instance("db", "db-w"));
        assert!(!b.has_instance("db", "db-x"));
    }

    #[test]
    fn baseline_of_a_missing_resource_is_an_error() {
        let scenario = scenario(10, 20, 3, None);
        let mut snap = snapshot_with(2, None, &[]);
        snap.clusters.clear();
        assert_eq!(
            capture_baseline(&scenario, &snap, ts()),
            Err(PlanError::MissingCluster {
                cluster: "db".into(),
                engine: crate::config::Engine::DocumentDb,
            })
        );
    }

    #[test]
    fn run_state_round_trips_through_json_and_tolerates_missing_optional_fields() {
        let scenario = scenario(10, 20, 3, Some("db.r6g.2xlarge"));
        let b = capture_baseline(&scenario, &snapshot_with(2, None, &[]), ts()).unwrap();
        let mut state = RunState::new(b, false);
        state.ready_at = Some(ts());
        let json = state.to_json();
        assert_eq!(RunState::from_json(&json).unwrap(), state);
        let mut minimal = json.clone();
        minimal.as_object_mut().unwrap().remove("ready_at");
        minimal.as_object_mut().unwrap().remove("opened_by_dry_run");
        let back = RunState::from_json(&minimal).unwrap();
        assert_eq!(back.ready_at, None);
        assert!(!back.opened_by_dry_run);
    }
}
