#!/usr/bin/env python3
"""Markdown tables of the model card (weights/README.md) from evaluation folders, so the card's numbers
are copied by a program, not by hand:

  .venv/bin/python scripts/model_card_tables.py accuracy runs/eval_lite            # the accuracy table
  .venv/bin/python scripts/model_card_tables.py sources DIRECT_DIR FIT_DIR FUSED_DIR  # per-class pose sources
  .venv/bin/python scripts/model_card_tables.py confidence runs/eval_lite                # the confidence table
  .venv/bin/python scripts/model_card_tables.py curve runs/lite_orient/evals SAMPLES_AT_STEP_0 [BASE_DIR]
                                                      # 10deg5cm / median rotation after each evaluated step

test/engines/test_model_card.py checks the accuracy table against a fresh evaluation.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

CATEGORIES = ("bottle", "bowl", "camera", "can", "laptop", "mug")
IOU = ("IoU25", "IoU50", "IoU75")
POSE = ("5deg2cm", "5deg5cm", "10deg2cm", "10deg5cm")


def _load(folder: str | Path) -> dict:
    return json.loads((Path(folder) / "metrics.json").read_text())


def accuracy(folder: str) -> str:
    m = _load(folder)
    c, leg = m["variants"]["corrected"], m["variants"]["legacy"]
    lines = ["| class | " + " | ".join([*IOU, "IoU50 (L)", *POSE, "rot (deg)", "trans (cm)", "size (cm)", "objects"]) + " |",
             "|" + "---|" * 13]
    for name in (*CATEGORIES, "mean"):
        aps = [c["summary"][k][name] for k in IOU] + [leg["summary"]["IoU50"][name]] + [c["summary"][k][name] for k in POSE]
        e = c["errors"][name]
        count = sum(m["num_gt"].values()) if name == "mean" else m["num_gt"][name]
        cells = [f"{v:.1f}" for v in aps] + [f"{e['rotation_deg']:.1f}", f"{e['translation_cm']:.2f}",
                                             f"{e['size_cm']:.2f}", str(count)]
        if name == "mean":
            cells = [f"**{x}**" if i < 8 and i != 3 else x for i, x in enumerate(cells)]
        lines.append(f"| {'**mean**' if name == 'mean' else name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(m: dict, name: str) -> str:
    c = m["variants"]["corrected"]
    return f"{c['summary']['10deg5cm'][name]:.1f} / {c['errors'][name]['median_rotation_deg']:.1f}"


def sources(direct: str, fit: str, fused: str) -> str:
    rows = {"direct (pose head)": _load(direct), "nocs_fit (keypoint NOCS fit)": _load(fit),
            "fused (mean of both)": _load(fused)}
    lines = ["| pose from | " + " | ".join(CATEGORIES) + " | mean 10deg5cm | mean 5deg2cm | mean trans (cm) | laptop trans (cm) |",
             "|" + "---|" * 11]
    for label, m in rows.items():
        s = m["variants"]["corrected"]["summary"]
        e = m["variants"]["corrected"]["errors"]
        lines.append(f"| {label} | " + " | ".join(_cell(m, n) for n in CATEGORIES)
                     + f" | {s['10deg5cm']['mean']:.1f} | {s['5deg2cm']['mean']:.1f} | {e['mean']['translation_cm']:.2f}"
                     + f" | {e['laptop']['translation_cm']:.2f} |")
    return "\n".join(lines)


def curve(evals: str, samples_at_zero: str, base: str | None = None, source: str = "direct") -> str:
    steps = sorted({int(m.group(1)) for p in Path(evals).glob(f"step_*_{source}")
                    if (m := re.fullmatch(rf"step_(\d+)_{source}", p.name)) and (p / "metrics.json").is_file()})
    lines = ["| after | object samples | " + " | ".join(("camera", "laptop", "mug", "bottle", "bowl", "can"))
             + " | mean 10deg5cm |", "|" + "---|" * 9]
    entries = ([("phase 3 (start)", 0, base)] if base else []) + [(f"phase 4, step {s}", s, f"{evals}/step_{s}_{source}")
                                                               for s in steps]
    for label, step, folder in entries:
        m = _load(folder)
        samples = int(samples_at_zero) + 24 * step
        lines.append(f"| {label} | {samples:,} | " + " | ".join(_cell(m, n) for n in ("camera", "laptop", "mug", "bottle",
                                                                                   "bowl", "can"))
                     + f" | {m['variants']['corrected']['summary']['10deg5cm']['mean']:.1f} |")
    return "\n".join(lines)


def confidence(folder: str) -> str:
    """The confidence the node publishes, on an evaluation folder run with it (metrics.json "confidence")."""
    c = _load(folder)["confidence"]
    def auroc(n: str) -> str:  # None: one outcome only (e.g. every can within 10deg5cm), no ranking to judge
        v = c["per_category"][n]["auroc"]
        return "-" if v is None else f"{v:.2f}"

    per = " | ".join(auroc(n) for n in CATEGORIES)
    top = " / ".join(f"{100 * v:.1f}" for v in c["top_fraction_within"].values())
    return ("| objects | within 10deg5cm | AUROC | " + " | ".join(f"AUROC {n}" for n in CATEGORIES)
            + " | ECE | 10deg5cm of the top 25 / 50 / 75 / 100 % |\n|" + "---|" * 11 + "\n"
            + f"| {c['objects']} | {100 * c['within_10deg5cm']:.1f} % | {c['auroc']:.3f} | {per} | {c['ece']:.3f} | {top} |")


if __name__ == "__main__":
    kind, *args = sys.argv[1:]
    print({"accuracy": accuracy, "sources": sources, "curve": curve, "confidence": confidence}[kind](*args))
