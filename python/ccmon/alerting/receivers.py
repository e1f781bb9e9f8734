"""Direct receivers, beside Alertmanager: PagerDuty Events API v2, a generic webhook signed with
HMAC-SHA256, and Slack-compatible incoming webhooks.

Unlike Alertmanager (which wants every firing alert re-sent within five minutes), these are told of a change
once — an alert that fires, one that resolves — and of the alerts still firing again every
``renotify_seconds`` (an hour by default), so nobody is paged twice for one problem. Secrets (the PagerDuty
routing key, the webhook secret, the Slack URL, which is itself a secret) come from a file named in the
config or from the environment, never from the config file itself.

Each receiver runs like `AlertmanagerSender`: its own thread, a one-slot mailbox, retries with backoff,
every attempt counted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ccmon.alerting.alertmanager import _iso, post_json
from ccmon.alerting.rules import Alert
from ccmon.config import ConfigError, read_secret

log = logging.getLogger(__name__)

PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
SIGNATURE_HEADER = "X-Ccmon-Signature"


def dedup_key(alert: Alert) -> str:
    """The same key for an alert's trigger and its resolve, and for nothing else: its labels, hashed."""
    text = json.dumps(sorted(alert.labels.items()))
    return "ccmon-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _secret(setting: Mapping[str, str], file_key: str, env: str, what: str) -> str:
    path = setting.get(file_key)
    try:
        value = read_secret(path, env)
    except OSError as e:
        raise ConfigError(f"alerts: cannot read {what} from {path}: {e}") from None
    if not value:
        raise ConfigError(f"alerts: {what} missing: name a file ({file_key}) or set {env}")
    return value


class ChangeSender:
    """Tells one receiver of changes, and of what still fires every `renotify_seconds`, from a thread."""

    receiver = "receiver"

    def __init__(self, renotify_seconds: float = 3600.0, timeout: float = 5.0) -> None:
        self.renotify_seconds = renotify_seconds
        self.timeout = timeout
        self.attempts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: list[Alert] = []
        # What the receiver was last told of each alert: "firing" or (until told) "resolved".
        self._told: dict[str, str] = {}
        self._renotify_at = 0.0

    def offer(self, alerts: list[Alert], changed: bool) -> None:
        with self._lock:
            self._pending = list(alerts)
        if changed:
            self._wake.set()

    def run(self, stop: threading.Event) -> None:
        backoff = 0.0
        while not stop.is_set():
            self._wake.wait(max(backoff, 0.2))
            self._wake.clear()
            with self._lock:
                alerts = list(self._pending)
            now = time.monotonic()
            renotify = now >= self._renotify_at
            news = [a for a in alerts if self._told.get(dedup_key(a)) != _state(a)]
            if renotify:
                news += [a for a in alerts if a.firing and a not in news]
            if not news:
                continue
            if self._deliver(news):
                backoff = 0.0
                for a in news:
                    self._told[dedup_key(a)] = _state(a)
                # Resolved and told: forgotten.
                self._told = {k: v for k, v in self._told.items() if v == "firing"}
                if renotify or not self._renotify_at:
                    self._renotify_at = now + self.renotify_seconds
            else:
                backoff = min(self.renotify_seconds, max(0.5, backoff * 2))

    def _deliver(self, alerts: list[Alert]) -> bool:
        raise NotImplementedError

    def _post(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> bool:
        return post_json(url, body, self.timeout, self.attempts, self.receiver, headers or {})


def _state(a: Alert) -> str:
    return "resolved" if a.ended_at is not None else "firing"


class PagerDutySender(ChangeSender):
    """PagerDuty Events API v2: a `trigger` per firing alert and a `resolve` with the same `dedup_key`."""

    receiver = "pagerduty"

    def __init__(
        self, setting: Mapping[str, str], renotify_seconds: float = 3600.0, source: str = "ccmon"
    ) -> None:
        super().__init__(renotify_seconds)
        self.url = setting.get("url") or PAGERDUTY_URL
        self.routing_key = _secret(
            setting, "routing_key_file", "CCMON_PAGERDUTY_ROUTING_KEY", "PagerDuty routing key"
        )
        self.source = source

    def event(self, a: Alert) -> dict[str, Any]:
        if a.ended_at is not None:
            return {"routing_key": self.routing_key, "event_action": "resolve", "dedup_key": dedup_key(a)}
        return {
            "routing_key": self.routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key(a),
            "payload": {
                "summary": a.summary[:1024],
                "source": a.labels.get("site") or self.source,
                # ccmon's severities are PagerDuty's own (critical, warning, info).
                "severity": a.severity,
                "timestamp": _iso(a.fired_at or a.active_since),
                "component": a.labels.get("queue") or a.labels.get("source", ""),
                "group": a.labels.get("site", ""),
                "class": a.labels["alertname"],
                "custom_details": a.labels,
            },
        }

    def _deliver(self, alerts: list[Alert]) -> bool:
        return all([self._post(self.url, json.dumps(self.event(a)).encode()) for a in alerts])


def webhook_body(alerts: list[Alert]) -> dict[str, Any]:
    return {
        "version": "1",
        "status": "firing" if any(a.firing for a in alerts) else "resolved",
        "alerts": [
            {
                "status": _state(a),
                "labels": a.labels,
                "annotations": {"summary": a.summary},
                "startsAt": _iso(a.fired_at or a.active_since),
                "endsAt": _iso(a.ended_at) if a.ended_at is not None else None,
                "fingerprint": dedup_key(a),
            }
            for a in alerts
        ],
    }


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender(ChangeSender):
    """A generic JSON webhook (Alertmanager's webhook shape), signed: header ``X-Ccmon-Signature:
    sha256=<HMAC-SHA256 of the body>``; the receiver recomputes it with the shared secret."""

    receiver = "webhook"

    def __init__(self, setting: Mapping[str, str], renotify_seconds: float = 3600.0) -> None:
        super().__init__(renotify_seconds)
        if not setting.get("url"):
            raise ConfigError("alerts.webhook.url is required")
        self.url = setting["url"]
        self.secret = _secret(setting, "secret_file", "CCMON_WEBHOOK_SECRET", "webhook secret")

    def _deliver(self, alerts: list[Alert]) -> bool:
        body = json.dumps(webhook_body(alerts)).encode()
        return self._post(self.url, body, {SIGNATURE_HEADER: sign(self.secret, body)})


class SlackSender(ChangeSender):
    """A Slack-compatible incoming webhook: ``{"text": ...}``, one line per alert that fired or resolved."""

    receiver = "slack"

    def __init__(self, setting: Mapping[str, str], renotify_seconds: float = 3600.0) -> None:
        super().__init__(renotify_seconds)
        self.url = _secret(setting, "url_file", "CCMON_SLACK_WEBHOOK_URL", "Slack webhook URL")

    def _deliver(self, alerts: list[Alert]) -> bool:
        lines = [f"{':red_circle:' if a.firing else ':white_check_mark:'} {a.summary}" for a in alerts]
        return self._post(self.url, json.dumps({"text": "\n".join(lines)}).encode())


def receivers(config: Any, site: str = "") -> list[ChangeSender]:
    """The direct receivers the config names."""
    out: list[ChangeSender] = []
    if config.pagerduty is not None:
        out.append(PagerDutySender(config.pagerduty, config.renotify_seconds, source=site or "ccmon"))
    if config.webhook is not None:
        out.append(WebhookSender(config.webhook, config.renotify_seconds))
    if config.slack is not None:
        out.append(SlackSender(config.slack, config.renotify_seconds))
    return out
