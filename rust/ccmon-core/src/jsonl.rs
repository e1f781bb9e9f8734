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
use crate::scan::{bytes_equal, Prefix, HIGH, ONES};

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
        // A batch sent as one JSON array, the usual mistake of a producer: say what is expected instead.
        Some(b'[') => {
            return JsonLine::Rejected(
                RejectReason::InvalidJson,
                "not a JSON object but an array: send one event object per line (JSON lines)"
                    .into(),
            );
        }
        Some(_) => {
            return JsonLine::Rejected(RejectReason::InvalidJson, "not a JSON object".into());
        }
    }
    if fast {
        let mut flat = Flat::default();
        if flat_object(line, &mut flat, None) == Some(line.len()) {
            if let Some(parsed) = flat.event(line) {
                return parsed;
            }
        }
    }
    match serde_json::from_slice::<Raw<'_>>(line) {
        Ok(raw) => event(
            raw.ts,
            raw.id,
            [
                raw.kind,
                raw.call,
                raw.queue,
                raw.agent,
                raw.caller,
                raw.class,
                raw.reason,
                raw.site,
                raw.to_queue,
            ]
            .map(|t| t.unwrap_or_default().0),
        ),
        Err(_) => explain(line),
    }
}

/// The slots of the text fields ccmon reads, in [`Flat::text`] and as `event` takes them.
const TYPE: usize = 0;
const CALL: usize = 1;
const QUEUE: usize = 2;
const AGENT: usize = 3;
const CALLER: usize = 4;
const CLASS: usize = 5;
const REASON: usize = 6;
const SITE: usize = 7;
const TO_QUEUE: usize = 8;
/// The two fields that are not text.
const TS: usize = 9;
const ID: usize = 10;

/// The fields ccmon reads, and their slots.
const KEY_SLOTS: [(&str, usize); 11] = [
    ("ts", TS),
    ("type", TYPE),
    ("call", CALL),
    ("queue", QUEUE),
    ("agent", AGENT),
    ("caller", CALLER),
    ("id", ID),
    ("class", CLASS),
    ("reason", REASON),
    ("site", SITE),
    ("to_queue", TO_QUEUE),
];

/// A key of at most eight bytes as a little-endian word (zero above its bytes).
const fn word(key: &str) -> u64 {
    let b = key.as_bytes();
    let mut w = 0u64;
    let mut j = 0;
    while j < b.len() && j < 8 {
        w |= (b[j] as u64) << (8 * j);
        j += 1;
    }
    w
}

/// The key whose text starts at `start` (after its opening quote): its slot (`None` for a field ccmon does
/// not read) and the index of its closing quote. A key that closes within the next eight bytes is one word,
/// matched against the known ones by value; only longer keys are searched for their end.
#[inline]
fn key_at(b: &[u8], start: usize) -> Option<(Option<usize>, usize)> {
    if let Some(bytes) = b.get(start..start + 8) {
        let mut word8 = [0u8; 8];
        word8.copy_from_slice(bytes);
        let w = u64::from_le_bytes(word8);
        let quote = bytes_equal(w, b'"');
        if quote != 0 {
            let len = (quote.trailing_zeros() / 8) as usize;
            // Bytes before the quote only (a backslash among them makes no known key: searched below).
            let key = w & ((1u64 << (8 * len)) - 1);
            const TS_W: u64 = word("ts");
            const ID_W: u64 = word("id");
            const TYPE_W: u64 = word("type");
            const CALL_W: u64 = word("call");
            const SITE_W: u64 = word("site");
            const QUEUE_W: u64 = word("queue");
            const AGENT_W: u64 = word("agent");
            const CLASS_W: u64 = word("class");
            const CALLER_W: u64 = word("caller");
            const REASON_W: u64 = word("reason");
            let slot = match key {
                TS_W => TS,
                TYPE_W => TYPE,
                CALL_W => CALL,
                QUEUE_W => QUEUE,
                AGENT_W => AGENT,
                CALLER_W => CALLER,
                ID_W => ID,
                CLASS_W => CLASS,
                REASON_W => REASON,
                SITE_W => SITE,
                _ => usize::MAX,
            };
            if slot != usize::MAX {
                return Some((Some(slot), start + len));
            }
        } else if w == word("to_queue") && b.get(start + 8) == Some(&b'"') {
            return Some((Some(TO_QUEUE), start + 8));
        }
    }
    // A field ccmon does not read, or a line that ends within eight bytes.
    let end = string_end(b, start)?;
    let key = b.get(start..end)?;
    let slot = KEY_SLOTS
        .iter()
        .find(|(k, _)| k.as_bytes() == key)
        .map(|&(_, slot)| slot);
    Some((slot, end))
}

