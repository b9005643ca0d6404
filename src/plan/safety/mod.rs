//! The safety invariants, enforced in one place: every planned call passes [`vet`] against the
//! same snapshot it was planned from, and only a call it allowed can be made. The planners are
//! written to respect these rules; this module is the independent second line, so a planner bug
//! refuses a call instead of deleting a writer.
//!
//! One line each:
//! - never a resource absent from the config;
//! - never a desired count (UpdateService, scalable-target MinCapacity) above the configured `max`;
//! - never delete or resize the current writer; fail over only from the writer to a live reader;
//! - never delete an instance without nightshift's tags for this scenario and run, or one that was
//!   in the run's baseline, or any instance in a run that has no baseline (never scaled up);
//! - never more than 15 readers; every reader nightshift adds carries its tags and tier 15, and
//!   a zone that is one of its cluster's;
//! - serverless: MinCapacity only, never MaxCapacity, never above it, never across 1.0 DCU;
//! - Batch compute environments and Auto Scaling groups: never a value above the configured
//!   guardrail (`max_vcpus`, `max`) or the environment's own `maxvCpus`, never one below the
//!   run's baseline (at scale-up, below the live value), never a lower `desiredvCpus`.
//!
//! The rule "every mutating call passes this check first" is held by the types: [`vet`] is the
//! only maker of a [`VettedCall`], and [`crate::ports::Scaling::execute`] accepts nothing else.
//!
//! Two invariants live with the code that owns them: dry run (NIGHTSHIFT_DRY_RUN=1) is the
//! executor's (`crate::aws::scaling`), the only place that makes mutating calls; and "a
//! scale-down for a run that never scaled up does nothing" is the run state machine's
//! (`crate::night`): without an open run nothing is planned at all, and without a baseline no
//! deletion passes this check.

mod asg;
mod batch;
mod cluster;
#[cfg(test)]
mod properties;
mod service;

use super::{Baseline, Call, Plan, Snapshot};
use crate::config::Scenario;
use std::collections::BTreeMap;
use std::fmt;

/// What a plan is checked against.
#[derive(Debug, Clone, Copy)]
pub struct SafetyContext<'a> {
    pub scenario: &'a Scenario,
    /// The open run the calls belong to.
    pub run: &'a str,
    /// The live state the plan was made from.
    pub snapshot: &'a Snapshot,
    /// The run's recorded baseline (None: the run never scaled up).
    pub baseline: Option<&'a Baseline>,
}

/// The rule a refused call broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    NotConfigured,
    AboveMax,
    WriterTouched,
    NotNightshifts,
    TooManyReaders,
    BadFailover,
    UntaggedReader,
    ServerlessCapacity,
    BelowBaseline,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::NotConfigured => "resource not in the config",
            Rule::AboveMax => "above the configured max",
            Rule::WriterTouched => "the current writer",
            Rule::NotNightshifts => "not created by nightshift for this run",
            Rule::TooManyReaders => "more than 15 readers",
            Rule::BadFailover => "invalid failover",
            Rule::UntaggedReader => "reader without nightshift's tags",
            Rule::ServerlessCapacity => "serverless capacity outside its rules",
            Rule::BelowBaseline => "below the baseline",
        })
    }
}

/// A refused call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub call: Call,
    pub rule: Rule,
    pub why: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused {} ({}): {}", self.call, self.rule, self.why)
    }
}

/// A planned call that [`vet`] allowed, against the snapshot it was planned from: the only thing
/// [`crate::ports::Scaling::execute`] makes.
///
/// [`vet`] is its only maker: the field is private, there is no constructor, and it is neither
/// `Clone` nor `Deserialize`, so no code outside this module turns a [`Call`] into one. A call
/// changed after it was vetted (the capacity fallback's next class or zone for a refused create)
/// is a new `Call`, and is made only once it has passed [`vet`] again. A new kind of scaled
/// resource plugs in as new [`Call`] variants: the rules' match below and the executor's are
/// exhaustive, so neither compiles until the new kind has its rules and its adapter call.
///
/// What the executor accepts, as the convergence loop makes it:
///
/// ```no_run
/// use nightshift::plan::safety::{self, SafetyContext, Verdict};
/// use nightshift::plan::Plan;
/// use nightshift::ports::Scaling;
///
/// async fn make(scaling: &dyn Scaling, plan: &Plan, ctx: &SafetyContext<'_>) {
///     for verdict in safety::vet(plan, ctx) {
///         if let Verdict::Allowed(call) = verdict {
///             scaling.execute(&call, false).await;
///         }
///     }
/// }
/// ```
///
/// A planned call that did not pass the check does not compile there:
///
/// ```compile_fail
/// use nightshift::plan::safety::SafetyContext;
/// use nightshift::plan::Plan;
/// use nightshift::ports::Scaling;
///
/// async fn make(scaling: &dyn Scaling, plan: &Plan, _ctx: &SafetyContext<'_>) {
///     for call in &plan.calls {
///         scaling.execute(call, false).await;
///     }
/// }
/// ```
///
/// and cannot be passed off as a vetted one:
///
/// ```compile_fail
/// use nightshift::plan::safety::{SafetyContext, VettedCall};
/// use nightshift::plan::Plan;
/// use nightshift::ports::Scaling;
///
/// async fn make(scaling: &dyn Scaling, plan: &Plan, _ctx: &SafetyContext<'_>) {
///     for call in plan.calls.iter().cloned() {
///         scaling.execute(&VettedCall { call }, false).await;
///     }
/// }
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct VettedCall {
    call: Call,
}

