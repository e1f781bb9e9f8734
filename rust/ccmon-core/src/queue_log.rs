//! Asterisk queue_log: `epoch|callid|queue|agent|EVENT|data1|data2|...` (SPEC §7).

use crate::event::{Event, Kind, Parsed, RejectReason};

/// Parses one line (without its trailing newline). Never panics, whatever the bytes.
///
/// ```
/// use ccmon_core::queue_log::parse_line;
/// use ccmon_core::event::{Parsed, Kind};
/// let Parsed::Event(e) = parse_line(b"1266833911|1266833905.2|9000|NONE|ENTERQUEUE||07000000001") else { panic!() };
/// assert_eq!((e.kind, e.queue, e.caller, e.ts), (Kind::Enter, &b"9000"[..], &b"07000000001"[..], 1266833911.0));
/// ```
pub fn parse_line(line: &[u8]) -> Parsed<'_> {
    let mut scanned = Scan::default();
    let line = Lines::new(line).next_line(&mut scanned).unwrap_or(line);
    parse_scanned(line, &scanned)
}

/// What [`Lines::next_line`] found in a line: where it ends, its first eight '|', and whether it is plain ASCII
/// without NUL (such a line needs no UTF-8 or NUL check).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scan {
    /// Offset of the line's '\n', or the buffer's length when it has none (`newline` false).
    pub end: usize,
    pub newline: bool,
    /// Offsets of the first `bar_count` (at most [`MAX_BARS`]) '|'.
    pub bars: [usize; MAX_BARS],
    pub bar_count: usize,
    pub plain: bool,
}

/// Fields past the eighth '|' are never read (the caller number of ENTERQUEUE is the seventh field).
pub const MAX_BARS: usize = 8;

/// Parses a line already scanned by [`Lines::next_line`] (`line` excludes the newline).
pub fn parse_scanned<'a>(line: &'a [u8], scanned: &Scan) -> Parsed<'a> {
    let line = match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    };
    let n = scanned.bar_count;
    // The fields past the last '|' end with the line (a select per slot: a copy of `n` would call memcpy).
    let bars: [usize; MAX_BARS] =
        std::array::from_fn(|i| if i < n { scanned.bars[i] } else { line.len() });
    if !scanned.plain {
        if memchr::memchr(0, line).is_some() {
            return Parsed::Rejected(RejectReason::NulByte);
        }
        if std::str::from_utf8(line).is_err() {
            return Parsed::Rejected(RejectReason::InvalidUtf8);
        }
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Parsed::Blank;
    }
    if n < 4 {
        return Parsed::Rejected(RejectReason::TooFewFields);
    }
    let field = |i: usize| -> &[u8] {
        let start = if i == 0 { 0 } else { bars[i - 1] + 1 };
        let end = if i < MAX_BARS { bars[i] } else { line.len() };
        line.get(start..end.max(start)).unwrap_or(&[])
    };
    let Some(ts) = parse_timestamp(field(0)) else {
        return Parsed::Rejected(RejectReason::BadTimestamp);
    };
    let (call, queue, agent, name) = (field(1), field(2), field(3), field(4));
    let Some(kind) = event_kind(name, line.get(bars[3] + 1..).unwrap_or(&[])) else {
        return Parsed::Unknown;
    };
    if kind.is_call_event()
        && (call.is_empty() || call == b"NONE" || queue.is_empty() || queue == b"NONE")
    {
        return Parsed::Rejected(RejectReason::MissingField);
    }
    let caller = if kind == Kind::Enter { field(6) } else { &[] };
    Parsed::Event(Event {
        ts,
        call,
        queue,
        agent,
        kind,
        caller,
        // PAUSE's data1 is the reason; a transfer's, where to (the extension, or the attended method).
        detail: if matches!(kind, Kind::AgentPause | Kind::Transfer) {
            field(5)
        } else {
            &[]
        },
    })
}

