//! Prometheus text exposition (format 0.0.4) of the engine's figures, written straight into a `String`.
//!
//! Rendering here rather than through prometheus-client objects keeps a scrape of 1,000 queues (~100k samples)
//! in milliseconds; prometheus-client takes 7–16 µs per series (shared/PERF-NOTES.md).

use std::fmt::Write;

use crate::agents::AgentCounts;
use crate::engine::{Engine, QueueState, Waiting, MOH_BUCKETS, SUPERVISOR_FLAGS};
use crate::event::RejectReason;
use crate::stats::{Counters, Outcome};

fn escape(v: &str, out: &mut String) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
    for ch in v.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Labels of a queue series: `site` (when configured) and `queue`, then `extra` pairs.
fn labels(out: &mut String, site: &str, queue: &str, extra: &[(&str, &str)]) {
    out.push('{');
    if !site.is_empty() {
        out.push_str("site=\"");
        escape(site, out);
        out.push_str("\",");
    }
    out.push_str("queue=\"");
    escape(queue, out);
    out.push('"');
    for (k, v) in extra {
        out.push(',');
        out.push_str(k);
        out.push_str("=\"");
        escape(v, out);
        out.push('"');
    }
    out.push('}');
}

/// ` <n>\n`: integers are most samples, and itoa is several times faster than `fmt`.
fn value(out: &mut String, n: u64) {
    out.push(' ');
    out.push_str(itoa::Buffer::new().format(n));
    out.push('\n');
}

fn le(bound: f64) -> String {
    format!("{bound}")
}

type CounterField = fn(&Counters) -> f64;
type SourceField = fn(&crate::engine::SourceStats) -> u64;

const QUEUE_COUNTERS: [(&str, &str, CounterField); 12] = [
    (
        "ccmon_queue_entries_total",
        "Entries into the queue (offered).",
        |c| c.offered as f64,
    ),
    (
        "ccmon_queue_short_abandoned_total",
        "Abandoned entries that waited less than short_abandon_seconds.",
        |c| c.short_abandoned as f64,
    ),
    (
        "ccmon_queue_answered_within_sl_total",
        "Answered entries with wait <= service_level_seconds.",
        |c| c.answered_within_sl as f64,
    ),
    (
        "ccmon_queue_abandoned_within_sl_total",
        "Abandoned entries with wait <= service_level_seconds.",
        |c| c.abandoned_within_sl as f64,
    ),
    (
        "ccmon_queue_transfers_total",
        "Transfer events out of the queue.",
        |c| c.transfers_out as f64,
    ),
    (
        "ccmon_queue_loop_entries_total",
        "Entries by a call that had already visited this department.",
        |c| c.loop_entries as f64,
    ),
    (
        "ccmon_queue_repeat_calls_total",
        "First entries of repeat calls.",
        |c| c.repeat_calls as f64,
    ),
    (
        "ccmon_queue_pingpong_entries_total",
        "Entries that complete an A-B-A department ping-pong.",
        |c| c.pingpong_entries as f64,
    ),
    (
        "ccmon_queue_bounced_calls_total",
        "Calls whose transfer count reached bounce_transfers here.",
        |c| c.bounced_calls as f64,
    ),
    (
        "ccmon_queue_misroutes_total",
        "Short answered entries followed by a repeat call to another department.",
        |c| c.misroutes as f64,
    ),
    (
        "ccmon_queue_talk_seconds_total",
        "Talk time of answered entries whose talk ended.",
        |c| c.talk_sum,
    ),
    (
        "ccmon_queue_talks_total",
        "Answered entries whose talk ended.",
        |c| c.talk_count as f64,
    ),
];

impl Engine {
    /// Appends the whole exposition of this engine to `out`.
    pub fn render_prometheus(&self, out: &mut String) {
        render_prometheus(&[self], out);
    }
}

/// One engine's figures, taken once per scrape.
struct View<'e> {
    site: &'e str,
    engine: &'e Engine,
    queues: &'e [QueueState],
    totals: Vec<Counters>,
    waiting: Vec<Waiting>,
    agents: Vec<AgentCounts>,
    wait_bounds: Vec<String>,
}

