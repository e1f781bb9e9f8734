"""Manager alerts: rules evaluated in-process on the live figures every second, and their delivery.

`Alerting` ties them to a running monitor: it takes a snapshot of the figures the rules read, evaluates
the rules, hands the alerts to the senders (which never block it), and says what is firing for
``/api/v1/alerts`` and ``ccmon alerts list``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from ccmon.alerting.alertmanager import AlertmanagerSender
from ccmon.alerting.receivers import ChangeSender, receivers
from ccmon.alerting.rules import Alert, AlertConfig, Evaluator, Snapshot, windows_needed
from ccmon.monitor import Monitor
from ccmon.sources import Source

__all__ = ["Alert", "AlertConfig", "Alerting", "AlertmanagerSender", "ChangeSender", "Evaluator"]

log = logging.getLogger(__name__)


def monitor_snapshot(
    monitor: Monitor,
    config: AlertConfig,
    sources: Callable[[], Sequence[Source]],
    clock: Callable[[], float] = time.time,
) -> Callable[[], Snapshot]:
    """What the rules read, from the monitor: queues now and over the rules' windows, calls, agents, and how
    each source is doing."""
    windows = windows_needed(config)
    # Per source: the newest event time seen, when (wall clock) it last changed, and the usual gap between
    # changes (a moving average): what "silent for longer than usual" is measured against.
    heard: dict[tuple[str, str], list[Any]] = {}

    def hearing(key: tuple[str, str], ts: float | None, now: float) -> dict[str, float | None]:
        if ts is None:
            return {"silent": None, "usual_gap": None}
        h = heard.get(key)
        if h is None:
            h = heard[key] = [ts, now, None]
        elif ts != h[0]:
            gap = now - h[1]
            h[2] = gap if h[2] is None else 0.9 * h[2] + 0.1 * gap
            h[0], h[1] = ts, now
        return {"silent": now - h[1], "usual_gap": h[2]}

    # Per source: its internal_error count, and when (wall clock) that count last grew.
    errors: dict[tuple[str, str], tuple[int, float | None]] = {}

    def failures(key: tuple[str, str], count: int, now: float) -> dict[str, float | None]:
        seen, since = errors.get(key, (0, None))
        if count > seen:
            since = now
        errors[key] = (count, since)
        return {"count": count, "age": None if since is None else now - since}

    def snapshot() -> Snapshot:
        engine_sources = monitor.sources()
        last = {(s["site"], s["source"]): s["last_event_ts"] for s in engine_sources}
        default = monitor.config.site
        now = clock()
        return {
            "queues": monitor.queues("all").to_dicts(),
            "queues_by_window": {w: monitor.queues(w).to_dicts() for w in windows},
            "calls": monitor.calls().to_dicts(),
            "agents": monitor.agents().to_dicts(),
            "sources_up": [
                {
                    "source": s.name,
                    "up": s.up,
                    **hearing(
                        (default if s.site is None else s.site, s.name),
                        last.get((default if s.site is None else s.site, s.name)),
                        now,
                    ),
                }
                for s in sources()
            ],
            "source_errors": [
                {
                    "source": s["source"],
                    **failures(
                        (s["site"], s["source"]), s["rejected_by_reason"].get("internal_error", 0), now
                    ),
                }
                for s in engine_sources
            ],
        }

    return snapshot


class Alerting:
    """Evaluates `config`'s rules on `monitor` every `interval` seconds and delivers the alerts."""

    def __init__(
        self,
        monitor: Monitor,
        config: AlertConfig,
        sources: Callable[[], Sequence[Source]] = lambda: (),
        interval: float = 1.0,
    ) -> None:
        self.evaluator = Evaluator(
            config, monitor_snapshot(monitor, config, sources), site=monitor.config.site
        )
        self.interval = interval
        self.senders: list[AlertmanagerSender | ChangeSender] = []
        if config.alertmanager_url:
            self.senders.append(
                AlertmanagerSender(config.alertmanager_url, config.resend_seconds, config.generator_url)
            )
        self.senders.extend(receivers(config, monitor.config.site))
        self._lock = threading.Lock()

    def step(self) -> list[Alert]:
        with self._lock:
            changed = self.evaluator.evaluate()
            outgoing = self.evaluator.firing() + [a for a in changed if a.ended_at is not None]
            self.evaluator.forget_resolved()
        for sender in self.senders:
            sender.offer(outgoing, changed=bool(changed))
        for a in changed:
            state = "resolved" if a.ended_at is not None else "firing"
            log.info("alert %s %s: %s", a.labels["alertname"], state, a.summary)
        return changed

    def firing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"labels": a.labels, "summary": a.summary, "since": a.fired_at}
                for a in sorted(self.evaluator.firing(), key=lambda a: a.fired_at or 0.0)
            ]

    def run(self, stop: threading.Event) -> None:
        for sender in self.senders:
            threading.Thread(target=sender.run, args=(stop,), name="alert-sender", daemon=True).start()
        while not stop.wait(self.interval):
            try:
                self.step()
            except Exception:  # an alerting fault must not stop the monitor; it is logged and retried
                log.exception("evaluating alert rules failed")


class AlertCollector(Collector):
    """``ccmon_alert_notifications_total{receiver,result}``: every delivery attempt."""

    def __init__(self, alerting: Alerting) -> None:
        self.alerting = alerting

    def collect(self) -> Iterable[Metric]:
        family = CounterMetricFamily(
            "ccmon_alert_notifications",
            "Alert delivery attempts, by receiver and result.",
            labels=["receiver", "result"],
        )
        for sender in self.alerting.senders:
            for result in ("success", "failure"):
                family.add_metric([sender.receiver, result], float(sender.attempts[result]))
        yield family
