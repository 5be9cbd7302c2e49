"""ONNX Runtime engine vs torch engine on the real lite network: parity, dynamic batch, corrupt files,
provider fallback, on-the-fly export from a checkpoint."""
import logging

import numpy as np
import onnx
import pytest

from cleanpose_ros.core.errors import ConfigError, WeightsError
from cleanpose_ros.engines.factory import build_pipeline
from cleanpose_ros.core.pipeline import Pipeline
from cleanpose_ros.core.types import CATEGORIES
from cleanpose_ros.core import engine as base
from cleanpose_ros.core.engine import ModelInfo, ProviderUnavailableError, SchemaError
from cleanpose_ros.engines.config import EngineConfig
from cleanpose_ros.engines.factory import build_engine
from cleanpose_ros.engines.onnx_engine import METADATA_KEY, OnnxEngine
from cleanpose_ros.verification.parity import DEFAULT_TOLERANCES, compare_pipelines, parity_frames
from cleanpose_ros.verification.sample_frames import synthetic_frame
from cleanpose_ros.engines.torch_engine import TorchEngine
from cleanpose_ros.model import onnx_io
from cleanpose_ros.model.config import load_model_config
from test.engines.conftest import EXPORT_SEED, parity_frame_source

ORT_HAS_CUDA = "CUDAExecutionProvider" in __import__("onnxruntime").get_available_providers()


def _inputs(info: ModelInfo, b: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"rgb": rng.normal(size=(b, 3, info.crop_size, info.crop_size)).astype(np.float32),
            "points": (rng.normal(scale=0.04, size=(b, info.num_points, 3)) + [0, 0, 0.8]).astype(np.float32),
            "choose": rng.integers(0, info.crop_size ** 2, (b, info.num_points)).astype(np.int64),
            "category": (np.arange(b) % len(info.categories)).astype(np.int64)}


@pytest.fixture(scope="module")
def engines(lite_artefacts):
    torch_engine = TorchEngine.from_checkpoint(lite_artefacts.checkpoint,
                                               EngineConfig(inference_seed=EXPORT_SEED, num_threads=1))
    onnx_engine = OnnxEngine(lite_artefacts.onnx, EngineConfig(kind="onnx", num_threads=1))
    return torch_engine, onnx_engine


def test_engine_schema_is_the_model_export_contract():
    assert base.INPUT_NAMES == tuple(onnx_io.INPUT_NAMES) and base.OUTPUT_NAMES == tuple(onnx_io.OUTPUT_NAMES)


def test_onnx_file_describes_its_model(engines):
    _, onnx_engine = engines
    lite = load_model_config("lite")
    assert onnx_engine.info == ModelInfo(num_points=lite.num_points, crop_size=lite.crop_size, categories=CATEGORIES,
                                         name="lite", seed=EXPORT_SEED)
    assert onnx_engine.active_provider == "CPUExecutionProvider" and onnx_engine.fallback_note is None


def test_an_onnx_file_refuses_a_seed_other_than_its_baked_in_one(lite_artefacts):
    same = OnnxEngine(lite_artefacts.onnx, EngineConfig(kind="onnx", inference_seed=EXPORT_SEED))
    assert same.info.seed == EXPORT_SEED
    with pytest.raises(ConfigError, match=f"baked in with seed {EXPORT_SEED}, inference_seed 1 was requested"):
        OnnxEngine(lite_artefacts.onnx, EngineConfig(kind="onnx", inference_seed=1))


def test_torch_and_onnxruntime_pipelines_agree_on_fixture_frames(engines):
    torch_engine, onnx_engine = engines
    report = compare_pipelines(Pipeline(torch_engine), Pipeline(onnx_engine), parity_frames(parity_frame_source(), 3))
    worst = report.worst()
    print(report.table())
    assert len(report.differences) >= 8 and report.unmatched == ()
    assert worst["rotation_deg"] <= 0.1 and worst["translation_mm"] <= 0.1 and worst["size_mm"] <= 0.1
    assert report.passed


