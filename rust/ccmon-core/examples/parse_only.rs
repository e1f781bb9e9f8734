//! `cargo run --release --example parse_only -- [--format queue_log|jsonl|ami|freeswitch] FILE`: a format's
//! parser alone, no engine: splits FILE into lines as `Engine::feed` does, parses every line (or builds every
//! frame), and only counts. The floor under ccmon's ingest cost, used by the benches to compare parser with
//! parser (a pure-Python parser does no engine work either) and to split ccmon's cost between parsing and the
//! engine. Prints `<lines> lines in <seconds> s = ...; <events> events, <rejected> rejected, checksum ...`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

use ccmon_core::event::Parsed;
use ccmon_core::queue_log::{parse_scanned, Lines, Scan};
use ccmon_core::{ami, freeswitch, jsonl};

/// What the parsers found, with something of every event so that no part of a parse is optimised away.
#[derive(Default)]
struct Tally {
    events: u64,
    rejected: u64,
    checksum: u64,
}

impl Tally {
    fn event(&mut self, ts: f64, call: usize, queue: usize, kind: u64) {
        self.events += 1;
        self.checksum = self
            .checksum
            .wrapping_add(ts as u64)
            .wrapping_add(call as u64 + queue as u64 + kind);
    }
}

/// What a frame read whole became.
enum Seen {
    Event(f64, usize, usize, u64),
    Rejected,
    Nothing,
}

