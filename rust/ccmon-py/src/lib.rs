//! The Python binding of ccmon-core: argument conversion, GIL release, error mapping — nothing else.
//! Snapshots go to Python column by column (dicts of lists), which polars takes without per-row Python work.

use std::fs::File;
use std::io::Read;

use ccmon_core::{Config, Engine as CoreEngine, Format, Window};
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// One snapshot column: `name` -> the list of `f(row)` over `rows`, set in the dict `d`.
macro_rules! col {
    ($d:ident, $rows:ident, $name:literal, $f:expr) => {
        $d.set_item($name, $rows.iter().map($f).collect::<Vec<_>>())?;
    };
}

fn value_error(msg: String) -> PyErr {
    PyValueError::new_err(msg)
}

/// The engine. Not for direct use: `ccmon.Monitor` wraps it.
#[pyclass(module = "ccmon._core")]
struct Engine {
    inner: CoreEngine,
}

const READ_CHUNK: usize = 1 << 20;

#[pymethods]
impl Engine {
    #[new]
    fn new(config_json: &str) -> PyResult<Self> {
        let cfg = Config::from_json(config_json).map_err(value_error)?;
        Ok(Engine {
            inner: CoreEngine::new(cfg).map_err(value_error)?,
        })
    }

    /// Feeds bytes; the GIL is released while the engine works.
    #[pyo3(signature = (data, format = "queue_log", source = "default"))]
    fn feed(&mut self, py: Python<'_>, data: &[u8], format: &str, source: &str) -> PyResult<()> {
        let fmt = Format::parse(format).map_err(value_error)?;
        let inner = &mut self.inner;
        py.detach(|| inner.feed(source, fmt, data));
        Ok(())
    }

    /// Ends a source's input: a last line without newline counts.
    #[pyo3(signature = (format = "queue_log", source = "default"))]
    fn end_of_input(&mut self, format: &str, source: &str) -> PyResult<()> {
        let fmt = Format::parse(format).map_err(value_error)?;
        self.inner.end_of_input(source, fmt);
        Ok(())
    }

