"""Configuration: every key typed, and a wrong key or value names the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccmon import Config, ConfigError, Monitor


def test_defaults_are_specs() -> None:
    c = Config()
    assert (c.service_level_seconds, c.short_abandon_seconds, c.max_wait_seconds) == (20, 5, 14400)
    assert (c.repeat_window_seconds, c.misroute_talk_seconds, c.misroute_window_seconds) == (86400, 60, 900)
    assert (c.bounce_transfers, c.moh_alert_plays, c.service_level_formula) == (3, 10, "answered_minus_short")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"nope": 1}, "unknown key 'nope'"),
        ({"service_level_seconds": -1}, "service_level_seconds must be > 0"),
        ({"service_level_seconds": "20"}, "service_level_seconds must be a number"),
        ({"service_level_formula": "magic"}, "answered_minus_short"),
        ({"windows": ["5 minutes"]}, "windows: '5 minutes'"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"departments": {"a": ["q1"], "b": ["q1"]}}, "q1"),
        ({"bounce_transfers": 0}, "bounce_transfers must be a whole number >= 1"),
        ({"moh_track_seconds": {"jazz": 0}}, "moh_track_seconds.jazz"),
        ({"supervisors": "Agent/1"}, "supervisors must be a list of strings"),
    ],
)
def test_wrong_key_or_value_names_it(data: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        Config.from_dict(data)
    assert needle in str(err.value)


def test_toml_file_is_read(tmp_path: Path) -> None:
    p = tmp_path / "ccmon.toml"
    p.write_text(
        'service_level_seconds = 30\ntimezone = "Europe/Madrid"\nwindows = ["1m", "2h"]\n'
        '[departments]\nsupport = ["support", "support-tier2"]\n'
    )
    c = Config.from_toml(p)
    assert c.service_level_seconds == 30 and c.timezone == "Europe/Madrid"
    assert c.departments == {"support": ("support", "support-tier2")}
    m = Monitor(p)
    assert m.queues("2h").height == 0
    with pytest.raises(ValueError, match="longest configured window"):
        m.queues("3h")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "ccmon.toml"
    p.write_text("service_level_seconds = = 3\n")
    with pytest.raises(ConfigError, match=r"ccmon\.toml"):
        Config.from_toml(p)