/// Checks one object's fields (as either parser found them; an absent or null text field is "") and makes
/// the event.
#[inline(always)]
fn event<'a, S>(ts: Option<f64>, id: Option<Id<'a>>, mut text: [S; 9]) -> JsonLine<'a>
where
    S: AsRef<str> + Into<Cow<'a, str>> + Default,
{
    let name = text[TYPE].as_ref();
    if name.is_empty() {
        return missing("type", None);
    }
    // Names of the same length first: most lookups compare no text at all.
    let Some(&(_, ty)) = TYPES
        .iter()
        .find(|(n, _)| n.len() == name.len() && *n == name)
    else {
        return JsonLine::Unknown;
    };
    let Some(ts) = ts else {
        return missing("ts", Some(name));
    };
    if !(0.0..=MAX_TS).contains(&ts) {
        return JsonLine::Rejected(
            RejectReason::BadTimestamp,
            format!("field `ts` must be epoch seconds between 0 and year 3000, not {ts}"),
        );
    }
    for (field, needed, slot) in [
        ("call", ty.needs_call, CALL),
        ("queue", ty.needs_queue, QUEUE),
        ("agent", ty.needs_agent, AGENT),
    ] {
        if needed && text[slot].as_ref().is_empty() {
            return missing(field, Some(name));
        }
    }
    let detail = match ty.kind {
        Kind::AgentPause => REASON,
        Kind::Transfer => TO_QUEUE,
        _ => CLASS,
    };
    let mut take = |slot: usize| std::mem::take(&mut text[slot]).into();
    JsonLine::Event(JsonEvent {
        ts,
        kind: ty.kind,
        call: take(CALL),
        queue: take(QUEUE),
        agent: take(AGENT),
        caller: take(CALLER),
        detail: take(detail),
        id,
        site: take(SITE),
    })
}

/// Parses the line at the start of `data` (which holds more after it) when the fast path takes it: the
/// line's length without its newline, and what it is. `None` when the fast path leaves the line to
/// [`parse_line`], or when `data` holds no newline after it yet. Finding the line's end while parsing it
/// saves a search for the newline per line. `shape` is the layout of the source's lines so far (see
/// [`LineShape`]): one per source, kept from line to line.
///
/// ```
/// use ccmon_core::jsonl::{parse_prefix, JsonLine, LineShape};
/// let data = b"{\"ts\": 5, \"call\": \"c1\", \"type\": \"enter\", \"queue\": \"sales\"}\r\n{\"ts\": 6";
/// let mut shape = LineShape::default();
/// let (len, JsonLine::Event(e)) = parse_prefix(data, &mut shape).unwrap() else { panic!() };
/// assert_eq!((len, e.queue.as_ref()), (59, "sales")); // the line, its `\r` included
/// assert_eq!(parse_prefix(&data[len + 1..], &mut shape), None);
/// ```
#[inline]
pub fn parse_prefix<'a>(data: &'a [u8], shape: &mut LineShape) -> Option<(usize, JsonLine<'a>)> {
    let mut flat = Flat::default();
    let end = flat_object(data, &mut flat, Some(shape))?;
    if end == data.len() {
        return None;
    }
    let line = data.get(..end)?;
    Some((end, flat.event(line)?))
}

