"""cleanpose-calibrate-confidence: fit the per-object confidence model of a weights file.

  cleanpose-calibrate-confidence --data data/gen_calib --split test --weights weights/cleanpose_lite.pt
      [--also-for weights/cleanpose_lite.onnx] [--out runs/calibrate_lite] [--model-out FILE]

Runs the node's pipeline (no confidence, ground-truth masks) over a generated split the weights
never saw, pairs every pose with its ground truth, and fits core/confidence.py's per-category
logistic regression of "within 10 deg / 5 cm" on the agreement features. Writes the model next to
the weights (<stem>.confidence.json, found there by the node and the tools) unless --model-out says
otherwise; the predictions (resumable) and the in-sample reliability / risk-coverage plots go to
--out. Judge the model on another split: `cleanpose-evaluate` on the held-out test split reports
its AUROC.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cleanpose-calibrate-confidence", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="NOCS-format root of the calibration split")
    p.add_argument("--split", default="test", help="split folder / list name (default: test)")
    p.add_argument("--source", default="real", help="tree under --data (default: real)")
    p.add_argument("--weights", type=Path, required=True, help="the .pt (or .onnx) weights to calibrate")
    p.add_argument("--also-for", type=Path, nargs="*", default=[],
                   help="other files of the same network (e.g. its .onnx export) the model may serve")
    p.add_argument("--out", type=Path, help="work folder (default: runs/calibrate_<weights stem>)")
    p.add_argument("--model-out", type=Path, help="model file (default: <weights folder>/<stem>.confidence.json)")
    p.add_argument("--l2", type=float, default=1.0, help="L2 penalty on the standardised weights (default 1)")
    p.add_argument("--params", type=Path, help="the node's params file (default: the node's defaults)")
    p.add_argument("--threads", type=int, help="CPU threads for inference")
    p.add_argument("--limit", type=int, default=0, help="use only the first N frames (0 = all)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from cleanpose_ros.core.confidence import ConfidenceModel, file_sha256, sidecar_path
    from cleanpose_ros.core.types import SYMMETRIC_CATEGORIES
    from cleanpose_ros.evaluation.predictions import read_predictions
    from cleanpose_ros.evaluation.runner import PREDICTIONS_FILENAME
    from cleanpose_ros.metrics.confidence import pair_by_instance_id, plot_confidence, summarise
    from cleanpose_ros.tools.evaluate import main as evaluate

    for path in [args.weights, *args.also_for]:
        if not path.is_file():
            print(f"cleanpose-calibrate-confidence: no such file: {path}", file=sys.stderr)
            return 2
    if not args.data.is_dir():
        print(f"cleanpose-calibrate-confidence: not a folder: {args.data}", file=sys.stderr)
        return 2
    out = args.out or Path("runs") / f"calibrate_{args.weights.stem}"
    command = ["--data", str(args.data), "--split", args.split, "--source", args.source, "--weights", str(args.weights),
               "--out", str(out), "--confidence", "none", "--no-plots",
               "--tie-order", "input"]  # its AP is not what calibration needs: skip the 1,000 tie permutations
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.params:
        command += ["--params", str(args.params)]
    if args.limit:
        command += ["--limit", str(args.limit)]
    rc = evaluate(command)
    if rc != 0:
        return rc
    header, records = read_predictions(out / PREDICTIONS_FILENAME)
    if header["meta"].get("weights") and Path(header["meta"]["weights"]).resolve() != args.weights.resolve():
        print(f"cleanpose-calibrate-confidence: {out / PREDICTIONS_FILENAME} holds predictions of "
              f"{header['meta']['weights']}; use another --out", file=sys.stderr)
        return 2
    pairs = pair_by_instance_id(records, header["categories"])
    if len(pairs) == 0 or pairs.features.shape[1] == 0:
        print("cleanpose-calibrate-confidence: no poses with agreement features (does the engine output keypoints, "
              "and does the split have ground-truth masks?)", file=sys.stderr)
        return 2
    digests = [file_sha256(p) for p in [args.weights, *args.also_for]]
    model = ConfidenceModel.fit(list(pairs.categories), pairs.features, pairs.within, l2=args.l2,
                                weights_sha256=digests, translation_errors=pairs.translation_vector,
                                rotation_errors=pairs.rotation_vector, symmetric=sorted(SYMMETRIC_CATEGORIES),
                                calibration={"data": str(args.data), "split": args.split, "objects": len(pairs),
                                             "weights": args.weights.name, "l2": args.l2,
                                             "pose_source": header["meta"].get("pose_source", "")})
    target = args.model_out or sidecar_path(args.weights)
    model.save(target)
    import numpy as np

    fitted = dataclasses.replace(pairs, confidences=np.array(
        [model.predict(c, f) for c, f in zip(pairs.categories, pairs.features)], np.float64))
    summary = summarise(fitted, header["categories"])
    (out / "calibration.json").write_text(json.dumps(summary, indent=1) + "\n")
    plot_confidence(fitted, out, title="(calibration split, in-sample)")
    per = ", ".join(f"{k} {v['auroc']:.2f}" for k, v in summary["per_category"].items())
    print(f"confidence model: {target} ({len(pairs)} objects, {summary['within_10deg5cm']:.1%} within 10deg5cm); "
          f"in-sample AUROC {summary['auroc']:.3f} ({per}), ECE {summary['ece']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
