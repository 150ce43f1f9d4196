"""gunicorn configuration: process-level settings and hooks only.

The master reads the same Settings class as the app; the app itself is built in each worker
after fork by ``app.main:create_app()`` (no preload: LightGBM + OpenMP + fork can hang).
"""

from app.settings import Settings

_settings = Settings()

wsgi_app = "app.main:create_app()"
worker_class = "app.worker.Worker"
bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.web_concurrency
preload_app = False
# For async workers `timeout` is a heartbeat: a worker whose event loop is blocked this long
# is killed and replaced.
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
