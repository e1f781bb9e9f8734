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
//! | QueueCallerLeave | leave: a timeout unless an answer follows at once |
//! | BlindTransfer, AttendedTransfer | transfer of the transferee's call, from the queue it is in; to `Extension` / `TransferTargetCallerIDNum` |
//! | MusicOnHoldStart (`Class`) / MusicOnHoldStop | music on hold |
//! | AgentCalled / AgentRingNoAnswer | ring / ring end |
//! | QueueMemberAdded / QueueMemberRemoved / QueueMemberPause | agent login / logoff / pause (`Paused`, `PausedReason`) |
//! | QueueParams, QueueEntry, QueueMember … QueueStatusComplete | a [`StatusItem`] each: the QueueStatus answer, applied whole |

use rustc_hash::FxHashMap;

use crate::event::{Kind, OwnedEvent, RejectReason};
use crate::scan::Prefix;

/// Headers kept per frame; more make the frame a `bad_frame`.
const MAX_HEADERS: usize = 128;

/// The headers ccmon reads; the others are skipped without being kept. [`key`] names their indices.
const KEYS: [&str; 32] = [
    "Event",
    "Timestamp",
    "Linkedid",
    "Uniqueid",
    "Queue",
    "MemberName",
    "Interface",
    "StateInterface",
    "CallerIDNum",
    "Class",
    "Paused",
    "PausedReason",
    "Reason",
    "TransfereeLinkedid",
    "OrigTransfererLinkedid",
    "TransfererLinkedid",
    "Wait",
    "Name",
    "Location",
    "HoldTime",
    "Extension",
    "TransferTargetCallerIDNum",
    "TransfereeCallerIDNum",
    "Channel",
    "BridgeUniqueid",
    "DestCallerIDNum",
    "OrigBridgeUniqueid",
    "SecondBridgeUniqueid",
    "DestBridgeUniqueid",
    "OrigTransfererChannel",
    "SecondTransfererChannel",
    "DestType",
];

/// Indices into [`KEYS`].
mod key {
    pub const EVENT: usize = 0;
    pub const TIMESTAMP: usize = 1;
    pub const LINKEDID: usize = 2;
    pub const UNIQUEID: usize = 3;
    pub const QUEUE: usize = 4;
    pub const MEMBER_NAME: usize = 5;
    pub const INTERFACE: usize = 6;
    pub const STATE_INTERFACE: usize = 7;
    pub const CALLER_ID_NUM: usize = 8;
    pub const CLASS: usize = 9;
    pub const PAUSED: usize = 10;
    pub const PAUSED_REASON: usize = 11;
    pub const REASON: usize = 12;
    pub const TRANSFEREE_LINKEDID: usize = 13;
    pub const ORIG_TRANSFERER_LINKEDID: usize = 14;
    pub const TRANSFERER_LINKEDID: usize = 15;
    pub const WAIT: usize = 16;
    pub const NAME: usize = 17;
    pub const LOCATION: usize = 18;
    pub const HOLD_TIME: usize = 19;
    pub const EXTENSION: usize = 20;
    pub const TRANSFER_TARGET_CALLER_ID_NUM: usize = 21;
    pub const TRANSFEREE_CALLER_ID_NUM: usize = 22;
    pub const CHANNEL: usize = 23;
    pub const BRIDGE_UNIQUEID: usize = 24;
    pub const DEST_CALLER_ID_NUM: usize = 25;
    pub const ORIG_BRIDGE_UNIQUEID: usize = 26;
    pub const SECOND_BRIDGE_UNIQUEID: usize = 27;
    pub const DEST_BRIDGE_UNIQUEID: usize = 28;
    pub const ORIG_TRANSFERER_CHANNEL: usize = 29;
    pub const SECOND_TRANSFERER_CHANNEL: usize = 30;
    pub const DEST_TYPE: usize = 31;
}

/// The AMI events ccmon reads, by name ([`Ev::name`]): found by [`EVENT_NAMES`] instead of string compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    QueueCallerJoin,
    QueueCallerLeave,
    QueueCallerAbandon,
    AgentCalled,
    AgentConnect,
    AgentComplete,
    AgentRingNoAnswer,
    AgentDump,
    BlindTransfer,
    AttendedTransfer,
    MusicOnHoldStart,
    MusicOnHoldStop,
    QueueMemberAdded,
    QueueMemberRemoved,
    QueueMemberPause,
    QueueMemberStatus,
    Hangup,
    Hold,
    Unhold,
    BridgeEnter,
    BridgeLeave,
    BridgeDestroy,
    DialBegin,
    QueueParams,
    QueueEntry,
    QueueMember,
    QueueStatusComplete,
}

impl Ev {
    const ALL: [Ev; 27] = [
        Ev::QueueCallerJoin,
        Ev::QueueCallerLeave,
        Ev::QueueCallerAbandon,
        Ev::AgentCalled,
        Ev::AgentConnect,
        Ev::AgentComplete,
        Ev::AgentRingNoAnswer,
        Ev::AgentDump,
        Ev::BlindTransfer,
        Ev::AttendedTransfer,
        Ev::MusicOnHoldStart,
        Ev::MusicOnHoldStop,
        Ev::QueueMemberAdded,
        Ev::QueueMemberRemoved,
        Ev::QueueMemberPause,
        Ev::QueueMemberStatus,
        Ev::Hangup,
        Ev::Hold,
        Ev::Unhold,
        Ev::BridgeEnter,
        Ev::BridgeLeave,
        Ev::BridgeDestroy,
        Ev::DialBegin,
        Ev::QueueParams,
        Ev::QueueEntry,
        Ev::QueueMember,
        Ev::QueueStatusComplete,
    ];

    const fn name(self) -> &'static str {
        match self {
            Ev::QueueCallerJoin => "QueueCallerJoin",
            Ev::QueueCallerLeave => "QueueCallerLeave",
            Ev::QueueCallerAbandon => "QueueCallerAbandon",
            Ev::AgentCalled => "AgentCalled",
            Ev::AgentConnect => "AgentConnect",
            Ev::AgentComplete => "AgentComplete",
            Ev::AgentRingNoAnswer => "AgentRingNoAnswer",
            Ev::AgentDump => "AgentDump",
            Ev::BlindTransfer => "BlindTransfer",
            Ev::AttendedTransfer => "AttendedTransfer",
            Ev::MusicOnHoldStart => "MusicOnHoldStart",
            Ev::MusicOnHoldStop => "MusicOnHoldStop",
            Ev::QueueMemberAdded => "QueueMemberAdded",
            Ev::QueueMemberRemoved => "QueueMemberRemoved",
            Ev::QueueMemberPause => "QueueMemberPause",
            Ev::QueueMemberStatus => "QueueMemberStatus",
            Ev::Hangup => "Hangup",
            Ev::Hold => "Hold",
            Ev::Unhold => "Unhold",
            Ev::BridgeEnter => "BridgeEnter",
            Ev::BridgeLeave => "BridgeLeave",
            Ev::BridgeDestroy => "BridgeDestroy",
            Ev::DialBegin => "DialBegin",
            Ev::QueueParams => "QueueParams",
            Ev::QueueEntry => "QueueEntry",
            Ev::QueueMember => "QueueMember",
            Ev::QueueStatusComplete => "QueueStatusComplete",
        }
    }
}

/// A set of up to 32 names of letters, looked up by one multiply into 64 slots (a perfect hash, built at
/// compile time; the build fails if two names share a slot: a new name may need another odd multiplier,
/// found by trying random ones). A compare of whole words then settles the name.
struct NameTable {
    slots: [NameSlot; 64],
    multiplier: u64,
    /// `0x20` in every byte to compare without regard to case, else 0. ORing it lowercases exactly: a byte
    /// ORed to a name's lowercase letter is that letter in either case, and names are letters only.
    fold: u128,
}

