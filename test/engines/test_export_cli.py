"""cleanpose-export end to end: ONNX + parity report (JSON and table), and exit codes."""
import json

from cleanpose_ros.engines.onnx_engine import OnnxEngine
from cleanpose_ros.tools.export import main


def test_export_cli_writes_onnx_and_a_passing_parity_report(lite_artefacts, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    assert main(["--weights", str(lite_artefacts.checkpoint), "--out", str(out), "--seed", "3",
                 "--parity-frames", "1", "--threads", "1"]) == 0
    report = json.loads((tmp_path / "model.parity.json").read_text())
    assert report["passed"] is True and report["num_instances"] >= 3
    assert report["worst"]["rotation_deg"] <= 0.1 and report["worst"]["translation_mm"] <= 0.1
    printed = capsys.readouterr().out
    assert "| **worst** |" in printed and "PASS" in printed
    assert OnnxEngine(out).info.seed == 3


def test_export_cli_refuses_a_corrupt_checkpoint(lite_artefacts, tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(lite_artefacts.checkpoint.read_bytes()[:50000])
    assert main(["--weights", str(bad), "--out", str(tmp_path / "x.onnx")]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_export_cli_pairs_the_onnx_file_with_its_checkpoint(lite_artefacts, tmp_path, monkeypatch, caplog):
    """--pair: the onnx engine given the checkpoint runs the paired file (nothing exported into the cache);
    a changed checkpoint no longer matches the manifest and is exported instead, with a warning."""
    import logging
    import shutil

    from cleanpose_ros.engines.config import EngineConfig
    from cleanpose_ros.engines.factory import build_engine
    from cleanpose_ros.engines.paired_onnx import manifest_path, read_manifest

    cache = tmp_path / "cache"
    monkeypatch.setenv("CLEANPOSE_CACHE_DIR", str(cache))
    checkpoint = tmp_path / "lite.pt"
    shutil.copy(lite_artefacts.checkpoint, checkpoint)
    paired = tmp_path / "lite.onnx"
    assert main(["--weights", str(checkpoint), "--out", str(tmp_path / "elsewhere" / "lite.onnx"), "--pair"]) == 2
    assert main(["--weights", str(checkpoint), "--out", str(paired), "--pair", "--seed", "3"]) == 2
    assert not manifest_path(checkpoint).exists()
    assert main(["--weights", str(checkpoint), "--out", str(paired), "--pair", "--parity-frames", "1",
                 "--threads", "1"]) == 0
    manifest = read_manifest(checkpoint)
    assert manifest is not None and (manifest.checkpoint, manifest.onnx, manifest.confounder_seed) == (
        "lite.pt", "lite.onnx", None)
    engine = build_engine(checkpoint, EngineConfig(kind="onnx", num_threads=1))
    assert engine.path == paired and not cache.exists()
    # a seed other than the checkpoint's samples is not what the paired file computes: exported
    assert build_engine(checkpoint, EngineConfig(kind="onnx", num_threads=1, inference_seed=5)).path.parent == cache / "onnx"
    # the checkpoint changes (re-trained) while the manifest stays: the pair no longer holds
    import torch

    from cleanpose_ros.model.checkpoint import load_checkpoint, save_checkpoint

    retrained = load_checkpoint(checkpoint, map_location="cpu").model
    with torch.no_grad():
        next(retrained.parameters()).add_(0.01)
    save_checkpoint(checkpoint, retrained, retrained.config)
    with caplog.at_level(logging.WARNING):
        engine = build_engine(checkpoint, EngineConfig(kind="onnx", num_threads=1))
    assert engine.path != paired and engine.path.parent == cache / "onnx"
    assert "not the checkpoint the manifest names" in caplog.text