/// The event names ccmon knows, and what each means to the engine (SPEC §7).
const EVENT_NAMES: [(&[u8], Kind); 34] = [
    (b"ENTERQUEUE", Kind::Enter),
    (b"CONNECT", Kind::Answer),
    (b"ABANDON", Kind::Abandon),
    (b"EXITWITHTIMEOUT", Kind::Timeout),
    (b"EXITWITHKEY", Kind::ExitKey),
    (b"EXITEMPTY", Kind::ExitEmpty),
    (b"COMPLETECALLER", Kind::TalkEnd),
    (b"COMPLETEAGENT", Kind::TalkEnd),
    (b"TRANSFER", Kind::Transfer),
    (b"BLINDTRANSFER", Kind::Transfer),
    (b"ATTENDEDTRANSFER", Kind::Transfer),
    (b"RINGNOANSWER", Kind::RingEnd),
    (b"RINGCANCELED", Kind::RingEnd),
    (b"AGENTDUMP", Kind::Other),
    (b"AGENTLOGIN", Kind::AgentLogin),
    (b"AGENTLOGOFF", Kind::AgentLogoff),
    (b"AGENTCALLBACKLOGIN", Kind::AgentLogin),
    (b"AGENTCALLBACKLOGOFF", Kind::AgentLogoff),
    (b"ADDMEMBER", Kind::AgentLogin),
    (b"REMOVEMEMBER", Kind::AgentLogoff),
    (b"PAUSE", Kind::AgentPause),
    (b"UNPAUSE", Kind::AgentUnpause),
    (b"PAUSEALL", Kind::AgentPause),
    (b"UNPAUSEALL", Kind::AgentUnpause),
    (b"PENALTY", Kind::Other),
    (b"QUEUESTART", Kind::Other),
    (b"CONFIGRELOAD", Kind::Other),
    (b"DID", Kind::Other),
    (b"INFO", Kind::Other),
    (b"SYSCOMPAT", Kind::Other),
    (b"QUEUEEND", Kind::Other),
    (b"UPDATEFIELD", Kind::Other),
    (b"CALLSTATUS", Kind::Other),
    (b"RINGING", Kind::Ring),
];

/// A name of up to 16 bytes as one integer: the bytes, zero-padded (a name with a NUL never gets here: such
/// lines are rejected first), plus its length in the top byte so a longer name can never collide.
const fn name_key(name: &[u8]) -> u128 {
    let mut w = [0u8; 16];
    let mut i = 0;
    while i < name.len() && i < 15 {
        w[i] = name[i];
        i += 1;
    }
    w[15] = name.len() as u8;
    u128::from_le_bytes(w)
}

/// [`name_key`] of `name`, which starts `from` (the rest of the line): one 16-byte load and a mask when the
/// line has 16 bytes left, as it nearly always has.
fn name_key_at(name: &[u8], from: &[u8]) -> u128 {
    let Some(head) = from.as_chunks::<16>().0.first() else {
        return name_key(name);
    };
    // Only called for names shorter than 15 bytes: the shift is at most 112.
    let mask = (1u128 << (8 * name.len())) - 1;
    (u128::from_le_bytes(*head) & mask) | ((name.len() as u128) << 120)
}

/// The engine's meaning of an event name (`from` is the line from the name on); `None` for a name ccmon does
/// not know.
///
/// The common names are matched as 16-byte integers (a handful of compares instead of string compares); the
/// rest, and anything 15 bytes or longer, go through the full table.
fn event_kind(name: &[u8], from: &[u8]) -> Option<Kind> {
    const ENTER: u128 = name_key(b"ENTERQUEUE");
    const CONNECT: u128 = name_key(b"CONNECT");
    const COMPLETECALLER: u128 = name_key(b"COMPLETECALLER");
    const COMPLETEAGENT: u128 = name_key(b"COMPLETEAGENT");
    const RINGNOANSWER: u128 = name_key(b"RINGNOANSWER");
    const ABANDON: u128 = name_key(b"ABANDON");
    if name.len() < 15 {
        match name_key_at(name, from) {
            ENTER => return Some(Kind::Enter),
            CONNECT => return Some(Kind::Answer),
            COMPLETECALLER | COMPLETEAGENT => return Some(Kind::TalkEnd),
            RINGNOANSWER => return Some(Kind::RingEnd),
            ABANDON => return Some(Kind::Abandon),
            _ => {}
        }
    }
    EVENT_NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
}

