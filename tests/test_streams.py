"""Stream sources (python/ccmon/sources/stream.py): several TCP producers into one source never mix their
lines, a half-sent last line counts when its connection closes, an over-long line is one counted rejection,
and ``ccmon run --jsonl -`` reads standard input."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_live import free_port, get, wait_for

import ccmon
from ccmon.sources.stream import LineAssembler, StdinReader, TcpListener


@given(
    lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=20),
    cuts=st.lists(st.integers(0, 400), max_size=10),
)
def test_the_assembler_passes_whole_lines_only_and_loses_none(lines: list[bytes], cuts: list[int]) -> None:
    data = b"".join(line + b"\n" for line in lines)
    a = LineAssembler(max_line_bytes=64)
    out = []
    for lo, hi in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)], strict=True):
        piece = a.push(data[lo:hi])
        assert piece == b"" or piece.endswith(b"\n")
        out.append(piece)
    out.append(a.finish())
    assert b"".join(out) == data


def event(ts: float, call: str, kind: str, queue: str) -> bytes:
    return json.dumps({"ts": ts, "call": call, "type": kind, "queue": queue}).encode() + b"\n"


def listening(m: ccmon.Monitor) -> tuple[TcpListener, threading.Event]:
    listener = TcpListener("127.0.0.1", 0, m)
    stop = threading.Event()
    threading.Thread(target=listener.run, args=(stop,), daemon=True).start()
    assert wait_for(lambda: listener.up)
    return listener, stop


def test_producers_on_several_connections_never_mix_their_lines() -> None:
    m = ccmon.Monitor()
    listener, stop = listening(m)
    try:
        conns = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(3)]
        streams = [
            event(100, f"c{i}", "enter", "sales") + event(110, f"c{i}", "answer", "sales") for i in range(3)
        ]
        # Byte by byte, round robin: every line is split across many reads, interleaved with the others.
        for pos in range(max(len(s) for s in streams)):
            for conn, data in zip(conns, streams, strict=True):
                if pos < len(data):
                    conn.sendall(data[pos : pos + 1])
        half = event(120, "c9", "enter", "sales").rstrip(b"\n")  # no newline: counts on close
        conns[0].sendall(half)
        for conn in conns:
            conn.close()
        assert wait_for(lambda: m.sources() and m.sources()[0]["ingested"] == 7)
        (src,) = m.sources()
        assert (src["source"], src["rejected"]) == ("tcp", 0)
        assert m.queues().select("offered", "answered").row(0) == (4, 3)
    finally:
        stop.set()


def test_an_over_long_line_is_one_rejection_and_the_next_lines_count() -> None:
    m = ccmon.Monitor({"max_line_bytes": 1000})
    listener, stop = listening(m)
    try:
        with socket.create_connection(("127.0.0.1", listener.port)) as conn:
            conn.sendall(b'{"ts": 1, "x": "' + b"y" * 5000)
            time.sleep(0.05)
            conn.sendall(b"y" * 5000 + b'"}\n' + event(100, "c1", "enter", "sales"))
        assert wait_for(lambda: bool(m.sources()) and m.sources()[0]["ingested"] == 1)
        (src,) = m.sources()
        assert src["rejected_by_reason"] == {"line_too_long": 1}
    finally:
        stop.set()


class FailsOnce(ccmon.Monitor):
    """A monitor with a bug that strikes on the first chunk fed to it."""

    failed = False

    def feed(
        self, data: bytes, format: str = "queue_log", source: str | None = None, site: str | None = None
    ) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("a bug")
        super().feed(data, format, source, site)


def test_a_connection_goes_on_after_a_bug_and_the_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    m = FailsOnce()
    listener, stop = listening(m)
    try:
        with caplog.at_level("ERROR"), socket.create_connection(("127.0.0.1", listener.port)) as conn:
            conn.sendall(event(100, "c1", "enter", "sales"))
            assert wait_for(lambda: m.failed)
            conn.sendall(event(101, "c2", "enter", "sales"))  # the same connection: still read
            assert wait_for(lambda: bool(m.sources()) and m.sources()[0]["ingested"] == 1)
        assert any("failed; it is dropped" in r.getMessage() and r.exc_info for r in caplog.records)
    finally:
        stop.set()


def test_standard_input_goes_on_after_a_bug() -> None:
    m = FailsOnce()
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as stream:
        reader = StdinReader(stream, m)
        thread = threading.Thread(target=reader.run, args=(threading.Event(),), daemon=True)
        thread.start()
        os.write(write_end, event(100, "c1", "enter", "sales"))
        assert wait_for(lambda: m.failed)
        os.write(write_end, event(101, "c2", "enter", "sales"))
        os.close(write_end)
        thread.join(timeout=10)
    assert not thread.is_alive() and not reader.up
    (src,) = m.sources()
    assert src["ingested"] == 1


def test_run_reads_json_lines_from_standard_input() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccmon", "run", "--jsonl", "-", "--listen", f"127.0.0.1:{port}",
         "--duration", "60"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdin is not None
    try:
        now = time.time()
        proc.stdin.write(event(now - 5, "c1", "enter", "sales") + event(now, "c1", "answer", "sales"))
        proc.stdin.flush()

        def answered() -> Any:
            metrics = get(f"{base}/metrics")[1]
            return 'ccmon_queue_outcomes_total{queue="sales",outcome="answered"} 1' in metrics

        assert wait_for(answered)
        assert 'ccmon_source_up{source="stdin"} 1.0' in get(f"{base}/metrics")[1]
        proc.stdin.close()  # the end of the input: the source is down, the figures stay
        assert wait_for(lambda: 'ccmon_source_up{source="stdin"} 0.0' in get(f"{base}/metrics")[1])
        assert answered()
    finally:
        proc.terminate()
        if not proc.stdin.closed:
            proc.stdin.close()
        proc.wait(timeout=10)