/// A name of a [`NameTable`] as four little-endian words (lowercased when the table folds case).
#[derive(Clone, Copy)]
struct NameSlot {
    words: [u64; 4],
    /// `usize::MAX` in an empty slot: no name has that length, so no name looked up matches it.
    len: usize,
    index: usize,
}

impl NameTable {
    const fn new(names: &[&str], multiplier: u64, fold: bool) -> NameTable {
        let fold = if fold { 0x20 } else { 0 };
        let mut slots = [NameSlot {
            words: [0; 4],
            len: usize::MAX,
            index: 0,
        }; 64];
        let mut i = 0;
        while i < names.len() {
            let name = names[i].as_bytes();
            assert!(name.len() <= 32 && !name.is_empty());
            let mut words = [0u64; 4];
            let mut j = 0;
            while j < name.len() {
                assert!(name[j].is_ascii_alphabetic());
                words[j / 8] |= ((name[j] | fold) as u64) << (8 * (j % 8));
                j += 1;
            }
            let slot = Self::slot_of(multiplier, words[0], words[1], name.len());
            assert!(
                slots[slot].len == usize::MAX,
                "two names share a slot: choose another multiplier"
            );
            slots[slot] = NameSlot {
                words,
                len: name.len(),
                index: i,
            };
            i += 1;
        }
        NameTable {
            slots,
            multiplier,
            fold: fold as u128 * 0x0101_0101_0101_0101_0101_0101_0101_0101,
        }
    }

    /// The slot of a name from its first two words and its length: the first eight bytes alone do not tell
    /// `TransfereeLinkedid` from `TransfererLinkedid`.
    #[inline(always)]
    const fn slot_of(multiplier: u64, w0: u64, w1: u64, len: usize) -> usize {
        ((w0 ^ w1.rotate_left(31) ^ len as u64).wrapping_mul(multiplier) >> 58) as usize
    }

    /// The index of the name that is the first `len` bytes of `window` (the bytes after it do not matter).
    #[inline(always)]
    fn find(&self, window: &[u8; 32], len: usize) -> Option<usize> {
        // No length check of its own: a slot holds a name of 1 to 32 bytes, or none (see `NameSlot::len`).
        let (halves, _) = window.as_chunks::<16>();
        // A half as one integer, folded, the bytes past the name zero.
        let word = |half: &[u8; 16], n: usize| (u128::from_le_bytes(*half) | self.fold) & keep(n);
        let head = word(halves.first()?, len);
        let (w0, w1) = (head as u64, (head >> 64) as u64);
        let slot = &self.slots[Self::slot_of(self.multiplier, w0, w1, len)];
        // One test of the three differences, not three branches.
        if (slot.len ^ len) as u64 | (slot.words[0] ^ w0) | (slot.words[1] ^ w1) != 0 {
            return None;
        }
        if len > 16 {
            let tail = word(halves.get(1)?, len - 16);
            if slot.words[2] != tail as u64 || slot.words[3] != (tail >> 64) as u64 {
                return None;
            }
        }
        Some(slot.index)
    }
}

/// Header names are compared as Asterisk does, without regard to case.
static HEADER_NAMES: NameTable = NameTable::new(&KEYS, 0xe660_562d_c7f6_b013, true);

/// Event names are compared exactly: Asterisk writes each in one way.
static EVENT_NAMES: NameTable = NameTable::new(
    &{
        let mut names = [""; Ev::ALL.len()];
        let mut i = 0;
        while i < names.len() {
            names[i] = Ev::ALL[i].name();
            i += 1;
        }
        names
    },
    0xfeb3_6d43_ba8e_3339,
    false,
);

/// The index in [`KEYS`] of the header name that is the first `len` bytes of `window`.
#[inline(always)]
fn key_in_window(window: &[u8; 32], len: usize) -> Option<usize> {
    HEADER_NAMES.find(window, len)
}

/// The first 32 bytes of `rest`: in place, or (near the end of the input) copied into `spare` with zeros
/// after. A reference, not a copy: a copy of the window on every line cost more than the rest of the lookup.
#[inline(always)]
fn window<'a>(rest: &'a [u8], spare: &'a mut [u8; 32]) -> &'a [u8; 32] {
    match rest.first_chunk::<32>() {
        Some(window) => window,
        None => {
            let n = rest.len().min(32);
            spare[..n].copy_from_slice(&rest[..n]);
            spare[n..].fill(0);
            spare
        }
    }
}

/// [`key_in_window`] of a name given alone.
fn key_index(name: &[u8]) -> Option<usize> {
    let mut window = [0u8; 32];
    window.get_mut(..name.len())?.copy_from_slice(name);
    key_in_window(&window, name.len())
}

/// The low `n` bytes (at most 16) of a 16-byte integer.
#[inline(always)]
fn keep(n: usize) -> u128 {
    u128::from_le_bytes(crate::scan::MASKS[n.min(16)][0])
}

/// A header line at `b[at..]`: its first ':', its '\n' and the [`KEYS`] index of its name (trimmed at the end),
/// if ccmon reads it; `None` when the line has no colon or no end in `b`. The 32 bytes from `at` are looked
/// at in one step, as most AMI lines fit in them; the name is looked up from the same bytes.
#[inline(always)]
fn header_line(b: &[u8], at: usize) -> Option<(usize, usize, Option<usize>)> {
    use crate::scan::{find_either, marks};
    // Near the end of the input, zeros follow, which are neither ':' nor '\n'.
    let mut spare = [0u8; 32];
    let window = window(b.get(at..)?, &mut spare);
    // (32 bytes: the marks fit in the low half.)
    let (colons, newlines) = (marks(window, b':') as u32, marks(window, b'\n') as u32);
    // The colons before the first newline (all of them when there is none in the window).
    let colons = colons & newlines.wrapping_sub(1) & !newlines;
    if colons == 0 {
        if newlines != 0 {
            return None;
        }
        // A name of 32 bytes or more: longer than any key.
        let colon = find_either(b, at, b':', b'\n')?;
        if b.get(colon) != Some(&b':') {
            return None;
        }
        return Some((colon, find_either(b, colon + 1, b'\n', b'\n')?, None));
    }
    let colon = colons.trailing_zeros() as usize;
    let newline = match newlines {
        0 => find_either(b, at + 32, b'\n', b'\n')?,
        _ => at + newlines.trailing_zeros() as usize,
    };
    // The name, as Asterisk writes it, has nothing to trim. (A line may start with its colon.)
    let name = match window.get(colon.wrapping_sub(1)) {
        Some(c) if *c > b' ' => colon,
        _ => window.get(..colon)?.trim_ascii_end().len(),
    };
    Some((at + colon, newline, key_in_window(window, name)))
}

/// A frame being read. The values of the headers ccmon reads go into one buffer reused from frame to frame,
/// so a steady stream allocates nothing; a finished frame's event borrows from it.
#[derive(Debug, Default, Clone)]
pub struct FrameBuilder {
    /// The values kept so far in this frame, one after another; `spans` says where each is.
    kept: String,
    spans: [[u32; 2]; KEYS.len()],
    /// Bit i: `spans[i]` belongs to the frame being read.
    present: u64,
    headers: usize,
    bytes: usize,
    /// The last push returned a frame: the next one starts afresh.
    ended: bool,
    problem: Option<String>,
    channels: Channels,
    /// The shape of the last frame read whole of each of [`Ev::ALL`], for [`FrameBuilder::frame`].
    shapes: Box<[Shape; Ev::ALL.len()]>,
}

/// Header lines of a [`Shape`], at most: an event Asterisk sends has up to about 40.
const SHAPE_LINES: usize = 48;

