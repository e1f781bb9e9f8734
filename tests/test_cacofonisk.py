"""Recorded AMI sessions saved as JSON lists of events (../shared/data/ami-cacofonisk, recorded from a test
Asterisk by the cacofonisk project): ``ccmon replay`` and ``Monitor.feed_file(format="ami")`` read them.
They carry no timestamps (event time is the newest channel-creation time in their unique ids) and no
QueueCallerJoin: a queue abandon still counts, as the entry it closes, with the recorded HoldTime; and every
blind, attended and blonde transfer is listed by ``Monitor.transfers()`` with who went where."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import ccmon

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ami-cacofonisk"
RECORDINGS = sorted(DATA.glob("*/*.json"))
pytestmark = pytest.mark.skipif(not RECORDINGS, reason="shared sample data not present")


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_recording_replays_with_nothing_rejected(path: Path) -> None:
    m = ccmon.Monitor()
    m.feed_file(path, "auto")
    (src,) = m.sources()
    events = len(json.loads(path.read_text()))
    assert src["source"] == "ami"
    assert src["rejected"] == 0, src["rejected_by_reason"]
    # Each event is either used (ingested) or known to be of no use to ccmon (unknown): none lost.
    assert src["ingested"] + src["unknown"] == events
    # Event time comes from the channels' unique ids: the recording's own day, not 1970.
    assert src["last_event_ts"] is not None and src["last_event_ts"] > 1.5e9


def test_the_queue_abandon_counts_with_its_recorded_hold_time() -> None:
    m = ccmon.Monitor()
    m.feed_file(DATA / "queue" / "queue_a_cancel.json", "ami")
    (row,) = m.queues().to_dicts()
    assert row["queue"] == "670100-540100"
    assert (row["offered"], row["abandoned"], row["answered"]) == (1, 1, 0)
    assert row["wait_max_seconds"] == 11.0  # HoldTime: 11
    assert m.calls().height == 0


def test_replay_knows_a_json_list_for_an_ami_recording() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ccmon",
            "replay",
            str(DATA / "queue" / "queue_a_cancel.json"),
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    (queue,) = json.loads(out.stdout)["queues"]
    assert (queue["abandoned"], queue["wait_max_seconds"]) == (1, 11.0)


def test_an_element_that_is_not_an_event_is_one_rejection(tmp_path: Path) -> None:
    path = tmp_path / "session.json"
    abandon = {
        "Event": "QueueCallerAbandon",
        "Queue": "sales",
        "Uniqueid": "pbx-1585318545.1",
        "Linkedid": "pbx-1585318545.1",
        "HoldTime": "7",
        "CallerIDNum": "600",
    }
    path.write_text(json.dumps([["not", "an", "event"], abandon, 42]))
    m = ccmon.Monitor()
    m.feed_file(path, "ami")
    (src,) = m.sources()
    assert src["rejected_by_reason"] == {"bad_frame": 2}
    assert m.queues().select("queue", "abandoned").rows() == [("sales", 1)]


def test_a_file_that_is_not_a_json_list_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[{"Event": "Hangup"},')
    with pytest.raises(ValueError, match=r"broken\.json: not a JSON list of AMI events"):
        ccmon.Monitor().feed_file(path, "ami")


# Who was transferred where, one transfer each. The scenario names are cacofonisk's: "abacbc" is A calls B, A
# calls C, then B and C talk (B is transferred to C); "abbcac" is A calls B, B calls C, then A and C talk
# (A is transferred to C). A, B and C are the numbers dialled in each recording (201, 202 and 203 for the
# phones, +31260010001 for a caller from outside, 401 a group, +31260xxxxxx an anonymised caller).
TRANSFERRED = {
    "queue/queue_blind_xfer": ("+31260010001", "202"),  # a queue caller, blind-transferred by the agent
    "queue/queue_attn_xfer": ("+31260010001", "202"),  # the same, attended
    "xfer_attended/xfer_abacbc": ("202", "203"),  # B to C: the event names only bridges (older Asterisk)
    "xfer_attended/xfer_abbcac": ("201", "203"),  # A to C: likewise
    "xfer_attended/xfer_abbcac_anon": ("+31260xxxxxx", "203"),
    "xfer_attended/xfer_abcbac": ("203", "202"),  # A calls B, C calls B: B joins them (C to A's 202)
    "xfer_blind/xfer_blind_abacbc": ("202", "203"),
    "xfer_blind/xfer_blind_abbcac": ("201", "203"),
    "xfer_blind/xfer_blind_a_no_answer": ("202", "203"),  # the transfer happened; C did not answer
    "xfer_blind/xfer_blind_b_no_answer": ("201", "203"),
    "xfer_blind/xfer_blind_reject": ("201", "203"),
    "xfer_blind/xfer_blind_group": ("+31260010001", "401"),
    "xfer_blind/xfer_blind_group_no_answer": ("+31260010001", "401"),
    "xfer_blonde/xfer_blonde_abacbc": ("202", "203"),  # blonde: C was still ringing (who A was dialling)
    "xfer_blonde/xfer_blonde_abbcac": ("+31260010001", "202"),
    "xfer_blonde/xfer_blonde_reject": ("+31260010001", "202"),
    "xfer_blonde/xfer_blonde_group_a": ("+31260010001", "401"),
    "xfer_blonde/xfer_blonde_group_b": ("+31260010001", "401"),
}


@pytest.mark.parametrize("name", sorted(TRANSFERRED))
def test_every_transfer_scenario_says_who_was_transferred_where(name: str) -> None:
    m = ccmon.Monitor({"show_callers": True})
    m.feed_file(DATA / f"{name}.json", "ami")
    (t,) = m.transfers().to_dicts()
    assert (t["caller"], t["to"], t["nth"]) == (*TRANSFERRED[name], 1)
    # These calls never entered an app_queue queue (the platform routes by dialplan): no queue, no journey.
    assert t["queue"] is None and m.queues().height == 0


def test_scenarios_without_a_transfer_list_none() -> None:
    others = [p for p in RECORDINGS if f"{p.parent.name}/{p.stem}" not in TRANSFERRED]
    assert sorted(p.stem for p in others) == ["queue_a_cancel", "queue_group", "queue_simple"]
    for path in others:
        m = ccmon.Monitor()
        m.feed_file(path, "ami")
        assert m.transfers().height == 0, path.stem


def test_the_transferred_number_is_shown_only_when_configured() -> None:
    m = ccmon.Monitor()
    m.feed_file(DATA / "queue" / "queue_blind_xfer.json", "ami")
    assert "caller" not in m.transfers().columns
    assert m.transfers().select("to", "nth").row(0) == ("202", 1)
