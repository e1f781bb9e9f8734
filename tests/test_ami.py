"""Asterisk Manager Interface text (SPEC §7), read by the core: a recorded session replays into the figures of
the same calls; frames split anywhere across chunks give the same result; a bad frame is one counted
rejection and the frames around it still count."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ccmon


def frame(event: str, ts: float, **headers: str) -> str:
    lines = [f"Event: {event}", f"Timestamp: {ts:.6f}", *(f"{k}: {v}" for k, v in headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


SESSION = (
    "Asterisk Call Manager/5.0.1\r\n\r\nResponse: Success\r\nMessage: Authentication accepted\r\n\r\n"
    + frame("QueueMemberAdded", 90, Queue="sales", MemberName="Alice", Interface="PJSIP/100", Paused="0")
    + frame("QueueCallerJoin", 100, Queue="sales", Linkedid="L1", Uniqueid="L1", CallerIDNum="600111222")
    + frame("MusicOnHoldStart", 100, Linkedid="L1", Uniqueid="L1", Class="default")
    + frame("AgentCalled", 105, Queue="sales", Linkedid="L1", MemberName="Alice")
    + frame("MusicOnHoldStop", 112, Linkedid="L1", Uniqueid="L1")
    + frame("AgentConnect", 112, Queue="sales", Linkedid="L1", MemberName="Alice", HoldTime="12")
    + frame("Newchannel", 113, Channel="PJSIP/200-0001", Linkedid="L2")
    + frame("QueueCallerJoin", 120, Queue="sales", Linkedid="L2", Uniqueid="L2", CallerIDNum="600333444")
    + frame("QueueCallerAbandon", 127, Queue="sales", Linkedid="L2", HoldTime="7")
    + frame("BlindTransfer", 150, TransfererLinkedid="L1", TransfereeLinkedid="L1", Extension="300")
    + frame("QueueCallerJoin", 151, Queue="support", Linkedid="L1", Uniqueid="L1-2", CallerIDNum="600111222")
    + frame("AgentConnect", 160, Queue="support", Linkedid="L1", MemberName="Bob")
    + frame("AgentComplete", 220, Queue="support", Linkedid="L1", MemberName="Bob", TalkTime="60")
    + frame("QueueMemberPause", 230, Queue="sales", MemberName="Alice", Paused="1", PausedReason="lunch")
)


def fed(text: str, chunks: list[int] | None = None) -> ccmon.Monitor:
    m = ccmon.Monitor()
    data = text.encode()
    cuts = sorted(chunks or [])
    for lo, hi in zip([0, *cuts], [*cuts, len(data)], strict=True):
        m.feed(data[lo:hi], format="ami")
    m.end_of_input(format="ami")
    return m


def test_a_recorded_session_gives_the_figures_of_its_calls() -> None:
    m = fed(SESSION)
    rows = {r["queue"]: r for r in m.queues().to_dicts()}
    sales, support = rows["sales"], rows["support"]
    assert (sales["offered"], sales["answered"], sales["abandoned"], sales["asa_seconds"]) == (2, 1, 1, 12.0)
    assert (sales["transfers_out"], sales["talk_seconds_mean"]) == (1, 38.0)  # 112 -> 150
    assert (support["offered"], support["answered"], support["talk_seconds_mean"]) == (1, 1, 60.0)
    assert sales["moh_seconds_total"] == 12.0  # MusicOnHoldStart/Stop, not a queue class
    (journey,) = {tuple(j["queue"] for j in m.journeys().filter(m.journeys()["call"] == "L1").to_dicts())}
    assert journey == ("sales", "support")  # one call across the transfer: Linkedid
    agents = {(a["queue"], a["agent"]): (a["state"], a["reason"]) for a in m.agents().to_dicts()}
    assert agents == {("sales", "Alice"): ("paused", "lunch"), ("support", "Bob"): ("available", None)}
    (src,) = m.sources()
    assert (src["unknown"], src["rejected"]) == (1, 0)  # Newchannel is not used


@given(st.lists(st.integers(0, len(SESSION)), max_size=12))
def test_frames_split_anywhere_give_the_same_figures(cuts: list[int]) -> None:
    assert fed(SESSION, cuts).queues().equals(fed(SESSION).queues())


def test_a_bad_frame_is_one_rejection_and_frames_around_it_count(caplog: pytest.LogCaptureFixture) -> None:
    bad = "Event: QueueCallerJoin\r\nthis line has no colon\r\nQueue: sales\r\n\r\n"
    no_time = "Event: QueueCallerJoin\r\nQueue: sales\r\nLinkedid: L9\r\n\r\n"
    at = SESSION.index("Event: Newchannel")  # between two frames
    with caplog.at_level("WARNING", logger="ccmon.monitor"):
        m = fed(SESSION[:at] + bad + no_time + SESSION[at:])
    (src,) = m.sources()
    assert src["rejected_by_reason"] == {"bad_frame": 1, "bad_timestamp": 1}
    assert m.queues().filter(m.queues()["queue"] == "sales")["offered"][0] == 2
    messages = [r.getMessage() for r in caplog.records]
    assert any("not a `Key: Value` line" in msg for msg in messages)
    assert any("timestampevents = yes" in msg for msg in messages)


def test_replay_recognises_an_ami_recording(tmp_path: Path) -> None:
    path = tmp_path / "session.ami"
    path.write_text(SESSION)
    out = subprocess.run(
        [sys.executable, "-m", "ccmon", "replay", str(path), "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(out.stdout)
    assert [(q["queue"], q["offered"]) for q in report["queues"]] == [("sales", 2), ("support", 1)]
