"""Pickles the NOCS tool chain can read: protocol 3 with numpy globals spelled `numpy.core.*`.

numpy 2 pickles name `numpy._core.multiarray`, which numpy 1.x (what the public NOCS / DPDN /
CleanPose code runs on) cannot import; `numpy.core.*` resolves under both numpy 1 and 2.
"""
from __future__ import annotations

import io
import pickle
import pickletools
import warnings
from pathlib import Path
from typing import Any

_NEW_PREFIX = "numpy._core"
_OLD_PREFIX = "numpy.core"


def dumps_compatible(obj: Any) -> bytes:
    """Protocol-3 pickle whose GLOBAL opcodes use `numpy.core` instead of `numpy._core`."""
    raw = pickle.dumps(obj, protocol=3)
    out = io.BytesIO()
    last = 0
    for op, arg, pos in pickletools.genops(raw):
        if op.name == "GLOBAL" and isinstance(arg, str) and arg.startswith(_NEW_PREFIX):
            module, name = arg.split(" ", 1)
            end = raw.index(b"\n", raw.index(b"\n", pos) + 1) + 1  # GLOBAL = 'c' module '\n' name '\n'
            out.write(raw[last:pos])
            out.write(b"c" + (_OLD_PREFIX + module[len(_NEW_PREFIX):]).encode() + b"\n" + name.encode() + b"\n")
            last = end
    out.write(raw[last:])
    return out.getvalue()


def write_pickle(path: Path, obj: Any) -> None:
    """Atomic write (temp file + rename) so an interrupted run never leaves a half pickle."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(dumps_compatible(obj))
    tmp.replace(path)


def read_pickle(path: Path) -> Any:
    """Load a NOCS-style pickle under numpy 1 or 2 (silencing numpy 2's `numpy.core` deprecation)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
