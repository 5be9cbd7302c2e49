"""cleanpose-triton-repo: the written config.pbtxt agrees with the ONNX file it serves (names, Triton data
types, dims without the batch axis, the batch axis dynamic; inputs and outputs each against the file's declared
tensors, outputs also against a run), and 1/model.onnx is that file byte for byte. That the PyTriton server
(cleanpose-triton-serve) serves the same tensors: test_triton_engine.py."""
import re

import numpy as np
import pytest

from cleanpose_ros.engines.onnx_engine import OnnxEngine
from cleanpose_ros.tools.triton_repo import main
from test.engines.conftest import ROOT

SHIPPED_ONNX = ROOT / "weights" / "cleanpose_lite.onnx"
TYPES = {np.dtype(np.float32): "TYPE_FP32", np.dtype(np.int64): "TYPE_INT64"}


def _entries(text: str, kind: str) -> dict[str, tuple[str, tuple[int, ...], bool]]:
    """{name: (data_type, dims, reshaped to a scalar)} of the config's input or output block."""
    block = re.search(rf"^{kind} \[\n(.*?)\n\]", text, flags=re.S | re.M).group(1)
    out = {}
    for item in re.findall(r"\{(.*?)\n  \}", block, flags=re.S):
        name = re.search(r'name: "(\w+)"', item).group(1)
        dtype = re.search(r"data_type: (\w+)", item).group(1)
        dims = tuple(int(d) for d in re.search(r"dims: \[([^\]]*)\]", item).group(1).replace(",", " ").split())
        out[name] = (dtype, dims, "reshape: { shape: [ ] }" in item)
    return out


@pytest.mark.skipif(not SHIPPED_ONNX.is_file(), reason="no shipped .onnx")
def test_repository_config_matches_the_onnx_file(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--name", "cleanpose_lite", "--max-batch-size", "32"]) == 0
    folder = tmp_path / "cleanpose_lite"
    assert (folder / "1" / "model.onnx").read_bytes() == SHIPPED_ONNX.read_bytes()
    text = (folder / "config.pbtxt").read_text()
    assert 'platform: "onnxruntime_onnx"' in text and re.search(r"^max_batch_size: 32\b", text, flags=re.M)
    assert "dynamic_batching" in text and "kind: KIND_CPU" in text
    engine = OnnxEngine(SHIPPED_ONNX)
    session = engine._session  # the file's own declared inputs / outputs
    inputs, outputs = _entries(text, "input"), _entries(text, "output")
    assert list(inputs) == [i.name for i in session.get_inputs()]
    assert list(outputs) == [o.name for o in session.get_outputs()]
    for declared in session.get_inputs():
        dtype, dims, scalar = inputs[declared.name]
        assert isinstance(declared.shape[0], str)  # the batch axis is dynamic in the file
        assert dtype == {"tensor(float)": "TYPE_FP32", "tensor(int64)": "TYPE_INT64"}[declared.type]
        want = tuple(declared.shape[1:])
        assert (dims, scalar) == ((1,), True) if not want else (dims, scalar) == (want, False)
    # outputs: the file's declared type, its static dims (the exporter leaves some symbolic), batch axis dynamic
    for declared in session.get_outputs():
        dtype, dims, scalar = outputs[declared.name]
        assert isinstance(declared.shape[0], str) and not scalar
        assert dtype == {"tensor(float)": "TYPE_FP32", "tensor(int64)": "TYPE_INT64"}[declared.type]
        assert len(dims) == len(declared.shape) - 1
        assert all(d == want for d, want in zip(dims, declared.shape[1:]) if isinstance(want, int))
    # ... and a 3-object run of the file gives (3, *dims) for every output, symbolic dims included
    from cleanpose_ros.core.engine import dummy_inputs

    ran = engine.run(dummy_inputs(engine.info, 3))
    for name, (dtype, dims, _) in outputs.items():
        assert ran[name].shape == (3, *dims) and TYPES[ran[name].dtype] == dtype


def test_repository_refuses_a_missing_file_and_bad_options(tmp_path, capsys):
    assert main(["--onnx", str(tmp_path / "none.onnx"), "--out", str(tmp_path / "repo")]) == 2
    assert "not found" in capsys.readouterr().err and not (tmp_path / "repo").exists()
    if SHIPPED_ONNX.is_file():
        assert main(["--out", str(tmp_path / "repo"), "--max-batch-size", "0"]) == 2
        assert "max_batch_size must be >= 1" in capsys.readouterr().err