def test_parity_check_catches_different_confounder_samples(lite_artefacts, engines):
    """Same weights, confounder samples from another seed: outside the bounds, so the check can fail."""
    _, onnx_engine = engines
    other = TorchEngine.from_checkpoint(lite_artefacts.checkpoint, EngineConfig(inference_seed=EXPORT_SEED + 1))
    report = compare_pipelines(Pipeline(other), Pipeline(onnx_engine), parity_frames(None, 2))
    assert not report.passed and max(report.worst()[k] / DEFAULT_TOLERANCES[k] for k in DEFAULT_TOLERANCES) > 1


@pytest.mark.parametrize("b", [1, 2, 7])
def test_dynamic_number_of_objects(engines, b):
    torch_engine, onnx_engine = engines
    inputs = _inputs(onnx_engine.info, b, seed=b)
    ours, ref = onnx_engine.run(inputs), torch_engine.run(inputs)
    assert ours["rotation"].shape == (b, 3, 3) and ours["translation"].shape == (b, 3) and ours["size"].shape == (b, 3)
    assert all(v.dtype == np.float32 for v in ours.values())
    np.testing.assert_allclose(ours["translation"], ref["translation"], atol=1e-5)
    np.testing.assert_allclose(ours["rotation"], ref["rotation"], atol=1e-4)


def test_inputs_off_the_schema_are_refused(engines):
    _, onnx_engine = engines
    good = _inputs(onnx_engine.info, 2)
    with pytest.raises(SchemaError, match="points: expected float32"):
        onnx_engine.run({**good, "points": good["points"].astype(np.float64)})
    half = onnx_engine.info.num_points // 2
    with pytest.raises(SchemaError, match=f"the model wants {2 * half} points"):
        onnx_engine.run({**good, "points": good["points"][:, :half], "choose": good["choose"][:, :half]})
    with pytest.raises(SchemaError, match="disagrees"):
        onnx_engine.run({**good, "category": good["category"][:1]})
    with pytest.raises(SchemaError, match="category indices"):
        onnx_engine.run({**good, "category": np.array([0, 6], np.int64)})


def test_missing_corrupt_and_foreign_files_raise_weights_error(tmp_path, lite_artefacts):
    with pytest.raises(WeightsError, match="not found"):
        OnnxEngine(tmp_path / "nope.onnx")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(lite_artefacts.onnx.read_bytes()[:5000])
    with pytest.raises(WeightsError, match="not a loadable ONNX network"):
        OnnxEngine(truncated)
    proto = onnx.load(str(lite_artefacts.onnx))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(WeightsError, match=f"no '{METADATA_KEY}' metadata"):
        OnnxEngine(bare)
    broken_ckpt = tmp_path / "broken.pt"
    broken_ckpt.write_bytes(lite_artefacts.checkpoint.read_bytes()[:20000])
    for kind in ("torch", "onnx"):
        with pytest.raises(WeightsError, match="corrupt or truncated"):
            build_engine(broken_ckpt, EngineConfig(kind=kind))
    with pytest.raises(ConfigError, match="torch engine needs a checkpoint"):
        build_engine(lite_artefacts.onnx, EngineConfig(kind="torch"))


@pytest.mark.skipif(ORT_HAS_CUDA, reason="this onnxruntime has CUDA: the missing-provider case cannot happen")
def test_requesting_cuda_from_a_cpu_onnxruntime(lite_artefacts, engines, caplog):
    with pytest.raises(ProviderUnavailableError, match=r"CUDAExecutionProvider.*not available.*fallback: true"):
        OnnxEngine(lite_artefacts.onnx, EngineConfig(kind="onnx", device="cuda", fallback=False))
    with caplog.at_level(logging.WARNING, logger="cleanpose_ros.engines"):
        fallen = OnnxEngine(lite_artefacts.onnx, EngineConfig(kind="onnx", device="cuda", fallback=True))
    assert fallen.active_provider == "CPUExecutionProvider" and "falling back" in fallen.fallback_note
    assert any("falling back to CPUExecutionProvider" in r.getMessage() for r in caplog.records)
    inputs = _inputs(fallen.info, 2)
    np.testing.assert_array_equal(fallen.run(inputs)["rotation"], engines[1].run(inputs)["rotation"])


