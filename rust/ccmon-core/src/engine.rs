//! The engine: per-call state machines, per-queue figures over event-time windows, journeys, repeat callers.
//!
//! Memory is bounded: a call whose entry waits longer than `max_wait_seconds` is closed as `lost`; calls that
//! talk or sit between queues longer than that are dropped; the caller table forgets callers once neither the
//! repeat window nor the misroute window can still involve them; rolling windows keep only the facts of the
//! longest configured window; the finished-journey history is a fixed-size ring.

use std::collections::VecDeque;

use chrono::{Duration, NaiveTime, TimeZone};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::agents::{AgentCounts, AgentTable, AgentView};
use crate::callers::{Caller, CallerTable};
use crate::calls::{Call, CallId, CallKey, CallState, CallTable, Entry, Journey};
use crate::config::Config;
use crate::event::{Event, Kind, Parsed, RejectReason};
use crate::histogram::exact_quantile;
use crate::jsonl;
use crate::queue_log;
use crate::recent_ids::RecentIds;
use crate::stats::{Accumulator, Counters, Fact, Outcome, QueueStats, Record, QUANTILES};

/// Input formats the engine parses. More arrive with the live sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    QueueLog,
    /// JSON lines (SPEC §7), see [`crate::jsonl`].
    Jsonl,
    /// Asterisk Manager Interface frames (SPEC §7), see [`crate::ami`].
    Ami,
    /// FreeSWITCH Event Socket messages with mod_callcenter events (SPEC §7), see [`crate::freeswitch`].
    FreeSwitch,
}

impl Format {
    /// `auto` is the caller's to resolve (it looks at the data); here it means queue_log.
    pub fn parse(name: &str) -> Result<Format, String> {
        match name {
            "queue_log" | "auto" => Ok(Format::QueueLog),
            "jsonl" => Ok(Format::Jsonl),
            "ami" => Ok(Format::Ami),
            "freeswitch" => Ok(Format::FreeSwitch),
            other => Err(format!(
                "unknown format {other:?}; allowed: auto, queue_log, jsonl, ami, freeswitch"
            )),
        }
    }
}

/// A span of event time ending at the engine's "now" (SPEC §1, §3).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Window {
    All,
    Today,
    /// The last N seconds: facts with `now − N < ts <= now`.
    Rolling(f64),
}

impl Window {
    /// `"all"`, `"today"`, or a duration such as `"90s"`, `"5m"`, `"1h"`.
    pub fn parse(text: &str) -> Result<Window, String> {
        match text {
            "all" => return Ok(Window::All),
            "today" => return Ok(Window::Today),
            _ => {}
        }
        let err = || {
            format!("window {text:?}: use \"all\", \"today\" or a duration like \"5m\", \"15m\", \"1h\", \"90s\"")
        };
        let (num, unit) = text.split_at(text.len().saturating_sub(1));
        let mult = match unit {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        let n: f64 = num.parse().map_err(|_| err())?;
        if !(n.is_finite() && n > 0.0) {
            return Err(err());
        }
        Ok(Window::Rolling(n * mult))
    }
}

/// Call flags, set the moment they happen (SPEC §4).
pub mod flags {
    pub const LOOP: u8 = 1;
    pub const PINGPONG: u8 = 2;
    pub const BOUNCED: u8 = 4;
    pub const ESCALATION: u8 = 8;
    pub const ESCALATION_FAKE: u8 = 16;
    pub const ESCALATION_UNANSWERED: u8 = 32;
    pub const REPEAT: u8 = 64;
    pub const MISROUTED_BEFORE: u8 = 128;

    pub const NAMES: [(u8, &str); 8] = [
        (LOOP, "loop"),
        (PINGPONG, "pingpong"),
        (BOUNCED, "bounced"),
        (ESCALATION, "escalation"),
        (ESCALATION_FAKE, "escalation_fake"),
        (ESCALATION_UNANSWERED, "escalation_unanswered"),
        (REPEAT, "repeat"),
        (MISROUTED_BEFORE, "misrouted_before"),
    ];

