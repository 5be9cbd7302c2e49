"""Pipeline: filters, one batched engine call per frame, rejection reasons, non-finite outputs, timings.

Runs the real `lite` network (random-initialised, see test/engines/models.py) through the torch engine.
"""
import dataclasses

import numpy as np
import pytest
import torch

from cleanpose_ros.core.config import PipelineConfig
from cleanpose_ros.core.errors import ConfigError
from cleanpose_ros.core.pipeline import (REJECT_CATEGORY_DISABLED, REJECT_DUPLICATE_ID, REJECT_LOW_SCORE, REJECT_MAX_OBJECTS,
                                         REJECT_UNKNOWN_CATEGORY, TIMING_STAGES, Pipeline, config_for_model)
from cleanpose_ros.core.postprocess import REJECT_NON_FINITE
from cleanpose_ros.core.types import Instance
from cleanpose_ros.engines.config import EngineConfig
from cleanpose_ros.verification.sample_frames import synthetic_frame
from cleanpose_ros.engines.torch_engine import TorchEngine
from test.engines.models import CountingEngine, FaultInjectingEngine, lite_test_model


@pytest.fixture(scope="module")
def engine():
    torch.set_num_threads(1)
    return TorchEngine(lite_test_model(), EngineConfig(num_threads=1))


@pytest.fixture(scope="module")
def scene():
    return synthetic_frame(6, seed=3)


def test_all_instances_go_through_one_engine_call(engine, scene):
    frame, instances = scene
    counting = CountingEngine(engine)
    result = Pipeline(counting)(frame, instances)
    assert counting.batch_sizes == [6]
    assert [p.instance_id for p in result.poses] == [1, 2, 3, 4, 5, 6] and result.rejected == ()
    for pose, inst in zip(result.poses, instances):
        assert pose.category == inst.category and pose.score == inst.score
        assert np.linalg.det(pose.rotation) == pytest.approx(1.0, abs=1e-9)
        np.testing.assert_allclose(pose.rotation @ pose.rotation.T, np.eye(3), atol=1e-9)
        assert (pose.size > 0).all() and np.isfinite(pose.translation).all()
    # the network's input tensors have the sizes of the model config stored with the weights
    n, s = engine.info.num_points, engine.info.crop_size
    assert counting.last_inputs["points"].shape == (6, n, 3) and counting.last_inputs["rgb"].shape == (6, 3, s, s)


def test_batched_results_equal_one_object_at_a_time(engine, scene):
    """Batching must not change any object's result (eval-mode network, per-object computation)."""
    frame, instances = scene
    pipeline = Pipeline(engine)
    batched = {p.instance_id: p for p in pipeline(frame, instances).poses}
    for inst in instances[:3]:
        (single,) = pipeline(frame, [inst]).poses
        ref = batched[inst.instance_id]
        np.testing.assert_allclose(single.rotation, ref.rotation, atol=1e-5)
        np.testing.assert_allclose(single.translation, ref.translation, atol=1e-6)  # 1 micrometre
        np.testing.assert_allclose(single.size, ref.size, atol=1e-6)


def test_filters_report_every_refused_instance_and_send_only_survivors(engine, scene):
    frame, instances = scene
    h, w = frame.shape
    tiny = np.zeros((h, w), bool)
    tiny[100, 100:103] = True  # 3 pixels < min_points
    extra = [
        Instance(20, "toaster", instances[0].mask, 0.9),        # not a known category
        Instance(21, "laptop", instances[1].mask, 0.9),         # known, disabled below
        Instance(22, "mug", instances[2].mask, 0.05),           # below the score threshold
        Instance(23, "mug", tiny, 0.9),                          # too few points (preprocessing)
        Instance(24, "bowl", np.zeros((h, w), bool), 0.9),       # empty mask (preprocessing)
    ]
    kept = [dataclasses.replace(i, category="mug") for i in instances[:4]]  # scores .99 .98 .97 .96
    cfg = config_for_model(PipelineConfig(enabled_categories=("bottle", "bowl", "camera", "can", "mug"),
                                          score_threshold=0.1, max_objects=5), engine.info)
    counting = CountingEngine(engine)
    result = Pipeline(counting, cfg)(frame, kept + extra)
    assert dict(result.rejected) == {20: REJECT_UNKNOWN_CATEGORY, 21: REJECT_CATEGORY_DISABLED, 22: REJECT_LOW_SCORE,
                                     24: REJECT_MAX_OBJECTS,  # 6 candidates > max 5: the lowest score (0.9, last) goes
                                     23: "too_few_points"}
    assert counting.batch_sizes == [4]
    assert sorted(p.instance_id for p in result.poses) == [1, 2, 3, 4]


def test_max_objects_keeps_the_highest_scores(engine, scene):
    frame, instances = scene
    cfg = config_for_model(PipelineConfig(max_objects=2), engine.info)
    result = Pipeline(engine, cfg)(frame, list(reversed(instances)))  # scores .94 ... .99
    assert sorted(p.instance_id for p in result.poses) == [1, 2]
    assert sorted(i for i, r in result.rejected if r == REJECT_MAX_OBJECTS) == [3, 4, 5, 6]


def test_a_repeated_instance_id_is_refused_not_posed_twice(engine, scene):
    frame, instances = scene
    again = Instance(instances[0].instance_id, "mug", instances[1].mask, 0.99)
    result = Pipeline(engine)(frame, [instances[0], again, instances[2]])
    assert [p.instance_id for p in result.poses] == [1, 3] and result.poses[0].category == instances[0].category
    assert result.rejected == ((1, REJECT_DUPLICATE_ID),)


