//! The condition expressions above and the pure rules of `crate::idempotency` are two
//! spellings of one decision: DynamoDB evaluates the first, the guard's classification and
//! the model check (integration/model) the second. These tests evaluate each expression with
//! a small evaluator of DynamoDB's condition grammar (the subset used here) over the items
//! this adapter writes and decodes, and require the same answer as the rule on every row of
//! a truth table that straddles each boundary (second, millisecond, owner, payload, status).
use super::*;
use crate::idempotency::{
    claim_allowed, finish_allowed, scaling_lease_acquirable, scaling_lease_releasable,
    ScalingLeaseItem,
};
use std::cmp::Ordering;

/// DynamoDB's condition semantics for `OR`, `AND`, parentheses, `attribute_exists`,
/// `attribute_not_exists`, and `=`, `<>`, `<`, `<=`, `>`, `>=` on N and S values; a
/// comparison with a missing attribute or across types is false.
struct Eval<'a> {
    tokens: Vec<String>,
    at: usize,
    item: Option<&'a Item>,
    names: &'a HashMap<&'a str, &'a str>,
    values: &'a Item,
}

fn tokenize(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' || c == ',' {
            out.push(c.to_string());
            i += 1;
        } else if "=<>".contains(c) {
            let mut op = c.to_string();
            if i + 1 < chars.len() && "=>".contains(chars[i + 1]) && c != '=' {
                op.push(chars[i + 1]);
                i += 1;
            }
            out.push(op);
            i += 1;
        } else {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_#:.".contains(chars[i])) {
                i += 1;
            }
            assert!(i > start, "unexpected character {c:?} in {expr}");
            out.push(chars[start..i].iter().collect());
        }
    }
    out
}

impl<'a> Eval<'a> {
    fn run(
        expr: &str,
        item: Option<&'a Item>,
        names: &'a HashMap<&'a str, &'a str>,
        values: &'a Item,
    ) -> bool {
        let mut e = Eval {
            tokens: tokenize(expr),
            at: 0,
            item,
            names,
            values,
        };
        let v = e.or();
        assert_eq!(e.at, e.tokens.len(), "trailing tokens in {expr}");
        v
    }

    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> String {
        let t = self.tokens[self.at].clone();
        self.at += 1;
        t
    }

    fn expect(&mut self, t: &str) {
        assert_eq!(self.next(), t);
    }

    fn or(&mut self) -> bool {
        let mut v = self.and();
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("OR")) {
            self.next();
            let r = self.and();
            v = v || r;
        }
        v
    }

    fn and(&mut self) -> bool {
        let mut v = self.factor();
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("AND")) {
            self.next();
            let r = self.factor();
            v = v && r;
        }
        v
    }

    fn path(&mut self) -> String {
        let t = self.next();
        match t.strip_prefix('#') {
            Some(_) => self.names[t.as_str()].to_string(),
            None => t,
        }
    }

    fn attribute(&self, path: &str) -> Option<&'a AttributeValue> {
        self.item.and_then(|item| item.get(path))
    }

    fn operand(&mut self) -> Option<&'a AttributeValue> {
        if self.peek().is_some_and(|t| t.starts_with(':')) {
            let t = self.next();
            Some(&self.values[t.as_str()])
        } else {
            let path = self.path();
            self.attribute(&path)
        }
    }

    fn factor(&mut self) -> bool {
        match self.peek() {
            Some("(") => {
                self.next();
                let v = self.or();
                self.expect(")");
                v
            }
            Some(f @ ("attribute_exists" | "attribute_not_exists")) => {
                let exists = f == "attribute_exists";
                self.next();
                self.expect("(");
                let path = self.path();
                self.expect(")");
                self.attribute(&path).is_some() == exists
            }
            _ => {
                let left = self.operand();
                let op = self.next();
                let right = self.operand();
                let ord = match (left, right) {
                    (Some(AttributeValue::N(a)), Some(AttributeValue::N(b))) => {
                        a.parse::<i128>().unwrap().cmp(&b.parse::<i128>().unwrap())
                    }
                    (Some(AttributeValue::S(a)), Some(AttributeValue::S(b))) => a.cmp(b),
                    _ => return false,
                };
                match op.as_str() {
                    "=" => ord == Ordering::Equal,
                    "<>" => ord != Ordering::Equal,
                    "<" => ord == Ordering::Less,
                    "<=" => ord != Ordering::Greater,
                    ">" => ord == Ordering::Greater,
                    ">=" => ord != Ordering::Less,
                    other => panic!("unknown operator {other}"),
                }
            }
        }
    }
}

