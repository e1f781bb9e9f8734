"""A test Asterisk manager on loopback that speaks the AMI wire protocol: the banner, Login (accepted or
refused), Ping, QueueStatus (answered from the session's queues, members and waiting callers, as Asterisk
does: QueueParams, QueueMember, QueueEntry, QueueStatusComplete, without timestamps), and a recorded event
stream, with faults to inject (a refused login, a disconnect in the middle of a frame, a stalled peer).

Also runnable, to try ``ccmon run --ami`` without a PBX (see the README)::

    python tests/ami_server.py examples/session.ami --port 5038    # user ccmon, secret s3cret
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from loopback import Blocks, SessionServer, serve_until_interrupted


@dataclass
class Session:
    """What one connection does after the login: stream ``events`` (bytes), optionally cut after
    ``cut_after`` bytes (the connection then closes), or stall (send nothing, answer nothing)."""

    events: bytes = b""
    cut_after: int | None = None
    refuse_login: bool = False
    stall: bool = False
    queues: list[str] = field(default_factory=list)
    # (queue, member name, paused, reason) and (queue, Uniqueid, caller, seconds waited)
    members: list[tuple[str, str, bool, str]] = field(default_factory=list)
    waiting: list[tuple[str, str, str, int]] = field(default_factory=list)

    def queue_status(self, action: str) -> bytes:
        def frame(event: str, **headers: object) -> str:
            lines = [f"Event: {event}", *(f"{k}: {v}" for k, v in headers.items()), f"ActionID: {action}"]
            return "\r\n".join(lines) + "\r\n\r\n"

        out = [f"Response: Success\r\nActionID: {action}\r\nEventList: start\r\n"
               "Message: Queue status will follow\r\n\r\n"]  # fmt: skip
        items = 0
        for q in self.queues:
            out.append(frame("QueueParams", Queue=q, Calls=sum(w[0] == q for w in self.waiting)))
            items += 1
            for queue, name, paused, reason in self.members:
                if queue == q:
                    out.append(
                        frame("QueueMember", Queue=q, Name=name, Paused=int(paused), PausedReason=reason)
                    )
                    items += 1
            for pos, (_, uid, caller, wait) in enumerate(w for w in self.waiting if w[0] == q):
                out.append(frame("QueueEntry", Queue=q, Position=pos + 1, Uniqueid=uid, CallerIDNum=caller,
                                 Wait=wait))  # fmt: skip
                items += 1
        out.append(frame("QueueStatusComplete", EventList="Complete", ListItems=items))
        return "".join(out).encode()


@dataclass
class AmiServer(SessionServer):
    user: str
    secret: str
    sessions: list[Session]
    logins: list[tuple[str, str]] = field(default_factory=list)
    pings: int = 0
    status_requests: int = 0
    event_masks: list[str] = field(default_factory=list)
    bind_port: int = 0

    def _serve(self, conn: socket.socket, session: Session) -> None:
        with conn:
            try:
                conn.sendall(b"Asterisk Call Manager/5.0.1\r\n")
                frames = Blocks(conn, b"\r\n\r\n")
                frame = frames.next()
                headers = dict(line.split(": ", 1) for line in frame.decode().split("\r\n") if ": " in line)
                self.logins.append((headers.get("Username", ""), headers.get("Secret", "")))
                self.event_masks.append(headers.get("Events", ""))
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
                # Then answer Pings and QueueStatus until the client goes.
                while not self._stop.is_set():
                    frame = frames.next()
                    if not frame:
                        return
                    if b"Action: Ping" in frame:
                        self.pings += 1
                        conn.sendall(b"Response: Success\r\nPing: Pong\r\n\r\n")
                    elif b"Action: QueueStatus" in frame:
                        self.status_requests += 1
                        action = frame.split(b"ActionID: ", 1)[-1].split(b"\r\n", 1)[0].decode()
                        conn.sendall(session.queue_status(action))
            except OSError:
                return


def main() -> None:
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(
        description="A test Asterisk manager on 127.0.0.1 playing a recorded session."
    )
    ap.add_argument("recording", type=Path, help="raw AMI text, as a manager client receives it")
    ap.add_argument("--port", type=int, default=5038)
    ap.add_argument("--user", default="ccmon")
    ap.add_argument("--secret", default="s3cret")
    args = ap.parse_args()
    text = args.recording.read_bytes()
    if text.startswith(b"Asterisk Call Manager"):
        # This server sends its own banner and login response: the recording's are dropped.
        text = text.split(b"\r\n\r\n", 2)[2]
    server = AmiServer(args.user, args.secret, [Session(text)], bind_port=args.port)
    serve_until_interrupted(server, f"test AMI manager (user {args.user})")


if __name__ == "__main__":
    main()
