"""``histogram_writers``: prometheus_client histogram children's values written directly, or
through ``observe`` (the public path).

prometheus_client keeps a histogram child's non-cumulative bucket values in ``_buckets`` (bounds
in ``_upper_bounds``) and its sum in ``_sum``; ``observe`` checks the child is observable and
walks the bounds in Python before the same two value writes, once per value where a batch's
rows need one write per bucket. tests/fast_paths/test_metric_writers.py holds both paths to the
library's own samples.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from app.fast_paths import FastPaths

HISTOGRAM_WRITERS = "histogram_writers"

Adder = Callable[[float], None]


class HistogramWriter(Protocol):
    def observe(self, value: float) -> None: ...

    def observe_many(self, values: np.ndarray) -> None:
        """Many values (never NaN) into the same child."""


def histogram_writer(paths: FastPaths, child: Any) -> HistogramWriter:
    """How to observe into one histogram child."""

    def direct() -> HistogramWriter:
        return DirectHistogramWriter(child)

    def public() -> HistogramWriter:
        return PublicHistogramWriter(child)

    return paths.choose(HISTOGRAM_WRITERS, direct, public)


class DirectHistogramWriter:
    """Exactly ``observe``'s two value writes: the sum, and the first bucket whose bound is >=
    the value (NaN in none), without ``observe``'s checks and its loop over the bounds."""

    def __init__(self, child: Any) -> None:
        self._bounds: list[float] = list(child._upper_bounds)
        self._buckets: list[Adder] = [bucket.inc for bucket in child._buckets]
        self._sum: Adder = child._sum.inc
        self._bounds_array = np.asarray(self._bounds, dtype=np.float64)

    def observe(self, value: float) -> None:
        self._sum(value)
        if value == value:  # NaN falls in no bucket, as with observe
            self._buckets[bisect_left(self._bounds, value)](1)

    def observe_many(self, values: np.ndarray) -> None:
        """One write per non-empty bucket, whatever the number of values."""
        index = np.searchsorted(self._bounds_array, values, side="left")
        counts = np.bincount(index, minlength=len(self._bounds))
        for i in np.flatnonzero(counts).tolist():
            self._buckets[i](int(counts[i]))
        self._sum(float(values.sum()))


class PublicHistogramWriter:
    """``observe``, once per value."""

    def __init__(self, child: Any) -> None:
        self.observe: Adder = child.observe

    def observe_many(self, values: np.ndarray) -> None:
        observe = self.observe
        for value in values.tolist():
            observe(value)