fn parse_other(
    format: &str,
    line: &[u8],
    max: usize,
    t: &mut Tally,
    ami_frames: &mut ami::FrameBuilder,
    fs_frames: &mut freeswitch::FrameBuilder,
) {
    match format {
        "jsonl" => match jsonl::parse_line(line) {
            jsonl::JsonLine::Event(e) => t.event(e.ts, e.call.len(), e.queue.len(), e.kind as u64),
            jsonl::JsonLine::Rejected(..) => t.rejected += 1,
            _ => {}
        },
        "ami" => match ami_frames.push(line, max) {
            Some(ami::AmiFrame::Event(e)) => {
                t.event(e.ts, e.call.len(), e.queue.len(), e.kind as u64)
            }
            Some(ami::AmiFrame::Rejected(..)) => t.rejected += 1,
            _ => {}
        },
        "freeswitch" => match fs_frames.push(line, max) {
            Some(freeswitch::FsFrame::Event(e) | freeswitch::FsFrame::AgentStatus(e, _)) => {
                t.event(e.ts, e.call.len(), e.queue.len(), e.kind as u64)
            }
            Some(freeswitch::FsFrame::Rejected(..)) => t.rejected += 1,
            _ => {}
        },
        other => panic!("unknown format {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (format, path) = match args.as_slice() {
        [flag, f, p] if flag == "--format" => (f.as_str(), p.as_str()),
        [p] => ("queue_log", p.as_str()),
        _ => panic!("usage: parse_only [--format queue_log|jsonl|ami|freeswitch] FILE"),
    };
    let max = ccmon_core::Config::default().max_line_bytes;
    let mut file = std::fs::File::open(path).unwrap();
    // Holds the chunk being parsed: the unfinished line of the last chunk, then the bytes read after it.
    let mut buf = vec![0u8; 1 << 21];
    let mut kept = 0;
    let mut lines = 0u64;
    let mut t = Tally::default();
    let mut ami_frames = ami::FrameBuilder::default();
    let mut fs_frames = freeswitch::FrameBuilder::default();
    let mut json_shape = jsonl::LineShape::default();
    let start = std::time::Instant::now();
    loop {
        // Read straight after the kept tail: the engine is handed each chunk as read, without a copy.
        if buf.len() < kept + (1 << 20) {
            buf.resize(kept + (1 << 20), 0);
        }
        let n = file.read(&mut buf[kept..kept + (1 << 20)]).unwrap();
        if n == 0 {
            break;
        }
        let total = kept + n;
        let carry = &buf[..total];
        // The engine keeps only a partial last line between chunks; so does this.
        if format == "jsonl" {
            // As `Engine::feed` reads JSON lines: the whole lines checked as UTF-8 at once, the fast path
            // finding each line's end as it parses it, the lines it leaves found with memchr and parsed whole.
            let whole = memchr::memrchr(b'\n', carry).map_or(0, |i| i + 1);
            let checked = simdutf8::basic::from_utf8(&carry[..whole]).ok();
            let mut start = 0;
            while let Some(data) = carry.get(start..).filter(|d| !d.is_empty()) {
                let fast = match checked {
                    Some(text) => text
                        .get(start..)
                        .and_then(|text| jsonl::parse_prefix_str(text, &mut json_shape)),
                    None => jsonl::parse_prefix(data, &mut json_shape),
                };
                let (len, parsed) = match fast {
                    Some((len, parsed)) => (len, parsed),
                    None => match memchr::memchr(b'\n', data) {
                        Some(len) => (len, jsonl::parse_line(&data[..len])),
                        None => break,
                    },
                };
                lines += 1;
                start += len + 1;
                match parsed {
                    jsonl::JsonLine::Event(e) => {
                        t.event(e.ts, e.call.len(), e.queue.len(), e.kind as u64)
                    }
                    jsonl::JsonLine::Rejected(..) => t.rejected += 1,
                    _ => {}
                }
            }
            kept = total - start.min(total);
            buf.copy_within(total - kept..total, 0);
            continue;
        }
        if format == "ami" || format == "freeswitch" {
            // As `Engine::feed` reads AMI and FreeSWITCH: plain frames (messages) whole in place from the
            // UTF-8-checked whole lines, the rest line by line.
            let whole = memchr::memrchr(b'\n', carry).map_or(0, |i| i + 1);
            let checked = simdutf8::basic::from_utf8(&carry[..whole]).ok();
            let mut start = 0;
            while let Some(data) = carry.get(start..).filter(|d| !d.is_empty()) {
                if let Some(text) = checked.and_then(|t| t.get(start..)) {
                    let read = if format == "ami" {
                        ami_frames.frame(text, max).map(|w| {
                            let seen = match w.frame {
                                ami::AmiFrame::Event(e) => {
                                    Seen::Event(e.ts, e.call.len(), e.queue.len(), e.kind as u64)
                                }
                                ami::AmiFrame::Rejected(..) => Seen::Rejected,
                                _ => Seen::Nothing,
                            };
                            (w.len, w.lines, seen)
                        })
                    } else {
                        fs_frames.message(text, max).map(|w| {
                            let seen = match w.frame {
                                freeswitch::FsFrame::Event(e)
                                | freeswitch::FsFrame::AgentStatus(e, _) => {
                                    Seen::Event(e.ts, e.call.len(), e.queue.len(), e.kind as u64)
                                }
                                freeswitch::FsFrame::Rejected(..) => Seen::Rejected,
                                _ => Seen::Nothing,
                            };
                            (w.len, w.lines, seen)
                        })
                    };
                    if let Some((len, n, seen)) = read {
                        lines += n;
                        start += len;
                        match seen {
                            Seen::Event(ts, call, queue, kind) => t.event(ts, call, queue, kind),
                            Seen::Rejected => t.rejected += 1,
                            Seen::Nothing => {}
                        }
                        continue;
                    }
                }
                let Some(len) = memchr::memchr(b'\n', data) else {
                    break;
                };
                lines += 1;
                parse_other(
                    format,
                    &data[..len],
                    max,
                    &mut t,
                    &mut ami_frames,
                    &mut fs_frames,
                );
                start += len + 1;
            }
            kept = total - start.min(total);
            buf.copy_within(total - kept..total, 0);
            continue;
        }
        if format != "queue_log" {
            // Any other format: at each newline, with memchr.
            let mut start = 0;
            for newline in memchr::memchr_iter(b'\n', carry) {
                let line = &carry[start..newline];
                start = newline + 1;
                lines += 1;
                parse_other(format, line, max, &mut t, &mut ami_frames, &mut fs_frames);
            }
            kept = carry.len() - start;
            buf.copy_within(start..start + kept, 0);
            continue;
        }
        let mut split = Lines::new(carry);
        let mut scanned = Scan::default();
        while let Some(line) = split.next_line(&mut scanned) {
            lines += 1;
            match parse_scanned(line, &scanned) {
                Parsed::Event(e) => t.event(e.ts, e.call.len(), e.queue.len(), e.kind as u64),
                Parsed::Rejected(_) => t.rejected += 1,
                _ => {}
            }
        }
        kept = split.rest().len();
        buf.copy_within(total - kept..total, 0);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{lines} lines in {secs:.3} s = {:.2} M lines/s; {} events, {} rejected, checksum {}",
        lines as f64 / secs / 1e6,
        t.events,
        t.rejected,
        t.checksum
    );
}
