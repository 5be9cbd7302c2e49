"""cleanpose-replay: parity with cleanpose-evaluate on the same frames, and the output bag."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader

from cleanpose_ros.bags.make_bag import make_bag
from cleanpose_ros.bags.topics import BagTopics
from cleanpose_ros.bags.typestore import build_typestore
from cleanpose_ros.core.geometry import quaternion_to_rotation
from cleanpose_ros.data.nocs_reader import NocsReader
from cleanpose_ros.evaluation.predictions import read_predictions, records_equal
from cleanpose_ros.evaluation.runner import EvaluationSample, nocs_samples
from cleanpose_ros.tools import evaluate as evaluate_tool
from cleanpose_ros.tools import replay as replay_tool

from .conftest import FRAMES

T = BagTopics()
# untrained test weights: their garbage boxes would be refused by the plausibility check (fixture explains)
UNTRAINED = Path(__file__).resolve().parents[1] / "fixtures" / "params_untrained.yaml"
COMMON = ["--no-plots", "--threads", "1", "--params", str(UNTRAINED)]


@pytest.fixture(scope="module")
def runs(nocs_root, bag, weights, tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("runs")
    assert evaluate_tool.main(["--data", str(nocs_root), "--split", "test", "--weights", str(weights),
                               "--out", str(base / "offline"), *COMMON]) == 0
    assert replay_tool.main(["--bag", str(bag), "--weights", str(weights), "--out", str(base / "replay"), *COMMON]) == 0
    return base / "offline", base / "replay"


def test_replay_predictions_and_metrics_equal_the_offline_evaluation(runs, capsys):
    offline, replay = runs
    off_header, off_records = read_predictions(offline / "predictions.jsonl")
    rep_header, rep_records = read_predictions(replay / "predictions.jsonl")
    assert off_header["categories"] == rep_header["categories"]
    assert [r.frame_id for r in rep_records] == [r.frame_id for r in off_records] and len(off_records) == FRAMES
    assert all(records_equal(a, b) for a, b in zip(off_records, rep_records))  # bit-exact poses and truth
    assert sum(r.pred_class_ids.size for r in rep_records) >= FRAMES  # poses were made, not an empty match

    def metrics(folder: Path) -> str:
        data = json.loads((folder / "metrics.json").read_text())
        data.pop("source")  # names the predictions file and its meta, which differ by design
        return json.dumps(data, sort_keys=True)  # exact floats, NaN == NaN

    assert metrics(offline) == metrics(replay)
    assert (offline / "metrics.txt").read_text() == (replay / "metrics.txt").read_text()


def test_output_bag_holds_inputs_and_the_nodes_outputs(runs):
    _, replay = runs
    store = build_typestore()
    _, records = read_predictions(replay / "predictions.jsonl")
    msgs: dict[str, list] = {}
    with Reader(replay / "bag") as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        for conn, log_ns, data in reader.messages():
            msgs.setdefault(conn.topic, []).append((log_ns, store.deserialize_cdr(data, conn.msgtype)))
    for topic in (T.color, T.depth, T.camera_info, T.mask, T.detections, T.ground_truth, T.annotations, T.poses, T.markers):
        assert len(msgs[topic]) == FRAMES, topic
    assert types[T.poses] == "vision_msgs/msg/Detection3DArray" and types[T.tf] == "tf2_msgs/msg/TFMessage"
    info = yaml.safe_load((replay / "bag" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    hashes = {t["topic_metadata"]["name"]: t["topic_metadata"]["type_description_hash"]
              for t in info["topics_with_message_count"]}
    assert hashes[T.poses] == "RIHS01_793f5eab9595ac1c0da07873cc859db42eae51f0ee76056db8562515d830e018"
    input_stamps = [log for log, _ in msgs[T.color]]
    for i, record in enumerate(records):
        log_ns, poses = msgs[T.poses][i]
        assert log_ns == input_stamps[i]  # outputs carry the input frame's stamp
        assert [d.id for d in poses.detections] == [str(k) for k in record.pred_instance_ids]
        for det, srt, scale in zip(poses.detections, record.pred_srts, record.pred_scales):
            s = np.linalg.norm(srt[:3, 0])
            c = det.bbox.center
            assert [c.position.x, c.position.y, c.position.z] == srt[:3, 3].tolist()
            np.testing.assert_allclose(quaternion_to_rotation([c.orientation.x, c.orientation.y, c.orientation.z,
                                                               c.orientation.w]), srt[:3, :3] / s, atol=1e-9)
            np.testing.assert_allclose([det.bbox.size.x, det.bbox.size.y, det.bbox.size.z], scale * s, rtol=1e-12)
        markers = msgs[T.markers][i][1].markers
        assert sum(m.action == 0 for m in markers) == 3 * len(poses.detections)
        assert {(m.ns, m.id) for m in markers if m.action == 0} == {
            (ns, int(d.id)) for d in poses.detections for ns in ("box", "axes", "label")}
    tf_children = [t.child_frame_id for _, m in msgs[T.tf] for t in m.transforms]
    assert tf_children == [f"cleanpose_{d.results[0].hypothesis.class_id}_{d.id}"
                           for _, m in msgs[T.poses] if m.detections for d in m.detections]


def test_renamed_topics_without_ground_truth(nocs_root, weights, tmp_path, capsys):
    reader = NocsReader(nocs_root, "real", "test")
    reader.rels = reader.rels[:2]
    no_truth = (EvaluationSample(s.frame_id, s.frame, s.instances, None) for s in nocs_samples(reader))
    topics = BagTopics.with_overrides({"color": "/cam/color", "mask": "/seg/ids"})
    bag = make_bag(no_truth, tmp_path / "bag", topics=topics).path
    out = tmp_path / "out"
    assert replay_tool.main(["--bag", str(bag), "--weights", str(weights), "--out", str(out), *COMMON]) == 2
    err = capsys.readouterr().err
    assert "missing topic(s) color (/color/image_raw), mask (/segmentation/mask)" in err
    assert replay_tool.main(["--bag", str(bag), "--weights", str(weights), "--out", str(out), "--overwrite",
                             "--topics", "color=/cam/color", "mask=/seg/ids", *COMMON]) == 0
    printed = capsys.readouterr().out
    assert "no ground truth" in printed and "real-time factor" in printed and "2 frames (0 refused)" in printed
    _, records = read_predictions(out / "predictions.jsonl")
    assert [r.frame_id for r in records] == [f"stamp_{1_700_000_000_000_000_000 + k}" for k in (0, 33_333_333)]
    assert all(r.num_gt == 0 and r.pred_class_ids.size > 0 for r in records)
    assert not (out / "metrics.json").exists()


NOCS_MINI = Path(__file__).resolve().parents[1] / "fixtures" / "nocs_mini"


@pytest.mark.parametrize("source, split", [("real", "test"), ("camera", "val")])
def test_parity_on_the_committed_fixture(source, split, weights, tmp_path):
    """REAL275 layout and CAMERA layout (other intrinsics, composed full depth) through the three CLIs."""
    if not (NOCS_MINI / source).is_dir():
        pytest.skip("test/fixtures/nocs_mini is not in this checkout")
    from cleanpose_ros.tools import make_bag as make_bag_tool

    data = ["--data", str(NOCS_MINI), "--source", source, "--split", split]
    assert evaluate_tool.main([*data, "--weights", str(weights), "--out", str(tmp_path / "off"), *COMMON]) == 0
    assert make_bag_tool.main([*data, "--out", str(tmp_path / "bag")]) == 0
    assert replay_tool.main(["--bag", str(tmp_path / "bag"), "--weights", str(weights), "--out", str(tmp_path / "rep"),
                             *COMMON]) == 0
    _, off = read_predictions(tmp_path / "off" / "predictions.jsonl")
    _, rep = read_predictions(tmp_path / "rep" / "predictions.jsonl")
    assert len(off) == len(rep) >= 1 and all(records_equal(a, b) for a, b in zip(off, rep))
    assert sum(r.num_gt for r in rep) >= 1


BLOCK_ROS = """
import importlib.abc, sys
class NoRos(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split('.')[0]
        if top in ('rclpy', 'rosidl_runtime_py', 'builtin_interfaces') or top.endswith('_msgs'):
            raise ImportError('ROS is not installed: ' + name)
sys.meta_path.insert(0, NoRos())
from cleanpose_ros.tools import replay
sys.exit(replay.main(sys.argv[1:]))
"""


def test_replay_runs_without_ros(bag, weights, tmp_path):
    """No rclpy and no message packages importable: cleanpose-replay still works (rosbags only)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", BLOCK_ROS, "--bag", str(bag), "--weights", str(weights),
                           "--out", str(tmp_path / "out"), *COMMON], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "real-time factor" in proc.stdout and (tmp_path / "out" / "metrics.json").is_file()
    assert len(read_predictions(tmp_path / "out" / "predictions.jsonl")[1]) == FRAMES


