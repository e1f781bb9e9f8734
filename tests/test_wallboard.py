"""The terminal wallboard: figures per queue with colour thresholds, site totals exactly as the engine's
totals row gives them, callers who need help, a plain summary line where there is no terminal, and no crash
on nulls, missing columns or empty frames."""

from __future__ import annotations

import io
import re
import threading
import time
from typing import Any

import polars as pl
import pytest
from rich.console import Console

from ccmon import wallboard
from ccmon.monitor import QUEUE_SCHEMA
from ccmon.simulator import DEMO_CONFIG, generate
from ccmon.wallboard import render, run_live, summary_line

NOW = 1_699_963_385.0

# Frames shaped exactly like Monitor.queues() / Monitor.totals() return them.
SCHEMA: dict[str, Any] = QUEUE_SCHEMA
COUNTS = tuple(name for name, dtype in SCHEMA.items() if dtype == pl.UInt64)
FIGURES = tuple(name for name, dtype in SCHEMA.items() if dtype == pl.Float64)
CALL_SCHEMA: dict[str, Any] = {
    "call": pl.String,
    "queue": pl.String,
    "state": pl.String,
    "wait_seconds": pl.Float64,
    "entries": pl.UInt32,
    "transfers": pl.UInt32,
    "plays": pl.Float64,
    "flags": pl.String,
}


def queue(name: str, **figures: Any) -> dict[str, Any]:
    """A queue row as SPEC §3 gives it: a quiet queue unless told otherwise."""
    row: dict[str, Any] = {"queue": name} | dict.fromkeys(COUNTS, 0) | dict.fromkeys(FIGURES)
    row["longest_wait_now_seconds"] = 0.0
    return row | figures


def queues(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SCHEMA)


def totals(**figures: Any) -> pl.DataFrame:
    """A site totals frame as ``Monitor.totals()`` gives it: one row, the columns of a queue row, no queue."""
    return queues(queue(None, **figures))  # type: ignore[arg-type]


def call(name: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"call": name, "queue": "support", "state": "waiting", "wait_seconds": 30.0}
    return row | {"entries": 1, "transfers": 0, "plays": 1.0, "flags": ""} | fields


def calls(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=CALL_SCHEMA)


def text(renderable: Any, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, record=True)
    console.print(renderable)
    return console.export_text()


def ansi(renderable: Any, width: int = 160) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=True, color_system="standard")
    console.print(renderable)
    value = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(value, str)
    return value


SALES = queue(
    "sales", offered=120, answered=100, answered_within_sl=90, abandoned=10, short_abandoned=3,
    service_level=90 / 107, abandon_rate=7 / 107, asa_seconds=12.0, wait_p90_seconds=31.0,
    waiting_now=2, longest_wait_now_seconds=42.0, transfers_out=6, loop_entries=1,
)  # fmt: skip
TIER2 = queue(
    "support-tier2", offered=40, answered=20, answered_within_sl=4, abandoned=8, timed_out=5,
    service_level=4 / 33, abandon_rate=8 / 33, asa_seconds=250.0, wait_p90_seconds=540.0,
    waiting_now=9, longest_wait_now_seconds=612.0,
    pingpong_entries=2, escalations=3, escalations_fake=2, escalations_unanswered=1, misroutes=1,
)  # fmt: skip
BUSY = queues(SALES, TIER2)
# The engine's totals for BUSY (counts summed, SPEC's default formula, p90 over all answered waits).
SITE = totals(
    offered=160, answered=120, answered_within_sl=94, abandoned=18, short_abandoned=3, timed_out=5,
    service_level=94 / 140, abandon_rate=15 / 140, asa_seconds=62.0, wait_p90_seconds=180.0,
    waiting_now=11, longest_wait_now_seconds=612.0, transfers_out=6, loop_entries=1,
    pingpong_entries=2, escalations=3, escalations_fake=2, escalations_unanswered=1, misroutes=1,
)  # fmt: skip
# A totals row the per-queue rows of BUSY do not add up to, as with another configured formula: whatever the
# engine says is what the wallboard shows.
ODD = totals(
    answered=3, abandoned=4, waiting_now=7, longest_wait_now_seconds=5.0, service_level=0.5,
    abandon_rate=0.25, asa_seconds=99.0, wait_p90_seconds=400.0, transfers_out=17, loop_entries=19,
)  # fmt: skip


def footer(out: str) -> str:
    """The figures of the "All queues" row, one space apart."""
    (line,) = [line for line in out.splitlines() if "All queues" in line]
    return " ".join(line.split("All queues", 1)[1].split())


# --- render -------------------------------------------------------------------------------------------------


def test_render_shows_every_queue_with_its_figures() -> None:
    out = text(render(BUSY, SITE, None, NOW, title="Paris site"))
    assert "Paris site" in out and time.strftime("%H:%M:%S", time.localtime(NOW)) in out
    for name in ("sales", "support-tier2", "All queues"):
        assert name in out
    for figure in ("0:42", "84%", "6.5%", "0:12", "0:31", "10:12", "12%", "4:10", "9:00"):
        assert figure in out, figure
    assert "ping-pong 2" in out and "escalated 3 (fake 2, unanswered 1)" in out and "misrouted 1" in out
    assert footer(out) == "11 10:12 67% 10.7% 120 1:02 3:00 6 1"


