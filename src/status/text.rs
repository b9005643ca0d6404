//! `nightshift status --output table`: the view for people, one resource per line.

use super::StatusView;
use crate::text::{cut, hh_mm};

const WIDTH: usize = 100;

fn local(view: &StatusView, t: jiff::Timestamp) -> String {
    let tz = crate::text::time_zones()
        .get(&view.timezone)
        .unwrap_or(jiff::tz::TimeZone::UTC);
    hh_mm(t, Some(&tz))
}

/// The view as text.
pub fn render_text(view: &StatusView) -> String {
    let mut lines = Vec::new();
    let run = view.run.as_ref().map_or_else(
        || "no run yet".to_string(),
        |r| {
            let mut s = format!(
                "run {} ({}), opened {}",
                r.id,
                r.status,
                local(view, r.opened_at)
            );
            if let Some(t) = r.ready_at {
                s.push_str(&format!(", ready {}", local(view, t)));
            }
            if let Some(t) = r.closed_at {
                s.push_str(&format!(", closed {}", local(view, t)));
            }
            s
        },
    );
    lines.push(format!(
        "{}: {} at {} {}; {run}; night: {}",
        view.scenario,
        view.phase.as_str(),
        local(view, view.now),
        view.timezone,
        view.profile
    ));
    for s in &view.services {
        let live = match (s.desired, s.running, s.pending) {
            (Some(d), Some(r), Some(p)) => format!("desired {d}, running {r}, pending {p}"),
            _ => "service not found".to_string(),
        };
        let baseline = s
            .baseline_desired
            .map_or(String::new(), |b| format!(", baseline {b}"));
        let target = s.scalable_target.map_or(String::new(), |c| {
            let was = s
                .baseline_scalable_target
                .map_or(String::new(), |b| format!(" (baseline {b})"));
            format!("; scalable target {c}{was}")
        });
        lines.push(format!(
            "  ecs {}/{}: {live}; night target {}{baseline}{target}",
            s.cluster, s.service, s.target_desired
        ));
    }
    for c in &view.clusters {
        if !c.found {
            lines.push(format!(
                "  {} {}: cluster not found",
                c.kind.key(),
                c.cluster
            ));
            continue;
        }
        let baseline = c
            .baseline_readers
            .map_or(String::new(), |b| format!(", baseline {b}"));
        lines.push(format!(
            "  {} {}: readers {}/{} available{baseline}; writer {}",
            c.kind.key(),
            c.cluster,
            c.readers_available,
            c.readers_target,
            c.writer.as_deref().unwrap_or("none")
        ));
        for r in &c.readers {
            let added = if r.added { ", added by nightshift" } else { "" };
            lines.push(format!("    {} {} ({}{added})", r.id, r.status, r.class));
        }
        if let Some(s) = &c.serverless {
            lines.push(format!("    serverless {s}"));
        }
        if let Some(t) = &c.replica_target {
            let was = c
                .baseline_replica_target
                .map_or(String::new(), |b| format!(" (baseline {b})"));
            lines.push(format!(
                "    rds:cluster:ReadReplicaCount scalable target {t}{was}"
            ));
        }
    }
    for e in &view.environments {
        let baseline = e
            .baseline_min_vcpus
            .map_or(String::new(), |b| format!(", baseline {b}"));
        match (e.min_vcpus, e.max_vcpus) {
            (Some(min), Some(max)) => lines.push(format!(
                "  batch {}: minvCpus {min}, desiredvCpus {}, maxvCpus {max} ({}); night minvCpus {}{baseline}",
                e.compute_environment,
                e.desired_vcpus.map_or("?".to_string(), |d| d.to_string()),
                e.status.as_deref().unwrap_or("?"),
                e.target_min_vcpus
            )),
            _ => lines.push(format!(
                "  batch {}: compute environment not found",
                e.compute_environment
            )),
        }
    }
    for g in &view.groups {
        match (g.size, g.in_service) {
            (Some(size), Some(in_service)) => lines.push(format!(
                "  asg {}: {size}, {in_service} in service; night MinSize {}{}",
                g.name,
                g.target_min,
                g.baseline
                    .map_or(String::new(), |b| format!(", baseline {b}"))
            )),
            _ => lines.push(format!("  asg {}: group not found", g.name)),
        }
    }
    for w in &view.waiting {
        lines.push(format!("  waiting: {w}"));
    }
    if let Some(s) = &view.last_step {
        let step = s.step.map_or("event", |s| s.as_str());
        let failed = if s.failed { " [FAILED]" } else { "" };
        lines.push(format!(
            "  last step: {step} at {}: {}{failed}: {}",
            local(view, s.at),
            s.outcome.as_str(),
            s.reason
        ));
    }
    if let Some(n) = &view.next_step {
        lines.push(format!("  next step: {} at {}", n.role, local(view, n.at)));
    }
    match &view.pause {
        Some(p) => lines.push(format!("  paused until {}", local(view, p.until))),
        None => lines.push("  pause: none".to_string()),
    }
    match &view.hold {
        Some(h) => lines.push(format!("  held until {}", local(view, h.until))),
        None => lines.push("  hold: none".to_string()),
    }
    if let Some(e) = &view.snapshot_error {
        lines.push(format!("  live state unreadable: {e}"));
    }
    let mut out = String::new();
    for l in lines {
        out.push_str(&cut(&l, WIDTH));
        out.push('\n');
    }
    out
}
