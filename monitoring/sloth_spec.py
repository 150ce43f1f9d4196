"""Sloth's ``prometheus/v1`` SLO spec as typed data, and nothing beyond it.

The models carry exactly the fields of Sloth's spec (slok/sloth, ``pkg/prometheus/api/v1``) and
refuse any other, so a file they load is one the real Sloth reads as it is. Sloth's SLI plugins
are a field of the spec this generator does not implement: a spec using one is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

LabelName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")]
Labels = dict[LabelName, str]
# Sloth renders each query as a Go template whose only key is the window.
WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Alert(_Spec):
    disable: bool = False
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)


class Alerting(_Spec):
    name: str = ""
    labels: Labels = Field(default_factory=dict)
    annotations: Labels = Field(default_factory=dict)
    page_alert: Alert = Field(default_factory=Alert)
    ticket_alert: Alert = Field(default_factory=Alert)

    @model_validator(mode="after")
    def _named_when_enabled(self) -> Alerting:
        enabled = not (self.page_alert.disable and self.ticket_alert.disable)
        if enabled and not self.name:
            raise ValueError("alerting.name is required unless both alerts are disabled")
        return self


class Events(_Spec):
    error_query: str
    total_query: str

    @model_validator(mode="after")
    def _windowed(self) -> Events:
        for query in (self.error_query, self.total_query):
            if not WINDOW.search(query):
                raise ValueError(f"an events query must use {{{{.window}}}}: {query!r}")
        return self


class Raw(_Spec):
    error_ratio_query: str


class Plugin(_Spec):
    id: str
    options: dict[str, str] = Field(default_factory=dict)


class SLI(_Spec):
    raw: Raw | None = None
    events: Events | None = None
    plugin: Plugin | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> SLI:
        kinds = [k for k in (self.raw, self.events, self.plugin) if k is not None]
        if len(kinds) != 1:
            raise ValueError("an SLI is exactly one of raw, events or plugin")
        if self.plugin is not None:
            raise ValueError("SLI plugins are Sloth's own: this generator does not run them")
        return self


class SLO(_Spec):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
    description: str = ""
    objective: float = Field(gt=0, le=100)
    labels: Labels = Field(default_factory=dict)
    sli: SLI
    alerting: Alerting = Field(default_factory=Alerting)


class Spec(_Spec):
    version: Literal["prometheus/v1"]
    service: Annotated[str, StringConstraints(min_length=1)]
    labels: Labels = Field(default_factory=dict)
    slos: list[SLO] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Spec:
        names = [slo.name for slo in self.slos]
        if len(set(names)) != len(names):
            raise ValueError(f"SLO names repeat: {names}")
        return self


def render_window(query: str, window: str) -> str:
    """The query as Sloth renders it for one window (``{{.window}}``, spaces allowed inside)."""
    return WINDOW.sub(window, query)


def load_spec(path: Path) -> Spec:
    return Spec.model_validate(yaml.safe_load(path.read_text()))
