"""Measured tables in the docs are the committed results, reproduced by the bench's documented command."""
from __future__ import annotations

import subprocess
import sys

from test.support.processes import ROOT

FLEET_JSON = ROOT / "bench" / "results" / "triton_fleet_2026-12-02.json"


def test_the_scaling_docs_load_test_table_is_the_committed_fleet_result():
    out = subprocess.run([sys.executable, "bench/bench_triton_fleet.py", "--replot", str(FLEET_JSON)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + 9, out  # header, rule, 3 camera counts x (1x2, 2x1, local)
    docs = (ROOT / "docs" / "scaling.md").read_text()
    missing = [row for row in rows if row not in docs]
    assert not missing, f"docs/scaling.md lacks these rows of the committed result: {missing}"
    assert {r.split("|")[1].strip() for r in rows[2:]} == {"1", "4", "8"}
