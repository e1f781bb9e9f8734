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

use crate::event::{Kind, OwnedEvent, RejectReason};

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

/// SPEC §7's types. The engine acts on the queue, music-on-hold, ring and agent events; hold and IVR options
/// are accepted and counted (their figures come with the rest of the live-sources work). An agent event
/// without `queue` (logoff, pause) applies to every queue of the agent; a login names its queue.
const TYPES: [(&str, TypeInfo); 19] = [
    ("enter", info(Kind::Enter, true, true, false)),
    ("ring", info(Kind::Ring, true, true, true)),
    ("ring_noanswer", info(Kind::RingEnd, true, true, true)),
    ("answer", info(Kind::Answer, true, true, false)),
    ("talk_end", info(Kind::TalkEnd, true, true, false)),
    ("abandon", info(Kind::Abandon, true, true, false)),
    ("timeout", info(Kind::Timeout, true, true, false)),
    ("exit_key", info(Kind::ExitKey, true, true, false)),
    ("exit_empty", info(Kind::ExitEmpty, true, true, false)),
    ("transfer", info(Kind::Transfer, true, true, false)),
    ("hold_start", info(Kind::Other, true, false, false)),
    ("hold_stop", info(Kind::Other, true, false, false)),
    ("moh_start", info(Kind::MohStart, true, false, false)),
    ("moh_stop", info(Kind::MohStop, true, false, false)),
    ("ivr_option", info(Kind::Other, true, false, false)),
    ("agent_login", info(Kind::AgentLogin, false, true, true)),
    ("agent_logoff", info(Kind::AgentLogoff, false, false, true)),
    ("agent_pause", info(Kind::AgentPause, false, false, true)),
    (
        "agent_unpause",
        info(Kind::AgentUnpause, false, false, true),
    ),
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
    class: Option<Text<'a>>,
    #[serde(default, borrow)]
    reason: Option<Text<'a>>,
    #[serde(default, borrow)]
    site: Option<Text<'a>>,
    #[serde(default, borrow)]
    to_queue: Option<Text<'a>>,
    #[serde(default, borrow)]
    id: Option<Id<'a>>,
}

/// A valid event, its strings borrowed from the line where they had no escapes.
pub type JsonEvent<'a> = OwnedEvent<'a, Id<'a>>;

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
    parse(line, true)
}

fn parse(line: &[u8], fast: bool) -> JsonLine<'_> {
    // JSON's whitespace (not form feed or vertical tab: those make a line that is not JSON).
    match line
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        None => return JsonLine::Blank,
        // serde would also take an array for a struct (its fields in order): only objects are events.
        Some(b'{') => {}
        Some(_) => {
            return JsonLine::Rejected(RejectReason::InvalidJson, "not a JSON object".into());
        }
    }
    let raw: Raw<'_> = match if fast { flat_object(line) } else { None } {
        Some(raw) => raw,
        None => match serde_json::from_slice(line) {
            Ok(raw) => raw,
            Err(_) => return explain(line),
        },
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
        detail: match ty.kind {
            Kind::AgentPause => raw.reason,
            Kind::Transfer => raw.to_queue,
            _ => raw.class,
        }
        .unwrap_or_default()
        .0,
        id: raw.id,
        site: raw.site.unwrap_or_default().0,
    })
}

