"""``cached_pid``: prometheus_client's multiprocess values read a cached pid.

Each multiprocess value checks ``os.getpid()`` on every write, to notice a fork; a request makes
about ten writes. The library's documented ``MultiProcessValue(process_identifier)`` takes any
function that gives distinct values in concurrently running processes, and this cache is
refreshed by every fork; installing it means replacing ``values.ValueClass``, which the library
reads whenever a metric child is created. Without it the library's own class stays.
"""

from __future__ import annotations

import os

from prometheus_client import values

from app.fast_paths import FastPaths

CACHED_PID = "cached_pid"

_pid = os.getpid()


def _refresh_pid() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_refresh_pid)


def cached_pid() -> int:
    """This process's id, refreshed in every forked child: ``os.getpid()`` without a syscall."""
    return _pid


def install_cached_pid(paths: FastPaths) -> None:
    """At worker start (gunicorn ``post_fork``), before any metric exists."""

    def install() -> None:
        make = values.MultiProcessValue
        if not hasattr(values, "ValueClass"):
            raise AttributeError("ValueClass", name="ValueClass", obj=values)
        values.ValueClass = make(process_identifier=cached_pid)

    paths.choose(CACHED_PID, install, lambda: None)
