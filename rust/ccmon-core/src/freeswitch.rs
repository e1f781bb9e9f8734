//! FreeSWITCH mod_callcenter over the Event Socket (SPEC §7): the `CUSTOM callcenter::info` events, by
//! `CC-Action`, read from the raw byte stream of an inbound ESL connection (`event plain`).
//!
//! The stream is a sequence of messages: a header block (`Content-Type`, `Content-Length`, ...) ended by a blank
//! line, then, when `Content-Length` says so, exactly that many bytes of body. Only a `text/event-plain` body is
//! read, and it is itself a header block of `Key: value` lines whose values are URL-encoded. Every other body
//! (`api/response`, `log/data`, `text/disconnect-notice`, ...) is skipped by its length, never parsed. A
//! recording of bare event blocks (no envelope, each starting with `Event-Name:`) is read as well.
//!
//! Messages are built a line at a time (a source's lines may arrive split anywhere), bounded in size, and mapped
//! onto the engine's events; a plain event message found whole in a chunk is read in place
//! ([`FrameBuilder::message`]), with the same result; a call is its `CC-Member-Session-UUID` (SPEC §1). Event time is
//! `Event-Date-Timestamp`, microseconds since the epoch.
//!
//! | `CC-Action` | engine event |
//! |---|---|
//! | member-queue-start | enter (`CC-Queue`, caller `CC-Member-CID-Number`) |
//! | member-queue-end, `CC-Cause: Terminated` | bridge end: talk end, or a transfer if the session enters a queue again (the first of it and bridge-agent-end counts) |
//! | member-queue-end, `CC-Cause: Cancel` | by `CC-Cancel-Reason`: `NONE` abandon, `TIMEOUT` timeout, `NO_AGENT_TIMEOUT` exit empty, `EXIT_WITH_KEY` exit key, `BREAK_OUT` abandon when the caller's channel is hung up (`Answer-State: hangup`), else exit key (the dialplan took the caller out) |
//! | agent-offering / bridge-agent-fail | ring / ring end (`CC-Agent`) |
//! | bridge-agent-start / bridge-agent-end | answer / bridge end (`CC-Agent`) |
//! | agent-status-change (`CC-Agent-Status`) | `Logged Out` logoff, `Available`, `Available (On Demand)` login and unpause, `On Break` login and pause (reason `On Break`), in every queue the agent is known to serve |
//! | agent-state-change, members-count, other actions | known, not used |

use std::borrow::Cow;

use rustc_hash::FxHashMap;

use crate::ami::StatusItem;
use crate::event::{Kind, OwnedEvent, RejectReason};

/// The headers ccmon reads (envelope and event); the others are skipped without being kept.
const KEYS: [&str; 14] = [
    "Content-Length",
    "Content-Type",
    "Event-Name",
    "Event-Subclass",
    "Event-Date-Timestamp",
    "CC-Action",
    "CC-Queue",
    "CC-Agent",
    "CC-Member-Session-UUID",
    "CC-Member-CID-Number",
    "CC-Cause",
    "CC-Cancel-Reason",
    "CC-Agent-Status",
    "Answer-State",
];
const CONTENT_LENGTH: usize = 0;
const CONTENT_TYPE: usize = 1;
const EVENT_NAME: usize = 2;
const EVENT_SUBCLASS: usize = 3;
const TIMESTAMP: usize = 4;
const ACTION: usize = 5;
const QUEUE: usize = 6;
const AGENT: usize = 7;
const SESSION: usize = 8;
const CID_NUMBER: usize = 9;
const CAUSE: usize = 10;
const CANCEL_REASON: usize = 11;
const AGENT_STATUS: usize = 12;
const ANSWER_STATE: usize = 13;

/// Where in [`KEYS`] a header goes. FreeSWITCH writes header names in one spelling: an exact match.
fn slot(key: &[u8]) -> Option<usize> {
    Some(match key {
        b"Content-Length" => CONTENT_LENGTH,
        b"Content-Type" => CONTENT_TYPE,
        b"Event-Name" => EVENT_NAME,
        b"Event-Subclass" => EVENT_SUBCLASS,
        b"Event-Date-Timestamp" => TIMESTAMP,
        b"CC-Action" => ACTION,
        b"CC-Queue" => QUEUE,
        b"CC-Agent" => AGENT,
        b"CC-Member-Session-UUID" => SESSION,
        b"CC-Member-CID-Number" => CID_NUMBER,
        b"CC-Cause" => CAUSE,
        b"CC-Cancel-Reason" => CANCEL_REASON,
        b"CC-Agent-Status" => AGENT_STATUS,
        b"Answer-State" => ANSWER_STATE,
        _ => return None,
    })
}

/// `str::trim` on a key or value of a line that is UTF-8.
fn trim(b: &[u8], ascii: bool) -> &[u8] {
    if ascii {
        trim_whitespace(b)
    } else {
        std::str::from_utf8(b).map_or(b, |s| s.trim().as_bytes())
    }
}

/// `str::trim` for ASCII text: the vertical tab (0x0B) is whitespace to it, though not to `trim_ascii`.
fn trim_whitespace(b: &[u8]) -> &[u8] {
    let ws = |c: &u8| c.is_ascii_whitespace() || *c == 0x0B;
    match b {
        [first, .., last] if !ws(first) && !ws(last) => b,
        _ => {
            let start = b.iter().position(|c| !ws(c)).unwrap_or(b.len());
            let end = b.iter().rposition(|c| !ws(c)).map_or(start, |e| e + 1);
            b.get(start..end).unwrap_or_default()
        }
    }
}

/// An ASCII byte that is neither blank nor a control: no trim cuts it.
#[inline]
fn solid(c: &u8) -> bool {
    *c > b' ' && *c < 0x80
}

/// `str::trim`, without its look at each end when the ends are plainly not blank: a header name as
/// FreeSWITCH writes it, or a value after its one space.
#[inline]
fn trim_str(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if solid(first) && solid(last) => s,
        [b' ', second, .., last] if solid(second) && solid(last) => s.get(1..).unwrap_or(s),
        _ => s.trim(),
    }
}

/// Agents whose queues are remembered (agent-status-change names no queue), and queues per agent.
const MAX_SERVED_AGENTS: usize = 100_000;
const MAX_SERVED_QUEUES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Part {
    /// Reading a message's header block (or a bare event block).
    #[default]
    Head,
    /// Reading `left` more bytes of body; `event`: a `text/event-plain` body, whose header block is read while
    /// `in_headers`.
    Body {
        left: usize,
        event: bool,
        in_headers: bool,
    },
}

/// How a message ended, before it is mapped.
enum End {
    Map,
    Skip,
    Reject(String),
}

