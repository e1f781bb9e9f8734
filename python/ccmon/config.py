"""ccmon configuration: a TOML file whose keys are SPEC's tunables.

Every key is optional; an unknown key or a wrong value stops with a `ConfigError` that names the key and what
is allowed. Example ``ccmon.toml``::

    service_level_seconds = 20
    timezone = "Europe/Madrid"
    supervisor_queues = ["supervisor"]
    supervisors = ["Agent/9001"]

    [departments]
    support = ["support", "support-tier2"]

    [queue_moh_class]
    support = "default"

    [moh_track_seconds]
    default = 30

>>> Config.from_dict({"service_level_seconds": 30}).service_level_seconds
30.0
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccmon import _core

if TYPE_CHECKING:
    from ccmon.alerting.rules import AlertConfig

FORMULAS = ("answered_minus_short", "answered_only", "abandons_in_sl_met", "removed_within_sl")


class ConfigError(ValueError):
    """A configuration key is unknown or has a value that is not allowed."""


@dataclass(frozen=True)
class Config:
    """Validated configuration. Build it with `from_dict`, `from_toml` or `load`."""

    service_level_seconds: float = 20.0
    short_abandon_seconds: float = 5.0
    service_level_formula: str = "answered_minus_short"
    max_wait_seconds: float = 14400.0
    windows: tuple[str, ...] = ("5m", "15m", "1h")
    timezone: str = "UTC"
    site: str = ""
    bounce_transfers: int = 3
    repeat_window_seconds: float = 86400.0
    misroute_talk_seconds: float = 60.0
    misroute_window_seconds: float = 900.0
    moh_alert_plays: float = 10.0
    departments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    supervisor_queues: tuple[str, ...] = ()
    supervisors: tuple[str, ...] = ()
    moh_track_seconds: Mapping[str, float] = field(default_factory=dict)
    queue_moh_class: Mapping[str, str] = field(default_factory=dict)
    show_callers: bool = False
    max_line_bytes: int = 65536
    max_queues: int = 10000
    # The [alerts] table (manager alerts, see ccmon.alerting); None: every rule with its defaults.
    alerts: AlertConfig | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        allowed = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in allowed:
                raise ConfigError(f"unknown key {key!r}; allowed keys: {', '.join(sorted(allowed))}")
            values[key] = _check(key, value)
        cfg = cls(**values)
        cfg = dataclasses.replace(cfg, alerts=cfg.alert_config.fit_windows(cfg.windows))
        # The engine checks what only it knows (time zone names, departments listing a queue twice).
        try:
            _core.Engine(cfg.engine_json())
        except ValueError as e:
            raise ConfigError(str(e)) from None
        return cfg

    @classmethod
    def from_toml(cls, path: str | Path, defaults: Mapping[str, Any] | None = None) -> Config:
        """Reads a TOML file; ``defaults`` (such as the demo site's) fill the keys it does not set."""
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
        try:
            return cls.from_dict({**(defaults or {}), **data})
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None

    @classmethod
    def load(cls, config: Config | Mapping[str, Any] | str | Path | None) -> Config:
        """Accepts a Config, a dict of keys, a path to a TOML file, or None for the defaults."""
        if config is None:
            return cls()
        if isinstance(config, Config):
            return config
        if isinstance(config, Mapping):
            return cls.from_dict(config)
        return cls.from_toml(config)

    @property
    def alert_config(self) -> AlertConfig:
        from ccmon.alerting.rules import AlertConfig

        return self.alerts or AlertConfig()

    def engine_json(self) -> str:
        """The engine's view of this configuration."""
        return json.dumps(
            {
                "service_level_seconds": self.service_level_seconds,
                "short_abandon_seconds": self.short_abandon_seconds,
                "service_level_formula": self.service_level_formula,
                "max_wait_seconds": self.max_wait_seconds,
                "windows_seconds": [window_seconds(w) for w in self.windows],
                "timezone": self.timezone,
                "site": self.site,
                "bounce_transfers": self.bounce_transfers,
                "repeat_window_seconds": self.repeat_window_seconds,
                "misroute_talk_seconds": self.misroute_talk_seconds,
                "misroute_window_seconds": self.misroute_window_seconds,
                "moh_alert_plays": self.moh_alert_plays,
                "departments": {k: list(v) for k, v in self.departments.items()},
                "supervisor_queues": list(self.supervisor_queues),
                "supervisors": list(self.supervisors),
                "moh_track_seconds": dict(self.moh_track_seconds),
                "queue_moh_class": dict(self.queue_moh_class),
                "max_line_bytes": self.max_line_bytes,
                "max_queues": self.max_queues,
            }
        )


def read_secret(path: str | Path | None, env: str) -> str:
    """A secret (a switch's password, a receiver's key): the content of the file at `path` when one is named,
    else the environment variable `env`; "" when neither gives one. Never a command-line or config value
    itself, so it stays out of process lists, shell history and logs. Raises OSError when the file cannot be
    read."""
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(env, "")


def window_seconds(text: str) -> float:
    """Length of a rolling window such as ``"5m"``; `ValueError` for anything else."""
    seconds = _core.window_seconds(text)
    if seconds is None:
        raise ValueError(f"{text!r} is not a rolling window")
    return seconds


def _number(key: str, value: Any, minimum: float, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number of seconds, got {value!r}")
    ok = value > minimum if strict else value >= minimum
    if not ok:
        raise ConfigError(f"{key} must be {'>' if strict else '>='} {minimum:g}, got {value!r}")
    return float(value)


def _strings(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of strings, got {value!r}")
    return tuple(value)


def _check(key: str, value: Any) -> Any:
    if key in (
        "service_level_seconds",
        "max_wait_seconds",
        "repeat_window_seconds",
        "misroute_window_seconds",
    ):
        return _number(key, value, 0, strict=True)
    if key in ("short_abandon_seconds", "misroute_talk_seconds", "moh_alert_plays"):
        return _number(key, value, 0, strict=False)
    if key == "service_level_formula":
        if value not in FORMULAS:
            raise ConfigError(f"service_level_formula must be one of {', '.join(FORMULAS)}; got {value!r}")
        return value
    if key == "windows":
        windows = _strings(key, value)
        for w in windows:
            try:
                window_seconds(w)
            except ValueError:
                raise ConfigError(f'windows: {w!r} is not a duration like "5m", "15m", "1h", "90s"') from None
        return windows
    if key in ("timezone", "site"):
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    if key in ("bounce_transfers", "max_line_bytes", "max_queues"):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key} must be a whole number >= 1, got {value!r}")
        return value
    if key in ("supervisor_queues", "supervisors"):
        return _strings(key, value)
    if key == "show_callers":
        if not isinstance(value, bool):
            raise ConfigError(f"show_callers must be true or false, got {value!r}")
        return value
    if key == "departments":
        if not isinstance(value, Mapping):
            raise ConfigError("departments must be a table: department name = [queues]")
        return {str(k): _strings(f"departments.{k}", v) for k, v in value.items()}
    if key == "moh_track_seconds":
        if not isinstance(value, Mapping):
            raise ConfigError("moh_track_seconds must be a table: class name = seconds")
        return {str(k): _number(f"moh_track_seconds.{k}", v, 0, strict=True) for k, v in value.items()}
    if key == "alerts":
        from ccmon.alerting.rules import AlertConfig

        if not isinstance(value, Mapping):
            raise ConfigError("alerts must be a table (see README, Manager alerts)")
        return AlertConfig.from_dict(value)
    if key == "queue_moh_class":
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError('queue_moh_class must be a table: queue name = "class"')
        return dict(value)
    raise ConfigError(f"unknown key {key!r}")  # pragma: no cover - from_dict checks names first
