//! Asterisk Manager Interface (SPEC §7): frames of `Key: Value` lines, each ended by a blank line.
//!
//! Frames are built line by line (a source's lines may arrive split anywhere), bounded in size, and mapped onto
//! the engine's events; calls are tied together by `Linkedid`, so the legs of a transferred call stay one
//! call. Event times come from the `Timestamp` header (`timestampevents = yes` in manager.conf).
//!
//! | AMI event | engine event |
//! |---|---|
//! | QueueCallerJoin | enter (`Queue`, caller `CallerIDNum`) |
//! | AgentConnect / QueueCallerAbandon / AgentComplete | answer / abandon / talk end (`MemberName`) |
//! | BlindTransfer, AttendedTransfer | transfer of the transferee's call, from the queue it is in |
//! | MusicOnHoldStart (`Class`) / MusicOnHoldStop | music on hold |
//! | AgentCalled / AgentRingNoAnswer | ring / ring end |
//! | QueueMemberAdded / QueueMemberRemoved / QueueMemberPause | agent login / logoff / pause (`Paused`, `PausedReason`) |

use crate::event::{Kind, OwnedEvent, RejectReason};

/// Headers kept per frame; more make the frame a `bad_frame`.
const MAX_HEADERS: usize = 128;

/// A frame being read.
#[derive(Debug, Default, Clone)]
pub struct FrameBuilder {
    fields: Vec<(String, String)>,
    bytes: usize,
    problem: Option<String>,
}

/// One finished frame, mapped.
#[derive(Debug, Clone, PartialEq)]
pub enum AmiFrame {
    Event(AmiEvent),
    /// Not an event (an action's response, the banner): nothing to count.
    Skip,
    /// An event ccmon does not use.
    Unknown,
    Rejected(RejectReason, String),
}

/// An event from a frame; it owns its text (a frame spans lines, and lines chunks). AMI has no event ids.
pub type AmiEvent = OwnedEvent<'static, ()>;

impl FrameBuilder {
    /// Takes one line (without its newline). A blank line ends the frame: it is returned mapped.
    /// `max_bytes` bounds a frame.
    pub fn push(&mut self, line: &[u8], max_bytes: usize) -> Option<AmiFrame> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            if self.fields.is_empty() && self.problem.is_none() {
                return None;
            }
            let frame = match self.problem.take() {
                Some(why) => AmiFrame::Rejected(RejectReason::BadFrame, why),
                None => map(&self.fields),
            };
            self.fields.clear();
            self.bytes = 0;
            return Some(frame);
        }
        if self.problem.is_some() {
            return None;
        }
        self.bytes += line.len();
        let Ok(text) = std::str::from_utf8(line) else {
            self.problem = Some("a header is not UTF-8".into());
            return None;
        };
        if self.bytes > max_bytes || self.fields.len() >= MAX_HEADERS {
            self.problem = Some(format!(
                "frame over {max_bytes} bytes or {MAX_HEADERS} headers"
            ));
            self.fields.clear();
            return None;
        }
        match text.split_once(':') {
            Some((key, value)) => self
                .fields
                .push((key.trim().to_string(), value.trim().to_string())),
            // The banner a manager sends on connect is a line of its own, not a header.
            None if self.fields.is_empty() && text.starts_with("Asterisk Call Manager") => {}
            None => {
                let shown: String = text.chars().take(40).collect();
                self.problem = Some(format!("not a `Key: Value` line: {shown:?}"));
            }
        }
        None
    }

    /// The input ended: a frame without its closing blank line still counts.
    pub fn finish(&mut self, max_bytes: usize) -> Option<AmiFrame> {
        self.push(b"", max_bytes)
    }
}

fn get<'f>(fields: &'f [(String, String)], key: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// The first of `keys` the frame has.
fn first<'f>(fields: &'f [(String, String)], keys: &[&str]) -> &'f str {
    keys.iter().find_map(|k| get(fields, k)).unwrap_or("")
}