/// The message being read. The values of the headers ccmon reads go into buffers reused from message to
/// message, so a steady stream allocates nothing; a finished event borrows from them.
#[derive(Debug, Default, Clone)]
pub struct FrameBuilder {
    values: [String; KEYS.len()],
    /// Bit i: `values[i]` belongs to the block being read.
    present: u32,
    part: Part,
    /// Lines and bytes of the header block being read (the envelope's, then the event's).
    lines: usize,
    bytes: usize,
    /// The last push returned a frame: the next one starts afresh.
    ended: bool,
    problem: Option<String>,
    /// A body that ended inside a line: the rest of that line, the first line of the next message.
    pending: Vec<u8>,
    /// URL-decoding buffer.
    scratch: Vec<u8>,
    /// The queues each agent was seen serving (events naming both `CC-Agent` and `CC-Queue`).
    served: FxHashMap<Box<str>, Vec<Box<str>>>,
}

/// One finished message, mapped.
#[derive(Debug, Clone, PartialEq)]
pub enum FsFrame<'b> {
    Event(FsEvent<'b>),
    /// An agent-status-change: it names no queue, so it applies to every queue of the agent; the slice holds
    /// the queues the agent is known to serve, where any status but `Logged Out` logs it in first.
    AgentStatus(FsEvent<'b>, &'b [Box<str>]),
    /// Not an event (a command reply, an api response, the greeting): nothing to count.
    Skip,
    /// An event ccmon does not use.
    Unknown,
    Rejected(RejectReason, String),
}

/// A message read whole by [`FrameBuilder::message`].
#[derive(Debug)]
pub struct WholeMessage<'a> {
    /// Bytes of input it took: its envelope, the blank line, its body.
    pub len: usize,
    /// Lines it took.
    pub lines: u64,
    pub frame: FsFrame<'a>,
}

/// An event from a message, borrowing from the builder's buffers. ESL events carry no id ccmon uses.
pub type FsEvent<'b> = OwnedEvent<'b, ()>;

