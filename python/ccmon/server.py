"""The HTTP endpoint of ``ccmon run`` and ``ccmon demo``: ``/metrics``, ``/healthz`` and a JSON API.

The standard library's threading HTTP server is enough for scrapes and scripts (a handful of requests per
second) and adds no dependency; every response is a snapshot read under the monitor's lock.

- ``GET /metrics`` — Prometheus exposition (SPEC §8).
- ``GET /healthz`` — ``{"status": "ok"|"degraded", "sources": [...]}``; 503 when a source is down.
- ``GET /api/v1/queues?window=5m`` — ``{"window", "now", "queues": [rows of SPEC §3]}``.
- ``GET /api/v1/calls`` — calls in progress with their journey, wait, plays and flags.
- ``GET /api/v1/agents`` — agents now, per queue, with their state and pause reason.
- ``GET /api/v1/alerts`` — the manager alerts firing now (labels, summary, since).
- ``GET /api/v1/transfers`` — the last transfers: who was transferred where, by whom, how many times.
- ``GET /api/v1/sources`` — per-source counts.
- ``POST /api/v1/events?source=NAME&site=SITE`` — a batch of events as JSON lines (SPEC §7; ``Content-Length``
  required, at most 16 MiB); answers what became of its lines, e.g. ``{"ingested": 2, "rejected": 0,
  "unknown": 0, "ignored": 0, "duplicates": 1, "rejections": []}``, the batch's rejected lines listed with
  their line number in the batch, reason and message (`Monitor.feed_batch`). The source is ``http`` unless
  named.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from ccmon.alerting import AlertCollector, Alerting
from ccmon.exporter import CONTENT_TYPE, Exporter
from ccmon.monitor import Monitor
from ccmon.sources import Source

log = logging.getLogger(__name__)

MAX_BATCH_BYTES = 16 << 20


def parse_listen(listen: str) -> tuple[str, int]:
    """``"127.0.0.1:9108"`` → ``("127.0.0.1", 9108)``; ``[::1]:9108`` for IPv6."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT, e.g. 127.0.0.1:9108")
    return host.strip("[]") or "127.0.0.1", int(port)


class Server:
    """Serves one monitor. ``start()`` runs it in a daemon thread; ``port`` is the bound port.

    Listening on port 0 picks a free port.
    """

    def __init__(
        self,
        monitor: Monitor,
        listen: str,
        sources: Callable[[], Sequence[Source]] = lambda: (),
        alerting: Alerting | None = None,
    ) -> None:
        self.monitor = monitor
        self.sources = sources
        self.alerting = alerting
        self.exporter = Exporter(monitor, sources)
        if alerting is not None:
            self.exporter.registry.register(AlertCollector(alerting))
        host, port = parse_listen(listen)
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s " + format, self.address_string(), *args)

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, status: int, obj: Any) -> None:
                self._send(status, json.dumps(obj).encode(), "application/json")

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = parse_qs(url.query)
                try:
                    if url.path == "/metrics":
                        self._send(200, server.exporter.render(), CONTENT_TYPE)
                    elif url.path == "/healthz":
                        default = server.monitor.config.site
                        states = [
                            {"source": s.name, "site": default if s.site is None else s.site, "up": s.up}
                            for s in server.sources()
                        ]
                        ok = all(s["up"] for s in states)
                        self._json(
                            200 if ok else 503, {"status": "ok" if ok else "degraded", "sources": states}
                        )
                    elif url.path == "/api/v1/queues":
                        window = query.get("window", ["all"])[0]
                        rows = server.monitor.queues(window).to_dicts()
                        self._json(200, {"window": window, "now": server.monitor.now, "queues": rows})
                    elif url.path == "/api/v1/calls":
                        self._json(
                            200, {"now": server.monitor.now, "calls": server.monitor.calls().to_dicts()}
                        )
                    elif url.path == "/api/v1/alerts":
                        firing = server.alerting.firing() if server.alerting is not None else []
                        self._json(200, {"alerts": firing})
                    elif url.path == "/api/v1/transfers":
                        rows = server.monitor.transfers().to_dicts()
                        self._json(200, {"now": server.monitor.now, "transfers": rows})
                    elif url.path == "/api/v1/agents":
                        self._json(
                            200, {"now": server.monitor.now, "agents": server.monitor.agents().to_dicts()}
                        )
                    elif url.path == "/api/v1/sources":
                        self._json(200, {"sources": server.monitor.sources()})
                    else:
                        self._json(404, {"error": f"no such path {url.path}"})
                except ValueError as e:
                    self._json(400, {"error": str(e)})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                if url.path != "/api/v1/events":
                    self._json(404, {"error": f"no such path {url.path}"})
                    return
                length_header = self.headers.get("Content-Length")
                if length_header is None or not length_header.strip().isdigit():
                    self.close_connection = True
                    self._json(411, {"error": "Content-Length required: send the batch in one body"})
                    return
                length = int(length_header)
                if length > MAX_BATCH_BYTES:
                    self.close_connection = True  # the body is not read
                    self._json(413, {"error": f"batch of {length} bytes; at most {MAX_BATCH_BYTES}"})
                    return
                body = self.rfile.read(length)
                params = parse_qs(url.query)
                source = params.get("source", ["http"])[0]
                site = params.get("site", [None])[0]
                self._json(200, server.monitor.feed_batch(body, "jsonl", source, site))

        return Handler