/// A `now` with sub-second and sub-millisecond parts, so truncation is exercised.
fn now() -> Timestamp {
    Timestamp::new(1_764_100_000, 500_250_000).unwrap()
}

fn claim_at(owner: &str, hash: &str, lease_until_ms: i64, expires_at_s: i64) -> NewClaim {
    NewClaim {
        id: DedupId {
            key: "evt-1".into(),
            step: Step::ScaleUp,
        },
        owner: OwnerToken(owner.into()),
        payload_hash: hash.into(),
        now: now(),
        lease_until: Timestamp::from_millisecond(lease_until_ms).unwrap(),
        expires_at: Timestamp::from_second(expires_at_s).unwrap(),
    }
}

/// Every stored dedup item the table of the claim and finish rules ranges over: each
/// status, the same and another payload and owner, the lease and the retention just
/// before, at and after `now` in the unit they are stored in.
fn stored_records() -> Vec<Item> {
    let (ms, s_) = (now().as_millisecond(), now().as_second());
    let mut out = Vec::new();
    for status in [Status::InProgress, Status::Completed, Status::Failed] {
        for hash in ["h1", "h2"] {
            for owner in ["o1", "o2"] {
                for lease in [ms - 1, ms, ms + 1] {
                    for expires in [s_ - 1, s_, s_ + 1] {
                        let mut item = claim_item(&claim_at(owner, hash, lease, expires));
                        item.insert("status".into(), s(status.as_str()));
                        out.push(item);
                    }
                }
            }
        }
    }
    out
}

#[test]
fn the_claim_condition_and_claim_allowed_agree_on_every_row() {
    let names = HashMap::from([("#status", "status")]);
    let incoming = claim_at("new", "h1", now().as_millisecond() + 60_000, 1_800_000_000);
    let values = claim_values(&incoming);
    let mut rows = 0;
    let mut allowed = 0;
    // No record at all.
    assert!(Eval::run(CLAIM_CONDITION, None, &names, &values));
    assert!(claim_allowed(None, "h1", incoming.now));
    for item in stored_records() {
        let record = DynamoStore::decode_dedup(&item).unwrap();
        let expression = Eval::run(CLAIM_CONDITION, Some(&item), &names, &values);
        let rule = claim_allowed(Some(&record), &incoming.payload_hash, incoming.now);
        assert_eq!(
            expression, rule,
            "claim over {record:?} at {}",
            incoming.now
        );
        rows += 1;
        allowed += usize::from(rule);
    }
    // Both answers occur, so the table is not vacuous.
    assert_eq!(rows, 108);
    assert!(
        allowed > 0 && allowed < rows,
        "{allowed} of {rows} claimable"
    );
}

#[test]
fn the_owner_condition_and_finish_allowed_agree_on_every_row() {
    let names = HashMap::from([("#status", "status"), ("#owner", "owner")]);
    for owner in ["o1", "o2"] {
        let token = OwnerToken(owner.into());
        let values = owner_values(&token);
        assert!(!Eval::run(OWNER_CONDITION, None, &names, &values));
        assert!(!finish_allowed(None, &token));
        let mut allowed = 0;
        for item in stored_records() {
            let record = DynamoStore::decode_dedup(&item).unwrap();
            let expression = Eval::run(OWNER_CONDITION, Some(&item), &names, &values);
            let rule = finish_allowed(Some(&record), &token);
            assert_eq!(expression, rule, "{owner} finishing {record:?}");
            allowed += usize::from(rule);
        }
        // Only the owner's IN_PROGRESS rows: 2 payloads x 3 leases x 3 retentions.
        assert_eq!(allowed, 18);
    }
}

