"""The demo simulator: deterministic, well-formed Asterisk queue_log, and every kind of trouble the wallboard
is there to show (SPEC §2-§6), both within minutes of starting and over a working day."""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccmon.simulator import DEMO_CONFIG, Simulator, generate

SEED = 11
DAY_START = 1_699_956_000  # Tuesday 2023-11-14 10:00 UTC, a busy morning
NIGHT_START = 1_699_930_800  # the same day at 03:00 UTC
TWO_HOURS = 7200

OUTCOMES = ("CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY")
TALK_ENDS = ("COMPLETECALLER", "COMPLETEAGENT", "TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER")
TRANSFERS = ("TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER")
DEPARTMENT = {q: d for d, qs in DEMO_CONFIG["departments"].items() for q in qs}
SUPERVISORS = set(DEMO_CONFIG["supervisors"])


@dataclass
class Line:
    ts: int
    call: str
    queue: str
    agent: str
    event: str
    data: list[str]


@dataclass
class Entry:
    """One stay of a call in one queue, rebuilt from the log the way SPEC §2 defines it."""

    call: str
    queue: str
    entered: int
    outcome: str | None = None
    outcome_ts: int | None = None
    agent: str | None = None
    talk_end: int | None = None

    @property
    def wait(self) -> int | None:
        return None if self.outcome_ts is None else self.outcome_ts - self.entered


@dataclass
class Log:
    lines: list[Line]
    entries: list[Entry] = field(default_factory=list)
    journeys: dict[str, list[Entry]] = field(default_factory=lambda: defaultdict(list))
    caller: dict[str, str] = field(default_factory=dict)  # call -> caller given at its first entry

    @property
    def events(self) -> Counter[str]:
        return Counter(line.event for line in self.lines)


def parse(data: bytes) -> Log:
    lines = []
    for raw in data.decode().splitlines():
        ts, call, queue, agent, event, *rest = raw.split("|")
        lines.append(Line(int(ts), call, queue, agent, event, rest))
    log = Log(lines)
    open_entries: dict[tuple[str, str], Entry] = {}
    talking: dict[tuple[str, str], Entry] = {}
    for line in lines:
        key = (line.call, line.queue)
        if line.event == "ENTERQUEUE":
            assert key not in open_entries, f"{key} entered twice without an outcome"
            entry = Entry(line.call, line.queue, line.ts)
            open_entries[key] = entry
            log.entries.append(entry)
            log.journeys[line.call].append(entry)
            log.caller.setdefault(line.call, line.data[1])
        elif line.event in OUTCOMES:
            entry = open_entries.pop(key)
            entry.outcome, entry.outcome_ts = line.event, line.ts
            if line.event == "CONNECT":
                entry.agent = line.agent
                talking[key] = entry
        elif line.event in TALK_ENDS:
            entry = talking.pop(key)
            assert entry.agent == line.agent, "the talk must end with the agent who answered"
            entry.talk_end = line.ts
    return log


@pytest.fixture(scope="module")
def two_hours() -> Log:
    return parse(generate(SEED, DAY_START, TWO_HOURS))


def pingpongs(journey: list[Entry]) -> bool:
    """SPEC §4: the department sequence, consecutive repeats collapsed, has some A -> B -> A."""
    departments: list[str] = []
    for entry in journey:
        d = DEPARTMENT[entry.queue]
        if not departments or departments[-1] != d:
            departments.append(d)
    return any(departments[i] == departments[i + 2] for i in range(len(departments) - 2))


def misroutes(log: Log) -> list[tuple[Entry, str]]:
    """SPEC §6: answered entries with talk < 60 s followed within 900 s by the same caller's new call that
    starts in another department."""
    starts: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for call, journey in log.journeys.items():
        if log.caller[call].lstrip("+").isdigit():
            starts[log.caller[call]].append((journey[0].entered, call))
    found = []
    for e in log.entries:
        if e.talk_end is None or e.outcome_ts is None or e.talk_end - e.outcome_ts >= 60:
            continue
        for start, call in starts.get(log.caller[e.call], []):
            if call != e.call and 0 <= start - e.talk_end <= 900:
                if DEPARTMENT[log.journeys[call][0].queue] != DEPARTMENT[e.queue]:
                    found.append((e, call))
    return found


