"""Bounds on how many of n independent trials come out one way."""

import math


def binomial_bounds(n: int, ratio: float, sigmas: float = 5.0) -> tuple[int, int]:
    """Where the number sampled out of n independent traces falls, but for a chance of about
    one in 1.7 million (5 standard deviations either side of the mean)."""
    mean, sd = n * ratio, math.sqrt(n * ratio * (1 - ratio))
    return math.ceil(mean - sigmas * sd), math.floor(mean + sigmas * sd)
