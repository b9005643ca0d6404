//! The model: deliveries of one scenario's scale-up step, a linearizable DynamoDB holding the
//! items nightshift writes, and an AWS world that counts the scaling calls that took effect.
//!
//! Every decision a delivery makes on the guard and the leases is nightshift's own code:
//! [`Guard::claim_with_owners`], [`Guard::complete`] and [`Guard::fail`] run as they do in
//! production (over a [`GuardStore`] that evaluates each conditional write atomically with
//! [`claim_allowed`] and [`finish_allowed`], the rules pinned to the condition expressions by the
//! unit tests of `nightshift::aws::dynamodb`), the lease expiries come from
//! [`GuardPolicy::lease_until`], and the scaling lease's writes are decided by
//! [`scaling_lease_acquirable`] and [`scaling_lease_releasable`]. A completed step's final
//! transaction (the event, the dedup record's COMPLETED and the scaling lease's release in one
//! TransactWriteItems) is [`step_result_writable`]: all of it or, when a condition fails, none,
//! and then the same writes one by one as a failed step makes them (release, then complete).
//! What the model adds is the schedule: who moves next, when time advances, who crashes, which
//! answers are lost.
//!
//! A round whose calls all answered reads AWS again before recording. Production skips that read
//! when the plan said its calls finish the job; the model keeps it: the read changes nothing in
//! the store, so skipping it only removes states in which a crash or a tick could happen anyway.
//!
//! Time is in ticks of one second of true time. Each delivery has its own clock, `skew` ticks
//! ahead of (or behind) true time; Lambda's deadline is absolute and enforced in true time: an
//! invocation may act up to and including its deadline's tick (a call sent just before the
//! deadline lands at it) and is killed when time passes it.

use async_trait::async_trait;
use futures::executor::block_on;
use jiff::Timestamp;
use nightshift::domain::{Response, Step};
use nightshift::idempotency::{
    claim_allowed, finish_allowed, scaling_lease_acquirable, scaling_lease_releasable,
    step_result_writable, Claim, ClaimRequest, DedupId, DedupRecord, Guard, GuardPolicy, Lease,
    NewClaim, OwnerToken, PutResult, ScalingLeaseItem, Status,
};
use nightshift::ports::{FinishError, GuardStore, StoreError};
use nightshift::Outcome;
use stateright::{Model, Property};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Epoch second of tick 0.
const BASE_S: i64 = 1_764_100_000;

/// A deliberate bug, selected by the model's parameter (the code is not edited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mutant {
    /// Complete's condition without the owner: any delivery completes an IN_PROGRESS record.
    NoOwnerOnComplete,
    /// The scaling lease's expiry computed from the event's clock (its `time`, written by the
    /// producer at the first delivery) instead of the invocation's clock and deadline.
    LeaseFromEventClock,
    /// The claim lets a different payload take over a failed or expired record.
    TakeoverOnDifferentPayload,
}

/// When a delivery is delivered again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Redelivery {
    /// Lambda asynchronous invocation: after an error or a crash (a timeout is one), up to
    /// `retries` more attempts; an answer that is not an error ends the delivery.
    Lambda { retries: u8 },
    /// The fairness assumption: redelivered until its step is answered as done
    /// (acted, duplicate or rejected), at most `attempts` attempts in all.
    UntilDone { attempts: u8 },
}

/// One delivery of an event: its dedup key, its payload and its environment's clock skew.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub key: u8,
    pub payload: u8,
    pub skew: i8,
}

/// The scaling calls a scale-up plans, in order. CreateDBInstance repeats safely by
/// construction (deterministic identifier: a repeat answers DBInstanceAlreadyExists, which the
/// adapter treats as done; UpdateService to the same count and RegisterScalableTarget to the same
/// capacity are of this kind); FailoverDBCluster does not (a second failover moves the writer
/// again), so it must take effect at most once per run.
pub const ACTIONS: [&str; 2] = ["FailoverDBCluster", "CreateDBInstance"];
pub const FAILOVER: usize = 0;

