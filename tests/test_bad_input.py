"""Bad input is data, not an exception (STYLE.md): every malformed queue_log line is rejected with a bounded
reason, counted per source and exported, and the valid lines around it still count."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ccmon

REASONS = (
    "too_few_fields",
    "bad_timestamp",
    "invalid_utf8",
    "line_too_long",
    "nul_byte",
    "missing_field",
    "too_many_queues",
    "invalid_json",
    "bad_field",
    "bad_frame",
    "internal_error",
)
T = 1700000000

# A small valid stream: c1 waits 10 s and is answered, c2 abandons after 3 s. Bad lines are put between them.
BEFORE = [
    f"{T}|c1|sales|NONE|ENTERQUEUE||5550001|1".encode(),
    f"{T + 2}|c2|sales|NONE|ENTERQUEUE||5550002|1".encode(),
]
AFTER = [
    f"{T + 5}|c2|sales|NONE|ABANDON|1|1|3".encode(),
    f"{T + 10}|c1|sales|Agent/1|CONNECT|10|x|1".encode(),
]
GOOD_FIGURES = {"offered": 2, "answered": 1, "abandoned": 1, "asa_seconds": 10.0, "waiting_now": 0}


def monitor(data: bytes, chunk: int | None = None, config: dict[str, Any] | None = None) -> ccmon.Monitor:
    m = ccmon.Monitor(config)
    step = chunk or max(1, len(data))
    for i in range(0, len(data), step):
        m.feed(data[i : i + step])
    m.end_of_input()
    return m


def source(m: ccmon.Monitor) -> dict[str, Any]:
    (src,) = m.sources()
    assert src["source"] == "queue_log"
    return src


def sales(m: ccmon.Monitor) -> dict[str, Any]:
    rows = {r["queue"]: r for r in m.queues().to_dicts()}
    return {k: rows["sales"][k] for k in GOOD_FIGURES}


def exported_rejections(m: ccmon.Monitor) -> dict[str, int]:
    """ccmon_events_rejected_total by reason for the queue_log source, read from the Prometheus text."""
    out = {}
    for line in m.metrics_text().splitlines():
        match = re.fullmatch(r"ccmon_events_rejected_total\{([^}]*)\} (\S+)", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            if labels.get("source") == "queue_log":
                out[labels["reason"]] = int(float(match.group(2)))
    return out


MALFORMED = [
    pytest.param(b"1700000003|c9|sales", "too_few_fields", id="three_fields"),
    pytest.param(b"1700000003|c9|sales|NONE", "too_few_fields", id="four_fields"),
    pytest.param(b"17000x0003|c9|sales|NONE|ENTERQUEUE||5550009", "bad_timestamp", id="letters_in_timestamp"),
    pytest.param(b"|c9|sales|NONE|ENTERQUEUE||5550009", "bad_timestamp", id="empty_timestamp"),
    pytest.param(b"-5|c9|sales|NONE|ENTERQUEUE||5550009", "bad_timestamp", id="negative_timestamp"),
    pytest.param(b"1700000003|c9|sales|NONE|ENTERQUEUE||\xff\xfe555", "invalid_utf8", id="invalid_utf8"),
    pytest.param(b"1700000003|c9|sal\xc3|NONE|ENTERQUEUE||555", "invalid_utf8", id="truncated_utf8"),
    pytest.param(b"1700000003|c9|sales|NONE|ENTERQUEUE||" + b"5" * 2**20, "line_too_long", id="one_mb_line"),
    pytest.param(b"1700000003|c9|sa\x00les|NONE|ENTERQUEUE||5550009", "nul_byte", id="nul_in_queue"),
    pytest.param(b"\x00\x00\x00", "nul_byte", id="only_nul_bytes"),
    pytest.param(b"1700000003||sales|NONE|ENTERQUEUE||5550009", "missing_field", id="empty_callid"),
    pytest.param(b"1700000003|NONE|sales|NONE|CONNECT|1|x|1", "missing_field", id="none_callid"),
    pytest.param(b"1700000003|c9||NONE|ENTERQUEUE||5550009", "missing_field", id="empty_queue"),
    pytest.param(b"1700000003|c9|NONE|NONE|ENTERQUEUE||5550009", "missing_field", id="none_queue"),
]


@pytest.mark.parametrize("chunk", [None, 1, 7, 4096], ids=["whole", "bytewise", "chunks7", "chunks4k"])
@pytest.mark.parametrize(("bad", "reason"), MALFORMED)
def test_malformed_line_is_rejected_with_its_reason(bad: bytes, reason: str, chunk: int | None) -> None:
    # Every bad line would enter call c9 into sales if it were accepted; the good figures show it was not and
    # that the lines on both sides of it (chunk boundaries anywhere) were read intact.
    if chunk == 1 and len(bad) > 100_000:
        chunk = 3  # byte-by-byte over 1 MB crosses the binding a million times; 3 still splits every field
    data = b"\n".join([*BEFORE, bad, *AFTER]) + b"\n"
    m = monitor(data, chunk)
    src = source(m)
    assert src["rejected"] == 1
    assert src["rejected_by_reason"] == {reason: 1}
    assert src["ingested"] == len(BEFORE) + len(AFTER)
    assert src["unknown"] == 0
    assert sales(m) == GOOD_FIGURES
    assert exported_rejections(m) == {r: int(r == reason) for r in REASONS}


def test_line_length_limit_is_65536_bytes() -> None:
    prefix = b"1700000000|c1|sales|NONE|ENTERQUEUE||"
    at_limit = prefix + b"5" * (65536 - len(prefix))
    assert len(at_limit) == 65536
    m = monitor(at_limit + b"\n" + at_limit + b"5\n")
    assert source(m)["ingested"] == 1
    assert source(m)["rejected_by_reason"] == {"line_too_long": 1}


def test_max_line_bytes_is_configurable() -> None:
    line = b"1700000000|c1|sales|NONE|ENTERQUEUE||5550001|" + b"x" * 55  # the engine's minimum limit is 64
    assert len(line) == 100
    m = monitor(line + b"\n", config={"max_line_bytes": 99})
    assert source(m)["rejected_by_reason"] == {"line_too_long": 1}
    m = monitor(line + b"\n", config={"max_line_bytes": 100})
    assert source(m)["ingested"] == 1


def test_long_line_then_valid_line_in_the_same_chunk() -> None:
    # The rest of an over-long line must be skipped up to its newline, not parsed as a line of its own.
    tail = b"1700000003|c8|sales|NONE|ENTERQUEUE||"  # looks like a line start, but is inside the long line
    long_line = b"1700000003|c9|sales|NONE|ENTERQUEUE||" + b"|" * 70_000 + tail
    m = monitor(b"\n".join([*BEFORE, long_line, *AFTER]) + b"\n", 1000)
    assert source(m)["rejected_by_reason"] == {"line_too_long": 1}
    assert sales(m) == GOOD_FIGURES


def test_blank_lines_are_skipped_not_counted() -> None:
    data = b"\n\n" + b"\n\n".join([*BEFORE, *AFTER]) + b"\n\n\n"
    m = monitor(data)
    src = source(m)
    assert (src["ingested"], src["rejected"], src["unknown"]) == (4, 0, 0)
    assert sales(m) == GOOD_FIGURES


def test_unknown_events_are_counted_as_unknown() -> None:
    unknown = [b"1700000003|c1|sales|NONE|FOOBAR|x", b"1700000003|c1|sales|NONE|enterqueue||555"]
    m = monitor(b"\n".join([*BEFORE, *unknown, *AFTER]) + b"\n")
    src = source(m)
    assert (src["unknown"], src["ingested"], src["rejected"]) == (2, 4, 0)
    assert sales(m) == GOOD_FIGURES


def test_events_for_never_entered_call_are_ignored() -> None:
    ghost = [
        b"1700000003|ghost|sales|Agent/1|CONNECT|1|x|1",
        b"1700000003|ghost|sales|NONE|ABANDON|1|1|3",
        b"1700000003|ghost|billing|Agent/1|COMPLETEAGENT|1|2|1",
        b"1700000003|ghost|billing|Agent/1|TRANSFER|200|ctx|1|2|1",
    ]
    m = monitor(b"\n".join([*BEFORE, *ghost, *AFTER]) + b"\n")
    src = source(m)
    assert src["ignored"] == 4
    assert src["ingested"] == 8  # ignored events are well-formed: ingested, then found to be about no call
    assert m.queues()["queue"].to_list() == ["sales"]
    assert sales(m) == GOOD_FIGURES


def test_last_line_without_newline_counts_only_after_end_of_input() -> None:
    m = ccmon.Monitor()
    m.feed(b"\n".join([*BEFORE, *AFTER]))
    assert source(m)["ingested"] == 3
    m.end_of_input()
    assert source(m)["ingested"] == 4
    assert sales(m) == GOOD_FIGURES


def test_rejections_are_exported_per_reason() -> None:
    bad = [b"1|2", b"1|2|3", b"x|c|q|NONE|ENTERQUEUE", b"\xff", b"a\x00b"]
    m = monitor(b"\n".join(bad + BEFORE) + b"\n")
    assert exported_rejections(m) == {
        "too_few_fields": 2,
        "bad_timestamp": 1,
        "invalid_utf8": 1,
        "line_too_long": 0,
        "nul_byte": 1,
        "missing_field": 0,
        "too_many_queues": 0,
        "invalid_json": 0,
        "bad_field": 0,
        "bad_frame": 0,
        "internal_error": 0,
    }
    assert re.search(r'^ccmon_events_ingested_total\{source="queue_log"\} 2$', m.metrics_text(), re.M)


# ---- fuzzing --------------------------------------------------------------------------------------------


def line_census(data: bytes) -> tuple[int, int, int]:
    """(lines, certainly blank, possibly blank); a last line without a newline counts (after end_of_input).

    Empty lines and lines of spaces, tabs or CR are blank. Lines of other ASCII whitespace (form feed,
    vertical tab) are blank or not depending on the whitespace table a parser uses; SPEC does not say.
    """
    pieces = data.split(b"\n")
    if pieces[-1] == b"":
        pieces.pop()
    blank = sum(1 for p in pieces if p.strip(b" \t\r") == b"")
    maybe = sum(1 for p in pieces if p.strip() == b"" and p.strip(b" \t\r") != b"")
    return len(pieces), blank, maybe


def assert_every_line_accounted_for(m: ccmon.Monitor, data: bytes) -> None:
    src = source(m)
    lines, blank, maybe = line_census(data)
    counted = src["ingested"] + src["rejected"] + src["unknown"]
    assert lines - blank - maybe <= counted <= lines - blank, (src, lines, blank, maybe)
    assert src["rejected"] == sum(src["rejected_by_reason"].values())
    assert set(src["rejected_by_reason"]) <= set(REASONS)
    assert src["ignored"] <= src["ingested"]
    exported = exported_rejections(m)
    assert {r: n for r, n in exported.items() if n} == {r: n for r, n in src["rejected_by_reason"].items()}


def read_everything(m: ccmon.Monitor) -> None:
    # Reading must not fail either, whatever the timestamps did to "now" (e.g. "today" far in the future).
    for window in ("all", "today", "5m", "15m", "1h"):
        m.queues(window)
    m.calls()
    m.journeys()
    m.metrics_text()


def feed_in_chunks(data: bytes, cuts: Sequence[int]) -> ccmon.Monitor:
    m = ccmon.Monitor()
    bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for lo, hi in itertools.pairwise(bounds):
        m.feed(data[lo:hi])
    m.end_of_input()
    return m


EVENTS = ("ENTERQUEUE", "CONNECT", "ABANDON", "EXITWITHTIMEOUT", "EXITWITHKEY", "EXITEMPTY", "COMPLETECALLER")
EVENTS += ("COMPLETEAGENT", "TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER", "RINGNOANSWER", "QUEUESTART")
TIMESTAMPS = st.one_of(
    st.integers(T - 10, T + 100_000).map(str),
    st.sampled_from(
        ["0", "1e9", "-1", "nan", "inf", "99999999999999999999", "253402300800", "1700000000.5", ""]
    ),
)
FIELD = st.one_of(
    st.sampled_from(["c1", "c2", "sales", "billing", "NONE", "", "Agent/1", "5550001"]), st.text()
)


@st.composite
def valid_lines(draw: st.DrawFn) -> bytes:
    fields = [
        draw(st.integers(T, T + 100_000).map(str)),
        draw(st.sampled_from(["c1", "c2", "c3"])),
        draw(st.sampled_from(["sales", "billing"])),
        draw(st.sampled_from(["NONE", "Agent/1"])),
        draw(st.sampled_from(EVENTS)),
        *draw(st.lists(st.sampled_from(["", "1", "5550001", "x"]), max_size=4)),
    ]
    return "|".join(fields).encode()


@st.composite
def mutated_lines(draw: st.DrawFn) -> bytes:
    line = bytearray(draw(valid_lines()))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 5))
        pos = draw(st.integers(0, len(line)))
        if kind == 0 and line:  # drop a byte
            del line[min(pos, len(line) - 1)]
        elif kind == 1:  # insert any byte (NUL, newline, invalid UTF-8 lead bytes included)
            line.insert(pos, draw(st.integers(0, 255)))
        elif kind == 2 and line:  # overwrite a byte
            line[min(pos, len(line) - 1)] = draw(st.integers(0, 255))
        elif kind == 3:  # truncate
            del line[pos:]
        elif kind == 4:  # replace the timestamp with something strange
            rest = bytes(line).split(b"|", 1)[1:] or [b""]
            line = bytearray(draw(TIMESTAMPS).encode() + b"|" + rest[0])
        else:  # a field of random text
            line[pos:pos] = b"|" + draw(FIELD).encode()
    return bytes(line)


LINES = st.one_of(valid_lines(), mutated_lines(), st.binary(max_size=60), st.sampled_from([b"", b" ", b"\r"]))
SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large]


@settings(suppress_health_check=SUPPRESS)
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=12))
def test_random_bytes_never_raise_and_every_line_is_counted(data: bytes, cuts: list[int]) -> None:
    m = feed_in_chunks(data, cuts)
    assert_every_line_accounted_for(m, data)
    read_everything(m)


@settings(suppress_health_check=SUPPRESS)
@given(
    lines=st.lists(LINES, max_size=40),
    final_newline=st.booleans(),
    cuts=st.lists(st.integers(0, 5000), max_size=12),
)
def test_mutated_lines_never_raise_and_every_line_is_counted(
    lines: list[bytes], final_newline: bool, cuts: list[int]
) -> None:
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    m = feed_in_chunks(data, cuts)
    assert_every_line_accounted_for(m, data)
    read_everything(m)
    # Splitting differently must not change a single count.
    whole = feed_in_chunks(data, [])
    assert m.sources() == whole.sources()
    assert m.queues().equals(whole.queues())


@settings(suppress_health_check=SUPPRESS)
@given(lines=st.lists(valid_lines(), min_size=1, max_size=10), pad=st.integers(65_537, 200_000))
def test_over_long_lines_anywhere_are_rejected_once(lines: list[bytes], pad: int) -> None:
    long_line = b"1700000000|c1|sales|NONE|ENTERQUEUE||" + b"7" * pad
    data = b"\n".join([*lines, long_line, *lines]) + b"\n"
    m = feed_in_chunks(data, [len(data) // 3, len(data) // 2, len(data) - 5])
    src = source(m)
    assert src["rejected_by_reason"].get("line_too_long") == 1
    assert_every_line_accounted_for(m, data)


def test_queue_names_beyond_max_queues_are_rejected_not_tracked() -> None:
    # A corrupted log inventing queue names must not grow per-queue state without bound.
    m = ccmon.Monitor({"max_queues": 3})
    lines = "".join(f"{100 + i}|c{i}|queue-{i}|NONE|ENTERQUEUE||600{i}\n" for i in range(10))
    m.feed(lines.encode())
    assert m.queues().height == 3
    (src,) = m.sources()
    assert (src["ingested"], src["rejected"], src["rejected_by_reason"]) == (3, 7, {"too_many_queues": 7})


# --- the log of rejected lines -----------------------------------------------------------------------------


def test_a_rejected_line_is_logged_with_its_number_reason_and_text(caplog: pytest.LogCaptureFixture) -> None:
    m = ccmon.Monitor()
    with caplog.at_level("WARNING", logger="ccmon.monitor"):
        m.feed(
            b"\n".join([*BEFORE, b"x1700000003|c3|sales|NONE|ENTERQUEUE||1", *AFTER]) + b"\n", source="pbx1"
        )
    assert [r.getMessage() for r in caplog.records] == [
        "pbx1: line 3 rejected (bad_timestamp): 'x1700000003|c3|sales|NONE|ENTERQUEUE||1'"
    ]
    assert sales(m) == GOOD_FIGURES


def test_a_queue_beyond_max_queues_is_logged_by_name(caplog: pytest.LogCaptureFixture) -> None:
    m = ccmon.Monitor({"max_queues": 1})
    with caplog.at_level("WARNING", logger="ccmon.monitor"):
        m.feed(f"{T}|c1|sales|NONE|ENTERQUEUE||1\n{T}|c2|other|NONE|ENTERQUEUE||1\n".encode())
    assert [r.getMessage() for r in caplog.records] == [
        "queue_log: event rejected (too_many_queues): 'queue other (call c2)'"
    ]


def test_a_flood_of_bad_lines_takes_a_few_log_lines(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "queue_log"
    path.write_bytes(b"\n".join([*BEFORE, *[b"garbage %d" % i for i in range(10_000)], *AFTER]) + b"\n")
    m = ccmon.Monitor()
    with caplog.at_level("WARNING", logger="ccmon.monitor"):
        m.feed_file(path)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "queue_log: line 3 rejected (too_few_fields): 'garbage 0'"
    shown = len(messages) - 1
    assert 1 <= shown <= 10
    assert messages[-1].startswith(f"queue_log: {10_000 - shown} more rejected lines not shown")
    assert m.sources()[0]["rejected"] == 10_000
    assert sales(m) == GOOD_FIGURES


def test_the_rejection_log_shows_lines_again_in_the_next_period(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    rejections = ccmon.monitor.RejectionLog(shown_per_period=2, period_seconds=60.0, clock=lambda: now[0])
    line = [("s", "too_few_fields", 1, "x")]
    with caplog.at_level("WARNING", logger="ccmon.monitor"):
        for _ in range(5):
            rejections.report(line, [])
        assert len(caplog.records) == 2  # three hidden so far, said when the period is over
        now[0] = 61.0
        rejections.report(line, [("s", 4)])
    messages = [r.getMessage() for r in caplog.records]
    assert messages[2].startswith("s: 3 more rejected lines not shown")
    assert messages[3] == "s: line 1 rejected (too_few_fields): 'x'"
    assert len(messages) == 4  # the 4 more of this period wait for its end or the end of the input
    rejections.report([], [], final=True)
    assert caplog.records[-1].getMessage().startswith("s: 4 more rejected lines not shown")