/// The header lines after `Event` of the last frame of one event read whole, in order. Asterisk writes an
/// event's headers in the same order every time, so the next frame of that event is read by checking that
/// each of its lines starts with the same `Name: `, instead of finding its colon and looking its name up;
/// from the first line that differs, the rest of the frame is read the general way, and the shape follows
/// it.
#[derive(Debug, Clone, Copy)]
struct Shape {
    lines: [ShapeLine; SHAPE_LINES],
    len: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            lines: [ShapeLine::default(); SHAPE_LINES],
            len: 0,
        }
    }
}

impl Shape {
    /// Adds the line at `b[at..]` whose colon is at `colon`, if it is written `Name: ` as Asterisk writes
    /// it and there is room: `false` when not, and the shape ends before it.
    fn learn(&mut self, b: &[u8], at: usize, colon: usize, key: Option<usize>) -> bool {
        let len = colon + 2 - at;
        let (Some(slot), Some(prefix)) = (self.lines.get_mut(self.len), b.get(at..at + len)) else {
            return false;
        };
        // A name of one byte or more, not ending with a blank (`Name : ` is trimmed the general way).
        let name_end = len.checked_sub(3).and_then(|i| prefix.get(i));
        if !prefix.ends_with(b": ") || name_end.is_none_or(|c| *c <= b' ') {
            return false;
        }
        let Some(line) = ShapeLine::new(prefix, key) else {
            return false;
        };
        *slot = line;
        self.len += 1;
        true
    }
}

/// A header line of a [`Shape`]: its `Name: ` (name, colon and space).
#[derive(Debug, Clone, Copy, Default)]
struct ShapeLine {
    prefix: Prefix,
    /// The [`KEYS`] index of the name, or `NOT_KEPT`.
    key: usize,
    /// The name's bit in [`Headers::present`] (none when not kept).
    bit: u64,
}

/// [`ShapeLine::key`] of a header ccmon does not read.
const NOT_KEPT: usize = usize::MAX;

impl ShapeLine {
    /// The line that starts with `prefix` (`Name: `, at most 32 bytes), whose name is the [`KEYS`] `key`.
    const fn new(prefix: &[u8], key: Option<usize>) -> Option<ShapeLine> {
        let Some(prefix) = Prefix::new(prefix) else {
            return None;
        };
        let (key, bit) = match key {
            Some(k) => (k, 1 << k),
            None => (NOT_KEPT, 0),
        };
        Some(ShapeLine { prefix, key, bit })
    }
}

/// A frame's first line as Asterisk writes it: it names the event, and so the frame's [`Shape`].
const EVENT_LINE: ShapeLine = match ShapeLine::new(b"Event: ", Some(key::EVENT)) {
    Some(line) => line,
    None => panic!("`Event: ` is a prefix"),
};

/// How far [`read_shaped`] got.
struct Shaped {
    /// Where the first line it did not read starts (past the frame when it is `ended`).
    at: usize,
    /// The shape's lines it read.
    matched: usize,
    /// It read the frame's closing blank line too.
    ended: bool,
}

/// The '\n's of a frame, found 64 bytes at a time from its start and handed out in order. A line's end is
/// then a bit away from the last one's: the next line's start does not wait for a search through its bytes.
struct Newlines<'b> {
    b: &'b [u8],
    /// The block `mask` covers: bit i for byte `base + i`.
    base: usize,
    /// The newlines of the block not handed out yet.
    mask: u64,
}

impl<'b> Newlines<'b> {
    fn new(b: &'b [u8]) -> Self {
        Newlines {
            b,
            base: 0,
            mask: Self::block(b, 0),
        }
    }

    /// The newlines of the 64 bytes from `base` (none past the end of `b`).
    #[inline(always)]
    fn block(b: &[u8], base: usize) -> u64 {
        let rest = b.get(base..).unwrap_or_default();
        match rest.first_chunk::<64>() {
            Some(block) => crate::scan::marks(block, b'\n'),
            None => {
                let mut block = [0u8; 64];
                block[..rest.len()].copy_from_slice(rest);
                crate::scan::marks(&block, b'\n')
            }
        }
    }

    /// The next '\n' of `b`.
    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 64;
            if self.base >= self.b.len() {
                return None;
            }
            self.mask = Self::block(self.b, self.base);
        }
        let newline = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(newline)
    }
}

/// Reads the header lines from `b[at..]` while they are those of `shape` (see [`read_line`]), then the
/// frame's closing blank line (`\r\n`) if it follows. `newlines` hands out the lines' ends from `at` on.
#[inline(always)]
fn read_shaped(
    b: &[u8],
    mut at: usize,
    newlines: &mut Newlines<'_>,
    shape: &Shape,
    h: &mut Headers<'_>,
) -> Shaped {
    let lines = shape.lines.get(..shape.len).unwrap_or_default();
    let mut left = lines.iter();
    // The headers read, gathered here rather than in `h` line by line (a register, not memory).
    let mut present = 0;
    while let Some(line) = left.next() {
        let read = newlines.next().and_then(|newline| {
            let bit = read_line(b, at, newline, line, &mut h.spans)?;
            Some((newline, bit))
        });
        match read {
            Some((newline, bit)) => {
                present |= bit;
                at = newline + 1;
            }
            None => {
                h.present |= present;
                return Shaped {
                    at,
                    matched: lines.len() - left.len() - 1,
                    ended: false,
                };
            }
        }
    }
    h.present |= present;
    let ended = newlines.next() == Some(at + 1) && b.get(at) == Some(&b'\r');
    Shaped {
        at: if ended { at + 2 } else { at },
        matched: lines.len(),
        ended,
    }
}

/// Reads the header line `b[at..newline]` if it is `line` written as Asterisk writes it (`Name: Value\r`,
/// the value not starting or ending with a blank) and puts its value's range into `spans` if ccmon reads
/// it: its bit of [`Headers::present`] (0 when not read); `None` for anything else, to be read the general
/// way.
#[inline(always)]
fn read_line(
    b: &[u8],
    at: usize,
    newline: usize,
    line: &ShapeLine,
    spans: &mut [[u32; 2]; KEYS.len()],
) -> Option<u64> {
    let window = b.get(at..)?.first_chunk::<32>()?;
    if !line.prefix.starts(window) {
        return None;
    }
    // (`NOT_KEPT` is no index.) Of a header ccmon does not read, the name is all that matters.
    let Some(span) = spans.get_mut(line.key) else {
        return Some(0);
    };
    // `Value\r`: at least one byte, not a blank at either end. Most lines end within the window, where the
    // bytes are read without a bounds check (the indices are below 32).
    let (end, len) = (newline.wrapping_sub(at), line.prefix.len());
    let plain = match end {
        0..32 => {
            end >= len.wrapping_add(2)
                && window[end.wrapping_sub(1) & 31] == b'\r'
                && window[len & 31] > b' '
                && window[end.wrapping_sub(2) & 31] > b' '
        }
        _ => matches!(
            b.get(at + len..newline),
            Some([first, .., last, b'\r']) if *first > b' ' && *last > b' '
        ),
    };
    if !plain {
        return None;
    }
    // Both ends within `b`, which is at most u32::MAX bytes long: no sum wraps.
    *span = [at.wrapping_add(len) as u32, newline.wrapping_sub(1) as u32];
    Some(line.bit)
}

/// The channels alive on a connection, by name: who they are, the bridge they are in, the bridge they last
/// left and whom they last dialled, so that an AttendedTransfer that names only channels and bridges can say
/// who was transferred where.
#[derive(Debug, Default, Clone)]
struct Channels(FxHashMap<String, Channel>);

/// The values of the headers ccmon reads in one frame, by [`key`] index, as byte ranges of the text they were
/// read from: the builder's buffer (a frame read line by line) or the input itself ([`FrameBuilder::frame`]).
/// Ranges rather than `&str`s: a frame starts with 256 bytes of zeros instead of a copy of 32 empty strings.
struct Headers<'f> {
    text: &'f str,
    spans: [[u32; 2]; KEYS.len()],
    /// Bit i: `spans[i]` was given.
    present: u64,
}