def test_headline_shows_the_totals_row() -> None:
    out = text(render(BUSY, SITE, None, NOW))
    headline = out.split("Queue")[0]
    assert re.search(r"\b11\b", headline)  # waiting now
    assert "10:12" in headline  # the longest wait
    assert "67%" in headline and "10.7%" in headline  # service level, abandon rate
    assert "120" in headline  # answered


def test_site_figures_are_the_totals_row_as_it_is() -> None:
    # The queue rows would suggest 67 %, 11 waiting, 10:12 ...: the totals row wins, nothing is recomputed.
    out = text(render(BUSY, ODD, None, NOW))
    headline = out.split("Queue")[0]
    assert "50%" in headline and "25.0%" in headline and "0:05" in headline
    assert re.search(r"\b7\b", headline) and re.search(r"\b3\b", headline)
    assert "67%" not in headline and "10:12" not in headline and "120" not in headline
    assert footer(out) == "7 0:05 50% 25.0% 3 1:39 6:40 17 19"
    assert summary_line(ODD, NOW).endswith("waiting=7 longest=0:05 answered=3 abandoned=4 SL=50.0%")
    # A single queue shows the same, with no "All queues" row to contradict it.
    single = text(render(queues(SALES), ODD, None, NOW))
    assert "50%" in single.split("Queue")[0] and "All queues" not in single


def test_without_totals_the_site_figures_are_blank() -> None:
    for missing in (None, pl.DataFrame(), totals().clear()):
        out = text(render(BUSY, missing, None, NOW))
        headline = out.split("Queue")[0]
        assert "—" in headline and "67%" not in headline and "10:12" not in headline
        assert footer(out) == "0 0:00 — — 0 — — 0 0"
        assert "sales" in out and "support-tier2" in out
        assert summary_line(missing, NOW).endswith("waiting=0 longest=0:00 answered=0 abandoned=0 SL=n/a")


def test_colours_follow_the_thresholds() -> None:
    out = ansi(render(BUSY, SITE, None, NOW))
    red, yellow, green = "\x1b[1;31m", "\x1b[33m", "\x1b[32m"
    assert f"{red}12%" in out  # service level under 60 %
    assert "\x1b[1;33m67%" in out  # the site's headline, between 60 and 80 %
    assert re.search(re.escape(red) + r" *10:12", out)  # longest wait over 3 minutes
    assert f"{green}84%" in out  # service level over 80 %
    assert re.search(re.escape(green) + r" *0:42", out)  # under a minute
    assert wallboard._sl_style(0.7) == "yellow" and wallboard._sl_style(None) == "dim"
    assert wallboard._wait_style(61) == "yellow" and wallboard._wait_style(180) == "yellow"
    assert wallboard._wait_style(181) == "bold red" and wallboard._wait_style(0) == "dim"
    assert wallboard._abandon_style(0.049) == "green" and wallboard._abandon_style(0.2) == "bold red"
    assert yellow in out


def test_render_survives_null_figures() -> None:
    row = queue("billing", offered=1, waiting_now=1) | dict.fromkeys(FIGURES)
    site = totals(offered=1, waiting_now=1, longest_wait_now_seconds=None)
    out = text(render(queues(row), site, calls(call("c1", wait_seconds=None, plays=None, flags=None)), NOW))
    assert "billing" in out and "—" in out


def test_render_survives_missing_columns_nan_and_empty_frames() -> None:
    sparse = pl.DataFrame({"queue": ["sales", "billing"], "service_level": [float("nan"), None]})
    sparse_site = pl.DataFrame({"queue": [None], "service_level": [float("nan")]})
    out = text(render(sparse, sparse_site, pl.DataFrame({"call": ["c9"]}), NOW))
    assert "billing" in out and "nan" not in out.lower()
    assert summary_line(sparse_site, NOW).endswith("SL=n/a")
    assert "No queue activity yet" in text(render(pl.DataFrame(), None, None, NOW))
    assert "No queue activity yet" in text(render(queues(), totals(), calls(), NOW))
    assert "No callers need attention" in text(render(BUSY, SITE, calls(), NOW))
    assert "No callers need attention" in text(render(BUSY, SITE, None, NOW))


def test_callers_who_need_you_now() -> None:
    frame = calls(
        call("c-flagged", state="talking", flags="loop,pingpong", wait_seconds=12.0),
        # The engine flags a call over the configured hold-music limit; plays alone decide nothing here.
        call("c-music", plays=12.5, flags="moh_over_limit"),
        call("c-long", wait_seconds=301.0),
        call("c-fine", plays=12.0, wait_seconds=300.0),
    )
    out = text(render(BUSY, SITE, frame, NOW))
    assert "Callers who need you now (3)" in out
    assert "c-flagged" in out and "loop, pingpong" in out
    assert "c-music" in out and "hold music ×12" in out
    assert "c-long" in out and "long wait" in out
    assert "c-fine" not in out
    # Callers still on hold come first, the longest wait first.
    assert out.index("c-long") < out.index("c-music") < out.index("c-flagged")


