"""FreeSWITCH event socket parsing speed: ccmon against a pure-Python parser of the same stream, side by side
in one run.

    python benches/bench_freeswitch.py          # the events of 1 M queue_log lines as ESL messages
    python benches/bench_freeswitch.py --quick  # of 200 k lines

The input is the generated queue_log of benches/gen_queue_log.py with each call event rewritten as the
``text/event-plain`` message mod_callcenter sends for it over the event socket (member-queue-start,
bridge-agent-start, bridge-agent-end + member-queue-end Terminated, member-queue-end Cancel for abandons and
timeouts, bridge-agent-fail, agent-status-change), URL-encoded values, with the member channel's headers that
FreeSWITCH adds to each event, written once to bench-data/. Contenders, in interleaved rounds (best time
kept):

- ccmon ``Monitor().feed_file(path, format="freeswitch")``: messages framed and parsed in Rust, every figure
  kept current;
- a pure-Python parser doing only a parser's work: the envelope's headers, the body sliced by its
  Content-Length, the event's headers into a dict with values URL-decoded, the event mapped and its required
  headers checked; no figures.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote, unquote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rust_parser

ROOT = Path(__file__).resolve().parent.parent

# The member channel's headers mod_callcenter's events carry (switch_channel_event_set_data), abridged.
CHANNEL = [
    ("Channel-State", "CS_EXECUTE"),
    ("Channel-Call-State", "ACTIVE"),
    ("Channel-State-Number", "4"),
    ("Channel-Name", "sofia/external/600111222@10.0.0.1"),
    ("Call-Direction", "inbound"),
    ("Channel-HIT-Dialplan", "true"),
    ("Channel-Read-Codec-Name", "PCMA"),
    ("Channel-Read-Codec-Rate", "8000"),
    ("Caller-Direction", "inbound"),
    ("Caller-Username", "600111222"),
    ("Caller-Dialplan", "XML"),
    ("Caller-Context", "public"),
    ("Caller-Network-Addr", "10.0.0.1"),
]


def message(headers: list[tuple[str, str]]) -> str:
    body = "".join(f"{k}: {quote(v, safe='')}\n" for k, v in headers) + "\n"
    return f"Content-Length: {len(body)}\nContent-Type: text/event-plain\n\n{body}"


def to_esl(queue_log: Path, out: Path) -> int:
    """Rewrites the queue_log's events as ESL messages; returns how many events."""
    n = 0
    with open(queue_log, encoding="utf-8") as src, open(out, "w", encoding="ascii", newline="") as dst:
        dst.write("Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n")
        for line in src:
            ts, call, queue, agent, name, *data = line.rstrip("\n").split("|")
            us = f"{ts}000000"
            head = [
                ("Event-Name", "CUSTOM"),
                ("Core-UUID", "2f6e4a50-9b1c-4c55-a1a4-5f5c7a1f0e11"),
                ("FreeSWITCH-Hostname", "pbx"),
                ("Event-Date-Timestamp", us),
                ("Event-Calling-File", "mod_callcenter.c"),
                ("Event-Subclass", "callcenter::info"),
            ]
            member = [("CC-Queue", queue), ("CC-Member-Session-UUID", call)]
            events: list[list[tuple[str, str]]] = []
            if name == "ENTERQUEUE":
                caller = data[1] if len(data) > 1 else ""
                events.append(
                    [("CC-Action", "member-queue-start"), *CHANNEL, *member, ("CC-Member-CID-Number", caller)]
                )
            elif name == "CONNECT":
                events.append([("CC-Action", "bridge-agent-start"), *member, ("CC-Agent", agent)])
            elif name in ("COMPLETECALLER", "COMPLETEAGENT"):
                events.append([("CC-Action", "bridge-agent-end"), *member, ("CC-Agent", agent)])
                events.append(
                    [("CC-Action", "member-queue-end"), *CHANNEL, *member, ("CC-Cause", "Terminated")]
                )
            elif name in ("ABANDON", "EXITWITHTIMEOUT"):
                reason = "BREAK_OUT" if name == "ABANDON" else "TIMEOUT"
                events.append(
                    [
                        ("CC-Action", "member-queue-end"),
                        *CHANNEL,
                        ("Answer-State", "hangup" if name == "ABANDON" else "answered"),
                        *member,
                        ("CC-Cause", "Cancel"),
                        ("CC-Cancel-Reason", reason),
                    ]
                )
            elif name == "RINGNOANSWER":
                events.append([("CC-Action", "bridge-agent-fail"), *member, ("CC-Agent", agent)])
            elif name in ("PAUSE", "UNPAUSE"):
                status = "On Break" if name == "PAUSE" else "Available"
                action = ("CC-Action", "agent-status-change")
                events.append([action, ("CC-Agent", agent), ("CC-Agent-Status", status)])
            for e in events:
                dst.write(message(head + e))
                n += 1
    return n


# What the Python parser checks per CC-Action: the headers ccmon needs.
NEEDS = {
    "member-queue-start": ("CC-Member-Session-UUID", "CC-Queue"),
    "member-queue-end": ("CC-Member-Session-UUID", "CC-Queue", "CC-Cause"),
    "bridge-agent-start": ("CC-Member-Session-UUID", "CC-Queue", "CC-Agent"),
    "bridge-agent-end": ("CC-Member-Session-UUID", "CC-Queue"),
    "bridge-agent-fail": ("CC-Queue", "CC-Agent"),
    "agent-offering": ("CC-Member-Session-UUID", "CC-Queue", "CC-Agent"),
    "agent-status-change": ("CC-Agent",),
}


def pure_python(path: Path) -> tuple[int, int]:
    """(valid events, rejected messages): a parser's work, no figures."""
    ok = bad = 0
    with open(path, "rb") as f:
        data = f.read()
    pos, size = 0, len(data)
    while pos < size:
        end = data.find(b"\n\n", pos)
        if end < 0:
            break
        envelope = {}
        for line in data[pos:end].split(b"\n"):
            key, sep, value = line.partition(b":")
            if sep:
                envelope[key] = value.strip()
        pos = end + 2
        length = int(envelope.get(b"Content-Length", 0))
        body, pos = data[pos : pos + length], pos + length
        if envelope.get(b"Content-Type") != b"text/event-plain":
            continue
        headers = {}
        for line in body.decode().split("\n"):
            if not line:
                break
            key, sep, value = line.partition(": ")
            headers[key] = unquote(value) if "%" in value else value
        if headers.get("Event-Name") != "CUSTOM" or headers.get("Event-Subclass") != "callcenter::info":
            continue
        try:
            int(headers["Event-Date-Timestamp"])
        except (KeyError, ValueError):
            bad += 1
            continue
        needs = NEEDS.get(headers.get("CC-Action", ""), ())
        if any(not headers.get(k) for k in needs):
            bad += 1
            continue
        ok += 1
    return ok, bad


def main() -> int:
    return rust_parser.main(
        __doc__ or "",
        "freeswitch",
        ".esl",
        to_esl,
        pure_python,
        (
            'ccmon `feed_file(format="freeswitch")` (parsed in Rust + engine)',
            "pure Python ESL parser (framing, dict, unquote, checks; no figures)",
            "ccmon ESL parser alone (Rust `examples/parse_only`, no figures)",
        ),
        "mod_callcenter events as ESL messages",
        "events",
    )


if __name__ == "__main__":
    sys.exit(main())
