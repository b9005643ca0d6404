//! The next step the scenario's `[scenario.schedule]` runs after `now` (pure).

use super::NextStep;
use crate::config::Scenario;
use crate::schedule;
use jiff::{SignedDuration, Timestamp};

/// The first scheduled step after `now`: each night starts at `scale_up` on one of the
/// schedule's days (its local date), its steps follow at their offsets in real minutes. `None`
/// without a schedule (or one whose night is not usable).
pub fn next_step(scenario: &Scenario, now: Timestamp) -> Option<NextStep> {
    let sched = scenario.schedule.as_ref()?;
    let steps = schedule::night(sched, &scenario.scale_down).ok()?;
    let today = now.to_zoned_datetime(scenario.timezone.clone()).date();
    let mut best: Option<NextStep> = None;
    // A night that started yesterday may still have steps ahead; a week covers every day list.
    for back in -1..=8i64 {
        let Ok(date) = today.checked_add(jiff::Span::new().days(back)) else {
            continue;
        };
        if !sched.days.contains(&date.weekday()) {
            continue;
        }
        let Ok(start) = scenario
            .timezone
            .to_ambiguous_timestamp(date.to_datetime(sched.scale_up))
            .compatible()
        else {
            continue;
        };
        for s in &steps {
            let Ok(at) = start.checked_add(SignedDuration::from_mins(i64::from(s.offset_minutes)))
            else {
                continue;
            };
            if at > now && best.as_ref().is_none_or(|b| at < b.at) {
                best = Some(NextStep {
                    step: s.step,
                    role: s.role.as_str().to_string(),
                    at,
                });
            }
        }
        if best.is_some() && back >= 0 {
            break;
        }
    }
    best
}
