"""The server's entry point: ``python -m app.serve [gunicorn's options]``.

The process a container runs as PID 1 (the gunicorn master: SIGTERM from Kubernetes or
``podman stop`` reaches it, and it drains; see :mod:`app.master`). Takes gunicorn's command
line; without ``--config`` it reads ``./gunicorn.conf.py``, as gunicorn does.
"""

from app.master import ServerApplication


def main() -> None:
    ServerApplication("%(prog)s [OPTIONS] [APP_MODULE]", prog="python -m app.serve").run()


if __name__ == "__main__":
    main()
