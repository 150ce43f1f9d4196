"""gunicorn configuration: process-level settings and hooks only.

The master reads the same Settings class as the app; the app itself is built in each worker
after fork by ``app.main:create_server_app()`` (no preload: LightGBM + OpenMP + fork can hang).
Run by ``python -m app.serve`` (gunicorn with a master that drains on SIGTERM, app/master.py);
plain ``gunicorn`` reads it too, and then SIGTERM stops at once.
"""

import logging
import os
from pathlib import Path

from app.settings import Settings
from app.telemetry.logging import configure_logging, install_process_hooks, stdlib_config

_settings = Settings()
# The model's thread count, fixed for the workers' OpenMP runtime before any of them loads
# LightGBM (OpenMP's own default is one thread per core of the node, not of the pod); the
# predictor then passes none per call (that costs ~10 µs a prediction). A value already in the
# environment wins, and the predictor passes its own count per call again. The default worker
# count is sized by the same count: workers x threads <= the pod's CPUs.
os.environ.setdefault("OMP_NUM_THREADS", str(_settings.model_threads))

wsgi_app = "app.main:create_server_app()"
worker_class = "app.worker.Worker"
_server = _settings.server
# One gunicorn, one or two listeners: with the admin port, every worker accepts on both and the
# app answers each path on its own port only (app/api/ports.py).
bind = [f"{_server.host}:{port}" for port in (_server.port, _server.admin_port) if port]
workers = _settings.workers
preload_app = False
# Nothing written outside the mounted volumes: no control socket (gunicorn >= 25.1 opens one
# under $XDG_RUNTIME_DIR or $HOME by default), and the workers' heartbeat files where the
# setting says (unset: the system's temporary directory).
control_socket_disable = True
worker_tmp_dir = str(_server.worker_tmp_dir) if _server.worker_tmp_dir else None
# For async workers `timeout` is a heartbeat: a worker whose event loop is blocked this long
# is killed and replaced.
timeout = 30
# After SIGTERM and the drain window: how long workers may finish what they serve before they
# are killed. app.worker.Worker gives uvicorn its share of it (the rest is the shutdown's work).
graceful_timeout = _server.graceful_timeout_seconds
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = _settings.log.level.lower()
# The master's own lines (and, inherited, the workers' until the app configures them) go through
# the same structlog chain as the app's: JSON in containers.
logconfig_dict = stdlib_config(_settings.log.level, _settings.log.format)


def _multiprocess_dir() -> Path:
    # prometheus_client reads this variable itself, at import: it must be in the environment
    # before Python starts (Makefile, Dockerfile, k8s manifest), so it is not a Settings field.
    raw = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not raw:
        raise SystemExit(
            "PROMETHEUS_MULTIPROC_DIR is not set: with several workers each would report only "
            "its own share of the traffic. Set it to an empty, writable directory."
        )
    return Path(raw)


def on_starting(server: object) -> None:
    from app.master import DrainingArbiter
    from app.telemetry.multiprocess import reset_dir

    configure_logging(_settings.log.level, _settings.log.format)
    install_process_hooks(_settings.log.format)
    reset_dir(_multiprocess_dir())
    # After the reset, before any worker: the drain flag lives in the emptied directory.
    if isinstance(server, DrainingArbiter):
        server.drain_on_term(_settings.server.drain_seconds, _multiprocess_dir())
    else:
        logging.getLogger("glassbox").warning(
            "started by plain gunicorn, not `python -m app.serve`: SIGTERM closes the "
            "listeners at once, with no drain window"
        )


def child_exit(server: object, worker: object) -> None:
    from app.telemetry.multiprocess import mark_worker_dead

    mark_worker_dead(worker.pid, _multiprocess_dir())  # type: ignore[attr-defined]