def test_torch_engine_device_policy(lite_artefacts):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present: the missing-device case cannot happen")
    with pytest.raises(ProviderUnavailableError, match="CUDA is not available"):
        TorchEngine.from_checkpoint(lite_artefacts.checkpoint, EngineConfig(device="cuda"))
    fallen = TorchEngine.from_checkpoint(lite_artefacts.checkpoint, EngineConfig(device="cuda", fallback=True))
    assert fallen.active_provider == "cpu" and "falling back to cpu" in fallen.fallback_note
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        TorchEngine.from_checkpoint(lite_artefacts.checkpoint, EngineConfig(precision="fp16"))


def test_from_weights_with_onnx_exports_a_checkpoint_once_and_matches_torch(lite_artefacts, tmp_path, monkeypatch):
    monkeypatch.setenv("CLEANPOSE_CACHE_DIR", str(tmp_path))
    onnx_pipe = build_pipeline(lite_artefacts.checkpoint, engine="onnx", device="cpu", num_threads=1)
    cached = list((tmp_path / "onnx").glob("*.onnx"))
    assert len(cached) == 1 and "seedckpt" in cached[0].name and onnx_pipe.engine.info.seed is None
    stamp = cached[0].stat().st_mtime_ns
    build_pipeline(lite_artefacts.checkpoint, engine="onnx")
    assert cached[0].stat().st_mtime_ns == stamp  # reused, not exported again
    torch_pipe = build_pipeline(lite_artefacts.checkpoint, engine="torch", num_threads=1)
    frame, instances = synthetic_frame(3, seed=11)
    a, b = torch_pipe(frame, instances), onnx_pipe(frame, instances)
    assert [p.instance_id for p in a.poses] == [p.instance_id for p in b.poses] == [1, 2, 3]
    for p, q in zip(a.poses, b.poses):
        np.testing.assert_allclose(p.translation, q.translation, atol=1e-4)  # 0.1 mm
        np.testing.assert_allclose(p.size, q.size, atol=1e-4)
    with pytest.raises(ConfigError, match="unknown engine option"):
        build_pipeline(lite_artefacts.checkpoint, engine="torch", precison="fp16")


def test_tensorrt_gets_a_profile_over_the_object_counts_and_an_engine_cache(lite_artefacts, tmp_path, monkeypatch):
    """Checked without TensorRT: the options handed to onnxruntime for it (a GPU machine runs them)."""
    monkeypatch.setenv("CLEANPOSE_CACHE_DIR", str(tmp_path))
    name, options = OnnxEngine._provider_arg("TensorrtExecutionProvider", lite_artefacts.onnx,
                                             EngineConfig(kind="onnx", device="cuda:1"))
    n, s = load_model_config("lite").num_points, load_model_config("lite").crop_size
    assert name == "TensorrtExecutionProvider" and options["device_id"] == 1
    assert options["trt_profile_min_shapes"] == f"rgb:1x3x{s}x{s},points:1x{n}x3,choose:1x{n},category:1"
    assert options["trt_profile_max_shapes"].startswith("rgb:32x3x")
    assert options["trt_engine_cache_enable"] is True and options["trt_engine_cache_path"].startswith(str(tmp_path))
    assert OnnxEngine._provider_arg("CPUExecutionProvider", lite_artefacts.onnx, EngineConfig(kind="onnx")) == \
        "CPUExecutionProvider"


def test_parallel_batches_give_the_same_outputs_as_one_call(lite_artefacts):
    """parallel_batches: a frame's objects in parts run concurrently; every output row equals one call's."""
    from cleanpose_ros.core.engine import dummy_inputs

    one = OnnxEngine(lite_artefacts.onnx, EngineConfig(kind="onnx", num_threads=1))
    split = OnnxEngine(lite_artefacts.onnx, EngineConfig(kind="onnx", parallel_batches=2))
    for batch in (1, 2, 5):
        inputs = dummy_inputs(one.info, batch)
        want, got = one.run(inputs), split.run(inputs)
        assert got.keys() == want.keys()
        for name in want:
            assert got[name].shape == want[name].shape
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-5)
    with pytest.raises(ConfigError, match="parallel_batches is an onnx-engine option"):
        EngineConfig(kind="torch", parallel_batches=2)
    with pytest.raises(ConfigError, match="parallel_batches must be >= 1"):
        EngineConfig(kind="onnx", parallel_batches=0)
