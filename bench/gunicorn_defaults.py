"""An empty gunicorn configuration: the bare reference runs on gunicorn's defaults.

Without ``--config`` gunicorn reads ``./gunicorn.conf.py``, the service's own configuration; the
bare reference passes this file instead so nothing of the service leaks into it.
"""