impl FrameBuilder {
    /// Takes one line (without its newline; a `\r` before it is tolerated). Returns the message it finished,
    /// mapped. `max_bytes` bounds a header block.
    pub fn push(&mut self, line: &[u8], max_bytes: usize) -> Option<FsFrame<'_>> {
        self.start();
        let end = self.step(line, max_bytes)?;
        Some(self.end(end))
    }

    /// A line of `len` bytes that the engine did not keep (over `max_line_bytes`): its bytes still count
    /// towards the body they belong to, and a header block holding it is a `bad_frame`.
    pub fn push_dropped(&mut self, len: usize, max_bytes: usize) -> Option<FsFrame<'_>> {
        self.start();
        let why = || format!("a line of {len} bytes, over {max_bytes}");
        let end = match self.part {
            Part::Head => {
                self.lines += 1;
                self.problem.get_or_insert_with(why);
                None
            }
            Part::Body {
                left,
                event,
                in_headers,
            } => {
                if event && in_headers {
                    self.problem.get_or_insert_with(why);
                }
                // A body ending inside the dropped line takes the next message's first line with it; that
                // message is then read without its envelope's first header.
                let left = left.saturating_sub(len + 1);
                self.part = Part::Body {
                    left,
                    event,
                    in_headers,
                };
                (left == 0).then(|| self.end_body(event))
            }
        }?;
        Some(self.end(end))
    }

    /// The input ended: a message cut short is one `bad_frame`; a last event block without its closing blank
    /// line still counts.
    pub fn finish(&mut self, max_bytes: usize) -> Option<FsFrame<'_>> {
        self.start();
        let end = match self.part {
            Part::Body { left, .. } => Some(self.cut(left)),
            Part::Head => match self.head_line(b"", max_bytes) {
                None => match self.part {
                    // A header block announcing a body that never came.
                    Part::Body { left, .. } => Some(self.cut(left)),
                    Part::Head => None,
                },
                end => end,
            },
        }?;
        Some(self.end(end))
    }

    fn cut(&mut self, left: usize) -> End {
        self.part = Part::Head;
        self.ended = true;
        End::Reject(format!(
            "message cut short, {left} bytes of its body missing"
        ))
    }

    /// Nothing of a message read.
    fn reset(&mut self) {
        self.present = 0;
        self.lines = 0;
        self.bytes = 0;
        self.problem = None;
        self.part = Part::Head;
        self.ended = false;
    }

    /// Resets after a finished message, then reads what was left over from the line that finished it.
    fn start(&mut self) {
        if self.ended {
            self.reset();
        }
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            // The first line of a fresh message never finishes it: nothing to return.
            let _ = self.head_line(&pending, usize::MAX);
            self.pending = pending;
            self.pending.clear();
        }
    }

    fn step(&mut self, line: &[u8], max: usize) -> Option<End> {
        let Part::Body {
            left,
            event,
            in_headers,
        } = self.part
        else {
            return self.head_line(line, max);
        };
        // The body's bytes are the line and its newline; a body that ends inside the line leaves the rest of
        // the line to the next message.
        let (mine, left) = if line.len() < left {
            (line, left - line.len() - 1)
        } else {
            let (mine, rest) = line.split_at(left);
            self.pending.extend_from_slice(rest);
            (mine, 0)
        };
        let mut in_headers = in_headers;
        if event && in_headers {
            let text = mine.strip_suffix(b"\r").unwrap_or(mine);
            if text.iter().all(u8::is_ascii_whitespace) {
                in_headers = false;
            } else {
                self.header_line(text, max);
            }
        }
        self.part = Part::Body {
            left,
            event,
            in_headers,
        };
        (left == 0).then(|| self.end_body(event))
    }

    fn end_body(&mut self, event: bool) -> End {
        self.part = Part::Head;
        self.ended = true;
        match (event, self.problem.take()) {
            (false, _) => End::Skip,
            (true, Some(why)) => End::Reject(why),
            (true, None) => End::Map,
        }
    }

    /// A line of a header block outside any body: an envelope, or a bare event.
    fn head_line(&mut self, line: &[u8], max: usize) -> Option<End> {
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        if text.iter().all(u8::is_ascii_whitespace) {
            if self.lines == 0 && self.problem.is_none() {
                return None;
            }
            return self.end_head();
        }
        if let Some(why) = &self.problem {
            // Garbage without a blank line after it: the next envelope starts at its Content-Length.
            if text.starts_with(b"Content-Length:") {
                let why = why.clone();
                self.pending.extend_from_slice(line);
                self.ended = true;
                return Some(End::Reject(why));
            }
            return None;
        }
        self.header_line(text, max);
        None
    }

    /// One `Key: value` line of a header block, its value URL-decoded when it is one ccmon reads.
    fn header_line(&mut self, text: &[u8], max: usize) {
        self.lines += 1;
        if self.problem.is_some() {
            return;
        }
        self.bytes += text.len();
        if self.bytes > max {
            self.problem = Some(format!("a header block over {max} bytes"));
            return;
        }
        // ASCII is checked a word at a time; only other lines pay for a full UTF-8 check (and are trimmed
        // of Unicode whitespace, as `str::trim` does).
        let ascii = text.is_ascii();
        if !ascii && std::str::from_utf8(text).is_err() {
            self.problem = Some("a header is not UTF-8".into());
            return;
        }
        let Some(colon) = crate::scan::find_byte(text, 0, b':') else {
            let shown: String = String::from_utf8_lossy(text).chars().take(40).collect();
            self.problem = Some(format!("not a `Key: value` line: {shown:?}"));
            return;
        };
        let (key, value) = (&text[..colon], &text[colon + 1..]);
        let Some(i) = slot(trim(key, ascii)) else {
            return;
        };
        let (Some(out), value) = (self.values.get_mut(i), trim(value, ascii)) else {
            return;
        };
        out.clear();
        // The line is UTF-8 (checked above) and trimmed at blanks: its value is text.
        let decoded =
            std::str::from_utf8(value).is_ok_and(|v| url_decode(out, &mut self.scratch, v));
        if !decoded {
            let key = String::from_utf8_lossy(key);
            self.problem = Some(format!("{key}: not UTF-8 once URL-decoded"));
            return;
        }
        self.present |= 1 << i;
    }

    /// The blank line after a header block: a body follows, or the message is complete.
    fn end_head(&mut self) -> Option<End> {
        if let Some(why) = self.problem.take() {
            self.ended = true;
            return Some(End::Reject(why));
        }
        if let Some(length) = self.get(CONTENT_LENGTH) {
            let Ok(left) = length.parse::<usize>() else {
                let why = format!("Content-Length {length:?} is not a number");
                self.ended = true;
                return Some(End::Reject(why));
            };
            let event = self.get(CONTENT_TYPE) == Some("text/event-plain");
            if left == 0 {
                self.ended = true;
                return Some(End::Skip);
            }
            // The envelope is done with: the body's headers start afresh.
            self.present = 0;
            self.lines = 0;
            self.bytes = 0;
            self.part = Part::Body {
                left,
                event,
                in_headers: true,
            };
            return None;
        }
        self.ended = true;
        Some(if self.get(CONTENT_TYPE).is_some() {
            // A message without a body: auth/request, command/reply.
            End::Skip
        } else if self.get(EVENT_NAME).is_some() {
            // A bare event block, as a recording without the envelope has it.
            End::Map
        } else {
            End::Reject("neither an ESL message (Content-Type) nor an event (Event-Name)".into())
        })
    }

    /// Between messages: nothing of a message read yet, nothing left over from the last.
    pub fn idle(&self) -> bool {
        self.pending.is_empty()
            && (self.ended
                || (self.part == Part::Head && self.lines == 0 && self.problem.is_none()))
    }

    /// The fast path: the `text/event-plain` message at the start of `text` (already checked as UTF-8) read
    /// whole, when this builder is [idle](Self::idle) and the message is a plain one: an envelope of
    /// `Key: value` lines with its `Content-Length` and `Content-Type` unescaped, a blank line, and all of a
    /// body that ends with a line. Its lines are read as [`push`](Self::push) reads them, without its
    /// per-line state: a header ccmon does not read costs a search for its colon and its newline. `None`
    /// leaves the input to `push`, line by line, with the same result (a property test checks it): another
    /// kind of message, a bad line, a line over `max_bytes`, a message the chunk cuts.
    pub fn message<'a>(&'a mut self, text: &'a str, max_bytes: usize) -> Option<WholeMessage<'a>> {
        if !self.idle() {
            return None;
        }
        self.reset();
        match self.read_message(text, max_bytes) {
            Some((len, lines)) => {
                self.ended = true;
                Some(WholeMessage {
                    len,
                    lines,
                    frame: self.end(End::Map),
                })
            }
            None => {
                // The values read are not the line path's: it starts from nothing.
                self.present = 0;
                None
            }
        }
    }

    /// Reads the values of a whole plain message (see [`message`](Self::message)); its length and lines.
    fn read_message(&mut self, text: &str, max: usize) -> Option<(usize, u64)> {
        let b = text.as_bytes();
        let (mut at, mut lines, mut bytes) = (0, 0, 0);
        let (mut length, mut event) = (None, false);
        // The envelope.
        loop {
            let newline = crate::scan::find_either(b, at, b'\n', b'\n')?;
            let line = text.get(at..newline)?;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if newline - at > max {
                return None;
            }
            lines += 1;
            if line.is_empty() {
                if lines == 1 {
                    return None;
                }
                at = newline + 1;
                break;
            }
            bytes += line.len();
            let (key, value) = line.split_once(':')?;
            if bytes > max || trim_str(key) != key || key.is_empty() {
                return None;
            }
            let value = trim_str(value);
            match key {
                "Content-Length" => length = Some(value.parse::<usize>().ok()?),
                "Content-Type" => event = value == "text/event-plain",
                _ => {}
            }
            // What `push` would decode: left to it.
            if slot(key.as_bytes()).is_some() && value.contains('%') {
                return None;
            }
            at = newline + 1;
        }
        let end = at.checked_add(length.filter(|&n| n > 0 && event)?)?;
        if b.get(end.checked_sub(1)?) != Some(&b'\n') {
            return None;
        }
        // The body: the event's headers, up to a blank line; what follows it is not read. Lines are looked at
        // as bytes; only the value of a header ccmon reads is taken as text.
        let (mut bytes, mut in_headers) = (0, true);
        while at < end {
            // The name's end, then the line's: each byte is looked at once.
            let sep = crate::scan::find_either(b, at, b':', b'\n')?;
            let colon = b.get(sep) == Some(&b':');
            let newline = if colon {
                crate::scan::find_either(b, sep + 1, b'\n', b'\n')?
            } else {
                sep
            };
            if newline - at > max {
                return None;
            }
            let line_end = match b.get(newline.wrapping_sub(1)) {
                Some(b'\r') if newline > at => newline - 1,
                _ => newline,
            };
            let from = at;
            lines += 1;
            at = newline + 1;
            if !in_headers {
                continue;
            }
            if !colon {
                // A blank line ends the headers; anything else is left to `push`.
                if !b.get(from..line_end)?.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                in_headers = false;
                continue;
            }
            bytes += line_end - from;
            if bytes > max {
                return None;
            }
            let name = match b.get(from..sep)? {
                name @ [first, .., last] if solid(first) && solid(last) => name,
                _ => trim_str(text.get(from..sep)?).as_bytes(),
            };
            let Some(i) = slot(name) else {
                continue;
            };
            // `sep + 1 <= line_end`: a `\r` before the newline is after the colon.
            let value = trim_str(text.get(sep + 1..line_end.max(sep + 1))?);
            let out = self.values.get_mut(i)?;
            out.clear();
            if !url_decode(out, &mut self.scratch, value) {
                return None;
            }
            self.present |= 1 << i;
        }
        Some((at, lines))
    }

    fn end(&mut self, end: End) -> FsFrame<'_> {
        match end {
            End::Skip => FsFrame::Skip,
            End::Reject(why) => FsFrame::Rejected(RejectReason::BadFrame, why),
            End::Map => {
                self.learn();
                self.map()
            }
        }
    }

    /// The value of header `KEYS[i]` in this block, if given and not empty.
    fn get(&self, i: usize) -> Option<&str> {
        (self.present & (1 << i) != 0)
            .then(|| self.values.get(i).map(String::as_str))
            .flatten()
            .filter(|v| !v.is_empty())
    }

    /// Remembers the queue an agent serves, from a call event naming both.
    fn learn(&mut self) {
        let (Some(agent), Some(queue)) = (self.get(AGENT), self.get(QUEUE)) else {
            return;
        };
        if let Some(queues) = self.served.get(agent) {
            if queues.iter().any(|q| q.as_ref() == queue) || queues.len() >= MAX_SERVED_QUEUES {
                return;
            }
        } else if self.served.len() >= MAX_SERVED_AGENTS {
            return;
        }
        let (agent, queue): (Box<str>, Box<str>) = (agent.into(), queue.into());
        self.served.entry(agent).or_default().push(queue);
    }

    fn map(&self) -> FsFrame<'_> {
        let Some(name) = self.get(EVENT_NAME) else {
            return FsFrame::Rejected(RejectReason::BadFrame, "an event without Event-Name".into());
        };
        if name != "CUSTOM" || self.get(EVENT_SUBCLASS) != Some("callcenter::info") {
            return FsFrame::Unknown;
        }
        let Some(action) = self.get(ACTION) else {
            return FsFrame::Rejected(
                RejectReason::MissingField,
                "callcenter::info without CC-Action".into(),
            );
        };
        let Some(us) = self
            .get(TIMESTAMP)
            .and_then(|t| t.parse::<u64>().ok())
            .filter(|us| *us <= 32_503_680_000_000_000)
        else {
            let why = match self.get(TIMESTAMP) {
                Some(t) => format!("{action}: Event-Date-Timestamp {t:?}"),
                None => format!("{action} without Event-Date-Timestamp"),
            };
            return FsFrame::Rejected(RejectReason::BadTimestamp, why);
        };
        let ts = us as f64 / 1e6;
        let kind = match action {
            "member-queue-start" => Kind::Enter,
            "member-queue-end" => match self.outcome() {
                Ok(kind) => kind,
                Err((reason, why)) => return FsFrame::Rejected(reason, why),
            },
            "agent-offering" => Kind::Ring,
            "bridge-agent-start" => Kind::Answer,
            "bridge-agent-end" => Kind::BridgeEnd,
            "bridge-agent-fail" => Kind::RingEnd,
            "agent-status-change" => match self.get(AGENT_STATUS) {
                Some("Logged Out") => Kind::AgentLogoff,
                Some("Available" | "Available (On Demand)") => Kind::AgentUnpause,
                Some("On Break") => Kind::AgentPause,
                _ => Kind::Other,
            },
            // agent-state-change repeats what the call events say, without their queue and call.
            _ => Kind::Other,
        };
        let call = self.get(SESSION).unwrap_or("");
        let queue = self.get(QUEUE).unwrap_or("");
        let agent = self.get(AGENT).unwrap_or("");
        let missing = |what: &str| {
            FsFrame::Rejected(
                RejectReason::MissingField,
                format!("{action} without {what}"),
            )
        };
        let is_agent = matches!(
            kind,
            Kind::AgentLogoff | Kind::AgentPause | Kind::AgentUnpause
        );
        let needs_call = kind.is_call_event() || kind == Kind::Ring;
        if needs_call && call.is_empty() {
            return missing("CC-Member-Session-UUID");
        }
        if (needs_call || kind == Kind::RingEnd) && queue.is_empty() {
            return missing("CC-Queue");
        }
        if (is_agent || matches!(kind, Kind::Ring | Kind::RingEnd | Kind::Answer))
            && agent.is_empty()
        {
            return missing("CC-Agent");
        }
        let event = FsEvent {
            ts,
            kind,
            call: Cow::Borrowed(if is_agent { "" } else { call }),
            // agent-status-change names no queue: the engine applies it to every queue of the agent.
            queue: Cow::Borrowed(if is_agent { "" } else { queue }),
            agent: Cow::Borrowed(agent),
            caller: Cow::Borrowed(if kind == Kind::Enter {
                self.get(CID_NUMBER).unwrap_or("")
            } else {
                ""
            }),
            detail: Cow::Borrowed(if kind == Kind::AgentPause {
                "On Break"
            } else {
                ""
            }),
            id: None,
            site: Cow::Borrowed(""),
        };
        if is_agent {
            let queues = self.served.get(agent).map_or(&[][..], Vec::as_slice);
            return FsFrame::AgentStatus(event, queues);
        }
        FsFrame::Event(event)
    }

    /// The outcome a member-queue-end reports (SPEC §2).
    fn outcome(&self) -> Result<Kind, (RejectReason, String)> {
        match self.get(CAUSE) {
            Some("Terminated") => Ok(Kind::BridgeEnd),
            Some("Cancel") => match self.get(CANCEL_REASON) {
                Some("NONE") => Ok(Kind::Abandon),
                Some("TIMEOUT") => Ok(Kind::Timeout),
                Some("NO_AGENT_TIMEOUT") => Ok(Kind::ExitEmpty),
                Some("EXIT_WITH_KEY") => Ok(Kind::ExitKey),
                // mod_callcenter says BREAK_OUT whenever the caller's wait loop ended without an agent: the
                // caller hung up (the channel is down), or the dialplan or an API call took the caller out.
                Some("BREAK_OUT") => match self.get(ANSWER_STATE) {
                    Some(state) if state != "hangup" => Ok(Kind::ExitKey),
                    _ => Ok(Kind::Abandon),
                },
                Some(other) => Err((
                    RejectReason::BadField,
                    format!("member-queue-end: CC-Cancel-Reason {other:?}"),
                )),
                None => Err((
                    RejectReason::MissingField,
                    "member-queue-end without CC-Cancel-Reason".into(),
                )),
            },
            Some(other) => Err((
                RejectReason::BadField,
                format!("member-queue-end: CC-Cause {other:?}"),
            )),
            None => Err((
                RejectReason::MissingField,
                "member-queue-end without CC-Cause".into(),
            )),
        }
    }
}