    /// Reads a whole file in Rust without the GIL; returns the bytes read.
    #[pyo3(signature = (path, format = "queue_log", source = "default"))]
    fn feed_file(
        &mut self,
        py: Python<'_>,
        path: &str,
        format: &str,
        source: &str,
    ) -> PyResult<u64> {
        let fmt = Format::parse(format).map_err(value_error)?;
        let inner = &mut self.inner;
        let read = py.detach(|| -> Result<u64, PyErr> {
            let io = |e: std::io::Error| PyOSError::new_err(format!("{path}: {e}"));
            let mut file = File::open(path).map_err(io)?;
            let mut buf = vec![0u8; READ_CHUNK];
            let mut total = 0u64;
            let mut first = true;
            loop {
                let n = match file.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io(e)),
                };
                total += n as u64;
                // An AMI session recorded as a JSON list of events is read whole and rewritten as AMI text.
                let list = buf[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
                if first && fmt == Format::Ami && list {
                    let mut all = buf[..n].to_vec();
                    file.read_to_end(&mut all).map_err(io)?;
                    total = all.len() as u64;
                    let text = ccmon_core::ami::recording_to_text(&all)
                        .map_err(|e| value_error(format!("{path}: {e}")))?;
                    inner.feed(source, fmt, &text);
                    break;
                }
                first = false;
                inner.feed(source, fmt, &buf[..n]);
            }
            inner.end_of_input(source, fmt);
            Ok(total)
        });
        read
    }

    /// The rejections kept since the last call, as (source, reason, line or None, text), and per source how
    /// many more there were.
    #[allow(clippy::type_complexity)]
    fn take_rejections(
        &mut self,
    ) -> (
        Vec<(String, &'static str, Option<u64>, String)>,
        Vec<(String, u64)>,
    ) {
        let (shown, more) = self.inner.take_rejections();
        let shown = shown
            .into_iter()
            .map(|r| (r.source, r.reason.as_str(), r.line, r.text))
            .collect();
        (shown, more)
    }

    /// Live mode: "now" becomes the wall clock when it is newer than the last event.
    fn advance_clock(&mut self, now: f64) {
        self.inner.advance_clock(now);
    }

    fn now(&self) -> Option<f64> {
        self.inner.now()
    }

    /// A FreeSWITCH client starts gathering mod_callcenter's state for `source`.
    fn begin_resync(&mut self, source: &str) {
        self.inner.begin_resync(source);
    }

    /// The resynchronisation of `source` ends without an answer.
    fn end_resync(&mut self, source: &str) {
        self.inner.end_resync(source);
    }

    /// mod_callcenter's tables (each queue with its members table, the tier and agent lists) applied at
    /// `now`; ValueError when one is not such a table.
    fn resync_callcenter(
        &mut self,
        source: &str,
        queues: Vec<(String, String)>,
        tiers: &str,
        agents: &str,
        now: f64,
    ) -> PyResult<()> {
        let queues: Vec<(&str, &str)> = queues
            .iter()
            .map(|(q, m)| (q.as_str(), m.as_str()))
            .collect();
        let cc = ccmon_core::freeswitch::Callcenter {
            queues: &queues,
            tiers,
            agents,
        };
        self.inner
            .resync_callcenter(source, &cc, now)
            .map_err(value_error)
    }

    fn calls_in_progress(&self) -> usize {
        self.inner.calls_in_progress()
    }

    /// Per-queue figures over a window, as columns.
    fn queues<'py>(&self, py: Python<'py>, window: &str) -> PyResult<Bound<'py, PyDict>> {
        let w = Window::parse(window).map_err(value_error)?;
        let rows = self.inner.queue_stats(w).map_err(value_error)?;
        let d = stats_columns(py, &rows)?;
        d.set_item(
            "queue",
            rows.iter().map(|r| r.queue.as_str()).collect::<Vec<_>>(),
        )?;
        Ok(d)
    }

    /// The whole site over a window: one row, its queue None.
    fn totals<'py>(&self, py: Python<'py>, window: &str) -> PyResult<Bound<'py, PyDict>> {
        let w = Window::parse(window).map_err(value_error)?;
        let row = self.inner.total_stats(w).map_err(value_error)?;
        let d = stats_columns(py, std::slice::from_ref(&row))?;
        d.set_item("queue", vec![None::<String>])?;
        Ok(d)
    }

    /// Calls in progress, as columns.
    #[pyo3(signature = (show_callers = false))]
    fn calls<'py>(&self, py: Python<'py>, show_callers: bool) -> PyResult<Bound<'py, PyDict>> {
        let rows = self.inner.calls(show_callers);
        let d = PyDict::new(py);
        col!(d, rows, "call", |r| r.call.as_str());
        col!(d, rows, "queue", |r| r.queue.as_str());
        col!(d, rows, "state", |r| r.state);
        col!(d, rows, "entered_at", |r| r.entered_at);
        col!(d, rows, "wait_seconds", |r| r.wait_seconds);
        col!(d, rows, "on_line_seconds", |r| r.on_line_seconds);
        col!(d, rows, "entries", |r| r.entries);
        col!(d, rows, "transfers", |r| r.transfers);
        col!(d, rows, "plays", |r| r.plays);
        col!(d, rows, "moh_seconds", |r| r.moh_seconds);
        col!(d, rows, "flags", |r| r.flags.as_str());
        col!(d, rows, "journey", |r| r.journey.as_str());
        if show_callers {
            col!(d, rows, "caller", |r| r.caller.as_deref());
        }
        Ok(d)
    }

    /// Journeys of calls in progress and of the last finished calls, one row per entry, as columns.
    fn journeys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let rows = self.inner.journeys();
        let d = PyDict::new(py);
        col!(d, rows, "call", |r| r.call.as_str());
        col!(d, rows, "step", |r| r.step);
        col!(d, rows, "queue", |r| r.queue.as_str());
        col!(d, rows, "department", |r| r.department.as_str());
        col!(d, rows, "entered_at", |r| r.entered_at);
        col!(d, rows, "outcome", |r| r.outcome);
        col!(d, rows, "wait_seconds", |r| r.wait_seconds);
        col!(d, rows, "talk_seconds", |r| r.talk_seconds);
        col!(d, rows, "finished", |r| r.finished);
        col!(d, rows, "flags", |r| r.flags.as_str());
        Ok(d)
    }

    /// The transfers kept, oldest first, as columns; `caller` only when `show_callers`.
    #[pyo3(signature = (show_callers = false))]
    fn transfers<'py>(&self, py: Python<'py>, show_callers: bool) -> PyResult<Bound<'py, PyDict>> {
        let rows = self.inner.transfers(show_callers);
        let d = PyDict::new(py);
        col!(d, rows, "call", |r| r.call.as_str());
        col!(d, rows, "at", |r| r.at);
        col!(d, rows, "queue", |r| r.queue.as_deref());
        col!(d, rows, "by", |r| (!r.by.is_empty())
            .then_some(r.by.as_str()));
        col!(d, rows, "to", |r| (!r.to.is_empty())
            .then_some(r.to.as_str()));
        col!(d, rows, "nth", |r| r.nth);
        if show_callers {
            col!(d, rows, "caller", |r| r.caller.as_deref());
        }
        Ok(d)
    }

    /// Agents now, one row per queue and agent, as columns.
    fn agents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let rows = self.inner.agents();
        let now = self.inner.now().unwrap_or(0.0);
        let d = PyDict::new(py);
        col!(d, rows, "queue", |r| self.inner.queue_name(r.queue));
        col!(d, rows, "agent", |r| r.agent.as_str());
        col!(d, rows, "state", |r| r.state);
        col!(d, rows, "reason", |r| (!r.reason.is_empty())
            .then_some(r.reason.as_str()));
        col!(d, rows, "since", |r| r.since);
        col!(d, rows, "in_state_seconds", |r| (now - r.since).max(0.0));
        Ok(d)
    }

    /// JSON lines of other sites read since the last call: `(source, site, lines)`.
    fn take_forwarded<'py>(
        &mut self,
        py: Python<'py>,
    ) -> Vec<(String, String, Bound<'py, pyo3::types::PyBytes>)> {
        self.inner
            .take_forwarded()
            .into_iter()
            .map(|(source, site, lines)| (source, site, pyo3::types::PyBytes::new(py, &lines)))
            .collect()
    }

    /// Per-source telemetry: a list of dicts.
    fn sources<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for s in self.inner.sources() {
            let d = PyDict::new(py);
            d.set_item("source", &s.name)?;
            d.set_item("lines", s.lines)?;
            d.set_item("ingested", s.ingested)?;
            d.set_item("rejected", s.rejected_total())?;
            let by_reason = PyDict::new(py);
            for r in ccmon_core::event::RejectReason::ALL {
                let n = s.rejected[r.index()];
                if n > 0 {
                    by_reason.set_item(r.as_str(), n)?;
                }
            }
            d.set_item("rejected_by_reason", by_reason)?;
            d.set_item("unknown", s.unknown)?;
            d.set_item("ignored", s.ignored)?;
            d.set_item("duplicates", s.duplicates)?;
            d.set_item("last_event_ts", s.last_event_ts)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The Prometheus text exposition of every engine figure.
    fn render_metrics(&self, py: Python<'_>) -> String {
        let inner = &self.inner;
        py.detach(|| {
            let mut out = String::with_capacity(1 << 16);
            inner.render_prometheus(&mut out);
            out
        })
    }
}