impl VettedCall {
    /// The call that was allowed.
    pub fn call(&self) -> &Call {
        &self.call
    }

    /// The call, to record or to rewrite; a rewritten call is vetted again before it is made.
    pub fn into_call(self) -> Call {
        self.call
    }
}

impl PartialEq<Call> for VettedCall {
    fn eq(&self, other: &Call) -> bool {
        self.call == *other
    }
}

impl std::ops::Deref for VettedCall {
    type Target = Call;

    fn deref(&self) -> &Call {
        &self.call
    }
}

/// Every violation in `plan`; empty when every call is allowed.
pub fn check(plan: &Plan, ctx: &SafetyContext<'_>) -> Vec<Violation> {
    split(plan, ctx).1
}

/// The plan's calls split into the allowed ones (in order) and the refused ones.
pub fn split(plan: &Plan, ctx: &SafetyContext<'_>) -> (Vec<VettedCall>, Vec<Violation>) {
    let mut allowed = Vec::new();
    let mut refused = Vec::new();
    for verdict in vet(plan, ctx) {
        match verdict {
            Verdict::Allowed(call) => allowed.push(call),
            Verdict::Refused(violation) => refused.push(violation),
        }
    }
    (allowed, refused)
}

/// One planned call after the check.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed(VettedCall),
    Refused(Violation),
}

/// Every call of the plan, in order: allowed, or refused with the rule it broke.
pub fn vet(plan: &Plan, ctx: &SafetyContext<'_>) -> Vec<Verdict> {
    // Readers per cluster as the plan goes: live readers, plus each create allowed so far.
    let mut readers: BTreeMap<&str, usize> = BTreeMap::new();
    plan.calls
        .iter()
        .map(|call| verdict(call, &plan.calls, ctx, &mut readers))
        .collect()
}

/// One call on its own (a rewrite of a call vetted earlier in the same round, against the same
/// snapshot): allowed, or refused with the rule it broke.
pub fn vet_one(call: &Call, ctx: &SafetyContext<'_>) -> Verdict {
    verdict(call, std::slice::from_ref(call), ctx, &mut BTreeMap::new())
}

fn verdict<'a>(
    call: &'a Call,
    plan: &[Call],
    ctx: &SafetyContext<'_>,
    readers: &mut BTreeMap<&'a str, usize>,
) -> Verdict {
    match check_call(call, plan, ctx, readers) {
        Ok(()) => Verdict::Allowed(VettedCall { call: call.clone() }),
        Err((rule, why)) => Verdict::Refused(Violation {
            call: call.clone(),
            rule,
            why,
        }),
    }
}

/// A call handed to another kind's rules: refused (the dispatch in `check_call` never does it).
fn other_kind(call: &Call) -> RuleResult {
    Err((
        Rule::NotConfigured,
        format!(
            "{} is not a call of this kind of resource",
            call.operation()
        ),
    ))
}

/// A call allowed, or the rule it broke and why.
type RuleResult = Result<(), (Rule, String)>;