/// Appends `value` URL-decoded (`%3A` → `:`) to `out`; false when the result is not UTF-8. A `%` not followed
/// by two hex digits stays as it is. A value without escapes is text already: appended as it is.
fn url_decode(out: &mut String, scratch: &mut Vec<u8>, value: &str) -> bool {
    let bytes = value.as_bytes();
    if crate::scan::find_byte(bytes, 0, b'%').is_none() {
        out.push_str(value);
        return true;
    }
    scratch.clear();
    // The text between escapes is copied a run at a time.
    let mut rest = bytes;
    while let Some(at) = crate::scan::find_byte(rest, 0, b'%') {
        let hex = |j: usize| rest.get(j).and_then(|c| (*c as char).to_digit(16));
        scratch.extend_from_slice(&rest[..at]);
        match (hex(at + 1), hex(at + 2)) {
            (Some(hi), Some(lo)) => {
                scratch.push((hi * 16 + lo) as u8);
                rest = &rest[at + 3..];
            }
            _ => {
                scratch.push(b'%');
                rest = &rest[at + 1..];
            }
        }
    }
    scratch.extend_from_slice(rest);
    match std::str::from_utf8(scratch) {
        Ok(s) => {
            out.push_str(s);
            true
        }
        Err(_) => false,
    }
}