/// Appends the exposition of several engines (one per site, each series labelled with its engine's `site`)
/// to `out`: each family once, holding the series of every engine, as the text format requires.
pub fn render_prometheus(engines: &[&Engine], out: &mut String) {
    let views: Vec<View<'_>> = engines
        .iter()
        .map(|e| {
            let queues = e.queue_states();
            View {
                site: e.config().site.as_str(),
                engine: e,
                queues,
                totals: queues.iter().map(|q| q.all_counters()).collect(),
                waiting: e.waiting_by_queue(),
                agents: (0..queues.len() as u32)
                    .map(|q| e.agent_counts(q))
                    .collect(),
                wait_bounds: e.wait_bounds().iter().map(|b| le(*b)).collect(),
            }
        })
        .collect();

    for (name, help, field) in QUEUE_COUNTERS {
        header(out, name, "counter", help);
        for v in &views {
            for (qs, c) in v.queues.iter().zip(&v.totals) {
                out.push_str(name);
                labels(out, v.site, &qs.name, &[]);
                let _ = writeln!(out, " {}", field(c));
            }
        }
    }

    let escalation_kinds: [(&str, CounterField); 3] = [
        ("all", |c| c.escalations as f64),
        ("fake", |c| c.escalations_fake as f64),
        ("unanswered", |c| c.escalations_unanswered as f64),
    ];
    header(out, "ccmon_queue_escalations_total", "counter", "Entries into supervisor queues (kind=all), of those answered by a non-supervisor (fake) or not answered (unanswered).");
    for v in &views {
        for (qs, c) in v.queues.iter().zip(&v.totals) {
            for (kind, field) in escalation_kinds {
                out.push_str("ccmon_queue_escalations_total");
                labels(out, v.site, &qs.name, &[("kind", kind)]);
                let _ = writeln!(out, " {}", field(c));
            }
        }
    }

    header(
        out,
        "ccmon_queue_outcomes_total",
        "counter",
        "Entries by outcome (SPEC section 2), lost included.",
    );
    for v in &views {
        for (qs, c) in v.queues.iter().zip(&v.totals) {
            for (o, n) in Outcome::ALL.iter().zip([
                c.answered,
                c.abandoned,
                c.timed_out,
                c.exited_key,
                c.exited_empty,
                c.lost,
            ]) {
                out.push_str("ccmon_queue_outcomes_total");
                labels(out, v.site, &qs.name, &[("outcome", o.as_str())]);
                value(out, n);
            }
        }
    }

    header(
        out,
        "ccmon_queue_wait_seconds",
        "histogram",
        "Wait of closed entries, by outcome.",
    );
    for v in &views {
        for qs in v.queues {
            for (o, h) in Outcome::ALL[..5].iter().zip(&qs.waits) {
                let outcome = ("outcome", o.as_str());
                let mut cum = 0;
                for (b, n) in v.wait_bounds.iter().zip(&h.counts) {
                    cum += n;
                    out.push_str("ccmon_queue_wait_seconds_bucket");
                    labels(out, v.site, &qs.name, &[outcome, ("le", b)]);
                    value(out, cum);
                }
                out.push_str("ccmon_queue_wait_seconds_bucket");
                labels(out, v.site, &qs.name, &[outcome, ("le", "+Inf")]);
                value(out, h.count);
                out.push_str("ccmon_queue_wait_seconds_sum");
                labels(out, v.site, &qs.name, &[outcome]);
                let _ = writeln!(out, " {}", h.sum);
                out.push_str("ccmon_queue_wait_seconds_count");
                labels(out, v.site, &qs.name, &[outcome]);
                value(out, h.count);
            }
        }
    }

    header(
        out,
        "ccmon_call_moh_seconds",
        "histogram",
        "Hold-music exposure of finished calls, by the queue of their last entry.",
    );
    let moh_bounds: Vec<String> = MOH_BUCKETS.iter().map(|b| le(*b)).collect();
    for v in &views {
        for qs in v.queues {
            let mut cum = 0;
            for (b, n) in moh_bounds.iter().zip(&qs.moh.counts) {
                cum += n;
                out.push_str("ccmon_call_moh_seconds_bucket");
                labels(out, v.site, &qs.name, &[("le", b)]);
                value(out, cum);
            }
            out.push_str("ccmon_call_moh_seconds_bucket");
            labels(out, v.site, &qs.name, &[("le", "+Inf")]);
            value(out, qs.moh.count);
            out.push_str("ccmon_call_moh_seconds_sum");
            labels(out, v.site, &qs.name, &[]);
            let _ = writeln!(out, " {}", qs.moh.sum);
            out.push_str("ccmon_call_moh_seconds_count");
            labels(out, v.site, &qs.name, &[]);
            value(out, qs.moh.count);
        }
    }

    type WaitingField = fn(&Waiting) -> String;
    let gauges: [(&str, &str, WaitingField); 3] = [
        (
            "ccmon_queue_calls_waiting",
            "Entries waiting in the queue now.",
            |w| w.calls.to_string(),
        ),
        (
            "ccmon_queue_longest_wait_seconds",
            "Age of the oldest waiting entry now; 0 when none.",
            |w| w.longest_seconds.to_string(),
        ),
        (
            "ccmon_queue_moh_plays_max",
            "Most hold-music plays among the calls waiting now.",
            |w| w.plays_max.to_string(),
        ),
    ];
    for (name, help, field) in gauges {
        header(out, name, "gauge", help);
        for v in &views {
            for (qs, w) in v.queues.iter().zip(&v.waiting) {
                out.push_str(name);
                labels(out, v.site, &qs.name, &[]);
                let _ = writeln!(out, " {}", field(w));
            }
        }
    }

    header(
        out,
        "ccmon_queue_calls_flagged",
        "gauge",
        "Calls in progress, by their current queue, that need a supervisor now, by flag; flag=any counts each once.",
    );
    for v in &views {
        for (qs, w) in v.queues.iter().zip(&v.waiting) {
            let names = SUPERVISOR_FLAGS.iter().map(|(_, n)| *n).chain(["any"]);
            for (flag, n) in names.zip(w.flagged) {
                out.push_str("ccmon_queue_calls_flagged");
                labels(out, v.site, &qs.name, &[("flag", flag)]);
                value(out, n);
            }
        }
    }

    header(
        out,
        "ccmon_queue_agents",
        "gauge",
        "Agents of the queue now, by state (logged_in counts them all; see README for the states).",
    );
    for v in &views {
        for (qs, c) in v.queues.iter().zip(&v.agents) {
            for (state, n) in AgentCounts::STATES.iter().zip(c.by_state()) {
                out.push_str("ccmon_queue_agents");
                labels(out, v.site, &qs.name, &[("state", state)]);
                value(out, n);
            }
        }
    }
    header(
        out,
        "ccmon_queue_agent_occupancy",
        "gauge",
        "Agents on a call / (agents logged in - agents paused and idle), now; absent with no agent working.",
    );
    for v in &views {
        for (qs, c) in v.queues.iter().zip(&v.agents) {
            if let Some(occupancy) = c.occupancy() {
                out.push_str("ccmon_queue_agent_occupancy");
                labels(out, v.site, &qs.name, &[]);
                let _ = writeln!(out, " {occupancy}");
            }
        }
    }

    render_sources(&views, out);
}

