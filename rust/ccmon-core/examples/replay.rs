//! `cargo run --release --example replay -- FILE`: the engine alone on a file, for profiling. The file is
//! queue_log unless `CCMON_FORMAT` names another format (`jsonl`, `ami`, `freeswitch`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

use ccmon_core::{Config, Engine, Format, Window};

fn main() {
    let path = std::env::args().nth(1).expect("usage: replay FILE");
    // CCMON_CONFIG_JSON: a config as JSON, to see what a setting costs (e.g. `{"windows_seconds": []}`).
    let cfg = match std::env::var("CCMON_CONFIG_JSON") {
        Ok(text) => Config::from_json(&text).unwrap(),
        Err(_) => Config::default(),
    };
    let mut engine = Engine::new(cfg).unwrap();
    let fmt = Format::parse(&std::env::var("CCMON_FORMAT").unwrap_or("queue_log".into())).unwrap();
    let mut file = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let start = std::time::Instant::now();
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        engine.feed("f", fmt, &buf[..n]);
    }
    engine.end_of_input("f", fmt);
    let secs = start.elapsed().as_secs_f64();
    let lines = engine.sources()[0].ingested;
    let rows = engine.queue_stats(Window::All).unwrap();
    let offered: u64 = rows.iter().map(|r| r.counters.offered).sum();
    println!(
        "{lines} lines in {secs:.3} s = {:.2} M lines/s; offered {offered}",
        lines as f64 / secs / 1e6
    );
}
