"""A live FreeSWITCH Event Socket client: ``ccmon run --freeswitch esl://pbx:8021``.

It connects to the inbound event socket, answers the ``auth/request`` greeting with the password (from the
environment or a file, never from the command line, and never logged), subscribes to mod_callcenter's
events (``event plain CUSTOM callcenter::info``), then hands the raw stream to the engine, which frames and
parses the messages (``format="freeswitch"``). After every (re)connect it first asks mod_callcenter for its
queues, the callers waiting in each, its tiers and its agents (``api callcenter_config ...``), and the engine
makes its calls and agents agree with the answer: a restart or an outage leaves no ghost waiting and loses no
caller already in a queue (as the AMI client does with QueueStatus). Events that arrive meanwhile are fed at
once; the calls they name are left as they say. ESL has no ping: an ``api status`` every ``ping_seconds``
keeps the connection alive, and silence for twice that drops it. A refused password, a
``text/disconnect-notice`` or any socket error ends the session and the client reconnects after a backoff
that doubles up to ``max_backoff`` seconds, with jitter so that many monitors do not reconnect in step.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from urllib.parse import urlparse

from ccmon.monitor import Monitor
from ccmon.sources.switch import CHUNK, Refused, SwitchClient

log = logging.getLogger(__name__)

SUBSCRIBE = b"event plain CUSTOM callcenter::info\n\n"
DISCONNECT_NOTICE = b"Content-Type: text/disconnect-notice"
# Bounds on one message read during the resynchronisation (a longer one ends it; the stream goes on).
MAX_HEAD = 1 << 20
MAX_BODY = 64 << 20


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

    format = "freeswitch"
    ping_name = "api status"

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
        self.resyncs = 0
        # The end of the last chunk: a disconnect notice may arrive split across two reads.
        self._tail = b""

    def _refused(self, e: Refused) -> str:
        return f"{self.host}:{self.port} refused the password: {e}"

    def _logged_in(self) -> str:
        return f"subscribed to callcenter::info on {self.host}:{self.port}"

    def _start(self, conn: socket.socket, pending: bytes) -> bytes:
        self._tail = b""
        return self._resync(conn, pending)

    def _ping(self) -> bytes:
        # ESL has no ping: an api command whose reply (api/response) the engine frames and skips.
        return b"api status\n\n"

    def _heard(self, chunk: bytes) -> None:
        if DISCONNECT_NOTICE in self._tail + chunk:
            raise Disconnected("the switch sent a disconnect notice")
        self._tail = chunk[-len(DISCONNECT_NOTICE) :]

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

    def _resync(self, conn: socket.socket, pending: bytes) -> bytes:
        """Makes the engine agree with mod_callcenter's own state; returns what arrived after its last
        answer. A switch without mod_callcenter (``-ERR``) or an answer that is not understood leaves the
        engine as it was, and the stream goes on."""
        # The answers have no timestamps: they are applied at the wall clock, not at the last event heard
        # before an outage.
        self.monitor.advance_clock()
        self.monitor._begin_resync(self.name, self.site)
        answers = _Answers(
            conn, pending, lambda data: self.monitor.feed(data, "freeswitch", self.name, self.site)
        )
        try:
            return self._ask_and_apply(answers)
        except OSError:
            # What arrived before the connection broke still counts: a message it cut is one bad_frame.
            if rest := answers.rest():
                self.monitor.feed(rest, "freeswitch", self.name, self.site)
            raise
        finally:
            self.monitor._end_resync(self.name, self.site)

    def _ask_and_apply(self, answers: _Answers) -> bytes:
        try:
            listing = answers.ask(["callcenter_config queue list"])[0]
            queues = _column(listing, "name")
            if queues is None:
                log.info("%s: no queue list from mod_callcenter (%s): not resynchronised", self.name,
                         listing.strip()[:80])  # fmt: skip
                return answers.rest()
            members = answers.ask([f"callcenter_config queue list members {q}" for q in queues])
            tiers, agents = answers.ask(["callcenter_config tier list", "callcenter_config agent list"])
        except _TooLong as e:
            log.warning("%s: %s during the resynchronisation: not resynchronised", self.name, e)
            return answers.rest()
        try:
            self.monitor._resync_callcenter(self.name, list(zip(queues, members, strict=True)), tiers, agents,
                                            self.site)  # fmt: skip
        except ValueError as e:
            log.warning("%s: mod_callcenter's answer not understood (%s): not resynchronised", self.name, e)
        else:
            self.resyncs += 1
            log.info("%s: resynchronised %d queue(s) with mod_callcenter", self.name, len(queues))
        return answers.rest()


class _TooLong(Exception):
    """A message over the bounds of the resynchronisation's reader."""


class _Answers:
    """Asks ``api`` commands during a resynchronisation and reads whole messages off the socket: each
    ``api/response`` is an answer, in the order asked; every other message (an event, a notice) goes to the
    engine as it comes, so the stream never stops for the questions."""

    def __init__(self, conn: socket.socket, buf: bytes, feed: Callable[[bytes], None]) -> None:
        self.conn = conn
        self.buf = buf
        self.feed = feed

    def rest(self) -> bytes:
        """What was read and not yet handed on."""
        rest, self.buf = self.buf, b""
        return rest

    def ask(self, commands: list[str]) -> list[str]:
        self.conn.sendall(b"".join(f"api {c}\n\n".encode() for c in commands))
        return [self._answer() for _ in commands]

    def _answer(self) -> str:
        while True:
            head, body = self._message()
            if b"Content-Type: api/response" in head:
                return body.decode(errors="replace")
            self.feed(head + body)
            if DISCONNECT_NOTICE in head:
                raise Disconnected("the switch sent a disconnect notice")

    def _message(self) -> tuple[bytes, bytes]:
        """One message: its header block with the blank line after it, and its body."""
        while (end := self.buf.find(b"\n\n")) < 0:
            if len(self.buf) > MAX_HEAD:
                raise _TooLong(f"a header block over {MAX_HEAD} bytes")
            self._read()
        head = self.buf[: end + 2]
        length = 0
        for line in head.split(b"\n"):
            if line.startswith(b"Content-Length:"):
                length = int(line[15:].strip()) if line[15:].strip().isdigit() else 0
        if length > MAX_BODY:
            raise _TooLong(f"a message of {length} bytes")
        while len(self.buf) < end + 2 + length:
            self._read()
        body = self.buf[end + 2 : end + 2 + length]
        self.buf = self.buf[end + 2 + length :]
        return head, body

    def _read(self) -> None:
        chunk = self.conn.recv(CHUNK)
        if not chunk:
            raise OSError("closed by the switch")
        self.buf += chunk


def _column(table: str, name: str) -> list[str] | None:
    """The values of column `name` of a ``callcenter_config`` table (a header row, ``|``-separated rows,
    ``+OK``); None when the answer is not such a table (``-ERR ...``)."""
    lines = [line.strip() for line in table.splitlines() if line.strip()]
    if not lines or "|" not in lines[0] or name not in lines[0].split("|"):
        return None
    at = lines[0].split("|").index(name)
    rows = [line.split("|") for line in lines[1:] if not line.startswith(("+OK", "-ERR"))]
    return [row[at] for row in rows if len(row) > at and row[at]]