impl<'f> Headers<'f> {
    /// The value of header `i` (a [`key`]), if given and not empty.
    fn get(&self, i: usize) -> Option<&'f str> {
        if self.present & (1u64 << i) == 0 {
            return None;
        }
        let [start, end] = *self.spans.get(i)?;
        self.text
            .get(start as usize..end as usize)
            .filter(|v| !v.is_empty())
    }

    /// The frame's `Event`: its name, and which of [`Ev`] it is (`None`: one ccmon does not read).
    fn event(&self) -> Option<(&'f str, Option<Ev>)> {
        let name = self.get(key::EVENT)?;
        let [start, _] = *self.spans.get(key::EVENT)?;
        let rest = self.text.as_bytes().get(start as usize..)?;
        let mut spare = [0u8; 32];
        let event = EVENT_NAMES.find(window(rest, &mut spare), name.len());
        Some((name, event.and_then(|i| Ev::ALL.get(i).copied())))
    }

    /// The first of `keys` the frame has.
    fn first(&self, keys: &[usize]) -> &'f str {
        keys.iter().find_map(|&k| self.get(k)).unwrap_or("")
    }
}

/// A frame read whole by [`FrameBuilder::frame`].
#[derive(Debug)]
pub struct WholeFrame<'a> {
    /// Bytes of input it took, its closing blank line included.
    pub len: usize,
    /// Lines it took, its closing blank line included.
    pub lines: u64,
    pub frame: AmiFrame<'a>,
}

#[derive(Debug, Default, Clone)]
struct Channel {
    number: String,
    bridge: String,
    left: String,
    dialled: String,
}

/// Channels tracked per connection before the table is cleared (it only ever misses a transfer's parties).
const MAX_CHANNELS: usize = 100_000;

/// One finished frame, mapped.
#[derive(Debug, Clone, PartialEq)]
pub enum AmiFrame<'b> {
    Event(AmiEvent<'b>),
    /// Not an event (an action's response, the banner): nothing to count.
    Skip,
    /// A channel or bridge event, read for who is connected to whom (see [`FrameBuilder`]): counted as used.
    Tracked,
    /// An event ccmon does not use.
    Unknown,
    Rejected(RejectReason, String),
    /// Part of the answer to a QueueStatus action (no `Timestamp`: it describes the moment it is read).
    Status(StatusItem<'b>),
}

/// One item of a switch's status answer: a frame of an AMI QueueStatus answer, or a row of mod_callcenter's
/// `callcenter_config` tables ([`crate::freeswitch::callcenter_status`]).
#[derive(Debug, Clone, PartialEq)]
pub enum StatusItem<'b> {
    /// `QueueParams`: a queue the answer covers (its waiting calls and members follow).
    Queue(&'b str),
    /// `QueueEntry`: a caller waiting now, for `wait` seconds. QueueEntry has no `Linkedid`: the call is its
    /// `Uniqueid`, which is the `Linkedid` of a caller's own channel (the oldest of its call).
    Entry {
        queue: &'b str,
        call: &'b str,
        caller: &'b str,
        wait: f64,
    },
    /// `QueueMember`: an agent of the queue now.
    Member {
        queue: &'b str,
        agent: &'b str,
        paused: bool,
        reason: &'b str,
    },
    /// `QueueStatusComplete`: the answer is whole.
    Complete,
}

/// An event from a frame, borrowing from the builder's buffers. AMI has no event ids.
pub type AmiEvent<'b> = OwnedEvent<'b, ()>;

impl FrameBuilder {
    /// Takes one line (without its newline). A blank line ends the frame: it is returned mapped.
    /// `max_bytes` bounds a frame.
    pub fn push(&mut self, line: &[u8], max_bytes: usize) -> Option<AmiFrame<'_>> {
        if self.ended {
            self.present = 0;
            self.kept.clear();
            self.headers = 0;
            self.bytes = 0;
            self.ended = false;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            if self.headers == 0 && self.problem.is_none() {
                return None;
            }
            self.ended = true;
            return Some(match self.problem.take() {
                Some(why) => AmiFrame::Rejected(RejectReason::BadFrame, why),
                None => {
                    let h = Headers {
                        text: &self.kept,
                        spans: self.spans,
                        present: self.present,
                    };
                    let event = h.event();
                    self.channels.track(&h, event);
                    map(&h, event, &self.channels)
                }
            });
        }
        if self.problem.is_some() {
            return None;
        }
        self.bytes += line.len();
        if self.bytes > max_bytes || self.headers >= MAX_HEADERS {
            self.problem = Some(format!(
                "frame over {max_bytes} bytes or {MAX_HEADERS} headers"
            ));
            return None;
        }
        // ASCII is checked a word at a time; only other lines pay for a full UTF-8 check.
        if !line.is_ascii() && std::str::from_utf8(line).is_err() {
            self.problem = Some("a header is not UTF-8".into());
            return None;
        }
        match memchr::memchr(b':', line) {
            Some(colon) => {
                self.headers += 1;
                let (name, value) = (line[..colon].trim_ascii(), &line[colon + 1..]);
                if let Some(i) = key_index(name) {
                    let start = self.kept.len();
                    if let (Some(span), Ok(value)) = (
                        self.spans.get_mut(i),
                        std::str::from_utf8(value.trim_ascii()),
                    ) {
                        self.kept.push_str(value);
                        // The kept values are fewer bytes than the frame, which is within `max_bytes`;
                        // a `max_bytes` past 4 GiB makes a value past it a problem, not a wrong range.
                        match (u32::try_from(start), u32::try_from(self.kept.len())) {
                            (Ok(start), Ok(end)) => {
                                *span = [start, end];
                                self.present |= 1u64 << i;
                            }
                            _ => self.problem = Some(format!("frame over {} bytes", u32::MAX)),
                        }
                    }
                }
            }
            // The banner a manager sends on connect is a line of its own, not a header.
            None if self.headers == 0 && line.starts_with(b"Asterisk Call Manager") => {}
            None => {
                let shown: String = String::from_utf8_lossy(line).chars().take(40).collect();
                self.problem = Some(format!("not a `Key: Value` line: {shown:?}"));
            }
        }
        None
    }

    /// The input ended: a frame without its closing blank line still counts.
    pub fn finish(&mut self, max_bytes: usize) -> Option<AmiFrame<'_>> {
        self.push(b"", max_bytes)
    }
}

impl FrameBuilder {
    /// Between frames: nothing of a frame read yet (a banner counts towards its frame's size).
    pub fn idle(&self) -> bool {
        self.ended || (self.headers == 0 && self.bytes == 0 && self.problem.is_none())
    }