def test_frame_without_usable_instances_makes_no_engine_call(engine, scene):
    frame, instances = scene
    counting = CountingEngine(engine)
    result = Pipeline(counting)(frame, [Instance(9, "toaster", instances[0].mask)])
    assert counting.batch_sizes == [] and result.poses == () and result.rejected == ((9, REJECT_UNKNOWN_CATEGORY),)
    assert [name for name, _ in result.timings_ms] == list(TIMING_STAGES)


def test_non_finite_engine_outputs_never_become_poses(engine, scene):
    frame, instances = scene
    faulty = FaultInjectingEngine(engine, nan_rotation_rows=(0,), inf_translation_rows=(2,), nan_size_rows=(5,))
    result = Pipeline(faulty)(frame, instances)
    assert dict(result.rejected) == {1: REJECT_NON_FINITE, 3: REJECT_NON_FINITE, 6: REJECT_NON_FINITE}
    assert [p.instance_id for p in result.poses] == [2, 4, 5]
    assert all(np.isfinite(p.srt).all() for p in result.poses)


def test_timings_and_determinism(engine, scene):
    frame, instances = scene
    pipeline = Pipeline(engine, seed=5)
    a, b = pipeline(frame, instances), pipeline(frame, instances)
    timings = dict(a.timings_ms)
    assert list(timings) == list(TIMING_STAGES) and all(v >= 0 for v in timings.values())
    parts = timings["preprocess"] + timings["engine"] + timings["postprocess"]
    assert parts <= timings["total"] + 1e-6 and timings["engine"] > 0
    for p, q in zip(a.poses, b.poses):
        np.testing.assert_array_equal(p.rotation, q.rotation)
        np.testing.assert_array_equal(p.translation, q.translation)


def test_warm_up_is_one_single_object_engine_call_with_a_valid_output(engine):
    counting = CountingEngine(engine)
    assert Pipeline(counting).warm_up() > 0 and counting.batch_sizes == [1]
    assert Pipeline(counting).warm_up(3) > 0 and counting.batch_sizes == [1, 3]


def test_config_that_disagrees_with_the_model_is_refused(engine):
    n, s = engine.info.num_points, engine.info.crop_size
    assert (n, s) != (1024, 224), "lite is expected to differ from the PreprocessConfig defaults"
    expected = rf"num_points is 1024, the model needs {n}.*crop_size is 224, the model needs {s}"
    with pytest.raises(ConfigError, match=expected):
        Pipeline(engine, PipelineConfig())
    with pytest.raises(ConfigError, match="categories"):
        Pipeline(engine, config_for_model(PipelineConfig(categories=("mug", "can"), enabled_categories=("mug",)),
                                          engine.info))
    assert Pipeline(engine).config.preprocess.num_points == n


def test_fit_pose_sources_need_an_engine_that_says_it_has_keypoints(engine, scene):
    """The check asks the engine (no start-up inference): a torch engine has the keypoint outputs; an
    engine that lists only the base outputs (an old ONNX graph) is refused at construction."""
    counting = CountingEngine(engine)
    from cleanpose_ros.core.plausibility import PlausibilityConfig

    # the test engine is untrained: its boxes are garbage the plausibility check would refuse
    config = dataclasses.replace(Pipeline(engine).config, pose_source="fused",
                                 plausibility=PlausibilityConfig(enabled=False))
    pipe = Pipeline(counting, config)
    assert counting.batch_sizes == []  # constructing it ran nothing
    frame, instances = scene
    assert pipe(frame, instances).poses
    counting.output_names = ("rotation", "translation", "size")
    with pytest.raises(ConfigError, match="keypoint"):
        Pipeline(counting, config)


def test_run_many_makes_one_engine_call_for_all_frames_and_equals_frame_by_frame(engine):
    """Several cameras' frames in one engine call: the same poses and refusals as one call per frame."""
    empty_frame, _ = synthetic_frame(1, seed=12)
    scenes = [synthetic_frame(3, seed=11), (empty_frame, []), synthetic_frame(4, seed=13)]
    frame, instances = scenes[2]
    bad = Instance(instance_id=99, category="banana", mask=instances[0].mask)
    scenes[2] = (frame, [*instances, bad])
    counting = CountingEngine(engine)
    pipeline = Pipeline(counting)
    together = pipeline.run_many(scenes)
    assert counting.batch_sizes == [7]
    alone = [Pipeline(engine)(f, i) for f, i in scenes]
    assert [len(r.poses) for r in together] == [3, 0, 4]
    for many, one in zip(together, alone):
        assert many.rejected == one.rejected
        assert [p.instance_id for p in many.poses] == [p.instance_id for p in one.poses]
        for a, b in zip(many.poses, one.poses):
            np.testing.assert_allclose(a.rotation, b.rotation, atol=1e-5)
            np.testing.assert_allclose(a.translation, b.translation, atol=1e-6)
            np.testing.assert_allclose(a.size, b.size, atol=1e-6)
    assert together[2].rejected == ((99, REJECT_UNKNOWN_CATEGORY),)
    assert dict(together[0].timings_ms)["engine"] == dict(together[2].timings_ms)["engine"]
    counting.batch_sizes.clear()
    assert [r.poses for r in pipeline.run_many([scenes[1]])] == [()] and counting.batch_sizes == []
