"""Ingest speed: ccmon against its baselines, side by side in one run, on one queue_log in the page cache.

    python benches/bench_ingest.py            # 5.5 M lines (~410 MB), a few minutes including generation
    python benches/bench_ingest.py --quick    # 500 k lines

Contenders, each run ``--repeat`` times in interleaved rounds (best time kept), so that the machine's drifting
noise hits them alike and the ratios, not the absolute figures, are what to read:

- ccmon through the Python API (``Monitor().feed_file``: Rust, no GIL, one thread), the same pinned to one
  core in a fresh process, fed from Python in 1 MiB chunks, and the CLI ``ccmon replay FILE --output json``
  (wall time of the subprocess, interpreter start and JSON output included);
- a plain pure-Python implementation of the same per-queue counters (the baseline a Python developer would
  write instead of using ccmon); its totals must equal ccmon's, or the comparison would be meaningless;
- polars ``scan_csv`` + streaming ``group_by(queue).len()`` (counts only, far less work than ccmon) and
  polars ``read_csv`` + ``group_by``;
- the horizon: counting newlines with ``wc -l`` and with Python's ``bytes.count`` over 16 MiB chunks;
- where ccmon's own time goes: the Rust engine alone (``examples/replay``, no Python) and the queue_log
  parser alone (``examples/parse_only``: every line split and parsed as ``feed`` does, no engine). Their
  difference is the engine's share. Both are built with cargo at the start.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

import ccmon

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_queue_log import ensure_queue_log

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 16 << 20
SERVICE_LEVEL_SECONDS = 20.0  # SPEC §2 defaults, the ones ccmon's Monitor() uses
SHORT_ABANDON_SECONDS = 5.0


# --- the pure-Python baseline ----------------------------------------------------------------------------


@dataclass(slots=True)
class QueueCounts:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    timed_out: int = 0
    exits: int = 0
    answered_within_sl: int = 0
    wait_sum: float = 0.0  # over answered entries (for the ASA)
    wait_max: float = 0.0  # over every closed entry
    talk_sum: float = 0.0
    talks: int = 0
    transfers: int = 0


WAITING, TALKING, BETWEEN = 0, 1, 2
COMPLETE = (b"COMPLETECALLER", b"COMPLETEAGENT")
EXITS = (b"EXITWITHKEY", b"EXITEMPTY")
TRANSFERS = (b"TRANSFER", b"BLINDTRANSFER", b"ATTENDEDTRANSFER")


def pure_python(path: Path) -> dict[str, QueueCounts]:
    """Per-queue counters with SPEC §2's rules: an outcome counts for a call waiting in that queue, a talk end
    for one talking there, a transfer for one whose current entry is there."""
    queues: dict[bytes, QueueCounts] = {}
    calls: dict[bytes, list[Any]] = {}  # callid -> [queue, entered_at, answered_at, state]
    with open(path, "rb") as f:
        for line in f:
            fields = line.rstrip(b"\r\n").split(b"|")
            if len(fields) < 5:
                continue
            callid, queue, event = fields[1], fields[2], fields[4]
            if event == b"ENTERQUEUE":
                q = queues.get(queue)
                if q is None:
                    q = queues[queue] = QueueCounts()
                q.offered += 1
                calls[callid] = [queue, float(fields[0]), 0.0, WAITING]
                continue
            call = calls.get(callid)
            if call is None or call[0] != queue:
                continue  # agents' lines, RINGNOANSWER of unknown calls, events of another queue
            ts = float(fields[0])
            q = queues[queue]
            state = call[3]
            if event == b"CONNECT":
                if state == WAITING:
                    wait = max(0.0, ts - call[1])
                    q.answered += 1
                    q.wait_sum += wait
                    q.wait_max = max(q.wait_max, wait)
                    if wait <= SERVICE_LEVEL_SECONDS:
                        q.answered_within_sl += 1
                    call[2] = ts
                    call[3] = TALKING
            elif event in COMPLETE:
                if state == TALKING:
                    q.talk_sum += max(0.0, ts - call[2])
                    q.talks += 1
                    del calls[callid]
            elif event == b"ABANDON":
                if state == WAITING:
                    wait = max(0.0, ts - call[1])
                    q.abandoned += 1
                    q.wait_max = max(q.wait_max, wait)
                    if wait < SHORT_ABANDON_SECONDS:
                        q.short_abandoned += 1
                    del calls[callid]
            elif event == b"EXITWITHTIMEOUT" or event in EXITS:
                if state == WAITING:
                    if event == b"EXITWITHTIMEOUT":
                        q.timed_out += 1
                    else:
                        q.exits += 1
                    q.wait_max = max(q.wait_max, max(0.0, ts - call[1]))
                    call[3] = BETWEEN  # the dialplan may send the call into another queue
            elif event in TRANSFERS:
                q.transfers += 1
                if state == TALKING:
                    q.talk_sum += max(0.0, ts - call[2])
                    q.talks += 1
                call[3] = BETWEEN
    return {name.decode(): counts for name, counts in queues.items()}


# --- the contenders ---------------------------------------------------------------------------------------

POLARS_SCHEMA = {n: pl.String for n in ("ts", "call", "queue", "agent", "event", "data1", "data2", "data3")}

PINNED_CHILD = """
import json, os, sys, time
os.sched_setaffinity(0, {int(sys.argv[2])})  # before the extension loads, so nothing runs elsewhere
import ccmon
m = ccmon.Monitor()
t = time.perf_counter()
m.feed_file(sys.argv[1])
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "cpus": sorted(os.sched_getaffinity(0))}))
"""


@dataclass
class Result:
    name: str
    key: str
    times: list[float]
    note: str = ""

    @property
    def best(self) -> float:
        return min(self.times)


class Bench:
    def __init__(self, path: Path, lines: int, pin_core: int) -> None:
        self.path = path
        self.lines = lines
        self.pin_core = pin_core
        self.ccmon_queues: pl.DataFrame | None = None
        self.cli_report: dict[str, Any] | None = None
        self.pure: dict[str, QueueCounts] | None = None
        self.polars_counts: dict[str, int] | None = None
        self.wc_lines: int | None = None
        self.py_lines: int | None = None
        exe = Path(sys.executable).parent / "ccmon"
        self.ccmon_cli = str(exe) if exe.exists() else (shutil.which("ccmon") or "ccmon")

    def ccmon_feed_file(self) -> float:
        m = ccmon.Monitor()
        t = time.perf_counter()
        n = m.feed_file(self.path)
        dt = time.perf_counter() - t
        assert n == self.path.stat().st_size, (n, self.path.stat().st_size)
        self.ccmon_queues = m.queues("all")
        return dt

    def ccmon_feed_chunks(self) -> float:
        # How a Python program that already holds the bytes (a socket, a pipe) would feed: 1 MiB at a time.
        m = ccmon.Monitor()
        t = time.perf_counter()
        with open(self.path, "rb") as f:
            while chunk := f.read(1 << 20):
                m.feed(chunk)
        m.end_of_input()
        return time.perf_counter() - t

    def ccmon_pinned(self) -> float:
        out = subprocess.run(
            [sys.executable, "-c", PINNED_CHILD, str(self.path), str(self.pin_core)],
            capture_output=True,
            text=True,
            check=True,
        )
        res = json.loads(out.stdout)
        assert res["cpus"] == [self.pin_core], res
        return float(res["seconds"])

    def ccmon_cli_replay(self) -> float:
        t = time.perf_counter()
        out = subprocess.run(
            [self.ccmon_cli, "replay", str(self.path), "--output", "json"],
            stdout=subprocess.PIPE,
            check=True,
        )
        dt = time.perf_counter() - t
        self.cli_report = json.loads(out.stdout)
        return dt

    def pure_python(self) -> float:
        t = time.perf_counter()
        self.pure = pure_python(self.path)
        return time.perf_counter() - t

    def polars_streaming(self) -> float:
        t = time.perf_counter()
        df = (
            pl.scan_csv(
                self.path,
                separator="|",
                has_header=False,
                schema=POLARS_SCHEMA,
                quote_char=None,  # queue_log has no quoting; also the fast path
                truncate_ragged_lines=True,  # 6 to 10 fields per line: keep the first 8, pad with nulls
            )
            .group_by("queue")
            .len()
            .collect(engine="streaming")
        )
        dt = time.perf_counter() - t
        self.polars_counts = dict(zip(df["queue"].to_list(), df["len"].to_list(), strict=True))
        return dt

    def polars_read_csv(self) -> float:
        t = time.perf_counter()
        df = pl.read_csv(
            self.path,
            separator="|",
            has_header=False,
            schema=POLARS_SCHEMA,
            quote_char=None,
            truncate_ragged_lines=True,
        )
        counts = df.group_by("queue").len()
        dt = time.perf_counter() - t
        assert int(counts["len"].sum()) == self.lines
        del df, counts
        return dt

    def rust_example(self, name: str) -> float:
        # The example prints "<lines> lines in <seconds> s = ..." and times only its own loop.
        out = subprocess.run(
            [str(ROOT / "target" / "release" / "examples" / name), str(self.path)],
            capture_output=True,
            text=True,
            check=True,
        )
        words = out.stdout.split()
        assert int(words[0]) == self.lines, out.stdout
        return float(words[3])

    def wc_l(self) -> float:
        t = time.perf_counter()
        out = subprocess.run(["wc", "-l", str(self.path)], capture_output=True, text=True, check=True)
        dt = time.perf_counter() - t
        self.wc_lines = int(out.stdout.split()[0])
        return dt

    def python_count(self) -> float:
        t = time.perf_counter()
        n = 0
        with open(self.path, "rb") as f:
            while chunk := f.read(CHUNK):
                n += chunk.count(b"\n")
        dt = time.perf_counter() - t
        self.py_lines = n
        return dt


# --- checks -----------------------------------------------------------------------------------------------


def check_against_baseline(bench: Bench) -> list[str]:
    """ccmon's figures must equal the pure-Python baseline's, queue by queue; returns the mismatches."""
    assert bench.ccmon_queues is not None and bench.pure is not None and bench.cli_report is not None
    problems: list[str] = []
    rows = {r["queue"]: r for r in bench.ccmon_queues.to_dicts()}
    if set(rows) != set(bench.pure):
        problems.append(f"queues differ: {sorted(set(rows) ^ set(bench.pure))}")
    for name, p in bench.pure.items():
        r = rows.get(name)
        if r is None:
            continue
        exact = {
            "offered": p.offered,
            "answered": p.answered,
            "abandoned": p.abandoned,
            "short_abandoned": p.short_abandoned,
            "timed_out": p.timed_out,
            "answered_within_sl": p.answered_within_sl,
            "transfers_out": p.transfers,
        }
        for field, want in exact.items():
            if r[field] != want:
                problems.append(f"{name}.{field}: ccmon {r[field]} != pure Python {want}")
        approx: dict[str, float | None] = {
            "asa_seconds": p.wait_sum / p.answered if p.answered else None,
            "wait_max_seconds": p.wait_max,
            "talk_seconds_mean": p.talk_sum / p.talks if p.talks else None,
        }
        for field, expected in approx.items():
            got = r[field]
            if (got is None) != (expected is None) or (
                got is not None
                and expected is not None
                and abs(got - expected) > 1e-6 * max(1.0, abs(expected))
            ):
                problems.append(f"{name}.{field}: ccmon {got} != pure Python {expected}")
    cli = {q["queue"]: q for q in bench.cli_report["queues"]}
    for name, r in rows.items():
        c = cli.get(name, {})
        for field in ("offered", "answered", "abandoned"):
            if c.get(field) != r[field]:
                problems.append(f"{name}.{field}: ccmon replay {c.get(field)} != Monitor {r[field]}")
    if bench.polars_counts is not None and sum(bench.polars_counts.values()) != bench.lines:
        problems.append(f"polars counted {sum(bench.polars_counts.values())} rows, not {bench.lines}")
    for who, n in (("wc -l", bench.wc_lines), ("Python count", bench.py_lines)):
        if n != bench.lines:
            problems.append(f"{who} counted {n} lines, not {bench.lines}")
    return problems


def totals(bench: Bench) -> str:
    assert bench.ccmon_queues is not None and bench.pure is not None
    c = {k: int(bench.ccmon_queues[k].sum()) for k in ("offered", "answered", "abandoned")}
    p = {k: sum(getattr(q, k) for q in bench.pure.values()) for k in ("offered", "answered", "abandoned")}
    return (
        f"ccmon:       offered {c['offered']:,}  answered {c['answered']:,}  abandoned {c['abandoned']:,}\n"
        f"pure Python: offered {p['offered']:,}  answered {p['answered']:,}  abandoned {p['abandoned']:,}"
    )


def build_stamp() -> str:
    """When the installed extension was built: other work may rebuild it between two bench runs."""
    from ccmon import _core

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(str(_core.__file__))))


# --- main -------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=None, help="lines in the generated log (default 5,500,000)")
    ap.add_argument("--quick", action="store_true", help="500,000 lines")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best time of each contender is kept")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument(
        "--ring-all",
        type=int,
        default=0,
        help="agents rung at once per ring cycle, as with Asterisk's ringall (default 0: one at a time)",
    )
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench-data")
    ap.add_argument("--pin-core", type=int, default=0, help="the core the pinned run is confined to")
    args = ap.parse_args()
    lines = args.lines or (500_000 if args.quick else 5_500_000)

    path = ensure_queue_log(args.data_dir, lines, args.seed, args.days, args.ring_all)
    subprocess.run(
        "cargo build --release -q -p ccmon-core --example replay --example parse_only".split(),
        cwd=ROOT,
        check=True,
    )
    size = path.stat().st_size
    bench = Bench(path, lines, args.pin_core)
    bench.python_count()  # brings the file into the page cache: every contender then reads from memory

    contenders: list[tuple[str, str, Callable[[], float]]] = [
        ("ccmon `Monitor().feed_file` (Python API)", "ccmon", bench.ccmon_feed_file),
        (f"ccmon `feed_file`, pinned to core {args.pin_core}", "pinned", bench.ccmon_pinned),
        ("ccmon `Monitor().feed`, 1 MiB chunks", "chunks", bench.ccmon_feed_chunks),
        ("ccmon `replay --output json` (CLI, wall)", "cli", bench.ccmon_cli_replay),
        (
            "ccmon engine in Rust alone (`examples/replay`, no Python)",
            "rust",
            lambda: bench.rust_example("replay"),
        ),
        (
            "ccmon queue_log parser alone (`examples/parse_only`, no engine)",
            "parser",
            lambda: bench.rust_example("parse_only"),
        ),
        ("pure Python (`bytes.split` + dicts)", "pure", bench.pure_python),
        ("polars `scan_csv` streaming `group_by.len` (counts only)", "polars_stream", bench.polars_streaming),
        ("polars `read_csv` + `group_by.len`", "polars_read", bench.polars_read_csv),
        ("`wc -l`", "wc", bench.wc_l),
        ("Python `bytes.count(b'\\n')`, 16 MiB chunks", "pycount", bench.python_count),
    ]
    results = [Result(name, key, []) for name, key, _ in contenders]
    print(f"file: {path} — {lines:,} lines, {size / 1e6:.0f} MB, {size / lines:.1f} bytes/line (page cache)")
    stamp = build_stamp()
    print(f"ccmon extension built {stamp}")
    print(
        f"{args.repeat} interleaved rounds; polars uses {pl.thread_pool_size()} threads, ccmon one",
        flush=True,
    )
    for rnd in range(args.repeat):
        for (_, _, fn), res in zip(contenders, results, strict=True):
            gc.collect()  # leftovers of one contender must not be collected on another's clock
            res.times.append(fn())
        print(f"  round {rnd + 1}: " + ", ".join(f"{r.key} {r.times[-1]:.2f}s" for r in results), flush=True)

    if build_stamp() != stamp:
        # The subprocess contenders load the extension anew, the in-process ones do not: a mixed run.
        print(f"WARNING: the extension was rebuilt during this run ({build_stamp()}); run the bench again")
    problems = check_against_baseline(bench)
    print("\nTotals (the comparison is honest only if these agree):")
    print(totals(bench))
    if problems:
        print("MISMATCH between ccmon and the pure-Python baseline:")
        for p in problems[:30]:
            print("  " + p)
    else:
        print(
            "ccmon == pure Python for offered, answered, abandoned, short_abandoned, timed_out, "
            "answered_within_sl, transfers_out, ASA, max wait and mean talk, in every queue;\n"
            "replay JSON == Monitor; polars, wc -l and Python counted every line."
        )

    by = {r.key: r for r in results}
    ccmon_best = by["ccmon"].best

    def speed_ratio(key: str) -> float:
        # How many times faster ccmon (Python API) is than this contender: its time / ccmon's time.
        return by[key].best / ccmon_best

    print(f"\nResults (best of {args.repeat}):")
    for r in results:
        print(
            f"  {r.name:<60} {r.best:7.2f} s  {lines / r.best / 1e6:6.2f} M lines/s  "
            f"{size / r.best / 1e6:7.0f} MB/s   all: {' '.join(f'{t:.2f}' for t in r.times)}"
        )
    print("\nRatios (ccmon Python API lines/s ÷ the other's lines/s):")
    print(f"  ccmon / pure Python          {speed_ratio('pure'):6.1f}×")
    print(f"  ccmon / polars streaming     {speed_ratio('polars_stream'):6.2f}×  (counts only, 2 threads)")
    print(f"  ccmon / polars read_csv      {speed_ratio('polars_read'):6.2f}×")
    print(f"  ccmon / wc -l                {speed_ratio('wc'):6.3f}×  (wc -l is the horizon: a newline scan)")
    pinned = ccmon_best / by["pinned"].best
    print(f"  ccmon pinned / ccmon         {pinned:6.2f}×  (1.0: a second core does not help)")
    parse_share = by["parser"].best / by["rust"].best
    print(
        f"  parsing's share of the Rust run {parse_share:6.0%}  (the rest, "
        f"{(by['rust'].best - by['parser'].best) / lines * 1e9:.0f} ns a line, is the engine)"
    )

    cmd = "python benches/bench_ingest.py" + ("" if lines == 5_500_000 else f" --lines {lines}")
    env = f"{os.cpu_count()} vCPU, Python {platform.python_version()}, polars {pl.__version__}"
    print(f"\nMarkdown (ready for the README) — `{cmd}`, {env}, ccmon {ccmon.__version__};")
    print(f"{lines / 1e6:g} M lines, {size / 1e6:.0f} MB, in the page cache:\n")
    print("| contender | seconds | M lines/s | its time ÷ ccmon's |")
    print("|---|---:|---:|---:|")
    for r in results:
        print(f"| {r.name} | {r.best:.2f} | {lines / r.best / 1e6:.2f} | {speed_ratio(r.key):.2f} |")
    print(f"\n_(best of {args.repeat} interleaved rounds; ratios are what to compare, the machine is noisy)_")
    json_path = args.data_dir / f"bench_ingest-{lines}.json"
    json_path.write_text(json.dumps({"lines": lines, "bytes": size, "results": [asdict(r) for r in results]}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
