"""Telemetry attached at the edges: metrics (and later traces and logs). The core knows nothing
of it."""