# --- determinism --------------------------------------------------------------------------------------------


def test_same_seed_and_start_give_the_same_bytes() -> None:
    assert generate(SEED, DAY_START, 1800) == generate(SEED, DAY_START, 1800)
    assert generate(SEED, DAY_START, 1800) != generate(SEED + 1, DAY_START, 1800)


@given(chunks=st.lists(st.floats(min_value=0.01, max_value=400.0), min_size=1, max_size=40))
@settings(max_examples=25, deadline=None)
def test_chunking_advance_to_does_not_change_the_output(chunks: list[float]) -> None:
    end = DAY_START + 1800
    sim = Simulator(seed=SEED, start=DAY_START)
    parts = []
    t = float(DAY_START)
    for step in chunks:
        t = min(end, t + step)
        parts.append(sim.advance_to(t))
    parts.append(sim.advance_to(end))
    assert b"".join(parts) == generate(SEED, DAY_START, 1800)


def test_second_by_second_advances_equal_one_big_advance() -> None:
    sim = Simulator(seed=SEED, start=DAY_START + 0.5)
    stepped = b"".join(sim.advance_to(DAY_START + s) for s in range(601))
    assert stepped == generate(SEED, DAY_START + 0.5, 599.5)


def test_advance_to_returns_only_lines_up_to_t_and_never_repeats_the_past() -> None:
    sim = Simulator(seed=SEED, start=DAY_START)
    first = sim.advance_to(DAY_START + 120.7)
    assert sim.now == DAY_START + 120.7
    assert max(int(raw.split(b"|")[0]) for raw in first.splitlines()) <= DAY_START + 120
    assert sim.advance_to(DAY_START + 60) == b""
    assert sim.now == DAY_START + 120.7
    later = sim.advance_to(DAY_START + 240)
    assert min(int(raw.split(b"|")[0]) for raw in later.splitlines()) >= DAY_START + 120


def test_default_start_is_the_wall_clock() -> None:
    before = time.time()
    sim = Simulator(seed=3, speed=4.0)
    assert before <= sim.now <= time.time()
    assert sim.speed == 4.0
    data = sim.advance_to(sim.now + 30)
    assert all(int(raw.split(b"|")[0]) >= before for raw in data.splitlines())


# --- queue_log format ---------------------------------------------------------------------------------------


def test_every_line_is_an_asterisk_queue_log_line() -> None:
    raw = generate(SEED, DAY_START, 600)
    assert raw.endswith(b"\n")
    for text in raw.decode().splitlines():
        fields = text.split("|")
        assert len(fields) >= 5, text
        float(fields[0])  # an epoch timestamp
        assert fields[1] and fields[2] and fields[3], text
        assert fields[4].isupper(), text


def test_timestamps_are_nondecreasing_and_inside_the_window(two_hours: Log) -> None:
    stamps = [line.ts for line in two_hours.lines]
    assert stamps == sorted(stamps)
    assert DAY_START <= stamps[0] and stamps[-1] <= DAY_START + TWO_HOURS


def test_two_hours_hold_every_kind_of_event(two_hours: Log) -> None:
    expected = {
        "ENTERQUEUE", "CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY", "RINGNOANSWER",
        "COMPLETECALLER", "COMPLETEAGENT", "TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER",
        "PAUSE", "UNPAUSE", "ADDMEMBER", "REMOVEMEMBER",
    }  # fmt: skip
    assert expected <= set(two_hours.events)


