"""Reading Prometheus text exposition in tests, with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """{(sample name, labels): value} for every sample of a scrape."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


class MissingSample(AssertionError):
    """No sample of the scrape has the name and labels asked for."""


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``.

    A series that is missing (not declared, renamed, relabelled) is a failure, never a 0: with
    no matching sample this raises MissingSample, so ``value(...) == 0`` means a sample at zero.
    """
    wanted = set(labels.items())
    matched = [v for (n, ls), v in samples(text).items() if n == name and wanted <= ls]
    if not matched:
        raise MissingSample(f"no sample {name}{labels or ''} in the scrape")
    return sum(matched)


def series_count(text: str) -> int:
    return len(samples(text))