fn check_call<'a>(
    call: &'a Call,
    plan: &[Call],
    ctx: &SafetyContext<'_>,
    readers: &mut BTreeMap<&'a str, usize>,
) -> RuleResult {
    match call {
        Call::RegisterScalableTarget { .. } | Call::UpdateService { .. } => {
            service::check(call, ctx)
        }
        Call::RegisterReplicaTarget { .. }
        | Call::CreateDbInstance { .. }
        | Call::ModifyDbInstanceClass { .. }
        | Call::FailoverDbCluster { .. }
        | Call::DeleteDbInstance { .. }
        | Call::ModifyDbClusterCapacity { .. } => cluster::check(call, plan, ctx, readers),
        Call::UpdateComputeEnvironment { .. } => batch::check(call, ctx),
        Call::UpdateAutoScalingGroup { .. } => asg::check(call, ctx),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::super::*;
    use super::*;

    fn ctx<'a>(
        scenario: &'a Scenario,
        snapshot: &'a Snapshot,
        baseline: Option<&'a Baseline>,
    ) -> SafetyContext<'a> {
        SafetyContext {
            scenario,
            run: RUN,
            snapshot,
            baseline,
        }
    }

    fn one(call: Call) -> Plan {
        Plan {
            calls: vec![call],
            ..Plan::default()
        }
    }

    fn rules(plan: &Plan, ctx: &SafetyContext<'_>) -> Vec<Rule> {
        check(plan, ctx).into_iter().map(|v| v.rule).collect()
    }

    #[test]
    fn the_planners_output_passes() {
        let s = scenario(10, 20, 3, Some("db.r6g.2xlarge"));
        let snap = snapshot_with(2, Some(Capacity { min: 1, max: 2 }), &[]);
        let plan = plan_scale_up(&s, &snap, RUN).unwrap();
        assert!(!plan.calls.is_empty());
        assert_eq!(check(&plan, &ctx(&s, &snap, None)), []);
        let b = capture_baseline(&s, &snap, ts()).unwrap();
        let night = snapshot_with(
            10,
            Some(Capacity { min: 10, max: 10 }),
            &[managed(&reader_id(1), false, "db.r6g.large", RUN)],
        );
        let plan = plan_scale_down(&s, &b, &night, RUN);
        assert!(!plan.calls.is_empty());
        assert_eq!(check(&plan, &ctx(&s, &night, Some(&b))), []);
    }

    #[test]
    fn never_a_resource_absent_from_the_config() {
        let s = scenario(10, 20, 3, None);
        let snap = snapshot_with(2, None, &[]);
        let c = ctx(&s, &snap, None);
        let plan = one(Call::UpdateService {
            cluster: "batch".into(),
            service: "other".into(),
            desired: 1,
            from: 0,
        });
        assert_eq!(rules(&plan, &c), [Rule::NotConfigured]);
        let plan = one(Call::FailoverDbCluster {
            cluster: "elsewhere".into(),
            target: "x".into(),
            from: "y".into(),
        });
        assert_eq!(rules(&plan, &c), [Rule::NotConfigured]);
        let plan = one(Call::ModifyDbInstanceClass {
            cluster: "db".into(),
            instance: "not-in-db".into(),
            class: "db.r6g.large".into(),
            from: "db.r6g.large".into(),
        });
        assert_eq!(rules(&plan, &c), [Rule::NotConfigured]);
    }

    #[test]
    fn never_above_max() {
        let s = scenario(10, 20, 3, None);
        let snap = snapshot_with(2, None, &[]);
        let c = ctx(&s, &snap, None);
        let plan = one(Call::UpdateService {
            cluster: "batch".into(),
            service: "worker".into(),
            desired: 21,
            from: 2,
        });
        assert_eq!(rules(&plan, &c), [Rule::AboveMax]);
        let plan = one(Call::RegisterScalableTarget {
            cluster: "batch".into(),
            service: "worker".into(),
            to: Capacity { min: 21, max: 30 },
            from: Capacity { min: 1, max: 30 },
        });
        assert_eq!(rules(&plan, &c), [Rule::AboveMax]);
        // MaxCapacity may stay above `max`: it bounds autoscaling, it is not a desired count.
        let plan = one(Call::RegisterScalableTarget {
            cluster: "batch".into(),
            service: "worker".into(),
            to: Capacity { min: 10, max: 50 },
            from: Capacity { min: 1, max: 50 },
        });
        assert_eq!(rules(&plan, &c), []);
    }

    #[test]
    fn never_delete_or_resize_the_current_writer() {
        let s = scenario(10, 20, 3, None);
        let snap = snapshot_with(2, None, &[]);
        let b = capture_baseline(&s, &snap, ts()).unwrap();
        let c = ctx(&s, &snap, Some(&b));
        let plan = one(Call::DeleteDbInstance {
            cluster: "db".into(),
            instance: "db-w".into(),
        });
        assert_eq!(rules(&plan, &c), [Rule::WriterTouched]);
        let plan = one(Call::ModifyDbInstanceClass {
            cluster: "db".into(),
            instance: "db-w".into(),
            class: "db.r6g.2xlarge".into(),
            from: "db.r6g.large".into(),
        });
        assert_eq!(rules(&plan, &c), [Rule::WriterTouched]);
        // Even one of nightshift's own readers, once it is the writer.
        let mut night = snapshot_with(
            2,
            None,
            &[managed(&reader_id(1), true, "db.r6g.large", RUN)],
        );
        night.clusters[0].instances[0].writer = false;
        let c = ctx(&s, &night, Some(&b));
        let plan = one(Call::DeleteDbInstance {
            cluster: "db".into(),
            instance: reader_id(1),
        });
        assert_eq!(rules(&plan, &c), [Rule::WriterTouched]);
    }

    #[test]
    fn never_delete_an_instance_without_nightshifts_tags_for_this_run_or_from_the_baseline() {
        let s = scenario(10, 20, 3, None);
        let before = snapshot_with(2, None, &[instance("own-1", false, "db.r6g.large")]);
        let b = capture_baseline(&s, &before, ts()).unwrap();
        let mut other_run = managed(&reader_id(2), false, "db.r6g.large", "2026-11-24");
        other_run.id = reader_id(2);
        let mut in_baseline = managed("own-1", false, "db.r6g.large", RUN);
        in_baseline.id = "own-1".into();
        let night = snapshot_with(
            2,
            None,
            &[
                in_baseline,
                instance("stranger", false, "db.r6g.large"),
                other_run,
                managed(&reader_id(1), false, "db.r6g.large", RUN),
            ],
        );
        let c = ctx(&s, &night, Some(&b));
        for id in ["own-1".to_string(), "stranger".into(), reader_id(2)] {
            let plan = one(Call::DeleteDbInstance {
                cluster: "db".into(),
                instance: id.clone(),
            });
            assert_eq!(rules(&plan, &c), [Rule::NotNightshifts], "{id}");
        }
        let ok = one(Call::DeleteDbInstance {
            cluster: "db".into(),
            instance: reader_id(1),
        });
        assert_eq!(rules(&ok, &c), []);
        // A run that never scaled up (no baseline) deletes nothing, not even its own tag.
        assert_eq!(rules(&ok, &ctx(&s, &night, None)), [Rule::NotNightshifts]);
    }

    #[test]
    fn never_more_than_fifteen_readers_and_added_readers_are_tagged_at_tier_15() {
        let s = scenario(10, 20, 15, None);
        let own: Vec<InstanceState> = (1..=14)
            .map(|n| instance(&format!("own-{n}"), false, "db.r6g.large"))
            .collect();
        let snap = snapshot_with(2, None, &own);
        let c = ctx(&s, &snap, None);
        let create = |n: u32, tier: i32, run: &str| Call::CreateDbInstance {
            cluster: "db".into(),
            engine: "docdb".into(),
            instance: reader_id(n),
            class: "db.r6g.large".into(),
            promotion_tier: tier,
            tags: BTreeMap::from([
                (TAG_SCENARIO.into(), SCENARIO.into()),
                (TAG_RUN.into(), run.into()),
            ]),
            zone: None,
        };
        let plan = Plan {
            calls: vec![create(1, 15, RUN), create(2, 15, RUN)],
            ..Plan::default()
        };
        let (allowed, refused) = split(&plan, &c);
        assert_eq!(allowed, [create(1, 15, RUN)]);
        assert_eq!(refused[0].rule, Rule::TooManyReaders);
        assert_eq!(rules(&one(create(1, 1, RUN)), &c), [Rule::UntaggedReader]);
        assert_eq!(
            rules(&one(create(1, 15, "2026-01-01")), &c),
            [Rule::UntaggedReader]
        );
    }

    #[test]
    fn failover_must_go_from_the_writer_to_a_live_reader_that_is_not_being_deleted() {
        let s = scenario(10, 20, 3, None);
        let b = capture_baseline(&s, &snapshot_with(2, None, &[]), ts()).unwrap();
        let snap = snapshot_with(
            2,
            None,
            &[managed(&reader_id(1), false, "db.r6g.large", RUN)],
        );
        let c = ctx(&s, &snap, Some(&b));
        let failover = |target: String, from: &str| Call::FailoverDbCluster {
            cluster: "db".into(),
            target,
            from: from.into(),
        };
        assert_eq!(rules(&one(failover(reader_id(1), "db-w")), &c), []);
        assert_eq!(
            rules(&one(failover(reader_id(1), "not-writer")), &c),
            [Rule::BadFailover]
        );
        assert_eq!(
            rules(&one(failover("db-w".into(), "db-w")), &c),
            [Rule::BadFailover]
        );
        let plan = Plan {
            calls: vec![
                failover(reader_id(1), "db-w"),
                Call::DeleteDbInstance {
                    cluster: "db".into(),
                    instance: reader_id(1),
                },
            ],
            ..Plan::default()
        };
        assert_eq!(rules(&plan, &c), [Rule::BadFailover]);
    }
}
