"""The gunicorn master, with a drain on SIGTERM; run by ``python -m app.serve``.

gunicorn's own master closes its listeners as soon as it handles SIGTERM, and connections still
in the kernel's backlog are dropped; but Kubernetes takes a pod out of its Service's endpoints
*while* it sends SIGTERM, so traffic keeps arriving for a few seconds. This master, on SIGTERM:

1. sets the pod's drain flag (:mod:`app.drain_flag`): every worker's ``/readyz`` answers 503
   ``draining``, responses carry ``Connection: close``, ``glassbox_draining`` is 1;
2. logs ``drain started`` and, for the drain window, keeps its listeners open and its workers
   serving (one that dies is replaced, as always);
3. then runs gunicorn's own graceful stop: listeners closed, workers sent SIGTERM and given the
   graceful timeout, then killed.

SIGINT and SIGQUIT keep gunicorn's fast stop, during a drain too. Nothing of gunicorn is
patched: this is a subclass of its arbiter, run by gunicorn's own command-line application
(:mod:`app.serve`), so the command line and ``gunicorn.conf.py`` are gunicorn's. The window is
handed over by ``gunicorn.conf.py``'s ``on_starting`` hook, the master's one reading of the
settings.
"""

from __future__ import annotations

import time
from pathlib import Path

import structlog
from gunicorn.arbiter import Arbiter

from app.drain_flag import DrainFlag

events = structlog.get_logger("glassbox.drain")


class DrainingArbiter(Arbiter):  # type: ignore[misc]
    drain_seconds: float | None = None
    drain_flag: DrainFlag | None = None
    _drain_ends: float | None = None  # time.monotonic() at which the window closes

    def drain_on_term(self, seconds: float, directory: Path) -> None:
        """Drain for ``seconds`` on SIGTERM; the flag lives in ``directory``. Call before any
        worker starts (``on_starting``). Without this call, SIGTERM is gunicorn's."""
        self.drain_seconds = seconds
        self.drain_flag = DrainFlag.create(directory)

    @property
    def draining(self) -> bool:
        return self._drain_ends is not None

    def handle_term(self) -> None:
        if self.drain_seconds is None or self.drain_flag is None:
            super().handle_term()  # not configured: gunicorn's own stop
            return
        if self.draining:
            self.log.info("already draining: SIGTERM ignored (SIGINT or SIGQUIT stop at once)")
            return
        # Readiness first: every moment the flag is late is a moment of traffic routed here.
        self.drain_flag.set()
        events.info(
            "drain started",
            drain_seconds=self.drain_seconds,
            graceful_timeout_seconds=self.cfg.graceful_timeout,
        )
        # After the line: the window closes no earlier than its timestamp says.
        self._drain_ends = time.monotonic() + self.drain_seconds

    def wait_for_signals(self, timeout: float = 1.0) -> list[int]:
        """gunicorn's wait, shortened to end with the drain window, which ends the main loop
        the way gunicorn's SIGTERM does (StopIteration: halt, the graceful stop)."""
        if self._drain_ends is not None:
            remaining = self._drain_ends - time.monotonic()
            if remaining <= 0:
                events.info("drain window over: graceful stop", drain_seconds=self.drain_seconds)
                raise StopIteration
            timeout = min(timeout, remaining)
        signals: list[int] = super().wait_for_signals(timeout=timeout)
        return signals
