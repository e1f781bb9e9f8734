"""`ccmon replay`: SPEC §8's JSON object, the table, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

FREEPBX = Path(__file__).resolve().parents[2] / "shared" / "data" / "queue_log-freepbx-2010" / "queue_log"


def ccmon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ccmon", *args], capture_output=True, text=True, timeout=60)


def replay_json(path: Path) -> dict[str, Any]:
    """The report of ``ccmon replay PATH --output json``, which must succeed."""
    out = ccmon("replay", str(path), "--output", "json")
    assert out.returncode == 0, out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    return report


@pytest.mark.skipif(not FREEPBX.exists(), reason="shared sample data not present")
def test_replay_json_gives_the_independent_tally_of_the_freepbx_log() -> None:
    out = ccmon("replay", str(FREEPBX), "--output", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    (q,) = report["queues"]
    assert q["queue"] == "9000"
    assert (q["offered"], q["answered"], q["abandoned"], q["waiting_now"]) == (21, 8, 12, 1)
    assert q["asa_seconds"] == pytest.approx(17.875)
    assert report["events"]["rejected"] == 0
    assert report["events"]["rejected_by_reason"] == {}
    assert report["events"]["ingested"] == 278  # 280 lines less 2 blank ones


def test_replay_json_has_every_spec_field_and_sorted_queues(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text(
        "100|c1|zeta|NONE|ENTERQUEUE||600\n"
        "101|c2|alpha|NONE|ENTERQUEUE||601\n"
        "105|c1|zeta|Agent/1|CONNECT|5|x|1\n"
        "bad line\n"
    )
    report = json.loads(ccmon("replay", str(log), "--output", "json").stdout)
    assert [q["queue"] for q in report["queues"]] == ["alpha", "zeta"]
    spec_fields = {
        "offered", "answered", "abandoned", "short_abandoned", "timed_out", "exited_key", "exited_empty",
        "lost",
        "answered_within_sl", "abandoned_within_sl", "service_level", "abandon_rate", "asa_seconds",
        "wait_p50_seconds", "wait_p90_seconds", "wait_p99_seconds", "wait_max_seconds", "waiting_now",
        "longest_wait_now_seconds", "talk_seconds_mean", "transfers_out", "loop_entries", "repeat_calls",
    }  # fmt: skip
    assert spec_fields <= set(report["queues"][0])
    assert report["queues"][0]["service_level"] is None  # nothing closed in alpha: null, not 0
    assert report["events"]["rejected_by_reason"] == {"too_few_fields": 1}


def test_replay_table_is_readable(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    log.write_text("100|c1|sales|NONE|ENTERQUEUE||600\n130|c1|sales|NONE|ABANDON|1|1|30\n")
    out = ccmon("replay", str(log), "--output", "table")
    assert out.returncode == 0
    assert "sales" in out.stdout and "abandoned=" not in out.stdout
    assert "ingested=2" in out.stdout


def test_replay_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    out = ccmon("replay", str(tmp_path / "nope"), "--output", "json")
    assert out.returncode == 2
    assert "nope" in out.stderr


def test_bad_config_key_names_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "ccmon.toml"
    cfg.write_text("service_levl_seconds = 20\n")
    log = tmp_path / "queue_log"
    log.write_text("")
    out = ccmon("replay", str(log), "--config", str(cfg))
    assert out.returncode == 2
    assert "service_levl_seconds" in out.stderr and "service_level_seconds" in out.stderr
