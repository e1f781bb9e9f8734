//! # ccmon-core
//!
//! The engine of ccmon, a real-time call-center queue monitor: it parses switch event streams (Asterisk
//! queue_log and AMI, FreeSWITCH mod_callcenter over ESL, JSON lines) and keeps, per queue and per call, the figures of ccmon's SPEC up to date event by event,
//! in bounded memory. No Python and no I/O here: callers hand over bytes and read snapshots.
//!
//! ## No-panic policy
//! Input is data, not a reason to fail: every malformed line becomes a counted [`event::RejectReason`], and no
//! input can make the engine panic (`unwrap`/`expect` are denied by lint; indexing uses ids the engine made).
//! Counters use checked arithmetic in release builds (`overflow-checks = true`).
//!
//! ```
//! use ccmon_core::{Config, Engine, Format, Window};
//! let mut engine = Engine::new(Config::default()).unwrap();
//! engine.feed("log", Format::QueueLog, b"100|c1|sales|NONE|ENTERQUEUE||600111222\n\
//!                                        112|c1|sales|Agent/1|CONNECT|12|x|1\n");
//! let rows = engine.queue_stats(Window::All).unwrap();
//! assert_eq!((rows[0].counters.offered, rows[0].counters.answered, rows[0].asa_seconds), (1, 1, Some(12.0)));
//! ```

pub mod agents;
pub mod ami;
mod callers;
mod calls;
pub mod config;
pub mod engine;
pub mod event;
pub mod freeswitch;
pub mod histogram;
pub mod jsonl;
pub mod metrics;
pub mod queue_log;
mod recent_ids;
mod scan;
pub mod stats;

pub use config::{Config, ServiceLevelFormula};
pub use engine::{
    CallView, Engine, Format, JourneyRow, Rejection, SourceStats, TransferView, Window,
};
pub use stats::{Counters, QueueStats};
