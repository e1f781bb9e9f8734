"""A test FreeSWITCH event socket on loopback that speaks the inbound ESL protocol: the ``auth/request``
greeting, ``auth`` (accepted or refused), ``event plain ...``, ``api ...`` with its ``api/response`` (and
mod_callcenter's ``callcenter_config`` tables when the session has a `Callcenter`), and a recorded event
stream, with faults to inject (a refused password, a disconnect in the middle of a message, a stalled peer, a
disconnect notice). Only for the tests.

Also runnable, to try ``ccmon run --freeswitch`` without a switch (see the README)::

    python tests/esl_server.py examples/callcenter.esl --port 8021    # password ClueCon
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from urllib.parse import quote

from loopback import Blocks, SessionServer, serve_until_interrupted


def event(headers: dict[str, str]) -> bytes:
    """One ``text/event-plain`` message: the envelope, then ``Key: url-encoded-value`` lines and a blank line,
    as FreeSWITCH frames an event."""
    body = "".join(f"{k}: {quote(v, safe='')}\n" for k, v in headers.items()) + "\n"
    data = body.encode()
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(data) + data


def api_response(text: str) -> bytes:
    data = text.encode()
    return b"Content-Type: api/response\nContent-Length: %d\n\n" % len(data) + data


DISCONNECT = (
    b"Content-Type: text/disconnect-notice\nContent-Length: 67\n\n"
    b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
)


MEMBERS = (
    "queue|instance_id|uuid|session_uuid|cid_number|cid_name|system_epoch|joined_epoch|rejoined_epoch|"
    "bridge_epoch|abandoned_epoch|base_score|skill_score|serving_agent|serving_system|state|score"
)
AGENTS = (
    "name|instance_id|uuid|type|contact|status|state|max_no_answer|wrap_up_time|reject_delay_time|"
    "busy_delay_time|no_answer_delay_time|last_bridge_start|last_bridge_end|last_offered_call|"
    "last_status_change|no_answer_count|calls_answered|talk_time|ready_time"
)


@dataclass
class Callcenter:
    """What mod_callcenter answers to ``api callcenter_config ...``, as the tables it prints (a header row,
    ``|``-separated rows, ``+OK``): the callers in each queue (session uuid, caller number, joined epoch,
    state), the tiers (queue, agent) and the agents (name, status)."""

    queues: dict[str, list[tuple[str, str, int, str]]] = field(default_factory=dict)
    tiers: list[tuple[str, str]] = field(default_factory=list)
    agents: list[tuple[str, str]] = field(default_factory=list)

    def answer(self, command: str) -> str:
        words = command.split()
        if words[:3] == ["callcenter_config", "queue", "list"] and len(words) == 3:
            rows = [f"{q}|longest-idle-agent|local_stream://moh|system|0|0|0" for q in self.queues]
            return self._table("name|strategy|moh_sound|time_base_score|max_wait_time|calls_answered|"
                               "calls_abandoned", rows)  # fmt: skip
        if words[:4] == ["callcenter_config", "queue", "list", "members"] and len(words) == 5:
            rows = [
                f"{words[4]}|single_box|m-{uuid}|{uuid}|{number}|{number}|{joined}|{joined}|0|0|0|0|0|||{state}|0"
                for uuid, number, joined, state in self.queues.get(words[4], [])
            ]
            return self._table(MEMBERS, rows)
        if words[:3] == ["callcenter_config", "tier", "list"]:
            return self._table(
                "queue|agent|state|level|position", [f"{q}|{a}|Ready|1|1" for q, a in self.tiers]
            )
        if words[:3] == ["callcenter_config", "agent", "list"]:
            rows = [f"{a}|single_box||callback|user/{a}|{status}|Waiting|3|10|10|60|0|0|0|0|0|0|0|0|0"
                    for a, status in self.agents]  # fmt: skip
            return self._table(AGENTS, rows)
        return "-ERR Unknown command\n"

    @staticmethod
    def _table(header: str, rows: list[str]) -> str:
        return "\n".join([header, *rows, "+OK"]) + "\n"


@dataclass
class Session:
    """What one connection does after ``auth``: stream ``events`` (bytes), optionally cut after ``cut_after``
    bytes (the connection then closes), or stall (send nothing, answer nothing); ``goodbye`` ends the stream
    with a disconnect notice."""

    events: bytes = b""
    cut_after: int | None = None
    refuse_auth: bool = False
    stall: bool = False
    goodbye: bool = False
    callcenter: Callcenter | None = None


@dataclass
class EslServer(SessionServer):
    password: str
    sessions: list[Session]
    auths: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    apis: int = 0
    bind_port: int = 0

    def _serve(self, conn: socket.socket, session: Session) -> None:
        with conn:
            try:
                conn.sendall(b"Content-Type: auth/request\n\n")
                commands = Blocks(conn, b"\n\n")
                command = commands.next().decode().strip()
                password = command.removeprefix("auth ")
                self.auths.append(password)
                if not command.startswith("auth ") or password != self.password or session.refuse_auth:
                    conn.sendall(b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n")
                    conn.sendall(DISCONNECT)
                    return
                conn.sendall(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
                command = commands.next().decode().strip()
                if command.startswith("event plain"):
                    self.subscriptions.append(command.removeprefix("event plain ").strip())
                    reply = b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n"
                    conn.sendall(reply)
                if session.stall:
                    self._stop.wait(30)
                    return
                data = session.events if session.cut_after is None else session.events[: session.cut_after]
                conn.sendall(data)
                if session.cut_after is not None:
                    return
                if session.goodbye:
                    conn.sendall(DISCONNECT)
                    return
                # Then answer api commands until the client goes.
                while not self._stop.is_set():
                    command = commands.next().decode().strip()
                    if not command:
                        return
                    if command.startswith("api callcenter_config"):
                        self.apis += 1
                        cc = session.callcenter
                        no_module = "-ERR callcenter_config Command not found!\n"
                        conn.sendall(api_response(cc.answer(command[4:]) if cc else no_module))
                    elif command.startswith("api "):
                        self.apis += 1
                        conn.sendall(api_response("UP 0 years, 0 days, 1 hour\n0 session(s)\n"))
            except OSError:
                return


def main() -> None:
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(
        description="A test FreeSWITCH event socket on 127.0.0.1 playing a recording."
    )
    ap.add_argument("recording", type=Path, help="ESL text/event-plain messages, as a client receives them")
    ap.add_argument("--port", type=int, default=8021)
    ap.add_argument("--password", default="ClueCon")
    args = ap.parse_args()
    server = EslServer(args.password, [Session(args.recording.read_bytes())], bind_port=args.port)
    serve_until_interrupted(server, "test event socket")


if __name__ == "__main__":
    main()