#[test]
fn the_scaling_lease_conditions_and_rules_agree_on_every_row() {
    let names = HashMap::new();
    let ms = now().as_millisecond();
    let mut seen = std::collections::BTreeSet::new();
    for stored_owner in [None, Some("me"), Some("other")] {
        for stored_until in [None, Some(ms - 1), Some(ms), Some(ms + 1)] {
            let (pk, sk) = keys::scenario_state("nightly");
            let mut item = HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))]);
            if let Some(o) = stored_owner {
                item.insert("scaling_owner".into(), s(o));
            }
            if let Some(u) = stored_until {
                item.insert("scaling_until_ms".into(), n(u));
            }
            let lease = ScalingLeaseItem {
                owner: stored_owner,
                until_ms: stored_until,
            };
            let values = acquire_lease_values("me", now(), now());
            let expression = Eval::run(ACQUIRE_LEASE_CONDITION, Some(&item), &names, &values);
            let rule = scaling_lease_acquirable(lease, "me", now());
            assert_eq!(expression, rule, "acquire over {lease:?}");
            seen.insert(("acquire", rule));
            let values = HashMap::from([(":owner".to_string(), s("me"))]);
            let expression = Eval::run(RELEASE_LEASE_CONDITION, Some(&item), &names, &values);
            let rule = scaling_lease_releasable(lease, "me");
            assert_eq!(expression, rule, "release of {lease:?}");
            seen.insert(("release", rule));
        }
    }
    // A scenario without a state item: the lease is free, and there is nothing to release.
    let values = acquire_lease_values("me", now(), now());
    assert!(Eval::run(ACQUIRE_LEASE_CONDITION, None, &names, &values));
    assert!(scaling_lease_acquirable(
        ScalingLeaseItem::default(),
        "me",
        now()
    ));
    assert!(!scaling_lease_releasable(ScalingLeaseItem::default(), "me"));
    assert_eq!(seen.len(), 4, "both answers of both rules occur: {seen:?}");
}

#[test]
fn the_no_open_run_condition_and_its_rule_agree_on_every_row() {
    let names = HashMap::new();
    let ms = now().as_millisecond();
    // The night's time a minute after the wall clock (a rehearsal `now`).
    let night = now() + jiff::SignedDuration::from_mins(1);
    let night_ms = night.as_millisecond();
    let values = HashMap::from([
        (":now".to_string(), n(ms)),
        (":night".to_string(), n(night_ms)),
    ]);
    let mut answered = 0;
    for open_run in [false, true] {
        for paused in [None, Some(night_ms - 1), Some(night_ms), Some(night_ms + 1)] {
            for until in [None, Some(ms - 1), Some(ms), Some(ms + 1)] {
                let (pk, sk) = keys::scenario_state("nightly");
                let mut item =
                    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))]);
                if open_run {
                    item.insert("open_run".into(), s("2026-11-25"));
                }
                if let Some(p) = paused {
                    item.insert("paused_until".into(), n(p));
                }
                if let Some(u) = until {
                    item.insert("scaling_owner".into(), s("other"));
                    item.insert("scaling_until_ms".into(), n(u));
                }
                let expression = Eval::run(NO_OPEN_RUN_CONDITION, Some(&item), &names, &values);
                let rule = crate::idempotency::no_open_run_answerable(
                    open_run,
                    paused,
                    until,
                    now(),
                    night,
                );
                assert_eq!(
                    expression, rule,
                    "open {open_run} paused {paused:?} lease {until:?}"
                );
                answered += usize::from(rule);
            }
        }
    }
    // Only with no open run, no pause or one that ended (3 of 4), and no lease or an expired one
    // (2 of 4).
    assert_eq!(answered, 6);
    // A scenario without a state item has none of them.
    assert!(Eval::run(NO_OPEN_RUN_CONDITION, None, &names, &values));
    assert!(crate::idempotency::no_open_run_answerable(
        false,
        None,
        None,
        now(),
        night
    ));
}

#[test]
fn the_evaluator_reads_the_grammar_as_dynamodb_does() {
    // Guards against a permissive evaluator making the tables above agree vacuously.
    let names = HashMap::new();
    let item = HashMap::from([("a".to_string(), n(5)), ("b".to_string(), s("x"))]);
    let values = HashMap::from([(":five".to_string(), n(5)), (":x".to_string(), s("x"))]);
    let eval = |e: &str| Eval::run(e, Some(&item), &names, &values);
    assert!(eval("a = :five AND b = :x"));
    assert!(!eval("a < :five"));
    assert!(eval("a <= :five"));
    assert!(!eval("missing = :five"));
    assert!(!eval("a = :x"));
    assert!(eval(
        "attribute_not_exists(missing) AND attribute_exists(a)"
    ));
    assert!(eval("a < :five OR (b = :x AND a >= :five)"));
    assert!(!eval("(a < :five OR b <> :x) AND a = :five"));
}
