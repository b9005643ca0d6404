//! Liveness as a bounded graph check: from every reachable state, a quiescent completion (every
//! key's step COMPLETED, no record IN_PROGRESS, nothing running, AWS converged) is reachable
//! without a further crash.
//!
//! Why this formulation: stateright checks `eventually` only on acyclic paths that end in a
//! terminal state, and may miss violations at DAG joins. "AG EF done" over the finite graph is
//! exact instead: a state from which completion is unreachable is a stuck night whatever the
//! scheduler does next, and, conversely, when completion is reachable from every state, any
//! scheduler that is fair to the actions of that finite graph (each action enabled infinitely
//! often is eventually taken: crashes stop, redeliveries and time go on) reaches completion.
//!
//! The bound makes some states too close to it to judge: a state later than
//! `max_time - horizon` (a dead holder's leases may need `horizon` ticks to end and a redelivery
//! to come: a scaling lease taken with no time left lasts the default lease past the deadline),
//! and, under the redelivered-until-done assumption, a state in which every delivery of an
//! unfinished key has used its last attempt. Those are exempt, and counted.

use crate::protocol::{Action, ProtocolModel, Redelivery, State};
use stateright::Model;
use std::collections::{HashMap, VecDeque};

pub struct Liveness {
    pub states: usize,
    pub judged: usize,
    pub exempt: usize,
    /// A path to a state from which completion is unreachable (shortest, in BFS order).
    pub stuck: Option<Vec<(Option<Action>, State)>>,
}

pub fn check(model: &ProtocolModel, horizon: u8) -> Liveness {
    let mut index: HashMap<State, u32> = HashMap::new();
    let mut states: Vec<State> = Vec::new();
    let mut parent: Vec<(u32, Option<Action>)> = Vec::new();
    // Reverse edges without crashes: who can reach whom.
    let mut preds: Vec<Vec<u32>> = Vec::new();
    let mut queue = VecDeque::new();
    for s in model.init_states() {
        let id = states.len() as u32;
        index.insert(s.clone(), id);
        states.push(s);
        parent.push((id, None));
        preds.push(Vec::new());
        queue.push_back(id);
    }
    let mut actions = Vec::new();
    while let Some(id) = queue.pop_front() {
        actions.clear();
        model.actions(&states[id as usize], &mut actions);
        for &action in &actions {
            let Some(next) = model.next_state(&states[id as usize], action) else {
                continue;
            };
            let next_id = match index.get(&next) {
                Some(&n) => n,
                None => {
                    let n = states.len() as u32;
                    index.insert(next.clone(), n);
                    states.push(next);
                    parent.push((id, Some(action)));
                    preds.push(Vec::new());
                    queue.push_back(n);
                    n
                }
            };
            if !action.is_crash() {
                preds[next_id as usize].push(id);
            }
        }
    }
    drop(index);
    // Backwards from the completed states.
    let mut good = vec![false; states.len()];
    let mut queue: VecDeque<u32> = VecDeque::new();
    for (i, s) in states.iter().enumerate() {
        if model.quiescent_complete(s) {
            good[i] = true;
            queue.push_back(i as u32);
        }
    }
    while let Some(id) = queue.pop_front() {
        for &p in &preds[id as usize] {
            if !good[p as usize] {
                good[p as usize] = true;
                queue.push_back(p);
            }
        }
    }
    let cfg = &model.cfg;
    // Judged: states from which a fair continuation fits in the bound. After `horizon` ticks
    // every running attempt is dead and every lease it took has ended; under the
    // redelivered-until-done assumption each incomplete key also needs one more delivery left.
    let exempt = |s: &State| {
        s.t > cfg.max_time.saturating_sub(horizon)
            || match cfg.redelivery {
                Redelivery::UntilDone { attempts } => model.incomplete_keys(s).iter().any(|&k| {
                    cfg.deliveries
                        .iter()
                        .zip(&s.deliveries)
                        .filter(|(spec, _)| spec.key == k)
                        .all(|(_, d)| d.attempts >= attempts)
                }),
                Redelivery::Lambda { .. } => false,
            }
    };
    let mut judged = 0;
    let mut exempted = 0;
    let mut stuck = None;
    // States are numbered in BFS order: the first stuck one has a shortest path.
    for (i, s) in states.iter().enumerate() {
        if exempt(s) {
            exempted += 1;
            continue;
        }
        judged += 1;
        if !good[i] && stuck.is_none() {
            let mut path = Vec::new();
            let mut at = i as u32;
            loop {
                let (p, action) = parent[at as usize];
                path.push((action, states[at as usize].clone()));
                if action.is_none() {
                    break;
                }
                at = p;
            }
            path.reverse();
            stuck = Some(path);
        }
    }
    Liveness {
        states: states.len(),
        judged,
        exempt: exempted,
        stuck,
    }
}
