"""Learning curves per class against object samples seen: 10deg5cm AP of evaluated checkpoints, and the
training-batch median rotation error of the direct head and of the NOCS-keypoint fit (health signal).

Inputs: a run's metrics.csv (trainer.MetricsLog) and any number of (object samples, metrics.json) of
evaluations (cleanpose-evaluate). `offset_samples` shifts a run that started from other weights so the
x axis counts every sample those weights saw.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from ..core.types import CATEGORIES


def read_health(metrics_csv: str | Path, offset_samples: float = 0.0) -> dict[str, dict[str, np.ndarray]]:
    """{"direct"|"fit": {category: (samples, median error) columns}} from a metrics.csv."""
    with Path(metrics_csv).open() as f:
        rows = list(csv.DictReader(f))
    out: dict[str, dict[str, np.ndarray]] = {"direct": {}, "fit": {}}
    for kind in out:
        for name in CATEGORIES:
            key = f"health/{kind}_rot_deg/{name}"
            pts = [(float(r["object_samples"]) + offset_samples, float(r[key]))
                   for r in rows if r.get(key) and r.get("object_samples")]
            if pts:
                out[kind][name] = np.asarray(pts)
    return out


def read_evaluation(metrics_json: str | Path, metric: str = "10deg5cm") -> dict[str, float]:
    data = json.loads(Path(metrics_json).read_text())
    summary = data["variants"][data["primary_iou_variant"]]["summary"][metric]
    return {k: (float("nan") if v is None else float(v)) for k, v in summary.items()}


def _rolling_median(values: np.ndarray, window: int) -> np.ndarray:
    from scipy.ndimage import median_filter

    return values if len(values) < window else median_filter(values, size=window, mode="nearest")


def plot_learning_curves(metrics_csv: str | Path, evaluations: Sequence[tuple[float, str | Path]], out_png: str | Path,
                         offset_samples: float = 0.0, title: str = "", smooth: int = 9) -> Path:
    """Write the figure (one panel of 10deg5cm per class when evaluations are given, then one panel of
    rotation error per class: direct head solid, NOCS fit dashed). Returns out_png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    health = read_health(metrics_csv, offset_samples)
    panels = 2 if evaluations else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.4), squeeze=False)
    colours = {name: f"C{i}" for i, name in enumerate(CATEGORIES)}
    if evaluations:
        ax = axes[0][0]
        evals = sorted((float(s), read_evaluation(p)) for s, p in evaluations)
        xs = [s for s, _ in evals]
        for name in (*CATEGORIES, "mean"):
            ys = [e.get(name, math.nan) for _, e in evals]
            ax.plot(xs, ys, marker="o", label=name, color="black" if name == "mean" else colours[name],
                    linewidth=2.5 if name == "mean" else 1.3)
        ax.set_xlabel("object samples seen")
        ax.set_ylabel("10deg5cm AP (%) on the held-out split")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[0][panels - 1]
    for name in CATEGORIES:
        for kind, style in (("direct", "-"), ("fit", "--")):
            series = health[kind].get(name)
            if series is None:
                continue
            ax.plot(series[:, 0], _rolling_median(series[:, 1], smooth), style, color=colours[name],
                    label=f"{name} ({'head' if kind == 'direct' else 'NOCS fit'})", linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("object samples seen")
    ax.set_ylabel("median rotation error on training batches (deg)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=6, ncol=2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
