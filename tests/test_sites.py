"""Several switches in one process (issue 3, item 4): each source feeds a site; sites never mix their queues,
calls or callers; with named sites the DataFrames have a ``site`` column and every series a ``site`` label;
a JSON line's own ``site`` field sends it to that site."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

import ccmon
from ccmon.exporter import Exporter
from ccmon.sources.file import FileFollower

# The same queue name and the same call ids at two sites: they are different calls in different queues.
MADRID = b"100|c1|sales|NONE|ENTERQUEUE||600111222\n112|c1|sales|Agent/1|CONNECT|12|x|1\n"
LIMA = b"100|c1|sales|NONE|ENTERQUEUE||600111222\n104|c1|sales|NONE|ABANDON|1|1|4\n"


def two_sites() -> ccmon.Monitor:
    m = ccmon.Monitor()
    m.feed(MADRID, source="queue_log", site="madrid")
    m.feed(LIMA, source="queue_log", site="lima")
    return m


def test_sites_keep_their_own_queues_and_calls() -> None:
    m = two_sites()
    rows = {r["site"]: r for r in m.queues().to_dicts()}
    assert set(rows) == {"madrid", "lima"}
    assert (rows["madrid"]["offered"], rows["madrid"]["answered"], rows["madrid"]["abandoned"]) == (1, 1, 0)
    assert (rows["lima"]["offered"], rows["lima"]["answered"], rows["lima"]["abandoned"]) == (1, 0, 1)
    # The caller called both sites once each: no repeat call at either.
    assert [r["repeat_calls"] for r in m.queues().sort("site").to_dicts()] == [0, 0]
    assert m.queues().columns[:2] == ["site", "queue"]
    assert sorted(t["site"] for t in m.totals().to_dicts()) == ["lima", "madrid"]
    assert {(s["site"], s["source"], s["ingested"]) for s in m.sources() if s["ingested"]} == {
        ("madrid", "queue_log", 2),
        ("lima", "queue_log", 2),
    }


def test_without_sites_nothing_changes_shape() -> None:
    m = ccmon.Monitor()
    m.feed(MADRID)
    assert m.queues().columns[0] == "queue"
    assert 'ccmon_queue_entries_total{queue="sales"} 1' in m.metrics_text()


def test_the_exposition_has_each_family_once_with_every_site() -> None:
    text = Exporter(two_sites()).render().decode()
    for name in ("ccmon_queue_entries_total", "ccmon_queue_wait_seconds", "ccmon_events_rejected_total"):
        assert text.count(f"# TYPE {name} ") == 1, name
    # prometheus_client's parser refuses a family split in two; it must read the whole text.
    families = {f.name: f for f in text_string_to_metric_families(text)}
    outcomes = {
        (s.labels["site"], s.labels["outcome"]): s.value
        for s in families["ccmon_queue_outcomes"].samples
        if s.value
    }
    assert outcomes == {("madrid", "answered"): 1.0, ("lima", "abandoned"): 1.0}
    ingested = {s.labels["site"]: s.value for s in families["ccmon_events_ingested"].samples}
    assert ingested == {"madrid": 2.0, "lima": 2.0}


def test_a_json_line_naming_its_site_goes_there_and_its_id_is_checked_there() -> None:
    m = ccmon.Monitor({"site": "madrid"})
    lines = [
        {"id": 1, "ts": 100, "call": "c1", "type": "enter", "queue": "sales", "caller": "600"},
        {
            "id": 2,
            "ts": 100,
            "call": "c1",
            "type": "enter",
            "queue": "sales",
            "caller": "600",
            "site": "lima",
        },
        {"id": 3, "ts": 109, "call": "c1", "type": "answer", "queue": "sales", "agent": "A", "site": "lima"},
        {"id": 3, "ts": 109, "call": "c1", "type": "answer", "queue": "sales", "agent": "A", "site": "lima"},
        {"id": 4, "ts": 103, "call": "c1", "type": "abandon", "queue": "sales", "site": "madrid"},
        {"ts": 110, "call": "c2", "type": "enter", "site": "lima"},
    ]
    batch = "\n".join(json.dumps(x) for x in lines).encode()
    result = m.feed_batch(batch, "jsonl", "http")
    rejections = result.pop("rejections")
    assert result == {"ingested": 4, "rejected": 1, "unknown": 0, "ignored": 0, "duplicates": 1}
    assert [(r["line"], r["reason"]) for r in rejections] == [(len(lines), "missing_field")]
    rows = {r["site"]: r for r in m.queues().to_dicts()}
    assert (rows["madrid"]["abandoned"], rows["madrid"]["answered"]) == (1, 0)
    assert (rows["lima"]["answered"], rows["lima"]["asa_seconds"]) == (1, 9.0)
    # An invalid line cannot be trusted to name its site: the site that read it counts the rejection.
    madrid = next(s for s in m.sources() if s["site"] == "madrid")
    assert madrid["rejected_by_reason"] == {"missing_field": 1}


def test_json_lines_split_anywhere_reach_the_same_sites() -> None:
    lines = [
        json.dumps(
            {"ts": 100 + i, "call": f"c{i}", "type": "enter", "queue": "q", "site": ["a", "b", ""][i % 3]}
        )
        for i in range(30)
    ]
    data = ("\n".join(lines) + "\n").encode()
    whole = ccmon.Monitor()
    whole.feed(data, "jsonl")
    cut = ccmon.Monitor()
    for i in range(0, len(data), 7):
        cut.feed(data[i : i + 7], "jsonl")
    for m in (whole, cut):
        got = {r["site"]: r["offered"] for r in m.queues().to_dicts()}
        assert got == {"": 10, "a": 10, "b": 10}


def test_file_sources_feed_their_site(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "queue_log")
    with open(path, "wb") as f:
        f.write(LIMA)
    m = ccmon.Monitor()
    follower = FileFollower(path, m, site="lima")
    follower.poll_once()
    follower.close()
    assert m.queues().select("site", "queue", "offered").rows() == [("lima", "sales", 1)]


def test_run_watches_two_managers_each_with_its_site() -> None:
    from ami_server import AmiServer, Session
    from test_ami import SESSION, T0, wait_for
    from test_live import free_port, get

    events = SESSION.split("\r\n\r\n", 2)[2].encode()
    servers = [AmiServer("ccmon", "s3cret", [Session(events)]) for _ in range(2)]
    port = free_port()
    env = {**os.environ, "CCMON_AMI_SECRET": "s3cret"}
    urls = [
        f"ami://ccmon@127.0.0.1:{servers[0].port}?site=madrid",
        f"ami://ccmon@127.0.0.1:{servers[1].port}?site=lima&name=pbx-lima",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccmon", "run", "--ami", urls[0], "--ami", urls[1],
         "--listen", f"127.0.0.1:{port}", "--duration", "60"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def both_seen() -> bool:
            try:
                text = get(f"{base}/metrics")[1]
            except OSError:
                return False
            return all(
                f'ccmon_queue_entries_total{{site="{s}",queue="sales"}} 2' in text for s in ("madrid", "lima")
            )

        assert wait_for(both_seen, timeout=20)
        text = get(f"{base}/metrics")[1]
        assert f'ccmon_source_up{{site="madrid",source="ami-127.0.0.1:{servers[0].port}"}} 1.0' in text
        assert 'ccmon_source_up{site="lima",source="pbx-lima"} 1.0' in text
        last = 'ccmon_source_last_event_timestamp_seconds{site="lima",source="pbx-lima"} '
        (value,) = [float(line[len(last) :]) for line in text.splitlines() if line.startswith(last)]
        assert value == T0 + 230
        with urllib.request.urlopen(f"{base}/api/v1/queues", timeout=5) as r:
            rows = json.loads(r.read())["queues"]
        assert sorted((q["site"], q["queue"], q["offered"]) for q in rows) == [
            ("lima", "sales", 2),
            ("lima", "support", 1),
            ("madrid", "sales", 2),
            ("madrid", "support", 1),
        ]
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
            sites = sorted(s["site"] for s in json.loads(r.read())["sources"])
        assert sites == ["lima", "madrid"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for s in servers:
            s.close()


def test_switch_urls_carry_their_site_and_name() -> None:
    import pytest

    from ccmon.sources.ami import AmiClient
    from ccmon.sources.freeswitch import EslClient

    m = ccmon.Monitor()
    esl = EslClient("esl://pbx-lima:8021?site=lima&name=fs-lima", "pw", m)
    assert (esl.host, esl.port, esl.site, esl.name) == ("pbx-lima", 8021, "lima", "fs-lima")
    ami = AmiClient("ami://ccmon@pbx-madrid?site=madrid", "pw", m)
    assert (ami.site, ami.name) == ("madrid", "ami")
    with pytest.raises(ValueError, match="unknown option 'zone'"):
        AmiClient("ami://ccmon@pbx?zone=x", "pw", m)
    with pytest.raises(ValueError, match="give site once"):
        EslClient("esl://pbx?site=", "pw", m)
