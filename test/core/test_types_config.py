"""Boundary dataclasses validate their inputs; the YAML loader refuses bad configs clearly."""
import numpy as np
import pytest

from cleanpose_ros.core.config import PipelineConfig, PreprocessConfig, from_dict, load_yaml, to_dict
from cleanpose_ros.core.errors import ConfigError, InputError
from cleanpose_ros.core.types import CameraIntrinsics, Frame, PoseEstimate, category_index


def test_frame_rejects_size_mismatch():
    k = CameraIntrinsics(500, 500, 320, 240, 640, 480)
    with pytest.raises(InputError) as e:
        Frame(np.zeros((480, 640, 3), np.uint8), np.zeros((240, 320), np.float32), k)
    assert e.value.reason == "size_mismatch"
    with pytest.raises(InputError) as e:
        Frame(np.zeros((240, 320, 3), np.uint8), np.zeros((240, 320), np.float32), k)
    assert e.value.reason == "size_mismatch"


def test_intrinsics_reject_garbage():
    with pytest.raises(InputError) as e:
        CameraIntrinsics(0.0, 500, 320, 240, 640, 480)
    assert e.value.reason == "missing_camera_info"
    with pytest.raises(InputError):
        CameraIntrinsics(float("nan"), 500, 320, 240, 640, 480)


@pytest.mark.parametrize("fx, fy, cx, cy, what", [
    (591.0, 590.0, 5000.0, 244.0, "principal point"),   # far right of a 640 px image
    (591.0, 590.0, 322.0, -300.0, "principal point"),   # above it
    (0.5, 0.5, 320.0, 240.0, "field of view"),          # focal length near zero: ~180 deg
    (20.0, 590.0, 320.0, 240.0, "field of view"),       # 172 deg horizontally
])
def test_intrinsics_no_real_camera_has_are_refused(fx, fy, cx, cy, what):
    with pytest.raises(InputError, match=what) as e:
        CameraIntrinsics(fx, fy, cx, cy, 640, 480)
    assert e.value.reason == "implausible_camera_info"


def test_real_cameras_pass_the_intrinsics_check():
    for k in ((591.0125, 590.16775, 322.525, 244.11084), (577.5, 577.5, 319.5, 239.5),  # REAL275, CAMERA25
              (385.0, 385.0, 320.0, 240.0), (1400.0, 1400.0, 960.0, 540.0)):          # D435 640 px, a 1080p camera
        CameraIntrinsics(*k, 640 if k[0] < 1000 else 1920, 480 if k[0] < 1000 else 1080)
    CameraIntrinsics(60.0, 60.0, 320.0, 240.0, 640, 480)  # a 158 deg wide angle (undistorted) is still accepted


def test_category_index():
    assert category_index("bottle") == 0 and category_index("mug") == 5
    with pytest.raises(InputError) as e:
        category_index("toaster")
    assert e.value.reason == "unknown_category"


def test_pose_estimate_scale_and_srt():
    p = PoseEstimate(1, "mug", 0.9, np.eye(3), np.array([0, 0, 1.0]), np.array([0.3, 0.4, 0.0]))
    assert p.scale == pytest.approx(0.5)
    np.testing.assert_allclose(p.srt[:3, :3], 0.5 * np.eye(3))


def test_config_round_trip_and_validation(tmp_path):
    cfg = from_dict(PipelineConfig, {"score_threshold": 0.5, "preprocess": {"num_points": 512}})
    assert cfg.preprocess.num_points == 512 and cfg.score_threshold == 0.5
    assert from_dict(PipelineConfig, to_dict(cfg)) == cfg
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['num_pointz'\]"):
        from_dict(PreprocessConfig, {"num_pointz": 3})
    with pytest.raises(ConfigError, match="min_depth_m < max_depth_m"):
        from_dict(PreprocessConfig, {"min_depth_m": 2.0, "max_depth_m": 1.0})
    with pytest.raises(ConfigError, match="not one of"):
        from_dict(PreprocessConfig, {"hole_fill": "magic"})
    with pytest.raises(ConfigError, match="expected an integer"):
        from_dict(PreprocessConfig, {"num_points": "many"})
    with pytest.raises(ConfigError, match="enabled_categories"):
        from_dict(PipelineConfig, {"enabled_categories": ["toaster"]})
    p = tmp_path / "c.yaml"
    p.write_text("pipeline:\n  score_threshold: 0.25\n")
    assert load_yaml(PipelineConfig, p, section="pipeline").score_threshold == 0.25
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(PipelineConfig, tmp_path / "missing.yaml")


def test_merge_dicts_and_extends(tmp_path):
    from cleanpose_ros.core.config import merge_dicts, read_yaml_with_extends

    base = {"a": 1, "nested": {"x": 1, "y": [1, 2]}, "keep": True}
    merged = merge_dicts(base, {"nested": {"y": [3]}, "b": 2})
    assert merged == {"a": 1, "nested": {"x": 1, "y": [3]}, "keep": True, "b": 2}
    assert base["nested"]["y"] == [1, 2]  # the base is not modified

    (tmp_path / "sub").mkdir()
    (tmp_path / "base.yaml").write_text("steps: 10\noptim: {lr_min: 1.0e-5, lr_max: 1.0e-3}\n")
    (tmp_path / "sub" / "child.yaml").write_text("extends: ../base.yaml\noptim: {lr_max: 5.0e-4}\n")
    (tmp_path / "sub" / "grandchild.yaml").write_text("extends: child.yaml\nsteps: 20\n")
    assert read_yaml_with_extends(tmp_path / "sub" / "grandchild.yaml") == {
        "steps": 20, "optim": {"lr_min": 1e-5, "lr_max": 5e-4}}
    (tmp_path / "loop_a.yaml").write_text("extends: loop_b.yaml\n")
    (tmp_path / "loop_b.yaml").write_text("extends: loop_a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        read_yaml_with_extends(tmp_path / "loop_a.yaml")
    (tmp_path / "missing.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="not found"):
        read_yaml_with_extends(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_yaml_with_extends(tmp_path / "list.yaml")
