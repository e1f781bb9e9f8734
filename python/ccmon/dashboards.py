"""Grafana dashboards as code (grafana-foundation-sdk): the floor's TV wallboard, the supervisor's view over
time, and ccmon's own health. ``ccmon dashboards build`` writes them to ``dashboards/``; those files are
generated, never hand-edited (a test checks they equal this code's output).

Every panel queries the Prometheus datasource chosen in the ``datasource`` variable (no fixed uid) and is
filtered by the ``site`` and ``queue`` variables. Ratios are computed from the exported counters over the
dashboard's time range (the wallboard's is "today"), so they aggregate across ccmon processes and sites.
"""

from __future__ import annotations

import json

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
SEL = 'site=~"$site", queue=~"$queue"'


def _pick(name: str, label: str, query: str) -> dashboard.QueryVariable:
    """A variable of label values, several or all of them at once."""
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .all_value(".*")
        .multi(True)
    )


def _variables(d: dashboard.Dashboard, queues: bool = True) -> dashboard.Dashboard:
    d = d.with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    d = d.with_variable(_pick("site", "Site", "label_values(ccmon_events_ingested_total, site)"))
    if queues:
        d = d.with_variable(
            _pick("queue", "Queue", 'label_values(ccmon_queue_entries_total{site=~"$site"}, queue)')
        )
    return d


def _query(
    expr: str, legend: str = "{{queue}}", ref: str = "A", instant: bool = False
) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DATASOURCE)
    return q.instant() if instant else q


def _thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in steps])
    )


