"""The triton engine against a real Triton server (PyTriton from .venv-triton, a child process on free loopback
ports) serving the shipped network: the same outputs and poses as onnxruntime here, requests of concurrent
clients batched by the server, and each failure (server down, too slow, wrong answers) a specific EngineError
that callers count, with the same engine object working again once the server is back."""
from __future__ import annotations

import subprocess
import threading
import time

import numpy as np
import pytest

from cleanpose_ros.core.engine import dummy_inputs
from cleanpose_ros.core.errors import ConfigError, EngineError
from cleanpose_ros.core.pipeline import Pipeline
from cleanpose_ros.engines.config import EngineConfig
from cleanpose_ros.engines.factory import build_engine, build_pipeline
from cleanpose_ros.engines.onnx_engine import OnnxEngine
from cleanpose_ros.engines.triton_engine import BACKOFF_MIN_S, TritonEngine, executions_between, model_mismatch
from cleanpose_ros.verification.parity import compare_pipelines, parity_frames
from test.engines.conftest import parity_frame_source
from test.support.processes import ROOT
from test.support.triton import SHIPPED_ONNX, SKIP_REASON, TRITON_PYTHON, TritonTestServer

pytestmark = pytest.mark.skipif(not TRITON_PYTHON.is_file(), reason=SKIP_REASON)

SHIPPED_PT = ROOT / "weights" / "cleanpose_lite.pt"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = TritonTestServer(tmp_path_factory.mktemp("triton"), broken=True)
    s.start()
    print(f"triton test server ready in {s.start_s[-1]:.1f} s at {s.url}")
    yield s
    status = s.stop()
    assert status == 0, f"the server did not stop cleanly ({status}):\n{s.log()[-3000:]}"


@pytest.fixture(scope="module")
def onnx_engine():
    return OnnxEngine(SHIPPED_ONNX, EngineConfig(kind="onnx", num_threads=1))


def triton(server, **options) -> TritonEngine:
    return TritonEngine(SHIPPED_ONNX, EngineConfig(kind="triton", triton_url=server.url, **options))


def test_outputs_equal_onnxruntime_bit_for_bit(server, onnx_engine):
    """Same onnxruntime on both sides, one request at a time: identical outputs, for any object count (70 is
    more than the server's max_batch_size 64: sent in two requests)."""
    engine = build_engine(SHIPPED_ONNX, EngineConfig(kind="triton", triton_url=server.url))
    assert isinstance(engine, TritonEngine) and engine.kind == "triton"
    assert engine.info == onnx_engine.info and engine.output_names == onnx_engine.output_names
    worst = 0.0
    for b in (1, 2, 7, 32, 70):
        inputs = dummy_inputs(engine.info, b, seed=b)
        got, want = engine.run(inputs), onnx_engine.run(inputs)
        assert set(got) == set(want) == set(engine.output_names)
        for name in want:
            assert got[name].dtype == np.float32 and got[name].shape == want[name].shape
            worst = max(worst, float(np.abs(got[name] - want[name]).max()))
    print(f"triton vs onnxruntime, 1..70 objects: largest output difference {worst}")
    assert worst == 0.0


def test_pipeline_poses_equal_the_onnx_pipeline_on_real_frames(server):
    """The node's whole path (preprocessing, the network on the server, postprocessing, confidence) on the fixture
    frames: the same poses as with the onnx engine, within the project's torch/onnxruntime parity bounds (in fact
    identical)."""
    local = build_pipeline(SHIPPED_PT, engine="onnx", num_threads=1)
    remote = build_pipeline(SHIPPED_PT, engine="triton", triton_url=server.url)
    frames = list(parity_frames(parity_frame_source(), 3))
    report = compare_pipelines(local, remote, frames)
    print(report.table())
    assert len(report.differences) >= 8 and report.unmatched == () and report.passed
    # the table's rotation column is the arccos floor of identical matrices (~3e-6 deg): compare the poses directly
    for _, frame, instances in frames:
        a, b = local(frame, instances), remote(frame, instances)
        assert a.rejected == b.rejected and len(a.poses) == len(b.poses)
        for p, q in zip(a.poses, b.poses):
            assert p.instance_id == q.instance_id and p.score == q.score and p.confidence == q.confidence
            assert all(np.array_equal(getattr(p, k), getattr(q, k)) for k in ("rotation", "translation", "size"))