def test_parity_with_segmentation_results(weights, tmp_path):
    """Instances from segmentation pickles (ids = pickle order, masks and scores of the pickle) go through the bag
    unchanged: make-bag --segmentation -> replay equals cleanpose-evaluate --segmentation."""
    from cleanpose_ros.data.generator import GeneratorConfig, generate_dataset
    from cleanpose_ros.data.nocs_layout import NocsLayout
    from cleanpose_ros.tools import make_bag as make_bag_tool

    root = tmp_path / "nocs"
    generate_dataset(GeneratorConfig(out=root, frames=2, seed=21, split="test", write_segmentation=True), progress=False)
    seg = NocsLayout(root, "real", "test").seg_results_dir
    data = ["--data", str(root), "--split", "test", "--segmentation", str(seg)]
    assert evaluate_tool.main([*data, "--weights", str(weights), "--out", str(tmp_path / "off"), *COMMON]) == 0
    assert make_bag_tool.main([*data, "--out", str(tmp_path / "bag")]) == 0
    assert replay_tool.main(["--bag", str(tmp_path / "bag"), "--weights", str(weights), "--out", str(tmp_path / "rep"),
                             *COMMON]) == 0
    _, off = read_predictions(tmp_path / "off" / "predictions.jsonl")
    _, rep = read_predictions(tmp_path / "rep" / "predictions.jsonl")
    assert len(off) == len(rep) == 2 and all(records_equal(a, b) for a, b in zip(off, rep))
    assert sum(r.pred_scores.size for r in rep) > 0
