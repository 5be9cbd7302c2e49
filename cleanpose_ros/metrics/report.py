"""Presentation of an evaluator result: a text table, a JSON file and AP-versus-threshold plots.

Matplotlib is imported only inside plot_curves (Agg backend, no display needed).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

from .evaluator import IOU_METRICS, POSE_METRICS


def _fmt(value: float, width: int, digits: int = 1) -> str:
    return f"{'-':>{width}}" if value is None or math.isnan(value) else f"{value:>{width}.{digits}f}"


def format_table(metrics: Mapping[str, Any]) -> str:
    """Per-class and mean table: IoU APs of every variant (labelled), pose APs and mean errors
    of the primary variant, ground-truth / prediction counts. AP in %, '-' = no ground truth."""
    primary = metrics["primary_iou_variant"]
    variants = list(metrics["variants"])
    iou_cols = [(v, m) for v in variants for m in IOU_METRICS]
    head = ["class".ljust(8)]
    head += [f"{m}{'' if v == 'corrected' else '(L)'}".rjust(9) for v, m in iou_cols]
    head += [m.rjust(9) for m in POSE_METRICS]
    head += ["rot(deg)".rjust(9), "tra(cm)".rjust(9), "size(cm)".rjust(9), "nGT".rjust(6), "nPred".rjust(6)]
    lines = [" ".join(head)]
    names = list(metrics["categories"]) + ["mean"]
    pv = metrics["variants"][primary]
    for name in names:
        row = [name.ljust(8)]
        row += [_fmt(metrics["variants"][v]["summary"][m][name], 9) for v, m in iou_cols]
        row += [_fmt(pv["summary"][m][name], 9) for m in POSE_METRICS]
        err = pv["errors"][name]
        row += [_fmt(err["rotation_deg"], 9, 2), _fmt(err["translation_cm"], 9, 2), _fmt(err["size_cm"], 9, 2)]
        if name == "mean":
            row += [str(sum(metrics["num_gt"].values())).rjust(6), str(sum(metrics["num_pred"].values())).rjust(6)]
        else:
            row += [str(metrics["num_gt"][name]).rjust(6), str(metrics["num_pred"][name]).rjust(6)]
        lines.append(" ".join(row))
    notes = [f"{metrics['num_frames']} frames; AP in %; IoU columns without a mark use the corrected (CATRE) "
             f"3D IoU, (L) = legacy NOCS IoU with its axis bug; pose APs and errors use the {primary} IoU "
             f"for the IoU-{metrics['thresholds']['iou_for_pose']} matching."]
    if metrics.get("ap_tie_rule"):
        notes.append(f"tied scores: {metrics['ap_tie_rule']}")
    if metrics["classes_without_gt"]:
        notes.append(f"classes without ground truth (NaN, left out of the mean): {metrics['classes_without_gt']}")
    if metrics.get("num_rejected_instances"):
        notes.append(f"instances refused by the pipeline: {metrics['num_rejected_instances']}")
    if metrics.get("num_non_finite_predictions"):
        notes.append(f"predictions with a non-finite pose (never matched): {metrics['num_non_finite_predictions']}")
    conf = metrics.get("confidence")
    if conf:
        per = ", ".join(f"{k} {v['auroc']:.2f}" for k, v in conf["per_category"].items())
        notes.append(f"scores include the system's confidence: AUROC for within 10deg5cm {conf['auroc']:.3f} over "
                     f"{conf['objects']} objects ({per}), ECE {conf['ece']:.3f}; 10deg5cm of the most confident "
                     + ", ".join(f"{100 * float(q):.0f} %: {100 * v:.1f}" for q, v in conf["top_fraction_within"].items()))
    nan_pairs = pv["errors"]["mean"]["num_nan_errors"]
    if nan_pairs:
        notes.append(f"matched pairs with a NaN error (left out of the mean errors): {nan_pairs}")
    return "\n".join(lines + notes)


def _json_safe(obj: Any) -> Any:
    """NaN / inf -> None (strict JSON)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(metrics: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Strict JSON (NaN written as null), indented."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_safe(metrics), indent=1, allow_nan=False) + "\n")
    return path


def plot_curves(metrics: Mapping[str, Any], out_dir: str | os.PathLike) -> list[Path]:
    """ap_vs_iou.png (every variant), ap_vs_rotation.png and ap_vs_translation.png (primary
    variant): one line per class plus the class mean. Returns the written paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    primary = metrics["primary_iou_variant"]
    names = list(metrics["categories"]) + ["mean"]
    written = []

    def _draw(ax: Any, curve: Mapping[str, Any], title: str, xlabel: str) -> None:
        for name in names:
            ys = [float("nan") if y is None else y for y in curve["ap"][name]]
            if all(math.isnan(y) for y in ys):
                continue
            ax.plot(curve["thresholds"], ys, label=name, linewidth=2.5 if name == "mean" else 1.2,
                    color="black" if name == "mean" else None)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("AP (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)

    variants = list(metrics["variants"])
    fig, axes = plt.subplots(1, len(variants), figsize=(5.5 * len(variants), 4.2), squeeze=False)
    for ax, v in zip(axes[0], variants):
        label = "corrected (CATRE)" if v == "corrected" else "legacy NOCS (axis bug)"
        _draw(ax, metrics["variants"][v]["curves"]["iou"], f"AP vs 3D IoU, {label}", "3D IoU threshold")
    written.append(save_figure(fig, out_dir / "ap_vs_iou.png", plt))

    curves = metrics["variants"][primary]["curves"]
    for key, title, xlabel in (("rotation", "AP vs rotation error (no translation limit)", "rotation threshold (deg)"),
                               ("translation", "AP vs translation error (no rotation limit)",
                                "translation threshold (cm)")):
        fig, ax = plt.subplots(figsize=(5.5, 4.2))
        _draw(ax, curves[key], title, xlabel)
        written.append(save_figure(fig, out_dir / f"ap_vs_{key}.png", plt))
    return written


def save_figure(fig: Any, path: Path, plt: Any) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