def test_concurrent_clients_are_batched_by_the_server(server, onnx_engine):
    """Four clients (as four camera nodes) sending 3-object requests at once: Triton's inference statistics show
    executions of more objects than one request has, and every client gets its own objects' outputs."""
    clients, rounds, per_request = 4, 6, 3
    engines = [triton(server) for _ in range(clients)]
    before = engines[0].inference_statistics()
    inputs = [dummy_inputs(onnx_engine.info, per_request, seed=100 + k) for k in range(clients)]
    expected = [onnx_engine.run(x) for x in inputs]
    barrier, errors, worst = threading.Barrier(clients), [], [0.0]

    def client(k: int) -> None:
        try:
            for _ in range(rounds):
                barrier.wait(timeout=30)
                got = engines[k].run(inputs[k])
                worst[0] = max([worst[0]] + [float(np.abs(got[n] - expected[k][n]).max()) for n in got])
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    after = engines[0].inference_statistics()
    formed = executions_between(before, after)
    print(f"batch sizes the server formed (objects: executions): {formed}; largest output difference from "
          f"one-client calls {worst[0]:.2e}")
    assert sum(b * n for b, n in formed.items()) == clients * rounds * per_request
    assert max(formed) > per_request, formed
    # joined requests run as one bigger batch: float rounding may differ a little from the 3-object calls
    assert worst[0] <= 1e-4


def test_executions_between_two_statistics_reads():
    """Triton's statistics are cumulative: a load test's window is the difference of two reads."""
    assert executions_between({5: 10, 10: 2}, {5: 14, 10: 2, 15: 3}) == {5: 4, 15: 3}
    assert executions_between({}, {3: 1}) == {3: 1}
    with pytest.raises(ValueError, match="restarted"):
        executions_between({5: 10}, {5: 1})


def test_server_down_is_refused_without_hammering_then_the_same_engine_recovers(server, onnx_engine):
    engine = triton(server)
    inputs = dummy_inputs(engine.info, 3, seed=5)
    want = onnx_engine.run(inputs)
    assert np.array_equal(engine.run(inputs)["rotation"], want["rotation"])
    assert server.stop() == 0
    with pytest.raises(EngineError) as e:
        engine.run(inputs)
    assert e.value.reason == "engine_unavailable" and server.url in str(e.value)
    # within the backoff no request goes out: refused at once
    t0 = time.monotonic()
    for _ in range(20):
        with pytest.raises(EngineError, match="next readiness check in") as e:
            engine.run(inputs)
        assert e.value.reason == "engine_unavailable"
    assert time.monotonic() - t0 < 0.1
    # the pipeline path: the error reaches the caller (node, replay), no pose is made up
    pipeline = Pipeline(engine)
    frame, instances = next(iter(parity_frames(None, 1)))[1:]
    with pytest.raises(EngineError):
        pipeline(frame, instances)
    server.start()
    deadline = time.monotonic() + 20
    while True:  # the next readiness check after the backoff reconnects
        try:
            got = engine.run(inputs)
            break
        except EngineError as err:
            assert err.reason == "engine_unavailable" and time.monotonic() < deadline, err
            time.sleep(BACKOFF_MIN_S / 2)
    assert engine.reconnects == 1
    assert all(np.array_equal(got[n], want[n]) for n in want)
    assert pipeline(frame, instances).poses


def test_a_late_answer_is_a_timeout(server):
    """test_only_broken takes 1 s for 4 objects; with a 0.3 s deadline the call is refused, the next one works."""
    engine = triton(server, triton_model="test_only_broken", triton_timeout_s=0.3)
    t0 = time.monotonic()
    with pytest.raises(EngineError) as e:
        engine.run(dummy_inputs(engine.info, 4))
    assert e.value.reason == "engine_timeout" and time.monotonic() - t0 < 0.9
    time.sleep(1.0)  # let the server finish the late call
    assert engine.run(dummy_inputs(engine.info, 1))["rotation"].shape == (1, 3, 3)


def test_wrong_shapes_are_refused_and_non_finite_values_refuse_their_object_only(server):
    engine = triton(server, triton_model="test_only_broken")
    with pytest.raises(EngineError, match=r"translation: expected shape \('B', 3\), got \(2, 2\)") as e:
        engine.run(dummy_inputs(engine.info, 2))
    assert e.value.reason == "engine_bad_output"
    # NaN in one object's rotation: not a transport problem; the postprocessing refuses that object alone
    pipeline = Pipeline(engine)
    frame, instances = next(iter(parity_frames(None, 1)))[1:]
    instances = instances[:3]
    result = pipeline(frame, instances)
    assert len(instances) == 3 and (instances[0].instance_id, "non_finite_output") in result.rejected
    assert instances[0].instance_id not in {p.instance_id for p in result.poses}


