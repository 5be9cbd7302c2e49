"""cleanpose-export: checkpoint -> ONNX (dynamic number of objects) plus a torch-vs-onnxruntime parity report.

Usage:
  cleanpose-export --weights weights/cleanpose_lite.pt --out model.onnx [--opset 17] [--seed S]
                   [--parity test/fixtures/nocs_mini] [--parity-frames 3] [--report model.parity.json]
  cleanpose-export --weights weights/cleanpose_lite.pt --out weights/cleanpose_lite.onnx --pair

--pair writes <weights stem>.manifest.json next to the checkpoint (engines/paired_onnx.py): the onnx
engine, given the checkpoint, then runs this file instead of exporting one (written only after the
parity check passes; needs --out next to the checkpoint and no --seed).

The confounder-queue samples (fixed indices stored in the checkpoint, or re-drawn from --seed)
are baked into the ONNX graph; the parity check runs the torch engine with the same samples.
Without --parity DIR the check uses test/fixtures/nocs_mini of a source checkout when it exists,
generated frames otherwise; --no-parity skips it.
Exit status: 0 ok, 1 parity outside the bounds, 2 unusable weights or config.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cleanpose_ros.core.errors import CleanPoseError

logger = logging.getLogger("cleanpose_ros.tools.export")

#: The data engineer's committed NOCS-format fixture frames, present in a source checkout.
CHECKOUT_FIXTURE = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "nocs_mini"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cleanpose-export", description=__doc__.splitlines()[0])
    p.add_argument("--weights", required=True, type=Path, help="checkpoint (.pt) to export")
    p.add_argument("--out", required=True, type=Path, help="ONNX file to write")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--seed", type=int, default=None,
                   help="re-draw the confounder-queue samples from this seed before baking them into the graph "
                        "(default: keep the samples stored in the checkpoint)")
    p.add_argument("--parity", type=Path, default=None, metavar="FIXTURE_DIR",
                   help="NOCS-format fixture directory for the parity check (default: test/fixtures/nocs_mini "
                        "of a source checkout when present, generated frames otherwise)")
    p.add_argument("--parity-frames", type=int, default=3, help="frames used by the parity check")
    p.add_argument("--no-parity", action="store_true", help="skip the parity check")
    p.add_argument("--report", type=Path, default=None,
                   help="parity report JSON (default: <out>.parity.json)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for both engines (0 = default)")
    p.add_argument("--pair", action="store_true",
                   help="pair the export with the checkpoint (<stem>.manifest.json) once parity has passed")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.pair and (args.seed is not None or args.no_parity):
        print("cleanpose-export: --pair needs the checkpoint's own confounder samples (no --seed) and the parity check",
              file=sys.stderr)
        return 2
    if args.pair and args.out.resolve().parent != args.weights.resolve().parent:
        print(f"cleanpose-export: --pair needs --out next to {args.weights} (the pair travels together)", file=sys.stderr)
        return 2
    try:
        from cleanpose_ros.engines.export import export_checkpoint

        out = export_checkpoint(args.weights, args.out, opset=args.opset, seed=args.seed)
        samples = "of the checkpoint" if args.seed is None else f"drawn from seed {args.seed}"
        print(f"wrote {out} (opset {args.opset}, confounder samples {samples} baked in)")
        if args.seed is None:  # the same network as the checkpoint: its calibrated confidence applies
            from cleanpose_ros.core.confidence import carry_to_export

            carried = carry_to_export(args.weights, out)
            if carried is not None:
                print(f"wrote {carried} (the checkpoint's confidence model, now also naming {out.name})")
        if args.no_parity:
            return 0
        from cleanpose_ros.core.pipeline import Pipeline
        from cleanpose_ros.engines.config import EngineConfig
        from cleanpose_ros.engines.onnx_engine import OnnxEngine
        from cleanpose_ros.verification.parity import compare_pipelines, parity_frames
        from cleanpose_ros.engines.torch_engine import TorchEngine

        torch_pipe = Pipeline(TorchEngine.from_checkpoint(
            args.weights, EngineConfig(kind="torch", inference_seed=args.seed, num_threads=args.threads)))
        onnx_pipe = Pipeline(OnnxEngine(out, EngineConfig(kind="onnx", num_threads=args.threads)))
        fixture = args.parity or (CHECKOUT_FIXTURE if CHECKOUT_FIXTURE.is_dir() else None)
        print(f"parity frames: {fixture or 'generated (verification/sample_frames.py)'}")
        report = compare_pipelines(torch_pipe, onnx_pipe, parity_frames(fixture, args.parity_frames))
        report_path = args.report or out.with_suffix(".parity.json")
        report_path.write_text(report.to_json())
        print(report.table())
        print(f"parity report: {report_path}")
        if not report.passed:
            return 1
        if args.pair:
            from cleanpose_ros.engines.factory import export_code_digest
            from cleanpose_ros.engines.paired_onnx import write_manifest

            print(f"wrote {write_manifest(args.weights, out, args.opset, export_code_digest())} "
                  f"(the onnx engine now runs {out.name} for {args.weights.name})")
        return 0
    except (CleanPoseError, FileNotFoundError) as e:  # unusable weights / config / parity folder
        print(f"cleanpose-export: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
