"""The service overview's panels of each pod's insides: saturation, the processes, tracing."""

from __future__ import annotations

from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as models

from grafana.panels import Look, Override, Query, dashed
from grafana.panels import time_series as ts
from grafana.queries import SERVICE, by, increase, rate, select


def saturation() -> list[Builder[models.Panel]]:
    return [
        ts(
            Look(
                "Event-loop lag",
                "Per pod, the largest event-loop lag a worker measured over the last second "
                "(the worst worker): how long a request arriving then waited before the app "
                "saw it. Dashed, the threshold beyond which workers shed prediction requests "
                "(glassbox_shed_threshold_seconds).",
                "a pod at or above its threshold (it sheds: next panel), or one far above the "
                "others.",
                width=8,
            ),
            [
                Query(
                    by(
                        ["namespace", "instance"],
                        "max",
                        select("glassbox_event_loop_lag_seconds", SERVICE),
                    ),
                    "{{instance}}",
                ),
                Query(
                    by(
                        ["namespace", "instance"],
                        "max",
                        select("glassbox_shed_threshold_seconds", SERVICE),
                    ),
                    "threshold {{instance}}",
                ),
            ],
            "s",
            minimum=0,
            overrides=[Override("threshold .*", dashed("red"))],
        ),
        ts(
            Look(
                "Shed requests",
                "Prediction requests refused per second with a 503 (overloaded, Retry-After) "
                "because a worker's event-loop lag was above its threshold, by route.",
                "anything above zero: callers get 503s; add pods or workers.",
                width=8,
            ),
            [
                Query(
                    by(["route"], "sum", rate("glassbox_requests_shed_total", SERVICE)), "{{route}}"
                )
            ],
            "reqps",
            minimum=0,
        ),
        ts(
            Look(
                "Scrape targets up",
                "Per job, the pods Prometheus scrapes and how many of them answered the last "
                "scrape (up).",
                "'up' below 'targets' (a pod Prometheus cannot scrape), or no line at all (no "
                "target: every other panel is empty too).",
                width=8,
            ),
            [
                Query(by(["job"], "sum", select("up", SERVICE)), "up {{job}}"),
                Query(by(["job"], "count", select("up", SERVICE)), "targets {{job}}"),
            ],
            "short",
            minimum=0,
            overrides=[Override("targets .*", dashed("green"))],
        ),
    ]


def processes() -> list[Builder[models.Panel]]:
    return [
        ts(
            Look(
                "Workers",
                "Live gunicorn worker processes per pod.",
                "below WEB_CONCURRENCY, or dipping (workers dying; the annotations mark each "
                "restart).",
                width=8,
            ),
            [Query(by(["instance"], "sum", select("glassbox_workers", SERVICE)), "{{instance}}")],
            "short",
            minimum=0,
        ),
        ts(
            Look(
                "Worker restarts",
                "Worker processes started per pod in each interval, after the pod's first "
                "workers (restart churn).",
                "anything above zero: a worker was killed (memory, the heartbeat timeout) or "
                "crashed; its pod's log has the reason.",
                width=8,
            ),
            [
                Query(
                    by(["instance"], "sum", increase("glassbox_worker_starts_total", SERVICE)),
                    "{{instance}}",
                )
            ],
            "short",
            minimum=0,
        ),
        ts(
            Look(
                "Multiprocess metric files",
                "Files in each pod's multiprocess metrics directory; every worker ever started "
                "leaves its own.",
                "a steady climb: worker churn, and every scrape reads more files.",
                width=8,
            ),
            [
                Query(
                    by(["instance"], "max", select("glassbox_metrics_multiprocess_files", SERVICE)),
                    "{{instance}}",
                )
            ],
            "short",
            minimum=0,
        ),
        ts(
            Look(
                "Resident memory per process role",
                "Resident memory of each pod's processes, summed per role (the gunicorn "
                "master, its workers, or a single process).",
                "workers' memory climbing without levelling off (a leak), or near the "
                "container's memory limit (the kernel kills a worker).",
            ),
            [
                Query(
                    by(
                        ["instance", "role"],
                        "sum",
                        select("glassbox_process_resident_memory_bytes", SERVICE),
                    ),
                    "{{role}} {{instance}}",
                )
            ],
            "bytes",
            minimum=0,
        ),
        ts(
            Look(
                "CPU per process role",
                "CPU used by each pod's processes per role, in cores (1 = one core busy).",
                "workers at the pod's CPU limit (requests queue, latency rises), or the master "
                "busy (it should idle).",
            ),
            [
                Query(
                    by(
                        ["instance", "role"],
                        "sum",
                        rate("glassbox_process_cpu_seconds_total", SERVICE),
                    ),
                    "{{role}} {{instance}}",
                )
            ],
            "short",
            minimum=0,
        ),
    ]


def tracing() -> list[Builder[models.Panel]]:
    return [
        ts(
            Look(
                "Spans exported",
                "Sampled spans per second the collector accepted, per pod.",
                "zero while requests flow and tracing is on: no trace reaches the collector.",
            ),
            [
                Query(
                    by(["instance"], "sum", rate("glassbox_trace_spans_exported_total", SERVICE)),
                    "{{instance}}",
                )
            ],
            "ops",
            minimum=0,
        ),
        ts(
            Look(
                "Spans dropped by reason",
                "Sampled spans per second that never reached the collector: queue_full (the "
                "exporter cannot keep up), export_failed (the collector refused or is down), "
                "shutdown (not flushed in time).",
                "anything above zero for long: traces have holes; export_failed means the "
                "collector is down.",
            ),
            [
                Query(
                    by(["reason"], "sum", rate("glassbox_trace_spans_dropped_total", SERVICE)),
                    "{{reason}}",
                )
            ],
            "ops",
            minimum=0,
        ),
    ]
