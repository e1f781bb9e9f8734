//! `cargo run --release --example parse_only -- FILE`: the queue_log parser alone, no engine: splits and parses
//! every line of FILE as `Engine::feed` does, and only counts. The floor under ccmon's ingest cost, used by
//! benches/bench_ingest.py to split that cost between parsing and the engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

use ccmon_core::event::Parsed;
use ccmon_core::queue_log::{parse_scanned, Lines, Scan};

fn main() {
    let path = std::env::args().nth(1).expect("usage: parse_only FILE");
    let mut file = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    let (mut lines, mut events) = (0u64, 0u64);
    // Something of every event, so that no part of the parse can be optimised away.
    let mut checksum = 0u64;
    let start = std::time::Instant::now();
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        // The engine keeps only a partial last line between chunks; so does this.
        carry.extend_from_slice(&buf[..n]);
        let mut split = Lines::new(&carry);
        let mut scanned = Scan::default();
        while let Some(line) = split.next_line(&mut scanned) {
            lines += 1;
            if let Parsed::Event(e) = parse_scanned(line, &scanned) {
                events += 1;
                checksum = checksum
                    .wrapping_add(e.ts as u64)
                    .wrapping_add(e.call.len() as u64 + e.queue.len() as u64 + e.kind as u64);
            }
        }
        carry = split.rest().to_vec();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{lines} lines in {secs:.3} s = {:.2} M lines/s; {events} events, checksum {checksum}",
        lines as f64 / secs / 1e6
    );
}
