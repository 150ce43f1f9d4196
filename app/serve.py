"""The server's entry point: ``python -m app.serve [gunicorn's options]``.

The process a container runs as PID 1: the gunicorn master, which SIGTERM from Kubernetes or
``podman stop`` reaches, and which drains (:mod:`app.master`). It takes gunicorn's command line;
without ``--config`` it reads ``./gunicorn.conf.py``, as gunicorn does.
"""

from __future__ import annotations

import sys
from typing import Any

USAGE = "%(prog)s [OPTIONS] [APP_MODULE]"


def server_application(prog: str = "python -m app.serve") -> Any:
    """gunicorn's command-line application, run by the draining arbiter.

    The classes are made here, not at import: importing ``gunicorn.app`` reads gunicorn's
    defaults from the environment (``PORT``, ``WEB_CONCURRENCY``), and importing an app module
    has no side effect (tests/test_imports.py).
    """
    from gunicorn.app.base import BaseApplication
    from gunicorn.app.wsgiapp import WSGIApplication

    from app.master import DrainingArbiter

    class DrainingRun(BaseApplication):  # type: ignore[misc]
        """``BaseApplication.run`` with the draining arbiter. It sits between gunicorn's
        ``Application`` and ``BaseApplication`` in ``ServerApplication``'s method order, so
        ``Application.run`` (``--print-config``, ``--check-config``, daemon, python path) runs
        first and then reaches this instead of the base's ``Arbiter(self).run()``."""

        def run(self) -> None:
            try:
                DrainingArbiter(self).run()
            except RuntimeError as exc:  # as BaseApplication.run
                print(f"\nError: {exc}\n", file=sys.stderr)
                sys.stderr.flush()
                sys.exit(1)

    class ServerApplication(WSGIApplication, DrainingRun):  # type: ignore[misc]
        """gunicorn's command-line application (its flags, ``--config``, ``APP_MODULE``)."""

    return ServerApplication(USAGE, prog=prog)


def main() -> None:
    server_application().run()


if __name__ == "__main__":
    main()