def _big(
    title: str, expr: str, unit: str, thresholds: dashboard.ThresholdsConfig, x: int, y: int
) -> stat.Panel:
    """A number to read from across the room: one per queue, its background coloured by the thresholds."""
    return (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .with_target(_query(expr, instant=True))
        .unit(unit)
        .thresholds(thresholds)
        .color_mode(cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .text_mode(cm.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
        .grid_pos(dm.GridPos(h=8, w=8, x=x, y=y))
    )


def _increase(metric: str, selector: str = SEL, window: str = "$__range") -> str:
    return f"sum by (queue) (increase({metric}{{{selector}}}[{window}]))"


CLOSED = _increase("ccmon_queue_outcomes_total", SEL + ', outcome!="lost"')
ABANDONED = _increase("ccmon_queue_outcomes_total", SEL + ', outcome="abandoned"')
SHORT = _increase("ccmon_queue_short_abandoned_total")


def wallboard() -> dashboard.Dashboard:
    """The floor's TV: per queue, waiting now, longest wait now, service level and abandonment today, agents
    available, and the callers who need a supervisor now. Dark, refreshed every 5 seconds."""
    d = (
        dashboard.Dashboard("ccmon — wallboard")
        .uid("ccmon-wallboard")
        .tags(["ccmon", "generated"])
        .refresh("5s")
        .time("now/d", "now")
        .timezone("browser")
        .editable()
    )
    d = _variables(d)
    red, amber, green = "red", "orange", "green"
    panels = [
        _big("Waiting now", f"sum by (queue) (ccmon_queue_calls_waiting{{{SEL}}})", "none",
             _thresholds((None, green), (3, amber), (6, red)), 0, 0),
        _big("Longest wait now", f"max by (queue) (ccmon_queue_longest_wait_seconds{{{SEL}}})", "s",
             _thresholds((None, green), (60, amber), (120, red)), 8, 0),
        _big("Callers who need you now", f'sum by (queue) (ccmon_queue_calls_flagged{{{SEL}, flag="any"}})', "none",
             _thresholds((None, green), (1, red)), 16, 0),
        _big("Service level today", f"{_increase('ccmon_queue_answered_within_sl_total')} / ({CLOSED} - {SHORT})",
             "percentunit", _thresholds((None, red), (0.7, amber), (0.8, green)), 0, 8),
        _big("Abandoned today",
             f"({ABANDONED} - {SHORT}) / ({CLOSED} - {SHORT})",
             "percentunit", _thresholds((None, green), (0.05, amber), (0.1, red)), 8, 8),
        _big("Agents available", f'sum by (queue) (ccmon_queue_agents{{{SEL}, state="available"}})', "none",
             _thresholds((None, red), (1, amber), (2, green)), 16, 8),
    ]  # fmt: skip
    for p in panels:
        d = d.with_panel(p)
    return d


def _series(title: str, queries: list[prometheus.Dataquery], unit: str, x: int, y: int) -> timeseries.Panel:
    p = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .grid_pos(dm.GridPos(h=8, w=12, x=x, y=y))
    )
    for q in queries:
        p = p.with_target(q)
    return p


def _rate(metric: str, selector: str = SEL, by: str = "queue") -> str:
    return f"sum by ({by}) (rate({metric}{{{selector}}}[$__rate_interval]))"


def supervisor() -> dashboard.Dashboard:
    """Per queue over time: wait percentiles from the histograms, outcomes, transfers and loops, repeat calls
    and misroutes, agent states."""
    d = (
        dashboard.Dashboard("ccmon — supervisor")
        .uid("ccmon-supervisor")
        .tags(["ccmon", "generated"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
    )
    d = _variables(d)
    buckets = (
        "sum by (queue, le) (rate(ccmon_queue_wait_seconds_bucket{"
        + SEL
        + ', outcome="answered"}[$__rate_interval]))'
    )
    panels = [
        _series("Wait of answered calls (p50, p90)", [
            _query(f"histogram_quantile(0.5, {buckets})", "{{queue}} p50", "A"),
            _query(f"histogram_quantile(0.9, {buckets})", "{{queue}} p90", "B"),
        ], "s", 0, 0),
        _series("Outcomes per minute", [
            _query("60 * " + _rate("ccmon_queue_outcomes_total", by="queue, outcome"), "{{queue}} {{outcome}}"),
        ], "none", 12, 0),
        _series("Transfers and loop entries per minute", [
            _query("60 * " + _rate("ccmon_queue_transfers_total"), "{{queue}} transfers", "A"),
            _query("60 * " + _rate("ccmon_queue_loop_entries_total"), "{{queue}} loops", "B"),
        ], "none", 0, 8),
        _series("Repeat calls and misroutes per hour", [
            _query("3600 * " + _rate("ccmon_queue_repeat_calls_total"), "{{queue}} repeat calls", "A"),
            _query("3600 * " + _rate("ccmon_queue_misroutes_total"), "{{queue}} misroutes", "B"),
        ], "none", 12, 8),
        _series("Agents by state", [
            _query(f"sum by (queue, state) (ccmon_queue_agents{{{SEL}}})", "{{queue}} {{state}}"),
        ], "none", 0, 16),
        _series("Calls waiting", [_query(f"sum by (queue) (ccmon_queue_calls_waiting{{{SEL}}})")], "none", 12, 16),
    ]  # fmt: skip
    for p in panels:
        d = d.with_panel(p)
    return d


def health() -> dashboard.Dashboard:
    """ccmon itself: sources up, event rates, rejects, how old the newest event is, scrape time."""
    d = (
        dashboard.Dashboard("ccmon — health")
        .uid("ccmon-health")
        .tags(["ccmon", "generated"])
        .refresh("30s")
        .time("now-1h", "now")
        .timezone("browser")
    )
    d = _variables(d, queues=False)
    src = 'site=~"$site"'
    panels = [
        _series("Sources up", [_query(f"ccmon_source_up{{{src}}}", "{{source}}")], "none", 0, 0),
        _series("Events ingested per second", [
            _query(_rate("ccmon_events_ingested_total", src, "source"), "{{source}}"),
        ], "ops", 12, 0),
        _series("Rejected input per second, by reason", [
            _query(_rate("ccmon_events_rejected_total", src, "source, reason"), "{{source}} {{reason}}"),
        ], "ops", 0, 8),
        _series("Age of the newest event (ingest lag)", [
            _query(f"time() - ccmon_source_last_event_timestamp_seconds{{{src}}}", "{{source}}"),
        ], "s", 12, 8),
        _series("Scrape duration", [_query('scrape_duration_seconds{job=~".*ccmon.*"}', "{{instance}}")], "s", 0, 16),
    ]  # fmt: skip
    for p in panels:
        d = d.with_panel(p)
    return d


BOARDS = {"wallboard": wallboard, "supervisor": supervisor, "health": health}


def render(name: str) -> str:
    """A dashboard's JSON model, as written to dashboards/NAME.json."""
    return JSONEncoder(sort_keys=True, indent=2).encode(BOARDS[name]().build()) + "\n"


def push(url: str, token: str, folder: str = "ccmon") -> list[str]:
    """Creates or updates every dashboard in a Grafana folder (created if missing), idempotently: the same
    uids, overwritten. Returns the uids pushed. Uses grafana-client, the maintained Grafana API client."""
    from grafana_client.api import GrafanaApi

    api = GrafanaApi.from_url(url, credential=token)
    folder_uid = "ccmon" if folder == "ccmon" else folder.lower().replace(" ", "-")
    if not any(f.get("uid") == folder_uid for f in api.folder.get_all_folders()):
        api.folder.create_folder(folder, uid=folder_uid)
    uids = []
    for name in BOARDS:
        model = json.loads(render(name))
        api.dashboard.update_dashboard(
            {
                "dashboard": model,
                "folderUid": folder_uid,
                "overwrite": True,
                "message": f"ccmon dashboards push ({name})",
            }
        )
        uids.append(model["uid"])
    return uids
