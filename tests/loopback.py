"""What the test switches (ami_server.py, esl_server.py) share: listening on 127.0.0.1 and giving the n-th
connection the n-th of their scripted sessions (the last one again after that), each in its own thread;
reading the client's commands a block at a time; and, for the client tests, waiting and stopping."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any


class SessionServer:
    sessions: list[Any]
    bind_port: int

    def __post_init__(self) -> None:
        self._listen()

    def _listen(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.bind_port))
        self._sock.listen()
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()

    def _accept(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            session = self.sessions[min(n, len(self.sessions) - 1)]
            n += 1
            threading.Thread(target=self._serve, args=(conn, session), daemon=True).start()

    def _serve(self, conn: socket.socket, session: Any) -> None:
        raise NotImplementedError


class Blocks:
    """Reads what a client sends, a block at a time: each block ends with `end` (a blank line)."""

    def __init__(self, conn: socket.socket, end: bytes) -> None:
        self.conn = conn
        self.end = end
        self.buf = b""

    def next(self) -> bytes:
        """The next block without its end; b"" once the client has gone."""
        while self.end not in self.buf:
            chunk = self.conn.recv(4096)
            if not chunk:
                return b""
            self.buf += chunk
        block, self.buf = self.buf.split(self.end, 1)
        return block


def serve_until_interrupted(server: SessionServer, what: str) -> None:
    """For the test switches run by hand: says where `server` listens and serves until Ctrl-C."""
    print(f"{what} on 127.0.0.1:{server.port}; Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.close()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


class Stopper(threading.Event):
    """Stops a client and waits for its thread: no test leaves one running into the next."""

    thread: threading.Thread

    def set(self) -> None:
        super().set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


def started(client: Any) -> Stopper:
    """Runs a switch client in a thread; setting the returned event stops it and joins the thread."""
    stop = Stopper()
    stop.thread = threading.Thread(target=client.run, args=(stop,), daemon=True)
    stop.thread.start()
    return stop


def offered(m: Any) -> int:
    """Calls offered so far, over every queue: what the client tests wait for."""
    q = m.queues()
    return int(q["offered"].sum()) if q.height else 0
