#![allow(clippy::unwrap_used, clippy::expect_used)]
use ccmon_core::event::Parsed;
use ccmon_core::queue_log::{parse_scanned, Lines, Scan};
use std::io::Read;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let mut file = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let start = std::time::Instant::now();
    let (mut n, mut ev, mut carry) = (0u64, 0u64, Vec::new());
    let mut acc = 0.0f64;
    loop {
        let k = file.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        carry.extend_from_slice(&buf[..k]);
        let mut lines = Lines::new(&carry);
        let mut s = Scan::default();
        while let Some(line) = lines.next_line(&mut s) {
            n += 1;
            if let Parsed::Event(e) = parse_scanned(line, &s) {
                ev += 1;
                acc += e.ts + e.call.len() as f64;
            }
        }
        let rest = lines.rest().to_vec();
        carry = rest;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} lines {ev} events in {secs:.3} s = {:.2} M lines/s {acc}",
        n as f64 / secs / 1e6
    );
}