/// [`parse_prefix`] for `text` already checked as UTF-8 (a chunk's whole lines, checked at once with SIMD):
/// no check per line.
#[inline(always)]
pub fn parse_prefix_str<'a>(text: &'a str, shape: &mut LineShape) -> Option<(usize, JsonLine<'a>)> {
    let mut flat = Flat::default();
    let end = flat_object(text.as_bytes(), &mut flat, Some(shape))?;
    if end == text.len() {
        return None;
    }
    Some((end, flat.event_in(text)?))
}

/// What the fast path found in a line: where its text fields and text `id` are (start and end of each, in
/// bytes; `(0, 0)` when absent or null), and its numbers.
#[derive(Default)]
struct Flat {
    ts: Option<f64>,
    id_number: Option<u64>,
    id_text: Option<(usize, usize)>,
    text: [(usize, usize); 9],
}

impl Flat {
    /// The event of `line`, the line `flat_object` read; `None` when the line is not UTF-8 (serde then says
    /// so).
    #[inline]
    fn event(self, line: &[u8]) -> Option<JsonLine<'_>> {
        // One check of the line, cheaper than one per string.
        self.event_in(simdutf8::basic::from_utf8(line).ok()?)
    }

    /// The event, its fields sliced from `text` (the line, or the UTF-8 text it starts). Quotes are ASCII, so
    /// every slice between two of them is UTF-8 too.
    // Inlined into its callers: returned by value, the event (about 200 bytes) would be copied once more.
    #[inline(always)]
    fn event_in(self, text: &str) -> Option<JsonLine<'_>> {
        let mut fields = [""; 9];
        for (field, &(start, end)) in fields.iter_mut().zip(&self.text) {
            if end != 0 {
                *field = text.get(start..end)?;
            }
        }
        let id = match (self.id_number, self.id_text) {
            (Some(n), _) => Some(Id::Number(n)),
            (None, Some((start, end))) => Some(Id::Text(Cow::Borrowed(text.get(start..end)?))),
            (None, None) => None,
        };
        Some(event(self.ts, id, fields))
    }
}

/// The layout of the fields of the last line the fast path read whole, in order: each field's `,"key":`
/// (from the end of the value before it to its own value, an opening quote or a `null` included). A producer
/// writes its lines alike, so the next line is read by checking that each field starts with the same bytes,
/// one masked compare of 32 bytes, instead of finding and matching its key; from the first field that
/// differs, the rest of the line is read the general way and the shape follows the line.
#[derive(Debug, Clone, Default)]
pub struct LineShape {
    fields: [ShapeField; SHAPE_FIELDS],
    len: usize,
}

/// Fields of a [`LineShape`], at most.
const SHAPE_FIELDS: usize = 12;

#[derive(Debug, Clone, Copy, Default)]
struct ShapeField {
    prefix: Prefix,
    /// The field's slot (`NO_SLOT`: a field ccmon does not read).
    slot: usize,
    value: Value,
}

/// What a [`ShapeField`]'s value is: a string (its opening quote ends the prefix), a number, or `null`
/// (which ends the prefix).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Value {
    #[default]
    Text,
    Number,
    Null,
}

/// [`ShapeField::slot`] of a field ccmon does not read.
const NO_SLOT: usize = usize::MAX;

impl LineShape {
    /// Adds the field whose prefix is `b[from..to]`, if there is room and it fits in 32 bytes: `false`
    /// when not, and the shape ends before it.
    fn learn(
        &mut self,
        b: &[u8],
        from: usize,
        to: usize,
        slot: Option<usize>,
        value: Value,
    ) -> bool {
        let (Some(field), Some(prefix)) = (
            self.fields.get_mut(self.len),
            b.get(from..to).and_then(Prefix::new),
        ) else {
            return false;
        };
        *field = ShapeField {
            prefix,
            slot: slot.unwrap_or(NO_SLOT),
            value,
        };
        self.len += 1;
        true
    }

