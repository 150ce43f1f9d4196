"""``make dashboards-preview``: a picture of each dashboard from a running Prometheus, for a reader
without Grafana. Every panel's queries go to Prometheus' range API (variables "All", Grafana's
macros as the step gives them) and are drawn where the dashboard places the panel, one PNG per
dashboard: a preview of the same queries, never a replacement for Grafana.

Faithful: time series as lines with the panel's title, unit and threshold lines; stats as their
last value in the unit. Approximated, and labelled so in the panel's title: heatmaps (the bucket
series as a colour map over time), bar charts (the last values as bars) and state timelines (the
states as lines).

    python -m grafana.preview --prometheus http://127.0.0.1:9090 --range 15m --out grafana/previews
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from grafana.expand import substitute

HERE = Path(__file__).resolve().parent
DASHBOARDS = sorted((HERE / "dashboards").glob("*.json"))
Series = tuple[dict[str, str], list[float], list[float]]  # labels, times, values
Query = Callable[[str, float, float, float], list[Series]]
GRID_ROW_INCHES = 0.32  # one unit of a panel's gridPos height
WIDTH_INCHES = 24.0
SCALE = {"percentunit": (100.0, "%")}
APPROXIMATED = {"heatmap", "barchart", "state-timeline"}


def range_query(prometheus: str) -> Query:
    """The range API of ``prometheus``: (expr, start, end, step) -> series."""

    def query(expr: str, start: float, end: float, step: float) -> list[Series]:
        params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
        with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=30) as r:
            body = json.load(r)
        if body["status"] != "success":
            raise RuntimeError(f"{expr}: {body}")
        return [
            (s["metric"], [float(t) for t, _ in s["values"]], [float(v) for _, v in s["values"]])
            for s in body["data"]["result"]
        ]

    return query


def legend(fmt: str, labels: dict[str, str]) -> str:
    if not fmt or fmt == "__auto":
        return ",".join(f"{k}={v}" for k, v in labels.items() if k != "__name__") or "value"
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)


def fmt_value(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return str(value)
    if unit == "percentunit":
        return f"{value * 100:.3g} %"
    if unit == "s":
        return f"{value * 1000:.3g} ms" if abs(value) < 1 else f"{value / 86400:.1f} days" if (
            abs(value) >= 86400) else f"{value:.3g} s"  # fmt: skip
    if unit == "bytes":
        return f"{value / 2**20:.1f} MiB"
    return f"{value:.3g}" + ("" if unit in ("short", "", "none") else f" {unit}")


def thresholds(panel: dict[str, Any]) -> list[tuple[float, str]]:
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    steps = defaults.get("thresholds", {}).get("steps", [])
    return [(float(s["value"]), s["color"]) for s in steps if s.get("value") is not None]


def draw_timeseries(ax: Axes, panel: dict[str, Any], series: list[tuple[str, Series]]) -> None:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    factor, label = SCALE.get(unit, (1.0, unit))
    start = min((s[1][0] for _, s in series if s[1]), default=0.0)
    for name, (_, times, values) in series:
        # matplotlib leaves a label starting with "_" out of the legend: "_prediction" is one.
        shown = f" {name}" if name.startswith("_") else name
        ax.plot([(t - start) / 60 for t in times], [v * factor for v in values], lw=1, label=shown)
    style = panel.get("fieldConfig", {}).get("defaults", {}).get("custom", {})
    if style.get("thresholdsStyle", {}).get("mode", "off") != "off":
        for value, color in thresholds(panel):
            ax.axhline(value * factor, ls="--", lw=1, color=color)
    ax.set_ylabel(label, fontsize=7)
    ax.set_xlabel("minutes", fontsize=7)
    if any(name for name, _ in series):
        ax.legend(fontsize=5, loc="upper left", ncol=2, framealpha=0.5)


def draw_stat(ax: Axes, panel: dict[str, Any], series: list[tuple[str, Series]]) -> None:
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    ax.axis("off")
    shown = [(name, values[-1]) for name, (_, _, values) in series if values][:6]
    for i, (name, value) in enumerate(shown):
        y = 1 - (i + 0.5) / max(len(shown), 1)
        ax.text(0.5, y, fmt_value(value, unit), ha="center", va="center", fontsize=16,
                weight="bold", transform=ax.transAxes)  # fmt: skip
        ax.text(0.5, y - 0.45 / max(len(shown), 1), name, ha="center", va="center", fontsize=6,
                transform=ax.transAxes)  # fmt: skip


def draw_heatmap(ax: Axes, series: list[tuple[str, Series]]) -> None:
    """The bucket series (one per ``le``) as a colour map over time: an approximation."""
    rows = sorted(series, key=lambda s: float(s[1][0].get("le", "inf").replace("+Inf", "inf")))
    rows = [r for r in rows if r[1][2]]
    if not rows:
        return
    width = min(len(r[1][2]) for r in rows)
    ax.imshow([r[1][2][-width:] for r in rows], aspect="auto", origin="lower", cmap="viridis")
    ax.set_yticks(range(len(rows)), [r[1][0].get("le", r[0]) for r in rows], fontsize=5)
    ax.set_xlabel("steps", fontsize=7)


def draw_bars(ax: Axes, series: list[tuple[str, Series]]) -> None:
    names = [name for name, s in series if s[2]]
    ax.bar(range(len(names)), [s[2][-1] for _, s in series if s[2]])
    ax.set_xticks(range(len(names)), names, fontsize=5, rotation=60, ha="right")


def render(board: dict[str, Any], query: Query, range_s: float, step_s: float, out: Path) -> None:
    names = {v["name"] for v in board.get("templating", {}).get("list", [])}
    macros = {"__rate_interval": f"{int(max(4 * step_s, 60))}s",
              "__interval": f"{int(step_s)}s", "__range": f"{int(range_s)}s"}  # fmt: skip
    end = time.time()
    start = end - range_s
    panels = [p for top in board["panels"] for p in (top, *top.get("panels", []))]
    height = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    fig = plt.figure(figsize=(WIDTH_INCHES, height * GRID_ROW_INCHES + 0.6))
    fig.suptitle(f"{board['title']} — a preview from Prometheus' range API, not Grafana",
                 fontsize=14)  # fmt: skip
    top_margin = 0.6 / (height * GRID_ROW_INCHES + 0.6)
    for panel in panels:
        pos = panel["gridPos"]
        x, w = pos["x"] / 24, pos["w"] / 24
        y = (1 - top_margin) * (1 - (pos["y"] + pos["h"]) / height)
        h = (1 - top_margin) * pos["h"] / height
        if panel["type"] == "row":
            fig.text(0.005, y + h / 2, panel["title"], fontsize=11, weight="bold", va="center")
            continue
        ax = fig.add_axes((x + 0.025 * w, y + 0.22 * h, 0.93 * w, 0.62 * h))
        ax.tick_params(labelsize=6)
        series = []
        for target in panel.get("targets", []):
            expr = substitute(target["expr"], names, macros=macros)
            for s in query(expr, start, end, step_s):
                series.append((legend(target.get("legendFormat", ""), s[0]), s))
        kind = panel["type"]
        title = panel["title"]
        if kind in APPROXIMATED:
            title += f"  [approximated: a {kind} panel]"
        if kind == "stat":
            draw_stat(ax, panel, series)
        elif kind == "heatmap":
            draw_heatmap(ax, series)
        elif kind == "barchart":
            draw_bars(ax, series)
        else:
            draw_timeseries(ax, panel, series)
        if not series:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", color="grey",
                    transform=ax.transAxes)  # fmt: skip
        ax.set_title(title, fontsize=8, loc="left")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=70)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--prometheus", default="http://127.0.0.1:9090")
    parser.add_argument("--range", default="15m", help="how far back (s, m or h)")
    parser.add_argument("--step", type=float, default=15.0, help="seconds between points")
    parser.add_argument("--out", type=Path, default=HERE / "previews")
    args = parser.parse_args(argv)
    unit = {"s": 1, "m": 60, "h": 3600}[args.range[-1]]
    range_s = float(args.range[:-1]) * unit
    for path in DASHBOARDS:
        out = args.out / path.with_suffix(".png").name
        render(json.loads(path.read_text()), range_query(args.prometheus), range_s, args.step,
               out)  # fmt: skip
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
