"""cleanpose-study-report: tables and plots of the ablation and debiasing studies (docs/ablation.md).

  cleanpose-study-report \\
      --ablation "AG-Pose=runs/studies/ablation_agpose/eval" --ablation "+causal=runs/studies/ablation_causal/eval" \\
      --debias "AG-Pose=runs/studies/debias_agpose/eval" --debias "CleanPose=runs/studies/debias_cleanpose/eval" \\
      --yaw-range -45 45 --out runs/studies/report

Each folder is a `cleanpose-evaluate` output (metrics.json, predictions.jsonl). Writes OUT/report.md,
OUT/report.json, OUT/ablation.png and OUT/debias_yaw.png, and prints the tables.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..core.types import YAW_OBSERVABLE_CATEGORIES
from ..evaluation.predictions import read_predictions
from ..evaluation.studies import (ABLATION_AP_KEYS, ABLATION_ERROR_KEYS, YAW_BINS, YawBias, debias_table,
                                  YawPairs, load_ablation_rows, orientation_row, yaw_pairs_by_model)



def _named_folders(items: Sequence[str] | None, flag: str) -> dict[str, Path]:
    named: dict[str, Path] = {}
    for item in items or ():
        if "=" not in item:
            raise SystemExit(f"error: {flag} expects NAME=FOLDER, got {item!r}")
        name, folder = item.split("=", 1)
        named[name] = Path(folder)
    return named


def markdown_table(rows: Mapping[str, Mapping[str, float]]) -> str:
    """One row per name, one column per key of the first row, numbers to one decimal."""
    keys = list(next(iter(rows.values())))
    lines = ["| | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{row[k]:.1f}" for k in keys) + " |" for name, row in rows.items()]
    return "\n".join(lines)


def ablation_markdown(rows: Mapping[str, Mapping[str, float]]) -> str:
    head = ["variant", *(f"{k} AP" for k in ABLATION_AP_KEYS), "rot (deg)", "trans (cm)", "size (cm)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        cells = [f"{row[k]:.1f}" for k in ABLATION_AP_KEYS] + [f"{row[k]:.2f}" for k in ABLATION_ERROR_KEYS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def debias_markdown(table: Mapping[str, Mapping[str, YawBias]], window: tuple[float, float]) -> str:
    head = ["model", "class", "pairs", f"GT in [{window[0]:g}, {window[1]:g}]", "pred in window", "bias",
            "hist. TV", "med. yaw err (deg)", "inside window", "outside window"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, per_class in table.items():
        for name, b in per_class.items():
            if b.count == 0:
                lines.append(f"| {model} | {name} | 0 |" + " - |" * (len(head) - 3))
                continue
            lines.append(f"| {model} | {name} | {b.count} | {b.in_window_gt:.2f} | {b.in_window_pred:.2f} | "
                         f"{b.bias:+.2f} | {b.histogram_tv:.2f} | {b.error_all_deg:.1f} | "
                         f"{b.error_inside_deg:.1f} | {b.error_outside_deg:.1f} (n={b.count_outside}) |")
    return "\n".join(lines)


def plot_ablation(rows: Mapping[str, Mapping[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.8 / max(len(rows), 1)
    x = np.arange(len(ABLATION_AP_KEYS))
    for i, (name, row) in enumerate(rows.items()):
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, [row[k] for k in ABLATION_AP_KEYS], width, label=name)
    ax.set_xticks(x, ABLATION_AP_KEYS)
    ax.set_ylabel("mAP (%)")
    ax.set_title("Ablation at equal training budget (held-out generated split, corrected IoU)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_debias(pairs: YawPairs, window: tuple[float, float],
                path: Path) -> None:
    """Top row: yaw histograms (ground truth vs each model's predictions) per class, training window
    shaded; bottom row: predicted vs true yaw (an unbiased model follows the diagonal)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(next(iter(pairs.values())).keys())
    fig, axes = plt.subplots(2, len(classes), figsize=(4.2 * len(classes), 7.2), squeeze=False)
    colours = ["tab:red", "tab:blue", "tab:green", "tab:purple"]
    for c, name in enumerate(classes):
        top, bottom = axes[0, c], axes[1, c]
        for ax in (top, bottom):
            ax.axvspan(window[0], window[1], color="gold", alpha=0.25, lw=0)
        gt_any = next(iter(pairs.values()))[name][0]
        top.hist(gt_any, YAW_BINS, color="0.7", label="ground truth (test)")
        for colour, (model, per_class) in zip(colours, pairs.items()):
            gt, pred = per_class[name]
            top.hist(pred, YAW_BINS, histtype="step", lw=2, color=colour, label=f"{model} prediction")
            bottom.scatter(gt, pred, s=9, alpha=0.6, color=colour, label=model)
        bottom.axhspan(window[0], window[1], color="gold", alpha=0.25, lw=0)
        bottom.plot([-180, 180], [-180, 180], color="0.4", lw=0.8, ls="--")
        top.set_title(name)
        top.set_xlabel("yaw seen from the camera (deg)")
        top.set_ylabel("instances")
        bottom.set_xlabel("true yaw (deg)")
        bottom.set_ylabel("predicted yaw (deg)")
        bottom.set_xlim(-180, 180)
        bottom.set_ylim(-180, 180)
        if c == 0:
            top.legend(fontsize=7)
            bottom.legend(fontsize=7)
    fig.suptitle(f"Yaw-biased training (window [{window[0]:g}, {window[1]:g}] deg shaded), uniform-yaw test")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Tables and plots of the ablation and debiasing studies.")
    parser.add_argument("--ablation", action="append", help="NAME=EVAL_FOLDER of one ablation variant (repeatable)")
    parser.add_argument("--debias", action="append", help="NAME=EVAL_FOLDER of one model of the debiasing study")
    parser.add_argument("--orientation", action="append",
                        help="NAME=EVAL_FOLDER: per-class 10deg5cm and median rotation error (repeatable)")
    parser.add_argument("--yaw-range", nargs=2, type=float, default=(-45.0, 45.0), metavar=("LO", "HI"),
                        help="the training split's yaw window in degrees (default -45 45)")
    parser.add_argument("--classes", nargs="+", default=list(YAW_OBSERVABLE_CATEGORIES), help="classes of the debiasing study")
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    ablation = _named_folders(args.ablation, "--ablation")
    debias = _named_folders(args.debias, "--debias")
    orientation = _named_folders(args.orientation, "--orientation")
    if not ablation and not debias and not orientation:
        parser.error("give --ablation, --debias and/or --orientation folders")
    window = (float(args.yaw_range[0]), float(args.yaw_range[1]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    sections: list[str] = []
    try:
        if ablation:
            rows = load_ablation_rows(ablation)
            report["ablation"] = rows
            sections.append("## Ablation (mean over classes)\n\n" + ablation_markdown(rows))
            plot_ablation(rows, out / "ablation.png")
        if orientation:
            classes = ("camera", "laptop", "mug", "bottle", "bowl", "can")
            orows = {name: orientation_row(json.loads((folder / "metrics.json").read_text()), classes)
                     for name, folder in orientation.items()}
            report["orientation"] = orows
            sections.append("## Orientation per class (10deg5cm AP %, median rotation error deg)\n\n"
                            + markdown_table(orows))
        if debias:
            loaded = {name: read_predictions(folder / "predictions.jsonl") for name, folder in debias.items()}
            categories = next(iter(loaded.values()))[0]["categories"]
            unknown = [c for c in args.classes if c not in categories]
            if unknown:
                raise ValueError(f"classes {unknown} are not among the evaluated categories {categories}")
            pairs = yaw_pairs_by_model({name: recs for name, (_, recs) in loaded.items()}, categories, args.classes)
            table = debias_table(pairs, window)
            report["debias"] = {"window_deg": window,
                                "models": {m: {c: asdict(b) for c, b in t.items()} for m, t in table.items()}}
            sections.append("## Debiasing (yaw-biased training, uniform-yaw test)\n\n" + debias_markdown(table, window))
            plot_debias(pairs, window, out / "debias_yaw.png")
    except (OSError, KeyError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = "\n\n".join(sections) + "\n"
    (out / "report.md").write_text(text)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(text)
    print(f"wrote {out}/report.md, report.json and the plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
