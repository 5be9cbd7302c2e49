"""cleanpose-replay: run the node's pipeline over a rosbag2 (no ROS install needed).

Example:
  cleanpose-replay --bag bags/gen_test --weights weights/cleanpose_lite.pt --out runs/replay [--engine onnx|torch|triton]
                   [--triton-url 127.0.0.1:8001] [--triton-model cleanpose_lite] [--triton-timeout 2]
                   [--topics color=/camera/color/image_raw depth=/camera/aligned_depth/image_raw ...]
                   [--params config/cleanpose.yaml]
Writes OUT/bag (the inputs + /pose_estimation/detections, /pose_estimation/markers, /tf; open it
in RViz or Foxglove), OUT/predictions.jsonl (the cleanpose-evaluate file) and, when the bag has
ground truth, OUT/metrics.{json,txt} + plots, and prints the NOCS table and the real-time factor.
Streams for --topics: color, depth, camera_info, mask, detections, ground_truth, annotations,
poses, markers, tf. Details: docs/rosbag.md.
Exit status: 0 ok, 2 unusable bag (the message names what is missing), weights or arguments.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..core.errors import CleanPoseError

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cleanpose-replay", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--bag", type=Path, required=True, help="rosbag2 folder (or .mcap / .db3 file's folder)")
    p.add_argument("--weights", type=Path, help="checkpoint (.pt) or exported network (.onnx); "
                   "default: inference.weights of --params, else the shipped lite weights")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--engine", choices=("torch", "onnx", "triton"), help="inference engine (default: onnx or --params)")
    p.add_argument("--device", help="cpu or cuda[:N] (default: cpu or --params)")
    p.add_argument("--params", type=Path, help="the node's ROS parameters file (default: the node's defaults)")
    p.add_argument("--topics", nargs="+", default=[], metavar="STREAM=/TOPIC", help="topic names in the bag")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="storage of the output bag")
    p.add_argument("--overwrite", action="store_true", help="replace OUT/bag of an earlier replay")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG curves")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = the node's inference.num_threads)")
    p.add_argument("--seed", type=int, help="seed of the point sampling (default: the node's inference.seed)")
    from ..ros.params import add_triton_arguments

    add_triton_arguments(p)
    return p


def _node_config(args: argparse.Namespace):  # -> NodeConfig
    from ..ros.params import tool_node_config, triton_arguments

    return tool_node_config(args.params, weights=str(args.weights) if args.weights else None, engine=args.engine,
                            device=args.device, num_threads=args.threads or None, seed=args.seed,
                            triton=triton_arguments(args))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..bags.reader import SyncSettings
    from ..bags.replay import OutputSettings, replay_bag
    from ..bags.topics import BagTopics
    from ..metrics.report import format_table
    from ..ros.node_pipeline import build_pipeline
    from ..interop.output_spec import MarkerStyle

    if args.bag.is_file():  # checked before the weights load and before anything is written
        print(f"cleanpose-replay: --bag {args.bag} must be a rosbag2 folder, not a file (unpack an archive first)",
              file=sys.stderr)
        return 2
    try:
        topics = BagTopics.with_overrides(args.topics)
        config = _node_config(args)
        pipeline = build_pipeline(config)
        out = config.output
        summary = replay_bag(
            args.bag, pipeline, args.out, topics=topics,
            sync=SyncSettings(slop_ms=config.sync.slop_ms, queue_size=config.sync.queue_size,
                              use_detections=config.use_detections),
            output=OutputSettings(frame_id=out.frame_id, tf_prefix=out.tf_prefix, publish_tf=out.publish_tf,
                                  publish_markers=out.publish_markers,
                                  marker_style=MarkerStyle(line_width_m=out.marker_line_width_m,
                                                           text_height_m=out.marker_text_height_m)),
            storage=args.storage, plots=not args.no_plots, overwrite=args.overwrite,
            meta={"weights": config.inference.weights or "shipped", "engine": config.inference.engine,
                  "device": config.inference.device})
    except (CleanPoseError, FileNotFoundError) as e:
        print(f"cleanpose-replay: {e}", file=sys.stderr)
        return 2
    if summary.metrics is not None:
        print(format_table(summary.metrics))
    else:
        print("no ground truth in the bag: predictions only, no metrics")
    refused = ", ".join(f"{k} {v}" for k, v in sorted(summary.rejected.items())) or "none"
    print(f"{summary.frames} frames ({summary.frames_refused} refused), {summary.poses} poses; refusals: {refused}")
    print(f"processing {summary.processing_s:.2f} s for {summary.bag_duration_s:.2f} s of bag: "
          f"real-time factor {summary.realtime_factor:.2f}")
    print(f"written: {summary.output_bag}, {summary.predictions}"
          + (f", {args.out / 'metrics.json'}, {args.out / 'metrics.txt'}" if summary.metrics is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
