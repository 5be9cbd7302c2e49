"""NOCS-protocol evaluation of the pose pipeline on a NOCS-format folder, or of a predictions file.

Run the node's pipeline (resumable; frames already in OUT/predictions.jsonl are skipped):
  cleanpose-evaluate --data DATA --split test [--weights W.pt|W.onnx] [--engine torch|onnx|triton [--triton-url H:P]]
                     [--params config/cleanpose.yaml] [--segmentation DIR_OF_results_pkl] --out OUT
Only compute the metrics of an existing predictions file (staged evaluation):
  cleanpose-evaluate --predictions OUT/predictions.jsonl --out OUT2
Writes OUT/metrics.json, OUT/metrics.txt and OUT/ap_vs_{iou,rotation,translation}.png and prints
the table. The logic lives in cleanpose_ros.evaluation.runner; see docs/evaluation.md.
Exit status: 0 ok, 2 unusable arguments, weights, config or data folder, or (--engine triton) a server that
stopped answering: the frames done so far stay in the predictions file, a rerun resumes after them.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cleanpose_ros.core.config import POSE_SOURCES
from cleanpose_ros.core.errors import CleanPoseError
from cleanpose_ros.metrics.average_precision import TIE_ORDERS
from cleanpose_ros.ros.params import add_triton_arguments
from cleanpose_ros.evaluation.runner import (PREDICTIONS_FILENAME, evaluate_dataset, evaluate_predictions_file,
                                             nocs_samples)

if TYPE_CHECKING:
    from cleanpose_ros.ros.params import NodeConfig

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cleanpose-evaluate", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="NOCS-format root (the folder holding real/, camera/, gts/, ...)")
    src.add_argument("--predictions", type=Path, help="only evaluate this predictions file (no network run)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--source", default="real", help="tree under --data: real (REAL275-style) or camera")
    p.add_argument("--split", default="test", help="split folder / list name (default: test)")
    p.add_argument("--weights", type=Path,
                   help="checkpoint (.pt) or exported network (.onnx); default: the node's (shipped weights)")
    p.add_argument("--engine", choices=("torch", "onnx", "triton"), help="inference engine (default: the node's, onnx)")
    p.add_argument("--device", help="cpu or cuda[:N] (default: the node's, cpu)")
    p.add_argument("--segmentation", type=Path,
                   help="folder of segmentation results_*.pkl (default: ground-truth masks)")
    p.add_argument("--params", type=Path,
                   help="the node's ROS 2 params file (e.g. config/cleanpose.yaml): its inference and filter "
                        "settings are used (default: the node's defaults)")
    p.add_argument("--seed", type=int, help="seed of the point sampling (default: the node's, 0)")
    p.add_argument("--pose-source", choices=POSE_SOURCES,
                   help="rotation from the pose head (direct), the keypoint NOCS similarity fit (nocs_fit) or their "
                        "mean (fused); default: the node's (fused)")
    p.add_argument("--confidence",
                   help="confidence model: auto (the weights' <stem>.confidence.json when present; the node's default), "
                        "a file, or none (scores are then the segmenter's; with ground-truth masks all 1.0)")
    p.add_argument("--tie-order", choices=TIE_ORDERS, default="expected",
                   help="tied scores in the AP: expected over their orders (default), the NOCS reference's "
                        "reversed argsort (reference, for published numbers), or file order (input)")
    p.add_argument("--all-frames", action="store_true", help="use <split>_list_all.txt instead of the valid list")
    p.add_argument("--limit", type=int, default=0, help="evaluate only the first N frames (0 = all)")
    p.add_argument("--no-resume", action="store_true", help="start the predictions file afresh")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG curves")
    p.add_argument("--threads", type=int, help="CPU threads for inference (default: the node's, library default)")
    add_triton_arguments(p)
    return p


def _path_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the paths given, checked before anything is written (no partial outputs)."""
    folders = {"--data": args.data, "--segmentation": args.segmentation}
    files = {"--weights": args.weights, "--params": args.params}
    for flag, path in folders.items():
        if path is not None and not path.is_dir():
            kind = "a file" if path.is_file() else "missing"
            return f"{flag} {path} must be a folder ({kind}; unpack an archive first)"
    for flag, path in files.items():
        if path is not None and not path.is_file():
            return f"{flag} {path} must be a file ({'a folder' if path.is_dir() else 'missing'})"
    if args.out.exists() and not args.out.is_dir():
        return f"--out {args.out} exists and is not a folder"
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    problem = _path_problem(args)
    if problem:
        print(f"cleanpose-evaluate: {problem}", file=sys.stderr)
        return 2
    if args.predictions is not None:
        if not args.predictions.is_file():
            print(f"cleanpose-evaluate: no such predictions file: {args.predictions}", file=sys.stderr)
            return 2
        metrics = evaluate_predictions_file(args.predictions, args.out, plots=not args.no_plots,
                                            tie_order=args.tie_order)
    else:
        try:
            metrics = _run_dataset(args)
        except (CleanPoseError, FileNotFoundError) as e:  # unusable weights, config or data folder
            print(f"cleanpose-evaluate: {e}", file=sys.stderr)
            return 2
    from cleanpose_ros.metrics.report import format_table

    print(format_table(metrics))
    print(f"written: {args.out / 'metrics.json'}, {args.out / 'metrics.txt'}"
          + ("" if args.no_plots else f", {args.out}/ap_vs_*.png"))
    return 0


