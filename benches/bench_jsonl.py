"""JSON-lines ingest speed: ccmon against a pure-Python parser of the same format, side by side in one run.

    python benches/bench_jsonl.py            # 1 M events (~100 MB of JSON lines), about a minute
    python benches/bench_jsonl.py --quick    # 200 k events

The input is the generated queue_log of benches/gen_queue_log.py with every line rewritten as the JSON object
a switch would send for it (SPEC §7, each with an ``id``), so the same calls are also timed as queue_log.
Contenders, in interleaved rounds (best time kept):

- ccmon ``Monitor().feed_file(path, format="jsonl")``: the Rust parser (serde, borrowing strings) and the full
  engine, every figure kept current;
- the same events as queue_log, to show what the JSON costs over the engine's own work;
- a pure-Python parser of the same format doing only a parser's work: ``json.loads`` per line (CPython's C
  accelerator), the checks ccmon makes (an object, a known ``type``, the fields that type needs, ``ts`` a
  number in range) and dropping repeated ``id``s; no figures at all;
- ccmon's JSON-lines parser alone, in Rust without the engine (``examples/parse_only --format jsonl``): the
  same work as the pure-Python parser but the id check, so theirs is the parser-to-parser ratio.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rust_parser import build, converted, parse_only, rounds

import ccmon

TYPES = {
    "ENTERQUEUE": "enter",
    "CONNECT": "answer",
    "ABANDON": "abandon",
    "EXITWITHTIMEOUT": "timeout",
    "EXITWITHKEY": "exit_key",
    "EXITEMPTY": "exit_empty",
    "COMPLETECALLER": "talk_end",
    "COMPLETEAGENT": "talk_end",
    "TRANSFER": "transfer",
    "RINGNOANSWER": "ring_noanswer",
    "PAUSE": "agent_pause",
    "UNPAUSE": "agent_unpause",
}
QUEUE_TYPES = "enter ring ring_noanswer answer talk_end abandon timeout exit_key exit_empty transfer".split()
NEEDS = {
    **dict.fromkeys(QUEUE_TYPES, ("call", "queue")),
    **dict.fromkeys(["hold_start", "hold_stop", "moh_start", "moh_stop", "ivr_option"], ("call",)),
    **dict.fromkeys(["agent_login", "agent_logoff", "agent_pause", "agent_unpause"], ("agent",)),
}


def to_jsonl(queue_log: Path, out: Path) -> None:
    """Rewrites every queue_log line as a JSON object (written once; reused while it exists)."""
    with open(queue_log, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for n, line in enumerate(src):
            ts, call, queue, agent, name, *data = line.rstrip("\n").split("|")
            obj: dict[str, object] = {"ts": int(ts), "type": TYPES.get(name, name.lower()), "id": n}
            if call != "NONE":
                obj["call"] = call
            if queue != "NONE":
                obj["queue"] = queue
            if agent != "NONE":
                obj["agent"] = agent
            if name == "ENTERQUEUE" and len(data) > 1:
                obj["caller"] = data[1]
            dst.write(json.dumps(obj, separators=(",", ":")) + "\n")


def pure_python(path: Path) -> tuple[int, int]:
    """(valid events, rejected or unknown lines): a parser's checks, no figures."""
    seen: set[object] = set()
    ok = bad = 0
    loads = json.loads
    with open(path, "rb") as f:
        for line in f:
            try:
                obj = loads(line)
            except ValueError:
                bad += 1
                continue
            if not isinstance(obj, dict):
                bad += 1
                continue
            needs = NEEDS.get(obj.get("type"))  # type: ignore[arg-type]
            ts = obj.get("ts")
            if (
                needs is None
                or not isinstance(ts, int | float)
                or not 0 <= ts <= 32_503_680_000
                or any(not isinstance(obj.get(k), str) or not obj[k] for k in needs)
            ):
                bad += 1
                continue
            ident = obj.get("id")
            if ident is not None:
                if ident in seen:
                    continue
                seen.add(ident)
            ok += 1
    return ok, bad


def main() -> int:
    args, lines, queue_log, path = converted(__doc__ or "", ".jsonl", to_jsonl)
    size = path.stat().st_size
    print(f"file: {path} — {lines:,} events, {size / 1e6:.0f} MB, {size / lines:.0f} bytes/line")

    figures: dict[str, object] = {}
    build()

    def rust_parser() -> float:
        secs, events, rejected = parse_only(path, "jsonl")
        figures["parser"] = (events, rejected)
        return secs

    def ccmon_jsonl() -> float:
        m = ccmon.Monitor()
        t = time.perf_counter()
        m.feed_file(path, "jsonl")
        dt = time.perf_counter() - t
        (src,) = m.sources()
        figures["ccmon"] = (src["ingested"], src["rejected"] + src["unknown"])
        figures["ccmon_offered"] = int(m.queues()["offered"].sum())
        return dt

    def ccmon_queue_log() -> float:
        m = ccmon.Monitor()
        t = time.perf_counter()
        m.feed_file(queue_log, "queue_log")
        dt = time.perf_counter() - t
        figures["queue_log_offered"] = int(m.queues()["offered"].sum())
        return dt

    def python_parser() -> float:
        t = time.perf_counter()
        figures["python"] = pure_python(path)
        return time.perf_counter() - t

    contenders = {
        'ccmon `feed_file(format="jsonl")` (parser + engine)': ccmon_jsonl,
        "ccmon, the same events as queue_log": ccmon_queue_log,
        "pure Python `json.loads` + checks (parser only)": python_parser,
        "ccmon JSON-lines parser alone (Rust `examples/parse_only`)": rust_parser,
    }
    best = rounds(contenders, args.repeat)
    names = list(contenders)
    print(f"\nResults (best of {args.repeat}):")
    for name in names:
        print(f"  {name:<55} {best[name]:6.2f} s  {lines / best[name] / 1e6:6.2f} M events/s")
    ratio = best[names[2]] / best[names[0]]
    print(f"\n  ccmon (parser + engine) / pure-Python parser: {ratio:.1f}×")
    parsers = best[names[2]] / best[names[3]]
    print(f"  ccmon parser / pure-Python parser:            {parsers:.1f}×  (target: 30×)")
    print(f"  JSON lines cost over queue_log in ccmon:      {best[names[0]] / best[names[1]]:.2f}×")
    problems = []
    if figures["parser"] != figures["python"]:
        problems.append(f"valid/invalid: Rust parser {figures['parser']} != pure Python {figures['python']}")
    if figures["ccmon"] != figures["python"]:
        problems.append(f"valid/invalid: ccmon {figures['ccmon']} != pure Python {figures['python']}")
    if figures["ccmon_offered"] != figures["queue_log_offered"]:
        a, b = figures["ccmon_offered"], figures["queue_log_offered"]
        problems.append(f"offered: jsonl {a} != queue_log {b}")
    agree = "ccmon and pure Python agree on valid events; JSON lines and queue_log give the same offered"
    print("\nChecks: " + ("; ".join(problems) if problems else agree))
    print("\n| contender | seconds | M events/s | its time ÷ ccmon's |\n|---|---:|---:|---:|")
    for name in names:
        per_s = lines / best[name] / 1e6
        print(f"| {name} | {best[name]:.2f} | {per_s:.2f} | {best[name] / best[names[0]]:.2f} |")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
