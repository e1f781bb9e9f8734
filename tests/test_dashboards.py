"""Grafana dashboards as code: the files in dashboards/ are exactly what the code generates; every model
decodes with the dashboards-as-code library's own types and follows the rules the issue sets (datasource,
site and queue variables, no fixed datasource uid, units and thresholds, the wallboard's 5-second refresh);
``ccmon dashboards push`` follows Grafana's documented dashboard API, idempotently. (Every panel's query runs
against a real Prometheus scraping a live demo in test_prometheus_rules.py.)"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.models import dashboard as dm
from typer.testing import CliRunner

from ccmon import dashboards
from ccmon.cli import app

ROOT = Path(__file__).resolve().parents[1]


def model(name: str) -> dict[str, Any]:
    return dict(json.loads(dashboards.render(name)))


def targets(d: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in d["panels"] for t in p["targets"]]


@pytest.mark.parametrize("name", sorted(dashboards.BOARDS))
def test_the_committed_file_is_the_generated_one(name: str) -> None:
    assert (ROOT / "dashboards" / f"{name}.json").read_text() == dashboards.render(name), (
        "dashboards/ is generated: run `ccmon dashboards build`"
    )


@pytest.mark.parametrize("name", sorted(dashboards.BOARDS))
def test_each_dashboard_follows_the_rules(name: str) -> None:
    d = model(name)
    typed = dm.Dashboard.from_json(d)  # the library's own model of a dashboard reads it back
    assert typed.uid == f"ccmon-{name}" and typed.panels
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    assert "site" in variables and (name == "health" or "queue" in variables)
    for p in d["panels"]:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["fieldConfig"]["defaults"]["unit"], p["title"]
        assert p["type"] in ("stat", "timeseries")
    for t in targets(d):
        assert t["datasource"]["uid"] == "${datasource}" and t["refId"] and t["expr"]
    refs = [[t["refId"] for t in p["targets"]] for p in d["panels"]]
    assert all(len(set(r)) == len(r) for r in refs)


def test_the_wallboard_is_big_numbers_refreshed_every_5_seconds() -> None:
    d = model("wallboard")
    assert d["refresh"] == "5s" and d["time"] == {"from": "now/d", "to": "now"}
    titles = [p["title"] for p in d["panels"]]
    assert titles == [
        "Waiting now",
        "Longest wait now",
        "Callers who need you now",
        "Service level today",
        "Abandoned today",
        "Agents available",
    ]
    for p in d["panels"]:
        assert p["type"] == "stat" and p["options"]["colorMode"] == "background"
        steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert steps[0]["value"] is None and len(steps) >= 2
    units = {p["title"]: p["fieldConfig"]["defaults"]["unit"] for p in d["panels"]}
    assert units["Longest wait now"] == "s" and units["Service level today"] == "percentunit"


class FakeGrafana:
    """Grafana's documented API as far as push uses it: GET/POST /api/folders, POST /api/dashboards/db."""

    def __init__(self, token: str) -> None:
        folders: list[dict[str, Any]] = []
        dashboards_saved: dict[str, dict[str, Any]] = {}
        requests: list[tuple[str, str]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def reply(self, status: int, obj: Any) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self.reply(401, {"message": "Unauthorized"})
                    return False
                return True

            def do_GET(self) -> None:
                requests.append(("GET", self.path))
                if self.authorized() and self.path.startswith("/api/folders"):
                    self.reply(200, folders)

            def do_POST(self) -> None:
                requests.append(("POST", self.path))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not self.authorized():
                    return
                if self.path == "/api/folders":
                    folders.append({"id": len(folders) + 1, "uid": body["uid"], "title": body["title"]})
                    self.reply(200, folders[-1])
                elif self.path == "/api/dashboards/db":
                    d = body["dashboard"]
                    assert body["overwrite"] is True and body["folderUid"] in {f["uid"] for f in folders}
                    dashboards_saved[d["uid"]] = body
                    self.reply(200, {"status": "success", "uid": d["uid"], "version": 1})
                else:
                    self.reply(404, {"message": "not found"})

        self.folders, self.saved, self.requests = folders, dashboards_saved, requests
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_push_creates_the_folder_once_and_overwrites_the_dashboards(tmp_path: Path) -> None:
    grafana = FakeGrafana("glsa_token")
    token = tmp_path / "token"
    token.write_text("glsa_token\n")
    try:
        for _ in range(2):  # idempotent: a second push changes nothing but the dashboards' versions
            out = CliRunner().invoke(
                app, ["dashboards", "push", "--url", grafana.url, "--token-file", str(token)]
            )
            assert out.exit_code == 0, out.stdout
        assert [f["uid"] for f in grafana.folders] == ["ccmon"]
        assert sorted(grafana.saved) == ["ccmon-health", "ccmon-supervisor", "ccmon-wallboard"]
        assert grafana.saved["ccmon-wallboard"]["dashboard"] == model("wallboard")
        posts = [p for m, p in grafana.requests if m == "POST"]
        assert posts.count("/api/folders") == 1 and posts.count("/api/dashboards/db") == 6
        wrong = tmp_path / "wrong"
        wrong.write_text("nope")
        out = CliRunner().invoke(
            app, ["dashboards", "push", "--url", grafana.url, "--token-file", str(wrong)]
        )
        assert out.exit_code != 0
    finally:
        grafana.close()
