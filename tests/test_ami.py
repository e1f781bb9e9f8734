"""Asterisk Manager Interface text (SPEC §7), read by the core: a recorded session replays into the figures of
the same calls; frames split anywhere across chunks give the same result; a bad frame is one counted
rejection and the frames around it still count."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import Event, render
from test_cli import replay_json
from test_spec_reference import ENGINE_BUGS, SUPPRESS, scenarios, windows_of

import ccmon

# Event times are seconds after T0, an hour ago: a live client runs on the wall clock (it must, to apply a
# QueueStatus answer), and events from 1970 would all be older than max_wait_seconds by then.
T0 = float(int(time.time()) - 3600)


def frame(event: str, ts: float, **headers: str) -> str:
    lines = [f"Event: {event}", f"Timestamp: {T0 + ts:.6f}", *(f"{k}: {v}" for k, v in headers.items())]
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


# queue_log event names and the AMI events Asterisk sends for them. AMI has one QueueCallerLeave for a
# timeout, an exit by key and an emptied queue: ccmon counts all three as timed_out.
AMI_EVENTS = {
    "ENTERQUEUE": "QueueCallerJoin",
    "CONNECT": "AgentConnect",
    "ABANDON": "QueueCallerAbandon",
    "EXITWITHTIMEOUT": "QueueCallerLeave",
    "EXITWITHKEY": "QueueCallerLeave",
    "EXITEMPTY": "QueueCallerLeave",
    "COMPLETECALLER": "AgentComplete",
    "COMPLETEAGENT": "AgentComplete",
    "TRANSFER": "BlindTransfer",
    "BLINDTRANSFER": "BlindTransfer",
    "ATTENDEDTRANSFER": "AttendedTransfer",
    "RINGNOANSWER": "AgentRingNoAnswer",
}


def as_ami(e: Event) -> str:
    """One queue_log event as the frame(s) Asterisk sends for it (an answer is a leave, then the connect)."""
    name = AMI_EVENTS.get(e.name)
    if name is None:  # a system line (QUEUESTART): like a Hangup, known, unused, moving event time on
        return f"Event: Hangup\r\nTimestamp: {e.ts!r}\r\nLinkedid: system\r\n\r\n"
    headers = [f"Event: {name}", f"Timestamp: {e.ts!r}", f"Linkedid: {e.callid}"]
    if name.endswith("Transfer"):
        headers = [f"Event: {name}", f"Timestamp: {e.ts!r}", f"TransfereeLinkedid: {e.callid}"]
    else:
        headers.append(f"Queue: {e.queue}")
    if e.agent != "NONE":
        headers.append(f"MemberName: {e.agent}")
    if name == "QueueCallerJoin" and len(e.data) > 1:
        headers.append(f"CallerIDNum: {e.data[1]}")
    text = "\r\n".join(headers) + "\r\n\r\n"
    if name == "AgentConnect":
        leave = [
            f"Event: QueueCallerLeave\r\nTimestamp: {e.ts!r}",
            f"Linkedid: {e.callid}",
            f"Queue: {e.queue}",
        ]
        text = "\r\n".join(leave) + "\r\n\r\n" + text
    return text


@settings(suppress_health_check=SUPPRESS)
@given(scenarios(avoid=ENGINE_BUGS))
def test_the_same_calls_as_ami_frames_give_the_same_figures(s: Any) -> None:
    # By design AMI reports music itself (no queue class) and cannot tell an exit by key or an emptied queue
    # from a timeout: the queue_log side says timeout for those too. Everything else must match.
    config = {k: v for k, v in s.config.items() if k != "queue_moh_class"}
    timeouts = [
        Event(e.ts, e.callid, e.queue, e.agent, "EXITWITHTIMEOUT", e.data)
        if e.name in ("EXITWITHKEY", "EXITEMPTY")
        else e
        for e in s.events
    ]
    from_log = ccmon.Monitor(config)
    from_log.feed(render(timeouts))
    from_log.end_of_input()
    from_ami = ccmon.Monitor(config)
    from_ami.feed("".join(as_ami(e) for e in s.events).encode(), "ami")
    from_ami.end_of_input("ami")
    for w in windows_of(config):
        assert from_ami.queues(w).equals(from_log.queues(w)), w
    assert from_ami.calls().equals(from_log.calls())
    assert from_ami.journeys().equals(from_log.journeys())


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
    report = replay_json(path)
    assert [(q["queue"], q["offered"]) for q in report["queues"]] == [("sales", 2), ("support", 1)]


# --- the live client against a test manager that speaks the protocol ------------------------------------


from ami_server import AmiServer, Session  # noqa: E402
from loopback import Stopper, offered, started, wait_for  # noqa: E402

from ccmon.sources.ami import AmiClient, parse_ami_url  # noqa: E402


def running(server: AmiServer, m: ccmon.Monitor, **kw: float) -> tuple[AmiClient, Stopper]:
    client = AmiClient(f"ami://ccmon@127.0.0.1:{server.port}", "s3cret", m, min_backoff=0.05, **kw)
    return client, started(client)


def test_the_client_logs_in_and_feeds_the_events() -> None:
    server = AmiServer("ccmon", "s3cret", [Session(SESSION.split("\r\n\r\n", 2)[2].encode())])
    m = ccmon.Monitor()
    client, stop = running(server, m)
    try:
        assert wait_for(lambda: offered(m) == 3)
        assert client.up
        assert m.queues().equals(fed(SESSION).queues())
    finally:
        stop.set()
        server.close()


def test_a_refused_login_is_retried_and_the_secret_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    server = AmiServer(
        "ccmon", "s3cret", [Session(refuse_login=True), Session(SESSION.split("\r\n\r\n", 2)[2].encode())]
    )
    m = ccmon.Monitor()
    with caplog.at_level("DEBUG"):
        client, stop = running(server, m)
        try:
            assert wait_for(lambda: offered(m) == 3)
            assert client.connects == 2
        finally:
            stop.set()
            server.close()
    assert any("refused: Authentication failed" in r.getMessage() for r in caplog.records)
    assert all("s3cret" not in r.getMessage() for r in caplog.records)


def test_after_a_disconnect_mid_frame_it_reconnects_and_nothing_is_stitched() -> None:
    events = SESSION.split("\r\n\r\n", 2)[2].encode()
    cut = events.index(b"Event: AgentConnect") + 30  # inside a frame
    server = AmiServer("ccmon", "s3cret", [Session(events, cut_after=cut), Session(events[cut:])])
    m = ccmon.Monitor()
    client, stop = running(server, m)
    try:
        assert wait_for(lambda: client.connects == 2 and offered(m) == 3)
        (src,) = m.sources()
        # The cut frame and the tail the second session starts with are each one counted rejection.
        assert src["rejected"] >= 1
    finally:
        stop.set()
        server.close()


def test_a_failure_of_the_client_itself_is_logged_and_it_reconnects(caplog: pytest.LogCaptureFixture) -> None:
    events = SESSION.split("\r\n\r\n", 2)[2].encode()
    first = events.index(b"\r\n\r\n") + 4
    # What the failed session brought still counts; the rest comes after the reconnect.
    server = AmiServer("ccmon", "s3cret", [Session(events[:first]), Session(events[first:])])

    class FailsOnce(AmiClient):
        """A client with a bug that strikes on the first data it hears."""

        failed = False

        def _heard(self, chunk: bytes) -> None:
            if not self.failed:
                self.failed = True
                raise RuntimeError("a bug")
            super()._heard(chunk)

    m = ccmon.Monitor()
    client = FailsOnce(f"ami://ccmon@127.0.0.1:{server.port}", "s3cret", m, min_backoff=0.05)
    with caplog.at_level("ERROR"):
        stop = started(client)
        try:
            assert wait_for(lambda: client.connects == 2 and offered(m) == 3)
            assert wait_for(lambda: client.up)
        finally:
            stop.set()
            server.close()
    assert any("failed; reconnecting" in r.getMessage() and r.exc_info for r in caplog.records)


def test_a_stalled_manager_is_dropped_after_two_silent_ping_periods() -> None:
    server = AmiServer(
        "ccmon", "s3cret", [Session(stall=True), Session(SESSION.split("\r\n\r\n", 2)[2].encode())]
    )
    m = ccmon.Monitor()
    client, stop = running(server, m, ping_seconds=0.2)
    try:
        assert wait_for(lambda: client.connects == 2 and offered(m) == 3)
    finally:
        stop.set()
        server.close()


def test_the_url_names_no_secret() -> None:
    assert parse_ami_url("ami://ccmon@pbx") == ("ccmon", "pbx", 5038)
    with pytest.raises(ValueError, match="no secret in the URL"):
        parse_ami_url("ami://ccmon:pw@pbx:5038")


def test_run_follows_a_manager_with_the_secret_from_the_environment(tmp_path: Path) -> None:
    import os
    import urllib.request

    from test_live import free_port, get

    server = AmiServer("ccmon", "s3cret", [Session(SESSION.split("\r\n\r\n", 2)[2].encode())])
    port = free_port()
    env = {**os.environ, "CCMON_AMI_SECRET": "s3cret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccmon", "run", "--ami", f"ami://ccmon@127.0.0.1:{server.port}",
         "--listen", f"127.0.0.1:{port}", "--duration", "60"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def seen() -> bool:
            try:
                return 'ccmon_queue_entries_total{queue="sales"} 2' in get(f"{base}/metrics")[1]
            except OSError:
                return False

        assert wait_for(seen, timeout=20)
        assert 'ccmon_source_up{source="ami"} 1.0' in get(f"{base}/metrics")[1]
        with urllib.request.urlopen(f"{base}/api/v1/agents", timeout=5) as r:
            assert {a["agent"] for a in json.loads(r.read())["agents"]} == {"Alice", "Bob"}
        assert server.logins == [("ccmon", "s3cret")]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.close()


def test_run_refuses_an_ami_url_without_a_secret() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "CCMON_AMI_SECRET"}
    out = subprocess.run(
        [sys.executable, "-m", "ccmon", "run", "--ami", "ami://ccmon@127.0.0.1:1", "--duration", "1"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode != 0
    assert "CCMON_AMI_SECRET" in out.stderr


def test_a_garbage_frame_and_a_1mb_header_are_counted_and_the_stream_goes_on() -> None:
    events = SESSION.split("\r\n\r\n", 2)[2].encode()
    at = events.index(b"Event: Newchannel")  # between two frames
    garbage = b"\x00\xff\xfe garbage \x01\r\nno colon here either\r\n\r\n"
    huge = b"Event: QueueCallerJoin\r\nX-Padding: " + b"x" * (1 << 20) + b"\r\nQueue: sales\r\n\r\n"
    server = AmiServer("ccmon", "s3cret", [Session(events[:at] + garbage + huge + events[at:])])
    m = ccmon.Monitor()
    client, stop = running(server, m)
    try:
        assert wait_for(lambda: offered(m) == 3)
        (src,) = m.sources()
        # The garbage frame is one bad_frame. The 1 MB header line is one line_too_long, and what is left of
        # its frame (no Timestamp) one bad_timestamp. The connection is never dropped for them.
        assert src["rejected_by_reason"] == {"bad_frame": 1, "line_too_long": 1, "bad_timestamp": 1}
        assert client.connects == 1 and client.up
        assert m.queues().equals(fed(SESSION).queues())
    finally:
        stop.set()
        server.close()


def test_an_over_long_line_counts_the_same_however_the_input_is_cut() -> None:
    at = SESSION.index("Event: Newchannel")
    text = SESSION[:at] + "Event: QueueCallerJoin\r\nX-Padding: " + "x" * 70_000 + "\r\n\r\n" + SESSION[at:]
    whole, cut = fed(text), fed(text, [at + 40, at + 40_000])
    assert whole.sources()[0]["rejected_by_reason"]["line_too_long"] == 1
    assert whole.sources() == cut.sources()
    assert whole.queues().equals(cut.queues())


def test_after_an_outage_the_waiting_calls_match_the_managers_queue_status() -> None:
    now = time.time() - T0
    heard = frame("QueueMemberAdded", now - 60, Queue="sales", MemberName="Alice", Paused="0") + frame(
        "QueueMemberAdded", now - 60, Queue="sales", MemberName="Bob", Paused="0"
    )
    for i in (1, 2, 3):
        heard += frame("QueueCallerJoin", now - 50 + i, Queue="sales", Linkedid=f"L{i}", Uniqueid=f"L{i}")
    # The first session ends after these (an outage); meanwhile L1 and L3 went, L4 came, Bob logged off and
    # Alice went to lunch. The second session's QueueStatus answer says so.
    after = Session(
        queues=["sales"],
        members=[("sales", "Alice", True, "lunch")],
        waiting=[("sales", "L2", "602", 50), ("sales", "L4", "604", 20)],
    )
    server = AmiServer("ccmon", "s3cret", [Session(heard.encode(), cut_after=len(heard)), after])
    m = ccmon.Monitor()
    client, stop = running(server, m)
    try:
        assert wait_for(lambda: client.connects == 2 and set(m.calls()["call"]) == {"L2", "L4"})
        sales = m.queues().row(0, named=True)
        assert (sales["waiting_now"], sales["lost"], sales["offered"]) == (2, 2, 4)
        waits = dict(m.calls().select("call", "wait_seconds").rows())
        assert 20 <= waits["L4"] < 30  # as long as the manager says, plus the moments since
        assert 47 <= waits["L2"] < 60  # its own entry, heard before the outage
        agents = m.agents().select("agent", "state", "reason").rows()
        assert agents == [("Alice", "paused", "lunch")]
        assert server.status_requests >= 1
        assert set(server.event_masks) == {"call,agent"}
    finally:
        stop.set()
        server.close()