fn render_sources(views: &[View<'_>], out: &mut String) {
    let src_labels = |out: &mut String, site: &str, source: &str, extra: Option<(&str, &str)>| {
        out.push('{');
        if !site.is_empty() {
            out.push_str("site=\"");
            escape(site, out);
            out.push_str("\",");
        }
        out.push_str("source=\"");
        escape(source, out);
        out.push('"');
        if let Some((k, v)) = extra {
            let _ = write!(out, ",{k}=\"{v}\"");
        }
        out.push('}');
    };
    let simple: [(&str, &str, SourceField); 4] = [
        (
            "ccmon_events_ingested_total",
            "Events parsed and applied.",
            |s| s.ingested,
        ),
        (
            "ccmon_events_unknown_total",
            "Well-formed events of a type ccmon does not know; ignored.",
            |s| s.unknown,
        ),
        (
            "ccmon_events_ignored_total",
            "Events about a call that was not in a queue; ignored.",
            |s| s.ignored,
        ),
        (
            "ccmon_events_duplicates_total",
            "Events whose id was seen before (a resent batch); dropped.",
            |s| s.duplicates,
        ),
    ];
    for (name, help, field) in simple {
        header(out, name, "counter", help);
        for v in views {
            for s in v.engine.sources() {
                out.push_str(name);
                src_labels(out, v.site, &s.name, None);
                let _ = writeln!(out, " {}", field(s));
            }
        }
    }
    header(
        out,
        "ccmon_events_rejected_total",
        "counter",
        "Malformed input lines, by reason.",
    );
    for v in views {
        for s in v.engine.sources() {
            for r in RejectReason::ALL {
                out.push_str("ccmon_events_rejected_total");
                src_labels(out, v.site, &s.name, Some(("reason", r.as_str())));
                let _ = writeln!(out, " {}", s.rejected[r.index()]);
            }
        }
    }
}