    pub fn describe(bits: u8) -> String {
        if bits == 0 {
            return String::new();
        }
        NAMES
            .iter()
            .filter(|(b, _)| bits & b != 0)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Journeys longer than this stop recording new entries (figures are still counted); a guard against a
/// corrupted log that re-enters one call id forever.
const MAX_JOURNEY: usize = 256;
/// Finished journeys kept for `journeys()`.
const FINISHED_KEPT: usize = 10_000;
/// Events parsed ahead of the engine (see `Engine::feed`): the first of a batch gets the parsing of the others
/// (~60 ns a line) to arrive from memory, the last the applying of the others.
const BATCH: usize = 16;

/// Prometheus bucket bounds of `ccmon_queue_wait_seconds` (the service-level threshold is added).
const WAIT_BUCKETS: [f64; 17] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1200.0,
    1800.0, 3600.0,
];
/// Bucket bounds of `ccmon_call_moh_seconds`.
pub const MOH_BUCKETS: [f64; 10] = [
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, 3600.0, 7200.0,
];

/// A classic cumulative-at-render histogram: per-bucket counts, sum and count.
#[derive(Debug, Clone)]
pub struct PromHistogram {
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl PromHistogram {
    fn new(buckets: usize) -> Self {
        PromHistogram {
            counts: vec![0; buckets],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, bounds: &[f64], v: f64) {
        if let Some(i) = bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

impl QueueState {
    /// The "all" counts (no wait sketch), for /metrics.
    pub(crate) fn all_counters(&self) -> Counters {
        let mut c = self.earlier.counters.clone();
        c.merge(&self.today.counters);
        c
    }
}

#[derive(Debug, Clone)]
pub(crate) struct QueueState {
    pub(crate) name: String,
    dept: u32,
    supervisor: bool,
    moh_track: Option<f64>,
    /// "all" is `earlier` + `today`: each fact is added once, and the day's figures join `earlier` when
    /// the day ends.
    earlier: Accumulator,
    today: Accumulator,
    recent: VecDeque<Record>,
    recent_front_ts: f64,
    /// Closed outcomes in `Outcome::ALL` order (lost excluded).
    pub(crate) waits: [PromHistogram; 5],
    pub(crate) moh: PromHistogram,
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Waiting {
    pub(crate) calls: u64,
    pub(crate) longest_seconds: f64,
    pub(crate) plays_max: f64,
    /// Calls in progress whose current queue this is, by [`SUPERVISOR_FLAGS`], then those with any of them.
    pub(crate) flagged: [u64; SUPERVISOR_FLAGS.len() + 1],
}

/// The flags that say a caller needs a supervisor now (SPEC §4, §5), as exported per queue: a loop,
/// ping-pong or bounce, an escalation that was fake or went unanswered, hold music over `moh_alert_plays`.
pub(crate) const SUPERVISOR_FLAGS: [(u8, &str); 6] = [
    (flags::LOOP, "loop"),
    (flags::PINGPONG, "pingpong"),
    (flags::BOUNCED, "bounced"),
    (flags::ESCALATION_FAKE, "escalation_fake"),
    (flags::ESCALATION_UNANSWERED, "escalation_unanswered"),
    (MOH_OVER_LIMIT, "moh_over_limit"),
];

/// Not a stored flag (it changes with time): set in [`SUPERVISOR_FLAGS`] counting for calls over the limit.
const MOH_OVER_LIMIT: u8 = 0;

/// What an event's source tells about it: whether the source reports music on hold, and which source it is
/// (`NO_SOURCE` for a state the engine is told, not an event of a stream).
#[derive(Debug, Clone, Copy)]
struct From {
    moh_events: bool,
    source: u32,
}

const NO_SOURCE: u32 = u32::MAX;

impl SourceStats {
    /// While a switch's status answer is gathered (AMI QueueStatus, mod_callcenter's tables), a call a live
    /// event of this source names is newer than the answer, which then leaves it alone. (Only the two
    /// switches' events call this: queue_log's hot path does not pay for it.)
    fn touched(&mut self, call: &[u8]) {
        if let Some(snap) = self.status.as_mut() {
            if !call.is_empty() {
                snap.touched.insert(CallKey::new(call));
            }
        }
    }

    fn from(&self) -> From {
        From {
            moh_events: self.moh_events,
            source: self.id,
        }
    }
}

/// Per-source ingest telemetry.
#[derive(Debug, Clone, Default)]
pub struct SourceStats {
    pub name: String,
    /// Complete lines read (blank and rejected ones too): a rejection's line number.
    pub lines: u64,
    pub ingested: u64,
    pub rejected: [u64; RejectReason::ALL.len()],
    pub unknown: u64,
    /// Events for a call that is not in a queue (never entered, or already closed): ignored.
    pub ignored: u64,
    /// Events whose `id` was seen before (JSON lines): dropped.
    pub duplicates: u64,
    /// The source's format reports music-on-hold events (all but queue_log and FreeSWITCH's mod_callcenter
    /// events): its calls' exposure comes from them (SPEC §5).
    moh_events: bool,
    /// Its index in the engine's sources: what its pending leaves and ended calls are tagged with.
    id: u32,
    seen_ids: RecentIds,
    /// JSON lines that name another site than this engine's, with that site: for the caller to feed to the
    /// engine of that site ([`Engine::take_forwarded`]). Only complete lines, each ended by a newline.
    forwarded: Vec<(String, Vec<u8>)>,
    /// The AMI frame being read (boxed and taken out while a frame is applied: its event borrows from it
    /// while the source's counters change).
    ami: Option<Box<crate::ami::FrameBuilder>>,
    /// The layout of this source's JSON lines so far, for the fast path.
    json_shape: jsonl::LineShape,
    /// The QueueStatus answer being read, applied when it is complete.
    status: Option<Box<StatusSnapshot>>,
    /// The FreeSWITCH message being read, the same way.
    freeswitch: Option<Box<crate::freeswitch::FrameBuilder>>,
    pub last_event_ts: Option<f64>,
    partial: Vec<u8>,
    discarding: bool,
    /// Bytes of the over-long line being discarded (FreeSWITCH counts them towards the body they belong to).
    discarded: usize,
    /// The first rejections since they were last taken, for a log line each ([`Engine::take_rejections`]).
    samples: Vec<Rejection>,
    /// Rejections since then beyond `samples`: counted, not shown.
    samples_dropped: u64,
}

/// A switch's answer to "what is waiting and who is logged in now" (AMI QueueStatus), owned while it arrives.
#[derive(Debug, Clone, Default)]
struct StatusSnapshot {
    queues: Vec<String>,
    /// Queue, call, caller, seconds waited.
    entries: Vec<(String, String, String, f64)>,
    /// Queue, agent, paused, pause reason.
    members: Vec<(String, String, bool, String)>,
    /// Calls that live events named while the answer arrived: those events are newer than the answer, so
    /// the answer neither closes nor re-enters these calls.
    touched: FxHashSet<CallKey>,
}

impl StatusSnapshot {
    /// Keeps one item of a switch's answer (a QueueStatus frame, a row of mod_callcenter's tables).
    fn add(&mut self, item: crate::ami::StatusItem<'_>) {
        use crate::ami::StatusItem;
        match item {
            StatusItem::Queue(q) => self.queues.push(q.to_string()),
            StatusItem::Entry {
                queue,
                call,
                caller,
                wait,
            } => self.entries.push((
                queue.to_string(),
                call.to_string(),
                caller.to_string(),
                wait,
            )),
            StatusItem::Member {
                queue,
                agent,
                paused,
                reason,
            } => self.members.push((
                queue.to_string(),
                agent.to_string(),
                paused,
                reason.to_string(),
            )),
            StatusItem::Complete => {}
        }
    }
}

/// How long after a QueueCallerLeave an AgentConnect still makes the entry answered (Asterisk sends it at
/// once, in the same second).
const LEAVE_GRACE_SECONDS: f64 = 2.0;

/// How long after its bridge ends a FreeSWITCH call may enter a queue again as the same call, transferred. A
/// session id is one channel's, never reused, so this only bounds how long an ended call is remembered; it
/// covers a transfer that first plays a prompt.
pub const CONTINUE_SECONDS: f64 = 60.0;

/// Frames a QueueStatus answer may hold before it is given up as never completing.
const MAX_STATUS_ITEMS: usize = 1 << 20;

/// One rejected line, as the log shows it: where it was, why, and the start of what it said.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub source: String,
    pub reason: RejectReason,
    /// Line number in the source (from 1), when the rejection is about one line.
    pub line: Option<u64>,
    /// The line's first bytes (lossy UTF-8), or what was wrong when there is no single line to show.
    pub text: String,
}

/// An event's `id` as the 64-bit hash [`RecentIds`] keeps; a text id and a number never share one.
fn id_hash(id: &jsonl::Id<'_>) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = rustc_hash::FxBuildHasher.build_hasher();
    match id {
        jsonl::Id::Text(t) => (0u8, t.as_ref()).hash(&mut h),
        jsonl::Id::Number(n) => (1u8, n).hash(&mut h),
    }
    h.finish()
}

/// Rejections kept per source between two [`Engine::take_rejections`]: a flood of bad input costs a counter,
/// not memory or log lines.
const SAMPLES_KEPT: usize = 8;
/// Bytes of a rejected line shown in its log line.
const EXCERPT_BYTES: usize = 120;

impl SourceStats {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Counts a rejection and keeps it for the log while there is room.
    fn reject(&mut self, reason: RejectReason, line: Option<u64>, text: &[u8]) {
        self.rejected[reason.index()] += 1;
        if self.samples.len() >= SAMPLES_KEPT {
            self.samples_dropped += 1;
            return;
        }
        let shown = &text[..text.len().min(EXCERPT_BYTES)];
        let mut excerpt = String::from_utf8_lossy(shown).into_owned();
        if shown.len() < text.len() {
            excerpt.push('…');
        }
        self.samples.push(Rejection {
            source: self.name.clone(),
            reason,
            line,
            text: excerpt,
        });
    }
}

/// A call in progress, as `calls()` shows it.
#[derive(Debug, Clone)]
pub struct CallView {
    pub call: String,
    pub queue: String,
    pub state: &'static str,
    pub entered_at: f64,
    pub wait_seconds: f64,
    pub on_line_seconds: f64,
    pub entries: u32,
    pub transfers: u32,
    pub plays: f64,
    pub moh_seconds: f64,
    pub flags: String,
    pub journey: String,
    pub caller: Option<String>,
}

/// One entry of a journey, as `journeys()` shows it.
#[derive(Debug, Clone)]
pub struct JourneyRow {
    pub call: String,
    pub step: u32,
    pub queue: String,
    pub department: String,
    pub entered_at: f64,
    pub outcome: Option<&'static str>,
    pub wait_seconds: Option<f64>,
    pub talk_seconds: Option<f64>,
    pub finished: bool,
    pub flags: String,
}

/// One transfer as the source reported it, for [`Engine::transfers`].
#[derive(Debug, Clone)]
struct TransferRecord {
    ts: f64,
    call: String,
    /// The queue the call was in, when ccmon knew the call.
    queue: Option<u32>,
    by: String,
    to: String,
    /// The transferred party's number, as the source gave it (AMI); shown only with `show_callers`.
    caller: String,
}

/// One transfer, as `transfers()` shows it.
#[derive(Debug, Clone)]
pub struct TransferView {
    pub at: f64,
    pub call: String,
    pub queue: Option<String>,
    /// Who transferred (the agent), when the source says.
    pub by: String,
    /// Where to: an extension, a queue, or the party the caller was joined with.
    pub to: String,
    /// This is the call's n-th transfer among those kept.
    pub nth: u32,
    pub caller: Option<String>,
}

#[derive(Debug, Clone)]
struct FinishedCall {
    key: CallKey,
    journey: Journey,
    flags: u8,
}

/// Everything but the call table, so call handlers can borrow both at once.
struct Book {
    cfg: Config,
    queues: Vec<QueueState>,
    queue_ids: FxHashMap<Box<[u8]>, u32>,
    dept_names: Vec<String>,
    dept_ids: FxHashMap<String, u32>,
    queue_dept: FxHashMap<String, String>,
    supervisor_queues: FxHashSet<String>,
    supervisors: FxHashSet<Vec<u8>>,
    callers: CallerTable,
    callers_sweep_at: usize,
    agents: AgentTable,
    expiry: VecDeque<(f64, CallId, u32)>,
    /// Waiting entries the caller left (AMI QueueCallerLeave) at a time, by call and entry: a timeout unless
    /// an answer comes within `LEAVE_GRACE_SECONDS`.
    leaving: VecDeque<(f64, CallId, u32, u32)>,
    /// Calls whose talk ended as FreeSWITCH reports it (a hang-up or a transfer), by deadline, call and entry:
    /// finished at the deadline unless they entered a queue again.
    ending: VecDeque<(f64, CallId, u32, u32)>,
    next_seq: u32,
    next_idle_sweep: f64,
    finished: Vec<FinishedCall>,
    /// Once `finished` holds `FINISHED_KEPT` calls, the slot the next one overwrites (the oldest).
    finished_next: usize,
    /// The last `FINISHED_KEPT` transfers any source reported, oldest first.
    transfers: VecDeque<TransferRecord>,
    now: f64,
    day: Option<(f64, f64)>,
    tz: chrono_tz::Tz,
    max_window: f64,
    wait_bounds: Vec<f64>,
}

/// What became of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Applied {
    Used,
    /// About a call that is not in that queue (never entered, or already closed).
    Ignored,
    Rejected(RejectReason),
}

/// What a handler asks the engine to do with the call afterwards.
enum After {
    Keep,
    Finish,
}

pub struct Engine {
    book: Book,
    calls: CallTable,
    sources: Vec<SourceStats>,
}

impl Engine {
    pub fn new(cfg: Config) -> Result<Engine, String> {
        cfg.validate()?;
        let tz: chrono_tz::Tz = cfg
            .timezone
            .parse()
            .map_err(|_| format!("timezone: unknown {:?}", cfg.timezone))?;
        let mut queue_dept = FxHashMap::default();
        for (dept, queues) in &cfg.departments {
            for q in queues {
                if let Some(prev) = queue_dept.insert(q.clone(), dept.clone()) {
                    if prev != *dept {
                        return Err(format!(
                            "departments: queue {q:?} is listed in both {prev:?} and {dept:?}"
                        ));
                    }
                }
            }
        }
        let mut wait_bounds: Vec<f64> = WAIT_BUCKETS.to_vec();
        for extra in [cfg.service_level_seconds, cfg.short_abandon_seconds] {
            if extra > 0.0 && !wait_bounds.contains(&extra) {
                wait_bounds.push(extra);
            }
        }
        wait_bounds.sort_by(f64::total_cmp);
        let max_window = cfg.windows_seconds.iter().copied().fold(0.0, f64::max);
        Ok(Engine {
            book: Book {
                supervisor_queues: cfg.supervisor_queues.iter().cloned().collect(),
                supervisors: cfg
                    .supervisors
                    .iter()
                    .map(|s| s.as_bytes().to_vec())
                    .collect(),
                cfg,
                queues: Vec::new(),
                queue_ids: FxHashMap::default(),
                dept_names: Vec::new(),
                dept_ids: FxHashMap::default(),
                queue_dept,
                callers: CallerTable::default(),
                agents: AgentTable::default(),
                callers_sweep_at: 1024,
                expiry: VecDeque::new(),
                leaving: VecDeque::new(),
                ending: VecDeque::new(),
                next_seq: 0,
                next_idle_sweep: f64::NEG_INFINITY,
                finished: Vec::new(),
                finished_next: 0,
                transfers: VecDeque::new(),
                now: f64::NEG_INFINITY,
                day: None,
                tz,
                max_window,
                wait_bounds,
            },
            calls: CallTable::default(),
            sources: Vec::new(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.book.cfg
    }

    /// The engine's event-time "now": the newest event time seen or clock time given; `None` before any.
    pub fn now(&self) -> Option<f64> {
        self.book.now.is_finite().then_some(self.book.now)
    }

    fn source_id(&mut self, name: &str) -> usize {
        if let Some(i) = self.sources.iter().position(|s| s.name == name) {
            return i;
        }
        self.sources.push(SourceStats {
            name: name.to_string(),
            id: self.sources.len() as u32,
            ..Default::default()
        });
        self.sources.len() - 1
    }

    /// Feeds a chunk of bytes from `source`. Lines may be split anywhere across chunks: the unfinished tail is
    /// kept per source until its newline arrives (or [`Engine::end_of_input`]).
    ///
    /// Never panics: should the engine fail on the input (a bug), the rest of the chunk and the line or frame
    /// being read are dropped, one `internal_error` rejection says so, and the source goes on with its next
    /// chunk. A live source must not end because of one bad moment.
    pub fn feed(&mut self, source: &str, format: Format, data: &[u8]) {
        self.contained(source, |engine| engine.feed_chunk(source, format, data));
    }

    /// Runs `f`; if it panics, drops what `source` was in the middle of and counts an `internal_error`.
    /// (The engine's other state stays as the failed step left it: memory-safe, if perhaps off by that event.)
    fn contained(&mut self, source: &str, f: impl FnOnce(&mut Engine)) {
        let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) else {
            return;
        };
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let sid = self.source_id(source);
        let src = &mut self.sources[sid];
        src.partial.clear();
        src.discarding = false;
        src.discarded = 0;
        src.ami = None;
        src.status = None;
        src.freeswitch = None;
        let text = format!("ccmon failed on this input and dropped the rest of the chunk (a bug: please report it): {what}");
        src.reject(RejectReason::InternalError, None, text.as_bytes());
    }

    fn feed_chunk(&mut self, source: &str, format: Format, data: &[u8]) {
        let sid = self.source_id(source);
        let max = self.book.cfg.max_line_bytes;
        let mut rest = data;
        let src = &mut self.sources[sid];
        // queue_log and mod_callcenter's events report no music on hold (SPEC §5).
        src.moh_events = !matches!(format, Format::QueueLog | Format::FreeSwitch);
        if !src.partial.is_empty() || src.discarding {
            match memchr::memchr(b'\n', rest) {
                None => {
                    Self::buffer_partial(src, format, rest, max);
                    return;
                }
                Some(i) => {
                    let head = &rest[..i];
                    rest = &rest[i + 1..];
                    src.lines += 1;
                    if src.discarding {
                        src.discarding = false;
                        let len = std::mem::take(&mut src.discarded) + head.len();
                        if format == Format::FreeSwitch {
                            Self::apply_fs_dropped(&mut self.book, &mut self.calls, src, len);
                        }
                    } else if format == Format::FreeSwitch && src.partial.len() + head.len() > max {
                        let len = src.partial.len() + head.len();
                        src.partial.clear();
                        Self::apply_fs_dropped(&mut self.book, &mut self.calls, src, len);
                    } else if src.partial.len() + head.len() > max {
                        let line = src.lines;
                        let start = std::mem::take(&mut src.partial);
                        src.reject(RejectReason::LineTooLong, Some(line), &start);
                    } else {
                        let mut line = std::mem::take(&mut src.partial);
                        line.extend_from_slice(head);
                        Self::process_line(&mut self.book, &mut self.calls, src, format, &line);
                        line.clear();
                        src.partial = line;
                    }
                }
            }
        }
        if format != Format::QueueLog {
            // JSON lines, AMI and FreeSWITCH: a line at a time through the same path as a line completed across
            // chunks (so an over-long line is `line_too_long` however the input was cut), except what a fast
            // path reads in place (`json_in_place`, `read_in_place`). Lines are found with memchr: these
            // formats need no `|` positions. The chunk's whole lines are checked as UTF-8 at once (SIMD, a few
            // bytes an instruction) for the fast paths, which then need not check each line; a chunk with a
            // bad byte anywhere goes line by line.
            let whole = memchr::memrchr(b'\n', rest).map_or(0, |i| i + 1);
            let checked = simdutf8::basic::from_utf8(&rest[..whole]).ok();
            let mut start = 0;
            // A JSON line read in place is applied when the next one has been read (as queue_log's batches,
            // one deep): meanwhile the slots of its id and caller, fetched when it was read, arrive from
            // memory. Anything else applies the line held first, so the order stays the input's.
            let mut held: Option<(&[u8], jsonl::JsonLine<'_>)> = None;
            while let Some(data) = rest.get(start..).filter(|d| !d.is_empty()) {
                let (book, calls) = (&mut self.book, &mut self.calls);
                let text = checked.and_then(|t| t.get(start..));
                if format == Format::Jsonl {
                    if let Some((line, parsed)) = Self::json_in_place(book, src, data, text) {
                        start += line.len() + 1;
                        if let Some((line, parsed)) = held.replace((line, parsed)) {
                            Self::apply_read_json(book, calls, src, line, parsed);
                        }
                        continue;
                    }
                    if let Some((line, parsed)) = held.take() {
                        Self::apply_read_json(book, calls, src, line, parsed);
                    }
                } else if let Some(taken) = Self::read_in_place(book, calls, src, format, text) {
                    start += taken;
                    continue;
                }
                let Some(len) = memchr::memchr(b'\n', data) else {
                    break;
                };
                Self::whole_line(book, calls, src, format, &data[..len]);
                start += len + 1;
            }
            if let Some((line, parsed)) = held {
                Self::apply_read_json(&mut self.book, &mut self.calls, src, line, parsed);
            }
            Self::buffer_partial(src, format, &rest[start..], max);
            return;
        }
        // Lines are parsed a batch ahead of the engine, and the caller-table slot of each ENTERQUEUE is
        // prefetched meanwhile, so its lookup finds the slot in cache instead of waiting on memory: the table
        // holds a day of callers, read at random, and that wait cost more than all the parsing.
        // Placeholders: only the first `n` slots are ever applied.
        let blank = Event {
            ts: 0.0,
            call: &[],
            queue: &[],
            agent: &[],
            kind: Kind::Other,
            caller: &[],
            detail: &[],
        };
        let mut batch = [(blank, Caller::NONE); BATCH];
        let mut n = 0;
        let mut scanned = queue_log::Scan::default();
        let mut lines = queue_log::Lines::new(rest);
        while let Some(line) = lines.next_line(&mut scanned) {
            src.lines += 1;
            let parsed = if line.len() > max {
                Parsed::Rejected(RejectReason::LineTooLong)
            } else {
                queue_log::parse_scanned(line, &scanned)
            };
            match parsed {
                Parsed::Event(e) => {
                    let caller = Self::caller_of(&e);
                    self.book.callers.prefetch(caller);
                    batch[n % BATCH] = (e, caller);
                    n += 1;
                    if n == BATCH {
                        for (e, caller) in &batch {
                            Self::count_event(&mut self.book, &mut self.calls, src, e, *caller);
                        }
                        n = 0;
                    }
                }
                // Only counted: their order relative to the events does not matter.
                Parsed::Blank => {}
                Parsed::Unknown => src.unknown += 1,
                Parsed::Rejected(r) => {
                    let n = src.lines;
                    src.reject(r, Some(n), line);
                }
            }
        }
        for (e, caller) in batch.iter().take(n) {
            Self::count_event(&mut self.book, &mut self.calls, src, e, *caller);
        }
        Self::buffer_partial(src, format, lines.rest(), max);
    }

    fn buffer_partial(src: &mut SourceStats, format: Format, tail: &[u8], max: usize) {
        if tail.is_empty() {
            return;
        }
        if src.discarding {
            src.discarded += tail.len();
            return;
        }
        if format == Format::FreeSwitch && src.partial.len() + tail.len() > max {
            // Counted when the line ends (apply_fs_dropped), with its length.
            src.discarded = src.partial.len() + tail.len();
            src.partial.clear();
            src.discarding = true;
        } else if src.partial.len() + tail.len() > max {
            // Counted once now; the rest of this line is dropped up to its newline.
            let mut start = std::mem::take(&mut src.partial);
            start.extend_from_slice(&tail[..tail.len().min(EXCERPT_BYTES + 1)]);
            src.discarding = true;
            let n = src.lines + 1;
            src.reject(RejectReason::LineTooLong, Some(n), &start);
        } else {
            src.partial.extend_from_slice(tail);
        }
    }

    /// The source's input ended: a last line without a newline is taken as complete. Never panics, as
    /// [`Engine::feed`].
    pub fn end_of_input(&mut self, source: &str, format: Format) {
        self.contained(source, |engine| engine.end_source(source, format));
    }

    fn end_source(&mut self, source: &str, format: Format) {
        let sid = self.source_id(source);
        let src = &mut self.sources[sid];
        if std::mem::take(&mut src.discarding) && format == Format::FreeSwitch {
            src.lines += 1;
            let len = std::mem::take(&mut src.discarded);
            Self::apply_fs_dropped(&mut self.book, &mut self.calls, src, len);
        }
        src.discarded = 0;
        let line = std::mem::take(&mut src.partial);
        if !line.is_empty() {
            src.lines += 1;
            Self::process_line(&mut self.book, &mut self.calls, src, format, &line);
        }
        if format == Format::Ami {
            // A QueueStatus answer cut short says nothing about what it did not reach: dropped unapplied.
            src.status = None;
            let max = self.book.cfg.max_line_bytes;
            let mut builder = src.ami.take().unwrap_or_default();
            if let Some(frame) = builder.finish(max) {
                Self::apply_ami_frame(&mut self.book, &mut self.calls, src, frame);
            }
            src.ami = Some(builder);
            // The answer that may follow a leave comes at once, in the same stream: not after its end.
            self.book.settle_leaves_from(&mut self.calls, src.id);
        }
        if format == Format::FreeSwitch {
            let max = self.book.cfg.max_line_bytes;
            let mut builder = src.freeswitch.take().unwrap_or_default();
            if let Some(frame) = builder.finish(max) {
                Self::apply_fs_frame(&mut self.book, &mut self.calls, src, frame);
            }
            src.freeswitch = Some(builder);
            // A transferred caller re-enters at once, in the same stream: not after its end.
            self.book.settle_ended_from(&mut self.calls, src.id);
        }
    }

    /// JSON lines read since the last call that belong to other sites: `(source, site, lines)`, the lines
    /// newline-ended, for the engine of each site (it counts them, checks their ids, rejects them if it must).
    pub fn take_forwarded(&mut self) -> Vec<(String, String, Vec<u8>)> {
        let mut out = Vec::new();
        for src in &mut self.sources {
            for (site, lines) in src.forwarded.drain(..) {
                out.push((src.name.clone(), site, lines));
            }
        }
        out
    }

    /// The rejections kept since the last call, oldest first, and per source how many more there were. For the
    /// caller to log: the engine itself does no I/O.
    pub fn take_rejections(&mut self) -> (Vec<Rejection>, Vec<(String, u64)>) {
        let mut shown = Vec::new();
        let mut more = Vec::new();
        for src in &mut self.sources {
            shown.append(&mut src.samples);
            if src.samples_dropped > 0 {
                more.push((src.name.clone(), std::mem::take(&mut src.samples_dropped)));
            }
        }
        (shown, more)
    }

    /// The JSON line at the start of `data` (`text`: the same, checked as UTF-8 with its chunk, when it was),
    /// when the fast path reads it in place: the line without its newline, its end found by the parse itself,
    /// and what it is, not applied yet (see `feed_chunk`); the slots of its id and its caller are fetched
    /// meanwhile. `None` leaves `data` to [`Self::whole_line`].
    fn json_in_place<'a>(
        book: &Book,
        src: &mut SourceStats,
        data: &'a [u8],
        text: Option<&'a str>,
    ) -> Option<(&'a [u8], jsonl::JsonLine<'a>)> {
        let fast = match text {
            Some(text) => jsonl::parse_prefix_str(text, &mut src.json_shape),
            None => jsonl::parse_prefix(data, &mut src.json_shape),
        };
        // An over-long line goes the line path's way, to be rejected.
        let (len, parsed) = fast.filter(|(len, _)| *len <= book.cfg.max_line_bytes)?;
        if let jsonl::JsonLine::Event(ev) = &parsed {
            if let Some(id) = &ev.id {
                src.seen_ids.prefetch(id_hash(id));
            }
            if ev.kind == Kind::Enter {
                book.callers
                    .prefetch(Caller::from_number(ev.caller.as_bytes()));
            }
        }
        Some((data.get(..len)?, parsed))
    }

    /// A line `json_in_place` read: counted, then applied.
    fn apply_read_json(
        book: &mut Book,
        calls: &mut CallTable,
        src: &mut SourceStats,
        line: &[u8],
        parsed: jsonl::JsonLine<'_>,
    ) {
        src.lines += 1;
        Self::apply_json(book, calls, src, line, parsed);
    }

    /// The other fast paths: the plain AMI frame or the plain FreeSWITCH event message at the start of
    /// `text` (the rest of the chunk, checked as UTF-8), parsed in place and applied, its end found by the
    /// parse itself. Returns the bytes it took, its newline included; `None` leaves the input to
    /// [`Self::whole_line`].
    fn read_in_place(
        book: &mut Book,
        calls: &mut CallTable,
        src: &mut SourceStats,
        format: Format,
        text: Option<&str>,
    ) -> Option<usize> {
        let max = book.cfg.max_line_bytes;
        match format {
            Format::Ami => {
                let text = text?;
                let mut builder = src.ami.take().unwrap_or_default();
                let taken = builder.frame(text, max).map(|w| {
                    src.lines += w.lines;
                    Self::apply_ami_frame(book, calls, src, w.frame);
                    w.len
                });
                src.ami = Some(builder);
                taken
            }
            Format::FreeSwitch => {
                let text = text?;
                let mut builder = src.freeswitch.take().unwrap_or_default();
                let taken = builder.message(text, max).map(|w| {
                    src.lines += w.lines;
                    Self::apply_fs_frame(book, calls, src, w.frame);
                    w.len
                });
                src.freeswitch = Some(builder);
                taken
            }
            _ => None,
        }
    }

    /// One whole line (without its newline) of a format read a line at a time: counted, and over-long
    /// lines kept out.
    fn whole_line(
        book: &mut Book,
        calls: &mut CallTable,
        src: &mut SourceStats,
        format: Format,
        line: &[u8],
    ) {
        src.lines += 1;
        let max = book.cfg.max_line_bytes;
        if line.len() > max && format == Format::FreeSwitch {
            // Not a rejection of its own: its message is one bad_frame, and its bytes still count towards
            // the body they belong to.
            Self::apply_fs_dropped(book, calls, src, line.len());
        } else if line.len() > max {
            let n = src.lines;
            src.reject(RejectReason::LineTooLong, Some(n), line);
        } else {
            Self::process_line(book, calls, src, format, line);
        }
    }

    fn process_line(
        book: &mut Book,
        calls: &mut CallTable,
        src: &mut SourceStats,
        format: Format,
        line: &[u8],
    ) {
        let parsed = match format {
            Format::QueueLog => queue_log::parse_line(line),
            Format::Jsonl => {
                return Self::apply_json(book, calls, src, line, jsonl::parse_line(line))
            }
            Format::Ami => {
                let max = book.cfg.max_line_bytes;
                return Self::apply_ami_line(book, calls, src, line, max);
            }
            Format::FreeSwitch => return Self::apply_fs_line(book, calls, src, line),
        };
        match parsed {
            Parsed::Event(e) => Self::count_event(book, calls, src, &e, Self::caller_of(&e)),
            Parsed::Blank => {}
            Parsed::Unknown => src.unknown += 1,
            Parsed::Rejected(r) => {
                let n = src.lines;
                src.reject(r, Some(n), line);
            }
        }
    }

    fn apply_ami_line(
        book: &mut Book,
        calls: &mut CallTable,
        src: &mut SourceStats,
        line: &[u8],
        max: usize,
    ) {
        let mut builder = src.ami.take().unwrap_or_default();
        if let Some(frame) = builder.push(line, max) {
            Self::apply_ami_frame(book, calls, src, frame);
        }
        src.ami = Some(builder);
    }

    fn apply_ami_frame(
        book: &mut Book,
        calls: &mut CallTable,
        src: &mut SourceStats,
        frame: crate::ami::AmiFrame<'_>,
    ) {
        use crate::ami::AmiFrame;
        match frame {
            AmiFrame::Event(ev) => {
                let e = ev.event();
                src.touched(e.call);
                Self::count_event(book, calls, src, &e, Self::caller_of(&e));
            }
            AmiFrame::Status(item) => {
                use crate::ami::StatusItem;
                src.ingested += 1;
                let snap = src.status.get_or_insert_with(Default::default);
                if snap.entries.len() + snap.members.len() + snap.touched.len() > MAX_STATUS_ITEMS {
                    src.status = None;
                    let n = src.lines;
                    src.reject(
                        RejectReason::BadFrame,
                        Some(n),
                        b"QueueStatus answer over a million frames without QueueStatusComplete: dropped",
                    );
                    return;
                }
                match item {
                    StatusItem::Complete => {
                        if let Some(snap) = src.status.take() {
                            Self::apply_status(book, calls, &snap);
                        }
                    }
                    item => snap.add(item),
                }
            }
            AmiFrame::Skip => {}
            AmiFrame::Tracked => src.ingested += 1,
            AmiFrame::Unknown => src.unknown += 1,
            AmiFrame::Rejected(r, why) => {
                // The frame ended at this line; its number is the log's pointer to it.
                let n = src.lines;
                src.reject(r, Some(n), why.as_bytes());
            }
        }
    }

    /// Makes the engine agree with a switch's QueueStatus answer, at the engine's "now" (the answer has no
    /// time of its own; a live client moves the clock to the wall clock before it asks). For every queue the
    /// answer covers: a call the engine has waiting there that the switch no longer has is closed as `lost`
    /// (it ended while ccmon was not listening, and how is unknown); a caller the switch has waiting that the
    /// engine does not enters now, with the wait the switch reports; the agents become the switch's members,
    /// paused or not as it says.
    fn apply_status(book: &mut Book, calls: &mut CallTable, snap: &StatusSnapshot) {
        let ts = book.now;
        if !ts.is_finite() {
            return;
        }
        let mut covered: Vec<u32> = Vec::new();
        for name in snap
            .queues
            .iter()
            .chain(snap.entries.iter().map(|e| &e.0))
            .chain(snap.members.iter().map(|m| &m.0))
        {
            if let Some(q) = book.queue_id(name.as_bytes()) {
                if !covered.contains(&q) {
                    covered.push(q);
                }
            }
        }
        let listed: FxHashSet<(u32, CallKey)> = snap
            .entries
            .iter()
            .filter_map(|(queue, call, _, _)| {
                let q = *book.queue_ids.get(queue.as_bytes())?;
                Some((q, CallKey::new(call.as_bytes())))
            })
            .collect();
        let ghosts = calls.select(|c| {
            c.state == CallState::Waiting
                && covered.contains(&c.queue)
                && !listed.contains(&(c.queue, c.key.clone()))
                && !snap.touched.contains(&c.key)
        });
        for id in ghosts {
            if let Some(call) = calls.get_mut(id) {
                book.agents.unanswered(call.queue, &call.key, ts);
                book.close(call, Outcome::Lost, ts);
            }
            calls.remove_with(id, |call| book.finish(call));
        }
        for (queue, call, caller, wait) in &snap.entries {
            let key = CallKey::new(call.as_bytes());
            if snap.touched.contains(&key) {
                continue;
            }
            let q = book.queue_ids.get(queue.as_bytes()).copied();
            let known = calls.find(&key);
            if known
                .and_then(|id| calls.get(id))
                .is_some_and(|c| c.state == CallState::Waiting && Some(c.queue) == q)
            {
                continue;
            }
            let e = Event {
                ts,
                call: call.as_bytes(),
                queue: queue.as_bytes(),
                agent: &[],
                kind: Kind::Enter,
                caller: caller.as_bytes(),
                detail: &[],
            };
            let told = From {
                moh_events: true,
                source: NO_SOURCE,
            };
            Self::apply(book, calls, &e, Self::caller_of(&e), told);
            // Entered now as far as the windows go (a fact is never filed in the past); the wait counts from
            // when the switch says it began.
            if let Some(c) = calls.find(&key).and_then(|id| calls.get_mut(id)) {
                let since = ts - wait;
                c.enter_ts = since;
                if known.is_none() {
                    c.start_ts = since;
                }
                if let Some(entry) = c.journey.last_mut() {
                    entry.enter_ts = since;
                }
            }
        }
        let members: FxHashSet<(u32, &[u8])> = snap
            .members
            .iter()
            .filter_map(|(queue, agent, _, _)| {
                Some((*book.queue_ids.get(queue.as_bytes())?, agent.as_bytes()))
            })
            .collect();
        for &q in &covered {
            for agent in book.agents.names(q) {
                if !members.contains(&(q, agent.as_slice())) {
                    book.agents.logoff(Some(q), &agent);
                }
            }
        }
        for (queue, agent, paused, reason) in &snap.members {
            if let Some(&q) = book.queue_ids.get(queue.as_bytes()) {
                book.agents.login(q, agent.as_bytes(), ts);
                book.agents
                    .pause(Some(q), agent.as_bytes(), *paused, reason.as_bytes(), ts);
            }
        }
    }

    fn apply_fs_line(book: &mut Book, calls: &mut CallTable, src: &mut SourceStats, line: &[u8]) {
        let max = book.cfg.max_line_bytes;
        let mut builder = src.freeswitch.take().unwrap_or_default();
        if let Some(frame) = builder.push(line, max) {
            Self::apply_fs_frame(book, calls, src, frame);
        }
        src.freeswitch = Some(builder);
    }

    /// A FreeSWITCH line of `len` bytes over `max_line_bytes`, not kept.
    fn apply_fs_dropped(book: &mut Book, calls: &mut CallTable, src: &mut SourceStats, len: usize) {
        let max = book.cfg.max_line_bytes;
        let mut builder = src.freeswitch.take().unwrap_or_default();
        if let Some(frame) = builder.push_dropped(len, max) {
            Self::apply_fs_frame(book, calls, src, frame);
        }
        src.freeswitch = Some(builder);
    }

    fn apply_fs_frame(
        book: &mut Book,
        calls: &mut CallTable,
        src: &mut SourceStats,
        frame: crate::freeswitch::FsFrame<'_>,
    ) {
        use crate::freeswitch::FsFrame;
        match frame {
            FsFrame::Event(ev) => {
                let e = ev.event();
                src.touched(e.call);
                Self::count_event(book, calls, src, &e, Self::caller_of(&e));
            }
            FsFrame::AgentStatus(ev, queues) => {
                let e = ev.event();
                // An agent back from Logged Out is in its queues again: a login in each queue it was seen
                // serving, then the status itself (which names no queue) for all of them. One event counted.
                if e.kind != Kind::AgentLogoff {
                    for q in queues {
                        let login = Event {
                            kind: Kind::AgentLogin,
                            queue: q.as_bytes(),
                            ..e
                        };
                        let _ = Self::apply(book, calls, &login, Caller::NONE, src.from());
                    }
                }
                Self::count_event(book, calls, src, &e, Caller::NONE);
            }
            FsFrame::Skip => {}
            FsFrame::Unknown => src.unknown += 1,
            FsFrame::Rejected(r, why) => {
                let n = src.lines;
                src.reject(r, Some(n), why.as_bytes());
            }
        }
    }

    /// `line` parsed as `parsed` (the line is kept for forwarding and rejection messages).
    fn apply_json(
        book: &mut Book,
        calls: &mut CallTable,
        src: &mut SourceStats,
        line: &[u8],
        parsed: jsonl::JsonLine<'_>,
    ) {
        match parsed {
            jsonl::JsonLine::Event(ev) if !ev.site.is_empty() && ev.site != book.cfg.site => {
                let site = ev.site.as_ref();
                let i = match src.forwarded.iter().position(|(s, _)| s == site) {
                    Some(i) => i,
                    None => {
                        src.forwarded.push((site.to_string(), Vec::new()));
                        src.forwarded.len() - 1
                    }
                };
                let (_, lines) = &mut src.forwarded[i];
                lines.extend_from_slice(line);
                lines.push(b'\n');
            }
            jsonl::JsonLine::Event(ev) => {
                if ev
                    .id
                    .as_ref()
                    .is_some_and(|id| !src.seen_ids.insert(id_hash(id)))
                {
                    src.duplicates += 1;
                    return;
                }
                let e = ev.event();
                Self::count_event(book, calls, src, &e, Self::caller_of(&e));
            }
            jsonl::JsonLine::Blank => {}
            jsonl::JsonLine::Unknown => src.unknown += 1,
            jsonl::JsonLine::Rejected(r, why) => {
                let n = src.lines;
                let text = [why.as_bytes(), b": ", line].concat();
                src.reject(r, Some(n), &text);
            }
        }
    }

    /// Agent and ring events (`None` for the others). They change agent states only; a queue they name must
    /// be known already, except for a login, which may be the first news of a queue.
    fn apply_agent_event(book: &mut Book, e: &Event<'_>) -> Option<Applied> {
        if !matches!(
            e.kind,
            Kind::AgentLogin
                | Kind::AgentLogoff
                | Kind::AgentPause
                | Kind::AgentUnpause
                | Kind::Ring
                | Kind::RingEnd
        ) {
            return None;
        }
        let named = !e.queue.is_empty() && e.queue != b"NONE";
        let known = book.queue_ids.get(e.queue).copied();
        match e.kind {
            Kind::AgentLogin => match book.queue_id(e.queue).filter(|_| named) {
                Some(q) => book.agents.login(q, e.agent, e.ts),
                None if named => return Some(Applied::Rejected(RejectReason::TooManyQueues)),
                None => return Some(Applied::Ignored),
            },
            Kind::AgentLogoff | Kind::AgentPause | Kind::AgentUnpause => {
                if named && known.is_none() {
                    return Some(Applied::Ignored);
                }
                match e.kind {
                    Kind::AgentLogoff => book.agents.logoff(known, e.agent),
                    kind => {
                        book.agents
                            .pause(known, e.agent, kind == Kind::AgentPause, e.detail, e.ts)
                    }
                }
            }
            Kind::Ring | Kind::RingEnd => {
                let Some(q) = known else {
                    return Some(Applied::Ignored);
                };
                if e.kind == Kind::Ring {
                    book.agents.ring(q, e.agent, CallKey::new(e.call), e.ts);
                } else {
                    book.agents.ring_end(q, e.agent, e.ts);
                }
            }
            _ => return None,
        }
        Some(Applied::Used)
    }

    /// The last 10,000 transfers the sources reported, oldest first: who was transferred where, by whom, and
    /// how many times so far. Kept whether or not the call was in a queue ccmon knows (a transfer between
    /// extensions is still a caller passed on); `queue` says where the call was when ccmon knew it.
    pub fn transfers(&self, show_callers: bool) -> Vec<TransferView> {
        let book = &self.book;
        let mut nth: FxHashMap<&str, u32> = FxHashMap::default();
        book.transfers
            .iter()
            .map(|t| {
                let n = nth.entry(t.call.as_str()).or_insert(0);
                *n += 1;
                TransferView {
                    at: t.ts,
                    call: t.call.clone(),
                    queue: t.queue.map(|q| book.queues[q as usize].name.clone()),
                    by: t.by.clone(),
                    to: t.to.clone(),
                    nth: *n,
                    caller: (show_callers && !t.caller.is_empty()).then(|| t.caller.clone()),
                }
            })
            .collect()
    }

    /// Agents per queue now, sorted by queue name then agent.
    pub fn agents(&self) -> Vec<AgentView> {
        let mut rows = self.book.agents.rows();
        let name = |q: u32| self.book.queues[q as usize].name.as_str();
        rows.sort_by(|a, b| {
            name(a.queue)
                .cmp(name(b.queue))
                .then_with(|| a.agent.cmp(&b.agent))
        });
        rows
    }

    /// Queue name of a queue id (from [`Engine::agents`]).
    pub fn queue_name(&self, q: u32) -> &str {
        self.book
            .queues
            .get(q as usize)
            .map_or("", |qs| qs.name.as_str())
    }

    pub(crate) fn agent_counts(&self, q: u32) -> AgentCounts {
        self.book.agents.counts(q)
    }

    /// The caller an event names: only a call's ENTERQUEUE carries the number.
    fn caller_of(e: &Event<'_>) -> Caller {
        match e.kind {
            Kind::Enter => Caller::from_number(e.caller),
            _ => Caller::NONE,
        }
    }

    fn count_event(
        book: &mut Book,
        calls: &mut CallTable,
        src: &mut SourceStats,
        e: &Event<'_>,
        caller: Caller,
    ) {
        match Self::apply(book, calls, e, caller, src.from()) {
            // Found when the event is applied, a batch after its line was read: the log names the queue.
            Applied::Rejected(r) => {
                let what = [&b"queue "[..], e.queue, b" (call ", e.call, b")"].concat();
                src.reject(r, None, &what);
            }
            applied => {
                src.ingested += 1;
                src.last_event_ts = Some(src.last_event_ts.map_or(e.ts, |t| t.max(e.ts)));
                if applied == Applied::Ignored {
                    src.ignored += 1;
                }
            }
        }
    }

    /// Applies one event; `caller` is [`Self::caller_of`] it; `from` is what its source tells.
    fn apply(
        book: &mut Book,
        calls: &mut CallTable,
        e: &Event<'_>,
        caller: Caller,
        from: From,
    ) -> Applied {
        if e.ts > book.now {
            book.advance(calls, e.ts);
        }
        if e.kind == Kind::Other {
            return Applied::Used;
        }
        if let Some(applied) = Self::apply_agent_event(book, e) {
            return applied;
        }
        let key = CallKey::new(e.call);
        let mut found = calls.find(&key);
        // A call talking or between queues with no news for max_wait_seconds is over; the periodic sweep in
        // `advance` reclaims such calls in bulk, this check makes the cut exact for the one in hand.
        if let Some(id) = found {
            if calls
                .get(id)
                .is_some_and(|c| c.state != CallState::Waiting && c.idle_deadline < e.ts)
            {
                calls.remove_with(id, |call| book.finish(call));
                found = None;
            }
        }
        // A caller who left a queue (AMI QueueCallerLeave) and whose call moves on other than by the answer
        // that may follow at once timed out there first: settled now, before this event moves the call on.
        // (Music stopping between the leave and the answer is not such news.)
        let moves_on = e.kind.is_call_event() && e.kind != Kind::Answer;
        if let Some(id) = found.filter(|_| moves_on && !book.leaving.is_empty()) {
            book.settle_leave_of(calls, id);
        }
        if e.kind == Kind::Transfer {
            let queue = found.and_then(|id| calls.get(id)).map(|c| c.queue);
            book.log_transfer(e, queue);
        }
        if e.kind == Kind::Enter {
            let Some(q) = book.queue_id(e.queue) else {
                return Applied::Rejected(RejectReason::TooManyQueues);
            };
            match found.and_then(|id| Some((id, calls.get_mut(id)?))) {
                Some((id, call)) => {
                    if call.state == CallState::Ended {
                        // Back in a queue after its bridge ended: that end was a transfer, when it happened.
                        book.transfer(call, call.answer_ts);
                    }
                    book.enter(call, id, q, e.ts)
                }
                None => {
                    let mut call = Call {
                        key,
                        start_ts: e.ts,
                        enter_ts: e.ts,
                        answer_ts: 0.0,
                        plays: 0.0,
                        idle_deadline: e.ts,
                        caller,
                        journey: Journey::new(),
                        moh_seconds: 0.0,
                        moh_since: f64::NAN,
                        moh_track: 30.0,
                        moh_events: from.moh_events,
                        queue: q,
                        seq: 0,
                        transfers: 0,
                        state: CallState::Between,
                        flags: 0,
                    };
                    book.start_call(&mut call, q, e.ts);
                    let id = calls.insert(call);
                    if let Some(call) = calls.get_mut(id) {
                        book.enter(call, id, q, e.ts);
                    }
                }
            }
            return Applied::Used;
        }
        let Some((id, call)) = found.and_then(|id| Some((id, calls.get_mut(id)?))) else {
            return Self::abandon_unheard(book, calls, e, from);
        };
        // Music on hold is about the call wherever it is: no queue to match.
        match e.kind {
            Kind::MohStart => {
                book.moh_start(call, e.ts, e.detail);
                return Applied::Used;
            }
            Kind::MohStop => {
                book.moh_cut(call, e.ts, false);
                return Applied::Used;
            }
            _ => {}
        }
        // An event about another queue than the one the call is in. Names are valid UTF-8 (the parser
        // rejects the rest), so the stored name is the raw one: one compare instead of a name lookup.
        // AMI transfer events name no queue: they apply to the queue the call is in.
        let any_queue = e.kind == Kind::Transfer && e.queue.is_empty();
        if !any_queue && book.queues[call.queue as usize].name.as_bytes() != e.queue {
            return Applied::Ignored;
        }
        // Agents follow only the events the call's state machine takes below (an abandon of a call already
        // talking is ignored there, and frees nobody here).
        match (e.kind, call.state) {
            (Kind::Answer, CallState::Waiting) => {
                book.agents
                    .answer(call.queue, e.agent, call.key.clone(), e.ts)
            }
            (Kind::TalkEnd | Kind::BridgeEnd, CallState::Talking) | (Kind::Transfer, _) => {
                book.agents.call_over(call.queue, e.agent, &call.key, e.ts)
            }
            (
                Kind::Abandon | Kind::Timeout | Kind::ExitKey | Kind::ExitEmpty,
                CallState::Waiting,
            ) => book.agents.unanswered(call.queue, &call.key, e.ts),
            _ => {}
        }
        let after = match (e.kind, call.state) {
            (Kind::Answer, CallState::Waiting) => book.answer(call, e.ts, e.agent),
            (Kind::Abandon, CallState::Waiting) => {
                book.close_waiting(call, Outcome::Abandoned, e.ts)
            }
            (Kind::Timeout, CallState::Waiting) => book.flow_out(call, Outcome::TimedOut, e.ts),
            (Kind::ExitKey, CallState::Waiting) => book.flow_out(call, Outcome::ExitedKey, e.ts),
            (Kind::ExitEmpty, CallState::Waiting) => {
                book.flow_out(call, Outcome::ExitedEmpty, e.ts)
            }
            (Kind::TalkEnd, CallState::Talking) => book.talk_end(call, e.ts),
            (Kind::BridgeEnd, CallState::Talking) => {
                book.end_talk(call, e.ts);
                call.state = CallState::Ended;
                call.answer_ts = e.ts;
                call.idle_deadline = e.ts + CONTINUE_SECONDS;
                book.ending
                    .push_back((call.idle_deadline, id, call.seq, from.source));
                After::Keep
            }
            (Kind::Leave, CallState::Waiting) => {
                book.leaving.push_back((e.ts, id, call.seq, from.source));
                After::Keep
            }
            (Kind::Transfer, _) => book.transfer(call, e.ts),
            _ => return Applied::Ignored,
        };
        if let After::Finish = after {
            calls.remove_with(id, |call| book.finish(call));
        }
        Applied::Used
    }

    /// An abandon of a call the engine never heard join (a recording without joins, a caller who joined before
    /// ccmon started listening): counted when the source says how long the caller waited (AMI `HoldTime`), as
    /// the entry it closes, joined that long before. Without the wait it is ignored, as any event of an
    /// unknown call.
    fn abandon_unheard(
        book: &mut Book,
        calls: &mut CallTable,
        e: &Event<'_>,
        from: From,
    ) -> Applied {
        let wait = std::str::from_utf8(e.detail)
            .ok()
            .and_then(|d| d.trim().parse::<f64>().ok())
            .filter(|w| (0.0..=book.cfg.max_wait_seconds).contains(w));
        let (Kind::Abandon, Some(wait)) = (e.kind, wait) else {
            return Applied::Ignored;
        };
        let enter = Event {
            ts: e.ts - wait,
            kind: Kind::Enter,
            detail: &[],
            ..*e
        };
        let caller = Caller::from_number(e.caller);
        match Self::apply(book, calls, &enter, caller, from) {
            Applied::Used => Self::apply(book, calls, e, Caller::NONE, from),
            other => other,
        }
    }

    /// A FreeSWITCH client starts asking mod_callcenter for its state (see [`Engine::resync_callcenter`]):
    /// from now on, the calls that `source`'s events name are newer than the answer being gathered, which
    /// will neither close nor re-enter them.
    pub fn begin_resync(&mut self, source: &str) {
        let sid = self.source_id(source);
        self.sources[sid].status = Some(Box::default());
    }

    /// The resynchronisation `source` began ends without an answer (the switch has no mod_callcenter, the
    /// connection broke): its calls are no longer watched for it.
    pub fn end_resync(&mut self, source: &str) {
        let sid = self.source_id(source);
        self.sources[sid].status = None;
    }

    /// Makes the engine agree with what mod_callcenter answered (its `callcenter_config` tables) at `now`,
    /// as with an AMI QueueStatus answer: in every queue it lists, a call waiting here that the switch no
    /// longer has is closed as `lost`, a caller it has waiting that ccmon never heard of enters with the
    /// wait the switch reports, and the agents become its members. Calls named by events since
    /// [`Engine::begin_resync`] are left as those events made them. Err when a table is not one (nothing
    /// changes then).
    pub fn resync_callcenter(
        &mut self,
        source: &str,
        cc: &crate::freeswitch::Callcenter<'_>,
        now: f64,
    ) -> Result<(), String> {
        let sid = self.source_id(source);
        let mut snap = self.sources[sid].status.take().unwrap_or_default();
        for item in crate::freeswitch::callcenter_status(cc, now)? {
            snap.add(item);
        }
        self.advance_clock(now);
        Self::apply_status(&mut self.book, &mut self.calls, &snap);
        Ok(())
    }

    /// Live mode: moves "now" to the wall clock when it is newer than the last event (SPEC §1), closing
    /// entries that have waited too long.
    pub fn advance_clock(&mut self, now: f64) {
        if now.is_finite() && now > self.book.now {
            self.book.advance(&mut self.calls, now);
        }
    }

    /// Per-queue figures over `window`, sorted by queue name.
    pub fn queue_stats(&self, window: Window) -> Result<Vec<QueueStats>, String> {
        self.check_window(window)?;
        let waiting = self.waiting_by_queue();
        let mut rows: Vec<QueueStats> = self
            .book
            .queues
            .iter()
            .zip(&waiting)
            .map(|(qs, w)| {
                self.stats_of(
                    qs.name.clone(),
                    std::slice::from_ref(qs),
                    window,
                    std::slice::from_ref(w),
                )
            })
            .collect();
        rows.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(rows)
    }

    /// The whole site over `window`, as one row: counts summed over the queues, quantiles of all their answered
    /// waits together, the longest wait of any of them. Its `queue` is empty.
    pub fn total_stats(&self, window: Window) -> Result<QueueStats, String> {
        self.check_window(window)?;
        Ok(self.stats_of(
            String::new(),
            &self.book.queues,
            window,
            &self.waiting_by_queue(),
        ))
    }

    fn check_window(&self, window: Window) -> Result<(), String> {
        match window {
            Window::Rolling(w) if w > self.book.max_window + 1e-9 => Err(format!(
                "window of {w} s is longer than the longest configured window ({} s); add it to `windows`",
                self.book.max_window
            )),
            _ => Ok(()),
        }
    }

    /// Figures of `queues` together over `window`; `waiting` holds their calls waiting now.
    fn stats_of(
        &self,
        name: String,
        queues: &[QueueState],
        window: Window,
        waiting: &[Waiting],
    ) -> QueueStats {
        let book = &self.book;
        let now = book.now;
        let mut row = match window {
            Window::All | Window::Today => {
                let today_valid =
                    matches!(book.day, Some((start, end)) if now >= start && now < end);
                let mut acc = Accumulator::default();
                for qs in queues {
                    match window {
                        Window::All => {
                            acc.merge(&qs.earlier);
                            acc.merge(&qs.today);
                        }
                        _ if today_valid => acc.merge(&qs.today),
                        _ => {}
                    }
                }
                QueueStats::new(name, acc.counters.clone(), quantiles(&acc), &book.cfg)
            }
            Window::Rolling(w) => {
                let mut c = Counters::default();
                let mut waits = Vec::new();
                // `recent` holds only the longest window's facts, so a full scan is bounded; it also copes with
                // facts appended out of time order.
                for r in queues
                    .iter()
                    .flat_map(|qs| qs.recent.iter())
                    .filter(|r| r.ts > now - w && r.ts <= now)
                {
                    c.add(r.fact, r.value, &book.cfg);
                    if r.fact == Fact::Outcome(Outcome::Answered) {
                        waits.push(r.value);
                    }
                }
                let q = QUANTILES.map(|p| exact_quantile(&mut waits, p));
                QueueStats::new(name, c, q, &book.cfg)
            }
        };
        // Waiting now, at the end of every window (= now), from the call table.
        for w in waiting {
            row.waiting_now += w.calls;
            row.longest_wait_now_seconds = row.longest_wait_now_seconds.max(w.longest_seconds);
            row.counters.moh_plays_max = row.counters.moh_plays_max.max(w.plays_max);
        }
        row
    }

    /// Calls in progress (waiting, talking, or between queues), oldest first.
    pub fn calls(&self, show_callers: bool) -> Vec<CallView> {
        let book = &self.book;
        let now = book.now;
        let mut out: Vec<CallView> = self
            .calls
            .iter()
            // A call whose bridge ended is over unless it comes back; it is not shown meanwhile.
            .filter(|c| c.state != CallState::Ended)
            .map(|c| {
                let plays = book.plays_now(c);
                let (state, wait) = match c.state {
                    CallState::Waiting => ("waiting", now - c.enter_ts),
                    CallState::Talking => ("talking", c.answer_ts - c.enter_ts),
                    CallState::Between | CallState::Ended => ("between", 0.0),
                };
                CallView {
                    call: c.key.to_text(),
                    queue: book.queues[c.queue as usize].name.clone(),
                    state,
                    entered_at: c.enter_ts,
                    wait_seconds: wait.max(0.0),
                    on_line_seconds: (now - c.start_ts).max(0.0),
                    entries: c.journey.len() as u32,
                    transfers: u32::from(c.transfers),
                    plays,
                    moh_seconds: f64::from(c.moh_seconds) + book.live_moh(c),
                    flags: {
                        // SPEC §5: calls over moh_alert_plays are listed live; the flag says so.
                        let mut f = flags::describe(c.flags);
                        if plays > book.cfg.moh_alert_plays {
                            f.push_str(if f.is_empty() {
                                "moh_over_limit"
                            } else {
                                ",moh_over_limit"
                            });
                        }
                        f
                    },
                    journey: c
                        .journey
                        .iter()
                        .map(|e| book.queues[e.queue as usize].name.as_str())
                        .collect::<Vec<_>>()
                        .join(">"),
                    caller: if show_callers {
                        c.caller.digits()
                    } else {
                        None
                    },
                }
            })
            .collect();
        out.sort_by(|a, b| {
            a.entered_at
                .total_cmp(&b.entered_at)
                .then_with(|| a.call.cmp(&b.call))
        });
        out
    }

    /// Entries of the calls in progress and of the last finished calls (up to 10,000 calls).
    pub fn journeys(&self) -> Vec<JourneyRow> {
        let book = &self.book;
        let mut rows = Vec::new();
        let mut push = |key: &CallKey, journey: &[Entry], fl: u8, finished: bool| {
            for (i, e) in journey.iter().enumerate() {
                let qs = &book.queues[e.queue as usize];
                rows.push(JourneyRow {
                    call: key.to_text(),
                    step: i as u32 + 1,
                    queue: qs.name.clone(),
                    department: book.dept_names[qs.dept as usize].clone(),
                    entered_at: e.enter_ts,
                    outcome: e.outcome.map(Outcome::as_str),
                    wait_seconds: e.outcome.map(|_| f64::from(e.wait)),
                    talk_seconds: (!e.talk.is_nan()).then_some(f64::from(e.talk)),
                    finished,
                    flags: flags::describe(fl),
                });
            }
        };
        for f in &book.finished {
            push(&f.key, &f.journey, f.flags, true);
        }
        for c in self.calls.iter() {
            push(&c.key, &c.journey, c.flags, c.state == CallState::Ended);
        }
        rows.sort_by(|a, b| a.call.cmp(&b.call).then(a.step.cmp(&b.step)));
        rows
    }

    /// Per queue (in queue-id order): calls waiting now, the oldest one's age, the most plays among them.
    pub(crate) fn waiting_by_queue(&self) -> Vec<Waiting> {
        let book = &self.book;
        let mut out = vec![Waiting::default(); book.queues.len()];
        for call in self.calls.iter().filter(|c| c.state != CallState::Ended) {
            let w = &mut out[call.queue as usize];
            if call.state == CallState::Waiting {
                w.calls += 1;
                w.longest_seconds = w.longest_seconds.max(book.now - call.enter_ts);
                w.plays_max = w.plays_max.max(book.plays_now(call));
            } else if !call.moh_since.is_nan() {
                // On hold with music after an answer, or between queues.
                w.plays_max = w.plays_max.max(book.plays_now(call));
            }
            let over = book.plays_now(call) > book.cfg.moh_alert_plays;
            let mut any = false;
            for (i, (bit, _)) in SUPERVISOR_FLAGS.iter().enumerate() {
                let set = if *bit == MOH_OVER_LIMIT {
                    over
                } else {
                    call.flags & bit != 0
                };
                if set {
                    w.flagged[i] += 1;
                    any = true;
                }
            }
            if any {
                w.flagged[SUPERVISOR_FLAGS.len()] += 1;
            }
        }
        out
    }

    pub fn sources(&self) -> &[SourceStats] {
        &self.sources
    }

    pub(crate) fn queue_states(&self) -> &[QueueState] {
        &self.book.queues
    }

    pub(crate) fn wait_bounds(&self) -> &[f64] {
        &self.book.wait_bounds
    }

    /// Calls in progress (the size of the call table).
    pub fn calls_in_progress(&self) -> usize {
        self.calls.len()
    }
}

fn quantiles(acc: &Accumulator) -> [Option<f64>; 3] {
    QUANTILES.map(|p| acc.answered_waits.quantile(p))
}

impl Book {
    fn queue_id(&mut self, raw: &[u8]) -> Option<u32> {
        if let Some(&id) = self.queue_ids.get(raw) {
            return Some(id);
        }
        if self.queues.len() >= self.cfg.max_queues {
            return None;
        }
        let name = String::from_utf8_lossy(raw);
        let name = name.as_ref();
        let dept_name = self
            .queue_dept
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string());
        let next_dept = self.dept_names.len() as u32;
        let dept = *self.dept_ids.entry(dept_name.clone()).or_insert(next_dept);
        if dept == next_dept {
            self.dept_names.push(dept_name);
        }
        let moh_track = self
            .cfg
            .queue_moh_class
            .get(name)
            .map(|class| self.cfg.track_seconds(class));
        let id = self.queues.len() as u32;
        self.queues.push(QueueState {
            name: name.to_string(),
            dept,
            supervisor: self.supervisor_queues.contains(name),
            moh_track,
            earlier: Accumulator::default(),
            today: Accumulator::default(),
            recent: VecDeque::new(),
            recent_front_ts: f64::INFINITY,
            waits: std::array::from_fn(|_| PromHistogram::new(self.wait_bounds.len())),
            moh: PromHistogram::new(MOH_BUCKETS.len()),
        });
        self.queue_ids.insert(raw.into(), id);
        Some(id)
    }

    fn dept(&self, q: u32) -> u32 {
        self.queues[q as usize].dept
    }

    /// Counts one fact of queue `q` at event time `ts` into every window.
    #[inline(always)]
    fn record(&mut self, q: u32, ts: f64, fact: Fact, value: f64) {
        let in_today = match self.day {
            Some((start, end)) if ts >= start && ts < end => true,
            Some((_, end)) if ts < end => false,
            _ => {
                self.roll_day(ts);
                true
            }
        };
        let cfg = &self.cfg;
        let qs = &mut self.queues[q as usize];
        if in_today {
            qs.today.add(fact, value, cfg);
        } else {
            qs.earlier.add(fact, value, cfg);
        }
        if let Fact::Outcome(o) = fact {
            if let Some(i) = Outcome::ALL[..5].iter().position(|x| *x == o) {
                qs.waits[i].observe(&self.wait_bounds, value);
            }
        }
        if self.max_window > 0.0 {
            let horizon = self.now - self.max_window;
            if ts > horizon {
                // Same count fact at the same moment: one record with a count, so a burst of entries
                // costs one record per second, not one per call.
                match qs.recent.back_mut() {
                    Some(last) if fact.is_count() && last.fact == fact && last.ts == ts => {
                        last.value += value
                    }
                    _ => {
                        if qs.recent.is_empty() {
                            qs.recent_front_ts = ts;
                        }
                        qs.recent.push_back(Record { ts, value, fact })
                    }
                }
            }
            // The oldest record is an hour old and out of cache: its time is kept beside the counters so
            // the common "nothing to drop" case does not touch it.
            while qs.recent_front_ts <= horizon {
                qs.recent.pop_front();
                qs.recent_front_ts = qs.recent.front().map_or(f64::INFINITY, |r| r.ts);
            }
        }
    }

    /// Starts "today" over at the local midnight before `ts`.
    fn roll_day(&mut self, ts: f64) {
        let secs = ts.floor() as i64;
        let Some(local) = self.tz.timestamp_opt(secs, 0).single() else {
            return;
        };
        let date = local.date_naive();
        let midnight = |d: chrono::NaiveDate| {
            let naive = d.and_time(NaiveTime::MIN);
            // A DST change at midnight can skip it: the day then starts at the first valid local time.
            self.tz
                .from_local_datetime(&naive)
                .earliest()
                .or_else(|| {
                    self.tz
                        .from_local_datetime(&(naive + Duration::hours(1)))
                        .earliest()
                })
                .map(|t| t.timestamp() as f64)
        };
        let (Some(start), Some(end)) = (midnight(date), date.succ_opt().and_then(midnight)) else {
            return;
        };
        self.day = Some((start, end));
        for qs in &mut self.queues {
            let day = std::mem::take(&mut qs.today);
            qs.earlier.merge(&day);
        }
    }

    /// Moves event time forward to `t`, closing what has waited (or talked, or idled) too long.
    fn advance(&mut self, calls: &mut CallTable, t: f64) {
        self.now = t;
        self.settle_leaves(calls, t - LEAVE_GRACE_SECONDS);
        self.settle_ended(calls, t);
        while let Some((deadline, _, _)) = self.expiry.front() {
            if *deadline >= t {
                break;
            }
            let Some((deadline, id, seq)) = self.expiry.pop_front() else {
                break;
            };
            let Some(call) = calls.get_mut(id) else {
                continue;
            };
            if call.seq != seq || call.state != CallState::Waiting {
                continue;
            }
            // SPEC §2: closed as lost at the moment it became older than max_wait_seconds.
            self.close(call, Outcome::Lost, deadline);
            calls.remove_with(id, |call| self.finish(call));
        }
        if t >= self.next_idle_sweep {
            for id in calls.select(|c| c.state != CallState::Waiting && c.idle_deadline < t) {
                calls.remove_with(id, |call| self.finish(call));
            }
            self.next_idle_sweep = t + self.cfg.max_wait_seconds / 8.0;
        }
        if self.callers.len() > self.callers_sweep_at {
            let keep = self
                .cfg
                .repeat_window_seconds
                .max(self.cfg.misroute_window_seconds);
            self.callers
                .retain(|_, r| r.talk_end.max(r.last_start) + keep >= t);
            self.callers_sweep_at = (self.callers.len() * 2).max(1024);
        }
    }

    /// Entries left before `until` that no answer followed: timed out, at the moment they were left. AMI says
    /// no more (a caller who pressed a key or found the queue empty looks the same); queue_log and JSON lines
    /// tell those apart.
    fn settle_leaves(&mut self, calls: &mut CallTable, until: f64) {
        while let Some(&(left, id, seq, _)) = self.leaving.front() {
            if left >= until {
                break;
            }
            self.leaving.pop_front();
            self.time_out_left(calls, left, id, seq);
        }
    }

    /// Settles every pending leave `source` reported, however recent: its stream ended, and the answer that
    /// may follow a leave comes at once in the same stream. Other sources' leaves wait for their own.
    fn settle_leaves_from(&mut self, calls: &mut CallTable, source: u32) {
        for (left, id, seq, _) in take_from(&mut self.leaving, source) {
            self.time_out_left(calls, left, id, seq);
        }
    }

    /// The entry `seq` of call `id`, left at `left` with no answer: timed out then, if it still waits.
    fn time_out_left(&mut self, calls: &mut CallTable, left: f64, id: CallId, seq: u32) {
        if let Some(call) = calls.get_mut(id) {
            if call.seq == seq && call.state == CallState::Waiting {
                self.agents.unanswered(call.queue, &call.key, left);
                self.flow_out(call, Outcome::TimedOut, left);
            }
        }
    }

    fn log_transfer(&mut self, e: &Event<'_>, queue: Option<u32>) {
        if self.transfers.len() >= FINISHED_KEPT {
            self.transfers.pop_front();
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.transfers.push_back(TransferRecord {
            ts: e.ts,
            call: text(e.call),
            queue,
            by: if e.agent == b"NONE" {
                String::new()
            } else {
                text(e.agent)
            },
            to: text(e.detail),
            caller: text(e.caller),
        });
    }

    /// Finishes the calls whose bridge ended before `until` and that did not enter a queue again since.
    fn settle_ended(&mut self, calls: &mut CallTable, until: f64) {
        while let Some(&(deadline, id, seq, _)) = self.ending.front() {
            if deadline >= until {
                break;
            }
            self.ending.pop_front();
            self.finish_ended(calls, id, seq);
        }
    }

    /// Finishes every call whose bridge `source` reported ended: its stream ended, and a transferred caller
    /// re-enters at once in the same stream. Other sources' calls wait for their own deadlines.
    fn settle_ended_from(&mut self, calls: &mut CallTable, source: u32) {
        for (_, id, seq, _) in take_from(&mut self.ending, source) {
            self.finish_ended(calls, id, seq);
        }
    }

    /// Call `id`'s talk of entry `seq` ended: it is finished, unless it entered a queue again since.
    fn finish_ended(&mut self, calls: &mut CallTable, id: CallId, seq: u32) {
        let ended = calls
            .get(id)
            .is_some_and(|c| c.seq == seq && c.state == CallState::Ended);
        if ended {
            calls.remove_with(id, |call| self.finish(call));
        }
    }

    /// Settles the pending leave of call `id`, if it has one (see [`Book::settle_leaves`]).
    fn settle_leave_of(&mut self, calls: &mut CallTable, id: CallId) {
        let Some(i) = self.leaving.iter().position(|l| l.1 == id) else {
            return;
        };
        if let Some((left, id, seq, _)) = self.leaving.remove(i) {
            self.time_out_left(calls, left, id, seq);
        }
    }

    fn start_call(&mut self, call: &mut Call, q: u32, ts: f64) {
        if call.caller == Caller::NONE {
            return;
        }
        let window = self.cfg.repeat_window_seconds;
        let Some(rec) = self.callers.get_or_insert(call.caller) else {
            return;
        };
        let since = ts - rec.last_start;
        let repeat = (0.0..=window).contains(&since);
        rec.last_start = rec.last_start.max(ts);
        let gap = ts - rec.talk_end;
        let misroute = (repeat
            && rec.talk_short
            && !rec.misroute_counted
            && (0.0..=self.cfg.misroute_window_seconds).contains(&gap))
        .then_some(rec.talk_queue);
        if let Some(mq) = misroute {
            if self.dept(mq) != self.dept(q) {
                if let Some(rec) = self.callers.get_mut(call.caller) {
                    rec.misroute_counted = true;
                }
                self.record(mq, ts, Fact::Misroute, 1.0);
                call.flags |= flags::MISROUTED_BEFORE;
            }
        }
        if repeat {
            call.flags |= flags::REPEAT;
            self.record(q, ts, Fact::RepeatCall, 1.0);
        }
    }

    fn enter(&mut self, call: &mut Call, id: CallId, q: u32, ts: f64) {
        // Music playing across the move: what was heard so far belongs to the queue it was heard in.
        self.moh_cut(call, ts, true);
        match call.state {
            // A second ENTERQUEUE while still waiting means the log lost the first entry's outcome.
            CallState::Waiting => self.close(call, Outcome::Lost, ts),
            // Talk that ends without a talk-end event is left out of the talk mean.
            CallState::Talking | CallState::Between | CallState::Ended => {}
        }
        let d = self.dept(q);
        let visited = call.journey.iter().any(|e| self.dept(e.queue) == d);
        // Ping-pong: in the department sequence with consecutive repeats collapsed, the new department is
        // not the last one but the one before it. Walking back from the end finds those two.
        let mut depts = call.journey.iter().rev().map(|e| self.dept(e.queue));
        let last = depts.next();
        let before_last = last.and_then(|l| depts.find(|x| *x != l));
        let pingpong = last.is_some_and(|l| l != d) && before_last == Some(d);
        self.record(q, ts, Fact::Entry, 1.0);
        if visited {
            call.flags |= flags::LOOP;
            self.record(q, ts, Fact::LoopEntry, 1.0);
        }
        if pingpong {
            call.flags |= flags::PINGPONG;
            self.record(q, ts, Fact::PingPongEntry, 1.0);
        }
        if self.queues[q as usize].supervisor {
            call.flags |= flags::ESCALATION;
            self.record(q, ts, Fact::Escalation, 1.0);
        }
        if call.journey.len() < MAX_JOURNEY {
            call.journey.push(Entry {
                enter_ts: ts,
                queue: q,
                wait: f32::NAN,
                talk: f32::NAN,
                outcome: None,
            });
        }
        call.queue = q;
        call.enter_ts = ts;
        self.start_waiting(call, id, ts);
    }

    /// Only waiting entries go into the time-ordered lost sweep (one hash lookup each when they come due);
    /// talking and in-between calls carry their own deadline, checked when they are next seen and swept in bulk.
    fn start_waiting(&mut self, call: &mut Call, id: CallId, ts: f64) {
        call.state = CallState::Waiting;
        // One counter for all calls: a slot reused by another call never matches an old item.
        self.next_seq = self.next_seq.wrapping_add(1);
        call.seq = self.next_seq;
        self.expiry
            .push_back((ts + self.cfg.max_wait_seconds, id, call.seq));
    }

    /// Talking or between queues since `ts`: the call is dropped after max_wait_seconds without news.
    fn set_idle(&mut self, call: &mut Call, state: CallState, ts: f64) {
        call.state = state;
        call.idle_deadline = ts + self.cfg.max_wait_seconds;
    }

    /// Closes the waiting entry with `outcome` at `ts` (SPEC §2), with its hold-music exposure (SPEC §5).
    fn close(&mut self, call: &mut Call, outcome: Outcome, ts: f64) {
        let q = call.queue;
        let wait = (ts - call.enter_ts).max(0.0);
        self.record(q, ts, Fact::Outcome(outcome), wait);
        if self.queues[q as usize].supervisor && outcome != Outcome::Answered {
            call.flags |= flags::ESCALATION_UNANSWERED;
            self.record(q, ts, Fact::EscalationUnanswered, 1.0);
        }
        if let Some(track) = self.queues[q as usize]
            .moh_track
            .filter(|_| !call.moh_events)
        {
            // queue_log reports no MOH events: waiting in a queue with a hold-music class is exposure.
            call.moh_seconds += wait as f32;
            call.plays += wait / track;
            self.record(q, ts, Fact::MohSeconds, wait);
            self.record(q, ts, Fact::MohPlays, call.plays);
        }
        if let Some(e) = call.journey.last_mut() {
            if e.queue == q && e.outcome.is_none() {
                e.outcome = Some(outcome);
                e.wait = wait as f32;
            }
        }
        call.state = CallState::Between;
    }

    fn answer(&mut self, call: &mut Call, ts: f64, agent: &[u8]) -> After {
        self.close(call, Outcome::Answered, ts);
        let q = call.queue;
        if self.queues[q as usize].supervisor && !self.supervisors.contains(agent) {
            call.flags |= flags::ESCALATION_FAKE;
            self.record(q, ts, Fact::EscalationFake, 1.0);
        }
        call.answer_ts = ts;
        // A talk with no end is dropped after max_wait_seconds so the table stays bounded.
        self.set_idle(call, CallState::Talking, ts);
        After::Keep
    }

    fn close_waiting(&mut self, call: &mut Call, outcome: Outcome, ts: f64) -> After {
        self.close(call, outcome, ts);
        After::Finish
    }

    fn flow_out(&mut self, call: &mut Call, outcome: Outcome, ts: f64) -> After {
        self.close(call, outcome, ts);
        self.set_idle(call, CallState::Between, ts);
        After::Keep
    }

    fn end_talk(&mut self, call: &mut Call, ts: f64) {
        let talk = (ts - call.answer_ts).max(0.0);
        self.record(call.queue, ts, Fact::TalkEnd, talk);
        if let Some(e) = call.journey.last_mut() {
            e.talk = talk as f32;
        }
        if call.caller != Caller::NONE {
            if let Some(rec) = self.callers.get_mut(call.caller) {
                rec.talk_end = ts;
                rec.talk_queue = call.queue;
                rec.talk_short = talk < self.cfg.misroute_talk_seconds;
                rec.misroute_counted = false;
            }
        }
    }

    fn talk_end(&mut self, call: &mut Call, ts: f64) -> After {
        self.end_talk(call, ts);
        After::Finish
    }

    fn transfer(&mut self, call: &mut Call, ts: f64) -> After {
        let q = call.queue;
        self.record(q, ts, Fact::Transfer, 1.0);
        call.transfers = call.transfers.saturating_add(1);
        if u32::from(call.transfers) == self.cfg.bounce_transfers {
            call.flags |= flags::BOUNCED;
            self.record(q, ts, Fact::BouncedCall, 1.0);
        }
        match call.state {
            CallState::Talking => {
                self.end_talk(call, ts);
                self.set_idle(call, CallState::Between, ts);
            }
            // A transfer is news: the call stays for another max_wait_seconds.
            CallState::Between | CallState::Ended => self.set_idle(call, CallState::Between, ts),
            CallState::Waiting => {}
        }
        After::Keep
    }

    /// A call is over (its record is removed next): its last figures, and its journey kept for `journeys`.
    fn finish(&mut self, call: &mut Call) {
        // Music still playing when the call ends stops with it (the last event time).
        self.moh_cut(call, self.now, false);
        if call.moh_seconds > 0.0 {
            self.queues[call.queue as usize]
                .moh
                .observe(&MOH_BUCKETS, f64::from(call.moh_seconds));
        }
        let done = FinishedCall {
            key: std::mem::replace(&mut call.key, CallKey::Inline([0; 3])),
            journey: std::mem::take(&mut call.journey),
            flags: call.flags,
        };
        if self.finished.len() < FINISHED_KEPT {
            self.finished.push(done);
            return;
        }
        // A ring: the oldest is overwritten in place. The slot next in turn was written 10,000 calls ago and
        // is out of cache: fetched now, it is there when the next call finishes.
        if let Some(slot) = self.finished.get_mut(self.finished_next) {
            *slot = done;
        }
        self.finished_next = (self.finished_next + 1) % FINISHED_KEPT;
        #[cfg(all(target_arch = "x86_64", target_feature = "sse"))]
        if let Some(next) = self.finished.get(self.finished_next) {
            safe_arch::prefetch_t0(&next.key);
            safe_arch::prefetch_t0(&next.journey);
        }
    }

    /// Hold music heard and not yet counted: the music playing now (MOH events), or for queue_log the wait so
    /// far in a queue with a hold-music class.
    fn live_moh(&self, call: &Call) -> f64 {
        if call.moh_events {
            return if call.moh_since.is_nan() {
                0.0
            } else {
                (self.now - call.moh_since).max(0.0)
            };
        }
        match (call.state, self.queues[call.queue as usize].moh_track) {
            (CallState::Waiting, Some(_)) => (self.now - call.enter_ts).max(0.0),
            _ => 0.0,
        }
    }

    fn plays_now(&self, call: &Call) -> f64 {
        let track = if call.moh_events {
            Some(f64::from(call.moh_track))
        } else {
            self.queues[call.queue as usize].moh_track
        };
        match track {
            Some(track) => call.plays + self.live_moh(call) / track,
            None => call.plays,
        }
    }

    /// SPEC §5: music on hold starts in `class`; a start while music plays switches class.
    fn moh_start(&mut self, call: &mut Call, ts: f64, class: &[u8]) {
        self.moh_cut(call, ts, false);
        let class = std::str::from_utf8(class).unwrap_or_default();
        call.moh_track = self.cfg.track_seconds(class) as f32;
        call.moh_since = ts;
    }

    /// Counts the music heard since the last cut into the call and into the queue of its most recent entry;
    /// `resume` keeps it playing from `ts` (a new entry: what follows belongs to the new queue).
    #[inline(always)]
    fn moh_cut(&mut self, call: &mut Call, ts: f64, resume: bool) {
        // Nearly always no music: keep that check inline on the hot path.
        if !call.moh_since.is_nan() {
            self.moh_count(call, ts, resume);
        }
    }

    #[inline(never)]
    fn moh_count(&mut self, call: &mut Call, ts: f64, resume: bool) {
        let heard = (ts - call.moh_since).max(0.0);
        call.moh_seconds += heard as f32;
        call.plays += heard / f64::from(call.moh_track);
        let q = call.queue;
        self.record(q, ts, Fact::MohSeconds, heard);
        self.record(q, ts, Fact::MohPlays, call.plays);
        call.moh_since = if resume { ts } else { f64::NAN };
    }
}

/// Takes the pending entries (time, call, entry, source) that `source` reported out of `pending`, in order;
/// the others stay, in order.
fn take_from(
    pending: &mut VecDeque<(f64, CallId, u32, u32)>,
    source: u32,
) -> VecDeque<(f64, CallId, u32, u32)> {
    let (mine, others) = std::mem::take(pending)
        .into_iter()
        .partition(|p| p.3 == source);
    *pending = others;
    mine
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_inside_the_engine_is_counted_and_the_source_goes_on() {
        let mut engine = Engine::new(Config::default()).unwrap_or_else(|e| panic!("{e}"));
        let line = |call: u32| {
            format!(
                "{}|c{call}|q|NONE|ENTERQUEUE||0600|1\n",
                1_700_000_000 + call
            )
        };
        let (two, four) = (line(2), line(4));
        engine.feed(
            "s",
            Format::QueueLog,
            format!("{}{}", line(1), &two[..9]).as_bytes(),
        );
        // A panic in the middle of the source's work, with a line half read, as a bug would cause one.
        engine.contained("s", |e| {
            let chunk = format!("{}{}{}", &two[9..], line(3), &four[..9]);
            e.feed_chunk("s", Format::QueueLog, chunk.as_bytes());
            panic!("a bug");
        });
        engine.feed("s", Format::QueueLog, line(5).as_bytes());
        let src = &engine.sources()[0];
        // Lines 1, 2, 3 and 5 count; the half line 4 was dropped with the failure, not glued to line 5.
        assert_eq!(src.ingested, 4);
        assert_eq!(src.last_event_ts, Some(1_700_000_005.0));
        assert_eq!(src.rejected[RejectReason::InternalError.index()], 1);
        assert_eq!(src.rejected_total(), 1);
        let (shown, _) = engine.take_rejections();
        assert!(shown[0].text.contains("a bug"), "{shown:?}");
    }
}
