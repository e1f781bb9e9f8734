"""A live FreeSWITCH Event Socket client: ``ccmon run --freeswitch esl://pbx:8021``.

It connects to the inbound event socket, answers the ``auth/request`` greeting with the password (from the
environment or a file, never from the command line, and never logged), subscribes to mod_callcenter's
events (``event plain CUSTOM callcenter::info``), then hands the raw stream to the engine, which frames and
parses the messages (``format="freeswitch"``). ESL has no ping: an ``api status`` every ``ping_seconds``
keeps the connection alive, and silence for twice that drops it. A refused password, a
``text/disconnect-notice`` or any socket error ends the session and the client reconnects after a backoff
that doubles up to ``max_backoff`` seconds, with jitter so that many monitors do not reconnect in step.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from urllib.parse import urlparse

from ccmon.monitor import Monitor
from ccmon.sources.switch import Refused, SwitchClient

log = logging.getLogger(__name__)

CHUNK = 1 << 16
SUBSCRIBE = b"event plain CUSTOM callcenter::info\n\n"
DISCONNECT_NOTICE = b"Content-Type: text/disconnect-notice"


class AuthRefused(Refused):
    """The event socket answered ``auth`` with ``-ERR``."""


class Disconnected(OSError):
    """The switch said goodbye (``text/disconnect-notice``)."""


def parse_esl_url(url: str) -> tuple[str, int]:
    """``esl://host:8021`` → ``(host, port)``; the port defaults to 8021. Options after ``?`` are
    `url_options`'.

    >>> parse_esl_url("esl://pbx.example")
    ('pbx.example', 8021)
    """
    parsed = urlparse(url)
    if parsed.scheme != "esl" or not parsed.hostname:
        raise ValueError(f"--freeswitch {url!r}: expected esl://HOST[:PORT]")
    if parsed.password or parsed.username:
        raise ValueError(
            "--freeswitch: put no password in the URL; use CCMON_ESL_PASSWORD or --esl-password-file"
        )
    return parsed.hostname, parsed.port or 8021


def _reply_text(block: bytes) -> str:
    for line in block.split(b"\n"):
        if line.startswith(b"Reply-Text:"):
            return line[11:].strip().decode(errors="replace")
    return ""


class EslClient(SwitchClient):
    """Feeds one switch's mod_callcenter events into a monitor until ``stop`` is set; ``up`` while
    subscribed."""

    def __init__(
        self,
        url: str,
        password: str,
        monitor: Monitor,
        name: str = "freeswitch",
        site: str | None = None,
        ping_seconds: float = 20.0,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        host, port = parse_esl_url(url)
        super().__init__(url, host, port, monitor, name, site, ping_seconds, min_backoff, max_backoff)
        self._password = password

    def _refused(self, e: Refused) -> str:
        return f"{self.host}:{self.port} refused the password: {e}"

    def _session(self, stop: threading.Event) -> None:
        with socket.create_connection((self.host, self.port), timeout=10) as conn:
            conn.settimeout(self.ping_seconds)
            self.connects += 1
            pending = self._login(conn)
            self._up = True
            log.info("%s: subscribed to callcenter::info on %s:%d", self.name, self.host, self.port)
            try:
                self._stream(conn, stop, pending)
            finally:
                # A message cut by the disconnect ends here: it is counted, not stitched to the next session.
                self.monitor.end_of_input("freeswitch", self.name, self.site)

    def _login(self, conn: socket.socket) -> bytes:
        """Authenticates and subscribes; returns what arrived after the subscription's reply."""
        buf = b""

        def block() -> bytes:
            # The greeting and the command replies have no body: a header block ended by a blank line.
            nonlocal buf
            while (end := buf.find(b"\n\n")) < 0:
                if len(buf) > 1 << 20:
                    raise OSError("no ESL reply in the first MiB")
                chunk = conn.recv(CHUNK)
                if not chunk:
                    raise OSError("closed during login")
                buf += chunk
            head, buf = buf[:end], buf[end + 2 :]
            return head

        greeting = block()
        if b"auth/request" not in greeting:
            raise OSError("no auth/request greeting: is this a FreeSWITCH event socket?")
        conn.sendall(f"auth {self._password}\n\n".encode())
        reply = _reply_text(block())
        if not reply.startswith("+OK"):
            raise AuthRefused(reply or "no reason given")
        conn.sendall(SUBSCRIBE)
        reply = _reply_text(block())
        if not reply.startswith("+OK"):
            raise OSError(f"subscription refused: {reply or 'no reason given'}")
        return buf

    def _stream(self, conn: socket.socket, stop: threading.Event, pending: bytes) -> None:
        last_data = time.monotonic()
        next_ping = last_data + self.ping_seconds
        conn.settimeout(min(1.0, self.ping_seconds))
        # The notice may arrive split across two reads: keep the end of the previous one to look in.
        tail = b""
        chunk = pending
        while not stop.is_set():
            if chunk:
                last_data = time.monotonic()
                self.monitor.feed(chunk, "freeswitch", self.name, self.site)
                if DISCONNECT_NOTICE in tail + chunk:
                    raise Disconnected("the switch sent a disconnect notice")
                tail = chunk[-len(DISCONNECT_NOTICE) :]
            now = time.monotonic()
            if now >= next_ping:
                # The reply (api/response) is framed by its Content-Length and skipped by the engine.
                conn.sendall(b"api status\n\n")
                next_ping = now + self.ping_seconds
            if now - last_data > 2 * self.ping_seconds:
                raise OSError(f"no data for {2 * self.ping_seconds:g} s (api status unanswered)")
            try:
                chunk = conn.recv(CHUNK)
            except TimeoutError:
                chunk = b""
                continue
            if not chunk:
                raise OSError("closed by the switch")
