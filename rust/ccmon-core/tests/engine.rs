//! Engine properties at the Rust level: no input panics, chunking never changes a figure, and a few SPEC
//! scenarios spelled out. The full reference comparison lives in the Python tests (tests/reference.py).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ccmon_core::event::RejectReason;
use ccmon_core::{Config, Engine, Format, Window};
use proptest::prelude::*;

fn engine() -> Engine {
    Engine::new(Config::default()).unwrap()
}

fn stats(e: &Engine, w: &str) -> Vec<ccmon_core::QueueStats> {
    e.queue_stats(Window::parse(w).unwrap()).unwrap()
}

const LOG: &str = "100|c1|sales|NONE|ENTERQUEUE||600111222
103|c2|sales|NONE|ENTERQUEUE||anonymous
110|c1|sales|Agent/1|CONNECT|10|x|1
111|c2|sales|NONE|ABANDON|1|1|8
150|c1|sales|Agent/1|TRANSFER|200|ctx|10|40|1
151|c1|support|NONE|ENTERQUEUE||600111222
190|c1|support|Agent/2|CONNECT|39|y|1
300|c1|support|Agent/2|COMPLETECALLER|39|110|1
";

#[test]
fn a_transferred_call_makes_a_journey() {
    let mut e = engine();
    e.feed("t", Format::QueueLog, LOG.as_bytes());
    let rows = stats(&e, "all");
    let sales = &rows[0];
    assert_eq!(sales.queue, "sales");
    assert_eq!(
        (
            sales.counters.offered,
            sales.counters.answered,
            sales.counters.abandoned
        ),
        (2, 1, 1)
    );
    assert_eq!(sales.counters.short_abandoned, 0); // waited 8 s >= 5
    assert_eq!(sales.counters.transfers_out, 1);
    assert_eq!(sales.talk_seconds_mean, Some(40.0)); // 150 - 110: a transfer ends talk
    let support = &rows[1];
    assert_eq!(support.asa_seconds, Some(39.0));
    assert_eq!(support.counters.loop_entries, 0);
    let journeys = e.journeys();
    let c1: Vec<_> = journeys
        .iter()
        .filter(|j| j.call == "c1")
        .map(|j| j.queue.as_str())
        .collect();
    assert_eq!(c1, ["sales", "support"]);
}

#[test]
fn ping_pong_is_flagged_at_the_entry() {
    let mut e = engine();
    let log = "0|c|a|NONE|ENTERQUEUE||1\n1|c|a|x|CONNECT|1|u|1\n2|c|a|x|TRANSFER|1|c|1|1|1\n\
               3|c|b|NONE|ENTERQUEUE||1\n4|c|b|x|CONNECT|1|u|1\n5|c|b|x|TRANSFER|1|c|1|1|1\n\
               6|c|a|NONE|ENTERQUEUE||1\n";
    e.feed("t", Format::QueueLog, log.as_bytes());
    let rows = stats(&e, "all");
    assert_eq!(
        (
            rows[0].counters.loop_entries,
            rows[0].counters.pingpong_entries
        ),
        (1, 1)
    );
    let calls = e.calls(false);
    assert_eq!(calls[0].flags, "loop,pingpong");
    assert_eq!(calls[0].journey, "a>b>a");
}

#[test]
fn a_wait_longer_than_max_wait_is_lost() {
    let mut e = Engine::new(Config {
        max_wait_seconds: 100.0,
        ..Config::default()
    })
    .unwrap();
    e.feed(
        "t",
        Format::QueueLog,
        b"0|c1|q|NONE|ENTERQUEUE||1\n100|c2|q|NONE|ENTERQUEUE||2\n",
    );
    assert_eq!(stats(&e, "all")[0].counters.lost, 0); // exactly max_wait old: not yet
    e.feed("t", Format::QueueLog, b"101|c3|q|NONE|ENTERQUEUE||3\n");
    let q = &stats(&e, "all")[0];
    assert_eq!(
        (q.counters.lost, q.waiting_now, q.longest_wait_now_seconds),
        (1, 2, 1.0)
    );
    assert_eq!(q.counters.wait_max, None); // lost entries are not closed
}

