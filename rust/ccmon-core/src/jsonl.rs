//! JSON lines (`jsonl`, SPEC §7): one object per line, for switches and scripts that are neither Asterisk nor
//! FreeSWITCH.
//!
//! ```json
//! {"ts": 1700000000.5, "call": "c1", "type": "enter", "queue": "support", "caller": "+15551234", "id": "e1"}
//! ```
//!
//! `type` says what happened; the fields each type needs are checked here, so a rejection names the field.
//! Fields ccmon does not know are ignored (a producer may send more). The parse is a typed serde
//! deserialization that borrows strings from the line (no allocation unless a string has escapes); only a line
//! that fails is parsed a second time, to find the path of the field at fault.

use std::borrow::Cow;

use serde::Deserialize;

use crate::event::{Event, Kind, RejectReason};

/// What an event type means to the engine, and the fields it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TypeInfo {
    kind: Kind,
    needs_call: bool,
    needs_queue: bool,
    needs_agent: bool,
}

const fn info(kind: Kind, needs_call: bool, needs_queue: bool, needs_agent: bool) -> TypeInfo {
    TypeInfo {
        kind,
        needs_call,
        needs_queue,
        needs_agent,
    }
}

/// SPEC §7's types. The engine acts on the queue events; rings, hold, music on hold, IVR options and agent
/// states are accepted and counted (their figures come with the live-sources work).
const TYPES: [(&str, TypeInfo); 19] = [
    ("enter", info(Kind::Enter, true, true, false)),
    ("ring", info(Kind::Other, true, true, false)),
    ("ring_noanswer", info(Kind::Other, true, true, false)),
    ("answer", info(Kind::Answer, true, true, false)),
    ("talk_end", info(Kind::TalkEnd, true, true, false)),
    ("abandon", info(Kind::Abandon, true, true, false)),
    ("timeout", info(Kind::Timeout, true, true, false)),
    ("exit_key", info(Kind::ExitKey, true, true, false)),
    ("exit_empty", info(Kind::ExitEmpty, true, true, false)),
    ("transfer", info(Kind::Transfer, true, true, false)),
    ("hold_start", info(Kind::Other, true, false, false)),
    ("hold_stop", info(Kind::Other, true, false, false)),
    ("moh_start", info(Kind::Other, true, false, false)),
    ("moh_stop", info(Kind::Other, true, false, false)),
    ("ivr_option", info(Kind::Other, true, false, false)),
    ("agent_login", info(Kind::Other, false, false, true)),
    ("agent_logoff", info(Kind::Other, false, false, true)),
    ("agent_pause", info(Kind::Other, false, false, true)),
    ("agent_unpause", info(Kind::Other, false, false, true)),
];

/// An event's `id`: producers use strings or integers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Id<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Number(u64),
}

/// A string field. serde borrows a `Cow` from the input only when it is a field of its own marked `borrow`
/// (inside an `Option` it would always allocate): hence this wrapper.
#[derive(Debug, Default, Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// The object as written. Every field is optional here so that a missing one is reported by name below.
#[derive(Debug, Default, Deserialize)]
struct Raw<'a> {
    #[serde(default)]
    ts: Option<f64>,
    #[serde(default, borrow, rename = "type")]
    kind: Option<Text<'a>>,
    #[serde(default, borrow)]
    call: Option<Text<'a>>,
    #[serde(default, borrow)]
    queue: Option<Text<'a>>,
    #[serde(default, borrow)]
    agent: Option<Text<'a>>,
    #[serde(default, borrow)]
    caller: Option<Text<'a>>,
    #[serde(default, borrow)]
    id: Option<Id<'a>>,
}

/// A valid event, its strings borrowed from the line where it had no escapes.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonEvent<'a> {
    pub ts: f64,
    pub kind: Kind,
    pub call: Cow<'a, str>,
    pub queue: Cow<'a, str>,
    pub agent: Cow<'a, str>,
    pub caller: Cow<'a, str>,
    pub id: Option<Id<'a>>,
}

impl JsonEvent<'_> {
    /// The engine's view of it.
    pub fn event(&self) -> Event<'_> {
        Event {
            ts: self.ts,
            call: self.call.as_bytes(),
            queue: self.queue.as_bytes(),
            agent: self.agent.as_bytes(),
            kind: self.kind,
            caller: self.caller.as_bytes(),
        }
    }
}

/// The result of parsing one line.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonLine<'a> {
    Event(JsonEvent<'a>),
    /// Empty or whitespace only: skipped.
    Blank,
    /// A well-formed object of a `type` ccmon does not know: ignored and counted as unknown.
    Unknown,
    /// Why, and a message naming the field at fault.
    Rejected(RejectReason, String),
}