/// Splits a buffer into lines and finds each line's first eight '|' in the same pass.
///
/// The buffer is classified 64 bytes at a time into three bit masks (where the '|' are, where the '\n' are, and
/// where a byte is NUL or not ASCII): on x86-64 with SSE2 compares, elsewhere eight bytes per step. A line's fields then come from a few
/// `trailing_zeros` on those masks instead of a look at every byte: this is the one pass over the input, so it
/// sets the floor of ingest cost (see the README's performance section).
pub struct Lines<'a> {
    buf: &'a [u8],
    /// Where the next line starts.
    start: usize,
    /// Offset of the block whose masks are cached (a multiple of 64), or `usize::MAX`.
    block: usize,
    pipes: u64,
    newlines: u64,
    odd: u64,
}

impl<'a> Lines<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Lines {
            buf,
            start: 0,
            block: usize::MAX,
            pipes: 0,
            newlines: 0,
            odd: 0,
        }
    }

    /// What follows the last complete line (a line still being written).
    pub fn rest(&self) -> &'a [u8] {
        self.buf.get(self.start..).unwrap_or(&[])
    }

    /// Scans the next line into `out` (offsets relative to the line's start) and returns it without its
    /// newline. With no newline left, scans what remains (`out.newline` false), returns `None` and stays put.
    pub fn next_line(&mut self, out: &mut Scan) -> Option<&'a [u8]> {
        let start = self.start;
        let len = self.buf.len();
        let mut off = start & !63;
        let mut n = 0;
        let mut odd = 0;
        while off < len {
            if self.block != off {
                self.load(off);
            }
            let from = if off < start {
                !0u64 << (start - off)
            } else {
                !0u64
            };
            let nl = self.newlines & from;
            // The bytes of this line in this block: from its start, up to its newline.
            let mine = if nl != 0 {
                from & ((nl & nl.wrapping_neg()) - 1)
            } else {
                from
            };
            let mut pipes = self.pipes & mine;
            odd |= self.odd & mine;
            // `off - start` may be "negative" in the first block; the sum with a bit index past `start` is not.
            let base = off.wrapping_sub(start);
            while pipes != 0 && n < MAX_BARS {
                out.bars[n] = base.wrapping_add(pipes.trailing_zeros() as usize);
                n += 1;
                pipes &= pipes - 1;
            }
            if nl != 0 {
                let end = off + nl.trailing_zeros() as usize;
                out.end = end - start;
                out.newline = true;
                out.bar_count = n;
                out.plain = odd == 0;
                self.start = end + 1;
                return self.buf.get(start..end);
            }
            off += 64;
        }
        out.end = len.saturating_sub(start);
        out.newline = false;
        out.bar_count = n;
        out.plain = odd == 0;
        None
    }

    fn load(&mut self, off: usize) {
        [self.pipes, self.newlines, self.odd] = match self.buf.get(off..off + 64) {
            Some(block) => block_masks(block),
            None => short_block_masks(self.buf.get(off..).unwrap_or(&[])),
        };
        self.block = off;
    }
}

/// The last, short block of a buffer, once per buffer: kept out of line so the hot loop stays small. Its
/// padding lies past the end, never inside a line.
#[cold]
#[inline(never)]
fn short_block_masks(tail: &[u8]) -> [u64; 3] {
    let mut padded = [0u8; 64];
    let n = tail.len().min(64);
    padded[..n].copy_from_slice(&tail[..n]);
    block_masks(&padded)
}

