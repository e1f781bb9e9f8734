"""A seeded call-center simulator that writes Asterisk queue_log lines.

The simulated site has five departments (sales, support, technical, billing and a supervisor escalation queue)
staffed by agents who log in and out with the time of day, take breaks, ring out without answering, transfer
callers to other departments and sometimes bounce them around. Callers have patience, press keys, call back
after abandoning and after pressing the wrong IVR option. Arrivals follow the UTC hour of the simulated day
(about 0.2 calls/s at night to 0.6 at peak, plus occasional surges); staffing follows them, a little short in
billing and tier 2.

So that a demo shows everything within minutes whatever the hour, the first minutes after ``start`` are
partly scripted (see ``Simulator._showcase``): a ping-pong journey, a bounced call, a misrouted caller who
calls back, a fake and an unanswered escalation, an incident flooding tier 2 (long holds, a caller pressing
the exit key, short and long abandons) and the VIP desk leaving for a meeting (EXITEMPTY). After that
everything keeps happening at its natural rate.

The output is a pure function of ``seed`` and ``start``: however :meth:`Simulator.advance_to` is chunked, the
concatenated bytes are identical, because every random draw happens inside a discrete event and events are
ordered by (time, sequence number).

Example:
    >>> from ccmon.simulator import DEMO_CONFIG, Simulator, generate
    >>> data = generate(seed=7, start=1_700_000_000, duration_seconds=600)
    >>> data.splitlines()[0]
    b'1700000000|NONE|NONE|NONE|QUEUESTART|'
    >>> sim = Simulator(seed=7, start=1_700_000_000)
    >>> sim.advance_to(1_700_000_300) + sim.advance_to(1_700_000_600) == data
    True
    >>> sorted(DEMO_CONFIG["departments"])
    ['billing', 'sales', 'supervisor', 'support', 'technical']
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

__all__ = ["DEMO_CONFIG", "Simulator", "generate"]

DEMO_CONFIG: dict[str, Any] = {
    "departments": {
        "sales": ["sales", "sales-vip"],
        # Tier 2 is its own department: SPEC §4 counts re-entering a department as a loop, and an escalation
        # from first-line support to tier 2 is the normal path, not a caller passed around in circles.
        "support": ["support"],
        "technical": ["support-tier2"],
        "billing": ["billing"],
        "supervisor": ["supervisor"],
    },
    "supervisor_queues": ["supervisor"],
    "supervisors": ["Agent/9001", "Agent/9002"],
    "moh_track_seconds": {"default": 30, "jazz": 180},
    "queue_moh_class": {
        "sales": "jazz",
        "sales-vip": "jazz",
        "support": "default",
        "support-tier2": "default",
        "billing": "default",
        "supervisor": "jazz",
    },
    "service_level_seconds": 20,
}

_DEPARTMENT: dict[str, str] = {q: d for d, qs in DEMO_CONFIG["departments"].items() for q in qs}


@dataclass(frozen=True, slots=True)
class _QueueSpec:
    extension: str
    talk_median: float  # seconds; talk times are lognormal around it
    wrapup: int  # Asterisk's per-queue wrapuptime
    timeout: int | None  # queue timeout; None lets callers wait until their patience runs out
    patience_median: float
    key_prob: float  # chance a caller takes the "press 1 to leave a message" offer
    transfer_prob: float  # chance an ordinary answered call is sent on to another queue
    transfer_to: tuple[tuple[str, float], ...]
    on_timeout: str | None  # where the dialplan sends timed-out callers; None: voicemail, the call ends
    on_empty: str | None


_QUEUES: dict[str, _QueueSpec] = {
    "sales": _QueueSpec(
        extension="7001", talk_median=150, wrapup=10, timeout=900, patience_median=110, key_prob=0.01,
        transfer_prob=0.06, transfer_to=(("billing", 0.5), ("support", 0.5)), on_timeout=None, on_empty=None,
    ),
    "sales-vip": _QueueSpec(
        extension="7002", talk_median=240, wrapup=15, timeout=180, patience_median=150, key_prob=0.0,
        transfer_prob=0.05, transfer_to=(("billing", 1.0),), on_timeout="sales", on_empty="sales",
    ),
    "support": _QueueSpec(
        extension="7101", talk_median=200, wrapup=15, timeout=1200, patience_median=300, key_prob=0.02,
        transfer_prob=0.12, transfer_to=(("support-tier2", 0.5), ("billing", 0.45), ("supervisor", 0.05)),
        on_timeout=None, on_empty=None,
    ),
    "support-tier2": _QueueSpec(
        extension="7102", talk_median=420, wrapup=30, timeout=600, patience_median=900, key_prob=0.03,
        transfer_prob=0.06, transfer_to=(("supervisor", 0.5), ("billing", 0.5)),
        on_timeout="support", on_empty="support",
    ),
    "billing": _QueueSpec(
        extension="7201", talk_median=180, wrapup=20, timeout=900, patience_median=240, key_prob=0.03,
        transfer_prob=0.10, transfer_to=(("support", 0.7), ("sales", 0.25), ("supervisor", 0.05)),
        on_timeout=None, on_empty=None,
    ),
    "supervisor": _QueueSpec(
        extension="7901", talk_median=240, wrapup=15, timeout=120, patience_median=240, key_prob=0.0,
        transfer_prob=0.08, transfer_to=(("billing", 0.5), ("support", 0.5)),
        on_timeout="support", on_empty="support",
    ),
}  # fmt: skip

# Where the IVR sends new callers. Tier 2 has a direct number for partners; supervisor is reached only by
# transfer, which is what makes it an escalation.
_IVR: tuple[tuple[str, float], ...] = (
    ("sales", 0.28),
    ("sales-vip", 0.01),
    ("support", 0.40),
    ("support-tier2", 0.01),
    ("billing", 0.30),
)

# Relative arrival rate at each UTC hour (peak = 1). It never falls near zero, so a demo started at night
# still has something to show; real night traffic would be much lower.
_PROFILE: tuple[float, ...] = (
    0.36, 0.34, 0.33, 0.33, 0.34, 0.38, 0.45, 0.62, 0.82, 0.97, 1.00, 0.96,
    0.82, 0.86, 0.95, 0.96, 0.90, 0.76, 0.62, 0.52, 0.46, 0.42, 0.40, 0.38,
)  # fmt: skip
_PEAK_RATE = 0.6  # arrivals per second over the whole site at the peak hour


@dataclass(frozen=True, slots=True)
class _GroupSpec:
    name: str
    queues: tuple[str, ...]  # priority order: a free agent takes the first of these that has a caller
    first_id: int
    size: int  # agents on the roster
    peak_load: float  # offered Erlangs at the peak hour; staffing follows the arrival profile
    beta: float  # square-root staffing margin: higher means a better service level
    minimum: tuple[int, int]  # staff floor (night, day)
    open_hours: tuple[float, float] = (0.0, 24.0)  # UTC hours the group is staffed at all
    pause_every: float = 5400.0  # mean seconds between an agent's breaks
    supervisor: bool = False


_GROUPS: tuple[_GroupSpec, ...] = (
    _GroupSpec("sales", ("sales",), 1001, 60, 34.0, 0.5, (3, 4)),
    _GroupSpec("vip", ("sales-vip",), 1201, 3, 1.2, 0.8, (0, 2), open_hours=(7.0, 21.0)),
    _GroupSpec("support", ("support",), 2001, 100, 66.0, 0.3, (4, 6)),
    # Tier 2 is a small team with long calls: the queue where callers hold for many minutes at peak.
    _GroupSpec("tier2", ("support-tier2",), 4001, 24, 12.0, 0.0, (3, 3)),
    # Team leads are not supervisors, yet they answer the escalation queue first, which is why most
    # escalations never reach a real supervisor.
    _GroupSpec("leads", ("supervisor",), 5001, 4, 1.5, 0.5, (1, 2)),
    _GroupSpec("billing", ("billing",), 3001, 70, 48.0, 0.2, (3, 4)),
    _GroupSpec("supervisors", ("supervisor",), 9001, 2, 0.0, 0.0, (1, 2), pause_every=480.0, supervisor=True),
)

_VIP = next(g for g in _GROUPS if g.name == "vip")

# Real supervisors are the overflow of the escalation queue (Asterisk member penalty 1).
_PENALTY: dict[tuple[str, str], int] = {("supervisors", "supervisor"): 1}

# Scripted journeys, on top of the transfers agents decide on after answering (transfer_prob).
_PINGPONGS: tuple[tuple[str, ...], ...] = (
    ("support", "billing", "support"),
    ("billing", "support", "billing"),
    ("support", "billing", "support", "billing"),
    ("sales", "billing", "sales"),
)
_ESCALATIONS: tuple[tuple[str, ...], ...] = (
    ("support", "supervisor"),
    ("billing", "supervisor"),
    ("support", "support-tier2", "supervisor"),
    ("sales-vip", "supervisor"),
)
_BOUNCE_TARGETS = ("sales", "support", "billing", "support-tier2", "supervisor")
_MISROUTABLE = ("sales", "support", "billing")
_STAFFING_PERIOD = 900  # shift changes happen on the quarter hour
_SURGE_EVERY = 4 * 3600.0  # mean seconds between traffic surges
# Share of logged-in time an agent can take calls: breaks, lunch and ring-outs take the rest.
_AVAILABILITY = 0.85
_MAX_TRANSFERS = 4


def _profile(t: float) -> float:
    """Relative arrival rate at epoch ``t``, interpolated linearly between UTC hours."""
    h = (t % 86400.0) / 3600.0
    i = int(h)
    frac = h - i
    return _PROFILE[i] * (1.0 - frac) + _PROFILE[(i + 1) % 24] * frac


def _is_day(t: float) -> bool:
    return 8.0 <= (t % 86400.0) / 3600.0 < 18.0


@dataclass(slots=True, eq=False)
class _Agent:
    name: str
    group: _GroupSpec
    queues: tuple[str, ...]
    logged_in: bool = False
    paused: bool = False
    busy: bool = False  # ringing, talking, in wrap-up or waiting to retry
    idle: bool = False  # listed in the idle index of each of its queues
    want_pause: str | None = None  # pause reason to take once the current call is over
    want_logout: bool = False
    ring_token: int = 0  # invalidates a pending ring outcome when the caller gives up first
    login_t: int = 0
    logout_t: int = 0
    had_lunch: bool = False


@dataclass(slots=True, eq=False)
class _Call:
    callid: str
    caller: str
    path: list[str]  # planned queues; ordinary calls grow it when an agent decides to transfer
    misroute_to: str | None = None  # the department the caller really wanted after pressing the wrong key
    hop: int = 0  # index in path of the current entry
    transfers: int = 0
    entries: int = 0
    quick: bool = False  # showcase journeys move fast so the demo shows them within minutes
    final_talk: int | None = None  # fixed talk at the last planned queue, for showcase callers
    patience: float | None = None  # fixed patience for showcase callers
    key_at: float | None = None  # fixed key press for showcase callers


@dataclass(slots=True, eq=False)
class _Entry:
    call: _Call
    queue: str
    enter_t: int
    origpos: int
    ringing: _Agent | None = None
    ring_start: int = 0
    closed: bool = False


@dataclass(slots=True)
class _RecentCallers:
    """Ring buffer of recent caller numbers, so that some callers call again the same day."""

    size: int
    items: list[str] = field(default_factory=list)
    pos: int = 0

    def add(self, number: str) -> None:
        if len(self.items) < self.size:
            self.items.append(number)
        else:
            self.items[self.pos] = number
            self.pos = (self.pos + 1) % self.size


class Simulator:
    """Discrete-event simulation of the demo site, producing Asterisk queue_log bytes on demand.

    Event times are whole epoch seconds (as real Asterisk writes them) from ``ceil(start)`` on.

    Example:
        >>> sim = Simulator(seed=3, start=1_700_000_000)
        >>> lines = sim.advance_to(1_700_000_120).decode().splitlines()
        >>> all(len(line.split("|")) >= 5 for line in lines), sim.now
        (True, 1700000120)
        >>> sim.advance_to(1_700_000_000)  # the past is already delivered
        b''
    """

    def __init__(self, seed: int = 1, start: float | None = None, speed: float = 1.0) -> None:
        self.seed = seed
        # Only informs the demo runner how fast to call advance_to; the simulation itself is in event time.
        self.speed = speed
        self._start = time.time() if start is None else float(start)
        self._now: float = self._start
        self._t0 = math.ceil(self._start)
        self._t = self._t0
        self._rng = random.Random(seed)
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = 0
        self._out: list[str] = []
        self._uid = 100 + self._rng.randrange(900)
        self._arrival_clock: float = float(self._t0)
        self._recent = _RecentCallers(4000)
        self._vip_meeting_until = 0
        self._vip_showcase_at: int | None = None  # seconds after start; None once the VIP caller was sent
        self._vip_showcase_until = 0  # the showcase meeting lasts until the VIP caller was sent on
        self._waiting: dict[str, list[_Entry]] = {q: [] for q in _QUEUES}
        # Idle agents per queue in the order they became idle: the first is the one idle longest, which is
        # the agent Asterisk's leastrecent strategy rings.
        self._idle: dict[str, dict[str, _Agent]] = {q: {} for q in _QUEUES}
        # Members logged in and not paused: the queues run with leavewhenempty=paused, so a queue whose
        # members are all paused or logged out sends its callers on.
        self._present: dict[str, int] = {q: 0 for q in _QUEUES}
        self._groups: dict[str, list[_Agent]] = {
            g.name: [_Agent(f"Agent/{g.first_id + i}", g, g.queues) for i in range(g.size)] for g in _GROUPS
        }
        self._at(self._t0, self._setup)

    @property
    def now(self) -> float:
        """The event time up to which output has been delivered."""
        return self._now

    def advance_to(self, t: float) -> bytes:
        """Run the simulation up to event time ``t`` (inclusive) and return the new queue_log lines.

        Example:
            >>> sim = Simulator(seed=1, start=1_700_000_000)
            >>> chunk = sim.advance_to(1_700_000_060)
            >>> max(int(line.split(b"|")[0]) for line in chunk.splitlines()) <= 1_700_000_060
            True
        """
        limit = math.floor(t)
        heap = self._heap
        while heap and heap[0][0] <= limit:
            when, _, handler = heapq.heappop(heap)
            self._t = when
            handler()
        self._now = max(self._now, t)
        if not self._out:
            return b""
        out = "\n".join(self._out) + "\n"
        self._out = []
        return out.encode()

    # --- event plumbing -------------------------------------------------------------------------------------

    def _at(self, t: int, handler: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, handler))

    def _after(self, seconds: float, handler: Callable[[], None]) -> None:
        self._at(self._t + max(0, round(seconds)), handler)

    def _emit(self, callid: str, queue: str, agent: str, event: str, *data: object) -> None:
        self._out.append(f"{self._t}|{callid}|{queue}|{agent}|{event}|" + "|".join(map(str, data)))

    def _new_uid(self, created: int) -> str:
        self._uid += 1
        return f"{created}.{self._uid}"

    # --- setup and the showcase -----------------------------------------------------------------------------

    def _setup(self) -> None:
        r = self._rng
        t0 = self._t0
        self._emit("NONE", "NONE", "NONE", "QUEUESTART")
        for spec in _GROUPS:
            target = self._target(spec)
            for agent in self._groups[spec.name][:target]:
                self._login(agent)
                # The log starts in the middle of a working day: many agents are already on calls that began
                # before it, so queues fill up at once instead of after a long warm-up.
                if spec.name == "leads":
                    # All leads but one: the first escalation finds someone, the next one may not.
                    if agent is not self._groups["leads"][0]:
                        self._busy_until(agent, t0 + r.randint(300, 600))
                elif spec.name == "tier2":
                    if r.random() < 0.9:
                        self._busy_until(agent, t0 + r.randint(60, 600))
                elif spec.name not in ("supervisors", "vip") and r.random() < 0.7:
                    median = _QUEUES[spec.queues[0]].talk_median
                    self._busy_until(agent, t0 + r.randint(1, int(median * 1.6)))
            for agent in self._groups[spec.name]:
                # The lead kept free for the first escalation does not wander off before it comes.
                first = 600 if agent is self._groups["leads"][0] else 0
                self._after(
                    first + r.expovariate(1.0 / spec.pause_every), partial(self._pause_request, agent)
                )
        # Supervisors start the log in their morning meeting, so the first escalations show who really
        # answers that queue.
        for agent in self._groups["supervisors"]:
            if agent.logged_in:
                self._after(
                    r.randint(1, 10), partial(self._pause_request, agent, "meeting", r.randint(400, 900))
                )
        first_tick = (t0 // _STAFFING_PERIOD + 1) * _STAFFING_PERIOD
        self._at(first_tick, self._staffing_tick)
        meeting = r.randint(40, 80)
        self._after(meeting, partial(self._vip_meeting, r.randint(240, 420)))
        self._showcase(meeting)
        self._schedule_arrival()
        self._after(r.expovariate(1.0 / _SURGE_EVERY), self._random_surge)

    def _showcase(self, vip_meeting: int) -> None:
        """Journeys that make every kind of trouble visible in the first minutes of the demo."""
        r = self._rng

        def journey(path: list[str], anonymous: bool = False, talk: int | None = None) -> Callable[[], None]:
            return partial(
                self._spawn, path, quick=True, patience=1800.0, anonymous=anonymous, final_talk=talk
            )

        self._after(r.randint(5, 12), journey(["support", "billing", "support"]))
        misrouted = partial(self._spawn, ["sales"], misroute_to="billing", quick=True, patience=1800.0)
        self._after(r.randint(10, 20), partial(misrouted, caller=self._number()))
        self._after(r.randint(20, 30), journey(["sales", "support", "billing", "support-tier2"]))
        # The one team lead not already on a call takes this escalation and keeps it long enough that the
        # second escalation below finds nobody and times out.
        escalation = journey(["support", "supervisor"], anonymous=True, talk=r.randint(240, 420))
        self._after(r.randint(30, 40), escalation)
        self._after(r.randint(45, 60), journey(["support", "support-tier2"]))
        # The VIP caller comes once the VIP desk has actually emptied (see _vip_showcase).
        self._vip_showcase_at = vip_meeting
        # A partner-facing incident floods tier 2: long holds, timeouts, callers pressing the exit key.
        surge = r.randint(30, 50)
        self._after(surge, partial(self._surge, "support-tier2", None, r.randint(400, 700)))
        tier2 = ["support-tier2"]
        self._after(surge + r.randint(60, 90), partial(self._spawn, tier2, key_at=float(r.randint(40, 70))))
        self._after(surge + r.randint(30, 50), partial(self._spawn, tier2, patience=float(r.randint(2, 4))))
        self._after(surge + r.randint(60, 90), partial(self._spawn, tier2, patience=float(r.randint(25, 50))))
        self._after(surge + r.randint(10, 30), journey(["billing", "supervisor"]))

    # --- arrivals -------------------------------------------------------------------------------------------

    def _surge(self, queue: str, rate: float | None, length: int) -> None:
        """Extra callers into one queue for a while, on top of the normal traffic (an outage, a mailing).

        With no rate, the surge brings 2.5 times what the agents present can answer, whatever the hour.
        """
        if rate is None:
            rate = max(0.02, 2.5 * self._present[queue] / (_QUEUES[queue].talk_median * 1.2))
        self._surge_next(queue, rate, self._t + length, float(self._t))

    def _surge_next(self, queue: str, rate: float, until: int, clock: float) -> None:
        clock += self._rng.expovariate(rate)
        if clock <= until:
            self._at(math.ceil(clock), partial(self._surge_arrival, queue, rate, until, clock))

    def _surge_arrival(self, queue: str, rate: float, until: int, clock: float) -> None:
        self._spawn([queue])
        self._surge_next(queue, rate, until, clock)

    def _random_surge(self) -> None:
        r = self._rng
        queue = r.choice(("support", "support-tier2", "billing", "sales"))
        rate = {"support-tier2": 0.04}.get(queue, 0.08)
        self._surge(queue, rate * r.uniform(0.6, 1.2), r.randint(600, 1800))
        self._after(r.expovariate(1.0 / _SURGE_EVERY), self._random_surge)

    def _schedule_arrival(self) -> None:
        # A float clock keeps the Poisson process exact even though events land on whole seconds.
        self._arrival_clock += self._rng.expovariate(_PEAK_RATE)
        self._at(math.ceil(self._arrival_clock), self._arrival)

    def _arrival(self) -> None:
        r = self._rng
        # Thinning: candidates come at the peak rate and are kept in proportion to the hour's profile.
        if r.random() < _profile(self._arrival_clock):
            path, misroute_to = self._journey()
            self._spawn(path, misroute_to=misroute_to)
        self._schedule_arrival()

    def _journey(self) -> tuple[list[str], str | None]:
        """The queues a new call is meant to visit, and the department a misrouted caller really wanted."""
        r = self._rng
        u = r.random()
        if u < 0.025:
            return list(r.choice(_PINGPONGS)), None
        if u < 0.04:
            # Bounced: three transfers, each to another department.
            path = [_pick(r, _IVR)]
            for _ in range(3):
                here = _DEPARTMENT[path[-1]]
                path.append(r.choice([q for q in _BOUNCE_TARGETS if _DEPARTMENT[q] != here]))
            return path, None
        if u < 0.044:
            return list(r.choice(_ESCALATIONS)), None
        first = _pick(r, _IVR)
        if first in _MISROUTABLE and r.random() < 0.04:
            # The caller pressed the wrong IVR option: they land here but wanted another department.
            return [first], r.choice([q for q in _MISROUTABLE if q != first])
        return [first], None

    def _spawn(
        self,
        path: list[str],
        *,
        caller: str | None = None,
        misroute_to: str | None = None,
        quick: bool = False,
        final_talk: int | None = None,
        patience: float | None = None,
        key_at: float | None = None,
        anonymous: bool = False,
    ) -> None:
        r = self._rng
        if caller is None:
            caller = "anonymous" if anonymous else self._caller()
        ivr = r.randint(3, 20)  # the channel exists (and names the call) before the IVR hands it over
        call = _Call(
            callid=self._new_uid(self._t - ivr),
            caller=caller,
            path=list(path),
            misroute_to=misroute_to,
            quick=quick,
            final_talk=final_talk,
            patience=patience,
            key_at=key_at,
        )
        self._enter(call)

    def _caller(self) -> str:
        r = self._rng
        u = r.random()
        if u < 0.03:
            return "anonymous"
        if u < 0.11 and self._recent.items:
            return r.choice(self._recent.items)
        return self._number()

    def _number(self) -> str:
        """A new caller number: mostly French mobiles and landlines, some international."""
        r = self._rng
        u = r.random()
        if u < 0.6:
            number = r.choice(("06", "07")) + f"{r.randrange(10**8):08d}"
        elif u < 0.95:
            number = f"0{r.randint(1, 5)}{r.randrange(10**8):08d}"
        else:
            number = r.choice(("+44", "+32", "+49")) + f"{r.randrange(10**9):09d}"
        self._recent.add(number)
        return number

    # --- queue entries and their outcomes -------------------------------------------------------------------

    def _enter(self, call: _Call) -> None:
        r = self._rng
        queue = call.path[call.hop]
        spec = _QUEUES[queue]
        waiting = self._waiting[queue]
        entry = _Entry(call, queue, self._t, len(waiting) + 1)
        waiting.append(entry)
        call.entries += 1
        self._emit(call.callid, queue, "NONE", "ENTERQUEUE", "", call.caller)
        if call.patience is not None:
            patience = call.patience
        elif call.key_at is not None:
            patience = math.inf  # a showcase caller who will press the key rather than hang up
        elif r.random() < 0.07:
            patience = r.uniform(1.0, 8.0)  # hangs up at the first announcement: a short abandon
        else:
            # Callers who were transferred have invested more and hold on longer.
            factor = 1.5 if call.entries > 1 else 1.0
            patience = r.lognormvariate(math.log(spec.patience_median * factor), 0.8)
        key = call.key_at if call.key_at is not None else math.inf
        if call.key_at is None and r.random() < spec.key_prob:
            key = r.uniform(30.0, 180.0)
        timeout = float(spec.timeout) if spec.timeout is not None else math.inf
        first = min(patience, key, timeout)
        kind = "abandon" if first == patience else ("key" if first == key else "timeout")
        if math.isfinite(first):
            self._after(max(1.0, first), partial(self._give_up, entry, kind))
        if self._present[queue] == 0:
            self._after(r.randint(1, 3), partial(self._check_empty, entry))
        else:
            self._dispatch(queue)

    def _leave(self, entry: _Entry) -> int:
        """Take a closing entry off its queue and return the position it had there."""
        waiting = self._waiting[entry.queue]
        position = waiting.index(entry) + 1
        del waiting[position - 1]
        entry.closed = True
        agent = entry.ringing
        if agent is not None:
            entry.ringing = None
            agent.ring_token += 1
            self._free(agent)
        return position

    def _give_up(self, entry: _Entry, kind: str) -> None:
        if entry.closed:
            return
        call = entry.call
        position = self._leave(entry)
        wait = self._t - entry.enter_t
        if kind == "abandon":
            self._emit(call.callid, entry.queue, "NONE", "ABANDON", position, entry.origpos, wait)
            if call.caller != "anonymous" and self._rng.random() < 0.3:
                self._after(
                    self._rng.randint(60, 1800),
                    partial(self._spawn, [call.path[0]], caller=call.caller),
                )
        elif kind == "key":
            key = self._rng.choice("1111110")
            self._emit(call.callid, entry.queue, "NONE", "EXITWITHKEY", key, position, entry.origpos, wait)
        else:
            self._emit(call.callid, entry.queue, "NONE", "EXITWITHTIMEOUT", position, entry.origpos, wait)
            self._fall_back(call, _QUEUES[entry.queue].on_timeout)

    def _check_empty(self, entry: _Entry) -> None:
        if entry.closed or self._present[entry.queue] > 0:
            return
        call = entry.call
        position = self._leave(entry)
        wait = self._t - entry.enter_t
        self._emit(call.callid, entry.queue, "NONE", "EXITEMPTY", position, entry.origpos, wait)
        self._fall_back(call, _QUEUES[entry.queue].on_empty)

    def _fall_back(self, call: _Call, queue: str | None) -> None:
        # The dialplan after Queue() sends the caller on, keeping the channel and so the call id.
        if queue is None or call.entries >= 8:
            return
        call.path.insert(call.hop + 1, queue)
        call.hop += 1
        self._after(self._rng.randint(1, 3), partial(self._enter, call))

    # --- agents meeting callers -----------------------------------------------------------------------------

    def _first_unrung(self, queue: str) -> _Entry | None:
        for entry in self._waiting[queue]:
            if entry.ringing is None:
                return entry
        return None

    def _dispatch(self, queue: str) -> None:
        idle = self._idle[queue]
        while idle:
            entry = self._first_unrung(queue)
            if entry is None:
                return
            agent = min(idle.values(), key=lambda a: _PENALTY.get((a.group.name, queue), 0))
            self._ring(entry, agent)

    def _ring(self, entry: _Entry, agent: _Agent) -> None:
        r = self._rng
        self._set_unavailable(agent)
        agent.busy = True
        agent.ring_token += 1
        entry.ringing = agent
        entry.ring_start = self._t
        if r.random() < 0.05:
            self._after(15, partial(self._ring_noanswer, entry, agent, agent.ring_token))
        else:
            self._after(r.randint(1, 8), partial(self._connect, entry, agent, agent.ring_token))

    def _ring_noanswer(self, entry: _Entry, agent: _Agent, token: int) -> None:
        if entry.closed or entry.ringing is not agent or agent.ring_token != token:
            return
        entry.ringing = None
        self._emit(entry.call.callid, entry.queue, agent.name, "RINGNOANSWER", 15000)
        if self._rng.random() < 0.4:
            # autopause=yes: Asterisk pauses a member who lets a call ring out.
            agent.busy = False
            self._pause(agent, "Auto-Pause", self._rng.randint(30, 180))
        else:
            self._after(5, partial(self._free, agent))  # the member's retry delay
        self._dispatch(entry.queue)

    def _connect(self, entry: _Entry, agent: _Agent, token: int) -> None:
        if entry.closed or entry.ringing is not agent or agent.ring_token != token:
            return
        r = self._rng
        call = entry.call
        entry.ringing = None
        ringtime = self._t - entry.ring_start
        self._leave(entry)
        hold = self._t - entry.enter_t
        self._emit(call.callid, entry.queue, agent.name, "CONNECT", hold, self._new_uid(self._t), ringtime)
        spec = _QUEUES[entry.queue]
        action = "complete"
        if call.hop + 1 < len(call.path):
            action = "transfer"
        elif call.misroute_to is not None and call.hop == 0:
            action = "misroute"
        elif call.transfers < _MAX_TRANSFERS and not call.quick and r.random() < spec.transfer_prob:
            call.path.append(_pick(r, spec.transfer_to))
            action = "transfer"
        if action == "transfer":
            talk = r.randint(15, 35) if call.quick else _clamp(r.lognormvariate(math.log(45.0), 0.5), 8, 300)
        elif action == "misroute":
            talk = r.randint(12, 55)  # "you want billing, please call again and press 2"
        elif call.final_talk is not None:
            talk = call.final_talk
        else:
            talk = _clamp(r.lognormvariate(math.log(spec.talk_median), 0.6), 5, 3600)
        self._after(talk, partial(self._talk_end, entry, agent, action, self._t))

    def _talk_end(self, entry: _Entry, agent: _Agent, action: str, connected: int) -> None:
        r = self._rng
        call = entry.call
        hold = connected - entry.enter_t
        talk = self._t - connected
        if action == "transfer":
            dest = call.path[call.hop + 1]
            u = r.random()
            # Asterisk versions and transfer styles log transfers under three names.
            if u < 0.7:
                event, target = "TRANSFER", (_QUEUES[dest].extension, "from-internal")
            elif u < 0.9:
                event, target = "BLINDTRANSFER", (_QUEUES[dest].extension, "from-internal")
            else:
                event, target = "ATTENDEDTRANSFER", ("BRIDGE", self._new_uid(self._t))
            self._emit(call.callid, entry.queue, agent.name, event, *target, hold, talk, entry.origpos)
            call.transfers += 1
            call.hop += 1
            self._after(r.randint(1, 4), partial(self._enter, call))
        else:
            event = "COMPLETEAGENT" if action == "misroute" or r.random() < 0.45 else "COMPLETECALLER"
            self._emit(call.callid, entry.queue, agent.name, event, hold, talk, entry.origpos)
            if action == "misroute" and call.misroute_to is not None:
                again = r.randint(30, 120) if call.quick else r.randint(30, 600)
                self._after(again, partial(self._spawn, [call.misroute_to], caller=call.caller))
        self._after(_QUEUES[entry.queue].wrapup, partial(self._free, agent))

    # --- agent states ---------------------------------------------------------------------------------------

    def _set_idle(self, agent: _Agent) -> None:
        agent.idle = True
        for q in agent.queues:
            self._idle[q][agent.name] = agent

    def _set_unavailable(self, agent: _Agent) -> None:
        if agent.idle:
            agent.idle = False
            for q in agent.queues:
                del self._idle[q][agent.name]

    def _busy_until(self, agent: _Agent, t: int) -> None:
        self._set_unavailable(agent)
        agent.busy = True
        self._at(t, partial(self._free, agent))

    def _free(self, agent: _Agent) -> None:
        """The agent is done with a call, a retry delay or a pause: go home, take a break or take a call."""
        agent.busy = False
        if not agent.logged_in or agent.paused:
            return
        if agent.want_logout:
            self._logout(agent)
            return
        if agent.want_pause is not None:
            reason, agent.want_pause = agent.want_pause, None
            self._pause(agent, reason, self._pause_length(agent, reason))
            return
        self._set_idle(agent)
        for q in agent.queues:
            entry = self._first_unrung(q)
            if entry is not None:
                self._ring(entry, agent)
                return

    def _pause_request(self, agent: _Agent, reason: str | None = None, length: int | None = None) -> None:
        r = self._rng
        if reason is None:
            self._after(r.expovariate(1.0 / agent.group.pause_every), partial(self._pause_request, agent))
        if not agent.logged_in or agent.paused or agent.want_logout or agent.want_pause is not None:
            return
        reason = reason or self._pause_reason(agent)
        if agent.idle:
            self._pause(agent, reason, length or self._pause_length(agent, reason))
        else:
            agent.want_pause = reason

    def _pause_reason(self, agent: _Agent) -> str:
        r = self._rng
        if agent.group.supervisor:
            return r.choice(("meeting", "coaching", "admin", "floor walk"))
        hour = (self._t % 86400) / 3600
        if 11 <= hour < 14 and not agent.had_lunch and r.random() < 0.6:
            agent.had_lunch = True
            return "lunch"
        return r.choice(("break", "break", "break", "admin", "coaching"))

    def _pause_length(self, agent: _Agent, reason: str) -> int:
        r = self._rng
        if agent.group.supervisor:
            return r.randint(900, 1800)
        low, high = {"lunch": (1800, 2700), "coaching": (600, 1200), "admin": (120, 600)}.get(
            reason, (300, 900)
        )
        return r.randint(low, high)

    def _pause(self, agent: _Agent, reason: str, length: int) -> None:
        self._set_unavailable(agent)
        agent.paused = True
        for q in agent.queues:
            self._emit("NONE", q, agent.name, "PAUSE", reason)
            self._leave_queue(q)
        self._after(length, partial(self._unpause, agent, reason))

    def _unpause(self, agent: _Agent, reason: str) -> None:
        agent.paused = False
        for q in agent.queues:
            self._emit("NONE", q, agent.name, "UNPAUSE", reason)
            self._present[q] += 1
        if not agent.busy:
            self._free(agent)

    def _login(self, agent: _Agent) -> None:
        agent.logged_in = True
        agent.want_logout = False
        agent.login_t = self._t
        agent.had_lunch = False
        for q in agent.queues:
            self._emit("NONE", q, agent.name, "ADDMEMBER", "")
            self._present[q] += 1
        if not agent.busy:
            self._free(agent)

    def _logout(self, agent: _Agent) -> None:
        self._set_unavailable(agent)
        agent.logged_in = False
        agent.want_logout = False
        agent.logout_t = self._t
        for q in agent.queues:
            self._emit("NONE", q, agent.name, "REMOVEMEMBER", "")
            self._leave_queue(q)

    def _leave_queue(self, queue: str) -> None:
        """One member fewer is present in ``queue``; the last one leaving empties it."""
        self._present[queue] -= 1
        if self._present[queue] == 0:
            self._queue_emptied(queue)

    def _queue_emptied(self, queue: str) -> None:
        # leavewhenempty: callers still waiting are sent on at the queue's next periodic check.
        for entry in self._waiting[queue]:
            self._after(self._rng.randint(1, 5), partial(self._check_empty, entry))
        self._vip_showcase()

    def _vip_showcase(self) -> None:
        """Send the showcase VIP caller into the empty VIP queue, once the showcase meeting has begun."""
        at = self._vip_showcase_at
        if at is not None and self._t >= self._t0 + at and self._present["sales-vip"] == 0:
            self._vip_showcase_at = None
            delay = self._rng.randint(5, 20)
            self._vip_showcase_until = self._t + delay + 10
            self._after(delay, partial(self._spawn, ["sales-vip"], patience=600.0))

    # --- staffing -------------------------------------------------------------------------------------------

    def _target(self, spec: _GroupSpec) -> int:
        t = self._t
        hour = (t % 86400) / 3600
        if not spec.open_hours[0] <= hour < spec.open_hours[1]:
            return 0
        if spec.name == "vip" and t < self._vip_meeting_until:
            return 0
        load = spec.peak_load * _profile(t)
        staff = math.ceil((load + spec.beta * math.sqrt(load)) / _AVAILABILITY) if load > 0 else 0
        return min(spec.size, max(spec.minimum[1] if _is_day(t) else spec.minimum[0], staff))

    def _staff(self, spec: _GroupSpec) -> None:
        target = self._target(spec)
        agents = self._groups[spec.name]
        on = [a for a in agents if a.logged_in and not a.want_logout]
        if len(on) < target:
            for a in agents:
                if len(on) >= target:
                    break
                if a.logged_in and a.want_logout:
                    a.want_logout = False
                    on.append(a)
            # Whoever went home longest ago starts the next shift.
            off = sorted((a for a in agents if not a.logged_in), key=lambda a: a.logout_t)
            for a in off[: max(0, target - len(on))]:
                self._login(a)
        elif len(on) > target:
            # Whoever has been on shift longest goes home first, after finishing the current call.
            for a in sorted(on, key=lambda a: a.login_t)[: len(on) - target]:
                if a.idle:
                    self._logout(a)
                else:
                    a.want_logout = True

    def _staffing_tick(self) -> None:
        for spec in _GROUPS:
            self._staff(spec)
        self._after(_STAFFING_PERIOD, self._staffing_tick)

    def _vip_meeting(self, length: int) -> None:
        # The whole VIP desk leaves for a team meeting: the queue is empty and callers are sent on.
        self._vip_meeting_until = self._t + length
        self._staff(_VIP)
        self._vip_showcase()
        self._after(length, self._vip_meeting_end)

    def _vip_meeting_end(self) -> None:
        r = self._rng
        if self._vip_showcase_at is not None or self._t < self._vip_showcase_until:
            # Someone was still on a call: the first meeting waits for them and for the showcase caller.
            self._vip_meeting_until = self._t + 30
            self._after(30, self._vip_meeting_end)
            return
        self._staff(_VIP)
        self._after(r.expovariate(1.0 / 4500.0), partial(self._vip_meeting, r.randint(300, 900)))


def _pick(r: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    u = r.random() * sum(w for _, w in weighted)
    for name, weight in weighted:
        u -= weight
        if u < 0:
            return name
    return weighted[-1][0]


def _clamp(x: float, low: float, high: float) -> int:
    return round(min(high, max(low, x)))


def generate(seed: int, start: float, duration_seconds: float) -> bytes:
    """All queue_log lines of the simulation over ``[start, start + duration_seconds]``.

    Example:
        >>> data = generate(seed=1, start=1_700_000_000, duration_seconds=300)
        >>> b"|ENTERQUEUE||" in data and data.endswith(b"\\n")
        True
    """
    return Simulator(seed=seed, start=start).advance_to(start + duration_seconds)
