"""Alert rules for managers, evaluated in-process on the live figures.

Every rule kind has defaults a site can tune or switch off in the ``[alerts]`` table of the config file::

    [alerts]
    alertmanager_url = "http://127.0.0.1:9093"
    language = "es"                      # summaries in Spanish ("en" by default)

    [alerts.longest_wait]
    above = 90                           # seconds
    for = "0s"

    [alerts.all_agents_paused]
    enabled = false

A rule compares figures the engine computed (SPEC §3–§6) with its thresholds; nothing is recomputed here.
A condition must hold for the rule's ``for`` before its alert fires, and the alert resolves the first time
the condition no longer holds. Caller alerts fire at once, one per call and reason, and name the queue and
how long the caller has been on the line — never the caller's number.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ccmon.alerting.messages import summary
from ccmon.config import ConfigError, window_seconds

# Each kind's tunables and their defaults. `for` is a duration ("30s", "2m"); `window` a rolling window.
DEFAULTS: dict[str, dict[str, Any]] = {
    "service_level": {"window": "15m", "below": 0.80, "min_offered": 5, "for": "2m", "severity": "warning"},
    "longest_wait": {"above": 120.0, "for": "0s", "severity": "critical"},
    "abandon_rate": {"window": "15m", "above": 0.10, "min_offered": 5, "for": "2m", "severity": "warning"},
    "no_agent_available": {"for": "30s", "severity": "critical"},
    "all_agents_paused": {"for": "2m", "severity": "warning"},
    "caller": {
        "reasons": [
            "loop",
            "pingpong",
            "bounced",
            "moh_over_limit",
            "escalation_fake",
            "escalation_unanswered",
        ],
        "for": "0s",
        "severity": "warning",
    },
    "repeat_rate": {"window": "1h", "above": 0.20, "min_offered": 20, "for": "5m", "severity": "warning"},
    "misroute_rate": {"window": "1h", "above": 0.10, "min_offered": 20, "for": "5m", "severity": "warning"},
    "source_down": {"for": "30s", "severity": "critical"},
    "source_silent": {
        "factor": 10.0,
        "min_seconds": 60.0,
        "max_seconds": 900.0,
        "for": "0s",
        "severity": "critical",
    },
    # A bug met on some input (reason internal_error): the source dropped the rest of that chunk and goes on.
    # Firing for an hour after the last one, so the one who runs ccmon reads the log and reports it.
    "internal_error": {"within_seconds": 3600.0, "for": "0s", "severity": "warning"},
}
ALERT_NAMES = {
    "service_level": "CcmonServiceLevelLow",
    "longest_wait": "CcmonLongestWaitHigh",
    "abandon_rate": "CcmonAbandonRateHigh",
    "no_agent_available": "CcmonNoAgentAvailable",
    "all_agents_paused": "CcmonAllAgentsPaused",
    "caller": "CcmonCallerNeedsSupervisor",
    "repeat_rate": "CcmonRepeatCallsHigh",
    "misroute_rate": "CcmonMisroutesHigh",
    "source_down": "CcmonSourceDown",
    "source_silent": "CcmonSourceSilent",
    "internal_error": "CcmonInternalError",
}
LANGUAGES = ("en", "es")
# The direct receivers and their settings. Secrets come from a file or the environment, never the config.
RECEIVER_KEYS: dict[str, set[str]] = {
    "pagerduty": {"url", "routing_key_file"},
    "webhook": {"url", "secret_file"},
    "slack": {"url_file"},
}
SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Rule:
    kind: str
    params: Mapping[str, Any]
    # The parameters the config set (the others are defaults).
    given: frozenset[str] = frozenset()

    @property
    def hold_seconds(self) -> float:
        return duration(str(self.params["for"]))

    @property
    def severity(self) -> str:
        return str(self.params["severity"])


@dataclass(frozen=True)
class AlertConfig:
    """The ``[alerts]`` table, validated: the enabled rules and where alerts go."""

    rules: tuple[Rule, ...] = tuple(Rule(k, v) for k, v in DEFAULTS.items())
    language: str = "en"
    alertmanager_url: str = ""
    resend_seconds: float = 60.0
    generator_url: str = ""
    # Direct receivers, each a table of its settings (see ccmon.alerting.receivers); None: not used.
    pagerduty: Mapping[str, str] | None = None
    webhook: Mapping[str, str] | None = None
    slack: Mapping[str, str] | None = None
    renotify_seconds: float = 3600.0

    def fit_windows(self, windows: Iterable[str]) -> AlertConfig:
        """The rules' windows must be ones the engine keeps (none longer than the config's longest): a
        window the config set that is longer is an error; a default one is shortened to the longest kept."""
        windows = list(windows)
        longest = max(windows, key=window_seconds, default=None)
        rules = []
        for r in self.rules:
            window = r.params.get("window")
            if window is not None and (
                longest is None or window_seconds(str(window)) > window_seconds(longest)
            ):
                if "window" in r.given or longest is None:
                    raise ConfigError(
                        f"alerts.{r.kind}.window {window!r} is longer than the longest of windows "
                        f"({', '.join(windows)}); add it to windows or choose a shorter one"
                    )
                r = Rule(r.kind, {**r.params, "window": longest}, r.given)
            rules.append(r)
        return dataclasses.replace(self, rules=tuple(rules))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AlertConfig:
        top = {
            "language",
            "alertmanager_url",
            "resend_seconds",
            "generator_url",
            "renotify_seconds",
            *RECEIVER_KEYS,
        }
        values: dict[str, Any] = {}
        rules = []
        for key in data:
            if key not in top and key not in DEFAULTS:
                allowed = ", ".join(sorted(top | set(DEFAULTS)))
                raise ConfigError(f"alerts: unknown key {key!r}; allowed: {allowed}")
        if "language" in data:
            if data["language"] not in LANGUAGES:
                raise ConfigError(
                    f"alerts.language must be one of {', '.join(LANGUAGES)}; got {data['language']!r}"
                )
            values["language"] = data["language"]
        for key in ("alertmanager_url", "generator_url"):
            if key in data:
                if not isinstance(data[key], str) or (
                    data[key] and not data[key].startswith(("http://", "https://"))
                ):
                    raise ConfigError(f"alerts.{key} must be an http:// or https:// URL, got {data[key]!r}")
                values[key] = data[key].rstrip("/")
        if "resend_seconds" in data:
            v = data["resend_seconds"]
            if isinstance(v, bool) or not isinstance(v, int | float) or not 1 <= v <= 240:
                # Alertmanager forgets an alert 5 minutes after it last heard of it.
                raise ConfigError(f"alerts.resend_seconds must be between 1 and 240, got {v!r}")
            values["resend_seconds"] = float(v)
        if "renotify_seconds" in data:
            v = data["renotify_seconds"]
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 60:
                raise ConfigError(f"alerts.renotify_seconds must be a number of seconds >= 60, got {v!r}")
            values["renotify_seconds"] = float(v)
        for receiver, allowed_keys in RECEIVER_KEYS.items():
            table = data.get(receiver)
            if table is None:
                continue
            if not isinstance(table, Mapping) or not all(isinstance(v, str) for v in table.values()):
                raise ConfigError(f"alerts.{receiver} must be a table of strings")
            for k in table:
                if k not in allowed_keys:
                    raise ConfigError(
                        f"alerts.{receiver}: unknown key {k!r}; allowed: {', '.join(sorted(allowed_keys))}"
                    )
            url = table.get("url", "")
            if url and not url.startswith(("http://", "https://")):
                raise ConfigError(f"alerts.{receiver}.url must be an http:// or https:// URL, got {url!r}")
            values[receiver] = dict(table)
        for kind, defaults in DEFAULTS.items():
            given = data.get(kind, {})
            if not isinstance(given, Mapping):
                raise ConfigError(f"alerts.{kind} must be a table")
            params = dict(defaults)
            enabled = True
            for k, v in given.items():
                if k == "enabled":
                    if not isinstance(v, bool):
                        raise ConfigError(f"alerts.{kind}.enabled must be true or false, got {v!r}")
                    enabled = v
                    continue
                if k not in defaults:
                    allowed = ", ".join(["enabled", *sorted(defaults)])
                    raise ConfigError(f"alerts.{kind}: unknown key {k!r}; allowed: {allowed}")
                params[k] = _check(f"alerts.{kind}.{k}", k, v, defaults[k])
            if enabled:
                rules.append(Rule(kind, params, frozenset(given) - {"enabled"}))
        return cls(rules=tuple(rules), **values)


def duration(text: str) -> float:
    """``"0s"``, ``"30s"``, ``"2m"``, ``"1h"`` in seconds."""
    if text in ("0", "0s"):
        return 0.0
    return window_seconds(text)


def _check(name: str, key: str, value: Any, default: Any) -> Any:
    if key in ("for", "window"):
        try:
            if not isinstance(value, str) or (key == "window" and duration(value) == 0):
                raise ValueError
            duration(value)
        except ValueError:
            raise ConfigError(f'{name} must be a duration like "30s", "2m", "1h"; got {value!r}') from None
        return value
    if key == "severity":
        if value not in SEVERITIES:
            raise ConfigError(f"{name} must be one of {', '.join(SEVERITIES)}; got {value!r}")
        return value
    if key == "reasons":
        allowed = DEFAULTS["caller"]["reasons"]
        if not isinstance(value, list) or not all(v in allowed for v in value):
            raise ConfigError(f"{name} must be a list of: {', '.join(allowed)}; got {value!r}")
        return list(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
    return type(default)(value)


@dataclass
class Alert:
    """One alert: its identity (labels), what it says (summary), and when it began, fired and ended."""

    labels: dict[str, str]
    summary: str
    values: dict[str, Any]
    active_since: float
    fired_at: float | None = None
    ended_at: float | None = None
    severity: str = "warning"

    @property
    def firing(self) -> bool:
        return self.fired_at is not None and self.ended_at is None


@dataclass
class Condition:
    """A rule's condition that holds now, for one set of labels."""

    labels: dict[str, str]
    values: dict[str, Any] = field(default_factory=dict)


