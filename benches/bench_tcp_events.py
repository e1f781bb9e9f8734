"""End to end over TCP: events pushed through a loopback socket into a running ``ccmon run``, with
``/metrics`` scraped every second meanwhile.

    python benches/bench_tcp_events.py            # 3 M events (a few seconds: a few scrapes)
    python benches/bench_tcp_events.py --quick    # 200 k events

Starts ``ccmon run --jsonl-tcp 127.0.0.1:P --listen 127.0.0.1:Q`` as a subprocess, connects, sends the JSON
lines of benches/bench_jsonl.py's input as fast as the socket takes them (in 256 KiB writes), and polls
``/api/v1/sources`` until every event is counted. A thread scrapes ``/metrics`` once a second throughout, as
Prometheus would. Reports events per second from the first byte sent to the last event counted, and the
scrapes' durations. The server stops by itself (``--duration``) in any case.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_jsonl import to_jsonl
from gen_queue_log import ensure_queue_log

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return bytes(r.read())


def counted(base: str) -> int:
    sources = json.loads(get(f"{base}/api/v1/sources"))["sources"]
    return sum(s["ingested"] + s["rejected"] + s["unknown"] + s["duplicates"] for s in sources)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=None, help="events (default 3,000,000)")
    ap.add_argument("--quick", action="store_true", help="200,000 events")
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench-data")
    args = ap.parse_args()
    lines = args.lines or (200_000 if args.quick else 3_000_000)
    queue_log = ensure_queue_log(args.data_dir, lines)
    path = queue_log.with_suffix(".jsonl")
    if not path.exists():
        to_jsonl(queue_log, path)
    data = path.read_bytes()

    tcp_port, http_port = free_port(), free_port()
    base = f"http://127.0.0.1:{http_port}"
    exe = [sys.executable, "-m", "ccmon", "run", "--jsonl-tcp", f"127.0.0.1:{tcp_port}"]
    proc = subprocess.Popen(
        [*exe, "--listen", f"127.0.0.1:{http_port}", "--duration", "300"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    scrapes: list[float] = []
    stop = threading.Event()

    def scrape() -> None:
        while not stop.wait(1.0):
            t = time.perf_counter()
            get(f"{base}/metrics")
            scrapes.append(time.perf_counter() - t)

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(f"{base}/healthz")
                conn = socket.create_connection(("127.0.0.1", tcp_port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        scraper = threading.Thread(target=scrape, daemon=True)
        scraper.start()
        t0 = time.perf_counter()
        view = memoryview(data)
        for i in range(0, len(view), 256 << 10):
            conn.sendall(view[i : i + (256 << 10)])
        sent = time.perf_counter() - t0
        conn.close()
        while counted(base) < lines:
            if time.perf_counter() - t0 > 240:
                print(f"only {counted(base):,} of {lines:,} events counted after 240 s")
                return 1
            time.sleep(0.01)
        total = time.perf_counter() - t0
        stop.set()
        scraper.join(timeout=15)
        metrics = get(f"{base}/metrics").decode()
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=20)

    offered = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("ccmon_queue_entries_total{")
    )
    print(f"{lines:,} JSON-lines events, {len(data) / 1e6:.0f} MB, one TCP connection on loopback")
    rate = lines / total / 1e6
    print(f"  sent in {sent:.2f} s; all counted after {total:.2f} s: {rate:.2f} M events/s end to end")
    if scrapes:
        median, worst = statistics.median(scrapes) * 1e3, max(scrapes) * 1e3
        print(f"  /metrics scraped {len(scrapes)}x meanwhile: median {median:.0f} ms, max {worst:.0f} ms")
    print(f"  ccmon_queue_entries_total summed over queues: {offered:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
