"""ccmon's parser of one format alone, in Rust without the engine (``examples/parse_only``), for the benches
that set it beside a pure-Python parser: parser against parser, the same work on both sides."""

from __future__ import annotations

import subprocess
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
