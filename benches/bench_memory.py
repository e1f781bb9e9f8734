"""Memory per call in progress, at 1,000,000 calls waiting at once (target: at most 256 bytes per call).

    python benches/bench_memory.py             # 1,000,000 calls
    python benches/bench_memory.py --quick     # 100,000 calls

Each measurement runs in a fresh interpreter, so that nothing another one allocated (or freed into the
allocator's free lists) blurs it. The child first builds the input, 1,000,000 ENTERQUEUE lines in 1 MiB
chunks, with distinct 17-character callids such as ``1700000000.123456``, spread over 50 queues and one hour
of event time, no outcomes (every call stays waiting); it then reads VmRSS from /proc/self/status, feeds the
chunks, and reads VmRSS again. The difference over the number of calls is what ccmon holds per call: the
call table, its expiry queue, the journey, the caller history (SPEC §6 needs it for repeat callers).

Contenders, each in its own process:
- ccmon with a distinct caller number per call (the realistic case: the repeat-caller table grows too);
- ccmon with no caller number (empty data2), which leaves the caller table empty;
- the Python baseline: ``{callid: (queue, ts)}`` built from the same lines, the least a Python monitor
  could hold per waiting call (str keys, queue names shared, float timestamps).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from typing import Any

TARGET_BYTES = 256
QUEUES = 50
CHUNK = 1 << 20


def vm_rss() -> int:
    """Resident set size of this process, in bytes (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def build_chunks(n: int, callers: bool) -> list[bytes]:
    """``n`` ENTERQUEUE lines over one hour of event time, cut into ~1 MiB chunks at line ends."""
    base = 1_700_000_000
    lines = []
    for i in range(n):
        sec = base + i * 3600 // n
        # "1700000000.123456": epoch.sequence like Asterisk's uniqueid, 17 characters, distinct through i.
        caller = f"06{i:08d}" if callers else ""
        lines.append(f"{sec}|{sec}.{i:06d}|queue-{i % QUEUES:02d}|NONE|ENTERQUEUE||{caller}|1\n")
    chunks, buf, size = [], [], 0
    for line in lines:
        buf.append(line)
        size += len(line)
        if size >= CHUNK:
            chunks.append("".join(buf).encode())
            buf, size = [], 0
    if buf:
        chunks.append("".join(buf).encode())
    return chunks


def child_ccmon(n: int, callers: bool) -> dict[str, Any]:
    import ccmon

    chunks = build_chunks(n, callers)
    m = ccmon.Monitor()
    m.feed(b"")  # registers the source, so only per-call state is left to measure
    gc.collect()
    before = vm_rss()
    t = time.perf_counter()
    for chunk in chunks:
        m.feed(chunk)
    seconds = time.perf_counter() - t
    after = vm_rss()
    in_progress = m.calls_in_progress()
    waiting = int(m.queues("all")["waiting_now"].sum())
    return {"before": before, "after": after, "calls": in_progress, "waiting": waiting, "seconds": seconds}


def child_dict(n: int) -> dict[str, Any]:
    chunks = build_chunks(n, callers=True)
    gc.collect()
    before = vm_rss()
    t = time.perf_counter()
    calls: dict[str, tuple[str, float]] = {}
    queues: dict[str, str] = {}  # one str per queue name, not one per call
    for chunk in chunks:
        for line in chunk.decode().splitlines():
            fields = line.split("|")
            queue = queues.setdefault(fields[2], fields[2])
            calls[fields[1]] = (queue, float(fields[0]))
    seconds = time.perf_counter() - t
    gc.collect()
    after = vm_rss()
    return {"before": before, "after": after, "calls": len(calls), "waiting": len(calls), "seconds": seconds}


def build_stamp() -> str:
    """When the installed extension was built: other work may rebuild it between two bench runs."""
    from ccmon import _core

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(str(_core.__file__))))


def run_child(kind: str, n: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--calls", str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    res: dict[str, Any] = json.loads(out.stdout)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=None, help="calls in progress (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="100,000 calls")
    ap.add_argument("--repeat", type=int, default=3, help="fresh processes per contender; the median is kept")
    ap.add_argument("--child", choices=("ccmon", "ccmon-nocaller", "dict"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    n = args.calls or (100_000 if args.quick else 1_000_000)

    if args.child:
        if args.child == "dict":
            res = child_dict(n)
        else:
            res = child_ccmon(n, callers=args.child == "ccmon")
        print(json.dumps(res))
        return 0

    contenders = [
        ("ccmon, distinct caller per call", "ccmon"),
        ("ccmon, no caller number", "ccmon-nocaller"),
        ("Python dict {callid: (queue, ts)}", "dict"),
    ]
    print(
        f"{n:,} ENTERQUEUE lines, distinct 17-char callids, {QUEUES} queues, 1 h of event time, no outcomes"
    )
    print(f"ccmon extension built {build_stamp()}")
    print(f"each figure: median of {args.repeat} fresh processes, RSS after feeding − RSS before\n")
    per_call: dict[str, float] = {}
    ok = True
    for name, kind in contenders:
        runs = []
        for _ in range(args.repeat):  # interleaving is not needed: RSS does not depend on the machine's load
            res = run_child(kind, n)
            if res["calls"] != n or res["waiting"] != n:
                print(f"  {name}: holds {res['calls']:,} calls ({res['waiting']:,} waiting), expected {n:,}")
                ok = False
            runs.append(res)
        runs.sort(key=lambda r: r["after"] - r["before"])
        mid = runs[len(runs) // 2]
        per_call[kind] = (mid["after"] - mid["before"]) / n
        check = "calls_in_progress() == {:,}".format(mid["calls"]) if kind != "dict" else f"len == {n:,}"
        print(
            f"  {name:<36} {per_call[kind]:7.1f} bytes/call   "
            f"(RSS {mid['before'] / 2**20:6.1f} → {mid['after'] / 2**20:6.1f} MiB, "
            f"fed in {mid['seconds']:.2f} s; {check}; all: "
            + " ".join(f"{(r['after'] - r['before']) / n:.1f}" for r in runs)
            + ")"
        )
    ccmon_b = per_call["ccmon"]
    verdict = "meets" if ccmon_b <= TARGET_BYTES else "MISSES"
    print(
        f"\nccmon: {ccmon_b:.0f} bytes per call in progress — {verdict} the target of ≤ {TARGET_BYTES} bytes"
    )
    print(
        f"ccmon / Python dict:                 {ccmon_b / per_call['dict']:.2f}×  (lower is better for ccmon)"
    )
    print(f"ccmon without callers / Python dict: {per_call['ccmon-nocaller'] / per_call['dict']:.2f}×")
    print(f"caller history share:                {ccmon_b - per_call['ccmon-nocaller']:.0f} bytes/call")
    cmd = "python benches/bench_memory.py" + ("" if n == 1_000_000 else f" --calls {n}")
    print(f"\n| `{cmd}` | bytes per call in progress |\n|---|---:|")
    for name, kind in contenders:
        print(f"| {name} | {per_call[kind]:.0f} |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
