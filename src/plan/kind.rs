//! The target model: every kind of resource a scenario scales has one shape, [`Kind`], and the
//! step planners ([`super::plan_scale_up`], [`super::plan_resize_continuation`],
//! [`super::plan_scale_down`], [`super::capture_baseline`], [`super::readiness`]) run each kind
//! through it, in the order of [`each_kind`]. A new kind is one adapter (`crate::aws`) and one
//! planner (a `Kind` implementation here): the night's state machine (`crate::night`), the
//! convergence loop and the run's storage do not change.
//!
//! What a kind provides, for one configured target:
//! - its live state in the [`Snapshot`] (read by its adapter), or why it cannot be planned;
//! - the baseline the run records when it opens (the day's values and the night's intended
//!   ones: scale-down restores a value only while it still holds what nightshift set);
//! - the scale-up's calls, the part a later check continues, the scale-down's calls (drift
//!   recorded, never clobbered), and its readiness.
//!
//! Its calls are [`super::Call`] variants; the safety rules for them live in
//! [`super::safety`] (the check and the executor match every variant, so neither compiles until
//! a new kind has its rules and its adapter call).

use super::{Baseline, Plan, PlanError, Readiness, Snapshot};
use crate::config::Scenario;

/// One kind of resource a scenario scales.
pub trait Kind {
    /// One configured target (a `[[scenario.<key>]]` table).
    type Target;
    /// Its live state, as its adapter reads it into the snapshot.
    type Live;
    /// What the run records of it when it opens (JSON in the run's `baseline`).
    type Base;

    /// The scenario's targets of this kind, in config order.
    fn targets(scenario: &Scenario) -> Vec<&Self::Target>;

    /// The target's live state, or why nothing can be planned for it (it does not exist).
    fn live<'s>(snapshot: &'s Snapshot, target: &Self::Target)
        -> Result<&'s Self::Live, PlanError>;

    /// The baseline of one target: its day-time values and the night's.
    fn capture(target: &Self::Target, live: &Self::Live) -> Self::Base;

    /// The calls that bring one target to the night's capacity.
    fn plan_up(scenario: &Scenario, target: &Self::Target, live: &Self::Live, run: &str) -> Plan;

    /// The asynchronous part of the scale-up that a check continues (the default: none).
    fn plan_continue(
        scenario: &Scenario,
        target: &Self::Target,
        snapshot: &Snapshot,
        run: &str,
    ) -> Plan {
        let _ = (scenario, target, snapshot, run);
        Plan::default()
    }

    /// What a check continues of one recorded target: a change its scale-up deferred because
    /// the resource could not take it then (a Batch environment UPDATING), made only while the
    /// target still holds its day value (the default: nothing).
    fn plan_deferred(
        scenario: &Scenario,
        base: &Self::Base,
        snapshot: &Snapshot,
        run: &str,
    ) -> Plan {
        let _ = (scenario, base, snapshot, run);
        Plan::default()
    }

    /// The run's recorded baselines of this kind.
    fn recorded(baseline: &Baseline) -> &[Self::Base];

    /// Where a new run records them.
    fn recorded_mut(baseline: &mut Baseline) -> &mut Vec<Self::Base>;

    /// A recorded target as notes name it (`batch/worker`, `DocumentDB cluster db`).
    fn name(base: &Self::Base) -> String;

    /// Is a recorded target still in the config? (One that is not is left alone.)
    fn configured(scenario: &Scenario, base: &Self::Base) -> bool;

    /// The calls that restore one recorded target: only what still holds the night's value;
    /// anything else is drift, recorded and left as it is.
    fn plan_down(scenario: &Scenario, base: &Self::Base, snapshot: &Snapshot, run: &str) -> Plan;

    /// Whether one target's night capacity is in place: what it waits for, and any shortfall
    /// that does not hold readiness back (degraded).
    fn readiness(target: &Self::Target, snapshot: &Snapshot, out: &mut Readiness);
}

/// Which way a step goes through the kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// A scale-up's calls (and a check continuing it): slow things first.
    ScaleUp,
    /// A scale-down's calls, workers first; also the order in which kinds are listed
    /// (baseline, readiness).
    ScaleDown,
}

/// Something done once per kind ([`each_kind`] calls it with each).
pub trait Visit {
    fn visit<K: Kind>(&mut self);
}

/// Every kind, in `order`: the one list of kinds.
///
/// The order within a step: a scale-up starts the slow things first (database readers take
/// minutes to create, ECS tasks seconds to a few minutes), then the workers (EC2 capacity, Batch's
/// and the Auto Scaling groups', before the ECS tasks that may run on it); a scale-down restores
/// the workers first (they stop using the databases), then the databases.
pub fn each_kind(order: Order, visitor: &mut impl Visit) {
    use super::asg::Groups;
    use super::batch::Environments;
    use super::cluster::Clusters;
    use super::service::Services;
    match order {
        Order::ScaleUp => {
            visitor.visit::<Clusters>();
            visitor.visit::<Environments>();
            visitor.visit::<Groups>();
            visitor.visit::<Services>();
        }
        Order::ScaleDown => {
            visitor.visit::<Services>();
            visitor.visit::<Environments>();
            visitor.visit::<Groups>();
            visitor.visit::<Clusters>();
        }
    }
}
