"""The processes of this machine as Linux's /proc shows them: parent, session, state and CPU time of each.

One reader for the places that need to know about processes they did not start themselves: the Triton
server's cleanup (the stubs tritonserver started) and the load test's CPU accounting (a child with everything
it started)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessStat:
    pid: int
    parent: int
    session: int
    state: str  # R, S, D, Z (ended, not reaped yet), ...
    cpu_seconds: float  # user + system

    @property
    def alive(self) -> bool:
        return self.state != "Z"


def _parse(pid: int, text: str, ticks: int) -> ProcessStat:
    # the command name (field 2) is in parentheses and may hold spaces: split after its closing one
    fields = text.rsplit(")", 1)[1].split()
    return ProcessStat(pid=pid, parent=int(fields[1]), session=int(fields[3]), state=fields[0],
                       cpu_seconds=(int(fields[11]) + int(fields[12])) / ticks)  # stat fields 3, 4, 6, 14, 15


def process_table() -> dict[int, ProcessStat]:
    """Every process now (those ending while read are left out)."""
    ticks = os.sysconf("SC_CLK_TCK")
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            table[pid] = _parse(pid, stat.read_text(), ticks)
        except (OSError, ValueError, IndexError):  # ended meanwhile
            continue
    return table


def process_stat(pid: int) -> ProcessStat | None:
    """One process, None once it is gone."""
    try:
        return _parse(pid, Path(f"/proc/{pid}/stat").read_text(), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for p in process_table().values():
        if p.alive:
            children.setdefault(p.parent, []).append(p.pid)
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found
