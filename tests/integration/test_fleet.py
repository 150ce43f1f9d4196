"""Truth across pods: one Prometheus scrapes two pods of one deployment (two gunicorn masters,
2 workers and a multiprocess directory each, one job), each sent another population. The fleet
drift rules give the PSI of the two pods' traffic together, equal to the Python PSI on their
summed bin counts; request counts add up exactly; each pod's own /drift describes its own
traffic only."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import httpx2
import numpy as np
import pytest

from app.drift.stats import psi
from examples.churn.generator import SHIFTS, generate
from monitoring import drift_rules, service
from tests.support.metrics import samples
from tests.support.processes import Server, gunicorn
from tests.support.prometheus import prometheus

ROWS = 600  # per pod, in batches of 200
SCRAPE_S = 1.0
JOB = service.selector()


def send(server: Server, population: str, seed: int) -> int:
    records = list(generate(ROWS, seed=seed, population=SHIFTS[population]).records())
    requests = 0
    with httpx2.Client(base_url=server.url, timeout=30.0) as client:
        for start in range(0, ROWS, 200):
            response = client.post("/predict/batch", json={"rows": records[start : start + 200]})
            assert response.status_code == 200, response.text
            requests += 1
    return requests


def bin_counts(server: Server) -> dict[tuple[str, str], float]:
    """{(feature, bin): count} of the pod's value bins, as its own /metrics says."""
    text = httpx2.get(f"{server.url}/metrics", timeout=10.0).text
    counts: dict[tuple[str, str], float] = {}
    for (name, labels), value in samples(text).items():
        found = dict(labels)
        if name == "glassbox_drift_bin_observations_total" and found["bin"] != "missing":
            counts[(found["feature"], found["bin"])] = value
    return counts


def reference_of(server: Server) -> dict[tuple[str, str], float]:
    text = httpx2.get(f"{server.url}/metrics", timeout=10.0).text
    return {
        (dict(labels)["feature"], dict(labels)["bin"]): value
        for (name, labels), value in samples(text).items()
        if name == "glassbox_drift_reference_proportion"
    }


@pytest.mark.timeout(150)
def test_fleet_drift_is_the_drift_of_both_pods_traffic_together(tmp_path: Path) -> None:
    """The fleet PSI a recording rule wrote, against the Python PSI of the two pods' summed
    bin counts: the counts as that same evaluation saw them (Prometheus's increase() over the
    hour at the rule's timestamp), which are each pod's own counts up to increase()'s
    extrapolation of the last scrape interval (checked too)."""
    with ExitStack() as running:
        a = running.enter_context(gunicorn(tmp_path / "pod-a", workers=2))
        b = running.enter_context(gunicorn(tmp_path / "pod-b", workers=2))
        targets = [f"127.0.0.1:{a.port}", f"127.0.0.1:{b.port}"]
        prom = running.enter_context(
            prometheus(tmp_path, targets, SCRAPE_S, rule_files=[drift_rules.RULES])
        )
        assert prom.wait_for(f"count(up{{{JOB}}} == 1)", 2.0) == 2.0
        both_scraped = time.time()
        # Every bin's counter seen at zero before any traffic, so increase() counts it all.
        time.sleep(3 * SCRAPE_S)
        sent = {a.port: send(a, "reference", seed=11), b.port: send(b, "older", seed=12)}

        predicted = f"sum(glassbox_predictions_total{{{JOB}}})"
        assert prom.wait_for(predicted, 2.0 * ROWS, timeout_s=30) == 2.0 * ROWS
        batches = f'http_server_request_duration_seconds_count{{{JOB},http_route="/predict/batch"}}'
        for server in (a, b):
            one_pod = batches.replace("}", f',instance="127.0.0.1:{server.port}"}}')
            assert prom.wait_for(f"sum({one_pod})", float(sent[server.port])) == sent[server.port]
        assert prom.scalar(f"sum({batches})") == float(sum(sent.values())), "counts add up"

        # Each pod's own report: its own rows, its own population.
        own = {s.port: httpx2.get(f"{s.url}/drift", timeout=10.0).json() for s in (a, b)}
        for port in (a.port, b.port):
            age = own[port]["since_start"]["features"]["age"]
            assert age["count"] + age["missing"] == ROWS
        assert own[a.port]["since_start"]["features"]["age"]["psi"] < 0.1
        assert own[b.port]["since_start"]["features"]["age"]["psi"] > 0.25

        counted = {k: v + bin_counts(b)[k] for k, v in bin_counts(a).items()}
        reference = reference_of(a)
        assert reference == reference_of(b)
        time.sleep(3 * SCRAPE_S)  # the rules have evaluated on the final counts

        record = drift_rules.PSI_RECORD.format(window="1h")
        # When the rule last wrote each feature's PSI, and what it wrote then.
        written = {r["metric"]["feature"]: float(r["value"][1])
                   for r in prom.query(f"timestamp({record})")}  # fmt: skip
        assert {"age", "plan", "_prediction"} <= set(written)
        fleet = []
        for feature, at in written.items():
            (row,) = prom.query(f'{record}{{feature="{feature}"}}', at=at)
            fleet.append(row)
            rule_value = float(row["value"][1])
            seen = prom.query(
                f"sum by (bin) (increase(glassbox_drift_bin_observations_total{{{JOB},"
                f'feature="{feature}",bin!="missing"}}[1h]))',
                at=at,
            )
            increases = {r["metric"]["bin"]: float(r["value"][1]) for r in seen}
            bins = sorted(increases)
            observed = np.array([increases[b] for b in bins])
            expected = psi(np.array([reference[(feature, b)] for b in bins]),
                           observed / observed.sum())  # fmt: skip
            assert rule_value == pytest.approx(expected, rel=1e-9), feature
            # ...and those are the pods' own counts, up to increase()'s extrapolation: nothing
            # before a counter's first sample (it starts at 0), and at most 1.1 scrape
            # intervals past its last, over the time it has been scraped.
            mine = np.array([counted[(feature, b)] for b in bins])
            stretch = 1 + 1.1 * SCRAPE_S / (at - both_scraped)
            assert np.all(observed >= mine - 1e-9), feature
            assert np.all(observed <= mine * stretch + 1e-9), (feature, stretch)
        age_psi = next(float(r["value"][1]) for r in fleet if r["metric"]["feature"] == "age")
        a_only, b_only = (own[p]["since_start"]["features"]["age"]["psi"] for p in (a.port, b.port))
        assert a_only < age_psi < b_only, "the fleet sees both populations together"