    /// Reads the fields at the start of `b` while they are laid out as this shape's: where the last one read
    /// ends (0 when none) and how many were read. The shape is cut to those. `None` when a value the shape
    /// foresees is not one the fast path reads (the line then goes to serde).
    #[inline(always)]
    fn read(&mut self, b: &[u8], flat: &mut Flat, seen: &mut u16) -> Option<(usize, usize)> {
        let mut i = 0;
        let fields = self.fields.get(..self.len).unwrap_or_default();
        for (read, field) in fields.iter().enumerate() {
            let same = b
                .get(i..)
                .and_then(|rest| rest.first_chunk::<32>())
                .is_some_and(|window| field.prefix.starts(window));
            if !same {
                self.len = read;
                return Some((i, read));
            }
            let at = i + field.prefix.len();
            i = match field.value {
                Value::Text => {
                    let end = string_end(b, at)?;
                    match field.slot {
                        ID => flat.id_text = Some((at, end)),
                        slot => {
                            if let Some(text) = flat.text.get_mut(slot) {
                                *text = (at, end);
                            }
                        }
                    }
                    end + 1
                }
                Value::Number => {
                    let (number, after) = number_at(b, at)?;
                    match field.slot {
                        TS => flat.ts = Some(number.value),
                        ID => flat.id_number = Some(number.integer?),
                        _ => {}
                    }
                    after
                }
                Value::Null => at,
            };
            // (A shape's fields are distinct: the line it was learnt from had no field twice.)
            if field.slot != NO_SLOT {
                *seen |= 1 << (field.slot & 15);
            }
        }
        Some((i, fields.len()))
    }
}

/// The fast path, for the lines producers nearly always write: one flat object whose values are strings
/// without escapes, plain numbers or null. Anything else (escapes, nested values, exponents, long numbers, a
/// repeated field, a syntax error) returns `None` and goes to serde, which then decides — so both paths give
/// the same result for every line this one accepts (a property test checks it). Returns where the line ends:
/// the index of its newline, or `b.len()`. With a `shape`, the line is read by it as far as it is laid out
/// alike, and the shape then follows the line.
fn flat_object(b: &[u8], flat: &mut Flat, mut shape: Option<&mut LineShape>) -> Option<usize> {
    let mut seen = 0u16;
    let (mut value_end, read) = match shape.as_deref_mut() {
        Some(shape) => shape.read(b, flat, &mut seen)?,
        None => (0, 0),
    };
    let (mut i, mut c);
    if read == 0 {
        let (at, first) = next(b, 0)?;
        if first != b'{' {
            return None;
        }
        (i, c) = next(b, at + 1)?;
        if c == b'}' {
            return line_end(b, i + 1);
        }
    } else {
        let (after, c_after) = next(b, value_end)?;
        match c_after {
            b',' => (i, c) = next(b, after + 1)?,
            b'}' => return line_end(b, after + 1),
            _ => return None,
        }
    }
    loop {
        if c != b'"' {
            return None;
        }
        let (slot, key_end) = key_at(b, i + 1)?;
        let (colon, c_colon) = next(b, key_end + 1)?;
        if c_colon != b':' {
            return None;
        }
        let value;
        (i, value) = next(b, colon + 1)?;
        if let Some(slot) = slot {
            // A repeated field (even after a null) is an error for serde: let it say so.
            let bit = 1u16 << slot;
            if seen & bit != 0 {
                return None;
            }
            seen |= bit;
        }
        // Where this field's value starts, past its opening quote or its `null`: the end of its prefix.
        let (prefix_end, kind) = match value {
            b'"' => {
                let end = string_end(b, i + 1)?;
                match slot {
                    Some(ID) => flat.id_text = Some((i + 1, end)),
                    // A number field given as text: serde's error names it.
                    Some(TS) => return None,
                    Some(s) => *flat.text.get_mut(s)? = (i + 1, end),
                    None => {}
                }
                let start = i + 1;
                i = end + 1;
                (start, Value::Text)
            }
            b'n' if b.get(i..i + 4) == Some(b"null") => {
                i += 4;
                (i, Value::Null)
            }
            b'-' | b'0'..=b'9' => {
                let (number, after) = number_at(b, i)?;
                let start = i;
                i = after;
                match slot {
                    Some(TS) => flat.ts = Some(number.value),
                    Some(ID) => flat.id_number = Some(number.integer?),
                    Some(_) => return None,
                    None => {}
                }
                (start, Value::Number)
            }
            // true, false, arrays and objects: rare, and serde's.
            _ => return None,
        };
        if let Some(learnt) = shape.as_deref_mut() {
            if !learnt.learn(b, value_end, prefix_end, slot, kind) {
                shape = None;
            }
        }
        value_end = i;
        let (after, c_after) = next(b, i)?;
        match c_after {
            b',' => (i, c) = next(b, after + 1)?,
            b'}' => return line_end(b, after + 1),
            _ => return None,
        }
    }
}