/// The fast path, for the lines producers nearly always write: one flat object whose values are strings
/// without escapes, plain numbers or null. Anything else (escapes, nested values, exponents, long numbers, a
/// repeated field, a syntax error) returns `None` and goes to serde, which then decides — so both paths give
/// the same result for every line this one accepts (a property test checks it).
fn flat_object(line: &[u8]) -> Option<Raw<'_>> {
    // Strings are borrowed as &str: the line must be UTF-8 (a SIMD check, cheaper than one per string).
    let text = std::str::from_utf8(line).ok()?;
    let b = text.as_bytes();
    let mut raw = Raw::default();
    let mut seen = 0u16;
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(raw);
    }
    loop {
        let (key, after) = string_at(text, i)?;
        i = skip_ws(b, after);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let value = match b.get(i)? {
            b'"' => {
                let (v, after) = string_at(text, i)?;
                i = after;
                Value::Text(v)
            }
            b'n' if b.get(i..i + 4) == Some(b"null") => {
                i += 4;
                Value::Null
            }
            b'-' | b'0'..=b'9' => {
                let (v, after) = number_at(b, i)?;
                i = after;
                Value::Number(v)
            }
            _ => return None,
        };
        // A repeated field (even after a null) is an error for serde: let it say so.
        let bit = match key {
            "ts" => 1,
            "type" => 2,
            "call" => 4,
            "queue" => 8,
            "agent" => 16,
            "caller" => 32,
            "id" => 64,
            "class" => 128,
            "reason" => 256,
            "site" => 512,
            "to_queue" => 1024,
            _ => 0,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match (key, value) {
            (_, Value::Null) => {}
            ("ts", Value::Number(n)) => raw.ts = Some(n.value),
            ("id", Value::Number(n)) => raw.id = Some(Id::Number(n.integer?)),
            ("id", Value::Text(v)) => raw.id = Some(Id::Text(Cow::Borrowed(v))),
            ("type", Value::Text(v)) => raw.kind = Some(Text(Cow::Borrowed(v))),
            ("call", Value::Text(v)) => raw.call = Some(Text(Cow::Borrowed(v))),
            ("queue", Value::Text(v)) => raw.queue = Some(Text(Cow::Borrowed(v))),
            ("agent", Value::Text(v)) => raw.agent = Some(Text(Cow::Borrowed(v))),
            ("caller", Value::Text(v)) => raw.caller = Some(Text(Cow::Borrowed(v))),
            ("class", Value::Text(v)) => raw.class = Some(Text(Cow::Borrowed(v))),
            ("reason", Value::Text(v)) => raw.reason = Some(Text(Cow::Borrowed(v))),
            ("site", Value::Text(v)) => raw.site = Some(Text(Cow::Borrowed(v))),
            ("to_queue", Value::Text(v)) => raw.to_queue = Some(Text(Cow::Borrowed(v))),
            // A field ccmon reads, of the wrong type: serde's error names it.
            _ if bit != 0 => return None,
            // A field ccmon does not read: skipped.
            _ => {}
        }
        i = skip_ws(b, i);
        match b.get(i)? {
            b',' => i = skip_ws(b, i + 1),
            b'}' => return (skip_ws(b, i + 1) == b.len()).then_some(raw),
            _ => return None,
        }
    }
}

enum Value<'a> {
    Text(&'a str),
    Number(Number),
    Null,
}