#[derive(Debug, Clone)]
pub struct Cfg {
    pub name: &'static str,
    pub deliveries: Vec<Spec>,
    /// Lambda timeout, in ticks: an invocation started at t has the deadline t + timeout.
    pub timeout: u8,
    /// The guard's default lease (used when there is no usable deadline), in ticks.
    pub default_lease: u8,
    /// Ticks between an error and Lambda's retry (at the earliest).
    pub retry_delay: u8,
    /// First deliveries arrive at ticks 0..=receive_by.
    pub receive_by: u8,
    pub max_time: u8,
    pub max_crashes: u8,
    /// Scaling calls that take effect but whose answer is lost.
    pub max_lost_answers: u8,
    /// How many of [`ACTIONS`] the scale-up plans (1: FailoverDBCluster only; 2: both).
    pub calls: u8,
    pub redelivery: Redelivery,
    pub mutant: Option<Mutant>,
    /// A takeover margin in ticks (0 = production): a lease is taken over only once it ended
    /// more than this long ago, the conditions evaluated at `now - margin`. Used to evaluate the
    /// fix of the clock-skew finding, not production.
    pub takeover_margin: u8,
    /// Answer `in-progress` as a retryable error (false = production, a success). Used to
    /// evaluate the fix of the stuck-record finding.
    pub in_progress_is_error: bool,
}

impl Cfg {
    pub fn policy(&self) -> GuardPolicy {
        GuardPolicy {
            default_lease: Duration::from_secs(self.default_lease.into()),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }

    pub fn bound(&self) -> String {
        let skews: Vec<String> = self
            .deliveries
            .iter()
            .map(|d| format!("{:+}", d.skew))
            .collect();
        let keys: Vec<String> = self
            .deliveries
            .iter()
            .map(|d| format!("k{}/p{}", d.key, d.payload))
            .collect();
        format!(
            "{} deliveries [{}], clock skews [{}] ticks, Lambda timeout {} ticks, default lease {}, \
             first deliveries by t={}, time up to t={}, {} crash(es), {} lost answer(s), {}",
            self.deliveries.len(),
            keys.join(", "),
            skews.join(", "),
            self.timeout,
            self.default_lease,
            self.receive_by,
            self.max_time,
            self.max_crashes,
            self.max_lost_answers,
            match self.redelivery {
                Redelivery::Lambda { retries } =>
                    format!("Lambda retries ({retries}, after {} tick)", self.retry_delay),
                Redelivery::UntilDone { attempts } =>
                    format!("redelivered until done (≤ {attempts} attempts each)"),
            }
        )
    }
}

/// A lease owner: delivery `d`, attempt `a`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token {
    pub d: u8,
    pub a: u8,
}

impl Token {
    fn dedup(self) -> OwnerToken {
        OwnerToken(format!("d{}a{}", self.d, self.a))
    }
    fn scaling(self) -> String {
        format!("s{}a{}", self.d, self.a)
    }
    fn parse(owner: &OwnerToken) -> Token {
        let (d, a) = owner.0[1..].split_once('a').expect("model token");
        Token {
            d: d.parse().expect("model token"),
            a: a.parse().expect("model token"),
        }
    }
}

/// A dedup record as stored (the attributes the conditions read).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rec {
    pub status: Status,
    pub owner: Token,
    pub payload: u8,
    pub lease_until_ms: i64,
    pub expires_at_s: i64,
}

/// The table: dedup records by key, the scenario's STATE item (scaling lease, open run pointer)
/// and the run record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Store {
    pub dedup: BTreeMap<u8, Rec>,
    pub lease_owner: Option<Token>,
    pub lease_until_ms: Option<i64>,
    pub open_run: bool,
    pub runs_opened: u8,
}