def test_a_server_with_other_weights_or_tensors_is_refused_at_connect(server, lite_artefacts):
    """The random-initialised lite export has the same tensors but other weights: the probe object tells."""
    with pytest.raises(ConfigError, match="answers a probe object differently .* other weights"):
        TritonEngine(lite_artefacts.onnx, EngineConfig(kind="triton", triton_url=server.url))
    engine = triton(server)
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(server.url)
    metadata = client.get_model_metadata("cleanpose_lite")
    client.close()
    assert model_mismatch(metadata, 64, engine._inputs, engine._outputs) == []
    metadata.outputs[1].shape[1] = 4  # translation with 4 values
    metadata.inputs[3].datatype = "INT32"
    problems = model_mismatch(metadata, 0, engine._inputs, engine._outputs)
    assert len(problems) == 3 and "max_batch_size is 0" in problems[0]
    assert "input category is INT32" in problems[1] and "output translation has shape [-1, 4]" in problems[2]


def test_no_server_at_start_refuses_after_the_connect_timeout():
    from test.support.triton import free_ports

    url = f"127.0.0.1:{free_ports(1)[0]}"
    t0 = time.monotonic()
    with pytest.raises(EngineError, match="no Triton server ready .* within triton_connect_timeout_s = 0.5") as e:
        TritonEngine(SHIPPED_ONNX, EngineConfig(kind="triton", triton_url=url, triton_connect_timeout_s=0.5))
    assert e.value.reason == "engine_unavailable" and time.monotonic() - t0 < 3.0
    with pytest.raises(ConfigError, match="triton_url must be host:port"):
        EngineConfig(kind="triton", triton_url="http://127.0.0.1:8000/v2")
    with pytest.raises(ConfigError, match="providers are an onnx-engine option"):
        EngineConfig(kind="triton", providers=("cpu",))


def test_setup_triton_second_run_installs_nothing_and_the_serve_module_needs_no_torch_or_yaml():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "setup_triton.sh")], capture_output=True, text=True, check=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("[setup-triton]")]
    assert len(lines) == 1 and lines[0].startswith("[setup-triton] ok:"), out.stdout + out.stderr
    code = ("import sys, cleanpose_ros.tools.triton_serve as t, cleanpose_ros.engines.triton_server; t.main(['--help'])")
    probe = subprocess.run([str(TRITON_PYTHON), "-c", code + "\n"], capture_output=True, text=True, cwd=ROOT)
    assert "--max-queue-delay-us" in probe.stdout, probe.stderr
    mods = subprocess.run([str(TRITON_PYTHON), "-c", "import sys, cleanpose_ros.engines.triton_server, "
                           "cleanpose_ros.engines.onnx_engine; print(sorted(m for m in ('torch', 'yaml', 'rclpy', "
                           "'tritonclient') if m in sys.modules))"], capture_output=True, text=True, cwd=ROOT, check=True)
    assert mods.stdout.strip() == "[]"


def test_the_served_tensors_are_the_model_repository_config(server, tmp_path):
    """cleanpose-triton-serve and cleanpose-triton-repo (NVIDIA's container) serve the same tensors: one client
    works with both."""
    import tritonclient.grpc as grpcclient

    from cleanpose_ros.tools.triton_repo import main as write_repo
    from test.engines.test_triton_repository import _entries

    assert write_repo(["--out", str(tmp_path)]) == 0
    text = (tmp_path / "cleanpose_lite" / "config.pbtxt").read_text()
    client = grpcclient.InferenceServerClient(server.url)
    metadata = client.get_model_metadata("cleanpose_lite")
    client.close()
    for kind, served in (("input", metadata.inputs), ("output", metadata.outputs)):
        config = _entries(text, kind)
        assert [t.name for t in served] == list(config)
        for t in served:
            dtype, dims, _ = config[t.name]
            assert (t.datatype, list(t.shape)) == (dtype.removeprefix("TYPE_"), [-1, *dims])


def test_serve_refuses_a_port_in_use_at_once():
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        out = subprocess.run([str(TRITON_PYTHON), "-m", "cleanpose_ros.tools.triton_serve", "--grpc-port", str(port)],
                             capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 2 and f"--grpc-port {port}: 127.0.0.1:{port} is in use" in out.stderr, out.stderr
