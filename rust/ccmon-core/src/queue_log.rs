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
    scan_line(line, &mut scanned);
    let line = &line[..scanned.end.min(line.len())];
    scanned.plain = is_plain(line);
    parse_scanned(line, &scanned)
}

/// Plain ASCII without NUL: such a line needs no UTF-8 or NUL check. Callers test whole buffers at once
/// (two SIMD passes) and only the lines of a buffer that fails.
pub fn is_plain(bytes: &[u8]) -> bool {
    bytes.is_ascii() && memchr::memchr(0, bytes).is_none()
}

/// What one pass over a line found: where it ends and its first eight '|'; `plain` is set by the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scan {
    /// Offset of the line's '\n', or the buffer's length when it has none (`newline` false).
    pub end: usize,
    pub newline: bool,
    pub bars: [usize; 8],
    pub bar_count: usize,
    pub plain: bool,
}

/// Parses a line already scanned by [`scan_line`] (`line` excludes the newline).
pub fn parse_scanned<'a>(line: &'a [u8], scanned: &Scan) -> Parsed<'a> {
    let line = match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    };
    let n = scanned.bar_count;
    let mut bars = scanned.bars;
    for b in bars.iter_mut().skip(n) {
        *b = line.len();
    }
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
        let end = if i < bars.len() { bars[i] } else { line.len() };
        line.get(start..end.max(start)).unwrap_or(&[])
    };
    let Some(ts) = parse_timestamp(field(0)) else {
        return Parsed::Rejected(RejectReason::BadTimestamp);
    };
    let (call, queue, agent, name) = (field(1), field(2), field(3), field(4));
    let kind = match name {
        b"ENTERQUEUE" => Kind::Enter,
        b"CONNECT" => Kind::Answer,
        b"ABANDON" => Kind::Abandon,
        b"EXITWITHTIMEOUT" => Kind::Timeout,
        b"EXITWITHKEY" => Kind::ExitKey,
        b"EXITEMPTY" => Kind::ExitEmpty,
        b"COMPLETECALLER" | b"COMPLETEAGENT" => Kind::TalkEnd,
        b"TRANSFER" | b"BLINDTRANSFER" | b"ATTENDEDTRANSFER" => Kind::Transfer,
        b"RINGNOANSWER"
        | b"RINGCANCELED"
        | b"AGENTDUMP"
        | b"AGENTLOGIN"
        | b"AGENTLOGOFF"
        | b"AGENTCALLBACKLOGIN"
        | b"AGENTCALLBACKLOGOFF"
        | b"ADDMEMBER"
        | b"REMOVEMEMBER"
        | b"PAUSE"
        | b"UNPAUSE"
        | b"PAUSEALL"
        | b"UNPAUSEALL"
        | b"PENALTY"
        | b"QUEUESTART"
        | b"CONFIGRELOAD"
        | b"DID"
        | b"INFO"
        | b"SYSCOMPAT"
        | b"QUEUEEND"
        | b"UPDATEFIELD"
        | b"CALLSTATUS"
        | b"RINGING" => Kind::Other,
        _ => return Parsed::Unknown,
    };
    if kind != Kind::Other
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
    })
}

/// Scans `buf` from its start up to the first '\n', eight bytes at a time: one pass finds the line's end and its
/// field boundaries (fields are ~10 bytes long, too short for a SIMD search to pay for its set-up on each one).
pub fn scan_line(buf: &[u8], out: &mut Scan) {
    const PIPES: u64 = 0x7c7c_7c7c_7c7c_7c7c;
    const NEWLINES: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    // Exact per-byte "is zero" mask (no false positives): the high bit of each zero byte.
    let zero_bytes = |x: u64| !(((x & LOW7) + LOW7) | x | LOW7);
    let mut n = 0;
    let mut base = 0;
    let mut chunks = buf.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        let nl = zero_bytes(x ^ NEWLINES);
        let mut pipes = zero_bytes(x ^ PIPES);
        if nl != 0 {
            // Bytes before the newline only.
            pipes &= (nl & nl.wrapping_neg()) - 1;
        }
        while pipes != 0 && n < 8 {
            out.bars[n] = base + (pipes.trailing_zeros() / 8) as usize;
            n += 1;
            pipes &= pipes - 1;
        }
        if nl != 0 {
            out.end = base + (nl.trailing_zeros() / 8) as usize;
            out.newline = true;
            out.bar_count = n;
            return;
        }
        base += 8;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == b'\n' {
            out.end = base + i;
            out.newline = true;
            out.bar_count = n;
            return;
        }
        if b == b'|' && n < 8 {
            out.bars[n] = base + i;
            n += 1;
        }
    }
    out.end = buf.len();
    out.newline = false;
    out.bar_count = n;
}

/// Eight ASCII digits to their value in a few multiplications (the classic SWAR method); `None` when any of
/// the eight bytes is not a digit.
fn eight_digits(bytes: &[u8]) -> Option<u64> {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes.get(..8)?);
    let x = u64::from_le_bytes(w);
    // A byte below '0' sets its high bit when '0' is subtracted, one above '9' when 0x46 is added.
    let below = x.wrapping_sub(0x3030_3030_3030_3030);
    let above = x.wrapping_add(0x4646_4646_4646_4646);
    if (below | above | x) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    let v = x & 0x0f0f_0f0f_0f0f_0f0f;
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_ffff_0000_ffff;
    Some((v.wrapping_mul(10000) + (v >> 32)) & 0xffff_ffff)
}

/// Epoch seconds, integer or fractional. Anything else (empty, signs, exponents, NaN, absurd years) is rejected.
pub fn parse_timestamp(b: &[u8]) -> Option<f64> {
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
        // Rare in queue_log: the standard parser gives the correctly rounded value.
        value = std::str::from_utf8(b).ok()?.parse::<f64>().ok()?;
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

    #[test]
    fn finds_bars_like_a_plain_scan() {
        for line in [
            &b"|||||||||||"[..],
            b"a|bb|ccc|dddd|eeeee|ffffff|g|h|i",
            b"no bars here at all",
            b"|",
            b"",
        ] {
            let mut scanned = Scan::default();
            scan_line(line, &mut scanned);
            let (bars, n) = (scanned.bars, scanned.bar_count);
            assert!(!scanned.newline && scanned.end == line.len());
            let expect: Vec<usize> = line
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'|')
                .map(|(i, _)| i)
                .take(8)
                .collect();
            assert_eq!(&bars[..n], &expect[..]);
        }
    }

    #[test]
    fn scan_stops_at_the_newline_and_ignores_what_follows() {
        for cut in 0..20 {
            let mut buf = vec![b'a'; cut];
            buf.extend_from_slice(b"|x\n|\xff\0|||||||||");
            let mut s = Scan::default();
            scan_line(&buf, &mut s);
            assert_eq!(
                (s.end, s.newline, s.bar_count),
                (cut + 2, true, 1),
                "cut {cut}"
            );
            assert_eq!(s.bars[0], cut);
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
        fn timestamps_parse_like_the_standard_parser(n in 0u64..999_999_999_999, frac in proptest::option::of(0u32..1000)) {
            let text = match frac { Some(f) => format!("{n}.{f}"), None => n.to_string() };
            let expected = text.parse::<f64>().ok().filter(|v| *v <= 32_503_680_000.0);
            proptest::prop_assert_eq!(parse_timestamp(text.as_bytes()), expected);
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