/// Columns of SPEC §3/§3b for `rows` (all but `queue`, which the caller sets first in the dict's order).
fn stats_columns<'py>(
    py: Python<'py>,
    rows: &[ccmon_core::QueueStats],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("queue", py.None())?;
    col!(d, rows, "offered", |r| r.counters.offered);
    col!(d, rows, "answered", |r| r.counters.answered);
    col!(d, rows, "abandoned", |r| r.counters.abandoned);
    col!(d, rows, "short_abandoned", |r| r.counters.short_abandoned);
    col!(d, rows, "timed_out", |r| r.counters.timed_out);
    col!(d, rows, "exited_key", |r| r.counters.exited_key);
    col!(d, rows, "exited_empty", |r| r.counters.exited_empty);
    col!(d, rows, "lost", |r| r.counters.lost);
    col!(d, rows, "answered_within_sl", |r| r
        .counters
        .answered_within_sl);
    col!(d, rows, "abandoned_within_sl", |r| r
        .counters
        .abandoned_within_sl);
    col!(d, rows, "service_level", |r| r.service_level);
    col!(d, rows, "abandon_rate", |r| r.abandon_rate);
    col!(d, rows, "asa_seconds", |r| r.asa_seconds);
    col!(d, rows, "wait_p50_seconds", |r| r.wait_p50_seconds);
    col!(d, rows, "wait_p90_seconds", |r| r.wait_p90_seconds);
    col!(d, rows, "wait_p99_seconds", |r| r.wait_p99_seconds);
    col!(d, rows, "wait_max_seconds", |r| r.counters.wait_max);
    col!(d, rows, "waiting_now", |r| r.waiting_now);
    col!(d, rows, "longest_wait_now_seconds", |r| r
        .longest_wait_now_seconds);
    col!(d, rows, "talk_seconds_mean", |r| r.talk_seconds_mean);
    col!(d, rows, "transfers_out", |r| r.counters.transfers_out);
    col!(d, rows, "loop_entries", |r| r.counters.loop_entries);
    col!(d, rows, "repeat_calls", |r| r.counters.repeat_calls);
    col!(d, rows, "pingpong_entries", |r| r.counters.pingpong_entries);
    col!(d, rows, "bounced_calls", |r| r.counters.bounced_calls);
    col!(d, rows, "escalations", |r| r.counters.escalations);
    col!(d, rows, "escalations_fake", |r| r.counters.escalations_fake);
    col!(d, rows, "escalations_unanswered", |r| r
        .counters
        .escalations_unanswered);
    col!(d, rows, "misroutes", |r| r.counters.misroutes);
    col!(d, rows, "moh_seconds_total", |r| r
        .counters
        .moh_seconds_total);
    col!(d, rows, "moh_plays_max", |r| r.counters.moh_plays_max);
    Ok(d)
}

/// The Prometheus exposition of several engines (one per site) as one text: each family once.
#[pyfunction]
fn render_metrics(py: Python<'_>, engines: Vec<PyRef<'_, Engine>>) -> String {
    let inner: Vec<&CoreEngine> = engines.iter().map(|e| &e.inner).collect();
    py.detach(|| {
        let mut out = String::with_capacity(1 << 16);
        ccmon_core::metrics::render_prometheus(&inner, &mut out);
        out
    })
}

/// Seconds of a rolling window ("5m" -> 300.0); None for "all" and "today"; ValueError otherwise.
#[pyfunction]
fn window_seconds(text: &str) -> PyResult<Option<f64>> {
    match Window::parse(text).map_err(value_error)? {
        Window::Rolling(s) => Ok(Some(s)),
        Window::All | Window::Today => Ok(None),
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_function(wrap_pyfunction!(window_seconds, m)?)?;
    m.add_function(wrap_pyfunction!(render_metrics, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