/// What AWS holds, and how often each planned call took effect.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct World {
    pub done: [bool; 2],
    pub executed: [u8; 2],
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Invoked, before the claim.
    Received,
    /// Owns the step (Claim::Proceed).
    Claimed,
    /// Holds the scaling lease (as far as it knows), before reading AWS.
    Holding,
    /// Planned from a snapshot: the calls left, in order.
    Executing(Vec<u8>),
    /// Converged and done, the scaling lease still held: the final writes (the event, the
    /// guard's result and the lease's release) go in one transaction.
    Recording,
    /// Converged (or stopped), writing one by one; `lease` while it still has to release the
    /// scaling lease.
    Worked { failure: bool, lease: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attempt {
    pub token: Token,
    pub start: u8,
    pub stage: Stage,
}

impl Attempt {
    fn deadline(&self, cfg: &Cfg) -> u8 {
        self.start + cfg.timeout
    }
    /// Believes it holds the scaling lease.
    pub fn holds_lease(&self) -> bool {
        matches!(
            self.stage,
            Stage::Holding
                | Stage::Executing(_)
                | Stage::Recording
                | Stage::Worked { lease: true, .. }
        )
    }
}

/// The last answer of a delivery's attempt (what Lambda saw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    Acted,
    Duplicate,
    InProgress,
    Rejected,
    Error,
    Crashed,
    TimedOut,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Not running: never delivered (attempts 0), or waiting for a redelivery from `retry_at`.
    Waiting {
        retry_at: u8,
    },
    Running(Attempt),
    /// No more deliveries will come; `answered`: the last answer said the step is done
    /// (acted, duplicate or rejected).
    Done {
        answered: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Delivery {
    pub phase: Phase,
    pub attempts: u8,
    /// The true tick of the first delivery (the event's `time`); kept only for the mutant that
    /// reads it, so that it does not split states otherwise.
    pub event_time: Option<u8>,
}

/// Facts recorded when they happen, for the properties.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Ghost {
    /// A write replaced or changed a COMPLETED dedup record.
    pub overwrote_completed: bool,
    /// A write replaced a dedup record with one of another payload.
    pub payload_replaced: bool,
    /// A delivery completed or failed a dedup record that another delivery owned (its own
    /// claim was taken over).
    pub stale_finish: bool,
    /// A delivery made a scaling call or opened the run while the store's scaling lease was
    /// another delivery's (its own was taken over).
    pub stale_call: bool,
    pub took_over: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State {
    pub t: u8,
    pub store: Store,
    pub world: World,
    pub deliveries: Vec<Delivery>,
    pub crashes: u8,
    pub lost: u8,
    pub ghost: Ghost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Tick,
    Deliver(u8),
    Claim(u8),
    AcquireLease(u8),
    Snapshot(u8),
    /// The next planned call; `lost`: it takes effect and its answer is lost (an error).
    Execute {
        d: u8,
        lost: bool,
    },
    /// A completed step's final transaction: the event, the dedup record's COMPLETED and the
    /// scaling lease's release, all or (a condition failed) none, then one by one.
    RecordTogether(u8),
    ReleaseLease(u8),
    /// Record the event, then complete (or fail) the dedup record.
    Finish(u8),
    Crash(u8),
}

impl Action {
    pub fn is_crash(&self) -> bool {
        matches!(self, Action::Crash(_))
    }
}

pub struct ProtocolModel {
    pub cfg: Cfg,
}

fn ts(tick: i64) -> Timestamp {
    Timestamp::from_second(BASE_S + tick).expect("model time")
}

fn id_of(key: u8) -> DedupId {
    DedupId {
        key: format!("k{key}"),
        step: Step::ScaleUp,
    }
}

fn hash_of(payload: u8) -> String {
    format!("p{payload}")
}

fn to_record(key: u8, r: &Rec) -> DedupRecord {
    DedupRecord {
        id: id_of(key),
        status: r.status,
        owner: r.owner.dedup(),
        payload_hash: hash_of(r.payload),
        lease_until: Timestamp::from_millisecond(r.lease_until_ms).expect("model time"),
        expires_at: Timestamp::from_second(r.expires_at_s).expect("model time"),
        claimed_at: ts(0),
        finished_at: None,
        result: None,
        error: None,
    }
}

/// A [`GuardStore`] over one dedup item of the model's table: each call is one atomic
/// conditional write or consistent read, as DynamoDB applies it. Claims return the old item
/// (ALL_OLD), as DynamoDB does.
struct ItemStore {
    key: u8,
    item: Mutex<Option<Rec>>,
    ghost: Mutex<Ghost>,
    mutant: Option<Mutant>,
}

#[async_trait]
impl GuardStore for ItemStore {
    async fn put_claim(&self, claim: &NewClaim) -> Result<PutResult, StoreError> {
        let mut item = self.item.lock().expect("model lock");
        let old = item.as_ref().map(|r| to_record(self.key, r));
        let payload: u8 = claim.payload_hash[1..].parse().expect("model payload");
        let allowed = match (self.mutant, &old) {
            (Some(Mutant::TakeoverOnDifferentPayload), Some(old)) => {
                let mut blind = old.clone();
                blind.payload_hash = claim.payload_hash.clone();
                claim_allowed(Some(&blind), &claim.payload_hash, claim.now)
            }
            _ => claim_allowed(old.as_ref(), &claim.payload_hash, claim.now),
        };
        if !allowed {
            return Ok(PutResult::ConditionFailed(old.map(Box::new)));
        }
        let mut ghost = self.ghost.lock().expect("model lock");
        if let Some(prev) = item.as_ref() {
            ghost.took_over = true;
            ghost.overwrote_completed |= prev.status == Status::Completed;
            ghost.payload_replaced |= prev.payload != payload;
        }
        *item = Some(Rec {
            status: Status::InProgress,
            owner: Token::parse(&claim.owner),
            payload,
            lease_until_ms: claim.lease_until.as_millisecond(),
            expires_at_s: claim.expires_at.as_second(),
        });
        Ok(PutResult::Written {
            takeover: old.is_some(),
        })
    }

    async fn get(&self, _id: &DedupId) -> Result<Option<DedupRecord>, StoreError> {
        let item = self.item.lock().expect("model lock");
        Ok(item.as_ref().map(|r| to_record(self.key, r)))
    }

    async fn complete(
        &self,
        lease: &Lease,
        _result: &Response,
        _now: Timestamp,
    ) -> Result<(), FinishError> {
        self.finish(lease, Status::Completed)
    }

    async fn fail(&self, lease: &Lease, _error: &str, _now: Timestamp) -> Result<(), FinishError> {
        self.finish(lease, Status::Failed)
    }
}

impl ItemStore {
    fn finish(&self, lease: &Lease, status: Status) -> Result<(), FinishError> {
        let mut item = self.item.lock().expect("model lock");
        let old = item.as_ref().map(|r| to_record(self.key, r));
        let allowed = match (self.mutant, &old) {
            (Some(Mutant::NoOwnerOnComplete), Some(old)) if status == Status::Completed => {
                let mut blind = old.clone();
                blind.owner = lease.owner.clone();
                finish_allowed(Some(&blind), &lease.owner)
            }
            _ => finish_allowed(old.as_ref(), &lease.owner),
        };
        if !allowed {
            return Err(FinishError::StaleOwner {
                id: lease.id.clone(),
            });
        }
        let rec = item.as_mut().expect("finish_allowed needs an item");
        let mut ghost = self.ghost.lock().expect("model lock");
        ghost.overwrote_completed |= rec.status == Status::Completed;
        ghost.stale_finish |= rec.owner != Token::parse(&lease.owner);
        rec.status = status;
        Ok(())
    }
}

fn response(key: u8) -> Response {
    Response {
        outcome: Outcome::Acted,
        scenario: Some("nightly".into()),
        run: None,
        step: Some(Step::ScaleUp),
        actions: vec![],
        reason: "model".into(),
        detail: String::new(),
        key: Some(format!("k{key}")),
    }
}

impl ProtocolModel {
    fn spec(&self, d: u8) -> Spec {
        self.cfg.deliveries[d as usize]
    }

    /// The delivery's own clock at true tick `t`.
    fn local(&self, d: u8, t: u8) -> Timestamp {
        ts(i64::from(t) + i64::from(self.spec(d).skew))
    }

    fn deadline(&self, a: &Attempt) -> Timestamp {
        ts(i64::from(a.deadline(&self.cfg)))
    }

    fn margin(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_secs(self.cfg.takeover_margin.into())
    }

    fn running<'s>(&self, s: &'s State, d: u8) -> Option<&'s Attempt> {
        match &s.deliveries[d as usize].phase {
            Phase::Running(a) => Some(a),
            _ => None,
        }
    }

    /// The attempt ended with `answer` at tick `t`: Lambda (or the redelivery assumption)
    /// decides whether another attempt comes.
    fn end(&self, s: &mut State, d: u8, answer: Answer) {
        let t = s.t;
        let del = &mut s.deliveries[d as usize];
        let error = matches!(
            answer,
            Answer::Rejected | Answer::Error | Answer::Crashed | Answer::TimedOut
        ) || (answer == Answer::InProgress && self.cfg.in_progress_is_error);
        let answered = matches!(answer, Answer::Acted | Answer::Duplicate | Answer::Rejected);
        let again = match self.cfg.redelivery {
            // Lambda retries any function error, whatever its errorType (a rejection too).
            Redelivery::Lambda { retries } => error && del.attempts <= retries,
            Redelivery::UntilDone { attempts } => !answered && del.attempts < attempts,
        };
        del.phase = if again {
            Phase::Waiting {
                retry_at: t + self.cfg.retry_delay,
            }
        } else {
            Phase::Done { answered }
        };
    }

    fn set_stage(s: &mut State, d: u8, stage: Stage) {
        if let Phase::Running(a) = &mut s.deliveries[d as usize].phase {
            a.stage = stage;
        }
    }

    /// Does the store say `token` holds the scaling lease?
    fn store_lease_is(s: &State, token: Token) -> bool {
        s.store.lease_owner == Some(token)
    }

    fn claim(&self, s: &mut State, d: u8, a: &Attempt) {
        let spec = self.spec(d);
        let store = ItemStore {
            key: spec.key,
            item: Mutex::new(s.store.dedup.get(&spec.key).cloned()),
            ghost: Mutex::new(s.ghost.clone()),
            mutant: self.cfg.mutant,
        };
        let guard = Guard::new(store, self.cfg.policy());
        let req = ClaimRequest {
            id: id_of(spec.key),
            payload_hash: hash_of(spec.payload),
            now: self.local(d, s.t) - self.margin(),
            deadline: Some(self.deadline(a)),
        };
        let token = a.token;
        let claim = block_on(guard.claim_with_owners(&req, || token.dedup()))
            .expect("the model store does not fail");
        let store = guard.store();
        if let Some(rec) = store.item.lock().expect("model lock").clone() {
            s.store.dedup.insert(spec.key, rec);
        }
        s.ghost = store.ghost.lock().expect("model lock").clone();
        match claim {
            Claim::Proceed(_) => Self::set_stage(s, d, Stage::Claimed),
            Claim::Replay(_) => self.end(s, d, Answer::Duplicate),
            Claim::InProgress { .. } => self.end(s, d, Answer::InProgress),
            Claim::PayloadMismatch { .. } => self.end(s, d, Answer::Rejected),
        }
    }

    fn acquire(&self, s: &mut State, d: u8, a: &Attempt) {
        let now = self.local(d, s.t);
        let policy = self.cfg.policy();
        let until = match self.cfg.mutant {
            Some(Mutant::LeaseFromEventClock) => {
                let event = s.deliveries[d as usize].event_time.unwrap_or(s.t);
                policy.lease_until(ts(event.into()), None)
            }
            _ => policy.lease_until(now, Some(self.deadline(a))),
        };
        let owner = a.token.scaling();
        let held = s.store.lease_owner.map(Token::scaling);
        let item = ScalingLeaseItem {
            owner: held.as_deref(),
            until_ms: s.store.lease_until_ms,
        };
        if scaling_lease_acquirable(item, &owner, now - self.margin()) {
            s.store.lease_owner = Some(a.token);
            s.store.lease_until_ms = Some(until.as_millisecond());
            Self::set_stage(s, d, Stage::Holding);
        } else {
            // ScalingLease::Held after waiting: the step is deferred and fails, to be retried.
            Self::set_stage(
                s,
                d,
                Stage::Worked {
                    failure: true,
                    lease: false,
                },
            );
        }
    }

    fn snapshot(&self, s: &mut State, d: u8, a: &Attempt) {
        // The first round opens the night's run (a transaction conditional on no open run);
        // then the plan is what AWS does not show done yet.
        if !s.store.open_run {
            s.ghost.stale_call |= !Self::store_lease_is(s, a.token);
            s.store.open_run = true;
            s.store.runs_opened += 1;
        }
        let todo: Vec<u8> = (0..self.cfg.calls)
            .filter(|&i| !s.world.done[i as usize])
            .collect();
        let stage = if todo.is_empty() {
            Stage::Recording
        } else {
            Stage::Executing(todo)
        };
        Self::set_stage(s, d, stage);
    }

    fn execute(&self, s: &mut State, d: u8, a: &Attempt, lost: bool) {
        let Stage::Executing(todo) = &a.stage else {
            return;
        };
        let call = todo[0] as usize;
        s.ghost.stale_call |= !Self::store_lease_is(s, a.token);
        s.world.done[call] = true;
        s.world.executed[call] = s.world.executed[call].saturating_add(1);
        let stage = if lost {
            s.lost += 1;
            Stage::Worked {
                failure: true,
                lease: true,
            }
        } else if todo.len() == 1 {
            // All calls of this round answered: the next round reads AWS again.
            Stage::Holding
        } else {
            Stage::Executing(todo[1..].to_vec())
        };
        Self::set_stage(s, d, stage);
    }

    /// The final transaction of a completed step: applied only when each of its writes would
    /// apply alone ([`step_result_writable`]); otherwise nothing is written and the delivery
    /// goes on one write at a time (release, then complete).
    fn record_together(&self, s: &mut State, d: u8, a: &Attempt) {
        let spec = self.spec(d);
        let owner = a.token.dedup();
        let mut old = s.store.dedup.get(&spec.key).map(|r| to_record(spec.key, r));
        if self.cfg.mutant == Some(Mutant::NoOwnerOnComplete) {
            if let Some(old) = old.as_mut() {
                old.owner = owner.clone();
            }
        }
        let held = s.store.lease_owner.map(Token::scaling);
        let item = ScalingLeaseItem {
            owner: held.as_deref(),
            until_ms: s.store.lease_until_ms,
        };
        let scaling_owner = a.token.scaling();
        if !step_result_writable(old.as_ref(), &owner, Some((item, &scaling_owner))) {
            Self::set_stage(
                s,
                d,
                Stage::Worked {
                    failure: false,
                    lease: true,
                },
            );
            return;
        }
        let rec = s
            .store
            .dedup
            .get_mut(&spec.key)
            .expect("finish_allowed needs an item");
        s.ghost.overwrote_completed |= rec.status == Status::Completed;
        s.ghost.stale_finish |= rec.owner != a.token;
        rec.status = Status::Completed;
        s.store.lease_owner = None;
        s.store.lease_until_ms = None;
        self.end(s, d, Answer::Acted);
    }

    fn release(&self, s: &mut State, d: u8, a: &Attempt) {
        let Stage::Worked { failure, .. } = a.stage else {
            return;
        };
        let owner = a.token.scaling();
        let held = s.store.lease_owner.map(Token::scaling);
        let item = ScalingLeaseItem {
            owner: held.as_deref(),
            until_ms: s.store.lease_until_ms,
        };
        if scaling_lease_releasable(item, &owner) {
            s.store.lease_owner = None;
            s.store.lease_until_ms = None;
        }
        Self::set_stage(
            s,
            d,
            Stage::Worked {
                failure,
                lease: false,
            },
        );
    }

    fn finish(&self, s: &mut State, d: u8, a: &Attempt) {
        let Stage::Worked { failure, .. } = a.stage else {
            return;
        };
        let spec = self.spec(d);
        let store = ItemStore {
            key: spec.key,
            item: Mutex::new(s.store.dedup.get(&spec.key).cloned()),
            ghost: Mutex::new(s.ghost.clone()),
            mutant: self.cfg.mutant,
        };
        let guard = Guard::new(store, self.cfg.policy());
        let lease = Lease {
            id: id_of(spec.key),
            owner: a.token.dedup(),
            lease_until: self.deadline(a),
            takeover: false,
        };
        let now = self.local(d, s.t);
        let result = if failure {
            block_on(guard.fail(&lease, "model: a call failed", now))
        } else {
            block_on(guard.complete(&lease, &response(spec.key), now))
        };
        let store = guard.store();
        if let Some(rec) = store.item.lock().expect("model lock").clone() {
            s.store.dedup.insert(spec.key, rec);
        }
        s.ghost = store.ghost.lock().expect("model lock").clone();
        let answer = match (failure, result) {
            (false, Ok(())) => Answer::Acted,
            _ => Answer::Error,
        };
        self.end(s, d, answer);
    }

    /// Every key's step completed, nothing in progress, nothing running, AWS converged.
    pub fn quiescent_complete(&self, s: &State) -> bool {
        let keys: std::collections::BTreeSet<u8> =
            self.cfg.deliveries.iter().map(|d| d.key).collect();
        keys.iter().all(|k| {
            s.store
                .dedup
                .get(k)
                .is_some_and(|r| r.status == Status::Completed)
        }) && s.world.done[..self.cfg.calls as usize].iter().all(|&d| d)
            && s.deliveries
                .iter()
                .all(|d| !matches!(d.phase, Phase::Running(_)))
    }

    /// Keys whose step has not completed.
    pub fn incomplete_keys(&self, s: &State) -> Vec<u8> {
        let mut keys: Vec<u8> = self.cfg.deliveries.iter().map(|d| d.key).collect();
        keys.sort_unstable();
        keys.dedup();
        keys.retain(|k| {
            !s.store
                .dedup
                .get(k)
                .is_some_and(|r| r.status == Status::Completed)
        });
        keys
    }

    /// Live attempts that believe they hold the scaling lease.
    pub fn lease_holders(&self, s: &State) -> usize {
        s.deliveries
            .iter()
            .filter(|d| match &d.phase {
                Phase::Running(a) => a.holds_lease() && s.t <= a.deadline(&self.cfg),
                _ => false,
            })
            .count()
    }
}