#[test]
fn queues_beyond_max_queues_are_rejected_and_counted() {
    let mut e = Engine::new(Config {
        max_queues: 2,
        ..Config::default()
    })
    .unwrap();
    let log = "1|c1|a|NONE|ENTERQUEUE||1\n2|c2|b|NONE|ENTERQUEUE||2\n3|c3|c|NONE|ENTERQUEUE||3\n\
               4|c4|a|NONE|ENTERQUEUE||4\n";
    e.feed("t", Format::QueueLog, log.as_bytes());
    let names: Vec<String> = stats(&e, "all").into_iter().map(|r| r.queue).collect();
    assert_eq!(names, ["a", "b"]);
    let s = &e.sources()[0];
    assert_eq!((s.ingested, s.rejected_total()), (3, 1));
    let mut out = String::new();
    e.render_prometheus(&mut out);
    assert!(out.contains("ccmon_events_rejected_total{source=\"t\",reason=\"too_many_queues\"} 1"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bytes_never_panic_and_every_line_is_accounted(data in prop::collection::vec(any::<u8>(), 0..2000)) {
        let mut e = engine();
        e.feed("r", Format::QueueLog, &data);
        e.end_of_input("r", Format::QueueLog);
        let _ = e.queue_stats(Window::All).unwrap();
        let mut out = String::new();
        e.render_prometheus(&mut out);
        let s = &e.sources()[0];
        prop_assert_eq!(s.rejected[RejectReason::InternalError.index()], 0);
        let lines = data.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count() as u64;
        prop_assert_eq!(s.ingested + s.rejected_total() + s.unknown, lines);
    }

    #[test]
    fn chunk_splits_never_change_a_figure(cuts in prop::collection::vec(0usize..LOG.len(), 0..8)) {
        let mut whole = engine();
        whole.feed("t", Format::QueueLog, LOG.as_bytes());
        let mut pieces = engine();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut start = 0;
        for c in cuts.into_iter().chain([LOG.len()]) {
            pieces.feed("t", Format::QueueLog, &LOG.as_bytes()[start..c]);
            start = c;
        }
        prop_assert_eq!(stats(&whole, "all"), stats(&pieces, "all"));
        prop_assert_eq!(stats(&whole, "1h"), stats(&pieces, "1h"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Every format, fed text that is mostly its own punctuation (so that the fast paths, which need whole
    /// UTF-8 lines, see it too) or any bytes, in two pieces cut anywhere: nothing panics (the engine would
    /// contain it as an `internal_error`: none is counted), and the snapshots still render.
    #[test]
    fn any_text_in_any_format_never_panics(
        text in "([A-Za-z0-9]|[:|,{}\\[\\]\"%. \t\r\n-]){0,600}",
        noise in prop::collection::vec(any::<u8>(), 0..40),
        cut in 0usize..700,
        format in prop::sample::select(vec![Format::QueueLog, Format::Jsonl, Format::Ami, Format::FreeSwitch]),
    ) {
        for data in [text.as_bytes().to_vec(), [text.as_bytes(), &noise].concat()] {
            let mut e = engine();
            let (a, b) = data.split_at(cut.min(data.len()));
            e.feed("r", format, a);
            e.feed("r", format, b);
            e.end_of_input("r", format);
            prop_assert_eq!(e.sources()[0].rejected[RejectReason::InternalError.index()], 0);
            let _ = e.queue_stats(Window::All).unwrap();
            let mut out = String::new();
            e.render_prometheus(&mut out);
            let _ = (e.calls(true), e.journeys(), e.agents());
        }
    }
}

/// JSON lines with a byte that is not UTF-8 on one line and accented names on others: a chunk that holds the
/// bad line is read line by line, the others checked whole; however the input is cut (inside a character
/// too), every figure and count is the same.
const JSONL: &str = "{\"ts\": 100, \"type\": \"enter\", \"call\": \"c1\", \"queue\": \"atenção\", \"caller\": \"600\"}\n\
{\"ts\": 101, \"type\": \"enter\", \"call\": \"c2\", \"queue\": \"sales\", \"id\": 7}\n\
{\"ts\": 102, \"type\": \"enter\", \"call\": \"c3\", \"queue\": \"sales\", \"caller\": \"BAD\"}\n\
\n\
{\"ts\": 103, \"type\": \"answer\", \"call\": \"c1\", \"queue\": \"atenção\", \"agent\": \"Zoë\"}\n\
{\"ts\": 104, \"type\": \"enter\", \"call\": \"c2\", \"queue\": \"sales\", \"id\": 7}\n\
{\"ts\": 105, \"type\": \"abandon\", \"call\": \"c2\", \"queue\": \"sales\"}\n\
{\"ts\": 106, \"type\": \"talk_end\", \"call\": \"c1\", \"queue\": \"atenção\"}\n";

fn jsonl_input() -> Vec<u8> {
    // "BAD" becomes a lone continuation byte: that line is not UTF-8.
    let mut data = JSONL.as_bytes().to_vec();
    let at = JSONL.find("BAD").unwrap_or(0);
    data[at] = 0x80;
    data
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn json_lines_give_the_same_figures_however_cut(cuts in prop::collection::vec(0usize..JSONL.len(), 0..8)) {
        let data = jsonl_input();
        let mut whole = engine();
        whole.feed("j", Format::Jsonl, &data);
        whole.end_of_input("j", Format::Jsonl);
        let mut pieces = engine();
        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut start = 0;
        for c in cuts.into_iter().chain([data.len()]) {
            pieces.feed("j", Format::Jsonl, &data[start..c]);
            start = c;
        }
        pieces.end_of_input("j", Format::Jsonl);
        let (a, b) = (&whole.sources()[0], &pieces.sources()[0]);
        // Five events and one sent again (same id); the line that is not UTF-8 is rejected.
        prop_assert_eq!((a.ingested, a.rejected_total(), a.duplicates), (5, 1, 1));
        prop_assert_eq!((b.ingested, b.rejected_total(), b.duplicates), (5, 1, 1));
        prop_assert_eq!(stats(&whole, "all"), stats(&pieces, "all"));
        let queues: Vec<String> = stats(&whole, "all").iter().map(|q| q.queue.clone()).collect();
        prop_assert!(queues.iter().any(|q| q == "atenção"), "{:?}", queues);
    }
}

/// AMI lines, plain and awkward, for streams built at random: frames read whole in place and frames read line
/// by line (a banner, a chunk's end, a bad byte anywhere in the chunk) must count alike.
const AMI_LINES: [&str; 23] = [
    "Event: QueueCallerJoin",
    "Event: AgentConnect",
    "Event: AgentComplete",
    "Event: QueueCallerAbandon",
    "Event: QueueMemberPause",
    "Event: Hangup",
    "Timestamp: 1700000100.250000",
    "Timestamp: 1700000200",
    "Timestamp: junk",
    "Queue: sales",
    "Queue: soporte técnico",
    "Linkedid: L1",
    "Linkedid: L2",
    "MemberName: Agent/1",
    "CallerIDNum: 600111222",
    "Privilege: agent,all",
    "  linkedid  :   L3  ",
    "garbage without a colon",
    ": a value without a name",
    "Asterisk Call Manager/5.0.1",
    "HoldTime: 12",
    "",
    "\u{80}bad",
];

/// Two engines fed `data`: whole, and cut at `cuts`.
fn fed_whole_and_cut(format: Format, data: &[u8], cuts: Vec<usize>) -> (Engine, Engine) {
    let mut whole = engine();
    whole.feed("s", format, data);
    whole.end_of_input("s", format);
    let mut pieces = engine();
    let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
    cuts.sort_unstable();
    let mut start = 0;
    for c in cuts.into_iter().chain([data.len()]) {
        pieces.feed("s", format, &data[start..c]);
        start = c;
    }
    pieces.end_of_input("s", format);
    (whole, pieces)
}

/// The same lines, events, rejections, figures and agents.
fn same_counts(a: &Engine, b: &Engine) -> Result<(), TestCaseError> {
    let (x, y) = (&a.sources()[0], &b.sources()[0]);
    prop_assert_eq!(
        (x.lines, x.ingested, x.rejected_total(), x.unknown),
        (y.lines, y.ingested, y.rejected_total(), y.unknown)
    );
    prop_assert_eq!(stats(a, "all"), stats(b, "all"));
    prop_assert_eq!(a.agents(), b.agents());
    Ok(())
}

fn ami_stream(lines: &[(usize, bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(i, crlf) in lines {
        let line = AMI_LINES[i % AMI_LINES.len()];
        if line == "\u{80}bad" {
            // A byte that is not UTF-8: its chunk is read line by line.
            out.extend_from_slice(b"\x80bad");
        } else {
            out.extend_from_slice(line.as_bytes());
        }
        out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn ami_streams_count_alike_however_cut(
        lines in prop::collection::vec((0usize..AMI_LINES.len(), any::<bool>()), 0..80),
        cuts in prop::collection::vec(0usize..4000, 0..10),
    ) {
        let (whole, pieces) = fed_whole_and_cut(Format::Ami, &ami_stream(&lines), cuts);
        same_counts(&whole, &pieces)?;
    }
}

/// Thousands of callers over three days: the caller table grows, is swept and rebuilt many times, and every
/// repeat call (SPEC §6: the same number started a call at most `repeat_window_seconds` earlier) is still
/// found, counted as a simple map of last starts counts it. Fed in odd-sized chunks through the batched path.
#[test]
fn repeat_callers_are_remembered_across_table_sweeps() {
    let window = Config::default().repeat_window_seconds;
    let mut seed: u64 = 7;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut log = String::new();
    let mut last_start: std::collections::HashMap<u64, u64> = Default::default();
    let mut expected = 0;
    let mut ts = 1_700_000_000u64;
    for call in 0..40_000u64 {
        ts += 1 + next(12);
        // A steady pool of regulars, and a stream of one-day callers (four calls each) that leave the
        // table when their day is over, so sweeps drop callers and rebuild it.
        let caller = if next(2) == 0 {
            600_000_000 + next(3_000)
        } else {
            700_000_000 + call / 4
        };
        if last_start
            .get(&caller)
            .is_some_and(|t| (ts - t) as f64 <= window)
        {
            expected += 1;
        }
        last_start.insert(caller, ts);
        log.push_str(&format!(
            "{ts}|c{call}|sales|NONE|ENTERQUEUE||{caller}|1\n{ts}|c{call}|sales|A|CONNECT|0|x|1\n\
             {}|c{call}|sales|A|COMPLETECALLER|0|{}|1\n",
            ts + 1,
            1
        ));
    }
    let mut e = engine();
    for chunk in log.as_bytes().chunks(65_537) {
        e.feed("t", Format::QueueLog, chunk);
    }
    let rows = stats(&e, "all");
    assert_eq!(rows[0].counters.offered, 40_000);
    assert_eq!(rows[0].counters.repeat_calls, expected);
    assert!(
        expected > 10_000,
        "the scenario must exercise repeats: {expected}"
    );
}

/// Every rejection is counted; the first few since the last look are kept with their line number and text,
/// for the log, and the rest only counted, so a flood of bad input costs neither memory nor log lines.
#[test]
fn rejections_are_kept_for_the_log_with_line_numbers_and_a_bound() {
    use ccmon_core::event::RejectReason;
    let mut e = engine();
    let mut log = String::from("100|c1|sales|NONE|ENTERQUEUE||600111222\nnot a queue_log line\n\n");
    log.push_str("x100|c2|sales|NONE|ENTERQUEUE||1\n");
    for i in 0..20 {
        log.push_str(&format!("1|c{i}|q|a\n"));
    }
    // Split mid-line: line numbers count complete lines across chunks.
    let (a, b) = log.as_bytes().split_at(45);
    e.feed("t", Format::QueueLog, a);
    e.feed("t", Format::QueueLog, b);
    let (shown, more) = e.take_rejections();
    let first: Vec<_> = shown.iter().take(3).map(|r| (r.reason, r.line)).collect();
    assert_eq!(
        first,
        [
            (RejectReason::TooFewFields, Some(2)),
            (RejectReason::BadTimestamp, Some(4)),
            (RejectReason::TooFewFields, Some(5)),
        ]
    );
    assert_eq!(shown[1].text, "x100|c2|sales|NONE|ENTERQUEUE||1");
    assert_eq!(shown.len(), 8);
    assert_eq!(more, [("t".to_string(), 22 - 8)]);
    assert_eq!(e.sources()[0].rejected_total(), 22);
    // Taken: the next look starts empty.
    assert_eq!(e.take_rejections(), (vec![], vec![]));
}

#[test]
fn a_line_too_long_and_a_queue_too_many_are_logged_too() {
    use ccmon_core::event::RejectReason;
    let cfg = Config {
        max_line_bytes: 64,
        max_queues: 1,
        ..Config::default()
    };
    let mut e = Engine::new(cfg).unwrap();
    let long = format!("1|c1|sales|NONE|ENTERQUEUE||{}\n", "9".repeat(100));
    e.feed("t", Format::QueueLog, &long.as_bytes()[..70]);
    e.feed("t", Format::QueueLog, &long.as_bytes()[70..]);
    e.feed(
        "t",
        Format::QueueLog,
        b"2|c2|sales|NONE|ENTERQUEUE||1\n3|c3|other|NONE|ENTERQUEUE||1\n",
    );
    let (shown, _) = e.take_rejections();
    assert_eq!(shown[0].reason, RejectReason::LineTooLong);
    assert_eq!(shown[0].line, Some(1));
    assert!(shown[0].text.starts_with("1|c1|sales|NONE|ENTERQUEUE||999"));
    assert_eq!(shown[1].reason, RejectReason::TooManyQueues);
    assert_eq!(shown[1].text, "queue other (call c3)");
}

/// An AMI frame with a Timestamp (or none when `ts` is `None`: the QueueStatus answer has none).
fn ami(event: &str, ts: Option<f64>, headers: &[(&str, &str)]) -> String {
    let mut f = format!("Event: {event}\r\n");
    if let Some(ts) = ts {
        f += &format!("Timestamp: {ts}\r\n");
    }
    for (k, v) in headers {
        f += &format!("{k}: {v}\r\n");
    }
    f + "\r\n"
}

fn join(ts: f64, call: &str) -> String {
    ami(
        "QueueCallerJoin",
        Some(ts),
        &[
            ("Queue", "sales"),
            ("Linkedid", call),
            ("CallerIDNum", "600"),
        ],
    )
}

/// An AMI event about call `id` in sales, naming Alice.
fn call(event: &str, ts: f64, id: &str) -> String {
    ami(
        event,
        Some(ts),
        &[
            ("Queue", "sales"),
            ("Linkedid", id),
            ("MemberName", "Alice"),
        ],
    )
}

/// What ccmon heard before an outage: three callers waiting, two agents.
fn before_outage() -> Engine {
    let mut e = engine();
    let mut text = String::new();
    for (who, pause) in [("Alice", "0"), ("Bob", "0")] {
        text += &ami(
            "QueueMemberAdded",
            Some(90.0),
            &[("Queue", "sales"), ("MemberName", who), ("Paused", pause)],
        );
    }
    for (i, call) in ["L1", "L2", "L3"].iter().enumerate() {
        text += &join(100.0 + i as f64, call);
    }
    e.feed("ami", Format::Ami, text.as_bytes());
    e
}

/// The manager's answer after the outage: L2 still waits, L4 joined meanwhile, Alice is paused, Bob gone.
/// While the answer arrives, a live event says L5 joined.
fn status_answer() -> String {
    let q = ("Queue", "sales");
    [
        "Response: Success\r\nActionID: ccmon-status-2\r\nEventList: start\r\n\r\n".to_string(),
        ami("QueueParams", None, &[q, ("Calls", "3")]),
        ami(
            "QueueMember",
            None,
            &[
                q,
                ("Name", "Alice"),
                ("Paused", "1"),
                ("PausedReason", "lunch"),
            ],
        ),
        ami(
            "QueueEntry",
            None,
            &[
                q,
                ("Uniqueid", "L2"),
                ("CallerIDNum", "600"),
                ("Wait", "50"),
            ],
        ),
        join(140.0, "L5"),
        ami(
            "QueueEntry",
            None,
            &[
                q,
                ("Uniqueid", "L4"),
                ("CallerIDNum", "700"),
                ("Wait", "30"),
            ],
        ),
        ami("QueueStatusComplete", None, &[("EventList", "Complete")]),
    ]
    .concat()
}

/// The calls waiting, by call id, with how long each has waited.
fn waiting(e: &Engine) -> Vec<(String, f64)> {
    let mut waiting: Vec<(String, f64)> = e
        .calls(false)
        .into_iter()
        .map(|c| (c.call, c.wait_seconds))
        .collect();
    waiting.sort_by(|a, b| a.0.cmp(&b.0));
    waiting
}

/// Each agent's state and reason.
fn agent_states(e: &Engine) -> Vec<(String, &'static str, String)> {
    e.agents()
        .into_iter()
        .map(|a| (a.agent, a.state, a.reason))
        .collect()
}

#[test]
fn a_queue_status_answer_removes_ghosts_and_finds_callers_already_waiting() {
    let mut e = before_outage();
    e.advance_clock(150.0);
    e.feed("ami", Format::Ami, status_answer().as_bytes());
    let waiting = waiting(&e);
    let expect = [("L2", 49.0), ("L4", 30.0), ("L5", 10.0)];
    assert_eq!(
        waiting,
        expect.map(|(c, w)| (c.to_string(), w)).to_vec(),
        "L2 keeps its own entry, L4 waits as long as the manager says, L5's live join stands"
    );
    let sales = &stats(&e, "all")[0];
    // L1 and L3 ended during the outage, how is unknown: lost. L4 was offered once, now.
    assert_eq!((sales.counters.offered, sales.counters.lost), (5, 2));
    let agents = agent_states(&e);
    assert_eq!(
        agents,
        vec![("Alice".to_string(), "paused", "lunch".to_string())]
    );
}

#[test]
fn a_queue_status_answer_cut_short_changes_nothing() {
    let mut e = before_outage();
    e.advance_clock(150.0);
    let answer = status_answer();
    let cut = answer.find("QueueStatusComplete").unwrap();
    e.feed("ami", Format::Ami, &answer.as_bytes()[..cut]);
    e.end_of_input("ami", Format::Ami);
    // Then a new session answers again in full.
    let mut calls: Vec<String> = e.calls(false).into_iter().map(|c| c.call).collect();
    calls.sort();
    assert_eq!(calls, ["L1", "L2", "L3", "L5"]);
    assert_eq!(stats(&e, "all")[0].counters.lost, 0);
    e.feed("ami", Format::Ami, status_answer().as_bytes());
    let mut calls: Vec<String> = e.calls(false).into_iter().map(|c| c.call).collect();
    calls.sort();
    assert_eq!(calls, ["L2", "L4", "L5"]);
}

#[test]
fn a_queue_caller_leave_alone_is_a_timeout_and_before_an_answer_is_nothing() {
    let mut e = engine();
    let text = [
        join(100.0, "L1"),
        call("QueueCallerLeave", 130.0, "L1"), // timed out: nothing follows
        join(140.0, "L2"),
        call("QueueCallerLeave", 150.0, "L2"), // Asterisk's order for an answer
        call("AgentConnect", 150.0, "L2"),
        join(160.0, "L3"),
        call("QueueCallerAbandon", 170.0, "L3"),
        call("QueueCallerLeave", 170.0, "L3"),
        join(180.0, "L4"),
        call("QueueCallerLeave", 190.0, "L4"), // the last event of the input
    ]
    .concat();
    e.feed("ami", Format::Ami, text.as_bytes());
    let before_end = stats(&e, "all")[0].counters.clone();
    assert_eq!(
        (
            before_end.timed_out,
            before_end.answered,
            before_end.abandoned
        ),
        (1, 1, 1)
    );
    e.end_of_input("ami", Format::Ami);
    let c = &stats(&e, "all")[0].counters;
    assert_eq!(
        (c.offered, c.timed_out, c.answered, c.abandoned, c.lost),
        (4, 2, 1, 1, 0)
    );
    // Waits: 30 and 10 for the two timeouts, 10 for the answer.
    assert_eq!(c.wait_max, Some(30.0));
    assert!(e.calls(false).iter().all(|v| v.state != "waiting"));
}

/// Two managers feed one site: the end of one's stream settles its own pending leaves, never the other's,
/// whose answer may still come within the grace.
#[test]
fn the_end_of_one_stream_leaves_another_s_pending_leave_alone() {
    let mut e = engine();
    let a = [join(100.0, "A1"), call("QueueCallerLeave", 110.0, "A1")].concat();
    e.feed("pbx-a", Format::Ami, a.as_bytes());
    let b = [join(100.0, "B1"), call("QueueCallerLeave", 110.5, "B1")].concat();
    e.feed("pbx-b", Format::Ami, b.as_bytes());
    e.end_of_input("pbx-b", Format::Ami);
    // B1's leave is settled with its stream (a timeout); A1's answer comes, from its own stream, in time.
    e.feed(
        "pbx-a",
        Format::Ami,
        call("AgentConnect", 110.8, "A1").as_bytes(),
    );
    let c = &stats(&e, "all")[0].counters;
    assert_eq!((c.offered, c.timed_out, c.answered), (2, 1, 1));
}

#[test]
fn an_abandon_never_heard_joining_counts_only_with_its_hold_time() {
    let mut e = engine();
    let abandon = |id: &str, hold: Option<&str>| {
        let mut h = vec![("Queue", "sales"), ("Linkedid", id), ("CallerIDNum", "600")];
        if let Some(hold) = hold {
            h.push(("HoldTime", hold));
        }
        ami("QueueCallerAbandon", Some(500.0), &h)
    };
    let text = [abandon("L1", Some("11")), abandon("L2", None)].concat();
    e.feed("ami", Format::Ami, text.as_bytes());
    let c = &stats(&e, "all")[0].counters;
    assert_eq!((c.offered, c.abandoned, c.wait_max), (1, 1, Some(11.0)));
    let src = &e.sources()[0];
    assert_eq!((src.ingested, src.ignored), (2, 1));
}

/// One mod_callcenter event as the event socket frames it.
fn esl(action: &str, ts: f64, headers: &[(&str, &str)]) -> String {
    let mut body = format!(
        "Event-Name: CUSTOM\nEvent-Subclass: callcenter%3A%3Ainfo\nCC-Action: {action}\nEvent-Date-Timestamp: {}\n",
        (ts * 1e6) as u64
    );
    for (k, v) in headers {
        body += &format!("{k}: {v}\n");
    }
    body += "\n";
    format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n{body}",
        body.len()
    )
}

const MEMBERS_HEADER: &str = "queue|instance_id|uuid|session_uuid|cid_number|cid_name|system_epoch|joined_epoch|rejoined_epoch|bridge_epoch|abandoned_epoch|base_score|skill_score|serving_agent|serving_system|state|score";

#[test]
fn a_callcenter_answer_removes_ghosts_and_finds_callers_already_waiting() {
    let mut e = engine();
    let join = |call: &str, ts: f64| {
        esl(
            "member-queue-start",
            ts,
            &[("CC-Queue", "support"), ("CC-Member-Session-UUID", call)],
        )
    };
    let before = [join("s1", 100.0), join("s2", 101.0), join("s3", 102.0)].concat();
    e.feed("fs", Format::FreeSwitch, before.as_bytes());
    // Reconnected: while the answer is gathered, a live event says s5 joined.
    e.advance_clock(150.0);
    e.begin_resync("fs");
    e.feed("fs", Format::FreeSwitch, join("s5", 140.0).as_bytes());
    let members = format!(
        "{MEMBERS_HEADER}\n\
         support|box|m2|s2|600|A|0|101|0|0|0|0|0|||Waiting|0\n\
         support|box|m4|s4|700|B|0|120|0|0|0|0|0|agent1|box|Trying|0\n\
         +OK\n"
    );
    let queues = [("support", members.as_str())];
    let cc = ccmon_core::freeswitch::Callcenter {
        queues: &queues,
        tiers: "queue|agent|state|level|position\nsupport|agent1|Ready|1|1\nsupport|agent2|Ready|1|1\n+OK\n",
        agents: "name|instance_id|uuid|type|contact|status|state\nagent1|box||callback|u/1|On Break|Waiting\nagent2|box||callback|u/2|Logged Out|Waiting\n+OK\n",
    };
    e.resync_callcenter("fs", &cc, 150.0).unwrap();
    let waiting = waiting(&e);
    let expect = [("s2", 49.0), ("s4", 30.0), ("s5", 10.0)];
    assert_eq!(
        waiting,
        expect.map(|(c, w)| (c.to_string(), w)).to_vec(),
        "s2 keeps its own entry, s4 waits as long as the switch says, s5's live join stands"
    );
    let support = &stats(&e, "all")[0];
    // s1 and s3 ended while ccmon was not listening, how is unknown: lost.
    assert_eq!((support.counters.offered, support.counters.lost), (5, 2));
    let agents = agent_states(&e);
    assert_eq!(
        agents,
        vec![("agent1".to_string(), "paused", "On Break".to_string())]
    );
    // A table that is not one changes nothing.
    let wrong = [("support", "-ERR callcenter_config Command not found!\n")];
    let bad = ccmon_core::freeswitch::Callcenter {
        queues: &wrong,
        ..cc
    };
    e.begin_resync("fs");
    assert!(e.resync_callcenter("fs", &bad, 160.0).is_err());
    assert_eq!(e.calls(false).len(), 3);
}

/// Parts of a FreeSWITCH stream: whole call events (a queue call from start to end), and the awkward input
/// around them that the message reader leaves to the line reader.
fn esl_part(kind: usize, call: usize, ts: f64) -> Vec<u8> {
    let id = format!("s{call}");
    let with = |more: &[(&'static str, &'static str)]| {
        let mut all = vec![
            ("CC-Queue", "support"),
            ("CC-Member-Session-UUID", id.as_str()),
        ];
        all.extend_from_slice(more);
        all
    };
    let text = match kind {
        0 => esl(
            "member-queue-start",
            ts,
            &with(&[("CC-Member-CID-Number", "600111222")]),
        ),
        1 => esl(
            "bridge-agent-start",
            ts,
            &with(&[("CC-Agent", "agent%2F1")]),
        ),
        2 => esl("member-queue-end", ts, &with(&[("CC-Cause", "Terminated")])),
        3 => esl(
            "member-queue-end",
            ts,
            &with(&[("CC-Cause", "Cancel"), ("CC-Cancel-Reason", "NONE")]),
        ),
        // CRLF line ends, a queue name with an accent.
        4 => esl(
            "member-queue-start",
            ts,
            &[
                ("CC-Queue", "soporte técnico"),
                ("CC-Member-Session-UUID", &id),
            ],
        )
        .replace('\n', "\r\n"),
        5 => "Content-Type: command/reply\nReply-Text: +OK accepted\n\n".to_string(),
        6 => "Content-Type: api/response\nContent-Length: 6\n\n+OK x\n".to_string(),
        7 => "garbage without a colon\n\n".to_string(),
        _ => {
            // A byte that is not UTF-8 in a value: its chunk is read line by line.
            let mut bytes = esl("member-queue-start", ts, &with(&[("CC-Agent", "~")])).into_bytes();
            let at = bytes.iter().rposition(|&c| c == b'~').unwrap();
            bytes[at] = 0x80;
            return bytes;
        }
    };
    text.into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// FreeSWITCH streams give the same figures, counts and agents whether read whole (messages read in place)
    /// or cut anywhere (messages the cuts split read line by line).
    #[test]
    fn freeswitch_streams_count_alike_however_cut(
        parts in prop::collection::vec((0usize..9, 0usize..6), 0..40),
        cuts in prop::collection::vec(0usize..20_000, 0..10),
    ) {
        let data: Vec<u8> = parts
            .iter()
            .enumerate()
            .flat_map(|(i, &(kind, call))| esl_part(kind, call, 1_700_000_000.0 + i as f64))
            .collect();
        let (whole, pieces) = fed_whole_and_cut(Format::FreeSwitch, &data, cuts);
        same_counts(&whole, &pieces)?;
    }
}

/// The finished calls kept for `journeys()` are the last 10,000, the older overwritten as they go.
#[test]
fn journeys_keep_the_last_ten_thousand_finished_calls() {
    let mut e = engine();
    let mut log = String::new();
    for i in 0..10_050u64 {
        let t = 1_700_000_000 + 10 * i;
        log += &format!("{t}|c{i}|sales|NONE|ENTERQUEUE||600{i}|1\n");
        log += &format!("{}|c{i}|sales|Agent/1|CONNECT|2|x|1\n", t + 2);
        log += &format!("{}|c{i}|sales|Agent/1|COMPLETECALLER|2|5|1\n", t + 7);
    }
    e.feed("f", Format::QueueLog, log.as_bytes());
    e.end_of_input("f", Format::QueueLog);
    let rows = e.journeys();
    let calls: std::collections::BTreeSet<u64> = rows
        .iter()
        .filter(|r| r.finished)
        .map(|r| r.call[1..].parse().unwrap())
        .collect();
    assert_eq!(calls.len(), 10_000);
    assert_eq!((calls.first(), calls.last()), (Some(&50), Some(&10_049)));
}

/// JSON lines are applied one behind their reading (so the slots they need can be fetched meanwhile): a line
/// the fast path leaves to serde (an escape) must still come after the line read before it, and each
/// rejection must name its own line.
#[test]
fn json_lines_read_in_place_and_by_serde_are_applied_in_their_order() {
    let data = concat!(
        r#"{"ts": 100, "type": "enter", "call": "c1", "queue": "sales"}"#,
        "\n",
        r#"{"ts": 110, "type": "answer", "call": "c1", "queue": "sales", "agent": "Agent\/1"}"#,
        "\n",
        r#"{"ts": 111, "type": "enter", "call": "c2"}"#,
        "\n",
        r#"{"ts": 150, "type": "talk_end", "call": "c1", "queue": "sales"}"#,
        "\n",
        r#"{"ts": 151, "type": "enter", "queue": "sales", "call": "c\u0033"}"#,
        "\n",
        r#"{"ts": 152, "type": "enter"}"#,
        "\n",
    );
    let mut e = engine();
    e.feed("j", Format::Jsonl, data.as_bytes());
    let q = &stats(&e, "all")[0];
    // The answer (read by serde) came after the enter before it, and the talk end after the answer.
    assert_eq!(
        (q.counters.offered, q.counters.answered, q.asa_seconds),
        (2, 1, Some(10.0))
    );
    assert!(q.talk_seconds_mean == Some(40.0), "{q:?}");
    let (shown, _) = e.take_rejections();
    let lines: Vec<Option<u64>> = shown.iter().map(|r| r.line).collect();
    assert_eq!(lines, [Some(3), Some(6)]);
}

/// README: an event whose `id` the same source sent among its last 65,536 is dropped and counted.
#[test]
fn a_resent_id_is_dropped_within_the_last_65536_ids_and_let_through_after() {
    let line = |id: u64| {
        format!("{{\"ts\": 100, \"type\": \"hold_start\", \"call\": \"c\", \"id\": {id}}}\n")
    };
    let mut e = engine();
    let first: String = (0..=65_536).map(line).collect();
    e.feed("j", Format::Jsonl, first.as_bytes());
    // Id 0 left the window when id 65,536 came: id 1 is the oldest in it.
    e.feed(
        "j",
        Format::Jsonl,
        (line(1) + &line(0) + &line(65_536)).as_bytes(),
    );
    let s = &e.sources()[0];
    assert_eq!((s.ingested, s.duplicates), (65_538, 2));
}