def test_only_the_ten_most_urgent_callers_are_listed() -> None:
    frame = calls(*(call(f"call-{i:02d}", wait_seconds=400.0 + i) for i in range(15)))
    out = text(render(BUSY, SITE, frame, NOW))
    assert "Callers who need you now (15)" in out
    assert "call-14" in out and "call-05" in out and "call-04" not in out


def test_an_80_column_terminal_keeps_every_figure() -> None:
    out = text(render(BUSY, SITE, calls(call("c-long", wait_seconds=400.0)), NOW), width=80)
    assert max(len(line) for line in out.splitlines()) <= 80
    for figure in ("support-tier2", "10:12", "12%", "24.2%", "4:10", "9:00", "67%", "10.7%", "c-long"):
        assert figure in out, figure
    assert "Journeys" not in out  # free text goes first


# --- summary_line -------------------------------------------------------------------------------------------


def test_summary_line_shows_the_totals_row() -> None:
    clock = time.strftime("%H:%M:%S", time.localtime(NOW))
    assert (
        summary_line(SITE, NOW)
        == f"ccmon {clock} waiting=11 longest=10:12 answered=120 abandoned=18 SL=67.1%"
    )


def test_summary_line_without_figures() -> None:
    line = summary_line(totals(), NOW)
    assert line.endswith("waiting=0 longest=0:00 answered=0 abandoned=0 SL=n/a")
    assert summary_line(pl.DataFrame(), NOW).endswith("SL=n/a")
    assert summary_line(None, NOW).endswith("SL=n/a")


def test_summary_line_keeps_the_engines_service_level() -> None:
    # Another service_level_formula may be configured; the line shows the engine's figure, not 5 / 15.
    row = totals(answered=10, answered_within_sl=5, abandoned=5, service_level=0.75)
    assert summary_line(row, NOW).endswith("SL=75.0%")


# --- run_live -----------------------------------------------------------------------------------------------


def test_without_a_terminal_run_live_prints_summary_lines() -> None:
    console = Console(file=io.StringIO())
    stop = threading.Event()
    rounds = []

    def snapshot() -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame | None, float]:
        rounds.append(1)
        threading.Timer(0.05, stop.set).start()
        return BUSY, ODD, None, NOW

    began = time.monotonic()
    run_live(snapshot, stop, refresh_seconds=0.01, console=console)
    assert time.monotonic() - began < 4  # stop is honoured at once, not after the 5-second period
    assert rounds == [1]
    assert console.file.getvalue() == summary_line(ODD, NOW) + "\n"  # type: ignore[attr-defined]


def test_on_a_terminal_run_live_redraws_until_stopped() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=140)
    stop = threading.Event()
    rounds = []

    def snapshot() -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame | None, float]:
        rounds.append(1)
        if len(rounds) == 4:
            stop.set()
        frame = queues(queue("sales", answered=len(rounds)))
        site = totals(answered=len(rounds), service_level=0.5)
        return frame, site, calls(call("c-long", wait_seconds=400.0)), NOW

    run_live(snapshot, stop, refresh_seconds=0.01, console=console)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    assert len(rounds) == 4
    assert "sales" in out and "c-long" in out and "50%" in out


def test_run_live_does_not_hide_a_failing_snapshot() -> None:
    def snapshot() -> tuple[pl.DataFrame, pl.DataFrame | None, pl.DataFrame | None, float]:
        raise RuntimeError("engine gone")

    for console in (Console(file=io.StringIO()), Console(file=io.StringIO(), force_terminal=True)):
        with pytest.raises(RuntimeError, match="engine gone"):
            run_live(snapshot, threading.Event(), console=console)


# --- with the real engine -----------------------------------------------------------------------------------


def test_the_demo_site_on_the_wallboard() -> None:
    try:
        from ccmon import Monitor
    except ImportError:  # the compiled core is not built
        pytest.skip("ccmon.Monitor is not available")
    monitor = Monitor(dict(DEMO_CONFIG))
    start = 1_699_963_200
    monitor.feed(generate(7, start, 600))
    site = monitor.totals()
    assert site.height == 1
    (row,) = site.to_dicts()
    out = text(render(monitor.queues(), site, monitor.calls(), start + 600.0))
    for name in DEMO_CONFIG["queue_moh_class"]:
        assert name in out
    assert "Callers who need you now" in out
    sl = f"{row['service_level'] * 100:.0f}%"
    assert sl in out.split("Queue")[0] and sl in footer(out)
    assert str(row["answered"]) in footer(out)
    line = summary_line(site, start + 600.0)
    assert line.startswith("ccmon ")
    longest = wallboard._duration(row["longest_wait_now_seconds"])
    assert line.endswith(
        f"waiting={row['waiting_now']} longest={longest} answered={row['answered']} "
        f"abandoned={row['abandoned']} SL={row['service_level'] * 100:.1f}%"
    )
