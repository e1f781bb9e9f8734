"""Follow a log file like ``tail -F``: survives rotation (a new file at the path) and truncation.

On start the file is read from its beginning, so a restarted ccmon rebuilds its state (today's figures, the
calls still waiting) from the file itself and counts no event twice; ``from_end=True`` skips the history.
Polling every 0.2 s keeps an appended line's delay well under a second without platform-specific watchers.
"""

from __future__ import annotations

import logging
import os
import threading

from ccmon.monitor import Monitor

log = logging.getLogger(__name__)

CHUNK = 1 << 20


class FileFollower:
    """Feeds a growing file into a monitor.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "queue_log"
    >>> _ = path.write_text("100|c1|q|NONE|ENTERQUEUE||1\\n")
    >>> m = Monitor(); f = FileFollower(path, m); f.poll_once(); m.queues()["offered"].to_list()
    [1]
    >>> f.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        monitor: Monitor,
        format: str = "queue_log",
        name: str = "queue_log",
        poll_seconds: float = 0.2,
        from_end: bool = False,
        site: str | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.monitor = monitor
        self.format = format
        self.name = name
        self.site = site
        self.poll_seconds = poll_seconds
        self._from_end = from_end
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None
        self._offset = 0
        self._up = False

    @property
    def up(self) -> bool:
        return self._up

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except Exception:
                # A bug of ours must not end the following for good: logged with its traceback, tried again
                # at the next poll (what was read before the failure is not read again).
                log.exception("following %s failed; trying again", self.path)
                self._up = False
            stop.wait(self.poll_seconds)
        self.close()

    def poll_once(self) -> None:
        """One step: notice rotation or truncation, then feed whatever was appended."""
        try:
            st = os.stat(self.path)
        except OSError as e:
            if self._up:
                log.warning("cannot stat %s: %s", self.path, e)
            self._up = False
            # The old file may still have unread lines after a rotation that removed the path.
            if self._fd is not None:
                self._drain()
            return
        identity = (st.st_dev, st.st_ino)
        try:
            if self._fd is None:
                self._open(identity, skip_to_end=self._from_end)
                self._from_end = False
            elif identity != self._inode:
                log.info("%s was rotated; reading the new file from its start", self.path)
                self._drain()
                self.close()
                self._open(identity, skip_to_end=False)
            elif st.st_size < self._offset:
                log.info("%s was truncated; reading again from its start", self.path)
                self.monitor.end_of_input(self.format, self.name, self.site)
                os.lseek(self._fd, 0, os.SEEK_SET)
                self._offset = 0
            self._drain()
            self._up = True
        except OSError as e:
            log.warning("reading %s failed: %s", self.path, e)
            self._up = False
            self.close()

    def _open(self, identity: tuple[int, int], skip_to_end: bool) -> None:
        self._fd = os.open(self.path, os.O_RDONLY)
        self._inode = identity
        self._offset = os.lseek(self._fd, 0, os.SEEK_END) if skip_to_end else 0

    def _drain(self) -> None:
        assert self._fd is not None
        while True:
            chunk = os.pread(self._fd, CHUNK, self._offset)
            if not chunk:
                return
            self._offset += len(chunk)
            self.monitor.feed(chunk, self.format, self.name, self.site)

    def close(self) -> None:
        """Stops reading: the last line without a newline counts, the file is closed."""
        if self._fd is not None:
            # A last line without a newline in a file that will not grow any more still counts.
            self.monitor.end_of_input(self.format, self.name, self.site)
            os.close(self._fd)
            self._fd = None