def _node_config(args: argparse.Namespace) -> "NodeConfig":
    """The node's parameters (defaults or --params file) with the command-line inference overrides."""
    from cleanpose_ros.ros.params import tool_node_config, triton_arguments

    confidence = None if args.confidence is None else ("" if args.confidence == "none" else args.confidence)
    return tool_node_config(args.params, weights=str(args.weights) if args.weights else None, engine=args.engine,
                            device=args.device, num_threads=args.threads, seed=args.seed,
                            pose_source=args.pose_source, confidence=confidence, triton=triton_arguments(args))


def _run_dataset(args: argparse.Namespace) -> dict:
    from cleanpose_ros.data.nocs_reader import NocsReader
    from cleanpose_ros.evaluation.predictions import read_predictions
    from cleanpose_ros.ros.node_pipeline import build_pipeline, resolve_weights

    node_config = _node_config(args)
    # Exactly the node's pipeline: same weights handling, filters and preprocessing settings.
    pipeline = build_pipeline(node_config)
    # The dataset's class ids always refer to the NOCS six; ground truth of categories the model
    # does not know is dropped later (runner.frame_record_from_result).
    reader = NocsReader(args.data, source=args.source, split=args.split, valid_only=not args.all_frames)
    if args.limit > 0:
        reader.rels = reader.rels[: args.limit]
    pred_path = args.out / PREDICTIONS_FILENAME
    done: set[str] = set()
    if not args.no_resume and pred_path.is_file():
        done = {r.frame_id for r in read_predictions(pred_path)[1]}
    inf = node_config.inference
    meta = {"data": str(args.data), "source": args.source, "split": args.split,
            "weights": str(resolve_weights(inf.weights)), "engine": inf.engine, "device": inf.device,
            "pose_source": inf.pose_source, "confidence": "calibrated" if pipeline.confidence_model is not None else "none",
            "params": str(args.params) if args.params else "node defaults",
            "instances": str(args.segmentation) if args.segmentation else "ground-truth masks"}
    samples = nocs_samples(reader, args.segmentation, skip=done)
    return evaluate_dataset(pipeline, samples, args.out, categories=pipeline.config.categories, meta=meta,
                            resume=not args.no_resume, total=len([r for r in reader.rels if r not in done]),
                            plots=not args.no_plots, tie_order=args.tie_order)


if __name__ == "__main__":
    sys.exit(main())
