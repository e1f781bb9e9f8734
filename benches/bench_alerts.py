"""Does alerting slow ingestion? Ingest rate with the alert rules evaluated (every 0.25 s, four times as often
as ``ccmon run`` does) and their alerts delivered to a dead or a slow receiver, against none, side by side.

    python benches/bench_alerts.py            # 3 M queue_log lines, fed in 1 MiB chunks as a live source is
    python benches/bench_alerts.py --quick    # 500 k lines

Contenders, in interleaved rounds (best of 3):

- no alerting at all (the baseline);
- alerting with no receiver (rules evaluated, alerts only listed);
- alerting to a dead Alertmanager (nothing listens on its port: every send fails at once, and is retried);
- alerting to a slow Alertmanager (it accepts, then answers each request after 5 s: every send waits out its
  timeout in the sender's thread).

The generated log's calls wait long enough and often enough that the built-in rules fire (longest wait,
service level, ...), so there is always something to send. Then: how long one evaluation of every rule takes
with 10, 100 and 1,000 queues (each with calls waiting and an agent), against its 1-second interval.
"""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_queue_log import ensure_queue_log

import ccmon
from ccmon.alerting import Alerting

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Slow(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(5)
        self.send_response(200)
        self.end_headers()


def ingest(data: bytes, alertmanager: str | None, alerting_on: bool) -> tuple[float, dict[str, int]]:
    config: dict[str, Any] = {"alerts": {"alertmanager_url": alertmanager}} if alertmanager else {}
    m = ccmon.Monitor(config)
    stop = threading.Event()
    alerting = None
    if alerting_on:
        alerting = Alerting(m, m.config.alert_config, interval=0.25)
        thread = threading.Thread(target=alerting.run, args=(stop,), daemon=True)
        thread.start()
    t = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        m.feed(data[i : i + CHUNK])
    m.end_of_input()
    dt = time.perf_counter() - t
    attempts: dict[str, int] = {}
    if alerting is not None:
        alerting.step()  # at least one evaluation with everything in
        for s in alerting.senders:
            attempts.update(s.attempts)
        stop.set()
    return dt, attempts


def evaluation_cost(queues: int, repeat: int) -> tuple[float, int]:
    """Seconds one evaluation of every rule takes with `queues` queues, each with calls waiting and talking
    and agents (the median of `repeat`), and how many alerts fire."""
    now = int(time.time())
    lines = []
    for q in range(queues):
        lines.append(f"{now - 3600}|NONE|q{q}|Agent/{q}|ADDMEMBER|")
        for c in range(3):
            lines.append(f"{now - 300 - c}|c{q}-{c}|q{q}|NONE|ENTERQUEUE||6000{q}{c}|1")
        lines.append(f"{now - 200}|c{q}-0|q{q}|Agent/{q}|CONNECT|100|x|1")
    m = ccmon.Monitor()
    m.feed(("\n".join(lines) + "\n").encode())
    m.advance_clock()
    alerting = Alerting(m, m.config.alert_config)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        alerting.step()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2], len(alerting.firing())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=None, help="queue_log lines (default 3,000,000)")
    ap.add_argument("--quick", action="store_true", help="500,000 lines")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench-data")
    args = ap.parse_args()
    lines = args.lines or (500_000 if args.quick else 3_000_000)
    data = ensure_queue_log(args.data_dir, lines).read_bytes()

    slow = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    slow.daemon_threads = True
    threading.Thread(target=slow.serve_forever, daemon=True).start()
    dead_url = f"http://127.0.0.1:{free_port()}"
    slow_url = f"http://127.0.0.1:{slow.server_address[1]}"
    contenders = {
        "no alerting": (None, False),
        "alerting, no receiver": (None, True),
        "alerting, dead Alertmanager (connection refused)": (dead_url, True),
        "alerting, slow Alertmanager (answers after 5 s)": (slow_url, True),
    }
    results: dict[str, list[float]] = {}
    attempts: dict[str, dict[str, int]] = {}
    for rnd in range(args.repeat):
        for name, (url, on) in contenders.items():
            dt, tried = ingest(data, url, on)
            results.setdefault(name, []).append(dt)
            attempts[name] = tried
        print(f"  round {rnd + 1} done", flush=True)
    slow.shutdown()
    best = {name: min(ts) for name, ts in results.items()}
    base = best["no alerting"]
    print(f"\n{lines:,} queue_log lines fed in 1 MiB chunks (best of {args.repeat}); rules every 0.25 s:\n")
    print("| contender | seconds | M lines/s | ingest rate ÷ no alerting | delivery attempts |")
    print("|---|---:|---:|---:|---|")
    for name, dt in best.items():
        tried = ", ".join(f"{k} {v}" for k, v in sorted(attempts[name].items())) or "—"
        print(f"| {name} | {dt:.2f} | {lines / dt / 1e6:.2f} | {base / dt:.2f} | {tried} |")
    print("\nOne evaluation of every rule (median of 5), the monitor's snapshot included:\n")
    print("| queues | ms per evaluation | share of the 1 s interval | alerts firing |")
    print("|---:|---:|---:|---:|")
    for queues in (10, 100, 1000):
        secs, firing = evaluation_cost(queues, 5)
        print(f"| {queues} | {secs * 1000:.1f} | {secs:.1%} | {firing} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
