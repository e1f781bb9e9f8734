"""Where events come from. Each source reads bytes (a file, later sockets) and hands them to a `Monitor`;
parsing and every figure stay in the engine. All sources share one interface, `Source`."""

from __future__ import annotations

import threading
from typing import Protocol


class Source(Protocol):
    """A running event source. ``name`` is its ``source`` label; ``up`` says whether it can read right now."""

    name: str

    @property
    def up(self) -> bool: ...

    def run(self, stop: threading.Event) -> None:
        """Reads and feeds until ``stop`` is set.

        Never raises for I/O trouble: it reports ``up = False`` and retries.
        """
        ...


def start(source: Source, stop: threading.Event) -> threading.Thread:
    """Runs a source in a daemon thread."""
    thread = threading.Thread(target=source.run, args=(stop,), name=f"source-{source.name}", daemon=True)
    thread.start()
    return thread
