"""Issue 3's "done when", end to end: ``ccmon run --ami`` against a test manager speaking the real protocol,
and the callers who need a supervisor — looping, over-exposed to hold music, falsely escalated — show in
``/metrics``, in the JSON API and in ``Monitor.calls()`` while they are still on the line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ami_server import AmiServer, Session
from prometheus_client.parser import text_string_to_metric_families
from test_live import free_port, get, wait_for

import ccmon

CONFIG = """
supervisor_queues = ["supervisor"]
supervisors = ["Agent/9001"]
moh_alert_plays = 10
"""
# FreeSWITCH reports no music events: support's waiting callers hear its class, a 30-second track.
QUEUE_MOH = """
[queue_moh_class]
support = "default"
"""


def frame(event: str, ago: float, **headers: str) -> str:
    """An AMI event `ago` seconds before now: a live client runs on the wall clock."""
    lines = [
        f"Event: {event}",
        f"Timestamp: {time.time() - ago:.6f}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return "\r\n".join(lines) + "\r\n\r\n"


def floor_session() -> str:
    """L1 is bounced sales -> support -> sales (a loop and a ping-pong); L2 has heard the 30-second default
    track 13 times in support; L3 asked for a supervisor and got Agent/1001. All three are still on the
    line."""
    return "".join(
        [
            frame("QueueCallerJoin", 600, Queue="sales", Linkedid="L1", CallerIDNum="600111222"),
            frame("AgentConnect", 590, Queue="sales", Linkedid="L1", MemberName="Agent/1"),
            frame("BlindTransfer", 580, TransfereeLinkedid="L1", Extension="200"),
            frame("QueueCallerJoin", 579, Queue="support", Linkedid="L1", CallerIDNum="600111222"),
            frame("AgentConnect", 570, Queue="support", Linkedid="L1", MemberName="Agent/2"),
            frame("BlindTransfer", 560, TransfereeLinkedid="L1", Extension="100"),
            frame("QueueCallerJoin", 559, Queue="sales", Linkedid="L1", CallerIDNum="600111222"),
            frame("QueueCallerJoin", 400, Queue="support", Linkedid="L2", CallerIDNum="600333444"),
            frame("MusicOnHoldStart", 400, Linkedid="L2", Class="default"),
            frame("QueueCallerJoin", 100, Queue="supervisor", Linkedid="L3", CallerIDNum="600555666"),
            frame("AgentConnect", 90, Queue="supervisor", Linkedid="L3", MemberName="Agent/1001"),
        ]
    )


def flags_by_call(calls: list[dict[str, object]]) -> dict[str, set[str]]:
    return {str(c["call"]): set(str(c["flags"] or "").split(",")) - {""} for c in calls}


EXPECTED = {
    "L1": {"loop", "pingpong"},
    "L2": {"moh_over_limit"},
    "L3": {"escalation", "escalation_fake"},
}


def test_supervisors_see_the_callers_who_need_them_in_metrics_api_and_python(tmp_path: Path) -> None:
    config = tmp_path / "ccmon.toml"
    config.write_text(CONFIG)
    server = AmiServer("ccmon", "s3cret", [Session(floor_session().encode())])
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccmon", "run", "--ami", f"ami://ccmon@127.0.0.1:{server.port}",
         "--config", str(config), "--listen", f"127.0.0.1:{port}", "--duration", "60"],
        env={**os.environ, "CCMON_AMI_SECRET": "s3cret"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def calls() -> list[dict[str, object]]:
            try:
                status, body = get(f"{base}/api/v1/calls")
            except OSError:
                return []
            return list(json.loads(body)["calls"]) if status == 200 else []

        assert wait_for(
            lambda: {k: v & EXPECTED[k] for k, v in flags_by_call(calls()).items()} == EXPECTED, 20
        )
        by_call = {c["call"]: c for c in calls()}
        assert by_call["L1"]["journey"] == "sales>support>sales"
        assert by_call["L2"]["plays"] > 10
        families = {f.name: f for f in text_string_to_metric_families(get(f"{base}/metrics")[1])}
        flagged = {
            (s.labels["queue"], s.labels["flag"]): s.value
            for s in families["ccmon_queue_calls_flagged"].samples
            if s.value
        }
        assert flagged[("sales", "loop")] == 1 and flagged[("sales", "pingpong")] == 1
        assert flagged[("support", "moh_over_limit")] == 1
        assert flagged[("supervisor", "escalation_fake")] == 1
        assert sum(v for (_, flag), v in flagged.items() if flag == "any") == 3
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.close()


def test_the_same_session_in_python_lists_them_in_calls() -> None:
    m = ccmon.Monitor({"supervisor_queues": ["supervisor"], "supervisors": ["Agent/9001"]})
    m.feed(floor_session().encode(), "ami")
    m.advance_clock()
    got = flags_by_call(m.calls().to_dicts())
    assert {k: v & EXPECTED[k] for k, v in got.items()} == EXPECTED


def esl(action: str, ago: float, call: str, queue: str, **headers: str) -> bytes:
    """A mod_callcenter event `ago` seconds before now, in ESL plain framing."""
    from esl_server import event

    return event(
        {
            "Event-Name": "CUSTOM",
            "Event-Subclass": "callcenter::info",
            "Event-Date-Timestamp": str(round((time.time() - ago) * 1e6)),
            "CC-Action": action,
            "CC-Queue": queue,
            "CC-Member-Session-UUID": call,
            **{k.replace("_", "-"): v for k, v in headers.items()},
        }
    )


def floor_session_freeswitch() -> bytes:
    """As floor_session, as FreeSWITCH reports it: L1's transfers are bridge ends it comes back from; L2 waits
    in support, whose hold class plays a 30-second track (FreeSWITCH reports no music events)."""
    ended = {"CC_Cause": "Terminated", "Answer_State": "answered"}
    return b"".join(
        [
            esl("member-queue-start", 600, "L1", "sales", CC_Member_CID_Number="600111222"),
            esl("bridge-agent-start", 590, "L1", "sales", CC_Agent="1@default"),
            esl("bridge-agent-end", 580, "L1", "sales", CC_Agent="1@default"),
            esl("member-queue-end", 580, "L1", "sales", **ended),
            esl("member-queue-start", 579, "L1", "support", CC_Member_CID_Number="600111222"),
            esl("bridge-agent-start", 570, "L1", "support", CC_Agent="2@default"),
            esl("bridge-agent-end", 560, "L1", "support", CC_Agent="2@default"),
            esl("member-queue-start", 559, "L1", "sales", CC_Member_CID_Number="600111222"),
            esl("member-queue-start", 400, "L2", "support", CC_Member_CID_Number="600333444"),
            esl("member-queue-start", 100, "L3", "supervisor", CC_Member_CID_Number="600555666"),
            esl("bridge-agent-start", 90, "L3", "supervisor", CC_Agent="1001@default"),
        ]
    )


def test_the_same_from_a_freeswitch_event_socket(tmp_path: Path) -> None:
    from esl_server import EslServer
    from esl_server import Session as EslSession

    config = tmp_path / "ccmon.toml"
    config.write_text(CONFIG + QUEUE_MOH)
    server = EslServer("ClueCon", [EslSession(floor_session_freeswitch())])
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccmon", "run", "--freeswitch", f"esl://127.0.0.1:{server.port}",
         "--config", str(config), "--listen", f"127.0.0.1:{port}", "--duration", "60"],
        env={**os.environ, "CCMON_ESL_PASSWORD": "ClueCon"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def flags() -> dict[str, set[str]]:
            try:
                status, body = get(f"http://127.0.0.1:{port}/api/v1/calls")
            except OSError:
                return {}
            return flags_by_call(json.loads(body)["calls"]) if status == 200 else {}

        assert wait_for(lambda: {k: v & EXPECTED[k] for k, v in flags().items()} == EXPECTED, 20)
        families = {
            f.name: f for f in text_string_to_metric_families(get(f"http://127.0.0.1:{port}/metrics")[1])
        }
        any_flag = {
            s.labels["queue"]: s.value
            for s in families["ccmon_queue_calls_flagged"].samples
            if s.labels["flag"] == "any"
        }
        assert any_flag == {"sales": 1, "support": 1, "supervisor": 1}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.close()
