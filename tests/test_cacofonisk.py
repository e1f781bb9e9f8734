"""Recorded AMI sessions saved as JSON lists of events (../shared/data/ami-cacofonisk, recorded from a test
Asterisk by the cacofonisk project): ``ccmon replay`` and ``Monitor.feed_file(format="ami")`` read them.
They carry no timestamps (event time is the newest channel-creation time in their unique ids) and no
QueueCallerJoin: a queue abandon still counts, as the entry it closes, with the recorded HoldTime."""

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
