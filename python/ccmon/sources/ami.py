"""A live Asterisk Manager Interface client: ``ccmon run --ami ami://user@pbx:5038``.

It connects, logs in (the secret comes from the environment or a file, never from the command line, and is
never logged) asking only for the ``call`` and ``agent`` event classes (the queue, agent, transfer, hold and
music-on-hold events; not the system, log, dialplan or CDR chatter), asks the manager for its QueueStatus,
then hands the raw stream to the engine, which parses the frames (``format="ami"``) and makes its waiting
calls and queue members agree with the QueueStatus answer when it is complete: after a restart or an outage
no ghost stays waiting and no caller already waiting is missed.
Events need their ``Timestamp`` header: set ``timestampevents = yes`` in Asterisk's ``manager.conf``. A Ping
every ``ping_seconds`` keeps the connection alive; silence for twice that, a refused login or any socket
error closes it and the client reconnects after a backoff that doubles up to ``max_backoff`` seconds, with
jitter so that many monitors do not reconnect in step.
"""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlparse

from ccmon.monitor import Monitor
from ccmon.sources.switch import CHUNK, Refused, SwitchClient

log = logging.getLogger(__name__)


class LoginRefused(Refused):
    """The manager answered the login with an error."""


def parse_ami_url(url: str) -> tuple[str, str, int]:
    """``ami://user@host:5038`` → ``(user, host, port)``; the port defaults to 5038. Options after ``?``
    are `url_options`'."""
    parsed = urlparse(url)
    if parsed.scheme != "ami" or not parsed.hostname or not parsed.username:
        raise ValueError(f"--ami {url!r}: expected ami://USER@HOST[:PORT]")
    if parsed.password:
        raise ValueError("--ami: put no secret in the URL; use CCMON_AMI_SECRET or --ami-secret-file")
    return parsed.username, parsed.hostname, parsed.port or 5038


class AmiClient(SwitchClient):
    """Feeds one manager's events into a monitor until ``stop`` is set; ``up`` while logged in."""

    format = "ami"
    ping_name = "Ping"
    peer = "manager"

    def __init__(
        self,
        url: str,
        secret: str,
        monitor: Monitor,
        name: str = "ami",
        site: str | None = None,
        ping_seconds: float = 20.0,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self.user, host, port = parse_ami_url(url)
        super().__init__(url, host, port, monitor, name, site, ping_seconds, min_backoff, max_backoff)
        self._secret = secret
        self._pings = 0

    def _refused(self, e: Refused) -> str:
        return f"login as {self.user} refused: {e}"

    def _logged_in(self) -> str:
        return f"logged in to {self.host}:{self.port} as {self.user}"

    def _start(self, conn: socket.socket, pending: bytes) -> bytes:
        if pending:
            self.monitor.feed(pending, "ami", self.name, self.site)
        # The QueueStatus answer has no timestamps: it is applied at the engine's "now", which must be the
        # wall clock, not the last event heard before an outage.
        self.monitor.advance_clock()
        conn.sendall(f"Action: QueueStatus\r\nActionID: ccmon-status-{self.connects}\r\n\r\n".encode())
        self._pings = 0
        return b""

    def _ping(self) -> bytes:
        self._pings += 1
        return f"Action: Ping\r\nActionID: ccmon-ping-{self._pings}\r\n\r\n".encode()

    def _login(self, conn: socket.socket) -> bytes:
        """Logs in; returns what arrived after the login response (events already streaming)."""
        conn.sendall(
            (
                f"Action: Login\r\nUsername: {self.user}\r\nSecret: {self._secret}\r\n"
                "Events: call,agent\r\nActionID: ccmon-login\r\n\r\n"
            ).encode()
        )
        buf = b""
        while True:
            chunk = conn.recv(CHUNK)
            if not chunk:
                raise OSError("closed during login")
            buf += chunk
            # The banner line, then the response frame (AMI ends lines with CRLF, frames with a blank line).
            while (end := buf.find(b"\r\n\r\n")) >= 0:
                frame, buf = buf[:end], buf[end + 4 :]
                if b"ActionID: ccmon-login" not in frame:
                    continue
                if b"Response: Success" in frame:
                    return buf
                messages = [line[8:].strip() for line in frame.splitlines() if line.startswith(b"Message:")]
                raise LoginRefused(messages[0].decode(errors="replace") if messages else "no reason given")
            if len(buf) > 1 << 20:
                raise OSError("no login response in the first MiB")
