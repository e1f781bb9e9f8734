"""`ccmon run`: following a file like tail -F, serving /metrics, /healthz and the JSON API, live."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from loopback import offered, started

from ccmon import Monitor
from ccmon.sources.file import FileFollower


def test_follower_reads_appends_and_split_lines(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("100|c1|q|NONE|ENTERQUEUE||1\n101|c2|q|NONE|ENTER")
    m = Monitor()
    f = FileFollower(path, m)
    f.poll_once()
    assert offered(m) == 1  # the half-written line waits for its newline
    with open(path, "a") as fh:
        fh.write("QUEUE||2\n")
    f.poll_once()
    assert offered(m) == 2


def test_a_failure_of_the_follower_itself_is_logged_and_it_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "queue_log"
    path.write_text("100|c1|q|NONE|ENTERQUEUE||1\n")

    class FailsOnce(FileFollower):
        """A follower with a bug that strikes on its first read."""

        failed = False

        def _drain(self) -> None:
            if not self.failed:
                self.failed = True
                raise RuntimeError("a bug")
            super()._drain()

    m = Monitor()
    f = FailsOnce(path, m, poll_seconds=0.02)
    with caplog.at_level("ERROR"):
        stop = started(f)
        try:
            assert wait_for(lambda: offered(m) == 1 and f.up)
            with open(path, "a") as fh:
                fh.write("101|c2|q|NONE|ENTERQUEUE||2\n")
            assert wait_for(lambda: offered(m) == 2)
        finally:
            stop.set()
    assert any("failed; trying again" in r.getMessage() and r.exc_info for r in caplog.records)


def test_follower_survives_rotation_without_counting_twice(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("100|c1|q|NONE|ENTERQUEUE||1\n")
    m = Monitor()
    f = FileFollower(path, m)
    f.poll_once()
    with open(path, "a") as fh:  # written just before rotation: must still be read from the old file
        fh.write("101|c2|q|NONE|ENTERQUEUE||2\n")
    os.rename(path, tmp_path / "queue_log.1")
    path.write_text("102|c3|q|NONE|ENTERQUEUE||3\n")
    f.poll_once()
    f.poll_once()
    assert offered(m) == 3


def test_follower_rereads_after_truncation(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    path.write_text("100|c1|q|NONE|ENTERQUEUE||1\n101|c2|q|NONE|ENTERQUEUE||2\n")
    m = Monitor()
    f = FileFollower(path, m)
    f.poll_once()
    path.write_text("200|c3|q|NONE|ENTERQUEUE||3\n")  # shorter than what was read: truncated
    f.poll_once()
    assert offered(m) == 3


def test_follower_reports_down_while_file_missing(tmp_path: Path) -> None:
    m = Monitor()
    f = FileFollower(tmp_path / "absent", m)
    f.poll_once()
    assert not f.up
    (tmp_path / "absent").write_text("100|c1|q|NONE|ENTERQUEUE||1\n")
    f.poll_once()
    assert f.up and offered(m) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(predicate, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def test_run_follows_a_file_and_serves_metrics_health_and_api(tmp_path: Path) -> None:
    path = tmp_path / "queue_log"
    now = int(time.time())
    path.write_text(f"{now - 30}|c1|sales|NONE|ENTERQUEUE||600\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccmon", "run", "--queue-log", str(path), "--listen", f"127.0.0.1:{port}",
         "--duration", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert wait_for(lambda: get(f"{base}/healthz")[0] == 200)
        status, body = get(f"{base}/metrics")
        assert status == 200
        assert 'ccmon_queue_entries_total{queue="sales"} 1' in body
        assert 'ccmon_queue_calls_waiting{queue="sales"} 1' in body
        assert 'ccmon_source_up{source="queue_log"} 1.0' in body
        with open(path, "a") as fh:
            fh.write(f"{now}|c1|sales|Agent/7|CONNECT|30|x|1\n")
        assert wait_for(
            lambda: (
                'ccmon_queue_outcomes_total{queue="sales",outcome="answered"} 1' in get(f"{base}/metrics")[1]
            )
        )
        status, body = get(f"{base}/api/v1/queues?window=5m")
        rows = json.loads(body)["queues"]
        assert rows[0]["queue"] == "sales" and rows[0]["answered"] == 1 and rows[0]["waiting_now"] == 0
        assert get(f"{base}/api/v1/queues?window=fortnight")[0] == 400
        assert json.loads(get(f"{base}/api/v1/sources")[1])["sources"][0]["ingested"] == 2
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_demo_feeds_the_simulator_live_and_serves_metrics(tmp_path: Path) -> None:
    # The user's file wins over the demo site's defaults; the rest of the demo site stays.
    cfg = tmp_path / "ccmon.toml"
    cfg.write_text("service_level_seconds = 30\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccmon", "demo", "--listen", f"127.0.0.1:{port}", "--duration", "30",
         "--history", "600", "--config", str(cfg)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_for(lambda: get(f"{base}/healthz")[0] == 200)
        body = get(f"{base}/metrics")[1]
        assert 'ccmon_queue_entries_total{queue="support"}' in body
        assert 'ccmon_queue_wait_seconds_bucket{queue="support",outcome="answered",le="30"}' in body
        assert 'ccmon_source_up{source="demo"} 1.0' in body
        rows = json.loads(get(f"{base}/api/v1/queues?window=today")[1])["queues"]
        assert {"sales", "support", "billing", "supervisor"} <= {r["queue"] for r in rows}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    # Not a terminal: a one-line summary instead of the wallboard.
    assert "ccmon demo: serving" in out


def test_run_reads_rotated_logs_first_so_calls_from_before_the_rotation_are_known(tmp_path: Path) -> None:
    now = int(time.time())
    old = tmp_path / "queue_log.1"
    old.write_text(f"{now - 60}|c1|sales|NONE|ENTERQUEUE||600\n")
    live = tmp_path / "queue_log"
    live.write_text(f"{now - 20}|c1|sales|Agent/7|CONNECT|40|x|1\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccmon", "run", "--queue-log", str(live), "--rotated", str(old),
         "--listen", f"127.0.0.1:{port}", "--duration", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert wait_for(lambda: get(f"{base}/healthz")[0] == 200)
        rows = json.loads(get(f"{base}/api/v1/queues")[1])["queues"]
        # Without the rotated file the CONNECT would be an event for an unknown call, ignored.
        assert (rows[0]["offered"], rows[0]["answered"], rows[0]["asa_seconds"]) == (1, 1, 40.0)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_run_follows_a_json_lines_file_and_takes_posted_batches(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    now = int(time.time())
    path.write_text(json.dumps({"ts": now - 30, "call": "c1", "type": "enter", "queue": "sales"}) + "\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccmon", "run", "--jsonl", str(path), "--listen", f"127.0.0.1:{port}",
         "--duration", "60"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert wait_for(lambda: 'ccmon_queue_calls_waiting{queue="sales"} 1' in get(f"{base}/metrics")[1])
        with open(path, "a") as fh:
            fh.write(json.dumps({"ts": now, "call": "c1", "type": "answer", "queue": "sales"}) + "\n")
        batch = json.dumps({"ts": now, "call": "c2", "type": "enter", "queue": "support", "id": "x1"}) + "\n"
        req = urllib.request.Request(f"{base}/api/v1/events?source=crm", data=batch.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=5) as r:
            assert json.loads(r.read())["ingested"] == 1
        assert wait_for(
            lambda: (
                'ccmon_queue_outcomes_total{queue="sales",outcome="answered"} 1' in get(f"{base}/metrics")[1]
            )
        )
        sources = {s["source"]: s for s in json.loads(get(f"{base}/api/v1/sources")[1])["sources"]}
        assert (sources["jsonl"]["ingested"], sources["crm"]["ingested"]) == (2, 1)
        body = get(f"{base}/metrics")[1]
        assert 'ccmon_source_up{source="jsonl"} 1.0' in body
        assert 'ccmon_queue_calls_waiting{queue="support"} 1' in body
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
