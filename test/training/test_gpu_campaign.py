"""The GPU campaign script (scripts/gpu_campaign.sh) end to end on the CPU with tiny sizes: data,
teacher, both models trained, evaluated, learning curves written. The test fixes the steps per model
(CAMPAIGN_STEPS): with time shares, a slow or loaded machine left the second model no time (seen in CI);
and it trains without torch.compile and loader processes, which cost minutes on a 2-core CPU for 4 steps."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_campaign_runs_with_tiny_sizes_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "campaign"
    env = {**os.environ, "PYTHON": sys.executable, "CAMPAIGN_FRAMES": "8", "CAMPAIGN_TEST_FRAMES": "3",
           "CAMPAIGN_TEACHER_STEPS": "2", "CAMPAIGN_STEPS": "4",
           "CAMPAIGN_TRAIN_ARGS": "--no-compile --workers 0",
           "CAMPAIGN_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}
    env["CAMPAIGN_DATA"] = str(tmp_path / "data")
    done = subprocess.run(["bash", "scripts/gpu_campaign.sh", str(out), "3"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for model in ("lite", "mid"):
        weights = torch.load(out / f"cleanpose_{model}_gpu.pt", weights_only=True)
        assert weights["step"] == 4 and weights["optimizer_state"] is None
        metrics = json.loads((out / f"eval_{model}" / "metrics.json").read_text())
        assert metrics["num_frames"] == 3 and metrics["ap_tie_order"] == "expected"
        assert sum(metrics["num_gt"].values()) > 0
        assert (out / f"learning_curve_{model}.png").stat().st_size > 10_000
        assert (out / f"metrics_{model}.csv").read_text().startswith("step,")
        assert "compiled with torch.compile" not in (out / f"train_{model}.log").read_text()  # --no-compile reached it
    log = (out / "campaign.log").read_text()
    assert "campaign finished" in log and "lite: fixed 4 steps" in log and "mid: fixed 4 steps" in log

    # with time shares and no time left, the campaign says which models it skipped and fails
    env = {k: v for k, v in env.items() if k != "CAMPAIGN_STEPS"}
    env["CAMPAIGN_TOTAL_S"] = "1"
    late = subprocess.run(["bash", "scripts/gpu_campaign.sh", str(tmp_path / "late"), "3"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert late.returncode == 1, late.stdout[-3000:] + late.stderr[-3000:]
    assert "campaign incomplete: no time for lite mid" in (tmp_path / "late" / "campaign.log").read_text()
