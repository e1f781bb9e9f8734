"""``Monitor.transfers()`` and ``/api/v1/transfers``: every transfer a source reports — who, where to, by
whom, the call's n-th — from queue_log (the extension), JSON lines (``to_queue``) and AMI (the extension or
the party joined; see test_cacofonisk.py for recorded Asterisk sessions)."""

from __future__ import annotations

import json
import urllib.request

import ccmon
from ccmon.server import Server

LOG = b"""100|c1|sales|NONE|ENTERQUEUE||600111222|1
110|c1|sales|Agent/1|CONNECT|10|x|1
150|c1|sales|Agent/1|BLINDTRANSFER|200|from-internal|10|40|1
151|c1|support|NONE|ENTERQUEUE||600111222|1
160|c1|support|Agent/2|CONNECT|9|y|1
190|c1|support|Agent/2|TRANSFER|300|from-internal|9|30|1
"""


def test_queue_log_transfers_say_where_and_by_whom() -> None:
    m = ccmon.Monitor()
    m.feed(LOG)
    rows = m.transfers().select("call", "at", "queue", "by", "to", "nth").rows()
    assert rows == [
        ("c1", 150.0, "sales", "Agent/1", "200", 1),
        ("c1", 190.0, "support", "Agent/2", "300", 2),
    ]


def test_json_lines_transfers_carry_to_queue_and_the_api_serves_them() -> None:
    events = [
        {"ts": 100, "call": "c9", "type": "enter", "queue": "sales"},
        {"ts": 105, "call": "c9", "type": "answer", "queue": "sales", "agent": "A"},
        {"ts": 130, "call": "c9", "type": "transfer", "queue": "sales", "agent": "A", "to_queue": "billing"},
        # A transfer of a call ccmon never saw in a queue is still reported (no queue).
        {"ts": 140, "call": "x1", "type": "transfer", "queue": "sales", "to_queue": "support"},
    ]
    m = ccmon.Monitor()
    m.feed("".join(json.dumps(e) + "\n" for e in events).encode(), "jsonl")
    server = Server(m, "127.0.0.1:0")
    server.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/api/v1/transfers", timeout=5) as r:
            got = json.loads(r.read())["transfers"]
    finally:
        server.stop()
    assert [(t["call"], t["queue"], t["by"], t["to"], t["nth"]) for t in got] == [
        ("c9", "sales", "A", "billing", 1),
        ("x1", None, None, "support", 1),
    ]
