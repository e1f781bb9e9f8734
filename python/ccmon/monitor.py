"""`Monitor`: the Python face of the engine. No figures are computed here; it converts snapshots to polars.

>>> m = Monitor()
>>> m.feed(b"100|c1|sales|NONE|ENTERQUEUE||600111222\\n112|c1|sales|Agent/1|CONNECT|12|x|1\\n")
>>> m.queues().select("queue", "offered", "answered", "asa_seconds").row(0)
('sales', 1, 1, 12.0)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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

TRANSFER_SCHEMA: dict[str, Any] = {
    "call": pl.String,
    "at": pl.Float64,
    "queue": pl.String,
    "by": pl.String,
    "to": pl.String,
    "nth": pl.UInt32,
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
    (``Asterisk Call Manager``, ``Event:``, ``Response:``) or is a JSON list (``[``: a recorded session, one
    object per event); ``freeswitch`` when it starts like an event socket stream (``Content-Type:``,
    ``Content-Length:``, or a bare event's ``Event-Name:``); else ``queue_log``."""
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if head.startswith(b"{"):
        return "jsonl"
    if head.startswith((b"Asterisk Call Manager", b"Event:", b"Response:", b"[")):
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


@dataclass
class _Site:
    """One site's engine. Sites are independent: their queues, calls and callers never meet."""

    name: str
    engine: _core.Engine
    lock: threading.Lock = field(default_factory=threading.Lock)
    rejections: RejectionLog = field(default_factory=RejectionLog)
    fed: bool = False

    def report_rejections(self, final: bool = False) -> list[tuple[str, str, int | None, str]]:
        """Logs the rejections kept since the last call; returns them as (source, reason, line, text)."""
        shown, more = self.engine.take_rejections()
        taken = shown
        if self.name:
            # Two sites may each have a source called "ami": the log says which one.
            shown = [(f"{self.name}/{src}", reason, line, text) for src, reason, line, text in shown]
            more = [(f"{self.name}/{src}", n) for src, n in more]
        self.rejections.report(shown, more, final=final)
        return taken