fn map(fields: &[(String, String)]) -> AmiFrame {
    let Some(name) = get(fields, "Event") else {
        return AmiFrame::Skip;
    };
    let kind = match name {
        "QueueCallerJoin" => Kind::Enter,
        "AgentConnect" => Kind::Answer,
        "QueueCallerAbandon" => Kind::Abandon,
        "AgentComplete" => Kind::TalkEnd,
        "BlindTransfer" | "AttendedTransfer" => Kind::Transfer,
        "MusicOnHoldStart" => Kind::MohStart,
        "MusicOnHoldStop" => Kind::MohStop,
        "AgentCalled" => Kind::Ring,
        "AgentRingNoAnswer" => Kind::RingEnd,
        "QueueMemberAdded" => Kind::AgentLogin,
        "QueueMemberRemoved" => Kind::AgentLogoff,
        "QueueMemberPause" if get(fields, "Paused") == Some("0") => Kind::AgentUnpause,
        "QueueMemberPause" => Kind::AgentPause,
        "QueueCallerLeave" | "Hangup" | "Hold" | "Unhold" | "AgentDump" | "QueueMemberStatus" => {
            Kind::Other
        }
        _ => return AmiFrame::Unknown,
    };
    let Some(ts) = get(fields, "Timestamp").and_then(|t| t.parse::<f64>().ok()) else {
        return AmiFrame::Rejected(
            RejectReason::BadTimestamp,
            format!(
                "{name} without a Timestamp header (set timestampevents = yes in manager.conf)"
            ),
        );
    };
    if !(0.0..=32_503_680_000.0).contains(&ts) {
        return AmiFrame::Rejected(RejectReason::BadTimestamp, format!("Timestamp {ts}"));
    }
    let call = match kind {
        // The transferee is the caller whose journey goes on.
        Kind::Transfer => first(
            fields,
            &[
                "TransfereeLinkedid",
                "OrigTransfererLinkedid",
                "TransfererLinkedid",
                "Linkedid",
            ],
        ),
        _ => first(fields, &["Linkedid", "Uniqueid"]),
    };
    let queue = first(fields, &["Queue"]);
    let needs_call =
        kind.is_call_event() || matches!(kind, Kind::MohStart | Kind::MohStop | Kind::Ring);
    // A transfer names no queue: it applies to the queue the call is in.
    if needs_call && call.is_empty() {
        return AmiFrame::Rejected(
            RejectReason::MissingField,
            format!("{name} without Linkedid"),
        );
    }
    if kind.is_call_event() && kind != Kind::Transfer && queue.is_empty() {
        return AmiFrame::Rejected(RejectReason::MissingField, format!("{name} without Queue"));
    }
    let owned = |s: &str| std::borrow::Cow::Owned(s.to_string());
    AmiFrame::Event(AmiEvent {
        ts,
        kind,
        call: owned(call),
        queue: owned(queue),
        agent: owned(first(
            fields,
            &["MemberName", "Interface", "StateInterface"],
        )),
        caller: owned(if kind == Kind::Enter {
            first(fields, &["CallerIDNum"])
        } else {
            ""
        }),
        detail: owned(match kind {
            Kind::MohStart => first(fields, &["Class"]),
            Kind::AgentPause => first(fields, &["PausedReason", "Reason"]),
            _ => "",
        }),
        id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(text: &str) -> Vec<AmiFrame> {
        let mut b = FrameBuilder::default();
        let mut out: Vec<AmiFrame> = text
            .split('\n')
            .filter_map(|l| b.push(l.as_bytes(), 65536))
            .collect();
        out.extend(b.finish(65536));
        out
    }

    #[test]
    fn a_queue_call_maps_onto_the_engine_events() {
        let text = "Asterisk Call Manager/5.0.1\r\n\r\n\
            Event: QueueCallerJoin\r\nTimestamp: 100.5\r\nQueue: sales\r\nLinkedid: L1\r\nUniqueid: U1\r\nCallerIDNum: 600111222\r\n\r\n\
            Event: AgentConnect\r\nTimestamp: 110\r\nQueue: sales\r\nLinkedid: L1\r\nMemberName: Alice\r\nInterface: SIP/100\r\n\r\n\
            Response: Success\r\nPing: Pong\r\n\r\n\
            Event: AttendedTransfer\r\nTimestamp: 150\r\nOrigTransfererLinkedid: L1\r\nTransfereeLinkedid: L1\r\n\r\n\
            Event: MusicOnHoldStart\r\nTimestamp: 151\r\nLinkedid: L1\r\nClass: jazz\r\n\r\n\
            Event: Newchannel\r\nTimestamp: 152\r\n\r\n\
            Event: QueueMemberPause\r\nTimestamp: 153\r\nQueue: sales\r\nMemberName: Alice\r\nPaused: 1\r\nPausedReason: lunch";
        let got = frames(text);
        let kinds: Vec<_> = got
            .iter()
            .map(|f| match f {
                AmiFrame::Event(e) => format!(
                    "{:?} {} {} {} {}",
                    e.kind, e.call, e.queue, e.agent, e.detail
                ),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "Enter L1 sales  ",
                "Answer L1 sales Alice ",
                "Skip",
                "Transfer L1   ",
                "MohStart L1   jazz",
                "Unknown",
                "AgentPause  sales Alice lunch",
            ]
        );
        let AmiFrame::Event(enter) = &got[0] else {
            panic!()
        };
        assert_eq!((enter.ts, enter.caller.as_ref()), (100.5, "600111222"));
    }

    #[test]
    fn bad_frames_are_rejected_with_a_reason_and_the_next_frame_counts() {
        let got = frames(
            "Event: QueueCallerJoin\nQueue: q\nLinkedid: L\n\n\
             garbage without a colon\nEvent: AgentConnect\n\n\
             Event: QueueCallerAbandon\nTimestamp: 5\nLinkedid: L\n\n\
             Event: QueueCallerAbandon\nTimestamp: 5\nQueue: q\nLinkedid: L\n",
        );
        let reasons: Vec<_> = got
            .iter()
            .map(|f| match f {
                AmiFrame::Rejected(r, _) => r.as_str(),
                AmiFrame::Event(_) => "event",
                _ => "other",
            })
            .collect();
        assert_eq!(
            reasons,
            ["bad_timestamp", "bad_frame", "missing_field", "event"]
        );
    }

    #[test]
    fn an_endless_frame_is_bounded() {
        let mut b = FrameBuilder::default();
        for _ in 0..10_000 {
            assert_eq!(b.push(b"X-Header: 0123456789", 4096), None);
        }
        assert!(b.fields.len() <= MAX_HEADERS);
        assert!(matches!(
            b.push(b"", 4096),
            Some(AmiFrame::Rejected(RejectReason::BadFrame, _))
        ));
    }

    proptest::proptest! {
        #[test]
        fn any_lines_never_panic(lines in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..60), 0..40)) {
            let mut b = FrameBuilder::default();
            for l in &lines {
                let _ = b.push(l, 1000);
            }
            let _ = b.finish(1000);
        }
    }
}
