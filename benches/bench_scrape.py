"""Scrape cost of /metrics with 1,000 queues (target: under 50 ms), against prometheus-client side by side.

    python benches/bench_scrape.py            # 1,000 queues
    python benches/bench_scrape.py --quick    # 100 queues, fewer repetitions

Every queue gets answered calls (talk ended), abandoned ones (one of them short), a timed-out one, a transfer
into the next queue, and calls still waiting, so that every family has live values. Then, interleaved:

- ccmon: ``Exporter(m).render()`` (the whole /metrics body: the engine's text written in Rust, plus the
  Python registry with the source and process metrics), median of ``--repeat`` (20); the engine's part alone
  (``metrics_text()``); and an HTTP GET of /metrics from ``ccmon.server.Server`` on 127.0.0.1;
- the baseline: the same series built the way a Python exporter would, with prometheus-client: a custom
  collector that turns per-queue values it already holds into Counter/Gauge/HistogramMetricFamily objects,
  plus the same source and process collectors, rendered by ``generate_latest`` and served by
  ``prometheus_client.start_http_server`` on 127.0.0.1. Its samples are taken from ccmon's own text, so both
  sides expose the same series (checked below).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

import ccmon
from ccmon.exporter import Exporter, SourceCollector
from ccmon.server import Server

TARGET_MS = 50.0
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def build_log(queues: int) -> bytes:
    """Events for ``queues`` queues over ten minutes, in time order."""
    t0 = 1_700_000_000
    events: list[tuple[int, str]] = []
    for k in range(queues):
        q, nxt = f"queue-{k:04d}", f"queue-{(k + 1) % queues:04d}"
        agent = f"PJSIP/{2000 + k}"

        def add(dt: int, call: str, text: str, q: str = q) -> None:
            events.append((t0 + dt, f"{t0 + dt}|{call}|{q}|{text}"))

        for j in range(4):  # answered, talk ended
            c = f"{t0 + k}.{k * 20 + j}"
            add(j, c, f"NONE|ENTERQUEUE||06{k:04d}{j:04d}|1")
            add(j + 5 + 10 * j, c, f"{agent}|CONNECT|{5 + 10 * j}|{c}|2")
            add(200 + j, c, f"{agent}|COMPLETECALLER|{5 + 10 * j}|{195 - 10 * j}|1")
        for j, wait in enumerate((3, 40)):  # abandoned: one short, one not
            c = f"{t0 + k}.{k * 20 + 4 + j}"
            add(10 + j, c, f"NONE|ENTERQUEUE||07{k:04d}{j:04d}|2")
            add(10 + j + wait, c, f"NONE|ABANDON|2|2|{wait}")
        c = f"{t0 + k}.{k * 20 + 6}"  # timed out
        add(20, c, f"NONE|ENTERQUEUE||08{k:04d}0000|3")
        add(20 + 300, c, "NONE|EXITWITHTIMEOUT|1|3|300")
        c = f"{t0 + k}.{k * 20 + 7}"  # answered, transferred into the next queue, waiting there
        add(30, c, f"NONE|ENTERQUEUE||09{k:04d}0000|1")
        add(45, c, f"{agent}|CONNECT|15|{c}|2")
        add(120, c, f"{agent}|TRANSFER|8000|from-internal|15|75|1")
        add(122, c, f"NONE|ENTERQUEUE||09{k:04d}0000|1", q=nxt)
        for j in range(3):  # still waiting
            c = f"{t0 + k}.{k * 20 + 8 + j}"
            add(400 + j * 60, c, f"NONE|ENTERQUEUE||05{k:04d}{j:04d}|{j + 1}")
    events.sort(key=lambda e: e[0])
    return ("\n".join(line for _, line in events) + "\n").encode()


class MirrorCollector(Collector):
    """What a Python exporter does per scrape: build one metric object per family and one sample per series
    from values it holds. The values are parsed once, up front, from ccmon's text (so the series match)."""

    def __init__(self, text: str) -> None:
        self.families: list[tuple[str, str, str, list[str], Any]] = []
        kind, name = "", ""
        hist: dict[tuple[str, ...], tuple[list[tuple[str, float]], float]] = {}
        plain: list[tuple[tuple[str, ...], float]] = []
        names: list[str] = []
        help_text: dict[str, str] = {}
        for line in text.splitlines():
            if line.startswith("# HELP "):
                _, _, fam, doc = line.split(" ", 3)
                help_text[fam] = doc
            elif line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                hist, plain, names = {}, [], []
                values = hist if kind == "histogram" else plain
                self.families.append((name, kind, help_text.get(name, name), names, values))
            elif line and not line.startswith("#"):
                series, value = line.rsplit(" ", 1)
                labels = LABEL.findall(series)
                if not names:
                    names.extend(k for k, _ in labels if k != "le")
                if kind == "histogram":
                    key = tuple(v for k, v in labels if k != "le")
                    buckets = hist.setdefault(key, ([], 0.0))[0]
                    if series.startswith(name + "_bucket"):
                        le = dict(labels)["le"]
                        buckets.append((le, float(value)))
                    elif series.startswith(name + "_sum"):
                        hist[key] = (buckets, float(value))
                else:
                    plain.append((tuple(v for _, v in labels), float(value)))

    def collect(self) -> Iterable[Metric]:
        for name, kind, doc, names, values in self.families:
            if kind == "histogram":
                h = HistogramMetricFamily(name, doc, labels=names)
                for key, (buckets, total) in values.items():
                    h.add_metric(list(key), buckets, total)
                yield h
            else:
                cls = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                m = cls(name, doc, labels=names)
                for key, value in values:
                    m.add_metric(list(key), value)
                yield m