/// Bit i of each mask is set when byte i of `block` (64 bytes) is '|', is '\n', is NUL or not ASCII.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn block_masks(block: &[u8]) -> [u64; 3] {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
        zeroed_m128i,
    };
    let pipe = set_splat_i8_m128i(b'|' as i8);
    let newline = set_splat_i8_m128i(b'\n' as i8);
    let (chunks, _) = block.as_chunks::<16>();
    let mut masks = [0u64; 3];
    for (i, chunk) in chunks.iter().take(4).enumerate() {
        let v = load_unaligned_m128i(chunk);
        // movemask gives 16 bits in an i32; the cast keeps exactly those bits. On the raw bytes it gives
        // their high bits: the bytes that are not ASCII.
        let p = move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, pipe)) as u16;
        let n = move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, newline)) as u16;
        let o = (move_mask_i8_m128i(v)
            | move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, zeroed_m128i()))) as u16;
        for (m, bits) in masks.iter_mut().zip([p, n, o]) {
            *m |= u64::from(bits) << (16 * i);
        }
    }
    masks
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn block_masks(block: &[u8]) -> [u64; 3] {
    block_masks_portable(block)
}

/// Portable fallback: eight bytes per step with the exact "which bytes are zero" bit trick.
#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn block_masks_portable(block: &[u8]) -> [u64; 3] {
    use crate::scan::{HIGH, ONES};
    const LOW7: u64 = !HIGH;
    let zero_bytes = |x: u64| !(((x & LOW7) + LOW7) | x | LOW7);
    // Gathers the high bit of each byte into the top byte: bit i of the result is byte i.
    let gather = |m: u64| (m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
    let (chunks, _) = block.as_chunks::<8>();
    let mut masks = [0u64; 3];
    for (i, chunk) in chunks.iter().take(8).enumerate() {
        let x = u64::from_le_bytes(*chunk);
        let bits = [
            zero_bytes(x ^ (ONES * u64::from(b'|'))),
            zero_bytes(x ^ (ONES * u64::from(b'\n'))),
            (x & HIGH) | zero_bytes(x),
        ];
        for (m, b) in masks.iter_mut().zip(bits) {
            *m |= gather(b) << (8 * i);
        }
    }
    masks
}

/// Eight ASCII digits to their value in a few multiplications (the classic SWAR method); `None` when any of
/// the eight bytes is not a digit.
fn eight_digits(bytes: &[u8]) -> Option<u64> {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes.get(..8)?);
    let x = u64::from_le_bytes(w);
    (not_digits(x) == 0).then(|| digits_value(x))
}

/// The high bit of each byte of `x` that is not an ASCII digit, exact up to the lowest one. A byte below '0'
/// sets its high bit when '0' is subtracted, one above '9' when 0x46 is added (a borrow or a carry can only
/// mark bytes above the first non-digit).
#[inline(always)]
fn not_digits(x: u64) -> u64 {
    (x.wrapping_sub(0x3030_3030_3030_3030) | x.wrapping_add(0x4646_4646_4646_4646) | x)
        & 0x8080_8080_8080_8080
}

/// The value of eight ASCII digits read as a little-endian word (the first digit in the lowest byte).
#[inline(always)]
fn digits_value(x: u64) -> u64 {
    let v = x & 0x0f0f_0f0f_0f0f_0f0f;
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_ffff_0000_ffff;
    (v.wrapping_mul(10000) + (v >> 32)) & 0xffff_ffff
}

/// The digits that start `x` (eight bytes as a little-endian word): how many (0 to 8), and their value.
#[inline(always)]
pub(crate) fn leading_digits(x: u64) -> (usize, u64) {
    let n = (not_digits(x).trailing_zeros() / 8) as usize;
    // The n digits moved to the top, '0's below them: the same value.
    let aligned = match n {
        0 => return (0, 0),
        8 => x,
        _ => (x << (8 * (8 - n))) | (0x3030_3030_3030_3030 >> (8 * n)),
    };
    (n, digits_value(aligned))
}