def test_logged_waits_and_positions_agree_with_the_timestamps(two_hours: Log) -> None:
    entered: dict[tuple[str, str], int] = {}
    for line in two_hours.lines:
        key = (line.call, line.queue)
        if line.event == "ENTERQUEUE":
            assert line.data[0] == "" and line.data[1], "ENTERQUEUE is |url|callerid"
            entered[key] = line.ts
        elif line.event == "CONNECT":
            holdtime, bridged, ringtime = line.data
            assert int(holdtime) == line.ts - entered[key] and int(ringtime) <= int(holdtime)
            assert bridged != line.call
        elif line.event in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY"):
            position, origposition, wait = map(int, line.data)
            assert wait == line.ts - entered[key] and position >= 1 and origposition >= 1
        elif line.event == "EXITWITHKEY":
            key_pressed, *positions_and_wait = line.data
            assert key_pressed.isdigit() and int(positions_and_wait[-1]) == line.ts - entered[key]
        elif line.event == "RINGNOANSWER":
            assert int(line.data[0]) > 0  # ring time in milliseconds


def test_every_entry_has_one_outcome_and_every_answer_one_end_of_talk(two_hours: Log) -> None:
    # parse() asserts the order; here: anything left open is recent, as a live log's tail would be.
    for e in two_hours.entries:
        if e.outcome is None:
            assert e.entered > DAY_START + TWO_HOURS - 3600
        elif e.outcome == "CONNECT" and e.talk_end is None:
            assert e.outcome_ts is not None and e.outcome_ts > DAY_START + TWO_HOURS - 3600


def test_agents_answer_only_queues_they_are_logged_into_and_not_paused_in(two_hours: Log) -> None:
    members: set[tuple[str, str]] = set()
    paused: set[tuple[str, str]] = set()
    for line in two_hours.lines:
        key = (line.queue, line.agent)
        if line.event == "ADDMEMBER":
            members.add(key)
        elif line.event == "REMOVEMEMBER":
            members.discard(key)
        elif line.event == "PAUSE":
            assert line.call == "NONE" and line.data[0], "PAUSE carries a reason"
            paused.add(key)
        elif line.event == "UNPAUSE":
            paused.discard(key)
        elif line.event == "CONNECT":
            assert key in members and key not in paused, line
        elif line.event == "EXITEMPTY":
            present = {a for q, a in members if q == line.queue and (q, a) not in paused}
            assert not present, f"{line.queue} was not empty: {present}"


# --- journeys, callers and escalations (SPEC §4-§6) ---------------------------------------------------------


def test_transferred_calls_keep_their_callid_into_the_next_queue(two_hours: Log) -> None:
    extension = {"7001": "sales", "7002": "sales-vip", "7101": "support", "7102": "support-tier2"}
    extension |= {"7201": "billing", "7901": "supervisor"}
    checked = 0
    for line in two_hours.lines:
        if line.event in ("TRANSFER", "BLINDTRANSFER") and line.ts < DAY_START + TWO_HOURS - 60:
            journey = [e.queue for e in two_hours.journeys[line.call]]
            here = [i for i, e in enumerate(two_hours.journeys[line.call]) if e.talk_end == line.ts]
            assert journey[here[0] + 1] == extension[line.data[0]]
            checked += 1
    assert checked > 50


def test_some_call_visits_three_or_more_queues(two_hours: Log) -> None:
    assert max(len(j) for j in two_hours.journeys.values()) >= 3
    assert sum(len(j) >= 4 for j in two_hours.journeys.values()) >= 3  # bounced through 3+ transfers


def test_a_call_pingpongs_support_billing_support(two_hours: Log) -> None:
    sequences = [[e.queue for e in j] for j in two_hours.journeys.values()]
    assert any(s[i : i + 3] == ["support", "billing", "support"] for s in sequences for i in range(len(s)))
    assert sum(pingpongs(j) for j in two_hours.journeys.values()) >= 10


def test_a_misrouted_caller_calls_back_into_another_department(two_hours: Log) -> None:
    found = misroutes(two_hours)
    assert len(found) >= 5
    entry, callback = found[0]
    assert entry.talk_end is not None and entry.outcome_ts is not None
    assert entry.talk_end - entry.outcome_ts < 60
    assert two_hours.caller[callback] == two_hours.caller[entry.call]


