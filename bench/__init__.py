"""The benchmark harness (`make bench`, `python -m bench`): the service against a fixed bare
reference and the raw model. Importing this package is cheap: the bare reference is imported
from here by gunicorn workers.
"""