    /// The fast path: the frame at the start of `text` (already checked as UTF-8) read whole in place, its
    /// values borrowed from `text`, when this builder is [idle](Self::idle) and the frame is a plain one —
    /// `Key: Value` lines closed by a blank line within `text`, all of it within `max_bytes`. `None` leaves
    /// the input to [`push`](Self::push), line by line, with the same result (a property test checks it): a
    /// blank line or a banner first, a line without a colon or starting with a blank, a frame over
    /// `max_bytes` or not closed yet.
    pub fn frame<'a>(&'a mut self, text: &'a str, max_bytes: usize) -> Option<WholeFrame<'a>> {
        if !self.idle() {
            return None;
        }
        // The frame must end within `max_bytes`, and within 4 GiB as offsets are kept as u32: the bytes past
        // that are not looked at, so a frame that does not end before them is left to `push`, which bounds it.
        let b = text.as_bytes();
        let b = b.get(..b.len().min(max_bytes).min(u32::MAX as usize))?;
        let mut h = Headers {
            text,
            spans: [[0; 2]; KEYS.len()],
            present: 0,
        };
        let (mut at, mut lines) = (0, 0);
        // The frame's event (an index into `Ev::ALL`) when its first line names it, and where that name is.
        let (mut event, mut named) = (None, [0, 0]);
        // After the event's line, the lines its shape does not foresee are read the general way, and the
        // shape follows them.
        let mut learning = None;
        let mut ended = false;
        let mut newlines = Newlines::new(b);
        let first = newlines.next()?;
        if let Some(bit) = read_line(b, 0, first, &EVENT_LINE, &mut h.spans) {
            h.present |= bit;
            (at, lines) = (first + 1, 1);
            let (start, end) = (EVENT_LINE.prefix.len(), first - 1);
            // Both within `b`, which is at most u32::MAX bytes long.
            named = [start as u32, end as u32];
            let mut spare = [0u8; 32];
            event = EVENT_NAMES.find(window(b.get(start..)?, &mut spare), end - start);
            if let Some(shape) = event.and_then(|e| self.shapes.get_mut(e)) {
                let shaped = read_shaped(b, at, &mut newlines, shape, &mut h);
                lines += shaped.matched as u64 + u64::from(shaped.ended);
                (at, ended) = (shaped.at, shaped.ended);
                shape.len = shaped.matched;
                learning = event.filter(|_| !ended);
            }
        }
        if !ended {
            at = self.read_general(b, at, &mut lines, &mut h, learning)?;
        }
        // The event is the one the first line named, unless another `Event` line came after it.
        let event = match (event, h.spans[key::EVENT] == named) {
            (Some(e), true) => h
                .get(key::EVENT)
                .map(|name| (name, Ev::ALL.get(e).copied())),
            _ => h.event(),
        };
        self.channels.track(&h, event);
        Some(WholeFrame {
            len: at,
            lines,
            frame: map(&h, event, &self.channels),
        })
    }
}

impl FrameBuilder {
    /// Reads the header lines of a frame from `b[at..]` the general way, and its closing blank line: where the
    /// frame ends. `lines` counts on the lines read. While they are plain, the lines go into the shape of the
    /// event `learning`. `None`: the frame is left to `push`.
    #[inline(always)]
    fn read_general(
        &mut self,
        b: &[u8],
        mut at: usize,
        lines: &mut u64,
        h: &mut Headers<'_>,
        mut learning: Option<usize>,
    ) -> Option<usize> {
        loop {
            // Within the bytes looked at, so are the frame's lines and their sum: only their number needs a
            // check of its own.
            if *lines >= MAX_HEADERS as u64 {
                return None;
            }
            // A header line starts with its name. One that starts with a blank is the frame's end (a blank
            // line) or an odd line, left to `push`, as is a line without a colon.
            if b.get(at)?.is_ascii_whitespace() {
                let newline = crate::scan::find_byte(b, at, b'\n')?;
                let line = b.get(at..newline)?;
                if *lines == 0 || !line.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                *lines += 1;
                return Some(newline + 1);
            }
            // (It starts with a letter, so its name has nothing to trim at the start.)
            let (colon, newline, key) = header_line(b, at)?;
            *lines += 1;
            if let Some(i) = key {
                // The value's range: a '\r' before the newline is not the colon, so `end` stays past it.
                let mut end = newline;
                if b.get(newline.wrapping_sub(1)) == Some(&b'\r') {
                    end -= 1;
                }
                let mut start = colon + 1;
                // `Key: Value`: one space to skip, nothing to trim at the end, as Asterisk writes it.
                match (b.get(start), b.get(start + 1), b.get(end.wrapping_sub(1))) {
                    (Some(b' '), Some(&first), Some(&last))
                        if end >= start + 2 && first > b' ' && last > b' ' =>
                    {
                        start += 1
                    }
                    _ => {
                        let value = b.get(start..end)?;
                        let trimmed = value.trim_ascii();
                        start += value.len() - value.trim_ascii_start().len();
                        end = start + trimmed.len();
                    }
                }
                // Both within `b`, which is at most u32::MAX bytes long.
                *h.spans.get_mut(i)? = [start as u32, end as u32];
                h.present |= 1u64 << i;
            }
            if let Some(shape) = learning.and_then(|e| self.shapes.get_mut(e)) {
                if !shape.learn(b, at, colon, key) {
                    learning = None;
                }
            }
            at = newline + 1;
        }
    }
}

impl Channels {
    /// Follows channels in and out of bridges and dials (this frame's event, if it is one of those).
    #[inline(always)]
    fn track(&mut self, h: &Headers<'_>, event: Option<(&str, Option<Ev>)>) {
        // Most frames are not: they cost this test, not a call.
        if let Some((
            _,
            Some(what @ (Ev::Hangup | Ev::BridgeEnter | Ev::BridgeLeave | Ev::DialBegin)),
        )) = event
        {
            self.track_channel(h, what);
        }
    }

    #[inline(never)]
    fn track_channel(&mut self, h: &Headers<'_>, what: Ev) {
        let Some(channel) = h.get(key::CHANNEL).map(str::to_string) else {
            return;
        };
        if what == Ev::Hangup {
            self.0.remove(&channel);
            return;
        }
        let value = |i| h.get(i).unwrap_or("").to_string();
        let (bridge, number, dialled) = (
            value(key::BRIDGE_UNIQUEID),
            value(key::CALLER_ID_NUM),
            value(key::DEST_CALLER_ID_NUM),
        );
        if self.0.len() >= MAX_CHANNELS && !self.0.contains_key(&channel) {
            self.0.clear();
        }
        let c = self.0.entry(channel).or_default();
        match what {
            Ev::BridgeEnter => {
                c.number = number;
                c.bridge = bridge;
            }
            Ev::BridgeLeave => {
                c.bridge.clear();
                c.left = bridge;
            }
            _ => c.dialled = dialled,
        }
    }

    /// An AttendedTransfer's transferred party and where it went, from the event or, when the event names
    /// only channels and bridges (older Asterisk), from the channels followed so far: the transferee is the
    /// channel that left the original bridge for the destination bridge, the target the other party there;
    /// a blonde transfer (`DestType: App`) goes to whom the second transferer was dialling.
    fn attended_parties<'a>(&'a self, h: &Headers<'a>) -> (&'a str, &'a str) {
        let transferers = [
            h.get(key::ORIG_TRANSFERER_CHANNEL).unwrap_or(""),
            h.get(key::SECOND_TRANSFERER_CHANNEL).unwrap_or(""),
        ];
        let orig = h.get(key::ORIG_BRIDGE_UNIQUEID).unwrap_or("");
        let dest = h
            .get(key::DEST_BRIDGE_UNIQUEID)
            .or_else(|| h.get(key::SECOND_BRIDGE_UNIQUEID))
            .unwrap_or("");
        let in_dest = |c: &&Channel| !dest.is_empty() && c.bridge == dest;
        let transferee = self
            .0
            .iter()
            .find(|(_, c)| in_dest(c) && !orig.is_empty() && c.left == orig)
            .map(|(name, c)| (name.as_str(), c.number.as_str()));
        let who = h
            .get(key::TRANSFEREE_CALLER_ID_NUM)
            .or(transferee.map(|t| t.1))
            .unwrap_or("");
        let to = match h.get(key::TRANSFER_TARGET_CALLER_ID_NUM) {
            Some(to) => to,
            None if h.get(key::DEST_TYPE) == Some("App") => self
                .0
                .get(transferers[1])
                .map_or("", |c| c.dialled.as_str()),
            None => self
                .0
                .iter()
                .find(|(name, c)| {
                    in_dest(c)
                        && !transferers.contains(&name.as_str())
                        && Some(name.as_str()) != transferee.map(|t| t.0)
                })
                .map_or("", |(_, c)| c.number.as_str()),
        };
        (who, to)
    }
}