/// A JSON number of at most 15 significant digits and no exponent: its value is then exact as serde computes
/// it (mantissa ÷ 10^fraction digits, both exact in f64).
struct Number {
    value: f64,
    /// The number, when it is a non-negative integer.
    integer: Option<u64>,
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// The string starting at the quote at `i`, and the index after its closing quote; `None` for escapes and
/// control characters (serde's business).
fn string_at(text: &str, i: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let len = b
        .get(start..)?
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    let end = start + len;
    if b.get(end) != Some(&b'"') {
        return None;
    }
    Some((text.get(start..end)?, end + 1))
}

fn number_at(b: &[u8], i: usize) -> Option<(Number, usize)> {
    let negative = b.get(i) == Some(&b'-');
    let mut j = i + usize::from(negative);
    let int_start = j;
    while b.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    let int_digits = j - int_start;
    // JSON: at least one digit, and no leading zero before more digits.
    if int_digits == 0 || (int_digits > 1 && b.get(int_start) == Some(&b'0')) {
        return None;
    }
    let mut frac_digits = 0;
    if b.get(j) == Some(&b'.') {
        j += 1;
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
            frac_digits += 1;
        }
        if frac_digits == 0 {
            return None;
        }
    }
    if matches!(b.get(j), Some(b'e' | b'E')) || int_digits + frac_digits > 15 {
        return None;
    }
    let mut mantissa: u64 = 0;
    for &c in b.get(int_start..j)? {
        if c != b'.' {
            mantissa = mantissa * 10 + u64::from(c - b'0');
        }
    }
    let magnitude = mantissa as f64 / 10f64.powi(frac_digits as i32);
    let value = if negative { -magnitude } else { magnitude };
    let integer = (!negative && frac_digits == 0).then_some(mantissa);
    Some((Number { value, integer }, j))
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
        let line = r#"{"ts": 1, "type": "enter", "call": "c", "queue": "q", "id": 42, "x-vendor": [1, {"a": 2}]}"#;
        let JsonLine::Event(e) = parse_line(line.as_bytes()) else {
            panic!()
        };
        assert_eq!(e.id, Some(Id::Number(42)));
        let JsonLine::Event(e) =
            parse_line(br#"{"ts": 1, "type": "enter", "call": "c", "queue": "q", "id": "e-1"}"#)
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

    /// Pieces of JSON objects, the usual and the awkward: every line built from them must parse the same with
    /// and without the fast path.
    const KEYS: [&str; 13] = [
        "ts", "type", "call", "queue", "agent", "caller", "id", "class", "reason", "site",
        "to_queue", "x", "",
    ];
    /// Values the fast path takes...
    const PLAIN: [&str; 16] = [
        "1700000000",
        "1700000000.25",
        "1700000000.123456",
        "0",
        "-0",
        "-1",
        "123456789012345",
        "null",
        "\"enter\"",
        "\"answer\"",
        "\"c1\"",
        "\"sales\"",
        "\"\"",
        "\"ñ\"",
        "\"talk_end\"",
        "\"7\"",
    ];
    /// ...and values it leaves to serde.
    const AWKWARD: [&str; 12] = [
        "01",
        "1e3",
        "1.",
        "-",
        "1234567890123456",
        "true",
        "{}",
        "[1, {\"a\": 2}]",
        "\"a\\\"b\"",
        "\"\\u00e7\"",
        "\"tab\there\"",
        "\"\\ud800\"",
    ];
    const SPACES: [&str; 4] = ["", " ", "\t", " \r\n "];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_fast_path_agrees_with_serde(
            pairs in proptest::collection::vec(
                (
                    proptest::sample::select(&KEYS[..]),
                    proptest::prop_oneof![
                        12 => proptest::sample::select(&PLAIN[..]),
                        1 => proptest::sample::select(&AWKWARD[..]),
                    ],
                    proptest::sample::select(&SPACES[..]),
                ),
                0..8,
            ),
            tail in proptest::sample::select(vec!["", "", "", " ", "x", ",", "}"]),
        ) {
            let body: Vec<String> = pairs
                .iter()
                .map(|(k, v, w)| format!("{w}\"{k}\"{w}:{w}{v}{w}"))
                .collect();
            let line = format!("{{{}}}{tail}", body.join(","));
            proptest::prop_assert_eq!(parse(line.as_bytes(), true), parse(line.as_bytes(), false), "{}", line);
        }

        #[test]
        fn the_fast_path_takes_the_usual_lines(ts in 0u64..4_000_000_000, frac in proptest::option::of(0u32..1000)) {
            let ts = match frac { Some(f) => format!("{ts}.{f}"), None => ts.to_string() };
            let line = format!(r#"{{"ts": {ts}, "type": "enter", "call": "c1", "queue": "q", "caller": "600", "id": 7}}"#);
            proptest::prop_assert!(flat_object(line.as_bytes()).is_some(), "{}", line);
            proptest::prop_assert_eq!(parse(line.as_bytes(), true), parse(line.as_bytes(), false));
        }

        #[test]
        fn any_bytes_never_panic(line in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_line(&line);
        }
    }
}