def series(body: bytes) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """The series of an exposition: each sample's name and labels (sorted: prometheus-client puts ``le``
    first), without its value."""
    out = set()
    for line in body.decode().split("\n"):
        if line and not line.startswith("#"):
            key = line.rsplit(" ", 1)[0]
            out.add((key.split("{", 1)[0], tuple(sorted(LABEL.findall(key)))))
    return out


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        body: bytes = r.read()
        return body


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def build_stamp() -> str:
    """When the installed extension was built: other work may rebuild it between two bench runs."""
    from ccmon import _core

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(str(_core.__file__))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queues", type=int, default=None, help="default 1,000")
    ap.add_argument("--quick", action="store_true", help="100 queues, 5 repetitions")
    ap.add_argument("--repeat", type=int, default=None, help="ccmon scrapes timed (median kept); default 20")
    ap.add_argument("--baseline-repeat", type=int, default=7, help="prometheus-client scrapes timed (slow)")
    args = ap.parse_args()
    nq = args.queues or (100 if args.quick else 1000)
    reps = args.repeat or (5 if args.quick else 20)
    base_reps = min(args.baseline_repeat, reps)

    print(f"ccmon extension built {build_stamp()}")
    m = ccmon.Monitor()
    data = build_log(nq)
    chunk = 1 << 20
    for i in range(0, len(data), chunk):
        m.feed(data[i : i + chunk])
    df = m.queues("all")
    assert df.height == nq, df.height
    print(
        f"{nq:,} queues fed: offered {int(df['offered'].sum()):,}, answered {int(df['answered'].sum()):,}, "
        f"abandoned {int(df['abandoned'].sum()):,}, timed out {int(df['timed_out'].sum()):,}, "
        f"transfers {int(df['transfers_out'].sum()):,}, waiting {int(df['waiting_now'].sum()):,}"
    )

    exporter = Exporter(m)
    baseline = CollectorRegistry(auto_describe=False)
    baseline.register(MirrorCollector(m.metrics_text()))
    baseline.register(SourceCollector(m, lambda: ()))
    ProcessCollector(registry=baseline)

    server = Server(m, "127.0.0.1:0")
    server.start()
    base_httpd, _ = start_http_server(0, addr="127.0.0.1", registry=baseline)
    try:
        ccmon_url = f"http://127.0.0.1:{server.port}/metrics"
        base_url = f"http://127.0.0.1:{base_httpd.server_port}/metrics"
        ours, theirs = exporter.render(), generate_latest(baseline)  # warm-up, and the bodies compared below
        ours_http, theirs_http = get(ccmon_url), get(base_url)
        t: dict[str, list[float]] = {k: [] for k in ("render", "engine", "http", "b_render", "b_http")}
        for i in range(reps):  # interleaved, so both sides see the same moments of a noisy machine
            t["render"].append(timed(exporter.render))
            t["engine"].append(timed(m.metrics_text))
            t["http"].append(timed(lambda: get(ccmon_url)))
            if i < base_reps:
                t["b_render"].append(timed(lambda: generate_latest(baseline)))
                t["b_http"].append(timed(lambda: get(base_url)))
    finally:
        server.stop()
        base_httpd.shutdown()
        base_httpd.server_close()

    med = {k: statistics.median(v) * 1000 for k, v in t.items()}
    ours_s, theirs_s = series(ours), series(theirs)
    s_ours = len(ours_s)
    print(f"/metrics: ccmon {s_ours:,} series, {len(ours):,} bytes (HTTP body {len(ours_http):,} bytes)")
    print(
        f"          prometheus-client {len(theirs_s):,} series, {len(theirs):,} bytes "
        f"(HTTP body {len(theirs_http):,} bytes)"
    )
    if ours_s == theirs_s:
        print("both expose exactly the same series (names and labels)")
    else:
        only_ours, only_theirs = len(ours_s - theirs_s), len(theirs_s - ours_s)
        print(f"SERIES DIFFER: {only_ours} only in ccmon, {only_theirs} only in the baseline")
    print(f"\nmedian of {reps} (prometheus-client: {base_reps}), interleaved:")
    print(f"  ccmon Exporter(m).render()                  {med['render']:8.1f} ms")
    print(f"    of which engine text (metrics_text)       {med['engine']:8.1f} ms")
    print(f"  ccmon HTTP GET /metrics (127.0.0.1)         {med['http']:8.1f} ms")
    print(f"  prometheus-client generate_latest()         {med['b_render']:8.1f} ms")
    print(f"  prometheus-client HTTP GET /metrics         {med['b_http']:8.1f} ms")
    ratio_render, ratio_http = med["b_render"] / med["render"], med["b_http"] / med["http"]
    print(f"\nratio prometheus-client / ccmon: render {ratio_render:.1f}×, HTTP {ratio_http:.1f}×")
    verdict = "meets" if med["http"] < TARGET_MS else "MISSES"
    print(f"ccmon scrape over HTTP: {med['http']:.1f} ms — {verdict} the target (< {TARGET_MS:.0f} ms)")
    cmd = "python benches/bench_scrape.py" + ("" if nq == 1000 else f" --queues {nq}")
    print(f"\n| `{cmd}` ({s_ours:,} series, {len(ours) / 1e6:.1f} MB) | ms (median) |\n|---|---:|")
    print(f"| ccmon `Exporter.render()` | {med['render']:.1f} |")
    print(f"| ccmon HTTP GET /metrics | {med['http']:.1f} |")
    print(f"| prometheus-client `generate_latest()` | {med['b_render']:.0f} |")
    print(f"| prometheus-client HTTP GET /metrics | {med['b_http']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
