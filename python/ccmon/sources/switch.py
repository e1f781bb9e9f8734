"""What the live switch clients (`AmiClient`, `EslClient`) share: the connection's life. A session connects,
logs in, does what the protocol needs first, then hands the stream to the engine with a keepalive every
``ping_seconds`` and drops the connection after twice that in silence. It runs until it fails; then the
client reconnects after a backoff doubling from ``min_backoff`` to ``max_backoff`` seconds, with ±50 % jitter
so that many monitors do not reconnect in step, drawn from the client's own generator (the global one belongs
to the program, and tests check nobody else moves it)."""

from __future__ import annotations

import logging
import random
import socket
import threading
import time

from ccmon.monitor import Monitor
from ccmon.sources import url_options

log = logging.getLogger(__name__)


class Refused(Exception):
    """The switch refused the credentials (a failure like any other: retried with backoff, logged as an
    error, without the secret)."""


CHUNK = 1 << 16


class SwitchClient:
    """Feeds one switch's events into a monitor until ``stop`` is set; ``up`` while connected. Subclasses
    say how to log in (``_login``), what to do before streaming (``_start``), what their keepalive is
    (``_ping``), what to watch in the stream (``_heard``) and what a refusal means (``_refused``)."""

    #: The engine format of the stream, and words for the log: the keepalive and the peer.
    format = ""
    ping_name = "the keepalive"
    peer = "switch"

    def __init__(
        self,
        url: str,
        host: str,
        port: int,
        monitor: Monitor,
        name: str,
        site: str | None,
        ping_seconds: float,
        min_backoff: float,
        max_backoff: float,
    ) -> None:
        self.host, self.port = host, port
        self.monitor = monitor
        options = url_options(url)
        self.name = options.get("name", name)
        self.site = options.get("site", site)
        self.ping_seconds = ping_seconds
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.connects = 0
        self._up = False
        self._jitter = random.Random()

    @property
    def up(self) -> bool:
        return self._up

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                self._session(stop)
                failures = 0
            except Refused as e:
                log.error("%s: %s", self.name, self._refused(e))
                failures += 1
            except OSError as e:
                log.warning("%s: connection to %s:%d lost: %s", self.name, self.host, self.port, e)
                failures += 1
            except Exception:
                # A bug of ours must not end the source for good (ccmon_source_up would stay 0 with nobody
                # told why): logged with its traceback, then the source reconnects as after any failure.
                log.exception("%s: failed; reconnecting", self.name)
                failures += 1
            finally:
                self._up = False
            if stop.is_set():
                return
            delay = min(self.max_backoff, self.min_backoff * 2 ** max(0, failures - 1))
            stop.wait(delay * self._jitter.uniform(0.5, 1.5))

    def _session(self, stop: threading.Event) -> None:
        with socket.create_connection((self.host, self.port), timeout=10) as conn:
            conn.settimeout(self.ping_seconds)
            self.connects += 1
            pending = self._login(conn)
            self._up = True
            log.info("%s: %s", self.name, self._logged_in())
            try:
                self._stream(conn, stop, self._start(conn, pending))
            finally:
                # A message cut by the disconnect ends here: it is counted, not stitched to the next session.
                self.monitor.end_of_input(self.format, self.name, self.site)

    def _stream(self, conn: socket.socket, stop: threading.Event, pending: bytes) -> None:
        last_data = time.monotonic()
        next_ping = last_data + self.ping_seconds
        conn.settimeout(min(1.0, self.ping_seconds))
        chunk = pending
        while not stop.is_set():
            if chunk:
                last_data = time.monotonic()
                self.monitor.feed(chunk, self.format, self.name, self.site)
                self._heard(chunk)
            now = time.monotonic()
            if now >= next_ping:
                conn.sendall(self._ping())
                next_ping = now + self.ping_seconds
            if now - last_data > 2 * self.ping_seconds:
                raise OSError(f"no data for {2 * self.ping_seconds:g} s ({self.ping_name} unanswered)")
            try:
                chunk = conn.recv(CHUNK)
            except TimeoutError:
                chunk = b""
                continue
            if not chunk:
                raise OSError(f"closed by the {self.peer}")

    def _login(self, conn: socket.socket) -> bytes:
        """Logs in; returns what arrived after the answer."""
        raise NotImplementedError

    def _logged_in(self) -> str:
        """What the log says once logged in."""
        return f"connected to {self.host}:{self.port}"

    def _start(self, conn: socket.socket, pending: bytes) -> bytes:
        """What the protocol needs before streaming; returns what is still to feed."""
        return pending

    def _ping(self) -> bytes:
        raise NotImplementedError

    def _heard(self, chunk: bytes) -> None:
        """Looks at a chunk just fed (a protocol's goodbye, say)."""

    def _refused(self, e: Refused) -> str:
        return f"{self.host}:{self.port} refused the credentials: {e}"
