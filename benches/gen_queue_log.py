"""Generates a realistic Asterisk queue_log for the benchmarks, fast and reproducibly.

    python benches/gen_queue_log.py bench-data --lines 5500000 --seed 1

writes ``bench-data/queue_log-l5500000-s1-d14-v1.log`` (the parameters are in the name, so an existing file is
reused as is) and prints its path. What it holds:

- 20 queues with Zipf-like traffic shares and their own answer speed, caller patience, timeout, talk length
  and transfer rate; calls arrive over ``--days`` days following an hour-of-week profile (office hours peak,
  quiet nights, quieter weekends, a per-day factor): rates vary a hundredfold over a week;
- per call: ENTERQUEUE (data1 empty, data2 the caller, data3 the position), RINGNOANSWER lines while it waits,
  then CONNECT + COMPLETECALLER/COMPLETEAGENT, or ABANDON, or EXITWITHTIMEOUT (sometimes followed by the
  same call entering an overflow queue); some answered calls are TRANSFERred and re-enter another queue with
  the same callid;
- agents' PAUSE/UNPAUSE lines (no call);
- callers drawn from a large pool plus a small set of frequent callers (repeat callers), 2 % anonymous;
- integer timestamps, nondecreasing over the file; ~75 bytes per line; the file is cut at exactly ``--lines``
  lines, so the last calls are still in progress, as in a live log.

Speed: calls are generated in 15-minute blocks of event time, each from its own seeded RNG; a block's lines
are the events with timestamps in it, from calls of that block and of the few blocks before it (a call lasts
at most MAX_SPAN). Bucketing events by their integer second keeps them in time order without a sort, and
since any block can be regenerated on its own, both cores each write half of the file; the output does not
depend on the number of workers.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import sys
import time
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1
START_EPOCH = 1_700_438_400  # Monday 2023-11-20 00:00 UTC: the profile below starts on a Monday.
BLOCK_SECONDS = 900
MAX_HOPS = 3  # transfers or overflows per call; bounds a call's span
MAX_TALK = 3000
MAX_SPAN = (MAX_HOPS + 1) * (600 + MAX_TALK + 5)  # longest possible call: timeout/answer + talk + gap per hop
LOOKBACK_BLOCKS = math.ceil(MAX_SPAN / BLOCK_SECONDS)
MARGIN = 1.04  # generate a little more than asked, then cut at exactly --lines

# Share of a weekday's calls per hour (UTC is taken as local time): quiet nights, two peaks.
HOURLY = [
    0.02, 0.015, 0.01, 0.01, 0.01, 0.02, 0.05, 0.3, 0.8, 1.0, 1.0, 0.95,
    0.7, 0.8, 0.95, 0.9, 0.8, 0.6, 0.35, 0.2, 0.12, 0.08, 0.05, 0.03,
]  # fmt: skip
PAUSE_REASONS = ("Break", "Lunch", "Meeting", "Training", "")
WEEKDAY = [1.2, 1.05, 1.0, 1.0, 0.9, 0.35, 0.25]  # Monday first


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    share: float
    answer_mean: float  # mean seconds until an agent picks up, at full load
    patience_mean: float  # mean seconds a caller waits before hanging up
    timeout: int  # queue timeout (EXITWITHTIMEOUT)
    talk_median: float
    transfer_p: float
    agents: tuple[str, ...]
    overflow: int  # index of the queue a timed-out caller is sent to


QUEUE_NAMES = [
    "support", "sales", "billing", "support-es", "tech-l2", "retention", "orders", "returns", "claims",
    "helpdesk", "accounts", "collections", "callback", "partners", "shipping", "warranty", "onboarding",
    "fraud", "vip-care", "supervisors",
]  # fmt: skip


def make_queues(seed: int) -> list[Queue]:
    rng = random.Random(f"queues-{seed}")
    queues = []
    for i, name in enumerate(QUEUE_NAMES):
        # FreePBX writes Local channels for queue members, plain PJSIP endpoints elsewhere.
        fmt = "Local/{}@from-queue/n" if i % 3 else "PJSIP/{}"
        first = 2000 + 100 * i
        agents = tuple(fmt.format(first + k) for k in range(rng.randint(8, 60)))
        queues.append(
            Queue(
                name=name,
                share=1.0 / (i + 1) ** 0.8,
                answer_mean=rng.uniform(5, 35),
                patience_mean=rng.uniform(60, 180),
                timeout=rng.choice((90, 120, 180, 300, 600)),
                talk_median=rng.uniform(90, 420),
                transfer_p=rng.uniform(0.02, 0.1),
                agents=agents,
                overflow=(i + rng.randint(1, len(QUEUE_NAMES) - 1)) % len(QUEUE_NAMES),
            )
        )
    return queues


@dataclass(frozen=True, slots=True)
class Plan:
    seed: int
    days: int
    queues: list[Queue]
    cum_shares: list[float]
    block_calls: list[float]  # expected calls starting in each block
    block_load: list[float]  # 0..1: how busy agents are (waits grow with load)
    caller_pool: int
    hot_callers: int
    # 0: one agent rung per ring cycle (round-robin strategies); N: N agents rung at once (Asterisk's
    # ringall, as in ../shared/data/queue_log-freepbx-2010: a RINGNOANSWER line per agent per cycle).
    ring_all: int = 0


def profile(seed: int, days: int) -> list[float]:
    """Relative arrival rate of every block."""
    rng = random.Random(f"days-{seed}")
    day_factor = [rng.uniform(0.85, 1.15) for _ in range(days)]
    weights = []
    for b in range(days * 86400 // BLOCK_SECONDS):
        t = b * BLOCK_SECONDS
        day, hour = divmod(t // 3600, 24)
        weights.append(HOURLY[hour] * WEEKDAY[day % 7] * day_factor[day])
    return weights


def block_seed(seed: int, block: int) -> int:
    return seed * 1_000_003 + block


def poisson(rng: random.Random, mu: float) -> int:
    if mu < 30:  # Knuth's method; exact where the normal approximation is poor
        limit, k, p = math.exp(-mu), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(mu, math.sqrt(mu))))


def gen_block(plan: Plan, b: int, buckets: defaultdict[int, list[str]]) -> None:
    """Generates the calls starting in block ``b``, appending each event line to ``buckets[timestamp]``."""
    rng = random.Random(block_seed(plan.seed, b))
    queues = plan.queues
    nq = len(queues)
    load = plan.block_load[b]
    n = poisson(rng, plan.block_calls[b])
    base = START_EPOCH + b * BLOCK_SECONDS
    starts = sorted(rng.randrange(BLOCK_SECONDS) for _ in range(n))
    rand = rng.random
    seq0 = 10_000 + (b * 7919) % 80_000
    for i, off in enumerate(starts):
        t = base + off
        # Asterisk's uniqueid is epoch.sequence. (t, seq0 + i) is unique: i is unique in the block and t lies
        # in this block only.
        cid = f"{t}.{seq0 + i}"
        r = rand()
        if r < 0.02:
            caller = "anonymous"
        elif r < 0.12:
            caller = f"07{rng.randrange(plan.hot_callers):08d}"
        else:
            caller = f"06{rng.randrange(plan.caller_pool):08d}"
        q = min(bisect_right(plan.cum_shares, rand() * plan.cum_shares[-1]), nq - 1)
        for hop in range(MAX_HOPS + 1):
            Q = queues[q]
            pos = rng.randint(1, 6)
            buckets[t].append(f"{t}|{cid}|{Q.name}|NONE|ENTERQUEUE||{caller}|{pos}")
            wait = int(rng.expovariate(1.0 / (Q.answer_mean * (0.3 + load))))
            patience = int(rng.expovariate(1.0 / Q.patience_mean))
            end = min(wait, patience, Q.timeout)
            # Agents rung without answering while the caller waits (15 s ring timeout).
            ring = rng.randint(0, 5) + 15
            while ring <= end and rand() < 0.7:
                for _ in range(plan.ring_all or 1):
                    agent = Q.agents[rng.randrange(len(Q.agents))]
                    buckets[t + ring].append(f"{t + ring}|{cid}|{Q.name}|{agent}|RINGNOANSWER|15000")
                ring += 15 + rng.randint(0, 5)
            if end == wait:
                ta = t + wait
                agent = Q.agents[rng.randrange(len(Q.agents))]
                buckets[ta].append(
                    f"{ta}|{cid}|{Q.name}|{agent}|CONNECT|{wait}|{ta}.{seq0 + i + 1}|{rng.randint(1, 9)}"
                )
                talk = min(MAX_TALK, 1 + int(rng.lognormvariate(math.log(Q.talk_median), 0.8)))
                te = ta + talk
                if hop < MAX_HOPS and rand() < Q.transfer_p:
                    buckets[te].append(
                        f"{te}|{cid}|{Q.name}|{agent}|TRANSFER|{8000 + q}|from-internal|{wait}|{talk}|{pos}"
                    )
                    t = te + rng.randint(1, 4)
                    q = (q + 1 + rng.randrange(nq - 1)) % nq
                    continue
                event = "COMPLETECALLER" if rand() < 0.55 else "COMPLETEAGENT"
                buckets[te].append(f"{te}|{cid}|{Q.name}|{agent}|{event}|{wait}|{talk}|{pos}")
            elif end == patience:
                buckets[t + end].append(f"{t + end}|{cid}|{Q.name}|NONE|ABANDON|{pos}|{pos}|{end}")
            else:
                buckets[t + end].append(f"{t + end}|{cid}|{Q.name}|NONE|EXITWITHTIMEOUT|{pos}|{pos}|{end}")
                if hop < MAX_HOPS and rand() < 0.4:  # the dialplan sends the caller on to an overflow queue
                    t = t + end + 1
                    q = Q.overflow
                    continue
            break
    # Agents pausing for a break: lines that name no call, as in a real log.
    for _ in range(poisson(rng, n * 0.03)):
        Q = queues[min(bisect_right(plan.cum_shares, rand() * plan.cum_shares[-1]), nq - 1)]
        agent = Q.agents[rng.randrange(len(Q.agents))]
        tp = base + rng.randrange(BLOCK_SECONDS)
        tu = tp + rng.randint(60, 900)
        buckets[tp].append(f"{tp}|NONE|{Q.name}|{agent}|PAUSE|{rng.choice(PAUSE_REASONS)}")
        buckets[tu].append(f"{tu}|NONE|{Q.name}|{agent}|UNPAUSE|")


def write_blocks(plan: Plan, lo: int, hi: int, path: str) -> list[tuple[int, int]]:
    """Writes the events of blocks [lo, hi) to ``path``; returns (lines, bytes) written per block."""
    buckets: defaultdict[int, list[str]] = defaultdict(list)
    for b in range(max(0, lo - LOOKBACK_BLOCKS), lo):  # calls still running when block lo starts
        gen_block(plan, b, buckets)
    first = START_EPOCH + lo * BLOCK_SECONDS
    for ts in [ts for ts in buckets if ts < first]:
        del buckets[ts]
    sizes = []
    with open(path, "w", encoding="ascii", newline="\n") as f:
        for b in range(lo, hi):
            gen_block(plan, b, buckets)
            start = START_EPOCH + b * BLOCK_SECONDS
            out: list[str] = []
            for ts in range(start, start + BLOCK_SECONDS):
                lines = buckets.pop(ts, None)
                if lines:
                    out.extend(lines)
            text = "\n".join(out) + "\n" if out else ""
            f.write(text)
            sizes.append((len(out), len(text)))
    return sizes


def mean_lines_per_call(plan: Plan) -> float:
    """Pilot: lines per call at a typical load, from a throwaway block of 20,000 calls."""
    pilot = Plan(
        plan.seed + 7919,
        plan.days,
        plan.queues,
        plan.cum_shares,
        [20_000.0],
        [0.6],
        plan.caller_pool,
        1000,
        plan.ring_all,
    )
    buckets: defaultdict[int, list[str]] = defaultdict(list)
    gen_block(pilot, 0, buckets)
    return sum(len(v) for v in buckets.values()) / 20_000


def file_name(lines: int, seed: int, days: int, ring_all: int = 0) -> str:
    ring = f"-r{ring_all}" if ring_all else ""
    return f"queue_log-l{lines}-s{seed}-d{days}{ring}-v{FORMAT_VERSION}.log"


def ensure_queue_log(
    out_dir: str | os.PathLike[str], lines: int, seed: int = 1, days: int = 14, ring_all: int = 0
) -> Path:
    """Returns the path of the generated file, generating it first unless it already exists."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / file_name(lines, seed, days, ring_all)
    if path.exists():
        return path
    t0 = time.perf_counter()
    queues = make_queues(seed)
    cum, acc = [], 0.0
    for q in queues:
        acc += q.share
        cum.append(acc)
    weights = profile(seed, days)
    peak = max(weights)
    plan = Plan(seed, days, queues, cum, [], [w / peak for w in weights], 1, 1, ring_all)
    per_call = mean_lines_per_call(plan)
    calls = lines * MARGIN / per_call
    total_w = sum(weights)
    plan = Plan(
        seed,
        days,
        queues,
        cum,
        [calls * w / total_w for w in weights],
        [w / peak for w in weights],
        # Repeat calls (same caller within 24 h): ~8 % of the big pool's calls, most of the frequent callers'.
        caller_pool=max(1000, int(calls * 0.8)),
        hot_callers=max(100, int(calls / 400)),
        ring_all=ring_all,
    )
    nblocks = len(weights)
    # Split the blocks so that each worker writes about the same number of lines.
    workers = max(1, min(os.cpu_count() or 1, 8))
    bounds, cum_w, k = [0], 0.0, 1
    for b, w in enumerate(weights):
        cum_w += w
        if k < workers and cum_w >= total_w * k / workers:
            bounds.append(b + 1)
            k += 1
    bounds.append(nblocks)
    parts = [f"{path}.part{j}" for j in range(len(bounds) - 1)]
    jobs = [(plan, bounds[j], bounds[j + 1], parts[j]) for j in range(len(parts))]
    try:
        with multiprocessing.get_context("fork").Pool(len(jobs)) as pool:
            sizes = pool.starmap(write_blocks, jobs)
        total = sum(n for part in sizes for n, _ in part)
        if total < lines:
            raise SystemExit(f"generated only {total} lines for {lines}; raise MARGIN")
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as out_f:
            remaining = lines
            for part, part_sizes in zip(parts, sizes, strict=True):
                if remaining == 0:
                    break
                nbytes = 0
                for n, size in part_sizes:
                    if n >= remaining:
                        # Cut inside this block: find the end of its remaining-th line.
                        with open(part, "rb") as f:
                            f.seek(nbytes)
                            chunk = f.read(size)
                        cut = -1
                        for _ in range(remaining):
                            cut = chunk.index(b"\n", cut + 1)
                        nbytes += cut + 1
                        remaining = 0
                        break
                    remaining -= n
                    nbytes += size
                with open(part, "rb") as f:
                    copied = 0
                    while copied < nbytes:
                        copied += os.sendfile(out_f.fileno(), f.fileno(), copied, nbytes - copied)
        os.replace(tmp, path)  # atomic: an interrupted run never leaves a file that looks complete
    finally:
        for p in [*parts, f"{path}.tmp"]:
            if os.path.exists(p):
                os.remove(p)
    size = path.stat().st_size
    print(
        f"generated {path}: {lines:,} lines, {size / 1e6:.0f} MB ({size / lines:.1f} bytes/line), "
        f"{calls / MARGIN:,.0f} calls, {days} days, in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="directory for the file (created if missing), e.g. bench-data")
    ap.add_argument("--lines", type=int, default=5_500_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--ring-all", type=int, default=0, help="agents rung at once per ring cycle (0: one)")
    args = ap.parse_args()
    print(ensure_queue_log(args.out, args.lines, args.seed, args.days, args.ring_all))


if __name__ == "__main__":
    main()