Snapshot = dict[str, Any]


class Evaluator:
    """Evaluates the rules on a snapshot of the figures; keeps each alert's state between evaluations.

    ``evaluate()`` takes the snapshot from the monitor (``snapshot`` is injectable for tests) and returns the
    alerts whose state changed (fired or resolved).
    """

    def __init__(
        self,
        config: AlertConfig,
        snapshot: Callable[[], Snapshot],
        clock: Callable[[], float] = time.time,
        site: str = "",
    ) -> None:
        self.config = config
        self.snapshot = snapshot
        self.clock = clock
        self.site = site
        self.alerts: dict[tuple[tuple[str, str], ...], Alert] = {}

    def evaluate(self) -> list[Alert]:
        now = self.clock()
        snap = self.snapshot()
        changed: list[Alert] = []
        seen = set()
        for rule in self.config.rules:
            for cond in CONDITIONS[rule.kind](rule.params, snap):
                labels = {"alertname": ALERT_NAMES[rule.kind], "severity": rule.severity, **cond.labels}
                if self.site and "site" not in labels:
                    labels["site"] = self.site
                key = tuple(sorted(labels.items()))
                seen.add(key)
                alert = self.alerts.get(key)
                if alert is None or alert.ended_at is not None:
                    alert = Alert(labels, "", cond.values, active_since=now, severity=rule.severity)
                    self.alerts[key] = alert
                alert.values = cond.values
                alert.summary = summary(rule.kind, self.config.language, labels, cond.values)
                if alert.fired_at is None and now - alert.active_since >= rule.hold_seconds:
                    alert.fired_at = now
                    changed.append(alert)
        for key, alert in list(self.alerts.items()):
            if key in seen:
                continue
            if alert.firing:
                alert.ended_at = now
                changed.append(alert)
            else:
                # Resolved and reported, or never fired (the condition did not hold long enough): forgotten.
                del self.alerts[key]
        return changed

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts.values() if a.firing]

    def forget_resolved(self) -> None:
        for key in [k for k, a in self.alerts.items() if a.ended_at is not None]:
            del self.alerts[key]


