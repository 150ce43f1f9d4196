"""Which series are Glassbox's: those of the scrape job the SLO spec names in ``labels.job``.

Every rule selects the service by this one job (Sloth's queries take no variables, so
``slo.yaml``'s spell it out and the tests hold them to it), ``prometheus.yml``'s scrape job is
named after it, and a Kubernetes scrape of the service must give its targets this job.
"""

from __future__ import annotations

from pathlib import Path

from monitoring.sloth_spec import Spec, load_spec

SPEC = Path(__file__).resolve().parent / "slo.yaml"


def job_name(spec: Spec) -> str:
    job = spec.labels.get("job")
    if not job:
        raise ValueError("slo.yaml's labels must carry the scrape job (labels.job)")
    return job


def job() -> str:
    """The service's scrape job, from slo.yaml."""
    return job_name(load_spec(SPEC))


def selector() -> str:
    """The label matcher that selects the service: ``job="<labels.job>"``."""
    return f'job="{job()}"'
