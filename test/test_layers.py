"""Imports flow one way: core at the bottom, tools and ros at the top (docs/architecture.md).

Every import of a cleanpose_ros module (absolute or relative, at module level or inside a function) is
parsed from the source; an import of a package that sits above the importing one fails the test.
KNOWN_UPWARD lists the imports still to be moved, each by file, so a new one cannot slip in.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cleanpose_ros"
#: lower number = lower layer; a module may import its own layer and the ones below
LAYERS = {"core": 0, "resources": 0, "metrics": 1, "data": 1, "interop": 1, "model": 2, "engines": 3,
          "evaluation": 4, "verification": 4, "bags": 4, "training": 4, "ros": 5, "tools": 6}
#: imports still to be moved, as (file, package); empty since the rosbag tools take the message layouts from interop/
KNOWN_UPWARD: set[tuple[str, str]] = set()


def _imports(path: Path) -> set[str]:
    """Top-level packages of cleanpose_ros that `path` imports."""
    rel = path.relative_to(PACKAGE).parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(rel[:-1])[: max(len(rel) - node.level, 0)]
            target = base + (node.module.split(".") if node.module else [])
            if target:
                found.add(target[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cleanpose_ros."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("cleanpose_ros."))
    return {f.removesuffix(".py") for f in found}


def upward_imports() -> set[tuple[str, str]]:
    bad = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0].removesuffix(".py")
        if own not in LAYERS:
            continue
        for target in _imports(path):
            if target in LAYERS and LAYERS[target] > LAYERS[own]:
                bad.add((rel.as_posix(), target))
    return bad


def test_no_module_imports_one_above_it():
    found = upward_imports()
    assert found - KNOWN_UPWARD == set(), f"upward imports: {sorted(found - KNOWN_UPWARD)}"
    assert KNOWN_UPWARD - found == set(), f"fixed, remove from KNOWN_UPWARD: {sorted(KNOWN_UPWARD - found)}"


def test_every_package_has_a_layer():
    packages = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.name != "__init__.py" and
                (p.is_dir() and (p / "__init__.py").exists() or p.suffix == ".py")}
    assert packages <= set(LAYERS), packages - set(LAYERS)
