"""Agents per queue, live (README, "Definitions ccmon chose": agents): one test per rule, from queue_log
member and call events and from JSON lines."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

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
