"""``ccmon rules export``: Prometheus recording and alerting rules equivalent to the built-in alert rules,
for teams that alert from Prometheus.

Ratios are computed in PromQL from the exported counters and histograms (``increase`` over the rule's
window, summed by ``site`` and ``queue``), so they aggregate across ccmon processes and sites; thresholds,
``for`` durations, severities and summary languages are the config's. Differences from the built-in rules,
by what Prometheus can see: a caller alert is per queue (``ccmon_queue_calls_flagged{flag="any"} > 0``), not
per call, and "no agent available" / "all paused" read the agent gauges at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import yaml

from ccmon.alerting.rules import ALERT_NAMES, AlertConfig, Rule, windows_needed

BY = "site, queue"


def _increase(metric: str, window: str, selector: str = "") -> str:
    return f"sum by ({BY}) (increase({metric}{selector}[{window}]))"


def _closed(window: str) -> str:
    # closed = answered + abandoned + timed_out + exited_key + exited_empty: every outcome but lost (SPEC §3).
    return _increase("ccmon_queue_outcomes_total", window, '{outcome!="lost"}')


def recording_rules(windows: list[str]) -> list[dict[str, str]]:
    rules = []
    for w in windows:
        short = _increase("ccmon_queue_short_abandoned_total", w)
        abandoned = _increase("ccmon_queue_outcomes_total", w, '{outcome="abandoned"}')
        rules += [
            {
                # answered_within_sl / (closed - short_abandoned): SPEC's default service-level formula.
                "record": f"ccmon:queue_service_level:ratio{w}",
                "expr": f"{_increase('ccmon_queue_answered_within_sl_total', w)} / ({_closed(w)} - {short})",
            },
            {
                "record": f"ccmon:queue_abandon:ratio{w}",
                "expr": f"({abandoned} - {short}) / ({_closed(w)} - {short})",
            },
            {
                "record": f"ccmon:queue_repeat_calls:ratio{w}",
                "expr": f"{_increase('ccmon_queue_repeat_calls_total', w)}"
                f" / {_increase('ccmon_queue_entries_total', w)}",
            },
            {
                "record": f"ccmon:queue_misroutes:ratio{w}",
                "expr": f"{_increase('ccmon_queue_misroutes_total', w)} / {_increase('ccmon_queue_entries_total', w)}",
            },
            {
                "record": f"ccmon:queue_entries:increase{w}",
                "expr": _increase("ccmon_queue_entries_total", w),
            },
            {
                "record": f"ccmon:queue_answered_wait_seconds:p90_{w}",
                "expr": "histogram_quantile(0.9, sum by (site, queue, le) "
                f'(rate(ccmon_queue_wait_seconds_bucket{{outcome="answered"}}[{w}])))',
            },
        ]
    return rules


SUMMARIES = {
    "en": {
        "service_level": "Service level in {{ $labels.queue }} is {{ $value | humanizePercentage }} (target {target}).",
        "longest_wait": "A caller has been waiting {{ $value | humanizeDuration }} in {{ $labels.queue }}.",
        "abandon_rate": "{{ $value | humanizePercentage }} of callers in {{ $labels.queue }} hung up waiting.",
        "no_agent_available": "Callers waiting in {{ $labels.queue }} and no agent available.",
        "all_agents_paused": "All agents of {{ $labels.queue }} are paused.",
        "caller": "{{ $value }} callers in {{ $labels.queue }} need a supervisor (loop, hold music or escalation).",
        "repeat_rate": "{{ $value | humanizePercentage }} of calls to {{ $labels.queue }} are callers calling again.",
        "misroute_rate": "{{ $value | humanizePercentage }} of calls to {{ $labels.queue }} were misrouted.",
        "source_down": "ccmon cannot read {{ $labels.source }}.",
        "source_silent": "ccmon has heard nothing from {{ $labels.source }} for {{ $value | humanizeDuration }}.",
        "internal_error": 'ccmon failed on input from {{ $labels.source }} and dropped it (failures lately: {{ $value | printf "%.0f" }}): a bug, see its log.',
    },
    "es": {
        "service_level": "El nivel de servicio en {{ $labels.queue }} es {{ $value | humanizePercentage }} (objetivo {target}).",
        "longest_wait": "Un cliente lleva {{ $value | humanizeDuration }} esperando en {{ $labels.queue }}.",
        "abandon_rate": "El {{ $value | humanizePercentage }} de los clientes de {{ $labels.queue }} colgó esperando.",
        "no_agent_available": "Clientes esperando en {{ $labels.queue }} y ningún agente disponible.",
        "all_agents_paused": "Todos los agentes de {{ $labels.queue }} están en pausa.",
        "caller": "{{ $value }} clientes en {{ $labels.queue }} necesitan un supervisor (bucle, música de espera o escalado).",
        "repeat_rate": "El {{ $value | humanizePercentage }} de las llamadas a {{ $labels.queue }} son clientes que vuelven a llamar.",
        "misroute_rate": "El {{ $value | humanizePercentage }} de las llamadas a {{ $labels.queue }} se encaminaron mal.",
        "source_down": "ccmon no puede leer {{ $labels.source }}.",
        "source_silent": "ccmon no recibe nada de {{ $labels.source }} desde hace {{ $value | humanizeDuration }}.",
        "internal_error": 'ccmon falló con la entrada de {{ $labels.source }} y la descartó (fallos recientes: {{ $value | printf "%.0f" }}): un error de ccmon, véase su registro.',
    },
}


def _parts(rule: Rule) -> tuple[str, str]:
    """A rule's expression as (what it measures, the condition on it): the measure alone returns data whenever
    ccmon is scraped, firing or not (the tests run it against a live demo)."""
    p: Mapping[str, Any] = rule.params
    w = str(p.get("window", ""))
    enough = f"on({BY}) ccmon:queue_entries:increase{w} >= {p.get('min_offered', 0)}"
    agents = "ccmon_queue_agents"
    logged_in = f'max by ({BY}) ({agents}{{state="logged_in"}})'
    parts: dict[str, Callable[[], tuple[str, str]]] = {
        "service_level": lambda: (f"ccmon:queue_service_level:ratio{w}", f"< {p.get('below')} and {enough}"),
        "longest_wait": lambda: (f"max by ({BY}) (ccmon_queue_longest_wait_seconds)", f"> {p.get('above')}"),
        "abandon_rate": lambda: (f"ccmon:queue_abandon:ratio{w}", f"> {p.get('above')} and {enough}"),
        "no_agent_available": lambda: (
            f"max by ({BY}) (ccmon_queue_calls_waiting)",
            f'> 0 and on({BY}) max by ({BY}) ({agents}{{state="available"}}) == 0 and on({BY}) {logged_in} > 0',
        ),
        "all_agents_paused": lambda: (
            f'max by ({BY}) ({agents}{{state="paused"}})',
            f"== on({BY}) {logged_in} and on({BY}) {logged_in} > 0",
        ),
        "caller": lambda: (f'max by ({BY}) (ccmon_queue_calls_flagged{{flag="any"}})', "> 0"),
        "repeat_rate": lambda: (f"ccmon:queue_repeat_calls:ratio{w}", f"> {p.get('above')} and {enough}"),
        "misroute_rate": lambda: (f"ccmon:queue_misroutes:ratio{w}", f"> {p.get('above')} and {enough}"),
        "source_down": lambda: ("max by (site, source) (ccmon_source_up)", "== 0"),
        # The usual gap is the mean one over the last hour (1 / events per second), as the built-in rule's
        # moving average; `factor` times it, within [min_seconds, max_seconds] (max when nothing came).
        "source_silent": lambda: (
            "time() - max by (site, source) (ccmon_source_last_event_timestamp_seconds)",
            f"> on(site, source) clamp({p.get('factor')} / sum by (site, source) (rate(ccmon_events_ingested_total[1h])),"
            f" {p.get('min_seconds')}, {p.get('max_seconds')})"
            " and on(site, source) max by (site, source) (ccmon_source_up) == 1",
        ),
        "internal_error": lambda: (
            "sum by (site, source) (increase(ccmon_events_rejected_total"
            f'{{reason="internal_error"}}[{int(p.get("within_seconds", 0))}s]))',
            "> 0",
        ),
    }
    return parts[rule.kind]()


def _expr(rule: Rule) -> str:
    measure, condition = _parts(rule)
    return f"{measure} {condition}"


def measures(config: AlertConfig) -> dict[str, str]:
    """Each exported alert's measured quantity, without its condition (see `_parts`)."""
    return {ALERT_NAMES[r.kind]: _parts(r)[0] for r in config.rules}


def rules_document(config: AlertConfig) -> dict[str, Any]:
    """The rule file as a document: a recording group and an alerting group."""
    alerts = []
    for rule in config.rules:
        target = f"{float(rule.params['below']):.0%}" if "below" in rule.params else ""
        alerts.append(
            {
                "alert": ALERT_NAMES[rule.kind],
                "expr": _expr(rule),
                "for": str(rule.params["for"]),
                "labels": {"severity": rule.severity},
                "annotations": {"summary": SUMMARIES[config.language][rule.kind].replace("{target}", target)},
            }
        )
    return {
        "groups": [
            {"name": "ccmon-recording", "rules": recording_rules(windows_needed(config))},
            {"name": "ccmon-alerts", "rules": alerts},
        ]
    }


def export(config: AlertConfig) -> str:
    header = "# Generated by `ccmon rules export` from the [alerts] config: edit that, not this file.\n"
    return header + yaml.safe_dump(rules_document(config), sort_keys=False, allow_unicode=True, width=1000)