/// Sixteen ASCII digits to their value, in two eight-digit steps; `None` when any byte is not a digit.
pub(crate) fn sixteen_digits(bytes: &[u8; 16]) -> Option<u64> {
    let (high, low) = (eight_digits(&bytes[..8])?, eight_digits(&bytes[8..])?);
    Some(high * 100_000_000 + low)
}

/// 10^0 to 10^22: the powers of ten an f64 holds exactly.
pub(crate) const POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Epoch seconds, integer or fractional. Anything else (empty, signs, exponents, NaN, absurd years) is rejected.
pub fn parse_timestamp(b: &[u8]) -> Option<f64> {
    // Nearly every queue_log line: ten digits (2001 to 2286), always within the year-3000 limit below.
    if let [head @ .., d9, d10] = b {
        if head.len() == 8 && d9.is_ascii_digit() && d10.is_ascii_digit() {
            if let Some(v) = eight_digits(head) {
                return Some((v * 100 + u64::from(d9 - b'0') * 10 + u64::from(d10 - b'0')) as f64);
            }
        }
    }
    // An AMI `Timestamp`: ten digits, a point and six, read as the sixteen digits without the point.
    // digits.digits over 10^6 is one correctly rounded division of exact values (below 2^53: until the year
    // 2255), the value the standard parser gives.
    if let Some((int, [b'.', frac @ ..])) = b.split_first_chunk::<10>() {
        if let Ok(frac) = <&[u8; 6]>::try_from(frac) {
            let mut digits = [0u8; 16];
            digits[..10].copy_from_slice(int);
            digits[10..].copy_from_slice(frac);
            if let Some(m) = sixteen_digits(&digits).filter(|&m| m <= 1 << 53) {
                return Some(m as f64 / 1e6);
            }
        }
    }
    if b.is_empty() || b.len() > 24 {
        return None;
    }
    // Epoch seconds have ten digits: the first eight in one step.
    let (mut int, mut i) = match eight_digits(b) {
        Some(v) => (v, 8),
        None => (0, 0),
    };
    for &c in &b[i..] {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        int = int.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    // More than 12 integer digits is past year 33658: corrupt, and it also rules out any wrap above.
    if i == 0 || i > 12 {
        return None;
    }
    let mut value = int as f64;
    if i < b.len() {
        if b[i] != b'.' || i + 1 == b.len() || !b[i + 1..].iter().all(u8::is_ascii_digit) {
            return None;
        }
        // digits.digits as one integer over a power of ten: both exact in f64 when the integer is below 2^53
        // (an AMI `Timestamp` such as 1700000000.123456 is), so the one division is correctly rounded, the
        // value the standard parser gives. Longer fractions go to the standard parser.
        let frac = &b[i + 1..];
        let mantissa = frac.iter().try_fold(int, |m, &c| {
            m.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        });
        value = match mantissa {
            Some(m) if m <= 1 << 53 && frac.len() <= 22 => m as f64 / POWERS_OF_TEN[frac.len()],
            _ => std::str::from_utf8(b).ok()?.parse::<f64>().ok()?,
        };
    }
    // Year 3000: anything later is a corrupted field, not an event time.
    if value > 32_503_680_000.0 {
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_each_malformation_with_its_reason() {
        assert_eq!(
            parse_line(b"1|c|q|a"),
            Parsed::Rejected(RejectReason::TooFewFields)
        );
        assert_eq!(
            parse_line(b"x1|c|q|a|CONNECT|1"),
            Parsed::Rejected(RejectReason::BadTimestamp)
        );
        assert_eq!(
            parse_line(b"1e9|c|q|a|CONNECT|1"),
            Parsed::Rejected(RejectReason::BadTimestamp)
        );
        assert_eq!(
            parse_line(b"1|c\0|q|a|CONNECT|1"),
            Parsed::Rejected(RejectReason::NulByte)
        );
        assert_eq!(
            parse_line(b"1|c\xff|q|a|CONNECT|1"),
            Parsed::Rejected(RejectReason::InvalidUtf8)
        );
        assert_eq!(
            parse_line(b"1||q|a|CONNECT|1"),
            Parsed::Rejected(RejectReason::MissingField)
        );
        assert_eq!(parse_line(b"1|c|q|a|NOSUCH|1"), Parsed::Unknown);
        assert_eq!(parse_line(b"  \t"), Parsed::Blank);
        assert_eq!(parse_line(b""), Parsed::Blank);
    }

    /// Lines and bars as a byte-by-byte split finds them.
    type Split = (Vec<(Vec<usize>, usize, bool)>, usize);

    fn plain_split(buf: &[u8]) -> Split {
        let mut lines = Vec::new();
        let mut start = 0;
        while let Some(i) = buf[start..].iter().position(|b| *b == b'\n') {
            let line = &buf[start..start + i];
            let bars = line
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'|')
                .map(|(i, _)| i)
                .take(8)
                .collect();
            lines.push((bars, i, line.is_ascii() && !line.contains(&0)));
            start += i + 1;
        }
        (lines, start)
    }

    fn block_split(buf: &[u8]) -> Split {
        let mut lines = Lines::new(buf);
        let mut s = Scan::default();
        let mut out = Vec::new();
        while let Some(line) = lines.next_line(&mut s) {
            assert_eq!(line.len(), s.end);
            out.push((s.bars[..s.bar_count].to_vec(), s.end, s.plain));
        }
        assert!(!s.newline);
        (out, buf.len() - lines.rest().len())
    }

    #[test]
    fn finds_lines_and_bars_like_a_plain_split() {
        for buf in [
            &b"|||||||||||\n"[..],
            b"caf\xc3\xa9|x\nplain\nnul\0|\n\xff\n",
            b"a|bb|ccc|dddd|eeeee|ffffff|g|h|i\n\n|\nno bars here at all\n",
            b"\n\n\n",
            b"tail without newline|x",
            b"",
        ] {
            assert_eq!(block_split(buf), plain_split(buf), "{buf:?}");
        }
    }

    #[test]
    fn lines_across_block_edges_are_split_exactly() {
        for cut in 0..140 {
            let mut buf = vec![b'a'; cut];
            buf.extend_from_slice(b"|x\n|\xff\0|||||||||\n");
            buf.extend(std::iter::repeat_n(b'|', cut));
            assert_eq!(block_split(&buf), plain_split(&buf), "cut {cut}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_split_like_a_plain_split(buf in proptest::collection::vec(
            proptest::prop_oneof![proptest::strategy::Just(b'|'), proptest::strategy::Just(b'\n'), proptest::num::u8::ANY],
            0..400,
        )) {
            proptest::prop_assert_eq!(block_split(&buf), plain_split(&buf));
        }

        #[test]
        fn portable_masks_match_the_simd_ones(block in proptest::collection::vec(
            proptest::prop_oneof![proptest::strategy::Just(b'|'), proptest::strategy::Just(b'\n'), proptest::num::u8::ANY],
            64,
        )) {
            proptest::prop_assert_eq!(block_masks_portable(&block), block_masks(&block));
        }
    }

    #[test]
    fn eight_digit_steps_parse_like_the_standard_parser() {
        for text in [
            "1700000000",
            "0000000000",
            "9999999999",
            "12345678",
            "12345678901",
            "1266833911.5",
            "7",
        ] {
            assert_eq!(
                parse_timestamp(text.as_bytes()),
                text.parse::<f64>().ok(),
                "{text}"
            );
        }
        for bad in [
            "12345a78",
            "1234567/",
            "123456:8",
            "1234 678",
            "\u{80}2345678",
            "",
        ] {
            assert_eq!(parse_timestamp(bad.as_bytes()), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn timestamps_parse_like_the_standard_parser(n in 0u64..999_999_999_999, frac in proptest::option::of("[0-9]{1,25}")) {
            // Fractions of any length, leading zeros included: short ones take the exact fast path, long ones
            // the standard parser; both must agree with it to the last bit.
            let text = match frac { Some(f) => format!("{n}.{f}"), None => n.to_string() };
            // Over 24 characters is not an event time (a corrupted field), whatever its value.
            let expected = text.parse::<f64>().ok().filter(|v| *v <= 32_503_680_000.0 && text.len() <= 24);
            proptest::prop_assert_eq!(parse_timestamp(text.as_bytes()), expected);
        }

        #[test]
        fn ami_timestamps_parse_like_the_standard_parser(n in 1_000_000_000u64..9_999_999_999, frac in "[0-9]{6}", bad in proptest::option::of((0usize..17, proptest::num::u8::ANY))) {
            // AMI's shape, ten digits and six, and the same with any one byte changed.
            let mut text = format!("{n}.{frac}").into_bytes();
            if let Some((at, byte)) = bad {
                text[at] = byte;
            }
            let expected = std::str::from_utf8(&text).ok().and_then(|t| t.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 32_503_680_000.0 && text.iter().all(|c| c.is_ascii_digit() || *c == b'.'));
            proptest::prop_assert_eq!(parse_timestamp(&text), expected);
        }

        #[test]
        fn leading_digits_are_counted_and_read_as_a_plain_loop_reads_them(
            bytes in proptest::array::uniform8(proptest::prop_oneof![3 => b'0'..=b'9', 1 => proptest::num::u8::ANY]),
        ) {
            let n = bytes.iter().take_while(|c| c.is_ascii_digit()).count();
            let value = bytes[..n].iter().fold(0u64, |v, c| v * 10 + u64::from(c - b'0'));
            proptest::prop_assert_eq!(leading_digits(u64::from_le_bytes(bytes)), (n, value));
        }
    }

    #[test]
    fn every_known_name_has_its_kind_and_near_misses_are_unknown() {
        // Alone, and followed by the rest of a line (the 16-byte load path).
        let kind = |name: &[u8]| {
            let mut line = name.to_vec();
            line.extend_from_slice(b"|data1|data2|data3");
            let in_line = event_kind(name, &line);
            assert_eq!(event_kind(name, name), in_line, "{name:?}");
            in_line
        };
        for (name, expected) in EVENT_NAMES {
            assert_eq!(kind(name), Some(expected), "{name:?}");
            for cut in 1..name.len() {
                let prefix = &name[..cut];
                let listed = EVENT_NAMES.iter().any(|(n, _)| *n == prefix);
                assert_eq!(kind(prefix).is_some(), listed, "{prefix:?}");
            }
            let mut longer = name.to_vec();
            longer.push(b'X');
            assert_eq!(kind(&longer), None);
            assert_eq!(kind(&name.to_ascii_lowercase()), None);
        }
    }

    #[test]
    fn five_fields_without_data_are_enough() {
        assert!(
            matches!(parse_line(b"5|c|q|NONE|ENTERQUEUE"), Parsed::Event(e) if e.caller.is_empty())
        );
    }

    #[test]
    fn accepts_fractional_timestamps_and_crlf() {
        let Parsed::Event(e) = parse_line(b"1700000000.25|c1|sales|NONE|ENTERQUEUE|url|+34 600\r")
        else {
            panic!("not parsed")
        };
        assert_eq!(e.ts, 1_700_000_000.25);
        assert_eq!(e.caller, b"+34 600");
    }

    #[test]
    fn system_events_with_none_fields_are_known() {
        assert!(matches!(
            parse_line(b"1266833361|NONE|NONE|NONE|QUEUESTART|"),
            Parsed::Event(_)
        ));
    }

    #[test]
    fn utf8_queue_names_are_kept() {
        let Parsed::Event(e) = parse_line("5|c|atención|NONE|ENTERQUEUE||1".as_bytes()) else {
            panic!()
        };
        assert_eq!(e.queue, "atención".as_bytes());
    }
}