def test_escalations_are_mostly_answered_by_non_supervisors_and_some_go_unanswered(two_hours: Log) -> None:
    escalations = [e for e in two_hours.entries if e.queue in DEMO_CONFIG["supervisor_queues"] and e.outcome]
    answered_by = Counter(e.agent in SUPERVISORS for e in escalations if e.outcome == "CONNECT")
    unanswered = [e for e in escalations if e.outcome != "CONNECT"]
    assert answered_by[False] > answered_by[True] > 0  # fake escalations are the usual case
    assert unanswered


def test_short_abandons_and_long_holds(two_hours: Log) -> None:
    abandons = [e.wait for e in two_hours.entries if e.outcome == "ABANDON" and e.wait is not None]
    assert any(w < 5 for w in abandons) and any(w >= 5 for w in abandons)
    waits = [e.wait for e in two_hours.entries if e.wait is not None]
    assert max(waits) >= 300  # someone held for many minutes


def test_repeat_and_anonymous_callers(two_hours: Log) -> None:
    callers = Counter(c for c in two_hours.caller.values() if c.isdigit())
    assert sum(n > 1 for n in callers.values()) >= 20
    assert "anonymous" in two_hours.caller.values()
    assert all(c == "anonymous" or c.lstrip("+").isdigit() for c in two_hours.caller.values())


def test_callids_are_unique_per_call() -> None:
    # A call id names one call: its entries never overlap and a new call never reuses an old id.
    log = parse(generate(SEED, DAY_START, 1800))
    for journey in log.journeys.values():
        for before, after in itertools.pairwise(journey):
            assert before.outcome_ts is not None and after.entered >= before.outcome_ts


def test_demo_config_describes_the_simulated_site(two_hours: Log) -> None:
    queues = {line.queue for line in two_hours.lines if line.queue != "NONE"}
    assert queues == set(DEPARTMENT) == set(DEMO_CONFIG["queue_moh_class"])
    assert set(DEMO_CONFIG["queue_moh_class"].values()) <= set(DEMO_CONFIG["moh_track_seconds"])
    supervisor_agents = {line.agent for line in two_hours.lines if line.queue == "supervisor"}
    assert SUPERVISORS <= supervisor_agents
    assert DEMO_CONFIG["service_level_seconds"] == 20


# --- the demo shows everything quickly, and stays readable --------------------------------------------------


@pytest.mark.parametrize("start", [DAY_START, NIGHT_START, DAY_START + 9 * 3600])
def test_the_first_five_minutes_show_every_kind_of_trouble(start: int) -> None:
    log = parse(generate(SEED, start, 300))
    assert {"ENTERQUEUE", "CONNECT", "ABANDON", "TRANSFER", "EXITWITHTIMEOUT", "PAUSE"} <= set(log.events)
    assert any(e.outcome == "ABANDON" and e.wait is not None and e.wait < 5 for e in log.entries)
    assert any(len(j) >= 3 for j in log.journeys.values())
    assert any(pingpongs(j) for j in log.journeys.values())
    assert misroutes(log)
    assert any(e.queue == "supervisor" and e.outcome == "CONNECT" and e.agent not in SUPERVISORS
               for e in log.entries)  # fmt: skip
    assert any(e.queue == "supervisor" and e.outcome not in (None, "CONNECT") for e in log.entries)
    assert "anonymous" in log.caller.values()
    ten_minutes = parse(generate(SEED, start, 600))
    assert {"EXITEMPTY", "EXITWITHKEY"} <= set(ten_minutes.events)
    # A caller has been holding for over 3 minutes: the wallboard's "longest wait" turns red.
    assert any((e.outcome_ts or start + 600) - e.entered > 180 for e in ten_minutes.entries)


def test_a_day_is_lively_but_readable_and_quick_to_simulate() -> None:
    began = time.perf_counter()
    log = parse(generate(SEED, DAY_START - 10 * 3600, 86400))
    elapsed = time.perf_counter() - began
    assert elapsed < 20
    arrivals_per_hour = Counter((j[0].entered // 3600) % 24 for j in log.journeys.values())
    rates = [n / 3600 for n in arrivals_per_hour.values()]
    assert len(rates) == 24
    assert 0.15 <= min(rates) and max(rates) <= 1.0
    assert max(rates) > 2 * min(rates)  # the time of day shows
