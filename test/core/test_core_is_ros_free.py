"""The core must run without ROS or torch: importing it may not pull in rclpy, messages or torch."""
import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "cleanpose_ros" / "core"
FORBIDDEN_ROOTS = {"rclpy", "torch", "onnxruntime", "builtin_interfaces"}


def _forbidden(name: str) -> bool:
    root = name.split(".")[0]
    return root in FORBIDDEN_ROOTS or root.endswith("_msgs")


def test_no_module_under_core_imports_ros_or_torch_statically():
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.name}:{node.lineno} imports {n}" for n in names if _forbidden(n)]
    assert not offenders, offenders


def test_importing_every_core_module_loads_no_ros_or_torch():
    mods = [f"cleanpose_ros.core.{p.stem}" for p in sorted(CORE.glob("*.py")) if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'rclpy', 'torch', 'onnxruntime'} "
        "or m.split('.')[0].endswith('_msgs'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"core pulled in: {out}"
