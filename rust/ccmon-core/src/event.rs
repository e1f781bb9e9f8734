//! The event model every source format is parsed into, and the bounded set of reasons a line is rejected.

/// What happened, in the engine's own words. One source event maps to at most one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A call entered a queue (queue_log ENTERQUEUE): starts an entry.
    Enter,
    /// An agent picked up (CONNECT): outcome `answered`.
    Answer,
    /// Caller hung up while waiting (ABANDON). `detail`, when a source gives it (AMI `HoldTime`), is the wait in
    /// seconds: the engine then counts the entry even if it never heard the caller join.
    Abandon,
    /// Queue timeout sent the caller elsewhere (EXITWITHTIMEOUT).
    Timeout,
    /// Caller pressed a key to leave (EXITWITHKEY).
    ExitKey,
    /// No agents, caller sent elsewhere (EXITEMPTY).
    ExitEmpty,
    /// Talk ended and the call is over (COMPLETECALLER, COMPLETEAGENT).
    TalkEnd,
    /// Talk ended, and the call is over unless it enters a queue again soon, which makes the end a transfer
    /// (FreeSWITCH: mod_callcenter reports an agent's transfer as the bridge ending, like a hang-up).
    BridgeEnd,
    /// The caller left the queue (AMI QueueCallerLeave), which says neither why nor whether an answer follows:
    /// Asterisk sends it just before AgentConnect, after QueueCallerAbandon, and alone when the caller timed
    /// out or left by key or because the queue emptied. Alone means a timeout (see the engine).
    Leave,
    /// The call was transferred out of the queue (TRANSFER, BLINDTRANSFER, ATTENDEDTRANSFER); ends talk.
    Transfer,
    /// Music on hold started for the caller (JSON `moh_start`, AMI MusicOnHoldStart), in `class`; a start while
    /// music plays switches class.
    MohStart,
    /// Music on hold stopped (JSON `moh_stop`, AMI MusicOnHoldStop).
    MohStop,
    /// An agent's phone started ringing for a call (queue_log RINGING, JSON `ring`).
    Ring,
    /// It stopped ringing unanswered (RINGNOANSWER, RINGCANCELED, JSON `ring_noanswer`).
    RingEnd,
    /// An agent joined a queue (ADDMEMBER, AGENTLOGIN, JSON `agent_login`).
    AgentLogin,
    /// An agent left a queue, or all its queues when none is named (REMOVEMEMBER, AGENTLOGOFF).
    AgentLogoff,
    /// An agent paused, with the reason in `detail` (PAUSE, PAUSEALL, JSON `agent_pause`).
    AgentPause,
    /// An agent unpaused (UNPAUSE, UNPAUSEALL, JSON `agent_unpause`).
    AgentUnpause,
    /// A known event that carries nothing the queue statistics use (RINGNOANSWER, QUEUESTART, PAUSE, ...).
    Other,
}

/// An event whose text is owned, or borrowed where the source allows (JSON lines, AMI frames): the engine's
/// view of it is [`OwnedEvent::event`]. `I` is the source's event id, if it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedEvent<'a, I> {
    pub ts: f64,
    pub kind: Kind,
    pub call: std::borrow::Cow<'a, str>,
    pub queue: std::borrow::Cow<'a, str>,
    pub agent: std::borrow::Cow<'a, str>,
    pub caller: std::borrow::Cow<'a, str>,
    /// As [`Event::detail`].
    pub detail: std::borrow::Cow<'a, str>,
    pub id: Option<I>,
    /// The site the event says it belongs to (JSON lines' `site`); empty when it does not say.
    pub site: std::borrow::Cow<'a, str>,
}

impl<I> OwnedEvent<'_, I> {
    pub fn event(&self) -> Event<'_> {
        Event {
            ts: self.ts,
            call: self.call.as_bytes(),
            queue: self.queue.as_bytes(),
            agent: self.agent.as_bytes(),
            kind: self.kind,
            caller: self.caller.as_bytes(),
            detail: self.detail.as_bytes(),
        }
    }
}

impl Kind {
    /// Events about a call in a queue: a queue_log line of one needs both a call id and a queue. (Ring
    /// events need only the agent and the queue there.)
    pub fn is_call_event(self) -> bool {
        matches!(
            self,
            Kind::Enter
                | Kind::Answer
                | Kind::Abandon
                | Kind::Timeout
                | Kind::ExitKey
                | Kind::ExitEmpty
                | Kind::TalkEnd
                | Kind::BridgeEnd
                | Kind::Transfer
                | Kind::Leave
        )
    }
}

/// One parsed event, borrowing from the input line. Text fields are bytes already checked to be UTF-8, so the
/// hot path never converts them; names become `String`s only when a new queue first appears.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event<'a> {
    /// Event time, seconds since the Unix epoch (UTC).
    pub ts: f64,
    pub call: &'a [u8],
    pub queue: &'a [u8],
    pub agent: &'a [u8],
    pub kind: Kind,
    /// The calling number, where the event carries it (ENTERQUEUE's data2).
    pub caller: &'a [u8],
    /// The hold-music class of a `MohStart` (empty: the default class), the reason of an `AgentPause`.
    pub detail: &'a [u8],
}

/// Why a line was rejected. A fixed set, so it can be a Prometheus label (`reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    TooFewFields,
    BadTimestamp,
    InvalidUtf8,
    LineTooLong,
    NulByte,
    MissingField,
    /// A queue name beyond `max_queues`: a corrupted log must not grow per-queue state without bound.
    TooManyQueues,
    /// JSON lines: not one JSON object.
    InvalidJson,
    /// JSON lines: a field of the wrong type or value.
    BadField,
    /// AMI: a frame with a line that is not `Key: Value`, or too big.
    BadFrame,
    /// The engine failed on the input (a bug in ccmon): the rest of that chunk was dropped, and the source
    /// goes on from the next one ([`crate::Engine::feed`]).
    InternalError,
}

impl RejectReason {
    pub const ALL: [RejectReason; 11] = [
        RejectReason::TooFewFields,
        RejectReason::BadTimestamp,
        RejectReason::InvalidUtf8,
        RejectReason::LineTooLong,
        RejectReason::NulByte,
        RejectReason::MissingField,
        RejectReason::TooManyQueues,
        RejectReason::InvalidJson,
        RejectReason::BadField,
        RejectReason::BadFrame,
        RejectReason::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooFewFields => "too_few_fields",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::LineTooLong => "line_too_long",
            RejectReason::NulByte => "nul_byte",
            RejectReason::MissingField => "missing_field",
            RejectReason::TooManyQueues => "too_many_queues",
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::BadField => "bad_field",
            RejectReason::BadFrame => "bad_frame",
            RejectReason::InternalError => "internal_error",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The result of parsing one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Parsed<'a> {
    Event(Event<'a>),
    /// Empty or whitespace-only: skipped, not counted.
    Blank,
    /// Well-formed but an event name we do not know: ignored and counted as unknown.
    Unknown,
    Rejected(RejectReason),
}