/// The first byte at or after `i` that is not whitespace within a line, and its index. Compact JSON has
/// none: one compare finds the byte is already there.
#[inline]
fn next(b: &[u8], i: usize) -> Option<(usize, u8)> {
    let c = *b.get(i)?;
    if c > b' ' {
        return Some((i, c));
    }
    let i = skip_ws(b, i);
    Some((i, *b.get(i)?))
}

/// After an object's closing brace at `i - 1`: where its line ends (only whitespace may follow it).
#[inline]
fn line_end(b: &[u8], i: usize) -> Option<usize> {
    let end = skip_ws(b, i);
    matches!(b.get(end), None | Some(b'\n')).then_some(end)
}

/// 10^0 to 10^7.
const TENS: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// A JSON number of at most 15 significant digits and no exponent: its value is then exact as serde computes
/// it (mantissa ÷ 10^fraction digits, both exact in f64, one correctly rounded division).
struct Number {
    value: f64,
    /// The number, when it is a non-negative integer.
    integer: Option<u64>,
}

/// Whitespace within a line: a newline ends the line instead.
#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    // Most bytes looked at are not whitespace: one compare turns them away.
    while b
        .get(i)
        .is_some_and(|&c| c <= b' ' && matches!(c, b' ' | b'\t' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The index of the quote that closes the string whose text starts at `start`; `None` for escapes and
/// control characters (serde's business) and for a string the line does not close. Eight bytes at a time.
#[inline]
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    // Nearly every string of an event (ids, names, numbers) closes within 32 bytes: looked at in one go, its
    // length costs no mispredicted loop exit.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    if let Some(block) = b.get(start..start + 32) {
        let marks = special_bytes_32(block);
        if marks != 0 {
            let at = start + marks.trailing_zeros() as usize;
            return (b.get(at) == Some(&b'"')).then_some(at);
        }
    }
    let mut i = start;
    while let Some(word) = b.get(i..i + 8) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let w = u64::from_le_bytes(bytes);
        // The high bit of each byte that is a quote, a backslash or below 0x20; the lowest mark is exact.
        let marks = bytes_equal(w, b'"')
            | bytes_equal(w, b'\\')
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH);
        if marks != 0 {
            let at = i + (marks.trailing_zeros() / 8) as usize;
            return (b.get(at) == Some(&b'"')).then_some(at);
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        match c {
            b'"' => return Some(i),
            b'\\' | 0..=0x1f => return None,
            _ => i += 1,
        }
    }
    None
}

/// Bit i set when byte i of `block` (32 bytes) is a quote, a backslash or below 0x20.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
fn special_bytes_32(block: &[u8]) -> u32 {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, min_u8_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let (quote, backslash, control) = (
        set_splat_i8_m128i(b'"' as i8),
        set_splat_i8_m128i(b'\\' as i8),
        set_splat_i8_m128i(0x1f),
    );
    let mut marks = 0u32;
    for (i, chunk) in block.as_chunks::<16>().0.iter().take(2).enumerate() {
        let v = load_unaligned_m128i(chunk);
        // Below 0x20 (unsigned): min(v, 0x1f) == v.
        let hits = bitor_m128i(
            bitor_m128i(
                cmp_eq_mask_i8_m128i(v, quote),
                cmp_eq_mask_i8_m128i(v, backslash),
            ),
            cmp_eq_mask_i8_m128i(min_u8_m128i(v, control), v),
        );
        // movemask gives 16 bits in an i32; the cast keeps exactly those.
        marks |= u32::from(move_mask_i8_m128i(hits) as u16) << (16 * i);
    }
    marks
}

