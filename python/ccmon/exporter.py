"""The Prometheus exporter: one engine snapshot per scrape.

The per-queue families (SPEC §8) are written by the engine in Rust: prometheus-client builds a Python
object per series (7–16 µs each, shared/PERF-NOTES.md), which for 1,000 queues (~100k series) is over a
second, far beyond a 50 ms scrape budget. prometheus-client still serves what is naturally Python's: a
custom collector for the sources' health, and the process metrics. A scrape looks like::

    # TYPE ccmon_queue_entries_total counter
    ccmon_queue_entries_total{queue="sales"} 42
    ...
    # TYPE ccmon_source_up gauge
    ccmon_source_up{source="queue_log"} 1.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ccmon.monitor import Monitor
from ccmon.sources import Source

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class SourceCollector(Collector):
    """Yields ``ccmon_source_up`` and ``ccmon_source_last_event_timestamp_seconds`` per source."""

    def __init__(self, monitor: Monitor, sources: Callable[[], Sequence[Source]]) -> None:
        self.monitor = monitor
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        default = self.monitor.config.site
        sources = self.sources()
        # The site label as the engine's series have it: present once any site has a name; an empty value is
        # the same as no label to Prometheus.
        with_site = any(self.monitor.sites) or any(s.site for s in sources)
        names = ["site", "source"] if with_site else ["source"]

        def values(site: str | None, source: str) -> list[str]:
            return [default if site is None else site, source] if with_site else [source]

        up = GaugeMetricFamily("ccmon_source_up", "1 when the source can read its input.", labels=names)
        for s in sources:
            up.add_metric(values(s.site, s.name), 1.0 if s.up else 0.0)
        yield up
        last = GaugeMetricFamily(
            "ccmon_source_last_event_timestamp_seconds", "Event time of the newest event read.", labels=names
        )
        for stats in self.monitor.sources():
            if stats["last_event_ts"] is not None:
                last.add_metric(values(stats["site"], stats["source"]), stats["last_event_ts"])
        yield last


class Exporter:
    """Renders ``/metrics``: the engine's text followed by the Python-side registry."""

    def __init__(self, monitor: Monitor, sources: Callable[[], Sequence[Source]] = lambda: ()) -> None:
        self.monitor = monitor
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SourceCollector(monitor, sources))
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        return self.monitor.metrics_text().encode() + generate_latest(self.registry)