/// A frame of a QueueStatus answer (`event` is one of its four).
fn status_item<'a>(h: &Headers<'a>, name: &'a str, event: Ev) -> AmiFrame<'a> {
    let queue = h.first(&[key::QUEUE]);
    let item = match event {
        Ev::QueueParams => StatusItem::Queue(queue),
        Ev::QueueEntry => {
            let call = h.first(&[key::LINKEDID, key::UNIQUEID]);
            let wait = h.get(key::WAIT).and_then(|w| w.parse::<f64>().ok());
            let Some(wait) = wait.filter(|w| (0.0..1e9).contains(w)) else {
                return AmiFrame::Rejected(
                    RejectReason::BadField,
                    "QueueEntry without a valid Wait".into(),
                );
            };
            if call.is_empty() {
                return AmiFrame::Rejected(
                    RejectReason::MissingField,
                    "QueueEntry without Uniqueid".into(),
                );
            }
            StatusItem::Entry {
                queue,
                call,
                caller: h.first(&[key::CALLER_ID_NUM]),
                wait,
            }
        }
        Ev::QueueMember => StatusItem::Member {
            queue,
            agent: h.first(&[
                key::MEMBER_NAME,
                key::NAME,
                key::INTERFACE,
                key::LOCATION,
                key::STATE_INTERFACE,
            ]),
            paused: h.get(key::PAUSED) == Some("1"),
            reason: h.first(&[key::PAUSED_REASON]),
        },
        _ => return AmiFrame::Status(StatusItem::Complete),
    };
    if queue.is_empty() {
        return AmiFrame::Rejected(RejectReason::MissingField, format!("{name} without Queue"));
    }
    AmiFrame::Status(item)
}

/// The frame's meaning (`event`: [`Headers::event`]).
fn map<'a>(
    h: &Headers<'a>,
    event: Option<(&'a str, Option<Ev>)>,
    channels: &'a Channels,
) -> AmiFrame<'a> {
    let Some((name, event)) = event else {
        return AmiFrame::Skip;
    };
    let Some(event) = event else {
        return AmiFrame::Unknown;
    };
    let kind = match event {
        Ev::QueueParams | Ev::QueueEntry | Ev::QueueMember | Ev::QueueStatusComplete => {
            return status_item(h, name, event)
        }
        Ev::BridgeEnter | Ev::BridgeLeave | Ev::BridgeDestroy | Ev::DialBegin => {
            return AmiFrame::Tracked
        }
        Ev::QueueCallerJoin => Kind::Enter,
        Ev::AgentConnect => Kind::Answer,
        Ev::QueueCallerAbandon => Kind::Abandon,
        Ev::AgentComplete => Kind::TalkEnd,
        Ev::BlindTransfer | Ev::AttendedTransfer => Kind::Transfer,
        Ev::MusicOnHoldStart => Kind::MohStart,
        Ev::MusicOnHoldStop => Kind::MohStop,
        Ev::AgentCalled => Kind::Ring,
        Ev::AgentRingNoAnswer => Kind::RingEnd,
        Ev::QueueMemberAdded => Kind::AgentLogin,
        Ev::QueueMemberRemoved => Kind::AgentLogoff,
        Ev::QueueMemberPause if h.get(key::PAUSED) == Some("0") => Kind::AgentUnpause,
        Ev::QueueMemberPause => Kind::AgentPause,
        Ev::QueueCallerLeave => Kind::Leave,
        Ev::Hangup | Ev::Hold | Ev::Unhold | Ev::AgentDump | Ev::QueueMemberStatus => Kind::Other,
    };
    let Some(ts) = h
        .get(key::TIMESTAMP)
        .and_then(|t| crate::queue_log::parse_timestamp(t.as_bytes()))
    else {
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
        Kind::Transfer => h.first(&[
            key::TRANSFEREE_LINKEDID,
            key::ORIG_TRANSFERER_LINKEDID,
            key::TRANSFERER_LINKEDID,
            key::LINKEDID,
        ]),
        _ => h.first(&[key::LINKEDID, key::UNIQUEID]),
    };
    let queue = h.first(&[key::QUEUE]);
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
    let text = std::borrow::Cow::Borrowed;
    let (transferee, target) = match event {
        Ev::AttendedTransfer => channels.attended_parties(h),
        Ev::BlindTransfer => (
            h.first(&[key::TRANSFEREE_CALLER_ID_NUM]),
            h.first(&[key::EXTENSION, key::TRANSFER_TARGET_CALLER_ID_NUM]),
        ),
        _ => ("", ""),
    };
    AmiFrame::Event(AmiEvent {
        ts,
        kind,
        call: text(call),
        queue: text(queue),
        agent: text(h.first(&[key::MEMBER_NAME, key::INTERFACE, key::STATE_INTERFACE])),
        caller: text(match kind {
            Kind::Enter | Kind::Abandon => h.first(&[key::CALLER_ID_NUM]),
            // Who was transferred (shown only with show_callers).
            Kind::Transfer => transferee,
            _ => "",
        }),
        detail: text(match kind {
            Kind::MohStart => h.first(&[key::CLASS]),
            Kind::AgentPause => h.first(&[key::PAUSED_REASON, key::REASON]),
            // How long the caller waited: lets the engine count an abandon whose join it never heard.
            Kind::Abandon => h.first(&[key::HOLD_TIME]),
            // Where to: the extension dialled (blind), or the party the caller was joined with (attended).
            Kind::Transfer => target,
            _ => "",
        }),
        id: None,
        site: text(""),
    })
}