/// Latest accepted event time (year 3000), as for queue_log.
const MAX_TS: f64 = 32_503_680_000.0;

/// Parses one line (without its newline). Never panics, whatever the bytes.
///
/// ```
/// use ccmon_core::jsonl::{parse_line, JsonLine};
/// use ccmon_core::event::{Kind, RejectReason};
/// let JsonLine::Event(e) = parse_line(br#"{"ts": 5, "call": "c1", "type": "enter", "queue": "sales"}"#) else { panic!() };
/// assert_eq!((e.kind, e.queue.as_ref(), e.ts), (Kind::Enter, "sales", 5.0));
/// let JsonLine::Rejected(reason, why) = parse_line(br#"{"ts": 5, "call": "c1", "type": "enter"}"#) else { panic!() };
/// assert_eq!((reason, why.as_str()), (RejectReason::MissingField, "field `queue` is required for type \"enter\""));
/// ```
pub fn parse_line(line: &[u8]) -> JsonLine<'_> {
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return JsonLine::Blank,
        // serde would also take an array for a struct (its fields in order): only objects are events.
        Some(b'{') => {}
        Some(_) => {
            return JsonLine::Rejected(RejectReason::InvalidJson, "not a JSON object".into());
        }
    }
    let raw: Raw<'_> = match serde_json::from_slice(line) {
        Ok(raw) => raw,
        Err(_) => return explain(line),
    };
    let Some(name) = raw
        .kind
        .as_ref()
        .map(|t| t.0.as_ref())
        .filter(|t| !t.is_empty())
    else {
        return missing("type", None);
    };
    let Some(&(_, ty)) = TYPES.iter().find(|(n, _)| *n == name) else {
        return JsonLine::Unknown;
    };
    let Some(ts) = raw.ts else {
        return missing("ts", Some(name));
    };
    if !(0.0..=MAX_TS).contains(&ts) {
        return JsonLine::Rejected(
            RejectReason::BadTimestamp,
            format!("field `ts` must be epoch seconds between 0 and year 3000, not {ts}"),
        );
    }
    let given = |f: &Option<Text<'_>>| f.as_ref().is_some_and(|v| !v.0.is_empty());
    for (field, needed, value) in [
        ("call", ty.needs_call, &raw.call),
        ("queue", ty.needs_queue, &raw.queue),
        ("agent", ty.needs_agent, &raw.agent),
    ] {
        if needed && !given(value) {
            return missing(field, Some(name));
        }
    }
    JsonLine::Event(JsonEvent {
        ts,
        kind: ty.kind,
        call: raw.call.unwrap_or_default().0,
        queue: raw.queue.unwrap_or_default().0,
        agent: raw.agent.unwrap_or_default().0,
        caller: raw.caller.unwrap_or_default().0,
        id: raw.id,
    })
}

fn missing<'a>(field: &str, kind: Option<&str>) -> JsonLine<'a> {
    let why = match kind {
        Some(k) => format!("field `{field}` is required for type \"{k}\""),
        None => format!("field `{field}` is required"),
    };
    JsonLine::Rejected(RejectReason::MissingField, why)
}