/// What mod_callcenter says of itself now, for a resynchronisation after a (re)connect: its answers to
/// `callcenter_config queue list members QUEUE` for each of its queues, `tier list` and `agent list`. Each
/// answer is a table: a header row of column names, rows of `|`-separated values, then `+OK`.
#[derive(Debug, Clone, Copy)]
pub struct Callcenter<'a> {
    /// Each queue, with its members table (an empty table still says the queue has nobody waiting).
    pub queues: &'a [(&'a str, &'a str)],
    pub tiers: &'a str,
    pub agents: &'a str,
}

/// The rows of a `callcenter_config` table, each as the values of the `wanted` columns (`None` when the
/// header lacks one of them: the table is not what was asked for).
fn table_rows<'a, const N: usize>(text: &'a str, wanted: [&str; N]) -> Option<Vec<[&'a str; N]>> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let header: Vec<&str> = lines.next()?.split('|').collect();
    let mut at = [0usize; N];
    for (slot, name) in at.iter_mut().zip(wanted) {
        *slot = header.iter().position(|h| *h == name)?;
    }
    Some(
        lines
            .filter(|l| !l.starts_with("+OK") && !l.starts_with("-ERR"))
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').collect();
                let mut row = [""; N];
                for (value, &column) in row.iter_mut().zip(&at) {
                    *value = cells.get(column)?;
                }
                Some(row)
            })
            .collect(),
    )
}

