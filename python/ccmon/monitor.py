"""`Monitor`: the Python face of the engine. No figures are computed here; it converts snapshots to polars.

>>> m = Monitor()
>>> m.feed(b"100|c1|sales|NONE|ENTERQUEUE||600111222\\n112|c1|sales|Agent/1|CONNECT|12|x|1\\n")
>>> m.queues().select("queue", "offered", "answered", "asa_seconds").row(0)
('sales', 1, 1, 12.0)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from ccmon import _core
from ccmon.config import Config

log = logging.getLogger(__name__)

QUEUE_SCHEMA: dict[str, Any] = {
    "queue": pl.String,
    **{
        name: pl.UInt64
        for name in (
            "offered",
            "answered",
            "abandoned",
            "short_abandoned",
            "timed_out",
            "exited_key",
            "exited_empty",
            "lost",
            "answered_within_sl",
            "abandoned_within_sl",
        )
    },
    "service_level": pl.Float64,
    "abandon_rate": pl.Float64,
    "asa_seconds": pl.Float64,
    "wait_p50_seconds": pl.Float64,
    "wait_p90_seconds": pl.Float64,
    "wait_p99_seconds": pl.Float64,
    "wait_max_seconds": pl.Float64,
    "waiting_now": pl.UInt64,
    "longest_wait_now_seconds": pl.Float64,
    "talk_seconds_mean": pl.Float64,
    **{
        name: pl.UInt64
        for name in (
            "transfers_out",
            "loop_entries",
            "repeat_calls",
            "pingpong_entries",
            "bounced_calls",
            "escalations",
            "escalations_fake",
            "escalations_unanswered",
            "misroutes",
        )
    },
    "moh_seconds_total": pl.Float64,
    "moh_plays_max": pl.Float64,
}

CALL_SCHEMA: dict[str, Any] = {
    "call": pl.String,
    "queue": pl.String,
    "state": pl.String,
    "entered_at": pl.Float64,
    "wait_seconds": pl.Float64,
    "on_line_seconds": pl.Float64,
    "entries": pl.UInt32,
    "transfers": pl.UInt32,
    "plays": pl.Float64,
    "moh_seconds": pl.Float64,
    "flags": pl.String,
    "journey": pl.String,
}

AGENT_SCHEMA: dict[str, Any] = {
    "queue": pl.String,
    "agent": pl.String,
    "state": pl.String,
    "reason": pl.String,
    "since": pl.Float64,
    "in_state_seconds": pl.Float64,
}

JOURNEY_SCHEMA: dict[str, Any] = {
    "call": pl.String,
    "step": pl.UInt32,
    "queue": pl.String,
    "department": pl.String,
    "entered_at": pl.Float64,
    "outcome": pl.String,
    "wait_seconds": pl.Float64,
    "talk_seconds": pl.Float64,
    "finished": pl.Boolean,
    "flags": pl.String,
}


def detect_format(path: str | os.PathLike[str]) -> str:
    """``jsonl`` when the file's first non-blank byte is ``{``; ``ami`` when it starts like a manager session
    (``Asterisk Call Manager``, ``Event:``, ``Response:``); ``freeswitch`` when it starts like an event socket
    stream (``Content-Type:``, ``Content-Length:``, or a bare event's ``Event-Name:``); else ``queue_log``."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if head.startswith(b"{"):
        return "jsonl"
    if head.startswith((b"Asterisk Call Manager", b"Event:", b"Response:")):
        return "ami"
    if head.startswith((b"Content-Type:", b"Content-Length:", b"Event-Name:")):
        return "freeswitch"
    return "queue_log"


class RejectionLog:
    """Logs rejected input: per source, the first `shown_per_period` rejections of each period with their line
    number, reason and text, then one line saying how many more there were. Every rejection is counted anyway
    (`Monitor.sources()`, ``ccmon_events_rejected_total``); the log is for finding the bad lines, and a flood
    of them must not flood it.
    """

    def __init__(
        self,
        shown_per_period: int = 10,
        period_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shown_per_period = shown_per_period
        self.period_seconds = period_seconds
        self._clock = clock
        self._period_start: dict[str, float] = {}
        self._shown: dict[str, int] = {}
        self._hidden: dict[str, int] = {}

    def report(
        self,
        shown: list[tuple[str, str, int | None, str]],
        more: list[tuple[str, int]],
        final: bool = False,
    ) -> None:
        """Logs what `Engine.take_rejections` returned; `final` (the input ended) also says how many more."""
        now = self._clock()
        for source, reason, line, text in shown:
            self._start_period_if_due(source, now)
            if self._shown[source] < self.shown_per_period:
                self._shown[source] += 1
                where = f"line {line}" if line is not None else "event"
                log.warning("%s: %s rejected (%s): %r", source, where, reason, text)
            else:
                self._hidden[source] += 1
        for source, n in more:
            self._start_period_if_due(source, now)
            self._hidden[source] += n
        for source in list(self._hidden):
            if final:
                self._say_hidden(source)
            else:
                self._start_period_if_due(source, now)

    def _start_period_if_due(self, source: str, now: float) -> None:
        start = self._period_start.get(source)
        if start is None or now - start >= self.period_seconds:
            self._say_hidden(source)
            self._period_start[source] = now
            self._shown[source] = 0

    def _say_hidden(self, source: str) -> None:
        n = self._hidden.get(source, 0)
        if n:
            log.warning(
                "%s: %d more rejected lines not shown (counted by reason in sources() and "
                "ccmon_events_rejected_total)",
                source,
                n,
            )
        self._hidden[source] = 0


class Monitor:
    """A live call-center monitor: feed it switch events, read per-queue figures and calls in progress.

    ``config`` is a `Config`, a dict of config keys, a path to a TOML file, or None for SPEC's defaults.
    Safe to use from several threads (one lock around the engine; bulk feeding runs without the GIL).

    Rejected input is counted per source and reason and logged (logger ``ccmon.monitor``, at most ten lines
    per source a minute, see `RejectionLog`).

    Raises `ccmon.ConfigError` for a bad configuration, `ValueError` for an unknown format or window,
    `OSError` when a file cannot be read.
    """

    def __init__(self, config: Config | Mapping[str, Any] | str | Path | None = None) -> None:
        self.config = Config.load(config)
        self._engine = _core.Engine(self.config.engine_json())
        self._lock = threading.Lock()
        self._rejections = RejectionLog()

    def feed(self, data: bytes, format: str = "queue_log", source: str | None = None) -> None:
        """Feeds a chunk of raw bytes. Lines may be split across chunks anywhere."""
        with self._lock:
            self._engine.feed(data, format, source or format)
            self._rejections.report(*self._engine.take_rejections())

    def end_of_input(self, format: str = "queue_log", source: str | None = None) -> None:
        """Marks the end of a source's input: a last line without a newline is then counted."""
        with self._lock:
            self._engine.end_of_input(format, source or format)
            self._rejections.report(*self._engine.take_rejections(), final=True)

    def feed_file(self, path: str | os.PathLike[str], format: str = "auto", source: str | None = None) -> int:
        """Reads a whole recorded file (in Rust, without the GIL); returns the bytes read.

        ``format="auto"`` tells the formats apart by how the file starts (see `detect_format`). The format
        also names the source unless ``source`` is given.
        """
        fmt = detect_format(path) if format == "auto" else format
        with self._lock:
            read = int(self._engine.feed_file(os.fspath(path), fmt, source or fmt))
            self._rejections.report(*self._engine.take_rejections(), final=True)
            return read

    def feed_batch(self, data: bytes, format: str = "jsonl", source: str | None = None) -> dict[str, int]:
        """Feeds a complete batch (its last line needs no newline) and says what became of its lines:
        ``{"ingested", "rejected", "unknown", "ignored", "duplicates"}``, counted for this batch alone even
        when other threads feed the same source.
        """
        name = source or format
        with self._lock:
            before = self._counts(name)
            self._engine.feed(data, format, name)
            self._engine.end_of_input(format, name)
            after = self._counts(name)
            self._rejections.report(*self._engine.take_rejections(), final=True)
        return {k: after[k] - before.get(k, 0) for k in after}

    def _counts(self, source: str) -> dict[str, int]:
        keys = ("ingested", "rejected", "unknown", "ignored", "duplicates")
        for s in self._engine.sources():
            if s["source"] == source:
                return {k: int(s[k]) for k in keys}
        return dict.fromkeys(keys, 0)

    def advance_clock(self, now: float | None = None) -> None:
        """Live mode: ages and the `lost` sweep use the wall clock when it is newer than the last event."""
        with self._lock:
            self._engine.advance_clock(time.time() if now is None else now)

    @property
    def now(self) -> float | None:
        """Event-time "now" (the newest event or clock time seen), or None before any event."""
        with self._lock:
            value = self._engine.now()
        return None if value is None else float(value)

    def queues(self, window: str = "all") -> pl.DataFrame:
        """Per-queue figures (SPEC §3, §3b) over ``"all"``, ``"today"`` or a rolling window such as ``"5m"``.

        Rolling windows must not be longer than the longest one in the config's ``windows``.
        """
        with self._lock:
            cols = self._engine.queues(window)
        return pl.DataFrame(cols, schema=QUEUE_SCHEMA)

    def totals(self, window: str = "all") -> pl.DataFrame:
        """The whole site over a window, as one row with the columns of `queues` (``queue`` is null).

        Counts are summed over the queues, quantiles taken over all their answered waits, ratios computed
        by the engine from the summed counts with the configured formula.
        """
        with self._lock:
            cols = self._engine.totals(window)
        return pl.DataFrame(cols, schema=QUEUE_SCHEMA)

    def calls(self) -> pl.DataFrame:
        """Calls in progress with their journey so far, current wait, hold-music plays and flags.

        The ``caller`` column is present only when the config sets ``show_callers = true``.
        """
        with self._lock:
            cols = self._engine.calls(self.config.show_callers)
        schema = dict(CALL_SCHEMA)
        if self.config.show_callers:
            schema["caller"] = pl.String
        return pl.DataFrame(cols, schema=schema)

    def journeys(self) -> pl.DataFrame:
        """One row per entry, for calls in progress and the last 10,000 finished calls."""
        with self._lock:
            cols = self._engine.journeys()
        return pl.DataFrame(cols, schema=JOURNEY_SCHEMA)

    def agents(self) -> pl.DataFrame:
        """Agents now, one row per queue and agent: ``state`` is ``on_call``, ``ringing``, ``paused`` (with
        its ``reason``) or ``available``; ``since`` is when that state began (event time).

        >>> m = Monitor()
        >>> m.feed(b"100|NONE|sales|Agent/1|ADDMEMBER|\\n110|NONE|sales|Agent/1|PAUSE|lunch\\n")
        >>> m.agents().select("queue", "agent", "state", "reason").row(0)
        ('sales', 'Agent/1', 'paused', 'lunch')
        """
        with self._lock:
            cols = self._engine.agents()
        return pl.DataFrame(cols, schema=AGENT_SCHEMA)

    def sources(self) -> list[dict[str, Any]]:
        """Per-source counts: ingested, rejected (by reason), unknown, ignored, duplicates, last event ts."""
        with self._lock:
            return list(self._engine.sources())

    def metrics_text(self) -> str:
        """The Prometheus exposition of every engine figure (SPEC §8 names)."""
        with self._lock:
            return str(self._engine.render_metrics())

    def calls_in_progress(self) -> int:
        with self._lock:
            return int(self._engine.calls_in_progress())