/// A line serde refused: says whether it is not JSON at all, or which field has the wrong type.
fn explain(line: &[u8]) -> JsonLine<'_> {
    let mut de = serde_json::Deserializer::from_slice(line);
    let err = match serde_path_to_error::deserialize::<_, Raw<'_>>(&mut de) {
        Ok(_) => {
            // Accepted on the second try: only trailing characters can differ (the first parse requires the
            // whole line to be one value).
            return JsonLine::Rejected(
                RejectReason::InvalidJson,
                "not one JSON object: something follows it on the line".into(),
            );
        }
        Err(e) => e,
    };
    let path = err.path().to_string();
    let inner = err.into_inner();
    if path == "." || inner.is_syntax() || inner.is_eof() {
        return JsonLine::Rejected(RejectReason::InvalidJson, format!("invalid JSON: {inner}"));
    }
    JsonLine::Rejected(RejectReason::BadField, format!("field `{path}`: {inner}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(line: &str) -> (RejectReason, String) {
        match parse_line(line.as_bytes()) {
            JsonLine::Rejected(r, why) => (r, why),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn each_type_maps_to_its_engine_kind() {
        for (name, ty) in TYPES {
            let line = format!(
                r#"{{"ts": 1, "type": "{name}", "call": "c", "queue": "q", "agent": "a"}}"#
            );
            let JsonLine::Event(e) = parse_line(line.as_bytes()) else {
                panic!("{name}")
            };
            assert_eq!(e.kind, ty.kind, "{name}");
        }
    }

    #[test]
    fn strings_with_escapes_are_unescaped() {
        let JsonLine::Event(e) = parse_line(
            r#"{"ts": 1, "type": "enter", "call": "c\"1", "queue": "aten\u00e7\u00e3o", "caller": "+34 600"}"#
                .as_bytes(),
        ) else {
            panic!()
        };
        assert_eq!((e.call.as_ref(), e.queue.as_ref()), ("c\"1", "atenção"));
        assert!(matches!(e.call, Cow::Owned(_)));
        assert!(matches!(e.caller, Cow::Borrowed(_)));
    }

    #[test]
    fn ids_may_be_text_or_numbers_and_unknown_fields_are_ignored() {
        let line = r#"{"ts": 1, "type": "ring", "call": "c", "queue": "q", "id": 42, "x-vendor": [1, {"a": 2}]}"#;
        let JsonLine::Event(e) = parse_line(line.as_bytes()) else {
            panic!()
        };
        assert_eq!(e.id, Some(Id::Number(42)));
        let JsonLine::Event(e) =
            parse_line(br#"{"ts": 1, "type": "ring", "call": "c", "queue": "q", "id": "e-1"}"#)
        else {
            panic!()
        };
        assert_eq!(e.id, Some(Id::Text("e-1".into())));
    }

    #[test]
    fn each_rejection_names_the_field() {
        use RejectReason::*;
        let cases = [
            (
                r#"{"ts": 1, "call": "c", "queue": "q"}"#,
                MissingField,
                "field `type` is required",
            ),
            (
                r#"{"type": "enter", "call": "c", "queue": "q"}"#,
                MissingField,
                "field `ts` is required for type \"enter\"",
            ),
            (
                r#"{"ts": 1, "type": "answer", "queue": "q"}"#,
                MissingField,
                "field `call` is required for type \"answer\"",
            ),
            (
                r#"{"ts": 1, "type": "abandon", "call": "c", "queue": ""}"#,
                MissingField,
                "field `queue` is required for type \"abandon\"",
            ),
            (
                r#"{"ts": 1, "type": "agent_pause", "queue": "q"}"#,
                MissingField,
                "field `agent` is required for type \"agent_pause\"",
            ),
            (
                r#"{"ts": -5, "type": "enter", "call": "c", "queue": "q"}"#,
                BadTimestamp,
                "field `ts` must be",
            ),
            (
                r#"{"ts": 1e300, "type": "enter", "call": "c", "queue": "q"}"#,
                BadTimestamp,
                "field `ts` must be",
            ),
            (
                r#"{"ts": "1700000000", "type": "enter", "call": "c", "queue": "q"}"#,
                BadField,
                "field `ts`: invalid type: string",
            ),
            (
                r#"{"ts": 1, "type": "enter", "call": 7, "queue": "q"}"#,
                BadField,
                "field `call`: invalid type: integer",
            ),
            (
                r#"{"ts": 1, "type": "enter", "call": "c", "queue": "q", "id": -1}"#,
                BadField,
                "field `id`",
            ),
            (
                r#"{"ts": 1, "type": "enter""#,
                InvalidJson,
                "invalid JSON: EOF",
            ),
            (
                r#"{"ts": 1, "type": "enter", "call": "\ud800", "queue": "q"}"#,
                InvalidJson,
                "invalid JSON",
            ),
            (r#"[1, 2]"#, InvalidJson, "not a JSON object"),
            (r#"ENTERQUEUE|c|q"#, InvalidJson, "not a JSON object"),
            (
                r#"{"ts": 1, "type": "enter", "call": "c", "queue": "q"} {}"#,
                InvalidJson,
                "not one JSON object",
            ),
        ];
        for (line, reason, start) in cases {
            let (r, why) = rejected(line);
            assert_eq!(r, reason, "{line}: {why}");
            assert!(why.starts_with(start), "{line}: {why}");
        }
    }

    #[test]
    fn unknown_types_blank_lines_and_nulls() {
        assert_eq!(
            parse_line(br#"{"ts": 1, "type": "coffee_break", "agent": "a"}"#),
            JsonLine::Unknown
        );
        assert_eq!(parse_line(b"  \t"), JsonLine::Blank);
        assert_eq!(parse_line(b""), JsonLine::Blank);
        // null is "not given".
        assert_eq!(
            rejected(r#"{"ts": 1, "type": "enter", "call": null, "queue": "q"}"#).0,
            RejectReason::MissingField
        );
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic(line in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_line(&line);
        }
    }
}