def _rows(snap: Snapshot, name: str) -> list[dict[str, Any]]:
    return list(snap.get(name, []))


def _window_rows(params: Mapping[str, Any], snap: Snapshot) -> list[dict[str, Any]]:
    return list(snap.get("queues_by_window", {}).get(params["window"], []))


def _ratio_rule(figure: str) -> Callable[[Mapping[str, Any], Snapshot], Iterable[Condition]]:
    def conditions(params: Mapping[str, Any], snap: Snapshot) -> Iterable[Condition]:
        for q in _window_rows(params, snap):
            offered = q["offered"] or 0
            if offered < params["min_offered"]:
                continue
            value = q[figure] / offered if figure in ("repeat_calls", "misroutes") else q[figure]
            if value is not None and value > params["above"]:
                yield Condition({"queue": q["queue"]}, {"value": value, "window": params["window"]})

    return conditions


def _service_level(params: Mapping[str, Any], snap: Snapshot) -> Iterable[Condition]:
    for q in _window_rows(params, snap):
        sl = q["service_level"]
        if q["offered"] >= params["min_offered"] and sl is not None and sl < params["below"]:
            yield Condition(
                {"queue": q["queue"]}, {"value": sl, "target": params["below"], "window": params["window"]}
            )


def _longest_wait(params: Mapping[str, Any], snap: Snapshot) -> Iterable[Condition]:
    for q in _rows(snap, "queues"):
        wait = q["longest_wait_now_seconds"] or 0.0
        if wait > params["above"]:
            yield Condition(
                {"queue": q["queue"]}, {"value": wait, "limit": params["above"], "waiting": q["waiting_now"]}
            )