/// A recorded session saved as a JSON list of events, one object of header names to values each (as the
/// cacofonisk project records them), rewritten as the AMI text a manager would have sent, for
/// [`crate::Engine::feed`] with [`crate::Format::Ami`].
///
/// Such recordings carry no `Timestamp`. An event without one is given the newest channel-creation time seen
/// so far: Asterisk's `Uniqueid` and `Linkedid` are `[system-]epoch.sequence`, and an event happens no
/// earlier than the channels it names were made. A recording's durations are therefore to the second at
/// best; a `HoldTime` it carries is exact. An element that is not an object becomes a line the frame reader
/// rejects (`bad_frame`), so it is counted, and the events around it still are.
///
/// ```
/// let text = ccmon_core::ami::recording_to_text(br#"[{"Event": "Hangup", "Uniqueid": "pbx-1585318545.326"}]"#).unwrap();
/// assert_eq!(text, b"Event: Hangup\r\nUniqueid: pbx-1585318545.326\r\nTimestamp: 1585318545\r\n\r\n");
/// ```
pub fn recording_to_text(data: &[u8]) -> Result<Vec<u8>, String> {
    use serde_json::Value;
    let events: Vec<Value> =
        serde_json::from_slice(data).map_err(|e| format!("not a JSON list of AMI events: {e}"))?;
    let mut out = Vec::with_capacity(data.len());
    let mut clock: Option<u64> = None;
    for event in &events {
        let Value::Object(headers) = event else {
            out.extend_from_slice(b"an element that is not an object\r\n\r\n");
            continue;
        };
        for (key, value) in headers {
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            };
            // A header's value is one line: a newline inside would start a header of its own.
            let value = value.replace(['\r', '\n'], " ");
            out.extend_from_slice(format!("{key}: {value}\r\n").as_bytes());
            if ["Uniqueid", "Linkedid"].contains(&key.as_str()) || key.ends_with("Uniqueid") {
                if let Some(made) = channel_epoch(&value) {
                    clock = Some(clock.map_or(made, |c| c.max(made)));
                }
            }
        }
        if !headers.contains_key("Timestamp") {
            if let Some(ts) = clock {
                out.extend_from_slice(format!("Timestamp: {ts}\r\n").as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    Ok(out)
}

/// The creation time (epoch seconds) in an Asterisk unique id such as `pbx-1585318545.326`.
fn channel_epoch(id: &str) -> Option<u64> {
    let tail = id.rsplit('-').next()?;
    let secs = tail.split('.').next()?;
    secs.parse::<u64>()
        .ok()
        .filter(|s| (946_684_800..32_503_680_000).contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_found_in_any_case_and_nothing_else() {
        for (i, k) in KEYS.iter().enumerate() {
            assert_eq!(key_index(k.as_bytes()), Some(i), "{k}");
            assert_eq!(key_index(k.to_ascii_lowercase().as_bytes()), Some(i), "{k}");
            assert_eq!(key_index(k.to_ascii_uppercase().as_bytes()), Some(i), "{k}");
            assert_eq!(key_index(&k.as_bytes()[1..]), None, "{k}");
        }
        for other in ["Privilege", "Position", "Count", "ChannelState", "", "X"] {
            assert_eq!(key_index(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn every_event_is_found_by_its_exact_name_only() {
        let find = |name: &str| EVENT_NAMES.find(window(name.as_bytes(), &mut [0; 32]), name.len());
        for (i, e) in Ev::ALL.iter().enumerate() {
            assert_eq!(find(e.name()), Some(i), "{e:?}");
            assert_eq!(find(&e.name().to_ascii_lowercase()), None, "{e:?}");
            assert_eq!(find(&e.name()[1..]), None, "{e:?}");
            assert_eq!(find(&format!("{}s", e.name())), None, "{e:?}");
        }
        for other in ["QueueSummary", "Newchannel", "VarSet", "", "X"] {
            assert_eq!(find(other), None, "{other}");
        }
    }

    proptest::proptest! {
        #[test]
        fn a_name_is_found_as_a_plain_search_finds_it(
            key in 0..KEYS.len(),
            upper in proptest::collection::vec(proptest::bool::ANY, 32),
            change in proptest::option::of((0usize..32, proptest::num::u8::ANY)),
            cut in 0usize..3,
            after in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        ) {
            // A key in any case, perhaps with a byte changed or shortened, at the start of a window of
            // anything.
            let mut name: Vec<u8> = KEYS[key].bytes().zip(&upper).map(|(c, &u)| if u { c.to_ascii_uppercase() } else { c }).collect();
            if let Some((at, byte)) = change {
                let at = at % name.len();
                name[at] = byte;
            }
            name.truncate(name.len().saturating_sub(cut));
            let mut window = [0u8; 32];
            for (w, b) in window.iter_mut().zip(name.iter().chain(&after)) {
                *w = *b;
            }
            let expected = KEYS.iter().position(|k| k.as_bytes().eq_ignore_ascii_case(&name));
            proptest::prop_assert_eq!(key_in_window(&window, name.len()), expected);
            proptest::prop_assert_eq!(key_index(&name), expected);
        }
    }

    /// The frames of `text`, their events owned (they borrow the builder while it reads on).
    fn frames(text: &str) -> Vec<AmiFrame<'static>> {
        frames_within(text, 65536)
    }

    /// The frames of `text` read line by line, each bounded by `max` bytes.
    fn frames_within(text: &str, max: usize) -> Vec<AmiFrame<'static>> {
        let mut b = FrameBuilder::default();
        let mut out = Vec::new();
        for l in text.split('\n') {
            out.extend(b.push(l.as_bytes(), max).map(owned));
        }
        out.extend(b.finish(max).map(owned));
        out
    }

    fn owned(f: AmiFrame<'_>) -> AmiFrame<'static> {
        let own = |c: std::borrow::Cow<'_, str>| std::borrow::Cow::Owned(c.into_owned());
        match f {
            AmiFrame::Event(e) => AmiFrame::Event(AmiEvent {
                ts: e.ts,
                kind: e.kind,
                call: own(e.call),
                queue: own(e.queue),
                agent: own(e.agent),
                caller: own(e.caller),
                detail: own(e.detail),
                id: None,
                site: own(e.site),
            }),
            AmiFrame::Skip => AmiFrame::Skip,
            AmiFrame::Tracked => AmiFrame::Tracked,
            AmiFrame::Unknown => AmiFrame::Unknown,
            AmiFrame::Rejected(r, w) => AmiFrame::Rejected(r, w),
            AmiFrame::Status(item) => {
                let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
                AmiFrame::Status(match item {
                    StatusItem::Queue(q) => StatusItem::Queue(leak(q)),
                    StatusItem::Entry {
                        queue,
                        call,
                        caller,
                        wait,
                    } => StatusItem::Entry {
                        queue: leak(queue),
                        call: leak(call),
                        caller: leak(caller),
                        wait,
                    },
                    StatusItem::Member {
                        queue,
                        agent,
                        paused,
                        reason,
                    } => StatusItem::Member {
                        queue: leak(queue),
                        agent: leak(agent),
                        paused,
                        reason: leak(reason),
                    },
                    StatusItem::Complete => StatusItem::Complete,
                })
            }
        }
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

    /// The frames of `text` as `Engine::feed` reads them: whole where the fast path takes them, the rest
    /// line by line; and the lines counted.
    fn frames_fast(text: &str, max: usize) -> (Vec<AmiFrame<'static>>, u64) {
        let mut b = FrameBuilder::default();
        let (mut out, mut lines, mut start) = (Vec::new(), 0, 0);
        while start < text.len() {
            if let Some(w) = b.frame(&text[start..], max) {
                out.push(owned(w.frame));
                lines += w.lines;
                start += w.len;
                continue;
            }
            let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            lines += 1;
            out.extend(b.push(&text.as_bytes()[start..end], max).map(owned));
            start = end + 1;
        }
        out.extend(b.finish(max).map(owned));
        (out, lines)
    }

    /// Header lines, the usual and the awkward, for frames built at random.
    const LINES: [&str; 37] = [
        "Event: QueueCallerJoin",
        "Event: AttendedTransfer",
        "Event: QueueStatusComplete",
        "Event: queuecallerjoin",
        "MemberName: Local/2124@from-queue/n;a-value-past-32-bytes",
        "AVeryLongHeaderNameThatIsNotAKey: x",
        "Channel: SIP/a:b:c",
        "TransferTargetCallerIDNum  : 2000",
        "Queue: ventes-été",
        "Event: AgentConnect",
        "Event: AgentComplete",
        "Event: QueueCallerAbandon",
        "Event: BlindTransfer",
        "Event: QueueMemberPause",
        "Event: QueueEntry",
        "Event: BridgeEnter",
        "Timestamp: 1700000000.250000",
        "Timestamp: junk",
        "Queue: sales",
        "Queue:",
        "Linkedid: 1700000000.42",
        "Uniqueid: 1700000000.43",
        "MemberName: PJSIP/2010",
        "CallerIDNum: 600111222",
        "Privilege: agent,all",
        "  linkedid  :   L2  ",
        "QUEUE\t: support",
        "TransfereeLinkedid: 1700000000.42",
        "TRANSFERTARGETCALLERIDNUM: 2000",
        "Extension: 300",
        "Channel: PJSIP/trunk-0001",
        "BridgeUniqueid: b1",
        "Wait: 12",
        "garbage without a colon",
        ": a value without a name",
        "Asterisk Call Manager/5.0.1",
        "",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn a_frame_read_whole_maps_as_read_line_by_line(
            lines in proptest::collection::vec(
                (proptest::sample::select(&LINES[..]), proptest::sample::select(vec!["\r\n", "\n", "\r\n", " \r\n"])),
                0..40,
            ),
            max in proptest::sample::select(vec![40usize, 100, 65536]),
        ) {
            let text: String = lines.iter().map(|(l, end)| format!("{l}{end}")).collect();
            let (whole, counted) = frames_fast(&text, max);
            proptest::prop_assert_eq!(whole, frames_within(&text, max), "{:?}", text);
            proptest::prop_assert_eq!(counted, text.split_terminator('\n').count() as u64);
        }
    }

    /// The header lines (after `Event`) of three events, as Asterisk writes them, for frames of known shapes.
    const SHAPES: [(&str, &[&str]); 3] = [
        (
            "AgentConnect",
            &[
                "Privilege",
                "Timestamp",
                "Queue",
                "Uniqueid",
                "Linkedid",
                "Channel",
                "MemberName",
                "Interface",
            ],
        ),
        (
            "QueueCallerJoin",
            &[
                "Privilege",
                "Timestamp",
                "Queue",
                "Linkedid",
                "CallerIDNum",
                "Position",
                "Count",
            ],
        ),
        (
            "BlindTransfer",
            &[
                "Privilege",
                "Timestamp",
                "TransfererLinkedid",
                "TransfereeLinkedid",
                "TransferTargetCallerIDNum",
            ],
        ),
    ];

    /// A frame of `SHAPES[shape]`, each line as `changes` says: mostly as Asterisk writes it (its value one of
    /// several, some past 32 bytes), else without it, after an unknown line, with blanks around the value, an
    /// empty value, a bare newline, its name in capitals or past 32 bytes, or a colon first. Its first line
    /// may differ too.
    fn shaped_frame(shape: usize, changes: &[u8]) -> String {
        const VALUES: [&str; 6] = [
            "1700000000.250000",
            "sales",
            "L1",
            "Local/2124@from-queue/n;a-value-well-past-32-bytes",
            "PJSIP/2010",
            "x",
        ];
        let (event, names) = SHAPES[shape % SHAPES.len()];
        let change = |i: usize| changes.get(i).copied().unwrap_or(0);
        let mut text = match change(0) {
            20 => format!("event: {event}\r\n"),
            21 => format!("Event:  {event}\r\n"),
            _ => format!("Event: {event}\r\n"),
        };
        for (i, name) in names.iter().enumerate() {
            let value = VALUES[(i + usize::from(change(i + 1))) % VALUES.len()];
            // A timestamp is one: the frames' events are then what the line-by-line reader makes of them.
            let value = if *name == "Timestamp" {
                VALUES[0]
            } else {
                value
            };
            text += &match change(i + 1) {
                12 => continue,
                13 => format!("AVeryLongHeaderNameThatIsNotAKeyAtAll: y\r\n{name}: {value}\r\n"),
                14 => format!("{name}:  {value} \r\n"),
                15 => format!("{name}:\r\n"),
                16 => format!("{name}: {value}\n"),
                17 => format!("{}: {value}\r\n", name.to_uppercase()),
                18 => format!(": {value}\r\n"),
                19 => format!("{name} : {value}\r\n"),
                _ => format!("{name}: {value}\r\n"),
            };
        }
        text + "\r\n"
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]

        /// Frames of a few events, most as Asterisk writes them, so that their shapes are learnt, followed and
        /// departed from at every line.
        #[test]
        fn frames_of_known_shapes_read_whole_map_as_read_line_by_line(
            made in proptest::collection::vec(
                (0usize..3, proptest::collection::vec(proptest::prop_oneof![8 => 0u8..12, 2 => 12u8..22], 10)),
                1..40,
            ),
        ) {
            let text: String = made.iter().map(|(shape, changes)| shaped_frame(*shape, changes)).collect();
            let (whole, counted) = frames_fast(&text, 65536);
            proptest::prop_assert_eq!(&whole, &frames(&text), "{:?}", text);
            proptest::prop_assert_eq!(counted, text.split_terminator('\n').count() as u64);
        }
    }

    #[test]
    fn a_frame_of_a_known_shape_is_read_whole_by_it() {
        let text = shaped_frame(0, &[]).repeat(3);
        let mut b = FrameBuilder::default();
        let mut start = 0;
        while start < text.len() {
            let Some(w) = b.frame(&text[start..], 65536) else {
                panic!("a plain frame is read whole: {:?}", &text[start..]);
            };
            assert!(
                matches!(w.frame, AmiFrame::Event(ref e) if e.kind == Kind::Answer),
                "{:?}",
                w.frame
            );
            start += w.len;
        }
        // The shape of AgentConnect: its eight lines after `Event`, learnt from the first frame.
        let shapes = Ev::ALL.iter().zip(b.shapes.iter());
        let learnt: Vec<_> = shapes.filter(|(_, shape)| shape.len > 0).collect();
        let [(Ev::AgentConnect, shape)] = learnt[..] else {
            panic!("{learnt:?}")
        };
        assert_eq!(shape.len, 8);
        assert_eq!(shape.lines[6].key, key::MEMBER_NAME);
    }

    #[test]
    fn a_frame_longer_than_a_shape_is_read_whole_as_by_line() {
        // 60 header lines: more than a shape holds. Its shape ends at 48 lines; the rest is read the general
        // way every time.
        let mut frame =
            String::from("Event: AgentConnect\r\nTimestamp: 100\r\nQueue: q\r\nLinkedid: L1\r\n");
        for i in 0..56 {
            frame += &format!("Variable{i}: value {i}\r\n");
        }
        frame += "MemberName: PJSIP/2010\r\n\r\n";
        let text = frame.repeat(3);
        let (fast, counted) = frames_fast(&text, 65536);
        assert_eq!(fast, frames(&text));
        assert_eq!(counted, 3 * 62);
        assert!(
            matches!(&fast[2], AmiFrame::Event(e) if e.agent == "PJSIP/2010"),
            "{fast:?}"
        );
    }

    #[test]
    fn lines_past_the_32_byte_window_are_read_whole_as_by_line() {
        let agent = "Local/2124@from-queue/n;a-value-well-past-32-bytes";
        for (name, at_end) in [
            ("MemberName", false),
            ("MemberName", true),
            ("membername  ", false),
        ] {
            let text = format!(
                "Event: AgentConnect\r\nAVeryLongHeaderNameThatIsNotAKey: x\r\nTimestamp: 100\r\nQueue: q\r\n\
                 Linkedid: L1\r\n{name}: {agent}\r\n\r\n{}",
                if at_end { "" } else { "Event: Hangup\r\n" }
            );
            let (fast, _) = frames_fast(&text, 65536);
            let Some(AmiFrame::Event(e)) = fast.first() else {
                panic!("{fast:?}")
            };
            assert_eq!(e.agent, agent);
            assert_eq!(fast, frames(&text), "{text:?}");
            let mut b = FrameBuilder::default();
            assert!(b.frame(&text, 65536).is_some(), "{text:?} is read whole");
        }
    }

    #[test]
    fn plain_frames_are_read_whole() {
        let text = "Event: QueueCallerJoin\r\nTimestamp: 100\r\nQueue: sales\r\nLinkedid: L1\r\n\r\nEvent: Hangup\r\n";
        let mut b = FrameBuilder::default();
        let w = b
            .frame(text, 65536)
            .map(|w| (w.len, w.lines, owned(w.frame)));
        let Some((len, 5, AmiFrame::Event(e))) = w else {
            panic!("{w:?}")
        };
        assert_eq!(
            (len, e.queue.as_ref()),
            (text.find("Event: Hangup").unwrap_or(0), "sales")
        );
        // The next frame is not closed yet; a banner is left to the line reader.
        assert!(b.frame(&text[len..], 65536).is_none());
        assert!(b
            .frame("Asterisk Call Manager/5.0.1\r\n\r\n", 65536)
            .is_none());
    }

    #[test]
    fn an_endless_frame_is_bounded() {
        let mut b = FrameBuilder::default();
        for _ in 0..10_000 {
            assert_eq!(b.push(b"X-Header: 0123456789", 4096), None);
        }
        assert!(b.headers <= MAX_HEADERS);
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
