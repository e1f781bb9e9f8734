"""Delivery to Alertmanager (``POST /api/v2/alerts``): the primary path, so that grouping, silences,
inhibition and routing to PagerDuty, Opsgenie or e-mail are Alertmanager's.

A firing alert is sent when it fires and again every ``resend_seconds`` (Alertmanager forgets an alert five
minutes after it last heard of it); a resolved one is sent once more with ``endsAt``. Sending runs in its
own thread from a one-slot mailbox that always holds the newest set of alerts, so a slow or dead
Alertmanager never delays the evaluation or the ingestion; a failed send is retried with a backoff
doubling up to the resend interval, and every attempt is counted by result.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from ccmon.alerting.rules import Alert

log = logging.getLogger(__name__)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def payload(alerts: list[Alert], generator_url: str = "") -> list[dict[str, object]]:
    """The JSON body Alertmanager's API v2 takes: labels, annotations, startsAt, endsAt, generatorURL."""
    body = []
    for a in alerts:
        item: dict[str, object] = {
            "labels": a.labels,
            "annotations": {"summary": a.summary},
            "startsAt": _iso(a.fired_at if a.fired_at is not None else a.active_since),
        }
        if a.ended_at is not None:
            item["endsAt"] = _iso(a.ended_at)
        if generator_url:
            item["generatorURL"] = generator_url
        body.append(item)
    return body


class AlertmanagerSender:
    """Sends the alerts handed to `offer` to one Alertmanager, from its own thread."""

    receiver = "alertmanager"

    def __init__(
        self,
        url: str,
        resend_seconds: float = 60.0,
        generator_url: str = "",
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.resend_seconds = resend_seconds
        self.generator_url = generator_url
        self.timeout = timeout
        self.clock = clock
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: list[Alert] = []
        self._changed = False

    def offer(self, alerts: list[Alert], changed: bool) -> None:
        """Hands over the alerts to send (firing ones and those just resolved); never blocks."""
        with self._lock:
            self._pending = list(alerts)
            self._changed = self._changed or changed
        if changed:
            self._wake.set()

    def run(self, stop: threading.Event) -> None:
        last_sent = float("-inf")
        backoff = 0.0
        while not stop.is_set():
            with self._lock:
                alerts, changed = self._pending, self._changed
            now = self.clock()
            due = last_sent + (backoff or self.resend_seconds)
            # News goes out at once, unless the last try failed (then after its backoff); the rest is re-sent
            # when due. Otherwise sleep until woken: never spin (the bench caught a busy loop here).
            if alerts and (now >= due or (changed and now >= last_sent + backoff)):
                ok = self._send(alerts)
                last_sent = self.clock()
                if ok:
                    backoff = 0.0
                    with self._lock:
                        self._changed = False
                        # Resolved alerts are told once; firing ones are kept for the next resend.
                        self._pending = [a for a in self._pending if a.ended_at is None]
                else:
                    backoff = min(self.resend_seconds, max(0.5, backoff * 2))
                continue
            self._wake.wait(min(1.0, max(0.05, due - now)) if alerts else 1.0)
            self._wake.clear()

    def _send(self, alerts: list[Alert]) -> bool:
        body = json.dumps(payload(alerts, self.generator_url)).encode()
        return post_json(self.url, body, self.timeout, self.attempts, self.receiver)


def post_json(
    url: str,
    body: bytes,
    timeout: float,
    attempts: Counter[str],
    receiver: str,
    headers: Mapping[str, str] | None = None,
) -> bool:
    """POSTs a JSON body; counts the attempt in `attempts` by result; a failure is logged, never raised."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            ok = bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError) as e:
        log.warning("%s %s: %s", receiver, url, e)
        ok = False
    attempts["success" if ok else "failure"] += 1
    return ok
