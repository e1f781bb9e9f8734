"""AMI frame parsing speed: ccmon against a pure-Python parser of the same frames, side by side in one run.

    python benches/bench_ami.py            # 1 M events as AMI frames (~200 MB)
    python benches/bench_ami.py --quick    # 200 k events

The input is the generated queue_log of benches/gen_queue_log.py with each call event rewritten as the AMI
frame Asterisk sends for it (QueueCallerJoin, AgentConnect, AgentComplete, QueueCallerAbandon,
AgentRingNoAnswer, BlindTransfer, QueueMemberPause; with ``Timestamp``, ``Linkedid``, ``Queue``, ...), written
once to bench-data/. Contenders, in interleaved rounds (best time kept):

- ccmon ``Monitor().feed_file(path, format="ami")``: frames parsed in Rust and every figure kept current;
- a pure-Python parser doing only a parser's work: split frames at blank lines, headers into a dict, the
  event mapped and its required headers checked; no figures;
- ccmon's AMI parser alone, in Rust without the engine (``examples/parse_only --format ami``): the same work
  as the pure-Python parser, so theirs is the parser-to-parser ratio.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rust_parser

ROOT = Path(__file__).resolve().parent.parent

EVENTS = {
    "ENTERQUEUE": "QueueCallerJoin",
    "CONNECT": "AgentConnect",
    "COMPLETECALLER": "AgentComplete",
    "COMPLETEAGENT": "AgentComplete",
    "ABANDON": "QueueCallerAbandon",
    "RINGNOANSWER": "AgentRingNoAnswer",
    "TRANSFER": "BlindTransfer",
    "PAUSE": "QueueMemberPause",
    "UNPAUSE": "QueueMemberPause",
}
# What the Python parser checks per event: the headers ccmon needs.
NEEDS = {
    "QueueCallerJoin": ("Linkedid", "Queue"),
    "AgentConnect": ("Linkedid", "Queue"),
    "AgentComplete": ("Linkedid", "Queue"),
    "QueueCallerAbandon": ("Linkedid", "Queue"),
    "AgentRingNoAnswer": ("Queue",),
    "BlindTransfer": ("TransfereeLinkedid",),
    "QueueMemberPause": ("Queue", "MemberName"),
}


def to_ami(queue_log: Path, out: Path) -> int:
    """Rewrites the queue_log's events as AMI frames; returns how many frames."""
    n = 0
    with open(queue_log, encoding="utf-8") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        dst.write("Asterisk Call Manager/5.0.1\r\n")
        for line in src:
            ts, call, queue, agent, name, *data = line.rstrip("\n").split("|")
            event = EVENTS.get(name)
            if event is None:
                continue
            h = [f"Event: {event}", "Privilege: agent,all", f"Timestamp: {ts}.000000"]
            if event == "BlindTransfer":
                h += [f"TransfererLinkedid: {call}", f"TransfereeLinkedid: {call}", "Extension: 300"]
            elif event == "QueueMemberPause":
                h += [f"Queue: {queue}", f"MemberName: {agent}", f"Interface: {agent}"]
                h += ["Paused: 1" if name == "PAUSE" else "Paused: 0", "PausedReason: break"]
            else:
                h += [
                    f"Queue: {queue}",
                    f"Uniqueid: {call}",
                    f"Linkedid: {call}",
                    "Channel: PJSIP/trunk-0001",
                ]
                if event == "QueueCallerJoin":
                    h += [f"CallerIDNum: {data[1] if len(data) > 1 else ''}", "Position: 1", "Count: 1"]
                elif agent != "NONE":
                    h += [f"MemberName: {agent}", f"Interface: {agent}"]
            dst.write("\r\n".join(h) + "\r\n\r\n")
            n += 1
    return n


def pure_python(path: Path) -> tuple[int, int]:
    """(valid events, rejected frames): a parser's work, no figures."""
    ok = bad = 0
    with open(path, "rb") as f:
        text = f.read().decode()
    for frame in text.split("\r\n\r\n"):
        headers = {}
        for line in frame.split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip()] = value.strip()
        event = headers.get("Event")
        if event is None:
            continue
        needs = NEEDS.get(event)
        try:
            float(headers["Timestamp"])
        except (KeyError, ValueError):
            bad += 1
            continue
        if needs is None or any(not headers.get(k) for k in needs):
            bad += 1
            continue
        ok += 1
    return ok, bad


def main() -> int:
    return rust_parser.main(
        __doc__ or "",
        "ami",
        ".ami",
        to_ami,
        pure_python,
        (
            'ccmon `feed_file(format="ami")` (frames parsed in Rust + engine)',
            "pure Python frame parser (split, dict, checks; no figures)",
            "ccmon AMI parser alone (Rust `examples/parse_only`, no figures)",
        ),
        "AMI event frames",
        "frames",
    )


if __name__ == "__main__":
    sys.exit(main())
