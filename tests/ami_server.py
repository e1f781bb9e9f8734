"""A test Asterisk manager on loopback that speaks the AMI wire protocol: the banner, Login (accepted or
refused), Ping, and a recorded event stream, with faults to inject (a refused login, a disconnect in the
middle of a frame, a stalled peer). Only for the tests."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field


@dataclass
class Session:
    """What one connection does after the login: stream ``events`` (bytes), optionally cut after
    ``cut_after`` bytes (the connection then closes), or stall (send nothing, answer nothing)."""

    events: bytes = b""
    cut_after: int | None = None
    refuse_login: bool = False
    stall: bool = False


@dataclass
class AmiServer:
    user: str
    secret: str
    sessions: list[Session]
    logins: list[tuple[str, str]] = field(default_factory=list)
    pings: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
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

    def _serve(self, conn: socket.socket, session: Session) -> None:
        with conn:
            try:
                conn.sendall(b"Asterisk Call Manager/5.0.1\r\n")
                frame = self._read_frame(conn)
                headers = dict(line.split(": ", 1) for line in frame.decode().split("\r\n") if ": " in line)
                self.logins.append((headers.get("Username", ""), headers.get("Secret", "")))
                ok = (
                    headers.get("Username") == self.user
                    and headers.get("Secret") == self.secret
                    and not session.refuse_login
                )
                action = headers.get("ActionID", "")
                result = "Error" if not ok else "Success"
                message = "Authentication failed" if not ok else "Authentication accepted"
                reply = f"Response: {result}\r\nActionID: {action}\r\nMessage: {message}\r\n\r\n"
                conn.sendall(reply.encode())
                if not ok:
                    return
                if session.stall:
                    self._stop.wait(30)
                    return
                data = session.events if session.cut_after is None else session.events[: session.cut_after]
                conn.sendall(data)
                if session.cut_after is not None:
                    return
                # Then answer Pings until the client goes.
                while not self._stop.is_set():
                    frame = self._read_frame(conn)
                    if not frame:
                        return
                    if b"Action: Ping" in frame:
                        self.pings += 1
                        conn.sendall(b"Response: Success\r\nPing: Pong\r\n\r\n")
            except OSError:
                return

    @staticmethod
    def _read_frame(conn: socket.socket) -> bytes:
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(4096)
            if not chunk:
                return b""
            buf += chunk
        return buf.split(b"\r\n\r\n", 1)[0]
