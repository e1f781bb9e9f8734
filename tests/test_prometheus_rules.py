"""``ccmon rules export``: the rules pass ``promtool check rules``, and ``promtool test rules`` unit tests
fire and resolve every exported alert on series shaped like ccmon's exposition (Debian's promtool)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccmon.alerting.prometheus_rules import measures, rules_document
from ccmon.alerting.rules import ALERT_NAMES, AlertConfig

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (make system-deps)")

S = 'queue="sales"'


def series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{labels}}}", "values": values}


# alert: (input series, when it fires, when it is resolved, its labels, its summary). One minute per sample.
CASES: dict[str, tuple[list[dict[str, str]], str, str, dict[str, str], str]] = {
    "longest_wait": (
        [series("ccmon_queue_longest_wait_seconds", S, "0 200 200 0 0")],
        "1m",
        "3m",
        {"severity": "critical", "queue": "sales"},
        "A caller has been waiting 3m 20s in sales.",
    ),
    "service_level": (
        [
            series("ccmon_queue_entries_total", S, "0+2x40"),
            series("ccmon_queue_outcomes_total", S + ',outcome="answered"', "0+2x40"),
            # Half within the service level for 20 minutes, then all.
            series("ccmon_queue_answered_within_sl_total", S, "0+1x20 22+2x20"),
            series("ccmon_queue_short_abandoned_total", S, "0x40"),
        ],
        "20m",
        "40m",
        {"severity": "warning", "queue": "sales"},
        "Service level in sales is 50% (target 80%).",
    ),
    "abandon_rate": (
        [
            series("ccmon_queue_entries_total", S, "0+3x40"),
            series("ccmon_queue_outcomes_total", S + ',outcome="answered"', "0+2x40"),
            series("ccmon_queue_outcomes_total", S + ',outcome="abandoned"', "0+1x20 20x20"),
            series("ccmon_queue_short_abandoned_total", S, "0x40"),
        ],
        "20m",
        "40m",
        {"severity": "warning", "queue": "sales"},
        "33.33% of callers in sales hung up waiting.",
    ),
    "no_agent_available": (
        [
            series("ccmon_queue_calls_waiting", S, "2 2 2 0"),
            series("ccmon_queue_agents", S + ',state="available"', "0 0 0 0"),
            series("ccmon_queue_agents", S + ',state="logged_in"', "2 2 2 2"),
        ],
        "1m",
        "3m",
        {"severity": "critical", "queue": "sales"},
        "Callers waiting in sales and no agent available.",
    ),
    "all_agents_paused": (
        [
            series("ccmon_queue_agents", S + ',state="paused"', "2 2 2 2 0"),
            series("ccmon_queue_agents", S + ',state="logged_in"', "2 2 2 2 2"),
        ],
        "2m",
        "4m",
        {"severity": "warning", "queue": "sales"},
        "All agents of sales are paused.",
    ),
    "caller": (
        [series("ccmon_queue_calls_flagged", S + ',flag="any"', "0 1 1 0")],
        "1m",
        "3m",
        {"severity": "warning", "queue": "sales"},
        "1 callers in sales need a supervisor (loop, hold music or escalation).",
    ),
    "repeat_rate": (
        [
            series("ccmon_queue_entries_total", S, "0+2x180"),
            series("ccmon_queue_repeat_calls_total", S, "0+1x100 100x80"),
        ],
        "70m",
        "170m",
        {"severity": "warning", "queue": "sales"},
        "50% of calls to sales are callers calling again.",
    ),
    "misroute_rate": (
        [
            series("ccmon_queue_entries_total", S, "0+2x180"),
            series("ccmon_queue_misroutes_total", S, "0+1x100 100x80"),
        ],
        "70m",
        "170m",
        {"severity": "warning", "queue": "sales"},
        "50% of calls to sales were misrouted.",
    ),
    "source_down": (
        [series("ccmon_source_up", 'source="ami"', "1 0 0 0 1")],
        "2m",
        "4m",
        {"severity": "critical", "source": "ami"},
        "ccmon cannot read ami.",
    ),
    "source_silent": (
        [
            series("ccmon_source_up", 'source="ami"', "1x25"),
            # An event a second over the last hour: 10 x 1 s, raised to the 60 s floor.
            series("ccmon_events_ingested_total", 'source="ami"', "0+60x25"),
            series("ccmon_source_last_event_timestamp_seconds", 'source="ami"', "0x20 1260x5"),
        ],
        "20m",
        "22m",
        {"severity": "critical", "source": "ami"},
        "ccmon has heard nothing from ami for 20m 0s.",
    ),
    "internal_error": (
        # One failure at 2m; the alert lasts while the last hour holds it.
        [series("ccmon_events_rejected_total", 'source="ami",reason="internal_error"', "0 0 1x70")],
        "3m",
        "70m",
        {"severity": "warning", "source": "ami"},
        "ccmon failed on input from ami and dropped it (failures lately: 1): a bug, see its log.",
    ),
}


def test_every_rule_kind_has_a_case() -> None:
    assert set(CASES) == set(ALERT_NAMES)


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True)


def write_rules(tmp_path: Path, config: AlertConfig) -> Path:
    path = tmp_path / "ccmon-rules.yml"
    path.write_text(yaml.safe_dump(rules_document(config), sort_keys=False))
    return path


def test_the_exported_rules_pass_promtool_check(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ccmon", "rules", "export", "--output", str(tmp_path / "rules.yml")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout == ""
    check = promtool("check", "rules", str(tmp_path / "rules.yml"))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 23 rules found" in check.stdout


@pytest.mark.parametrize("kind", sorted(CASES))
def test_promtool_fires_and_resolves_each_exported_alert(tmp_path: Path, kind: str) -> None:
    rules = write_rules(tmp_path, AlertConfig())
    inputs, fires, resolved, labels, summary = CASES[kind]
    alertname = ALERT_NAMES[kind]
    test: dict[str, Any] = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": inputs,
                "alert_rule_test": [
                    {
                        "eval_time": fires,
                        "alertname": alertname,
                        "exp_alerts": [{"exp_labels": labels, "exp_annotations": {"summary": summary}}],
                    },
                    {"eval_time": resolved, "alertname": alertname, "exp_alerts": []},
                ],
            }
        ],
    }
    test_file = tmp_path / "test.yml"
    test_file.write_text(yaml.safe_dump(test, sort_keys=False))
    out = promtool("test", "rules", str(test_file))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_rules_follow_the_config(tmp_path: Path) -> None:
    config = AlertConfig.from_dict(
        {
            "language": "es",
            "longest_wait": {"above": 30, "for": "1m"},
            "all_agents_paused": {"enabled": False},
        }
    )
    doc = rules_document(config)
    alerts = {r["alert"]: r for r in doc["groups"][1]["rules"]}
    assert "CcmonAllAgentsPaused" not in alerts
    wait = alerts["CcmonLongestWaitHigh"]
    assert wait["expr"].endswith("> 30.0") and wait["for"] == "1m"
    assert wait["annotations"]["summary"].startswith("Un cliente lleva")
    assert promtool("check", "rules", str(write_rules(tmp_path, config))).returncode == 0


# --- a real Prometheus scraping a live `ccmon demo` ---------------------------------------------------------

PROMETHEUS = shutil.which("prometheus")


@pytest.mark.skipif(PROMETHEUS is None, reason="Prometheus not installed (make system-deps)")
def test_prometheus_scrapes_the_demo_and_every_rule_and_panel_query_runs(tmp_path: Path) -> None:
    import json
    import urllib.parse
    import urllib.request

    from test_live import free_port, wait_for

    demo_port, prom_port = free_port(), free_port()
    rules = write_rules(tmp_path, AlertConfig())
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "scrape_configs": [
                    {"job_name": "ccmon", "static_configs": [{"targets": [f"127.0.0.1:{demo_port}"]}]}
                ],
            }
        )
    )
    demo = subprocess.Popen(
        [sys.executable, "-m", "ccmon", "demo", "--listen", f"127.0.0.1:{demo_port}", "--duration", "90"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert PROMETHEUS is not None
    prom = subprocess.Popen(
        [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    api = f"http://127.0.0.1:{prom_port}/api/v1"

    def query(expr: str) -> dict[str, Any]:
        url = f"{api}/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as r:
            return dict(json.loads(r.read()))

    def has_data(expr: str) -> bool:
        try:
            return bool(query(expr)["data"]["result"])
        except OSError:
            return False

    try:
        assert wait_for(lambda: has_data('up{job="ccmon"} == 1'), 30), "Prometheus never scraped the demo"
        doc = rules_document(AlertConfig())
        recording = [r["record"] for r in doc["groups"][0]["rules"]]
        # Every recording rule returns data once two scrapes are in (increase needs two samples).
        assert wait_for(lambda: all(has_data(name) for name in recording), 30), [
            name for name in recording if not has_data(name)
        ]
        # Every alerting rule's expression runs (its result is empty unless the floor is in trouble), and what
        # it measures returns data.
        for rule in doc["groups"][1]["rules"]:
            assert query(rule["expr"])["status"] == "success", rule["alert"]
        measured = measures(AlertConfig())
        assert wait_for(lambda: all(has_data(expr) for expr in measured.values()), 30), [
            name for name, expr in measured.items() if not has_data(expr)
        ]

        # Every query of every dashboard panel returns data, with the variables at "All".
        from ccmon import dashboards

        def panel_queries() -> list[tuple[str, str]]:
            out = []
            for name in dashboards.BOARDS:
                board = json.loads(dashboards.render(name))
                for panel in board["panels"]:
                    for t in panel["targets"]:
                        expr = t["expr"].replace("$site", ".*").replace("$queue", ".*")
                        expr = expr.replace("$__range", "1h").replace("$__rate_interval", "1m")
                        out.append((f"{name}: {panel['title']} ({t['refId']})", expr))
            return out

        queries = panel_queries()
        assert len(queries) >= 20
        assert wait_for(lambda: all(has_data(expr) for _, expr in queries), 30), [
            title for title, expr in queries if not has_data(expr)
        ]

        # And Prometheus evaluates them all without error.
        def health() -> dict[str, str]:
            with urllib.request.urlopen(f"{api}/rules", timeout=5) as r:
                groups = json.loads(r.read())["data"]["groups"]
            return {rule["name"]: rule["health"] for g in groups for rule in g["rules"]}

        assert len(health()) == 23
        assert wait_for(lambda: set(health().values()) == {"ok"}, 10), health()
    finally:
        for proc in (prom, demo):
            proc.terminate()
            proc.wait(timeout=10)
