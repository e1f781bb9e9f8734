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
