"""cleanpose-make-bag: a NOCS-format folder (REAL275 or generated) -> a rosbag2 of the node's inputs.

Example:
  cleanpose-make-bag --data data/gen_test --split test --out bags/gen_test [--storage mcap|sqlite3]
                     [--rate 30] [--frames 50]
Topics (all stamped with the frame's stamp, start + i / rate): /color/image_raw (rgb8),
/depth/image_raw (16UC1 mm), /color/camera_info, /segmentation/mask (mono8/mono16 instance ids),
/segmentation/detections (Detection2DArray: id = mask id, class_id = category), and the ground
truth /ground_truth/detections (Detection3DArray) + /ground_truth/annotations (JSON, exact).
Details: docs/rosbag.md. Exit status: 0 ok, 2 unusable data folder, arguments or output.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..core.errors import CleanPoseError

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cleanpose-make-bag", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--data", type=Path, required=True, help="NOCS-format root (holds real/, camera/, gts/, ...)")
    p.add_argument("--source", default="real", help="tree under --data: real (REAL275-style) or camera")
    p.add_argument("--split", default="test", help="split folder / list name (default: test)")
    p.add_argument("--out", type=Path, required=True, help="bag folder to create (must not exist)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="rosbag2 storage (default mcap)")
    p.add_argument("--rate", type=float, default=30.0, help="frame rate of the stamps, Hz (default 30)")
    p.add_argument("--start", type=float, default=None,
                   help="stamp of the first frame, seconds since the epoch (default 1700000000)")
    p.add_argument("--frames", type=int, default=0, help="only the first N frames (0 = all)")
    p.add_argument("--all-frames", action="store_true", help="use <split>_list_all.txt instead of the valid list")
    p.add_argument("--segmentation", type=Path,
                   help="folder of segmentation results_*.pkl for the masks/detections (default: ground-truth masks)")
    p.add_argument("--frame-id", default="camera_color_optical_frame", help="header.frame_id of the camera messages")
    p.add_argument("--distro", choices=("kilted", "jazzy"), default="kilted", help="message definitions to store")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from ..bags.make_bag import DEFAULT_START_NS, make_bag
    from ..data.nocs_reader import NocsReader
    from ..evaluation.runner import nocs_samples

    try:
        reader = NocsReader(args.data, source=args.source, split=args.split, valid_only=not args.all_frames)
        if args.frames > 0:
            reader.rels = reader.rels[: args.frames]
        start_ns = DEFAULT_START_NS if args.start is None else int(round(args.start * 1e9))
        summary = make_bag(nocs_samples(reader, args.segmentation), args.out, storage=args.storage,
                           rate_hz=args.rate, start_ns=start_ns, frame_id=args.frame_id, total=len(reader.rels),
                           distro=args.distro)
    except (CleanPoseError, FileNotFoundError) as e:
        print(f"cleanpose-make-bag: {e}", file=sys.stderr)
        return 2
    print(f"wrote {summary.frames} frames ({summary.duration_s:.2f} s, depth {summary.depth_encoding}, "
          f"{summary.storage}) to {summary.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
