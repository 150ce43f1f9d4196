"""Drift: the reference profile made at training time and statistics against it."""
