"""A slow, obviously-correct model of ccmon's queue figures, from SPEC.md §1–§6 (not from the engine).

It replays structured queue_log events one by one, turns every countable thing into a timestamped `Fact`,
and aggregates the facts that fall in a window. Keeping "what happened" (the fact log) apart from "what a
window shows" (aggregation) is what makes it easy to check by eye against the rules it implements:

- "now" is the largest event timestamp seen. A rolling window W holds facts with now − W < ts <= now;
  "today" is the calendar day (config timezone) containing now; "all" holds everything.
- Each fact counts at its own event time (entry time for offered/loops/repeats/escalations, outcome time for
  outcomes and waits, talk end for talk, transfer time for transfers, enter + max_wait for `lost`).
- Outcomes apply only to a call waiting in that queue, COMPLETE* only to one talking there, a transfer to a
  call whose current entry is in that queue (any state). Anything else is ignored, and is no news either.
- ENTERQUEUE for a waiting call closes the old entry as `lost` at that moment.
- A waiting entry older than max_wait is closed as `lost` at enter + max_wait when a newer event arrives.
- ABANDON/COMPLETE* end a call; after EXIT*/transfer it stays for up to max_wait without news; a call talking
  for longer than max_wait is forgotten and its talk not counted.
- Hold music (queue_log has no MOH events): an entry's exposure is its wait (up to its `lost` time) in a queue
  with a `queue_moh_class`, counted at its outcome.

Two situations SPEC leaves open (ENTERQUEUE while talking, a transfer while waiting) raise
NotImplementedError, so a generator that produces them is noticed instead of silently modelled.

Only `float` arithmetic on the event timestamps is used; the generators keep timestamps dyadic (multiples of
1/8 s) so that the model and the engine see the same exact numbers.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULTS: dict[str, Any] = {
    "service_level_seconds": 20.0,
    "short_abandon_seconds": 5.0,
    "service_level_formula": "answered_minus_short",
    "max_wait_seconds": 14400.0,
    "windows": ["5m", "15m", "1h"],
    "timezone": "UTC",
    "bounce_transfers": 3,
    "repeat_window_seconds": 86400.0,
    "misroute_talk_seconds": 60.0,
    "misroute_window_seconds": 900.0,
    "departments": {},
    "supervisor_queues": [],
    "supervisors": [],
    "moh_track_seconds": {},
    "queue_moh_class": {},
}

DEFAULT_TRACK_SECONDS = 30.0

COUNT_FIELDS = (
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

FIELDS = (
    "queue",
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
    "service_level",
    "abandon_rate",
    "asa_seconds",
    "wait_p50_seconds",
    "wait_p90_seconds",
    "wait_p99_seconds",
    "wait_max_seconds",
    "waiting_now",
    "longest_wait_now_seconds",
    "talk_seconds_mean",
    "transfers_out",
    "loop_entries",
    "repeat_calls",
    "pingpong_entries",
    "bounced_calls",
    "escalations",
    "escalations_fake",
    "escalations_unanswered",
    "misroutes",
    "moh_seconds_total",
    "moh_plays_max",
)

OUTCOME_EVENTS = {
    "CONNECT": "answered",
    "ABANDON": "abandoned",
    "EXITWITHTIMEOUT": "timed_out",
    "EXITWITHKEY": "exited_key",
    "EXITEMPTY": "exited_empty",
}
TALK_END_EVENTS = ("COMPLETECALLER", "COMPLETEAGENT")
TRANSFER_EVENTS = ("TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER")

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Event:
    """One queue_log line: ``ts|callid|queue|agent|EVENT|data...``."""

    ts: float
    callid: str
    queue: str
    agent: str
    name: str
    data: tuple[str, ...] = ()

    def line(self) -> str:
        return "|".join([format_ts(self.ts), self.callid, self.queue, self.agent, self.name, *self.data])


def format_ts(ts: float) -> str:
    # Integers print without a fraction, as Asterisk writes them; fractions print exactly (they are dyadic).
    return str(int(ts)) if ts == int(ts) else repr(ts)


def render(events: Iterable[Event]) -> bytes:
    return "".join(e.line() + "\n" for e in events).encode()


def parse(text: str) -> list[Event]:
    """Well-formed queue_log text to events (blank lines skipped). Only for inputs known to be valid."""
    events = []
    for line in text.splitlines():
        if not line.strip():
            continue
        ts, callid, queue, agent, name, *data = line.split("|")
        events.append(Event(float(ts), callid, queue, agent, name, tuple(data)))
    return events


def window_seconds(text: str) -> float:
    return float(int(text[:-1]) * UNIT_SECONDS[text[-1]])


def normalize_caller(raw: str) -> str | None:
    """SPEC §6: strip ``+ - ( )`` and spaces; only a non-empty run of digits is a caller that can repeat."""
    digits = "".join(ch for ch in raw if ch not in "+-() ")
    if digits and all("0" <= ch <= "9" for ch in digits):
        return digits
    return None  # empty, anonymous, unknown, restricted or any other non-numeric text


def nearest_rank(sorted_values: Sequence[float], q: float) -> float:
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True)
class Fact:
    ts: float
    queue: str
    kind: str
    value: float = 1.0


@dataclass
class Entry:
    queue: str
    department: str
    enter_ts: float


@dataclass
class Call:
    caller: str | None
    start: float
    entries: list[Entry] = field(default_factory=list)
    state: str = "waiting"  # waiting | talking | idle (after EXIT* or a transfer, waiting for its next entry)
    answer_ts: float = 0.0
    last_news: float = 0.0
    transfers: int = 0
    plays: float = 0.0

    @property
    def current(self) -> Entry:
        return self.entries[-1]


@dataclass
class TalkEnd:
    ts: float
    talk: float
    queue: str
    used: bool = False


class Reference:
    """Feed `Event`s in order with `apply`, then read `rows(window)`."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        cfg = dict(DEFAULTS)
        cfg.update(config or {})
        self.cfg = cfg
        self.sl = float(cfg["service_level_seconds"])
        self.short = float(cfg["short_abandon_seconds"])
        self.max_wait = float(cfg["max_wait_seconds"])
        self.dept_of: dict[str, str] = {q: d for d, qs in cfg["departments"].items() for q in qs}
        self.now: float | None = None
        self.calls: dict[str, Call] = {}
        self.facts: list[Fact] = []
        self.queues_seen: set[str] = set()
        self.caller_last_start: dict[str, float] = {}
        self.caller_last_talk: dict[str, TalkEnd] = {}

    # ---- replay -------------------------------------------------------------------------------------------

    def department(self, queue: str) -> str:
        return self.dept_of.get(queue, queue)

    def track_seconds(self, queue: str) -> float | None:
        cls = self.cfg["queue_moh_class"].get(queue)
        if cls is None:
            return None
        return float(self.cfg["moh_track_seconds"].get(cls, DEFAULT_TRACK_SECONDS))

    def fact(self, ts: float, queue: str, kind: str, value: float = 1.0) -> None:
        self.facts.append(Fact(ts, queue, kind, value))

    def apply_all(self, events: Iterable[Event]) -> Reference:
        for e in events:
            self.apply(e)
        return self

    def apply(self, e: Event) -> None:
        if self.now is None or e.ts > self.now:
            self.sweep(e.ts)  # rule 6/7: ageing is checked before the newer event is applied
            self.now = e.ts
        call = self.calls.get(e.callid)
        if e.name == "ENTERQUEUE":
            self.enter(e, call)
        elif e.name in OUTCOME_EVENTS:
            if call is not None and call.state == "waiting" and call.current.queue == e.queue:
                self.outcome(e.callid, call, OUTCOME_EVENTS[e.name], e.ts, e.agent)
        elif e.name in TALK_END_EVENTS:
            if call is not None and call.state == "talking" and call.current.queue == e.queue:
                self.talk_end(call, e.ts)
                del self.calls[e.callid]
        elif e.name in TRANSFER_EVENTS and call is not None and call.current.queue == e.queue:
            self.transfer(call, e)
        # Every other event (RINGNOANSWER, QUEUESTART, ...) only moves "now".

    def sweep(self, t: float) -> None:
        for callid, call in list(self.calls.items()):
            if call.state == "waiting":
                if t - call.current.enter_ts > self.max_wait:
                    self.close_lost(call, call.current.enter_ts + self.max_wait)
                    del self.calls[callid]
            elif call.state == "talking":
                if t - call.answer_ts > self.max_wait:
                    del self.calls[callid]  # talk never ended as far as we know: not counted
            elif t - call.last_news > self.max_wait:
                del self.calls[callid]

    def enter(self, e: Event, call: Call | None) -> None:
        self.queues_seen.add(e.queue)
        if call is not None and call.state == "talking":
            raise NotImplementedError(
                "ENTERQUEUE while talking is not specified; generators must not emit it"
            )
        if call is not None and call.state == "waiting":
            self.close_lost(call, e.ts)  # rule 5: the old entry can no longer get an outcome
        dept = self.department(e.queue)
        if call is None:
            caller = normalize_caller(e.data[1] if len(e.data) > 1 else "")
            call = Call(caller=caller, start=e.ts)
            self.calls[e.callid] = call
            self.call_started(call, e.queue, dept)
        earlier = [x.department for x in call.entries]
        if dept in earlier:
            self.fact(e.ts, e.queue, "loop_entries")
        collapsed: list[str] = []
        for d in earlier:
            if not collapsed or collapsed[-1] != d:
                collapsed.append(d)
        if len(collapsed) >= 2 and dept != collapsed[-1] and dept == collapsed[-2]:
            self.fact(e.ts, e.queue, "pingpong_entries")
        if e.queue in self.cfg["supervisor_queues"]:
            self.fact(e.ts, e.queue, "escalations")
        self.fact(e.ts, e.queue, "offered")
        call.entries.append(Entry(e.queue, dept, e.ts))
        call.state = "waiting"
        call.last_news = e.ts

    def call_started(self, call: Call, queue: str, dept: str) -> None:
        caller = call.caller
        if caller is None:
            return
        prev = self.caller_last_start.get(caller)
        self.caller_last_start[caller] = call.start
        if prev is None or not 0 <= call.start - prev <= self.cfg["repeat_window_seconds"]:
            return
        self.fact(call.start, queue, "repeat_calls")
        talk = self.caller_last_talk.get(caller)
        if (
            talk is not None
            and not talk.used
            and talk.talk < self.cfg["misroute_talk_seconds"]
            and 0 <= call.start - talk.ts <= self.cfg["misroute_window_seconds"]
            and self.department(talk.queue) != dept
        ):
            talk.used = True
            self.fact(call.start, talk.queue, "misroutes")

    def close_lost(self, call: Call, ts: float) -> None:
        entry = call.current
        self.fact(ts, entry.queue, "lost")
        if entry.queue in self.cfg["supervisor_queues"]:
            self.fact(ts, entry.queue, "escalations_unanswered")
        self.moh(call, entry, ts)

    def outcome(self, callid: str, call: Call, outcome: str, ts: float, agent: str) -> None:
        entry = call.current
        q = entry.queue
        wait = max(0.0, ts - entry.enter_ts)
        self.fact(ts, q, outcome)
        self.fact(ts, q, "closed_wait", wait)
        self.moh(call, entry, ts)
        supervised = q in self.cfg["supervisor_queues"]
        if outcome == "answered":
            self.fact(ts, q, "answered_wait", wait)
            if wait <= self.sl:
                self.fact(ts, q, "answered_within_sl")
            if supervised and agent not in self.cfg["supervisors"]:
                self.fact(ts, q, "escalations_fake")
            call.state = "talking"
            call.answer_ts = ts
            call.last_news = ts
            return
        if supervised:
            self.fact(ts, q, "escalations_unanswered")
        if outcome == "abandoned":
            if wait < self.short:
                self.fact(ts, q, "short_abandoned")
            if wait <= self.sl:
                self.fact(ts, q, "abandoned_within_sl")
            del self.calls[callid]
            return
        call.state = "idle"
        call.last_news = ts

    def moh(self, call: Call, entry: Entry, ts: float) -> None:
        track = self.track_seconds(entry.queue)
        if track is None:
            return
        exposure = max(0.0, ts - entry.enter_ts)
        call.plays += exposure / track
        self.fact(ts, entry.queue, "moh_seconds", exposure)
        self.fact(ts, entry.queue, "plays", call.plays)

    def talk_end(self, call: Call, ts: float) -> None:
        q = call.current.queue
        talk = ts - call.answer_ts
        self.fact(ts, q, "talk", talk)
        if call.caller is not None:
            self.caller_last_talk[call.caller] = TalkEnd(ts, talk, q)

    def transfer(self, call: Call, e: Event) -> None:
        if call.state == "waiting":
            raise NotImplementedError(
                "a transfer while waiting is not specified; generators must not emit it"
            )
        self.fact(e.ts, e.queue, "transfers_out")
        call.transfers += 1
        if call.transfers == self.cfg["bounce_transfers"]:
            self.fact(e.ts, e.queue, "bounced_calls")
        if call.state == "talking":
            self.talk_end(call, e.ts)
        call.state = "idle"
        call.last_news = e.ts

    # ---- windows ------------------------------------------------------------------------------------------

    def in_window(self, window: str) -> Any:
        now = self.now
        assert now is not None
        if window == "all":
            return lambda ts: True
        if window == "today":
            tz = zoneinfo.ZoneInfo(self.cfg["timezone"])
            day = dt.datetime.fromtimestamp(now, tz).date()
            start = dt.datetime.combine(day, dt.time(), tzinfo=tz).timestamp()
            end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz).timestamp()
            return lambda ts: start <= ts < end
        w = window_seconds(window)
        return lambda ts: now - w < ts <= now

    def rows(self, window: str = "all") -> list[dict[str, Any]]:
        """One dict per queue ever entered, sorted by name, with every column of `Monitor.queues()`."""
        if self.now is None:
            return []
        keep = self.in_window(window)
        by_queue: dict[str, list[Fact]] = defaultdict(list)
        for f in self.facts:
            if keep(f.ts):
                by_queue[f.queue].append(f)
        waiting: dict[str, list[float]] = defaultdict(list)
        live_plays: dict[str, list[float]] = defaultdict(list)
        for call in self.calls.values():
            if call.state != "waiting":
                continue
            entry = call.current
            waiting[entry.queue].append(entry.enter_ts)
            # SPEC §3b: the plays of any call whose most recent entry is here, so a call that heard music
            # earlier in its journey shows its plays in a queue without music too.
            track = self.track_seconds(entry.queue)
            hearing = max(0.0, self.now - entry.enter_ts) / track if track is not None else 0.0
            live_plays[entry.queue].append(call.plays + hearing)
        return [
            self.row(q, by_queue[q], waiting[q], live_plays[q], self.now) for q in sorted(self.queues_seen)
        ]

    def row(
        self, queue: str, facts: list[Fact], waiting: list[float], live_plays: list[float], now: float
    ) -> dict[str, Any]:
        counts = dict.fromkeys(COUNT_FIELDS, 0)
        values: dict[str, list[float]] = defaultdict(list)
        for f in facts:
            if f.kind in counts:
                counts[f.kind] += 1
            else:
                values[f.kind].append(f.value)
        c = counts
        closed = c["answered"] + c["abandoned"] + c["timed_out"] + c["exited_key"] + c["exited_empty"]
        sl_num, sl_den = {
            "answered_minus_short": (c["answered_within_sl"], closed - c["short_abandoned"]),
            "answered_only": (c["answered_within_sl"], c["answered"]),
            "abandons_in_sl_met": (
                c["answered_within_sl"] + c["abandoned_within_sl"],
                c["answered"] + c["abandoned"],
            ),
            "removed_within_sl": (c["answered_within_sl"] + c["abandoned_within_sl"], c["offered"]),
        }[self.cfg["service_level_formula"]]
        waits = sorted(values["answered_wait"])
        talks = values["talk"]
        plays = values["plays"] + live_plays
        row: dict[str, Any] = {"queue": queue, **counts}
        row.update(
            service_level=sl_num / sl_den if sl_den else None,
            abandon_rate=(
                (c["abandoned"] - c["short_abandoned"]) / (closed - c["short_abandoned"])
                if closed - c["short_abandoned"]
                else None
            ),
            asa_seconds=sum(waits) / len(waits) if waits else None,
            wait_p50_seconds=nearest_rank(waits, 0.5) if waits else None,
            wait_p90_seconds=nearest_rank(waits, 0.9) if waits else None,
            wait_p99_seconds=nearest_rank(waits, 0.99) if waits else None,
            wait_max_seconds=max(values["closed_wait"]) if values["closed_wait"] else None,
            waiting_now=len(waiting),
            longest_wait_now_seconds=max(0.0, now - min(waiting)) if waiting else 0.0,
            talk_seconds_mean=sum(talks) / len(talks) if talks else None,
            moh_seconds_total=float(sum(values["moh_seconds"])),
            moh_plays_max=float(max(plays)) if plays else 0.0,
        )
        return {k: row[k] for k in FIELDS}


def reference_rows(
    events: Iterable[Event], config: Mapping[str, Any] | None, window: str = "all"
) -> list[dict[str, Any]]:
    return Reference(config).apply_all(events).rows(window)
