"""Live replay into a running cleanpose_node: the player publishes the bag's CDR bytes with their
timing and the bag clock, the recorder records the node's outputs, and the recording is evaluated
(frames processed + dropped = frames in the bag; the node's poses equal the offline replay's)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from cleanpose_ros.bags.live import play_and_record  # noqa: E402
from cleanpose_ros.bags.live_evaluation import NO_OUTPUT, evaluate_recording  # noqa: E402
from cleanpose_ros.evaluation.predictions import read_predictions  # noqa: E402
from cleanpose_ros.tools import replay as replay_tool  # noqa: E402

from .conftest import FRAMES  # noqa: E402

pytestmark = pytest.mark.ros


@pytest.fixture()
def running_node(weights):
    from cleanpose_ros.resources import ensure_fastdds_profile
    from cleanpose_ros.ros.node import CleanPoseNode

    ensure_fastdds_profile()
    rclpy.init()
    node = CleanPoseNode(parameter_overrides=[
        Parameter("inference.weights", value=str(weights)), Parameter("inference.num_threads", value=1),
        Parameter("use_sim_time", value=True), Parameter("health.log_period_s", value=0.0),
        Parameter("health.diagnostics_period_s", value=0.2)])
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    yield node
    node.close()
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    spinner.join(timeout=5.0)


def test_play_record_and_evaluate_the_running_node(running_node, bag, weights, tmp_path):
    stats, counts = play_and_record(bag, tmp_path / "rec", rate=1.0, settle_s=1.5)
    assert stats.frames == FRAMES and stats.messages == 5 * FRAMES  # inputs only, no ground truth
    assert stats.bag_s == pytest.approx((FRAMES - 1) / 30.0, abs=1e-6)
    result = evaluate_recording(bag, tmp_path / "rec", tmp_path / "eval")
    assert result.frames_in_bag == FRAMES and 1 <= result.frames_processed <= FRAMES
    assert result.frames_processed + result.frames_dropped == FRAMES
    assert counts["/pose_estimation/detections"] == result.frames_processed  # one answer per processed frame
    assert int(result.diagnostics["frames_out"]) == result.frames_processed
    # The bag clock keeps 2023 stamps fresh: judged by the wall clock every frame would be stale. On a
    # heavily loaded machine a frame can still age past max_age while it waits for the busy worker.
    assert int(result.diagnostics["rejected_stale"]) < FRAMES // 4
    assert result.metrics is not None and result.metrics["num_frames"] == FRAMES

    # What the node published for a frame is what the offline replay computes for it.
    assert replay_tool.main(["--bag", str(bag), "--weights", str(weights), "--out", str(tmp_path / "replay"),
                             "--no-plots", "--threads", "1"]) == 0
    _, offline = read_predictions(tmp_path / "replay" / "predictions.jsonl")
    _, live = read_predictions(result.predictions)
    assert [r.frame_id for r in live] == [r.frame_id for r in offline]
    compared = 0
    for lv, off in zip(live, offline):
        if any(reason == NO_OUTPUT for _, reason in lv.rejected):
            assert lv.pred_class_ids.size == 0
            continue
        np.testing.assert_array_equal(lv.pred_instance_ids, off.pred_instance_ids)
        np.testing.assert_allclose(lv.pred_srts, off.pred_srts, atol=1e-9)
        np.testing.assert_array_equal(lv.gt_srts, off.gt_srts)
        compared += 1
    assert compared == result.frames_processed
