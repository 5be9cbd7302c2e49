"""scripts/reproduce.sh: the three documented commands (data, train, evaluate) and the study commands
refer only to files, configs and console scripts that exist."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "reproduce.sh"


def test_reproduce_script_parses_and_refers_to_real_things():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text()
    configs = set(re.findall(r"config/train/[\w/]+\.yaml", text))
    assert configs, "the script trains from config files"
    for config in configs:
        assert (ROOT / config).is_file(), config
    # study variants: config/train/$study/$variant.yaml for every variant the script names
    for study, variants in (("ablation", "agpose causal kd full"), ("debias", "agpose cleanpose")):
        assert f"set -- {variants}" in text
        for variant in variants.split():
            assert (ROOT / "config" / "train" / study / f"{variant}.yaml").is_file()
    registered = set(re.findall(r'"(cleanpose-[\w-]+) =', (ROOT / "setup.py").read_text()))
    used = set(re.findall(r'\$BIN/(cleanpose-[\w-]+)', text))
    assert used and used <= registered, used - registered


def test_training_doc_shows_the_three_commands():
    doc = (ROOT / "docs" / "training.md").read_text()
    for command in ("data", "train", "evaluate"):
        assert f"bash scripts/reproduce.sh {command}" in doc


def test_shipped_step_matches_the_committed_weights_and_state():
    """reproduce.sh train ships SHIPPED_STEP; the shipped weights and the committed training state are there."""
    import torch

    text = SCRIPT.read_text()
    step = int(re.search(r"^SHIPPED_STEP=(\d+)$", text, re.M).group(1))
    for script in re.findall(r"bash (scripts/[\w.]+\.sh)", text):
        assert (ROOT / script).is_file(), script
    weights = torch.load(ROOT / "weights" / "cleanpose_lite.pt", weights_only=True)
    state = torch.load(ROOT / "weights" / "training_state" / "lite_orient.pt", weights_only=True)
    assert weights["step"] == state["step"] == step
    assert weights["optimizer_state"] is None and "optimizer" in state["optimizer_state"]
    assert weights["extra"]["train_config"]["init_from"] == "weights/history/cleanpose_lite_legacy_step6000.pt"