/// mod_callcenter's tables as the items of a QueueStatus answer, at `now` (epoch seconds): each queue, the
/// callers waiting, the agents; the engine applies either switch's answer alike. A caller is waiting in state
/// `Waiting` or `Trying` (being offered to an agent), and is the call of its `session_uuid` (the
/// `CC-Member-Session-UUID` of its events). An agent is a member of the queues its tiers name unless it is
/// `Logged Out`; `On Break` is paused, with that status as its reason. Err names the table that is not one.
pub fn callcenter_status<'a>(cc: &Callcenter<'a>, now: f64) -> Result<Vec<StatusItem<'a>>, String> {
    let mut status = Vec::new();
    for &(queue, members) in cc.queues {
        status.push(StatusItem::Queue(queue));
        let rows = table_rows(
            members,
            ["session_uuid", "cid_number", "joined_epoch", "state"],
        )
        .ok_or_else(|| {
            format!("the members of {queue:?} are not a mod_callcenter members table")
        })?;
        for [call, caller, joined, state] in rows {
            if !matches!(state, "Waiting" | "Trying") || call.is_empty() {
                continue;
            }
            let wait = joined
                .parse::<f64>()
                .ok()
                .filter(|j| *j > 0.0)
                .map_or(0.0, |j| (now - j).max(0.0));
            status.push(StatusItem::Entry {
                queue,
                call,
                caller,
                wait,
            });
        }
    }
    let agents = table_rows(cc.agents, ["name", "status"])
        .ok_or("the agent list is not a mod_callcenter agent table")?;
    let tiers = table_rows(cc.tiers, ["queue", "agent"])
        .ok_or("the tier list is not a mod_callcenter tier table")?;
    for [queue, agent] in tiers {
        let Some([_, agent_status]) = agents.iter().find(|[name, _]| *name == agent) else {
            continue;
        };
        if *agent_status == "Logged Out" || !cc.queues.iter().any(|(q, _)| *q == queue) {
            continue;
        }
        let paused = *agent_status == "On Break";
        status.push(StatusItem::Member {
            queue,
            agent,
            paused,
            reason: if paused { agent_status } else { "" },
        });
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `text/event-plain` message around `headers` (values URL-encoded as FreeSWITCH does).
    pub(crate) fn message(headers: &[(&str, &str)]) -> String {
        let mut body = String::new();
        for (k, v) in headers {
            let v = v
                .replace('%', "%25")
                .replace(' ', "%20")
                .replace(':', "%3A");
            body.push_str(&format!("{k}: {v}\n"));
        }
        body.push('\n');
        format!(
            "Content-Length: {}\nContent-Type: text/event-plain\n\n{body}",
            body.len()
        )
    }

    fn cc(action: &str, us: u64, more: &[(&str, &str)]) -> String {
        let ts = us.to_string();
        let mut h = vec![
            ("Event-Name", "CUSTOM"),
            ("Core-UUID", "6d0c9a3e-0000"),
            ("Event-Date-Local", "2024-01-01 12:00:00"),
            ("Event-Date-Timestamp", ts.as_str()),
            ("Event-Subclass", "callcenter::info"),
            ("CC-Action", action),
        ];
        h.extend_from_slice(more);
        message(&h)
    }

    /// What each finished message became, as text (events borrow the builder while it reads on).
    fn frames(text: &str) -> Vec<String> {
        let mut b = FrameBuilder::default();
        let mut out = Vec::new();
        let mut lines: Vec<&str> = text.split('\n').collect();
        // A final newline ends the last line; it is not an empty line of its own.
        if text.ends_with('\n') {
            lines.pop();
        }
        for l in lines {
            out.extend(b.push(l.as_bytes(), 65536).map(|f| show(&f)));
        }
        out.extend(b.finish(65536).map(|f| show(&f)));
        out
    }

    fn show(f: &FsFrame<'_>) -> String {
        match f {
            FsFrame::Event(e) => format!(
                "{:?} {} {} {} {} {} {}",
                e.kind, e.ts, e.call, e.queue, e.agent, e.caller, e.detail
            ),
            FsFrame::AgentStatus(e, queues) => {
                format!("{:?} {} {} {queues:?}", e.kind, e.agent, e.detail)
            }
            FsFrame::Rejected(r, _) => r.as_str().to_string(),
            other => format!("{other:?}"),
        }
    }

    const SESSION_UUID: (&str, &str) = ("CC-Member-Session-UUID", "u1");

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// The messages of any stream map the same read whole where they can be as read line by line, and
        /// take the same lines.
        #[test]
        fn a_message_read_whole_maps_as_read_line_by_line(
            parts in proptest::collection::vec(
                (0u8..12, proptest::collection::vec(proptest::sample::select(&BODY_LINES[..]), 0..6),
                 proptest::sample::select(vec!["\n", "\r\n"]), -2i8..3),
                0..8,
            ),
            max in proptest::sample::select(vec![40usize, 100, 65536]),
        ) {
            let text: String = parts.iter().map(|(kind, lines, eol, delta)| part(*kind, lines, eol, *delta)).collect();
            let by_line = {
                let mut b = FrameBuilder::default();
                let mut out = Vec::new();
                for l in text.split_terminator('\n') {
                    out.extend(b.push(l.as_bytes(), max).map(|f| show(&f)));
                }
                out.extend(b.finish(max).map(|f| show(&f)));
                out
            };
            let (whole, counted) = frames_fast(&text, max);
            proptest::prop_assert_eq!(whole, by_line, "{:?}", text);
            proptest::prop_assert_eq!(counted, text.split_terminator('\n').count() as u64);
        }
    }

    /// What each finished message became, read as the engine reads a chunk: whole messages in place where
    /// `message` takes them, the rest line by line; and the lines taken.
    fn frames_fast(text: &str, max: usize) -> (Vec<String>, u64) {
        let mut b = FrameBuilder::default();
        let (mut out, mut lines, mut start) = (Vec::new(), 0, 0);
        while start < text.len() {
            if let Some(w) = b.message(&text[start..], max) {
                out.push(show(&w.frame));
                lines += w.lines;
                start += w.len;
                continue;
            }
            let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            lines += 1;
            out.extend(b.push(&text.as_bytes()[start..end], max).map(|f| show(&f)));
            start = end + 1;
        }
        out.extend(b.finish(max).map(|f| show(&f)));
        (out, lines)
    }

    /// Event header lines, the usual and the awkward, for messages built at random.
    const BODY_LINES: [&str; 25] = [
        "Event-Name: CUSTOM",
        "Event-Subclass: callcenter%3A%3Ainfo",
        "Event-Date-Timestamp: 1700000000250000",
        "Event-Date-Timestamp: junk",
        "CC-Action: member-queue-start",
        "CC-Action: bridge-agent-start",
        "CC-Action: member-queue-end",
        "CC-Action: agent-status-change",
        "CC-Queue: support",
        "CC-Queue:",
        "  CC-Queue  :  sales ",
        "CC-Queue: caf%C3%A9",
        "CC-Queue: bad%FF",
        "CC-Member-Session-UUID: u1",
        "CC-Member-CID-Number: 0600111222",
        "CC-Agent: PJSIP%2F2010",
        "CC-Agent: Zoë\u{b}",
        "CC-Cause: Cancel",
        "CC-Cancel-Reason: TIMEOUT",
        "CC-Agent-Status: On Break",
        "Caller-Username: 600111222",
        "Core-UUID: 2f6e4a50",
        "no colon on this line",
        ": no name",
        "",
    ];

    /// Whole messages and other input, for streams built at random.
    fn part(kind: u8, lines: &[&str], eol: &str, delta: i8) -> String {
        // Kinds 8 and up: an event that maps, its random lines after its own (perhaps overriding them).
        const EVENT: [&str; 6] = [
            "Event-Name: CUSTOM",
            "Event-Subclass: callcenter%3A%3Ainfo",
            "Event-Date-Timestamp: 1700000000250000",
            "CC-Action: member-queue-start",
            "CC-Queue: support",
            "CC-Member-Session-UUID: u1",
        ];
        let lines: Vec<&str> = match kind {
            8.. => EVENT
                .iter()
                .chain(lines.iter().filter(|l| !l.is_empty()))
                .copied()
                .collect(),
            _ => lines.to_vec(),
        };
        let (kind, delta) = if kind >= 8 { (0, 0) } else { (kind, delta) };
        let mut body: String = lines.iter().map(|l| format!("{l}{eol}")).collect();
        match kind {
            // A plain event message, or one whose body ends without its blank line.
            0 | 1 => {
                if kind == 0 {
                    body.push_str(eol);
                }
                let n = (body.len() as i64 + i64::from(delta)).max(0);
                format!("Content-Length: {n}{eol}Content-Type: text/event-plain{eol}{eol}{body}")
            }
            2 => format!("Content-Type: text/event-plain{eol}Reply-Text: x{eol}Content-Length: {}{eol}{eol}{body}", body.len()),
            3 => format!("Content-Type: command/reply{eol}Reply-Text: +OK accepted{eol}{eol}"),
            4 => format!("Content-Type: api/response{eol}Content-Length: {}{eol}{eol}{body}", body.len()),
            5 => format!("Content-Length: 1%30{eol}Content-Type: text/event-plain{eol}{eol}{body}"),
            6 => format!("{body}{eol}"),
            _ => eol.to_string(),
        }
    }

    #[test]
    fn a_queue_call_maps_onto_the_engine_events() {
        let text = [
            "Content-Type: auth/request\n\n".to_string(),
            "Content-Type: command/reply\nReply-Text: +OK accepted\n\n".into(),
            cc(
                "member-queue-start",
                100_500_000,
                &[
                    ("CC-Queue", "sales@default"),
                    SESSION_UUID,
                    ("CC-Member-CID-Number", "600111222"),
                ],
            ),
            cc(
                "agent-offering",
                101_000_000,
                &[
                    ("CC-Queue", "sales@default"),
                    ("CC-Agent", "1000@default"),
                    SESSION_UUID,
                ],
            ),
            "Content-Type: api/response\nContent-Length: 11\n\nUP 0 years\n".into(),
            cc(
                "bridge-agent-start",
                110_000_000,
                &[
                    ("CC-Queue", "sales@default"),
                    ("CC-Agent", "1000@default"),
                    SESSION_UUID,
                ],
            ),
            cc(
                "members-count",
                110_000_000,
                &[("CC-Queue", "sales@default"), ("CC-Count", "0")],
            ),
            cc(
                "agent-status-change",
                120_000_000,
                &[
                    ("CC-Agent", "1000@default"),
                    ("CC-Agent-Status", "On Break"),
                ],
            ),
            message(&[("Event-Name", "HEARTBEAT"), ("Event-Date-Timestamp", "1")]),
        ]
        .concat();
        assert_eq!(
            frames(&text),
            [
                "Skip",
                "Skip",
                "Enter 100.5 u1 sales@default  600111222 ",
                "Ring 101 u1 sales@default 1000@default  ",
                "Skip",
                "Answer 110 u1 sales@default 1000@default  ",
                "Other 110  sales@default   ",
                "AgentPause 1000@default On Break [\"sales@default\"]",
                "Unknown",
            ]
        );
    }

    #[test]
    fn member_queue_end_gives_the_outcome_by_cause_and_reason() {
        let end = |more: &[(&str, &str)]| {
            let mut h = vec![("CC-Queue", "q"), SESSION_UUID];
            h.extend_from_slice(more);
            frames(&cc("member-queue-end", 5_000_000, &h))
                .join("")
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_string()
        };
        let cancel =
            |reason: &'static str| end(&[("CC-Cause", "Cancel"), ("CC-Cancel-Reason", reason)]);
        assert_eq!(
            end(&[("CC-Cause", "Terminated"), ("CC-Agent", "a")]),
            "BridgeEnd"
        );
        assert_eq!(cancel("NONE"), "Abandon");
        assert_eq!(cancel("TIMEOUT"), "Timeout");
        assert_eq!(cancel("NO_AGENT_TIMEOUT"), "ExitEmpty");
        assert_eq!(cancel("EXIT_WITH_KEY"), "ExitKey");
        // BREAK_OUT: the caller hung up, or the dialplan took a caller still on the line elsewhere.
        assert_eq!(cancel("BREAK_OUT"), "Abandon");
        let out = |state| {
            end(&[
                ("CC-Cause", "Cancel"),
                ("CC-Cancel-Reason", "BREAK_OUT"),
                ("Answer-State", state),
            ])
        };
        assert_eq!(out("hangup"), "Abandon");
        assert_eq!(out("answered"), "ExitKey");
        assert_eq!(cancel("SOMETHING_NEW"), "bad_field");
        assert_eq!(end(&[]), "missing_field");
    }

    #[test]
    fn values_are_url_decoded_and_other_subclasses_are_unknown() {
        let text = message(&[
            ("Event-Name", "CUSTOM"),
            ("Event-Subclass", "callcenter::info"),
            ("Event-Date-Timestamp", "7000000"),
            ("CC-Action", "member-queue-start"),
            ("CC-Queue", "support: 2nd line"),
            SESSION_UUID,
        ]);
        assert!(text.contains("support%3A%202nd%20line"));
        assert_eq!(frames(&text), ["Enter 7 u1 support: 2nd line   "]);
        let other = message(&[
            ("Event-Name", "CUSTOM"),
            ("Event-Subclass", "sofia::register"),
            ("Event-Date-Timestamp", "7000000"),
        ]);
        assert_eq!(frames(&other), ["Unknown"]);
    }

    #[test]
    fn an_event_without_its_timestamp_is_bad_timestamp() {
        let text = message(&[
            ("Event-Name", "CUSTOM"),
            ("Event-Subclass", "callcenter::info"),
            ("CC-Action", "member-queue-start"),
            ("CC-Queue", "q"),
            SESSION_UUID,
        ]);
        assert_eq!(frames(&text), ["bad_timestamp"]);
    }

    #[test]
    fn bodies_are_skipped_by_their_length_not_parsed() {
        // An api/response body that looks like headers, and one that does not end with a newline: the next
        // message starts right after it on the same line.
        let text = [
            "Content-Type: api/response\nContent-Length: 32\n\nEvent-Name: CUSTOM\nnot a header\n"
                .to_string(),
            "Content-Type: api/response\nContent-Length: 3\n\n+OK".into(),
            cc(
                "member-queue-start",
                1_000_000,
                &[("CC-Queue", "q"), SESSION_UUID],
            ),
        ]
        .concat();
        assert_eq!(frames(&text), ["Skip", "Skip", "Enter 1 u1 q   "]);
    }

    #[test]
    fn bad_messages_are_one_rejection_each_and_the_next_message_counts() {
        let ok = cc(
            "member-queue-start",
            1_000_000,
            &[("CC-Queue", "q"), SESSION_UUID],
        );
        let text = [
            "garbage without a colon\nmore garbage\n\n".to_string(),
            ok.clone(),
            // Garbage running straight into the next envelope: it starts again at its Content-Length.
            "\u{1}\u{2} junk\n".into(),
            ok.clone(),
            "Content-Length: many\nContent-Type: text/event-plain\n\n".into(),
            ok.clone(),
            "Event-Name: CUSTOM\nEvent-Subclass: callcenter::info\n\n".into(),
            ok,
        ]
        .concat();
        let got = frames(&text);
        assert_eq!(
            got,
            [
                "bad_frame",
                "Enter 1 u1 q   ",
                "bad_frame",
                "Enter 1 u1 q   ",
                "bad_frame",
                "Enter 1 u1 q   ",
                "missing_field",
                "Enter 1 u1 q   ",
            ]
        );
    }

    #[test]
    fn a_message_cut_short_is_one_bad_frame() {
        let ok = cc(
            "member-queue-start",
            1_000_000,
            &[("CC-Queue", "q"), SESSION_UUID],
        );
        let cut = &ok[..ok.len() - 20];
        assert_eq!(frames(cut), ["bad_frame"]);
        assert_eq!(frames("Content-Length: 10\n\n"), ["bad_frame"]);
    }

    #[test]
    fn a_bare_event_block_is_read_without_an_envelope() {
        let text =
            "Event-Name: CUSTOM\nEvent-Subclass: callcenter::info\nEvent-Date-Timestamp: 2000000\n\
                    CC-Action: member-queue-start\nCC-Queue: q\nCC-Member-Session-UUID: u1\n\n";
        assert_eq!(frames(text), ["Enter 2 u1 q   "]);
    }

    #[test]
    fn an_over_long_header_is_one_bad_frame_and_its_bytes_still_count() {
        let ok = cc(
            "member-queue-start",
            1_000_000,
            &[("CC-Queue", "q"), SESSION_UUID],
        );
        let mut b = FrameBuilder::default();
        let mut got = Vec::new();
        let long = 100_000;
        let body_len = ok.len() - ok.find("\n\n").unwrap_or(0) - 2 + long + 1;
        let head = format!("Content-Length: {body_len}\nContent-Type: text/event-plain\n\n");
        for l in head.lines() {
            got.extend(b.push(l.as_bytes(), 4096).map(|f| show(&f)));
        }
        got.extend(b.push(b"", 4096).map(|f| show(&f)));
        got.extend(b.push_dropped(long, 4096).map(|f| show(&f)));
        let body = &ok[ok.find("\n\n").unwrap_or(0) + 2..];
        for l in body.split_terminator('\n') {
            got.extend(b.push(l.as_bytes(), 4096).map(|f| show(&f)));
        }
        for l in ok.split_terminator('\n') {
            got.extend(b.push(l.as_bytes(), 4096).map(|f| show(&f)));
        }
        assert_eq!(got, ["bad_frame", "Enter 1 u1 q   "]);
    }

    #[test]
    fn agents_status_applies_to_the_queues_the_agent_serves() {
        let text = [
            cc(
                "bridge-agent-fail",
                1_000_000,
                &[("CC-Queue", "sales"), ("CC-Agent", "a1"), SESSION_UUID],
            ),
            cc(
                "agent-offering",
                2_000_000,
                &[("CC-Queue", "support"), ("CC-Agent", "a1"), SESSION_UUID],
            ),
            cc(
                "agent-status-change",
                3_000_000,
                &[
                    ("CC-Agent", "a1"),
                    ("CC-Agent-Status", "Available (On Demand)"),
                ],
            ),
            cc(
                "agent-status-change",
                4_000_000,
                &[("CC-Agent", "a2"), ("CC-Agent-Status", "Logged Out")],
            ),
        ]
        .concat();
        let got = frames(&text);
        assert_eq!(got[2], "AgentUnpause a1  [\"sales\", \"support\"]");
        assert_eq!(got[3], "AgentLogoff a2  []");
    }

    #[test]
    fn callcenter_tables_read_as_a_status_answer() {
        let support = "queue|instance_id|uuid|session_uuid|cid_number|cid_name|system_epoch|joined_epoch|rejoined_epoch|bridge_epoch|abandoned_epoch|base_score|skill_score|serving_agent|serving_system|state|score\n\
            support|single_box|m1|s-waiting|600111222|A|0|1000|0|0|0|0|0|||Waiting|0\n\
            support|single_box|m2|s-trying|600333444|B|0|1010|0|0|0|0|0|agent1|single_box|Trying|0\n\
            support|single_box|m3|s-answered|600555666|C|0|900|0|950|0|0|0|agent2|single_box|Answered|0\n\
            +OK\n";
        let sales = "queue|instance_id|uuid|session_uuid|cid_number|cid_name|system_epoch|joined_epoch|rejoined_epoch|bridge_epoch|abandoned_epoch|base_score|skill_score|serving_agent|serving_system|state|score\n+OK\n";
        let tiers = "queue|agent|state|level|position\nsupport|agent1|Ready|1|1\nsupport|agent2|Ready|1|2\nsales|agent3|Ready|1|1\nsales|agent1|Ready|2|1\n+OK\n";
        let agents = "name|instance_id|uuid|type|contact|status|state|max_no_answer\n\
            agent1|single_box||callback|user/1000|Available|Waiting|3\n\
            agent2|single_box||callback|user/1001|On Break|Waiting|3\n\
            agent3|single_box||callback|user/1002|Logged Out|Waiting|3\n+OK\n";
        let queues = [("support", support), ("sales", sales)];
        let cc = Callcenter {
            queues: &queues,
            tiers,
            agents,
        };
        let Ok(status) = callcenter_status(&cc, 1030.0) else {
            panic!("the tables are mod_callcenter's")
        };
        let member = |queue, agent, paused, reason| StatusItem::Member {
            queue,
            agent,
            paused,
            reason,
        };
        let entry = |call, caller, wait| StatusItem::Entry {
            queue: "support",
            call,
            caller,
            wait,
        };
        assert_eq!(
            status,
            [
                StatusItem::Queue("support"),
                entry("s-waiting", "600111222", 30.0),
                entry("s-trying", "600333444", 20.0),
                StatusItem::Queue("sales"),
                member("support", "agent1", false, ""),
                member("support", "agent2", true, "On Break"),
                member("sales", "agent1", false, ""),
            ]
        );
        let wrong = [("support", "-ERR no such queue\n")];
        let bad = Callcenter {
            queues: &wrong,
            tiers,
            agents,
        };
        assert!(callcenter_status(&bad, 1030.0).is_err());
    }

    proptest::proptest! {
        /// Runs copied whole decode as byte by byte does.
        #[test]
        fn url_decoding_by_runs_is_byte_by_byte(text in "([a-zA-Z0-9:/ ]|%[0-9a-fA-FgG%]{0,2}){0,12}") {
            let mut reference = Vec::new();
            let b = text.as_bytes();
            let mut i = 0;
            while let Some(&c) = b.get(i) {
                let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
                match (c, hex(i + 1), hex(i + 2)) {
                    (b'%', Some(hi), Some(lo)) => { reference.push((hi * 16 + lo) as u8); i += 3; }
                    _ => { reference.push(c); i += 1; }
                }
            }
            let (mut out, mut scratch) = (String::new(), Vec::new());
            let ok = url_decode(&mut out, &mut scratch, &text);
            proptest::prop_assert_eq!(ok, std::str::from_utf8(&reference).is_ok());
            if ok {
                proptest::prop_assert_eq!(out.as_bytes(), reference.as_slice());
            }
        }

        /// The ASCII trim of header keys and values is `str::trim`'s, vertical tab included.
        #[test]
        fn ascii_trim_is_str_trim(text in "[ \t\n\x0b\x0c\ra-z:%-]{0,12}") {
            proptest::prop_assert_eq!(trim_whitespace(text.as_bytes()), text.trim().as_bytes());
        }

        #[test]
        fn any_lines_never_panic(lines in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..60), 0..40)) {
            let mut b = FrameBuilder::default();
            for l in &lines {
                let _ = b.push(l, 1000);
                if l.len() == 7 {
                    let _ = b.push_dropped(5000, 1000);
                }
            }
            let _ = b.finish(1000);
        }

        /// Messages with random lengths and bodies, cut into lines anywhere a newline is: the events that come
        /// out are the same as when each message is read whole, and nothing panics.
        #[test]
        fn framing_follows_content_length(
            bodies in proptest::collection::vec(("[a-z: %\n]{0,40}", proptest::bool::ANY), 0..12)
        ) {
            let ok = cc("member-queue-start", 1_000_000, &[("CC-Queue", "q"), SESSION_UUID]);
            let mut text = String::new();
            for (body, event) in &bodies {
                let kind = if *event { "log/data" } else { "api/response" };
                text.push_str(&format!("Content-Type: {kind}\nContent-Length: {}\n\n{body}", body.len()));
                text.push_str(&ok);
            }
            let got = frames(&text);
            let enters = got.iter().filter(|f| f.starts_with("Enter")).count();
            proptest::prop_assert_eq!(enters, bodies.len());
            proptest::prop_assert!(got.iter().all(|f| f == "Skip" || f.starts_with("Enter")));
        }
    }
}
