"""Agents per queue, live (README, "Definitions ccmon chose": agents): one test per rule, from queue_log
member and call events and from JSON lines."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import ccmon
from ccmon.server import Server

FREEPBX = "../shared/data/queue_log-freepbx-2010/queue_log"


def log(*lines: str) -> bytes:
    return "".join(line + "\n" for line in lines).encode()


def states(m: ccmon.Monitor) -> dict[tuple[str, str], tuple[str, str | None]]:
    return {(r["queue"], r["agent"]): (r["state"], r["reason"]) for r in m.agents().to_dicts()}


def counts(m: ccmon.Monitor, queue: str) -> dict[str, int]:
    pattern = rf'^ccmon_queue_agents\{{queue="{queue}",state="(\w+)"\}} (\d+)$'
    return {s: int(n) for s, n in re.findall(pattern, m.metrics_text(), re.M)}


def occupancy(m: ccmon.Monitor, queue: str) -> float | None:
    match = re.search(rf'^ccmon_queue_agent_occupancy\{{queue="{queue}"\}} (\S+)$', m.metrics_text(), re.M)
    return float(match.group(1)) if match else None


def test_an_agent_joins_with_addmember_and_leaves_with_removemember() -> None:
    m = ccmon.Monitor()
    m.feed(log("100|NONE|sales|SIP/1001|ADDMEMBER|", "100|NONE|support|SIP/1001|ADDMEMBER|"))
    assert states(m) == {
        ("sales", "SIP/1001"): ("available", None),
        ("support", "SIP/1001"): ("available", None),
    }
    m.feed(log("200|NONE|sales|SIP/1001|REMOVEMEMBER|"))
    assert list(states(m)) == [("support", "SIP/1001")]


def test_static_members_are_learned_from_the_events_that_name_them() -> None:
    # FreePBX rings static members over Local/ channels and never logs them in.
    m = ccmon.Monitor()
    m.feed_file(FREEPBX)
    assert counts(m, "9000") == {"logged_in": 9, "available": 8, "ringing": 0, "on_call": 1, "paused": 0}
    # One call was answered and its talk had not ended when the log stops.
    assert m.calls().filter(m.calls()["state"] == "talking").height == 1


def test_a_pause_has_its_reason_and_pauseall_applies_to_every_queue_of_the_agent() -> None:
    m = ccmon.Monitor()
    m.feed(log("100|NONE|sales|SIP/1|ADDMEMBER|", "100|NONE|support|SIP/1|ADDMEMBER|"))
    m.feed(log("110|NONE|sales|SIP/1|PAUSE|lunch"))
    assert states(m)[("sales", "SIP/1")] == ("paused", "lunch")
    assert states(m)[("support", "SIP/1")] == ("available", None)
    m.feed(log("120|NONE|NONE|SIP/1|PAUSEALL|meeting"))
    assert {s for s, _ in states(m).values()} == {"paused"}
    m.feed(log("130|NONE|NONE|SIP/1|UNPAUSEALL|"))
    assert {s for s, _ in states(m).values()} == {"available"}


def test_an_agent_is_on_a_call_from_the_answer_until_the_talk_ends() -> None:
    m = ccmon.Monitor()
    m.feed(log("100|NONE|sales|SIP/1|ADDMEMBER|", "101|c1|sales|NONE|ENTERQUEUE||600|1"))
    m.feed(log("105|c1|sales|SIP/1|CONNECT|4|x|1"))
    assert states(m)[("sales", "SIP/1")] == ("on_call", None)
    assert m.agents()["since"][0] == 105.0
    m.feed(log("160|c1|sales|SIP/1|COMPLETECALLER|4|55|1"))
    assert states(m)[("sales", "SIP/1")] == ("available", None)


def ev(ts: float, kind: str, **fields: Any) -> bytes:
    return json.dumps({"ts": ts, "type": kind, **fields}).encode() + b"\n"


def test_ringing_lasts_until_the_call_is_answered_by_anyone_or_ends() -> None:
    m = ccmon.Monitor()
    m.feed(
        ev(100, "agent_login", queue="sales", agent="A")
        + ev(100, "agent_login", queue="sales", agent="B")
        + ev(101, "enter", call="c1", queue="sales")
        + ev(102, "ring", call="c1", queue="sales", agent="A")
        + ev(102, "ring", call="c1", queue="sales", agent="B"),
        format="jsonl",
    )
    assert counts(m, "sales")["ringing"] == 2
    m.feed(ev(105, "answer", call="c1", queue="sales", agent="A"), format="jsonl")
    assert states(m) == {("sales", "A"): ("on_call", None), ("sales", "B"): ("available", None)}
    # A talk end that does not say who talked frees the agent on that call.
    m.feed(ev(160, "talk_end", call="c1", queue="sales"), format="jsonl")
    assert counts(m, "sales")["available"] == 2
    m.feed(
        ev(170, "enter", call="c2", queue="sales")
        + ev(171, "ring", call="c2", queue="sales", agent="B")
        + ev(175, "abandon", call="c2", queue="sales"),
        format="jsonl",
    )
    assert states(m)[("sales", "B")] == ("available", None)


def test_occupancy_is_agents_on_a_call_over_agents_working() -> None:
    m = ccmon.Monitor()
    assert occupancy(m, "sales") is None
    m.feed(
        ev(100, "agent_login", queue="sales", agent="A")
        + ev(100, "agent_login", queue="sales", agent="B")
        + ev(100, "agent_login", queue="sales", agent="C")
        + ev(101, "enter", call="c1", queue="sales")
        + ev(102, "answer", call="c1", queue="sales", agent="A")
        + ev(103, "agent_pause", agent="C", reason="training"),
        format="jsonl",
    )
    # A on a call, B available, C paused: 1 / (3 - 1).
    assert occupancy(m, "sales") == 0.5
    assert states(m)[("sales", "C")] == ("paused", "training")
    m.feed(ev(110, "agent_logoff", agent="B"), format="jsonl")  # no queue: all of B's queues
    assert occupancy(m, "sales") == 1.0


def test_agents_are_served_by_the_api() -> None:
    m = ccmon.Monitor()
    m.feed(log("100|NONE|sales|SIP/1|ADDMEMBER|"))
    server = Server(m, "127.0.0.1:0")
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v1/agents", timeout=5) as r:
            body = json.loads(r.read())
        rows = [(a["queue"], a["agent"], a["state"]) for a in body["agents"]]
        assert rows == [("sales", "SIP/1", "available")]
    finally:
        server.stop()


# --- the rules against a small model, on random event sequences ---------------------------------------------


AGENTS = ["A", "B", "C"]
KINDS = "agent_login agent_logoff agent_pause agent_unpause enter ring answer talk_end abandon".split()
QUEUES = ["q1", "q2"]


class Model:
    """The README's agent rules, written out plainly."""

    def __init__(self) -> None:
        # (queue, agent) -> [activity, paused, reason, call]
        self.agents: dict[tuple[str, str], list[Any]] = {}
        self.calls: dict[str, str] = {}  # call -> queue, for calls waiting or talking
        self.waiting: dict[str, bool] = {}  # call -> still waiting (not yet answered)
        self.queues_known: set[str] = set()  # queues the engine knows: from an entry or a login

    def apply(self, kind: str, queue: str | None, agent: str | None, call: str | None, reason: str) -> None:
        mine = [k for k in self.agents if k[1] == agent]
        if kind == "agent_login":
            self.queues_known.add(queue)  # type: ignore[arg-type]
            self.agents.setdefault((queue, agent), ["idle", False, None, None])  # type: ignore[arg-type]
        elif kind == "agent_logoff":
            for k in [(queue, agent)] if queue else mine:
                self.agents.pop(k, None)  # type: ignore[arg-type]
        elif kind in ("agent_pause", "agent_unpause"):
            targets = [(queue, agent)] if queue else mine
            for k in targets:
                if queue and queue not in self.queues_known:
                    continue
                a = self.agents.setdefault(k, ["idle", False, None, None])  # type: ignore[arg-type]
                a[1] = kind == "agent_pause"
                a[2] = reason if a[1] else None
        elif kind == "enter":
            self.queues_known.add(queue)  # type: ignore[arg-type]
            self.calls[call] = queue  # type: ignore[index,assignment]
            self.waiting[call] = True  # type: ignore[index]
        elif kind == "ring" and queue in self.queues_known:
            a = self.agents.setdefault((queue, agent), ["idle", False, None, None])  # type: ignore[arg-type]
            if a[0] == "idle":
                a[0], a[3] = "ringing", call
        elif kind == "answer" and self.calls.get(call) == queue and self.waiting.get(call, True):  # type: ignore[arg-type]
            for a in self.agents.values():
                if a[0] == "ringing" and a[3] == call and self.key_queue(a) == queue:
                    a[0], a[3] = "idle", None
            a = self.agents.setdefault((queue, agent), ["idle", False, None, None])  # type: ignore[arg-type]
            a[0], a[3] = "on_call", call
            self.waiting[call] = False  # type: ignore[index]
        elif kind == "talk_end" and self.calls.get(call) == queue and not self.waiting.get(call, True):  # type: ignore[arg-type]
            for k, a in self.agents.items():
                if k[0] == queue and a[3] == call:
                    a[0], a[3] = "idle", None
            del self.calls[call]  # type: ignore[arg-type]
        elif kind == "abandon" and self.calls.get(call) == queue and self.waiting.get(call, True):  # type: ignore[arg-type]
            for k, a in self.agents.items():
                if k[0] == queue and a[0] == "ringing" and a[3] == call:
                    a[0], a[3] = "idle", None
            del self.calls[call]  # type: ignore[arg-type]

    def key_queue(self, a: list[Any]) -> str:
        return next(k[0] for k, v in self.agents.items() if v is a)

    def states(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        shown = {}
        for k, (activity, paused, reason, _) in self.agents.items():
            state = {"on_call": "on_call", "ringing": "ringing"}.get(
                activity, "paused" if paused else "available"
            )
            shown[k] = (state, reason if paused else None)
        return shown


@st.composite
def agent_events(draw: st.DrawFn) -> list[tuple[str, str | None, str | None, str | None, str]]:
    events = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(KINDS))
        queue = draw(st.sampled_from(QUEUES))
        if kind in ("agent_logoff", "agent_pause", "agent_unpause") and draw(st.booleans()):
            queue = None
        agent = draw(st.sampled_from(AGENTS)) if kind.startswith(("agent", "ring", "answer")) else None
        call = draw(st.sampled_from(["c1", "c2", "c3"])) if not kind.startswith("agent") else None
        events.append((kind, queue, agent, call, draw(st.sampled_from(["lunch", "training"]))))
    return events


@settings(max_examples=300)
@given(agent_events())
def test_agent_states_follow_the_rules_on_random_sequences(events: list[Any]) -> None:
    model = Model()
    lines = b""
    for i, (kind, queue, agent, call, reason) in enumerate(events):
        if kind == "enter" and call in model.calls:
            continue  # a second enter while in a queue is another rule (SPEC §2), not an agent one
        fields: dict[str, Any] = {"call": call, "queue": queue, "agent": agent}
        if kind == "agent_pause":
            fields["reason"] = reason
        lines += ev(100 + i, kind, **{k: v for k, v in fields.items() if v is not None})
        model.apply(kind, queue, agent, call, reason)
    m = ccmon.Monitor()
    m.feed(lines, format="jsonl")
    assert states(m) == model.states()
