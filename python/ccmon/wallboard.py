"""The terminal wallboard: per-queue figures in large, coloured cells and the callers who need help now.

It only draws what it is given: the per-queue frame of ``Monitor.queues()`` (SPEC §3, §3b), the one-row
site totals of ``Monitor.totals()`` and, optionally, the calls frame of ``Monitor.calls()``. Every figure is
shown as the engine computed it: the site-wide service level, abandon rate, ASA and quantiles come from the
totals row (computed with the configured service-level formula), never from arithmetic on the per-queue
rows. Nulls (no answered call yet, no service-level denominator) show as a dash, and missing columns as if
they were null, so a wallboard never dies on a quiet queue. Clock times are shown in the local time zone of
the machine running the wallboard, where the people reading it are.

Example:
    >>> import io
    >>> import polars as pl
    >>> from rich.console import Console
    >>> queues = pl.DataFrame({"queue": ["sales"], "answered": [40], "abandoned": [2], "waiting_now": [3],
    ...                        "longest_wait_now_seconds": [42.0], "service_level": [0.9]})
    >>> totals = queues.with_columns(pl.lit(None, pl.String).alias("queue"))
    >>> summary_line(totals, now=0.0).split(" ", 2)[2]
    'waiting=3 longest=0:42 answered=40 abandoned=2 SL=90.0%'
    >>> console = Console(file=io.StringIO(), width=120)
    >>> console.print(render(queues, totals, None, now=0.0))
    >>> "sales" in console.file.getvalue()
    True
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from rich import box
from rich.align import Align
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    import polars as pl

__all__ = ["render", "run_live", "summary_line"]

# Colour thresholds. Service level and abandon rate follow common contact-center targets (80/20, <5 %);
# waits are in seconds.
SL_WARN: Final = 0.80
SL_BAD: Final = 0.60
ABANDON_WARN: Final = 0.05
ABANDON_BAD: Final = 0.10
WAIT_WARN: Final = 60.0
WAIT_BAD: Final = 180.0
ASA_WARN: Final = 20.0
ASA_BAD: Final = 60.0
# A caller is listed under "callers who need you now" past these, or with any journey flag.
ALERT_WAIT: Final = 300.0
ALERT_ROWS: Final = 10
# Narrower than this, the per-queue table drops its free-text "Journeys" column ...
JOURNEYS_MIN_WIDTH: Final = 120
# ... and narrower than this (an 80-column terminal), labels shorten and cells lose their padding.
COMPACT_BELOW: Final = 100
# Without a terminal (a log file, systemd), one line this often instead of a redrawn screen.
SUMMARY_EVERY_SECONDS: Final = 5.0

_DASH = "—"

Row = Mapping[str, Any]
# (queues, totals, calls, now), as from Monitor.queues(), Monitor.totals(), Monitor.calls() and the clock.
Snapshot = Callable[[], "tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame | None, float]"]


def render(
    queues: pl.DataFrame,
    totals: pl.DataFrame | None,
    calls: pl.DataFrame | None,
    now: float,
    title: str = "ccmon",
) -> RenderableType:
    """The whole wallboard for one snapshot: headline figures, one row per queue, callers who need help.

    The headline and the "All queues" row show ``totals`` (the one row of ``Monitor.totals()``) as it is.

    Example:
        >>> import io, polars as pl
        >>> from rich.console import Console
        >>> console = Console(file=io.StringIO(), width=120)
        >>> console.print(render(pl.DataFrame(), None, None, now=0.0, title="site A"))
        >>> "No queue activity yet" in console.file.getvalue()
        True
    """
    return _Board(title, now, _rows(queues), _total(totals), [c for c in _rows(calls) if _needs_help(c)])


def summary_line(totals: pl.DataFrame | None, now: float) -> str:
    """One plain line of site totals, from the one row of ``Monitor.totals()``, for logs and terminals that
    cannot redraw.

    Example:
        >>> summary_line(None, now=0.0).split(" ", 2)[2]
        'waiting=0 longest=0:00 answered=0 abandoned=0 SL=n/a'
    """
    t = _total(totals)
    sl = t.get("service_level")
    return (
        f"ccmon {_clock(now)} waiting={_count(t, 'waiting_now')} "
        f"longest={_duration(_num(t, 'longest_wait_now_seconds'))} "
        f"answered={_count(t, 'answered')} abandoned={_count(t, 'abandoned')} "
        f"SL={'n/a' if sl is None else f'{sl * 100:.1f}%'}"
    )


def run_live(
    snapshot: Snapshot,
    stop: threading.Event,
    refresh_seconds: float = 1.0,
    console: Console | None = None,
) -> None:
    """Redraw the wallboard from ``snapshot()`` every ``refresh_seconds`` until ``stop`` is set.

    On a terminal the screen is redrawn in place; otherwise (output to a file or a pipe) a `summary_line` is
    printed every 5 seconds. Exceptions raised by ``snapshot`` propagate: a wallboard showing stale figures
    as if they were current would mislead the people watching it.

    Example:
        >>> import io, threading, polars as pl
        >>> from rich.console import Console
        >>> stop = threading.Event()
        >>> def snapshot():
        ...     stop.set()  # one round is enough here
        ...     queues = pl.DataFrame({"queue": ["sales"], "answered": [5]})
        ...     return queues, pl.DataFrame({"answered": [5]}), None, 0.0
        >>> console = Console(file=io.StringIO())
        >>> run_live(snapshot, stop, console=console)
        >>> "answered=5" in console.file.getvalue()
        True
    """
    console = console or Console()
    if not console.is_terminal:
        while True:
            _, totals, _, now = snapshot()
            console.print(summary_line(totals, now), markup=False, highlight=False, soft_wrap=True)
            if stop.wait(SUMMARY_EVERY_SECONDS):
                return
    queues, totals, calls, now = snapshot()
    with Live(render(queues, totals, calls, now), console=console, auto_refresh=False) as live:
        while not stop.wait(refresh_seconds):
            queues, totals, calls, now = snapshot()
            live.update(render(queues, totals, calls, now), refresh=True)


# --- figures ------------------------------------------------------------------------------------------------


def _rows(frame: pl.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None or frame.height == 0:
        return []
    return [{k: _clean(v) for k, v in row.items()} for row in frame.to_dicts()]


def _total(frame: pl.DataFrame | None) -> dict[str, Any]:
    """The site totals row, or no figures at all (shown as dashes and zeros) when there is none."""
    rows = _rows(frame)
    return rows[0] if rows else {}


def _clean(value: Any) -> Any:
    # NaN is how an upstream division by zero may arrive; it means "no value", like null.
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _num(row: Row, key: str) -> float:
    value = row.get(key)
    return 0.0 if value is None else float(value)


def _count(row: Row, key: str) -> int:
    value = row.get(key)
    return 0 if value is None else int(value)


# --- formatting ---------------------------------------------------------------------------------------------


def _clock(now: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(now))


def _duration(seconds: float | None) -> str:
    """``m:ss`` (``h:mm:ss`` past an hour), the way waits are read off a wallboard."""
    if seconds is None:
        return _DASH
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def _percent(value: float | None, digits: int = 0) -> str:
    return _DASH if value is None else f"{value * 100:.{digits}f}%"


def _sl_style(value: float | None) -> str:
    if value is None:
        return "dim"
    return "green" if value >= SL_WARN else ("yellow" if value >= SL_BAD else "bold red")


def _abandon_style(value: float | None) -> str:
    if value is None:
        return "dim"
    return "green" if value < ABANDON_WARN else ("yellow" if value < ABANDON_BAD else "bold red")


def _wait_style(seconds: float | None, warn: float = WAIT_WARN, bad: float = WAIT_BAD) -> str:
    if not seconds:
        return "dim"
    return "green" if seconds <= warn else ("yellow" if seconds <= bad else "bold red")


def _cell(value: str, style: str) -> Text:
    return Text(value, style=style, justify="right")


class _Board:
    """One snapshot, laid out for the width it is drawn at: free text is dropped before figures are cut,
    so an 80-column terminal still shows every number."""

    def __init__(
        self,
        title: str,
        now: float,
        rows: list[dict[str, Any]],
        totals: dict[str, Any],
        urgent: list[dict[str, Any]],
    ) -> None:
        self.title = title
        self.now = now
        self.rows = rows
        self.totals = totals
        self.urgent = urgent

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        compact = width < COMPACT_BELOW
        header = Table.grid(expand=True)
        header.add_column(justify="left")
        header.add_column(justify="right")
        header.add_row(Text(self.title, style="bold"), Text(_clock(self.now), style="bold"))
        yield header
        if not self.rows:
            yield Text("No queue activity yet.", style="dim")
            return
        yield _headline(self.totals, compact)
        yield _queue_table(self.rows, self.totals, journeys=width >= JOURNEYS_MIN_WIDTH, compact=compact)
        yield _callers_table(self.urgent, compact)


def _headline(t: Row, compact: bool = False) -> RenderableType:
    """The figures a manager reads from across the room, each in its own box, from the site totals row."""

    def tile(label: str, short: str, value: str, style: str) -> Panel:
        body = Text(value, style=f"bold {style}".strip(), justify="center")
        padding = (0, 1) if compact else (1, 2)
        return Panel(Align.center(body), title=short if compact else label, box=box.HEAVY, padding=padding)

    waiting = _count(t, "waiting_now")
    longest = _num(t, "longest_wait_now_seconds")
    sl = t.get("service_level")
    abandon = t.get("abandon_rate")
    tiles = Table.grid(expand=True, padding=(0, 1))
    for _ in range(5):
        tiles.add_column(ratio=1)
    tiles.add_row(
        tile("Waiting now", "Waiting", str(waiting), "yellow" if waiting else "dim"),
        tile("Longest wait", "Longest", _duration(longest), _wait_style(longest)),
        tile("Service level", "SL", _percent(sl), _sl_style(sl)),
        tile("Abandon rate", "Abandon", _percent(abandon, 1), _abandon_style(abandon)),
        tile("Answered", "Answered", str(_count(t, "answered")), ""),
    )
    return tiles


def _table(compact: bool, **kwargs: Any) -> Table:
    if compact:
        # The box's own blank separators are the only space between columns.
        kwargs.update(padding=(0, 0))
    return Table(expand=True, header_style="bold", **kwargs)


def _queue_table(
    rows: list[dict[str, Any]], totals: Row, journeys: bool = True, compact: bool = False
) -> Table:
    table = _table(compact, box=box.SIMPLE_HEAVY, show_footer=len(rows) > 1)
    table.add_column("Queue", style="bold", footer="All queues", no_wrap=True)
    for name in ("Waiting", "Longest", "SL", "Abandon", "Answered", "ASA", "p90", "Xfers", "Loops"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    if journeys:
        table.add_column("Journeys", overflow="fold", ratio=1)
    for r in rows:
        table.add_row(*_queue_cells(r)[: len(table.columns)])
    if len(rows) > 1:
        # The engine's site totals, as they are: the quantile is over all answered waits, not a mix of
        # the queues' quantiles.
        footers = [
            str(_count(totals, "waiting_now")),
            _duration(_num(totals, "longest_wait_now_seconds")),
            _percent(totals.get("service_level")),
            _percent(totals.get("abandon_rate"), 1),
            str(_count(totals, "answered")),
            _duration(totals.get("asa_seconds")),
            _duration(totals.get("wait_p90_seconds")),
            str(_count(totals, "transfers_out")),
            str(_count(totals, "loop_entries")),
            "",
        ]
        for column, footer in zip(table.columns[1:], footers, strict=False):
            column.footer = footer
    return table


def _queue_cells(r: Row) -> list[RenderableType]:
    waiting = _count(r, "waiting_now")
    longest = r.get("longest_wait_now_seconds")
    sl = r.get("service_level")
    abandon = r.get("abandon_rate")
    asa = r.get("asa_seconds")
    p90 = r.get("wait_p90_seconds")
    loops = _count(r, "loop_entries")
    return [
        Text(str(r.get("queue") or "?")),
        _cell(str(waiting), "bold yellow" if waiting else "dim"),
        _cell(_duration(longest) if waiting else _DASH, _wait_style(longest if waiting else None)),
        _cell(_percent(sl), _sl_style(sl)),
        _cell(_percent(abandon, 1), _abandon_style(abandon)),
        _cell(str(_count(r, "answered")), ""),
        _cell(_duration(asa), _wait_style(asa, ASA_WARN, ASA_BAD)),
        _cell(_duration(p90), _wait_style(p90)),
        _cell(str(_count(r, "transfers_out")), ""),
        _cell(str(loops), "yellow" if loops else "dim"),
        Text(_journey_notes(r), style="yellow"),
    ]


def _journey_notes(r: Row) -> str:
    """Caller-experience counts worth a look, only those that are not zero."""
    notes = []
    for key, label in (
        ("pingpong_entries", "ping-pong"),
        ("bounced_calls", "bounced"),
        ("misroutes", "misrouted"),
        ("repeat_calls", "repeat"),
    ):
        if n := _count(r, key):
            notes.append(f"{label} {n}")
    if escalations := _count(r, "escalations"):
        fake, unanswered = _count(r, "escalations_fake"), _count(r, "escalations_unanswered")
        notes.append(f"escalated {escalations} (fake {fake}, unanswered {unanswered})")
    return ", ".join(notes)


# --- callers ------------------------------------------------------------------------------------------------


# A repeat caller, or one misrouted before, is worth knowing but not a reason to step in now.
URGENT_FLAGS = frozenset(
    {"loop", "pingpong", "bounced", "escalation_fake", "escalation_unanswered", "moh_over_limit"}
)


def _needs_help(c: Row) -> bool:
    flags = {f.strip() for f in str(c.get("flags") or "").split(",")}
    # The engine flags calls over the configured hold-music limit (moh_over_limit); the wallboard only adds
    # its own "long wait" threshold.
    return bool(flags & URGENT_FLAGS) or _num(c, "wait_seconds") > ALERT_WAIT


def _callers_table(urgent: list[dict[str, Any]], compact: bool = False) -> RenderableType:
    if not urgent:
        return Text("No callers need attention.", style="dim")
    # Callers still on hold come first (someone can still pick them up), the longest wait first.
    urgent = sorted(
        urgent, key=lambda c: (c.get("state") != "waiting", -_num(c, "wait_seconds"), -_num(c, "plays"))
    )
    table = _table(
        compact,
        title=f"Callers who need you now ({len(urgent)})",
        title_style="bold",
        title_justify="left",
        box=box.SIMPLE,
    )
    table.add_column("Call", no_wrap=True)
    table.add_column("Queue", no_wrap=True)
    table.add_column("State", no_wrap=True)
    for name in ("Wait", "Queues", "Xfers", "Plays"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    # One line per caller on a small screen, so the ten most urgent all stay visible.
    table.add_column("Why", overflow="ellipsis" if compact else "fold", no_wrap=compact, ratio=1)
    for c in urgent[:ALERT_ROWS]:
        wait = _num(c, "wait_seconds")
        plays = _num(c, "plays")
        state = str(c.get("state") or "")
        table.add_row(
            str(c.get("call") or "?"),
            str(c.get("queue") or ""),
            Text(state, style="bold" if state == "waiting" else ""),
            _cell(_duration(wait), _wait_style(wait)),
            _cell(str(_count(c, "entries")), ""),
            _cell(str(_count(c, "transfers")), "yellow" if _count(c, "transfers") else ""),
            _cell(f"{plays:.1f}", "bold red" if "moh_over_limit" in str(c.get("flags") or "") else ""),
            Text(_why(c, wait, plays), style="yellow"),
        )
    return table


def _why(c: Row, wait: float, plays: float) -> str:
    reasons = [f.strip() for f in str(c.get("flags") or "").split(",") if f.strip()]
    if "moh_over_limit" in reasons:
        reasons[reasons.index("moh_over_limit")] = f"hold music ×{plays:.0f}"
    if wait > ALERT_WAIT:
        reasons.append("long wait")
    return ", ".join(reasons)
