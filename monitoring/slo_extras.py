"""Glassbox's additions to its Sloth spec (``monitoring/slo-extras.yaml``), typed.

What Sloth's ``prometheus/v1`` spec has no field for lives here, so ``slo.yaml`` stays a spec the
real Sloth reads: the runbook's base URL, the no-data alert of each SLO, and the few settings of
``monitoring/prometheus.yml`` that are not the scrape job (which is ``slo.yaml``'s ``labels.job``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Duration = Annotated[str, StringConstraints(pattern=r"^[0-9]+[smhd]$")]
AlertName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class _Extras(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoDataAlert(_Extras):
    alert: AlertName
    severity: str


class NoDataAlerts(_Extras):
    # How long an SLI's total series may be absent before the alert fires.
    for_: Duration = Field(alias="for")
    # One per SLO of slo.yaml, by the SLO's name.
    slos: dict[str, NoDataAlert]


class PrometheusConfig(_Extras):
    scrape_interval: Duration
    evaluation_interval: Duration
    targets: list[str] = Field(min_length=1)
    alertmanagers: list[str] = Field(min_length=1)


class Extras(_Extras):
    runbook_base_url: str = Field(min_length=1)
    no_data_alerts: NoDataAlerts
    prometheus: PrometheusConfig

    def runbook_url(self, alert: str) -> str:
        """The runbook section of an alert: the base, ``#``, the alert's name in lower case
        (the anchor a Markdown heading of the name gets)."""
        return f"{self.runbook_base_url}#{alert.lower()}"


def load_extras(path: Path) -> Extras:
    return Extras.model_validate(yaml.safe_load(path.read_text()))