#[inline(always)]
fn number_at(b: &[u8], i: usize) -> Option<(Number, usize)> {
    // Nearly every number of an event is a non-negative integer (every `id`, most `ts`): its digits are read
    // eight at a time, no loop per digit.
    if let Some(bytes) = b.get(i..i + 16) {
        let word = |at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(w)
        };
        let (n, value) = match crate::queue_log::leading_digits(word(0)) {
            (8, high) => match crate::queue_log::leading_digits(word(8)) {
                // 16 digits or more: more than an f64 holds exactly, the general path's to refuse.
                (8, _) => (0, 0),
                (n, low) => (8 + n, high * TENS[n] + low),
            },
            first => first,
        };
        let leading_zero = n > 1 && bytes[0] == b'0';
        if n > 0 && !leading_zero && !matches!(b.get(i + n), Some(b'.' | b'e' | b'E')) {
            let number = Number {
                value: value as f64,
                integer: Some(value),
            };
            return Some((number, i + n));
        }
    }
    let negative = b.get(i) == Some(&b'-');
    let int_start = i + usize::from(negative);
    let mut j = int_start;
    // A number of more than 15 digits goes to serde below; until then its mantissa may wrap, harmlessly.
    let mut mantissa: u64 = 0;
    while let Some(&c) = b.get(j).filter(|c| c.is_ascii_digit()) {
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
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
        while let Some(&c) = b.get(j).filter(|c| c.is_ascii_digit()) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
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
    // An integer (every `id`, most `ts`) needs no division, which would cost more than the rest of the parse.
    let magnitude = match frac_digits {
        0 => mantissa as f64,
        // At most 15 digits (above): the power of ten is exact.
        _ => mantissa as f64 / crate::queue_log::POWERS_OF_TEN.get(frac_digits)?,
    };
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
            (r#"[1, 2]"#, InvalidJson, "not a JSON object but an array"),
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
    const KEYS: [&str; 15] = [
        "ts",
        "type",
        "call",
        "queue",
        "agent",
        "caller",
        "id",
        "class",
        "reason",
        "site",
        "to_queue",
        "x",
        "",
        "x-vendor-extension",
        "to_queue_",
    ];
    /// Values the fast path takes...
    const PLAIN: [&str; 22] = [
        "\"PJSIP/trunk-0001-0000abcd\"",
        "\"fila de atenção ao cliente\"",
        "\"exactly8\"",
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
        "7",
        "12345678",
        "123456789",
    ];
    /// ...and values it leaves to serde.
    const AWKWARD: [&str; 18] = [
        "\"PJSIP/trunk\\\"0001\"",
        "\"PJSIP/trunk\t0001\"",
        "\"PJSIP/trunk\\u00e7\"",
        "\"0123456789abcdef",
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
        "00",
        "012345678",
    ];
    const SPACES: [&str; 4] = ["", " ", "\t", " \r\n "];

    fn key() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::sample::select(&KEYS[..])
    }

    /// Mostly values the fast path takes, now and then one it leaves to serde.
    fn value() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::prop_oneof![
            12 => proptest::sample::select(&PLAIN[..]),
            1 => proptest::sample::select(&AWKWARD[..]),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        #[test]
        fn the_fast_path_agrees_with_serde(
            pairs in proptest::collection::vec((key(), value(), proptest::sample::select(&SPACES[..])), 0..8),
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
            proptest::prop_assert_eq!(flat_object(line.as_bytes(), &mut Flat::default(), None), Some(line.len()), "{}", line);
            proptest::prop_assert_eq!(parse(line.as_bytes(), true), parse(line.as_bytes(), false));
        }

        /// A line read ahead of its newline (`parse_prefix`, as `Engine::feed` reads) gives what the line gives
        /// alone, or is left to `parse_line`.
        #[test]
        fn a_line_read_in_place_parses_as_the_line_alone(
            pairs in proptest::collection::vec((key(), value()), 0..8),
            after in proptest::sample::select(vec!["", " ", "\r", " x", ",", "}"]),
            next in proptest::sample::select(vec!["", "{\"ts\": 1", "\n", "garbage"]),
        ) {
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
            let line = format!("{{{}}}{after}", body.join(", "));
            let data = format!("{line}\n{next}");
            let shape = || LineShape::default();
            if let Some((len, parsed)) = parse_prefix(data.as_bytes(), &mut shape()) {
                proptest::prop_assert_eq!(len, line.len());
                proptest::prop_assert_eq!(parsed, parse_line(line.as_bytes()), "{}", line);
            }
            proptest::prop_assert_eq!(parse_prefix_str(&data, &mut shape()), parse_prefix(data.as_bytes(), &mut shape()));
            // Without its newline, a line is not whole yet.
            proptest::prop_assert_eq!(parse_prefix(line.as_bytes(), &mut shape()), None);
        }

        /// Lines laid out alike, one field now and then another or spaced otherwise, read one after another
        /// with one shape (as `Engine::feed` reads a source), give what each line gives alone.
        #[test]
        fn lines_read_by_their_shape_parse_as_each_line_alone(
            layout in proptest::collection::vec((key(), proptest::sample::select(vec!["", " ", "\t"])), 0..8),
            lines in proptest::collection::vec(
                (proptest::collection::vec(value(), 8), 0usize..12, key(), proptest::sample::select(vec!["", " "])),
                1..16,
            ),
        ) {
            let mut shape = LineShape::default();
            let mut text = String::new();
            for (values, change, other, space) in &lines {
                let body: Vec<String> = layout
                    .iter()
                    .zip(values)
                    .enumerate()
                    .map(|(i, ((key, w), v))| match i == *change {
                        true => format!("{space}\"{other}\":{space}{v}"),
                        false => format!("{w}\"{key}\"{w}:{w}{v}{w}"),
                    })
                    .collect();
                let line = format!("{{{}}}", body.join(","));
                text += &line;
                text.push('\n');
                let data = format!("{line}\n{{");
                if let Some((len, parsed)) = parse_prefix(data.as_bytes(), &mut shape) {
                    proptest::prop_assert_eq!(len, line.len());
                    proptest::prop_assert_eq!(parsed, parse_line(line.as_bytes()), "{}", line);
                }
            }
            // The same lines read from one text, as UTF-8 checked at once.
            let (mut shape, mut start) = (LineShape::default(), 0);
            while let Some(line_end) = text[start..].find('\n').map(|i| start + i) {
                if let Some((len, parsed)) = parse_prefix_str(&text[start..], &mut shape) {
                    proptest::prop_assert_eq!(start + len, line_end);
                    proptest::prop_assert_eq!(parsed, parse_line(&text.as_bytes()[start..line_end]));
                }
                start = line_end + 1;
            }
        }

        #[test]
        fn any_bytes_never_panic(line in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_line(&line);
            let _ = parse_prefix(&line, &mut LineShape::default());
        }

        /// Lines that start alike and then go anywhere, one shape for all of them.
        #[test]
        fn any_lines_after_a_shape_never_panic(
            tails in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..60), 1..20),
        ) {
            let mut shape = LineShape::default();
            let head = br#"{"ts": 1700000000, "type": "enter", "call": "c1""#;
            for tail in &tails {
                let _ = parse_prefix(&[&head[..], b"}\n"].concat(), &mut shape);
                let _ = parse_prefix(&[&head[..], &tail[..], b"\n"].concat(), &mut shape);
            }
        }
    }
}
