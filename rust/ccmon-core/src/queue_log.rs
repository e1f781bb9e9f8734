//! Asterisk queue_log: `epoch|callid|queue|agent|EVENT|data1|data2|...` (SPEC §7).

use crate::event::{Event, Kind, Parsed, RejectReason};

/// Parses one line (without its trailing newline). Never panics, whatever the bytes.
///
/// ```
/// use ccmon_core::queue_log::parse_line;
/// use ccmon_core::event::{Parsed, Kind};
/// let Parsed::Event(e) = parse_line(b"1266833911|1266833905.2|9000|NONE|ENTERQUEUE||07000000001") else { panic!() };
/// assert_eq!((e.kind, e.queue, e.caller, e.ts), (Kind::Enter, "9000", "07000000001", 1266833911.0));
/// ```
pub fn parse_line(line: &[u8]) -> Parsed<'_> {
    let line = match line.last() {
        Some(b'\r') => &line[..line.len() - 1],
        _ => line,
    };
    if line.iter().all(|b| b.is_ascii_whitespace()) {
        return Parsed::Blank;
    }
    // One pass over 8 bytes at a time finds lines that are plain ASCII without NUL, the usual case; only
    // the others pay for the exact checks.
    if !plain_ascii(line) {
        if memchr::memchr(0, line).is_some() {
            return Parsed::Rejected(RejectReason::NulByte);
        }
        if std::str::from_utf8(line).is_err() {
            return Parsed::Rejected(RejectReason::InvalidUtf8);
        }
    }
    let Ok(text) = std::str::from_utf8(line) else {
        return Parsed::Rejected(RejectReason::InvalidUtf8);
    };
    let mut fields = text.split('|');
    let (Some(ts), Some(call), Some(queue), Some(agent), Some(name)) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Parsed::Rejected(RejectReason::TooFewFields);
    };
    let Some(ts) = parse_timestamp(ts) else {
        return Parsed::Rejected(RejectReason::BadTimestamp);
    };
    let kind = match name {
        "ENTERQUEUE" => Kind::Enter,
        "CONNECT" => Kind::Answer,
        "ABANDON" => Kind::Abandon,
        "EXITWITHTIMEOUT" => Kind::Timeout,
        "EXITWITHKEY" => Kind::ExitKey,
        "EXITEMPTY" => Kind::ExitEmpty,
        "COMPLETECALLER" | "COMPLETEAGENT" => Kind::TalkEnd,
        "TRANSFER" | "BLINDTRANSFER" | "ATTENDEDTRANSFER" => Kind::Transfer,
        "RINGNOANSWER" | "RINGCANCELED" | "AGENTDUMP" | "AGENTLOGIN" | "AGENTLOGOFF" | "AGENTCALLBACKLOGIN"
        | "AGENTCALLBACKLOGOFF" | "ADDMEMBER" | "REMOVEMEMBER" | "PAUSE" | "UNPAUSE" | "PAUSEALL" | "UNPAUSEALL"
        | "PENALTY" | "QUEUESTART" | "CONFIGRELOAD" | "DID" | "INFO" | "SYSCOMPAT" | "QUEUEEND" | "UPDATEFIELD"
        | "CALLSTATUS" | "RINGING" => Kind::Other,
        _ => return Parsed::Unknown,
    };
    let caller = if kind == Kind::Enter {
        fields.next();
        fields.next().unwrap_or("")
    } else {
        ""
    };
    if kind != Kind::Other && (call.is_empty() || call == "NONE" || queue.is_empty() || queue == "NONE") {
        return Parsed::Rejected(RejectReason::MissingField);
    }
    Parsed::Event(Event { ts, call, queue, agent, kind, caller })
}

fn plain_ascii(line: &[u8]) -> bool {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const LOW: u64 = 0x0101_0101_0101_0101;
    let mut chunks = line.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        // High bit set anywhere, or a zero byte (the classic haszero trick).
        if x & HIGH != 0 || (x.wrapping_sub(LOW) & !x & HIGH) != 0 {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| b != 0 && b < 0x80)
}

/// Epoch seconds, integer or fractional. Anything else (empty, signs, exponents, NaN, absurd years) is rejected.
pub fn parse_timestamp(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 24 {
        return None;
    }
    let mut int: u64 = 0;
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        int = int.checked_mul(10)?.checked_add(u64::from(b[i] - b'0'))?;
        i += 1;
    }
    if i == 0 {
        return None;
    }
    let mut value = int as f64;
    if i < b.len() {
        if b[i] != b'.' || i + 1 == b.len() {
            return None;
        }
        let frac = &b[i + 1..];
        if !frac.iter().all(u8::is_ascii_digit) {
            return None;
        }
        value = s.parse::<f64>().ok()?;
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
        assert_eq!(parse_line(b"1|c|q|a"), Parsed::Rejected(RejectReason::TooFewFields));
        assert_eq!(parse_line(b"x1|c|q|a|CONNECT|1"), Parsed::Rejected(RejectReason::BadTimestamp));
        assert_eq!(parse_line(b"1e9|c|q|a|CONNECT|1"), Parsed::Rejected(RejectReason::BadTimestamp));
        assert_eq!(parse_line(b"1|c\0|q|a|CONNECT|1"), Parsed::Rejected(RejectReason::NulByte));
        assert_eq!(parse_line(b"1|c\xff|q|a|CONNECT|1"), Parsed::Rejected(RejectReason::InvalidUtf8));
        assert_eq!(parse_line(b"1||q|a|CONNECT|1"), Parsed::Rejected(RejectReason::MissingField));
        assert_eq!(parse_line(b"1|c|q|a|NOSUCH|1"), Parsed::Unknown);
        assert_eq!(parse_line(b"  \t"), Parsed::Blank);
        assert_eq!(parse_line(b""), Parsed::Blank);
    }

    #[test]
    fn accepts_fractional_timestamps_and_crlf() {
        let Parsed::Event(e) = parse_line(b"1700000000.25|c1|sales|NONE|ENTERQUEUE|url|+34 600\r") else {
            panic!("not parsed")
        };
        assert_eq!(e.ts, 1_700_000_000.25);
        assert_eq!(e.caller, "+34 600");
    }

    #[test]
    fn system_events_with_none_fields_are_known() {
        assert!(matches!(parse_line(b"1266833361|NONE|NONE|NONE|QUEUESTART|"), Parsed::Event(_)));
    }

    #[test]
    fn utf8_queue_names_are_kept() {
        let Parsed::Event(e) = parse_line("5|c|atención|NONE|ENTERQUEUE||1".as_bytes()) else { panic!() };
        assert_eq!(e.queue, "atención");
    }
}
