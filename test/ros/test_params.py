"""NodeConfig: one set of defaults (code == config/cleanpose.yaml), strict validation."""
from __future__ import annotations

from pathlib import Path

import pytest

from cleanpose_ros.core.config import to_dict
from cleanpose_ros.core.errors import ConfigError
from cleanpose_ros.ros.params import NodeConfig, config_from_parameters, load_node_config, nest, parameter_specs

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_yaml_equals_code_defaults():
    assert load_node_config(ROOT / "config" / "cleanpose.yaml") == NodeConfig()


def test_specs_cover_every_leaf_and_round_trip():
    specs = list(parameter_specs())
    names = [s.name for s in specs]
    assert len(names) == len(set(names)) == 50
    assert "sync.slop_ms" in names and "output.tf_prefix" in names and "filters.enabled_categories" in names
    assert all(s.help for s in specs)
    assert nest({s.name: s.default for s in specs}) == to_dict(NodeConfig())
    cfg = config_from_parameters({s.name: s.default for s in specs} | {"sync.max_age_ms": 250, "output.tf_prefix": "obj/"})
    assert cfg.sync.max_age_ms == 250.0 and cfg.output.tf_prefix == "obj/"


@pytest.mark.parametrize("name, value, message", [
    ("sync.slop_ms", -1.0, "slop_ms must be in"),
    ("sync.input_qos", "fast", "not one of"),
    ("inference.engine", "tensorrt", "not one of"),
    ("inference.pose_source", "average", "pose_source must be one of"),
    ("filters.min_depth_m", 5.0, "min_depth_m < max_depth_m"),
    ("filters.score_threshold", "high", "expected a number"),
    ("output.tf_prefix", "/abs", "must not start with '/'"),
    ("sync.slop", 3.0, "unknown key"),
    ("cameras", ["cam0", "cam0"], "names a camera twice"),
    ("cameras", ["cam0", "/abs"], "not relative ROS names"),
    ("cameras", ["", "cam1"], "not relative ROS names"),
    ("cameras", [], "at least one camera"),
])
def test_invalid_values_are_refused_with_their_name(name, value, message):
    with pytest.raises(ConfigError, match=message) as e:
        config_from_parameters({name: value})
    assert name.split(".")[0] in str(e.value)


def test_every_refusal_reason_is_documented_with_its_counter():
    """docs/interfaces.md lists every reason /diagnostics counts (as rejected_<reason>)."""
    from cleanpose_ros.ros.diagnostics import REJECT_REASONS

    text = (ROOT / "docs" / "interfaces.md").read_text()
    assert "rejected_<reason>" in text
    assert [r for r in REJECT_REASONS if f"`{r}`" not in text] == []


def test_tool_node_config_applies_only_the_given_overrides(tmp_path):
    from cleanpose_ros.ros.params import tool_node_config

    assert tool_node_config() == NodeConfig()
    cfg = tool_node_config(None, seed=7, engine=None, pose_source="direct")
    assert cfg.inference.seed == 7 and cfg.inference.engine == "onnx" and cfg.inference.pose_source == "direct"
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters:\n    inference: {seed: 3, num_threads: 2}\n")
    cfg = tool_node_config(params, num_threads=None, seed=None)
    assert (cfg.inference.seed, cfg.inference.num_threads) == (3, 2)  # the file's values stay when not overridden
