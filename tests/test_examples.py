"""The README's examples: the recordings in examples/ replay to the figures the README promises, and the test
switches in tests/ (ami_server.py, esl_server.py), run as commands, let ``ccmon run`` follow a live source
without a PBX, exactly as the README's "try it" commands do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import replay_json
from test_live import free_port, get, wait_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def replay(name: str) -> dict[str, tuple[int, int, int]]:
    report = replay_json(EXAMPLES / name)
    assert report["events"]["rejected"] == 0
    return {q["queue"]: (q["offered"], q["answered"], q["abandoned"]) for q in report["queues"]}


def test_the_example_recordings_replay_to_their_figures() -> None:
    assert replay("session.ami") == {"sales": (2, 1, 1), "support": (1, 1, 0)}
    assert replay("callcenter.esl") == {"sales@default": (2, 1, 1), "support@default": (3, 0, 0)}
    assert replay("events.jsonl") == {"sales": (1, 0, 1), "support": (1, 1, 0)}


@pytest.mark.parametrize(
    ("server", "recording", "option", "url", "env"),
    [
        (
            "ami_server.py",
            "session.ami",
            "--ami",
            "ami://ccmon@127.0.0.1:{port}",
            {"CCMON_AMI_SECRET": "s3cret"},
        ),
        (
            "esl_server.py",
            "callcenter.esl",
            "--freeswitch",
            "esl://127.0.0.1:{port}",
            {"CCMON_ESL_PASSWORD": "ClueCon"},
        ),
    ],
)
def test_run_follows_a_test_switch_started_as_the_readme_says(
    server: str, recording: str, option: str, url: str, env: dict[str, str]
) -> None:
    switch_port, port = free_port(), free_port()
    switch = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / server), str(EXAMPLES / recording), "--port", str(switch_port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    ccmon_run = None
    try:
        assert switch.stdout is not None and "127.0.0.1" in switch.stdout.readline()  # listening
        ccmon_run = subprocess.Popen(
            [sys.executable, "-m", "ccmon", "run", option, url.format(port=switch_port),
             "--listen", f"127.0.0.1:{port}", "--duration", "60"],
            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

        def answered_in_sales() -> bool:
            try:
                status, body = get(f"http://127.0.0.1:{port}/api/v1/queues")
            except OSError:
                return False
            rows = json.loads(body)["queues"] if status == 200 else []
            return any(q["queue"].startswith("sales") and q["answered"] == 1 for q in rows)

        assert wait_for(answered_in_sales, timeout=20)
    finally:
        for proc in (ccmon_run, switch):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)
        if switch.stdout is not None:
            switch.stdout.close()


def test_the_example_alerting_configs_are_valid(tmp_path: Path) -> None:
    import shutil

    import ccmon

    config = ccmon.Monitor(EXAMPLES / "ccmon-alerts.toml").config.alert_config
    assert config.alertmanager_url == "http://127.0.0.1:9093"
    amtool = shutil.which("amtool")
    if amtool is not None:
        out = subprocess.run(
            [amtool, "check-config", str(EXAMPLES / "alertmanager.yml")], capture_output=True
        )
        assert out.returncode == 0, out.stdout + out.stderr
    promtool = shutil.which("promtool")
    if promtool is not None:
        # promtool resolves rule_files beside the config: check it with the exported rules next to it.
        shutil.copy(EXAMPLES / "prometheus.yml", tmp_path / "prometheus.yml")
        subprocess.run(
            [sys.executable, "-m", "ccmon", "rules", "export", "--output", str(tmp_path / "ccmon-rules.yml")],
            check=True,
        )
        out = subprocess.run(
            [promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True
        )
        assert out.returncode == 0, out.stdout + out.stderr
