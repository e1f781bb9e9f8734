"""Event streams that are not files: standard input, and a TCP port that producers connect to.

Both carry newline-delimited events (JSON lines, or queue_log lines). Bytes go to the engine in chunks; the
only per-chunk work here is finding the last newline, because several TCP connections feed one source and a
line must never be stitched from two of them.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from typing import BinaryIO

from ccmon.monitor import Monitor

log = logging.getLogger(__name__)

CHUNK = 1 << 18


def _feed(monitor: Monitor, data: bytes, format: str, name: str, site: str | None) -> None:
    """Feeds one chunk. A failure here is a bug (bad input is the engine's to count): logged with its
    traceback, and the stream goes on with its next chunk. Stopping would be worse: a producer writing to
    standard input or a socket would block once the pipe filled, and every later event would be lost."""
    try:
        monitor.feed(data, format, name, site)
    except Exception:
        log.exception("%s: feeding %d bytes failed; it is dropped and reading goes on", name, len(data))


class LineAssembler:
    """Cuts one connection's bytes at line ends, so that only whole lines reach a source shared with others.

    A line longer than ``max_line_bytes`` is handed on at once (the engine rejects and counts it as
    ``line_too_long``) and the rest of it is dropped up to its newline: memory stays bounded.

    >>> a = LineAssembler(max_line_bytes=10)
    >>> a.push(b"ab\\ncd"), a.push(b"e\\n"), a.finish()
    (b'ab\\n', b'cde\\n', b'')
    >>> a.push(b"0123456789ABC"), a.push(b"DEF\\nok\\n")
    (b'0123456789ABC\\n', b'ok\\n')
    """

    def __init__(self, max_line_bytes: int) -> None:
        self.max_line_bytes = max_line_bytes
        self._tail = bytearray()
        self._discarding = False

    def push(self, data: bytes) -> bytes:
        """The whole lines that ``data`` completes (ending with a newline), possibly empty."""
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return b""
            self._discarding = False
            data = data[end + 1 :]
        cut = data.rfind(b"\n")
        if cut < 0:
            self._tail += data
            if len(self._tail) > self.max_line_bytes:
                too_long = bytes(self._tail) + b"\n"
                self._tail.clear()
                self._discarding = True
                return too_long
            return b""
        out = bytes(self._tail) + data[: cut + 1]
        self._tail = bytearray(data[cut + 1 :])
        return out

    def finish(self) -> bytes:
        """The input ended: a last line without a newline still counts."""
        rest, self._tail = bytes(self._tail), bytearray()
        if self._discarding:
            self._discarding = False
            return b""
        return rest + b"\n" if rest else b""


class StdinReader:
    """Feeds a binary stream (standard input) until it ends; ``up`` while it is open."""

    def __init__(
        self,
        stream: BinaryIO,
        monitor: Monitor,
        format: str = "jsonl",
        name: str = "stdin",
        site: str | None = None,
    ) -> None:
        self.stream = stream
        self.monitor = monitor
        self.format = format
        self.name = name
        self.site = site
        self._up = True

    @property
    def up(self) -> bool:
        return self._up

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                chunk = self.stream.read1(CHUNK) if hasattr(self.stream, "read1") else self.stream.read(CHUNK)
                if not chunk:
                    break
                _feed(self.monitor, chunk, self.format, self.name, self.site)
        except (OSError, ValueError) as e:
            log.warning("reading %s failed: %s", self.name, e)
        finally:
            self.monitor.end_of_input(self.format, self.name, self.site)
            self._up = False
            log.info("%s ended", self.name)


class TcpListener:
    """Listens on ``HOST:PORT``; every connection sends newline-delimited events into one source.

    Producers connect, write lines and may disconnect at any time; a half-sent last line counts when its
    connection closes. ``up`` while listening.
    """

    def __init__(
        self,
        host: str,
        port: int,
        monitor: Monitor,
        format: str = "jsonl",
        name: str = "tcp",
        site: str | None = None,
    ) -> None:
        self.monitor = monitor
        self.format = format
        self.name = name
        self.site = site
        listener = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                listener._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server((host, port), Handler)
        self.port = int(self._server.server_address[1])
        self._up = False

    @property
    def up(self) -> bool:
        return self._up

    def run(self, stop: threading.Event) -> None:
        self._up = True
        thread = threading.Thread(target=self._server.serve_forever, name=f"{self.name}-accept", daemon=True)
        thread.start()
        stop.wait()
        self.close()

    def close(self) -> None:
        self._up = False
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, conn: socket.socket) -> None:
        lines = LineAssembler(self.monitor.config.max_line_bytes)
        try:
            while chunk := conn.recv(CHUNK):
                if whole := lines.push(chunk):
                    _feed(self.monitor, whole, self.format, self.name, self.site)
        except OSError as e:
            log.info("%s: a connection failed: %s", self.name, e)
        if rest := lines.finish():
            _feed(self.monitor, rest, self.format, self.name, self.site)
