"""JSON lines (SPEC §7): the same calls as JSON objects give the same figures as queue_log; an invalid object
is rejected with a reason and a message naming the field; an event sent twice (same ``id``) counts once; and
a batch can be POSTed to ``/api/v1/events``."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import Event
from test_cli import replay_json
from test_spec_reference import ENGINE_BUGS, SUPPRESS, scenarios, windows_of

import ccmon
from ccmon.server import Server

# queue_log event names and their JSON-lines types.
TYPES = {
    "ENTERQUEUE": "enter",
    "CONNECT": "answer",
    "ABANDON": "abandon",
    "EXITWITHTIMEOUT": "timeout",
    "EXITWITHKEY": "exit_key",
    "EXITEMPTY": "exit_empty",
    "COMPLETECALLER": "talk_end",
    "COMPLETEAGENT": "talk_end",
    "TRANSFER": "transfer",
    "BLINDTRANSFER": "transfer",
    "ATTENDEDTRANSFER": "transfer",
    "RINGNOANSWER": "ring_noanswer",
}


def as_json(e: Event) -> dict[str, Any]:
    """One queue_log event as the JSON object a switch would send for it."""
    if e.name not in TYPES:
        # A system line (QUEUESTART): it only moves event time forward, as an unpause of an agent in no
        # queue does.
        return {"ts": e.ts, "type": "agent_unpause", "agent": "system"}
    obj: dict[str, Any] = {"ts": e.ts, "type": TYPES[e.name], "call": e.callid, "queue": e.queue}
    if e.agent != "NONE":
        obj["agent"] = e.agent
    if e.name == "ENTERQUEUE" and len(e.data) > 1:
        obj["caller"] = e.data[1]
    return obj


def jsonl(objs: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(o) + "\n" for o in objs).encode()


def fed(data: bytes, fmt: str, config: dict[str, Any] | None = None) -> ccmon.Monitor:
    m = ccmon.Monitor(config)
    m.feed(data, format=fmt)
    m.end_of_input(format=fmt)
    return m


@settings(suppress_health_check=SUPPRESS)
@given(scenarios(avoid=ENGINE_BUGS))
def test_the_same_calls_as_json_lines_give_the_same_figures(s: Any) -> None:
    # Hold music is the one difference by design: queue_log infers it from queue_moh_class, JSON lines
    # report it with moh_start/moh_stop (tested below). Without a class, everything else must match.
    config = {k: v for k, v in s.config.items() if k != "queue_moh_class"}
    from_log = fed(s.text.encode(), "queue_log", config)
    from_json = fed(jsonl(as_json(e) for e in s.events), "jsonl", config)
    for w in windows_of(config):
        assert from_json.queues(w).equals(from_log.queues(w)), w
    assert from_json.calls().equals(from_log.calls())
    assert from_json.journeys().equals(from_log.journeys())
    (a,), (b,) = from_log.sources(), from_json.sources()
    assert {k: a[k] for k in ("ingested", "ignored", "last_event_ts")} == {
        k: b[k] for k in ("ingested", "ignored", "last_event_ts")
    }


GOOD = [
    {"ts": 100, "call": "c1", "type": "enter", "queue": "sales", "caller": "600111222"},
    {"ts": 110, "call": "c1", "type": "answer", "queue": "sales", "agent": "Agent/1"},
]


INVALID = [
    # (the line between two valid ones, its reason, the start of its message)
    ('{"ts": 105, "type": "enter", "call": "c2"}', "missing_field", "field `queue` is required for type"),
    ('{"ts": 105, "call": "c2", "queue": "sales"}', "missing_field", "field `type` is required"),
    ('{"type": "abandon", "call": "c2", "queue": "q"}', "missing_field", "field `ts` is required"),
    ('{"ts": "105", "type": "enter", "call": "c2", "queue": "q"}', "bad_field", "field `ts`: invalid type"),
    ('{"ts": 105, "type": "enter", "call": ["c2"], "queue": "q"}', "bad_field", "field `call`: invalid type"),
    ('{"ts": -1, "type": "enter", "call": "c2", "queue": "q"}', "bad_timestamp", "field `ts` must be"),
    ('{"ts": 105, "type": "enter", "call": "c2", "queue": "q"', "invalid_json", "invalid JSON: EOF"),
    ("105|c2|sales|NONE|ENTERQUEUE||1", "invalid_json", "not a JSON object"),
    (
        '[{"ts": 105, "type": "enter", "call": "c2", "queue": "q"}]',
        "invalid_json",
        "not a JSON object but an array: send one event object per line",
    ),
    ('{"ts": 105, "type": "enter", "call": "c\\ud800", "queue": "q"}', "invalid_json", "invalid JSON"),
]


@pytest.mark.parametrize(("bad", "reason", "message"), INVALID)
def test_an_invalid_object_is_rejected_naming_the_field(
    bad: str, reason: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = jsonl(GOOD[:1]) + bad.encode() + b"\n" + jsonl(GOOD[1:])
    with caplog.at_level("WARNING", logger="ccmon.monitor"):
        m = fed(data, "jsonl")
    (src,) = m.sources()
    assert src["rejected_by_reason"] == {reason: 1}
    assert src["ingested"] == 2  # the valid lines around it still count
    assert m.queues().select("offered", "answered", "asa_seconds").row(0) == (1, 1, 10.0)
    (record,) = caplog.records
    assert record.getMessage().startswith(f"jsonl: line 2 rejected ({reason}): '{message}")


def test_an_unknown_type_is_counted_as_unknown_not_rejected() -> None:
    m = fed(jsonl([*GOOD, {"ts": 120, "type": "coffee_break", "agent": "Agent/1"}]), "jsonl")
    (src,) = m.sources()
    assert (src["unknown"], src["rejected"], src["ingested"]) == (1, 0, 2)


def test_an_event_sent_twice_counts_once() -> None:
    events = [dict(e, id=f"e{i}") for i, e in enumerate(GOOD)]
    m = ccmon.Monitor()
    # A producer that retried its batch, the second time split differently.
    m.feed(jsonl(events)[:30], format="jsonl")
    m.feed(jsonl(events)[30:], format="jsonl")
    m.feed(jsonl(events), format="jsonl")
    m.feed(jsonl([dict(GOOD[1], id=7), dict(GOOD[1], id="7")]), format="jsonl")
    (src,) = m.sources()
    assert (src["ingested"], src["duplicates"]) == (4, 2)  # ids 7 and "7" are different ids
    assert m.queues().select("offered", "answered").row(0) == (1, 1)
    assert 'ccmon_events_duplicates_total{source="jsonl"} 2' in m.metrics_text()


@settings(max_examples=200)
@given(
    junk=st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.text(max_size=60).map(str.encode),
            st.builds(
                lambda d: json.dumps(d).encode(),
                st.dictionaries(
                    st.sampled_from(["ts", "type", "call", "queue", "agent", "caller", "id", "x"]),
                    st.one_of(
                        st.none(),
                        st.integers(),
                        st.floats(allow_nan=False),
                        st.text(max_size=8),
                        st.sampled_from(["enter", "answer", "talk_end", "abandon", "agent_pause"]),
                        st.lists(st.integers(), max_size=2),
                    ),
                ),
            ),
        ),
        max_size=8,
    )
)
def test_any_junk_between_valid_lines_is_counted_and_never_raises(junk: list[bytes]) -> None:
    lines = [jsonl(GOOD[:1]), *(j.replace(b"\n", b" ") + b"\n" for j in junk), jsonl(GOOD[1:])]
    m = fed(b"".join(lines), "jsonl")
    (src,) = m.sources()
    # Each line is exactly one of: an event (applied or ignored), unknown, rejected, or blank.
    blank = sum(1 for j in junk if not j.replace(b"\n", b" ").strip(b" \t\r"))  # JSON's whitespace
    assert src["ingested"] + src["unknown"] + src["rejected"] + blank == len(junk) + 2
    row = m.queues().filter(m.queues()["queue"] == "sales")
    assert row["offered"][0] >= 1


def test_replay_reads_json_lines_by_their_first_byte(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl([*GOOD, {"ts": 150, "call": "c1", "type": "talk_end", "queue": "sales"}]))
    report = replay_json(path)
    (sales,) = report["queues"]
    assert (sales["offered"], sales["answered"], sales["talk_seconds_mean"]) == (1, 1, 40.0)
    assert report["events"]["ingested"] == 3


def post(port: int, body: bytes, source: str | None = None) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/events" + (f"?source={source}" if source else "")
    headers = {"Content-Type": "application/x-ndjson"}
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def test_a_batch_posted_to_the_api_is_fed_and_answered_with_its_counts() -> None:
    m = ccmon.Monitor()
    server = Server(m, "127.0.0.1:0")
    server.start()
    try:
        batch = jsonl([dict(e, id=i) for i, e in enumerate(GOOD)])
        batch += b'{"ts": 111, "type": "enter", "call": "c9"}'  # no newline after the last line: still read
        last = len(GOOD) + 1
        missing_queue = {
            "line": last,
            "reason": "missing_field",
            "message": 'field `queue` is required for type "enter": '
            '{"ts": 111, "type": "enter", "call": "c9"}',
        }
        status, counts = post(server.port, batch, source="pbx-a")
        assert status == 200
        assert counts == {
            "ingested": 2,
            "rejected": 1,
            "unknown": 0,
            "ignored": 0,
            "duplicates": 0,
            "rejections": [missing_queue],
        }
        status, counts = post(server.port, batch, source="pbx-a")  # resent
        assert counts["duplicates"] == 2
        # Numbered within the batch, not within everything the source has sent.
        assert counts["rejections"] == [missing_queue]
        assert m.queues().select("queue", "offered", "answered").row(0) == ("sales", 1, 1)
        assert [s["source"] for s in m.sources()] == ["pbx-a"]
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        assert 'ccmon_events_rejected_total{source="pbx-a",reason="missing_field"} 2' in metrics
    finally:
        server.stop()


def test_the_api_refuses_a_batch_without_length_or_too_large() -> None:
    server = Server(ccmon.Monitor(), "127.0.0.1:0")
    server.start()
    try:
        status, body = post(server.port, b"")
        assert (status, body) == (
            200,
            {"ingested": 0, "rejected": 0, "unknown": 0, "ignored": 0, "duplicates": 0, "rejections": []},
        )
        req = urllib.request.Request(
            f"http://127.0.0.1:{server.port}/api/v1/events",
            data=b"x",
            method="POST",
            headers={"Content-Length": str(64 << 20)},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        with err.value:
            assert err.value.code == 413
    finally:
        server.stop()


# --- hold-music exposure from moh_start / moh_stop (SPEC §5) -----------------------------------------------


def ev(ts: float, kind: str, call: str = "c1", **fields: Any) -> dict[str, Any]:
    return {"ts": ts, "type": kind, "call": call, **fields}


def moh_monitor(events: list[dict[str, Any]], config: dict[str, Any] | None = None) -> ccmon.Monitor:
    m = ccmon.Monitor(config)
    m.feed(jsonl(events), format="jsonl")
    return m


def test_plays_are_exposure_over_the_track_length() -> None:
    # 19 minutes of a 30-second song is 38 plays.
    m = moh_monitor(
        [
            ev(0, "enter", queue="sales"),
            ev(10, "moh_start", **{"class": "default"}),
            ev(10 + 19 * 60, "moh_stop"),
        ]
    )
    (call,) = m.calls().to_dicts()
    assert (call["moh_seconds"], call["plays"]) == (1140.0, 38.0)
    assert "moh_over_limit" in call["flags"]
    row = m.queues().row(0, named=True)
    assert (row["moh_seconds_total"], row["moh_plays_max"]) == (1140.0, 38.0)


def test_music_still_playing_counts_up_to_now() -> None:
    m = moh_monitor([ev(0, "enter", queue="sales"), ev(0, "moh_start", **{"class": "jazz"})])
    m.advance_clock(150.0)
    (call,) = m.calls().to_dicts()
    assert (call["moh_seconds"], call["plays"]) == (150.0, 5.0)
    assert m.queues().row(0, named=True)["moh_plays_max"] == 5.0
    assert "moh_over_limit" not in call["flags"]  # 5 plays, the limit is 10


def test_a_start_while_music_plays_switches_class() -> None:
    m = moh_monitor(
        [
            ev(0, "enter", queue="sales"),
            ev(0, "moh_start", **{"class": "long"}),  # a 60-second track
            ev(120, "moh_start", **{"class": "short"}),  # 30 seconds (not listed)
            ev(180, "moh_stop"),
        ],
        {"moh_track_seconds": {"long": 60}},
    )
    (call,) = m.calls().to_dicts()
    assert call["plays"] == 120 / 60 + 60 / 30


def test_exposure_belongs_to_the_queue_of_the_most_recent_entry() -> None:
    m = moh_monitor(
        [
            ev(0, "enter", queue="sales"),
            ev(5, "answer", queue="sales", agent="A"),
            ev(10, "moh_start"),  # the agent puts the caller on hold, then transfers
            ev(40, "transfer", queue="sales"),
            ev(100, "enter", queue="support"),
            ev(160, "moh_stop"),
        ]
    )
    rows = {r["queue"]: r for r in m.queues().to_dicts()}
    assert rows["sales"]["moh_seconds_total"] == 90.0
    assert rows["support"]["moh_seconds_total"] == 60.0


def test_the_queue_class_is_not_exposure_for_a_source_that_reports_music() -> None:
    events = [ev(0, "enter", queue="sales", caller="600"), ev(100, "answer", queue="sales", agent="A")]
    config = {"queue_moh_class": {"sales": "default"}}
    from_json = moh_monitor(events, config)
    assert from_json.queues().row(0, named=True)["moh_seconds_total"] == 0.0
    from_log = ccmon.Monitor(config)
    from_log.feed(b"0|c1|sales|NONE|ENTERQUEUE||600|1\n100|c1|sales|A|CONNECT|100|x|1\n")
    assert from_log.queues().row(0, named=True)["moh_seconds_total"] == 100.0


def test_music_playing_when_the_call_ends_is_counted_and_observed() -> None:
    m = moh_monitor(
        [
            ev(0, "enter", queue="sales"),
            ev(0, "moh_start"),
            ev(45, "abandon", queue="sales"),
        ]
    )
    assert m.calls_in_progress() == 0
    assert m.queues().row(0, named=True)["moh_seconds_total"] == 45.0
    assert 'ccmon_call_moh_seconds_count{queue="sales"} 1' in m.metrics_text()


def flagged(m: ccmon.Monitor) -> dict[tuple[str, str], float]:
    """``ccmon_queue_calls_flagged`` by (queue, flag), from the exposition as Prometheus reads it."""
    from prometheus_client.parser import text_string_to_metric_families

    (family,) = [
        f for f in text_string_to_metric_families(m.metrics_text()) if f.name == "ccmon_queue_calls_flagged"
    ]
    return {(s.labels["queue"], s.labels["flag"]): s.value for s in family.samples if s.value}


def test_callers_who_need_a_supervisor_now_are_counted_by_queue_and_flag() -> None:
    m = moh_monitor(
        [
            # c1 goes sales -> support -> sales: a loop and a ping-pong, waiting in sales now.
            ev(0, "enter", queue="sales"),
            ev(5, "answer", queue="sales", agent="A"),
            ev(20, "transfer", queue="sales"),
            ev(21, "enter", queue="support"),
            ev(30, "answer", queue="support", agent="B"),
            ev(40, "transfer", queue="support"),
            ev(41, "enter", queue="sales"),
            # c2 has heard the 30-second song 12 times in support (the limit is 10).
            ev(0, "enter", "c2", queue="support"),
            ev(0, "moh_start", "c2", **{"class": "default"}),
            ev(360, "moh_stop", "c2"),
            # c3 waits in support with nothing wrong.
            ev(300, "enter", "c3", queue="support"),
        ]
    )
    assert flagged(m) == {
        ("sales", "loop"): 1.0,
        ("sales", "pingpong"): 1.0,
        ("sales", "any"): 1.0,
        ("support", "moh_over_limit"): 1.0,
        ("support", "any"): 1.0,
    }
    # When c1 is answered and its talk ends, it no longer needs anyone.
    m.feed(jsonl([ev(400, "answer", queue="sales", agent="A"), ev(500, "talk_end", queue="sales")]), "jsonl")
    assert ("sales", "any") not in flagged(m)