impl Model for ProtocolModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State {
            t: 0,
            store: Store::default(),
            world: World::default(),
            deliveries: self
                .cfg
                .deliveries
                .iter()
                .map(|_| Delivery {
                    phase: Phase::Waiting { retry_at: 0 },
                    attempts: 0,
                    event_time: None,
                })
                .collect(),
            crashes: 0,
            lost: 0,
            ghost: Ghost::default(),
        }]
    }

    fn actions(&self, s: &State, actions: &mut Vec<Action>) {
        let cfg = &self.cfg;
        let mut pending_first = false;
        let mut anything = false;
        for (i, del) in s.deliveries.iter().enumerate() {
            let d = i as u8;
            match &del.phase {
                Phase::Done { .. } => {}
                Phase::Waiting { retry_at } => {
                    anything = true;
                    if del.attempts == 0 {
                        pending_first = true;
                        if s.t <= cfg.receive_by {
                            actions.push(Action::Deliver(d));
                        }
                    } else if s.t >= *retry_at {
                        actions.push(Action::Deliver(d));
                    }
                }
                Phase::Running(a) => {
                    anything = true;
                    if s.t > a.deadline(cfg) {
                        continue; // killed at the next tick
                    }
                    match &a.stage {
                        Stage::Received => actions.push(Action::Claim(d)),
                        Stage::Claimed => actions.push(Action::AcquireLease(d)),
                        Stage::Holding => actions.push(Action::Snapshot(d)),
                        Stage::Executing(_) => {
                            actions.push(Action::Execute { d, lost: false });
                            if s.lost < cfg.max_lost_answers {
                                actions.push(Action::Execute { d, lost: true });
                            }
                        }
                        Stage::Recording => actions.push(Action::RecordTogether(d)),
                        Stage::Worked { lease: true, .. } => actions.push(Action::ReleaseLease(d)),
                        Stage::Worked { lease: false, .. } => actions.push(Action::Finish(d)),
                    }
                    // A crash before the claim is a delivery that comes later: not enumerated.
                    if s.crashes < cfg.max_crashes && a.stage != Stage::Received {
                        actions.push(Action::Crash(d));
                    }
                }
            }
        }
        // Time advances while something waits for it; first deliveries arrive by `receive_by`.
        if anything && s.t < cfg.max_time && !(pending_first && s.t >= cfg.receive_by) {
            actions.push(Action::Tick);
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut s = last.clone();
        match action {
            Action::Tick => {
                s.t += 1;
                for d in 0..s.deliveries.len() as u8 {
                    if let Some(a) = self.running(&s, d) {
                        if s.t > a.deadline(&self.cfg) {
                            // Lambda kills the invocation at its deadline.
                            self.end(&mut s, d, Answer::TimedOut);
                        }
                    }
                }
            }
            Action::Deliver(d) => {
                let t = s.t;
                let del = &mut s.deliveries[d as usize];
                if self.cfg.mutant == Some(Mutant::LeaseFromEventClock) {
                    del.event_time.get_or_insert(t);
                }
                let token = Token { d, a: del.attempts };
                del.attempts += 1;
                del.phase = Phase::Running(Attempt {
                    token,
                    start: t,
                    stage: Stage::Received,
                });
            }
            Action::Crash(d) => {
                s.crashes += 1;
                self.end(&mut s, d, Answer::Crashed);
            }
            other => {
                let d = match other {
                    Action::Claim(d)
                    | Action::AcquireLease(d)
                    | Action::Snapshot(d)
                    | Action::Execute { d, .. }
                    | Action::RecordTogether(d)
                    | Action::ReleaseLease(d)
                    | Action::Finish(d) => d,
                    _ => unreachable!(),
                };
                let a = self.running(&s, d)?.clone();
                match other {
                    Action::Claim(_) => self.claim(&mut s, d, &a),
                    Action::AcquireLease(_) => self.acquire(&mut s, d, &a),
                    Action::Snapshot(_) => self.snapshot(&mut s, d, &a),
                    Action::Execute { lost, .. } => self.execute(&mut s, d, &a, lost),
                    Action::RecordTogether(_) => self.record_together(&mut s, d, &a),
                    Action::ReleaseLease(_) => self.release(&mut s, d, &a),
                    Action::Finish(_) => self.finish(&mut s, d, &a),
                    _ => unreachable!(),
                }
            }
        }
        Some(s)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always(
                "FailoverDBCluster (not idempotent) takes effect at most once per run",
                |_: &ProtocolModel, s: &State| s.world.executed[FAILOVER] <= 1,
            ),
            Property::always(
                "a COMPLETED dedup record is never overwritten",
                |_: &ProtocolModel, s: &State| !s.ghost.overwrote_completed,
            ),
            Property::always(
                "no two live deliveries hold the scenario's scaling lease at once",
                |m: &ProtocolModel, s: &State| m.lease_holders(s) <= 1,
            ),
            Property::always(
                "a delivery whose claim was taken over does not complete or fail the step",
                |_: &ProtocolModel, s: &State| !s.ghost.stale_finish,
            ),
            Property::always(
                "a delivery whose scaling lease was taken over makes no scaling call",
                |_: &ProtocolModel, s: &State| !s.ghost.stale_call,
            ),
            Property::always(
                "a dedup record is never taken over by another payload",
                |_: &ProtocolModel, s: &State| !s.ghost.payload_replaced,
            ),
            Property::always(
                "the night's run is opened once",
                |_: &ProtocolModel, s: &State| s.store.runs_opened <= 1,
            ),
            Property::sometimes(
                "an expired or failed claim is taken over",
                |_: &ProtocolModel, s: &State| s.ghost.took_over,
            ),
            Property::sometimes("every step completes", |m: &ProtocolModel, s: &State| {
                m.quiescent_complete(s)
            }),
        ]
    }
}
