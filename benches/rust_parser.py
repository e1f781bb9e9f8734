"""ccmon's parser of one format alone, in Rust without the engine (``examples/parse_only``), for the benches
that set it beside a pure-Python parser: parser against parser, the same work on both sides."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build() -> None:
    subprocess.run(
        "cargo build --release -q -p ccmon-core --example parse_only".split(), cwd=ROOT, check=True
    )


def parse_only(path: Path, format: str) -> tuple[float, int, int]:
    """(seconds of the parse loop, events, rejected) for ``path`` read as ``format``."""
    out = subprocess.run(
        [str(ROOT / "target" / "release" / "examples" / "parse_only"), "--format", format, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    # "<lines> lines in <seconds> s = <rate> M lines/s; <events> events, <rejected> rejected, checksum <n>"
    words = out.stdout.replace(",", "").replace(";", "").split()
    return float(words[3]), int(words[9]), int(words[11])


def compare(
    path: Path,
    format: str,
    pure_python: Callable[[Path], tuple[int, int]],
    labels: tuple[str, str, str],
    what: str,
    unit: str,
    repeat: int,
) -> int:
    """Times ccmon through the Python API (parser and engine), the pure-Python parser and ccmon's parser alone
    on `path` in interleaved rounds, prints the best times and the ratios, and checks that the three agree
    on (valid, rejected). `labels` names the three contenders in that order, `what` the input and `unit`
    what is counted.
    Returns the exit status: 1 when they disagree."""
    import time

    import ccmon

    build()
    counts: dict[str, tuple[int, int]] = {}

    def ccmon_api() -> float:
        m = ccmon.Monitor()
        t = time.perf_counter()
        m.feed_file(path, format)
        dt = time.perf_counter() - t
        (src,) = m.sources()
        counts["ccmon"] = (src["ingested"], src["rejected"])
        return dt

    def python_parser() -> float:
        t = time.perf_counter()
        counts["python"] = pure_python(path)
        return time.perf_counter() - t

    def rust_parser() -> float:
        secs, events, rejected = parse_only(path, format)
        counts["parser"] = (events, rejected)
        return secs

    best = rounds(dict(zip(labels, (ccmon_api, python_parser, rust_parser), strict=True)), repeat)
    events = counts["python"][0]
    width = max(len(n) for n in labels)
    print(f"\n{events:,} {what}, {path.stat().st_size / 1e6:.0f} MB (best of {repeat}):")
    for name in labels:
        print(f"  {name:<{width}} {best[name]:6.2f} s  {events / best[name] / 1e6:6.2f} M {unit}/s")
    full, pure, parser = (best[n] for n in labels)
    print(f"\n  ccmon (parser + engine) / pure-Python parser: {pure / full:.1f}×")
    print(f"  ccmon parser / pure-Python parser:            {pure / parser:.1f}×  (target: 30×)")
    same = counts["ccmon"] == counts["python"] == counts["parser"]
    agree = "ccmon and pure Python agree on valid and rejected events"
    print("  Checks: " + (agree if same else f"MISMATCH {counts}"))
    return 0 if same else 1


def rounds(contenders: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    """Runs every contender (each returns its seconds) once a round, `repeat` rounds, so the machine's
    drifting noise hits them alike; the best time of each."""
    import gc

    results: dict[str, list[float]] = {}
    for rnd in range(repeat):
        for name, fn in contenders.items():
            gc.collect()
            results.setdefault(name, []).append(fn())
        print(f"  round {rnd + 1} done", flush=True)
    return {name: min(ts) for name, ts in results.items()}


def converted(
    doc: str, suffix: str, convert: Callable[[Path, Path], object]
) -> tuple[argparse.Namespace, int, Path, Path]:
    """The command line of a parser bench (``--lines``, ``--quick``, ``--repeat``, ``--data-dir``) and its
    input: (the arguments, the lines, the generated queue_log, that queue_log rewritten once by `convert`
    into ``.suffix``)."""
    from gen_queue_log import ensure_queue_log

    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=None, help="queue_log lines to convert (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="200,000 lines")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, default=ROOT / "bench-data")
    args = ap.parse_args()
    lines = args.lines or (200_000 if args.quick else 1_000_000)
    queue_log = ensure_queue_log(args.data_dir, lines)
    path = queue_log.with_suffix(suffix)
    if not path.exists():
        convert(queue_log, path)
    return args, lines, queue_log, path


def main(
    doc: str,
    format: str,
    suffix: str,
    convert: Callable[[Path, Path], object],
    pure_python: Callable[[Path], tuple[int, int]],
    labels: tuple[str, str, str],
    what: str,
    unit: str,
) -> int:
    """A parser bench's command line (see `converted`), then `compare`."""
    args, _, _, path = converted(doc, suffix, convert)
    return compare(path, format, pure_python, labels, what, unit, args.repeat)