class Monitor:
    """A live call-center monitor: feed it switch events, read per-queue figures and calls in progress.

    ``config`` is a `Config`, a dict of config keys, a path to a TOML file, or None for SPEC's defaults.
    Safe to use from several threads (one lock per site around its engine; bulk feeding runs without the GIL,
    so two sites are fed in parallel).

    **Sites.** One monitor can watch several switches. Each feeding call may name the ``site`` its source
    belongs to (default: the config's ``site``); every site has an engine of its own, so queue names, call
    ids and callers of different sites never mix. When any site has a name, the DataFrames gain a ``site``
    column and the Prometheus series a ``site`` label (SPEC §8: "where configured").

    Rejected input is counted per source and reason and logged (logger ``ccmon.monitor``, at most ten lines
    per source a minute, see `RejectionLog`).

    Raises `ccmon.ConfigError` for a bad configuration, `ValueError` for an unknown format or window,
    `OSError` when a file cannot be read.
    """

    def __init__(self, config: Config | Mapping[str, Any] | str | Path | None = None) -> None:
        self.config = Config.load(config)
        # Replaced, never changed in place: readers take the dict without a lock.
        self._sites: dict[str, _Site] = {}
        self._sites_lock = threading.Lock()
        self._site(None)

    def _fed(self, name: str | None) -> _Site:
        site = self._site(name)
        site.fed = True
        return site

    def _site(self, name: str | None) -> _Site:
        name = self.config.site if name is None else name
        site = self._sites.get(name)
        if site is None:
            with self._sites_lock:
                site = self._sites.get(name)
                if site is None:
                    cfg = dataclasses.replace(self.config, site=name)
                    site = _Site(name, _core.Engine(cfg.engine_json()))
                    self._sites = {**self._sites, name: site}
        return site

    @property
    def sites(self) -> list[str]:
        """The sites fed so far, in name order (the config's ``site``, maybe ``""``, when none was)."""
        return [s.name for s in self._all()]

    def _all(self) -> list[_Site]:
        """The sites in name order: those fed so far, or the default site when none was."""
        fed = [s for s in self._sites.values() if s.fed]
        return sorted(fed, key=lambda s: s.name) or [self._site(None)]

    def feed(
        self, data: bytes, format: str = "queue_log", source: str | None = None, site: str | None = None
    ) -> None:
        """Feeds a chunk of raw bytes. Lines may be split across chunks anywhere."""
        s = self._fed(site)
        with s.lock:
            s.engine.feed(data, format, source or format)
            s.report_rejections()
            forwarded = s.engine.take_forwarded()
        self._forward(forwarded)

    def end_of_input(
        self, format: str = "queue_log", source: str | None = None, site: str | None = None
    ) -> None:
        """Marks the end of a source's input: a last line without a newline is then counted."""
        s = self._fed(site)
        with s.lock:
            s.engine.end_of_input(format, source or format)
            s.report_rejections(final=True)
            forwarded = s.engine.take_forwarded()
        self._forward(forwarded)

    def feed_file(
        self,
        path: str | os.PathLike[str],
        format: str = "auto",
        source: str | None = None,
        site: str | None = None,
    ) -> int:
        """Reads a whole recorded file (in Rust, without the GIL); returns the bytes read.

        ``format="auto"`` tells the formats apart by how the file starts (see `detect_format`). The format
        also names the source unless ``source`` is given.
        """
        fmt = detect_format(path) if format == "auto" else format
        s = self._fed(site)
        with s.lock:
            read = int(s.engine.feed_file(os.fspath(path), fmt, source or fmt))
            s.report_rejections(final=True)
            forwarded = s.engine.take_forwarded()
        self._forward(forwarded)
        return read

    def feed_batch(
        self, data: bytes, format: str = "jsonl", source: str | None = None, site: str | None = None
    ) -> dict[str, Any]:
        """Feeds a complete batch (its last line needs no newline) and says what became of its lines:
        ``{"ingested", "rejected", "unknown", "ignored", "duplicates"}``, counted for this batch alone even
        when other threads feed the same source; and ``"rejections"``, the first of its rejected lines
        (the engine keeps eight a feed for the log), each ``{"line", "reason", "message"}`` with its line
        number within the batch, so that a producer sees why without reading ccmon's log. Lines that name
        another site are counted, not listed.
        """
        name = source or format
        s = self._fed(site)
        with s.lock:
            before = _counts(s.engine, name)
            first = _lines(s.engine, name)
            s.engine.feed(data, format, name)
            s.engine.end_of_input(format, name)
            after = _counts(s.engine, name)
            shown = s.report_rejections(final=True)
            forwarded = s.engine.take_forwarded()
        result: dict[str, Any] = {k: after[k] - before.get(k, 0) for k in after}
        for k, n in self._forward(forwarded).items():
            result[k] += n
        result["rejections"] = [
            {"line": line - first, "reason": reason, "message": text}
            for src, reason, line, text in shown
            if src == name and line is not None and line > first
        ]
        return result

    def _forward(self, forwarded: list[tuple[str, str, bytes]]) -> dict[str, int]:
        """Feeds JSON lines that named another site to that site's engine (a batch per site, never a Python
        call per event); returns what became of them there, counted as `feed_batch` counts."""
        total: dict[str, int] = {}
        for source, site, lines in forwarded:
            target = self._fed(site)
            with target.lock:
                before = _counts(target.engine, source)
                target.engine.feed(lines, "jsonl", source)
                after = _counts(target.engine, source)
                target.report_rejections()
            for k in after:
                total[k] = total.get(k, 0) + after[k] - before.get(k, 0)
        return total

    def _begin_resync(self, source: str, site: str | None = None) -> None:
        """For the FreeSWITCH client: it starts asking mod_callcenter for its state; the calls this source's
        events name from now on are newer than the answer, which leaves them alone."""
        s = self._site(site)
        with s.lock:
            s.engine.begin_resync(source)

    def _end_resync(self, source: str, site: str | None = None) -> None:
        """For the FreeSWITCH client: the resynchronisation it began ends (with an answer or without)."""
        s = self._site(site)
        with s.lock:
            s.engine.end_resync(source)

    def _resync_callcenter(
        self,
        source: str,
        queues: list[tuple[str, str]],
        tiers: str,
        agents: str,
        site: str | None = None,
        now: float | None = None,
    ) -> None:
        """For the FreeSWITCH client: mod_callcenter's answers (each queue's members table, the tier and
        agent lists) make the calls waiting and the agents of those queues agree with the switch, at `now`
        (the wall clock by default). Raises ValueError when an answer is not such a table."""
        s = self._site(site)
        with s.lock:
            s.engine.resync_callcenter(source, queues, tiers, agents, time.time() if now is None else now)

    def advance_clock(self, now: float | None = None) -> None:
        """Live mode: ages and the `lost` sweep use the wall clock when it is newer than the last event."""
        t = time.time() if now is None else now
        for s in self._all():
            with s.lock:
                s.engine.advance_clock(t)

    @property
    def now(self) -> float | None:
        """Event-time "now" (the newest event or clock time seen, over all sites); None before any event."""
        values = []
        for s in self._all():
            with s.lock:
                values.append(s.engine.now())
        known = [float(v) for v in values if v is not None]
        return max(known) if known else None

    def _frame(
        self, snapshot: Callable[[_core.Engine], dict[str, list[Any]]], schema: dict[str, Any]
    ) -> pl.DataFrame:
        """One DataFrame from every site's snapshot; with named sites, a ``site`` column first."""
        frames = []
        sites = self._all()
        named = any(s.name for s in sites)
        for s in sites:
            with s.lock:
                cols = snapshot(s.engine)
            frame = pl.DataFrame(cols, schema=schema)
            if named:
                frame.insert_column(0, pl.Series("site", [s.name] * frame.height, dtype=pl.String))
            frames.append(frame)
        return pl.concat(frames) if len(frames) > 1 else frames[0]

    def queues(self, window: str = "all") -> pl.DataFrame:
        """Per-queue figures (SPEC §3, §3b) over ``"all"``, ``"today"`` or a rolling window such as ``"5m"``.

        Rolling windows must not be longer than the longest one in the config's ``windows``.
        """
        return self._frame(lambda e: e.queues(window), QUEUE_SCHEMA)

    def totals(self, window: str = "all") -> pl.DataFrame:
        """Each site over a window, as one row with the columns of `queues` (``queue`` is null).

        Counts are summed over the queues, quantiles taken over all their answered waits, ratios computed
        by the engine from the summed counts with the configured formula.
        """
        return self._frame(lambda e: e.totals(window), QUEUE_SCHEMA)

    def calls(self) -> pl.DataFrame:
        """Calls in progress with their journey so far, current wait, hold-music plays and flags.

        The ``caller`` column is present only when the config sets ``show_callers = true``.
        """
        schema = dict(CALL_SCHEMA)
        if self.config.show_callers:
            schema["caller"] = pl.String
        return self._frame(lambda e: e.calls(self.config.show_callers), schema)

    def journeys(self) -> pl.DataFrame:
        """One row per entry, for calls in progress and the last 10,000 finished calls (per site)."""
        return self._frame(lambda e: e.journeys(), JOURNEY_SCHEMA)

    def transfers(self) -> pl.DataFrame:
        """The last 10,000 transfers the sources reported (per site), oldest first: the ``call`` transferred,
        ``at`` (event time), the ``queue`` it was in when ccmon knew the call, ``by`` (the agent, when the
        source says), ``to`` (an extension, a queue, or the party the caller was joined with) and ``nth``
        (the call's n-th transfer so far). Calls between extensions, never in a queue, are listed too.
        ``caller`` (the transferred party's number, AMI) only with ``show_callers = true``.
        """
        schema = dict(TRANSFER_SCHEMA)
        if self.config.show_callers:
            schema["caller"] = pl.String
        return self._frame(lambda e: e.transfers(self.config.show_callers), schema)

    def agents(self) -> pl.DataFrame:
        """Agents now, one row per queue and agent: ``state`` is ``on_call``, ``ringing``, ``paused`` (with
        its ``reason``) or ``available``; ``since`` is when that state began (event time).

        >>> m = Monitor()
        >>> m.feed(b"100|NONE|sales|Agent/1|ADDMEMBER|\\n110|NONE|sales|Agent/1|PAUSE|lunch\\n")
        >>> m.agents().select("queue", "agent", "state", "reason").row(0)
        ('sales', 'Agent/1', 'paused', 'lunch')
        """
        return self._frame(lambda e: e.agents(), AGENT_SCHEMA)

    def sources(self) -> list[dict[str, Any]]:
        """Per-source counts: lines read (blank and rejected ones too), ingested, rejected (by reason),
        unknown, ignored, duplicates, last event ts; and the ``site`` the source feeds."""
        out: list[dict[str, Any]] = []
        for s in self._all():
            with s.lock:
                stats = list(s.engine.sources())
            out.extend({**d, "site": s.name} for d in stats)
        return out

    def metrics_text(self) -> str:
        """The Prometheus exposition of every engine figure (SPEC §8 names), every site in one text."""
        sites = self._all()
        with contextlib.ExitStack() as held:
            # Always in name order, so two scrapes cannot deadlock each other.
            for s in sites:
                held.enter_context(s.lock)
            return _core.render_metrics([s.engine for s in sites])

    def calls_in_progress(self) -> int:
        total = 0
        for s in self._all():
            with s.lock:
                total += int(s.engine.calls_in_progress())
        return total


def _lines(engine: _core.Engine, source: str) -> int:
    """The lines `source` has read so far: what its rejections' line numbers count from."""
    return next((int(s["lines"]) for s in engine.sources() if s["source"] == source), 0)


def _counts(engine: _core.Engine, source: str) -> dict[str, int]:
    keys = ("ingested", "rejected", "unknown", "ignored", "duplicates")
    for s in engine.sources():
        if s["source"] == source:
            return {k: int(s[k]) for k in keys}
    return dict.fromkeys(keys, 0)
