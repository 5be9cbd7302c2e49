"""Per-object confidence (core/confidence.py): the agreement features by hand, the logistic fit, the
model file and its tie to the weights, and how the pipeline publishes it."""
import dataclasses
import json
import logging
import math

import numpy as np
import pytest

from cleanpose_ros.core.confidence import (FEATURE_NAMES, ConfidenceModel, file_sha256, load_for_weights,
                                           pose_features, sidecar_path)
from cleanpose_ros.core.errors import ConfigError
from cleanpose_ros.core.geometry import axis_angle_to_rotation, random_rotation
from cleanpose_ros.core.pipeline import with_confidence
from cleanpose_ros.core.types import PoseEstimate


def test_features_are_zero_when_head_and_fit_agree_and_measure_each_disagreement():
    rng = np.random.default_rng(3)
    r = random_rotation(rng)
    kn = rng.uniform(-0.4, 0.4, (16, 3))
    t = np.array([0.1, -0.05, 0.8])
    kc = 0.25 * kn @ r.T + t
    size = 0.25 * np.array([1.0, 2.0, 2.0]) / 3.0  # diagonal exactly 0.25
    np.testing.assert_allclose(pose_features(r, t, size, 0.25, r, t, kn, kc), np.zeros(5), atol=1e-12)
    # head turned 30 deg about the object's x axis (moves the up axis by 30 deg), centre 5 cm off,
    # box diagonal 0.5 (twice the fit's scale), one keypoint of 16 moved: the median residual stays 0
    r_head = r @ axis_angle_to_rotation(np.array([1.0, 0.0, 0.0]), math.radians(30))
    kc_moved = kc.copy()
    kc_moved[0] += [0.0, 0.0, 0.1]
    f = pose_features(r_head, t + [0.05, 0.0, 0.0], 2 * size, 0.25, r, t, kn, kc_moved)
    assert f == pytest.approx([math.radians(30), math.radians(30), 0.0, 0.05 / 0.25, math.log(2.0)], abs=1e-9)
    # a turn about the up axis itself leaves the up-axis disagreement at 0
    r_yaw = r @ axis_angle_to_rotation(np.array([0.0, 1.0, 0.0]), math.radians(40))
    f = pose_features(r_yaw, t, size, 0.25, r, t, kn, kc)
    assert f[0] == pytest.approx(math.radians(40)) and f[1] == pytest.approx(0.0, abs=1e-7)
    # every keypoint 1 cm off its fit: residual 0.01 / 0.25 in NOCS units
    shift = rng.normal(size=(16, 3))
    shift = 0.01 * shift / np.linalg.norm(shift, axis=1, keepdims=True)
    assert pose_features(r, t, size, 0.25, r, t, kn, kc + shift)[2] == pytest.approx(0.04)


