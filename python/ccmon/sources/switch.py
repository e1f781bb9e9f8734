"""What the live switch clients (`AmiClient`, `EslClient`) share: the connection's life. A session runs until
it fails; then the client reconnects after a backoff doubling from ``min_backoff`` to ``max_backoff``
seconds, with ±50 % jitter so that many monitors do not reconnect in step, drawn from the client's own
generator (the global one belongs to the program, and tests check nobody else moves it)."""

from __future__ import annotations

import logging
import random
import threading

from ccmon.monitor import Monitor
from ccmon.sources import url_options

log = logging.getLogger(__name__)


class Refused(Exception):
    """The switch refused the credentials (a failure like any other: retried with backoff, logged as an
    error, without the secret)."""


class SwitchClient:
    """Feeds one switch's events into a monitor until ``stop`` is set; ``up`` while connected. Subclasses
    implement ``_session`` (connect, log in, stream until the connection fails) and say in ``_refused``
    what a refusal means for them."""

    def __init__(
        self,
        url: str,
        host: str,
        port: int,
        monitor: Monitor,
        name: str,
        site: str | None,
        ping_seconds: float,
        min_backoff: float,
        max_backoff: float,
    ) -> None:
        self.host, self.port = host, port
        self.monitor = monitor
        options = url_options(url)
        self.name = options.get("name", name)
        self.site = options.get("site", site)
        self.ping_seconds = ping_seconds
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.connects = 0
        self._up = False
        self._jitter = random.Random()

    @property
    def up(self) -> bool:
        return self._up

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                self._session(stop)
                failures = 0
            except Refused as e:
                log.error("%s: %s", self.name, self._refused(e))
                failures += 1
            except OSError as e:
                log.warning("%s: connection to %s:%d lost: %s", self.name, self.host, self.port, e)
                failures += 1
            finally:
                self._up = False
            if stop.is_set():
                return
            delay = min(self.max_backoff, self.min_backoff * 2 ** max(0, failures - 1))
            stop.wait(delay * self._jitter.uniform(0.5, 1.5))

    def _session(self, stop: threading.Event) -> None:
        raise NotImplementedError

    def _refused(self, e: Refused) -> str:
        return f"{self.host}:{self.port} refused the credentials: {e}"
