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