def _agent_counts(snap: Snapshot) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for a in _rows(snap, "agents"):
        c = counts.setdefault(a["queue"], {"logged_in": 0, "available": 0, "paused": 0})
        c["logged_in"] += 1
        if a["state"] in ("available", "paused"):
            c[a["state"]] += 1
    return counts


def _no_agent_available(params: Mapping[str, Any], snap: Snapshot) -> Iterable[Condition]:
    agents = _agent_counts(snap)
    for q in _rows(snap, "queues"):
        # Only where ccmon knows the queue's agents (member events): no news is not "no agents".
        c = agents.get(q["queue"])
        if c is not None and q["waiting_now"] > 0 and c["available"] == 0:
            yield Condition({"queue": q["queue"]}, {"waiting": q["waiting_now"], "logged_in": c["logged_in"]})


def _all_agents_paused(params: Mapping[str, Any], snap: Snapshot) -> Iterable[Condition]:
    for queue, c in _agent_counts(snap).items():
        if c["logged_in"] > 0 and c["paused"] == c["logged_in"]:
            yield Condition({"queue": queue}, {"paused": c["paused"]})


def _caller(params: Mapping[str, Any], snap: Snapshot) -> Iterable[Condition]:
    for call in _rows(snap, "calls"):
        flags = set(str(call["flags"] or "").split(","))
        for reason in params["reasons"]:
            if reason in flags:
                yield Condition(
                    {"queue": call["queue"], "call": call["call"], "reason": reason},
                    {
                        "on_line": call["on_line_seconds"],
                        "journey": call["journey"],
                        "plays": call["plays"],
                        "state": call["state"],
                    },
                )


def _source_down(params: Mapping[str, Any], snap: Snapshot) -> Iterable[Condition]:
    for s in _rows(snap, "sources_up"):
        if not s["up"]:
            yield Condition({"source": s["source"]})


def silent_limit(params: Mapping[str, Any], usual_gap: float | None) -> float:
    """How long a source may be silent: `factor` times its usual gap between events, within
    [`min_seconds`, `max_seconds`]; `max_seconds` until its usual gap is known."""
    if usual_gap is None:
        return float(params["max_seconds"])
    return float(min(params["max_seconds"], max(params["min_seconds"], params["factor"] * usual_gap)))


def _source_silent(params: Mapping[str, Any], snap: Snapshot) -> Iterable[Condition]:
    for s in _rows(snap, "sources_up"):
        silent = s.get("silent")
        if s["up"] and silent is not None and silent > silent_limit(params, s.get("usual_gap")):
            yield Condition({"source": s["source"]}, {"silent": silent, "usual_gap": s.get("usual_gap")})


def _internal_error(params: Mapping[str, Any], snap: Snapshot) -> Iterable[Condition]:
    for s in _rows(snap, "source_errors"):
        age = s.get("age")
        if age is not None and age <= params["within_seconds"]:
            yield Condition({"source": s["source"]}, {"count": s["count"]})


CONDITIONS: dict[str, Callable[[Mapping[str, Any], Snapshot], Iterable[Condition]]] = {
    "service_level": _service_level,
    "longest_wait": _longest_wait,
    "abandon_rate": _ratio_rule("abandon_rate"),
    "no_agent_available": _no_agent_available,
    "all_agents_paused": _all_agents_paused,
    "caller": _caller,
    "repeat_rate": _ratio_rule("repeat_calls"),
    "misroute_rate": _ratio_rule("misroutes"),
    "source_down": _source_down,
    "source_silent": _source_silent,
    "internal_error": _internal_error,
}


def windows_needed(config: AlertConfig) -> list[str]:
    return sorted({str(r.params["window"]) for r in config.rules if "window" in r.params})
