"""The demo's source: the built-in call-center simulator, fed to the monitor in real time."""

from __future__ import annotations

import threading
import time

from ccmon.monitor import Monitor
from ccmon.simulator import Simulator


class SimulatedSwitch:
    """Plays a seeded `Simulator` into a monitor as event time passes on the wall clock."""

    def __init__(
        self,
        monitor: Monitor,
        seed: int = 1,
        history_seconds: float = 3600.0,
        name: str = "demo",
        site: str | None = None,
    ) -> None:
        self.monitor = monitor
        self.name = name
        self.site = site
        self.simulator = Simulator(seed=seed, start=time.time() - history_seconds)
        self._up = False

    @property
    def up(self) -> bool:
        return self._up

    def step(self, now: float | None = None) -> None:
        data = self.simulator.advance_to(time.time() if now is None else now)
        if data:
            self.monitor.feed(data, "queue_log", self.name, self.site)
        self._up = True

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.step()
            stop.wait(0.25)
