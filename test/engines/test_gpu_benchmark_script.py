"""scripts/gpu_benchmark.sh, the one command a lent GPU machine runs, works end to end with tiny sizes
on the CPU: it writes the pipeline table with one row per engine and object count."""
import os
import subprocess
import sys

import pytest

from test.engines.conftest import ROOT

pytestmark = pytest.mark.slow


def test_gpu_benchmark_script_writes_the_table_with_tiny_sizes_on_cpu(tmp_path):
    env = dict(os.environ, BENCH_DEVICE="cpu", BENCH_CONFIGS="lite", BENCH_OBJECTS="1 2", BENCH_FRAMES="4",
               BENCH_CELL_S="1", BENCH_TIMEOUT_S="240", PYTHON=sys.executable)
    done = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_benchmark.sh"), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = [line for line in (tmp_path / "gpu_pipeline.md").read_text().splitlines() if line.startswith("| lite |")]
    # torch fp32 and traced on the CPU (fp16 needs CUDA), at 1 and 2 objects
    assert [(r.split("|")[2].strip(), int(r.split("|")[4])) for r in rows] == [
        ("torch fp32", 1), ("torch fp32", 2), ("torch fp32 jit", 1), ("torch fp32 jit", 2)]
    for r in rows:
        fps = float(r.rstrip(" |").split("|")[-1])
        assert fps > 0