def _synthetic(rng, n=400):
    """Objects whose chance of being right falls with the rotation disagreement (the only informative
    feature), as a logistic function of its logarithm (the form the model assumes)."""
    feats = np.abs(rng.normal(scale=[0.2, 0.1, 0.02, 0.05, 0.05], size=(n, 5)))
    p = 1.0 / (1.0 + np.exp(3.0 * (np.log(feats[:, 0] + 1e-3) - np.log(0.15))))
    labels = rng.random(n) < p
    cats = np.array(["laptop", "mug"] * (n // 2), dtype=object)
    return cats, feats, labels


def test_fit_ranks_by_the_informative_feature_and_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(11)
    cats, feats, labels = _synthetic(rng)
    model = ConfidenceModel.fit(list(cats), feats, labels, weights_sha256=["ab" * 32])
    base = np.array([0.1, 0.05, 0.01, 0.02, 0.02])
    worse = base + [0.4, 0, 0, 0, 0]
    for c in ("laptop", "mug"):
        good, bad = model.predict(c, base), model.predict(c, worse)
        assert 0.0 <= bad < good <= 1.0 and good - bad > 0.3, (c, good, bad)
        assert model.categories[c].objects == 200
    # calibrated in the large: the mean predicted probability matches the rate it was fitted on
    mean_p = np.mean([model.predict(c, f) for c, f in zip(cats, feats)])
    assert mean_p == pytest.approx(labels.mean(), abs=0.02)
    assert model.predict("bowl", base) is None  # not calibrated on bowls
    assert model.predict("laptop", [np.nan] * 5) is None
    path = model.save(tmp_path / "m.confidence.json")
    again = ConfidenceModel.load(path)
    assert again.predict("mug", base) == model.predict("mug", base)
    assert json.loads(path.read_text())["feature_names"] == list(FEATURE_NAMES)


def test_a_model_is_used_only_for_the_weights_it_was_calibrated_on(tmp_path, caplog):
    weights = tmp_path / "net.pt"
    weights.write_bytes(b"weights one")
    other = tmp_path / "other.pt"
    other.write_bytes(b"weights two")
    rng = np.random.default_rng(5)
    cats, feats, labels = _synthetic(rng, 100)
    model = ConfidenceModel.fit(list(cats), feats, labels, weights_sha256=[file_sha256(weights)])
    model.save(sidecar_path(weights))
    assert sidecar_path(weights).name == "net.confidence.json"
    assert load_for_weights(weights) is not None
    # the sidecar of other weights: not used, with a warning that says why
    model.save(sidecar_path(other))
    with caplog.at_level(logging.WARNING):
        assert load_for_weights(other) is None
    assert "calibrated on other weights" in caplog.text
    # named explicitly, a mismatch is an error; a missing file too
    with pytest.raises(ConfigError, match="other weights"):
        load_for_weights(other, sidecar_path(other))
    with pytest.raises(ConfigError, match="does not exist"):
        load_for_weights(weights, tmp_path / "missing.json")
    assert load_for_weights(tmp_path / "no_sidecar.pt") is None
    bad = tmp_path / "bad.confidence.json"
    bad.write_text('{"schema": "something else"}')
    with pytest.raises(ConfigError, match="not a confidence model"):
        ConfidenceModel.load(bad)


def test_published_score_is_detection_score_times_confidence():
    rng = np.random.default_rng(2)
    cats, feats, labels = _synthetic(rng, 200)
    model = ConfidenceModel.fit(list(cats), feats, labels)
    pose = PoseEstimate(4, "mug", 0.8, np.eye(3), np.array([0, 0, 1.0]), np.full(3, 0.1),
                        features=(0.1, 0.05, 0.01, 0.02, 0.02))
    out = with_confidence(pose, model)
    assert out.confidence == pytest.approx(model.predict("mug", pose.features))
    assert out.detection_score == 0.8 and out.score == pytest.approx(0.8 * out.confidence)
    # no features (no keypoint fit) or an uncalibrated category: confidence 0, never a made-up value
    assert with_confidence(dataclasses.replace(pose, features=()), model).score == 0.0
    assert with_confidence(dataclasses.replace(pose, category="bowl"), model).confidence == 0.0


def test_covariance_from_the_error_model_grows_as_confidence_falls_and_frees_the_symmetry_axis():
    rng = np.random.default_rng(9)
    cats, feats, labels = _synthetic(rng, 400)
    cats = np.array(["can", "laptop"] * 200, dtype=object)
    # errors 4x larger where the object is wrong: 1 cm / 3 deg when right, 4 cm / 12 deg when wrong
    scale = np.where(labels, 1.0, 4.0)[:, None]
    t_err = 0.01 * scale * rng.normal(size=(400, 3)) / np.sqrt(3)
    r_err = math.radians(3) * scale * rng.normal(size=(400, 3)) / np.sqrt(3)
    r_err[cats == "can", 1] = 0.0  # the pairing gives cans only the tilt
    model = ConfidenceModel.fit(list(cats), feats, labels, translation_errors=t_err, rotation_errors=r_err,
                                symmetric=["can"])
    r = random_rotation(rng)
    high, low = model.covariance("laptop", 0.95, r), model.covariance("laptop", 0.05, r)
    assert high.shape == (6, 6) and np.allclose(high, high.T)
    assert np.all(np.linalg.eigvalsh(high) > 0)
    assert low[0, 0] > 3 * high[0, 0] and np.trace(low[3:, 3:]) > 3 * np.trace(high[3:, 3:])
    assert 0.5 * (0.01 ** 2 / 3) < high[0, 0] < 4 * (0.04 ** 2 / 3)
    np.testing.assert_allclose(high[:3, :3], np.eye(3) * high[0, 0])
    # a can: the rotation block, seen in the object's own frame, frees the y axis only
    can = model.covariance("can", 0.9, r)
    in_object = r.T @ can[3:, 3:] @ r
    assert in_object[1, 1] == pytest.approx(1e6) and in_object[0, 0] < 0.1 and in_object[2, 2] < 0.1
    # a file round trip keeps the error model; a model without one gives no covariance
    again = ConfidenceModel.from_json(json.loads(json.dumps(model.to_json())))
    np.testing.assert_array_equal(again.covariance("laptop", 0.5, r), model.covariance("laptop", 0.5, r))
    assert ConfidenceModel.fit(list(cats), feats, labels).covariance("laptop", 0.5, r) is None


def test_an_export_of_the_weights_gets_their_confidence_model(tmp_path):
    from cleanpose_ros.core.confidence import carry_to_export

    weights, export, other = tmp_path / "net.pt", tmp_path / "out" / "net.onnx", tmp_path / "other.onnx"
    export.parent.mkdir()
    weights.write_bytes(b"weights")
    export.write_bytes(b"the same network, exported")
    other.write_bytes(b"something else")
    assert carry_to_export(weights, export) is None  # no model to carry
    cats, feats, labels = _synthetic(np.random.default_rng(1), 100)
    ConfidenceModel.fit(list(cats), feats, labels, weights_sha256=[file_sha256(weights)]).save(sidecar_path(weights))
    carried = carry_to_export(weights, export)
    assert carried == export.parent / "net.confidence.json"
    assert load_for_weights(export) is not None and load_for_weights(weights) is not None
    assert ConfidenceModel.load(carried).weights_sha256 == (file_sha256(weights), file_sha256(export))
    carried.rename(tmp_path / "other.confidence.json")
    assert load_for_weights(other) is None  # a file it was not made for
