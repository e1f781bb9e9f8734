"""Where events come from. Each source reads bytes (a file, later sockets) and hands them to a `Monitor`;
parsing and every figure stay in the engine. All sources share one interface, `Source`."""

from __future__ import annotations

import threading
from typing import Protocol
from urllib.parse import parse_qs, urlparse


class Source(Protocol):
    """A running event source. ``name`` is its ``source`` label; ``site`` the site it feeds (None: the
    monitor's default, the config's ``site``); ``up`` says whether it can read right now."""

    name: str
    site: str | None

    @property
    def up(self) -> bool: ...

    def run(self, stop: threading.Event) -> None:
        """Reads and feeds until ``stop`` is set.

        Never raises for I/O trouble: it reports ``up = False`` and retries.
        """
        ...


def url_options(url: str) -> dict[str, str]:
    """The options a switch URL may carry after ``?``: ``site`` (the site its events belong to) and ``name``
    (its ``source`` label), e.g. ``ami://ccmon@pbx1:5038?site=madrid&name=pbx1``.

    >>> url_options("ami://ccmon@pbx1?site=madrid")
    {'site': 'madrid'}
    """
    options: dict[str, str] = {}
    for key, values in parse_qs(urlparse(url).query, keep_blank_values=True).items():
        if key not in ("site", "name"):
            raise ValueError(f"{url}: unknown option {key!r}; allowed: site, name")
        if len(values) != 1 or not values[0]:
            raise ValueError(f"{url}: give {key} once, with a value")
        options[key] = values[0]
    return options


def start(source: Source, stop: threading.Event) -> threading.Thread:
    """Runs a source in a daemon thread."""
    thread = threading.Thread(target=source.run, args=(stop,), name=f"source-{source.name}", daemon=True)
    thread.start()
    return thread
