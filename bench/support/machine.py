"""What the machine is doing, read from /proc (Linux); only looks: CPU by program, a process's CPU, the
kernel's dirty pages, and pressure-stall totals."""

from __future__ import annotations

import math
import os
import time

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_by_program() -> dict[str, float]:
    """CPU seconds used so far by this process, by every `asterisk` and every `postgres` process, and the
    machine's busy time (all cores)."""
    out = {"bench+daemon": time.process_time(), "asterisk": 0.0, "postgres": 0.0, "machine": math.nan}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name = stat[stat.find("(") + 1:stat.rfind(")")]
        if name in ("asterisk", "postgres"):
            fields = stat[stat.rfind(")") + 2:].split()
            out[name] += (int(fields[11]) + int(fields[12])) / _TICK
    try:
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
        out["machine"] = (sum(values) - values[3] - values[4]) / _TICK
    except (OSError, ValueError, IndexError):
        pass
    return out


def cpu_delta(before: dict[str, float], seconds: float) -> dict[str, float]:
    """Cores busy on average since `before`, per program."""
    after = cpu_by_program()
    return {name: (after[name] - before[name]) / seconds for name in before}


def cpu_text(busy: dict[str, float]) -> str:
    parts = [f"{name} {busy[name]:.2f}" for name in ("bench+daemon", "asterisk", "postgres", "machine")]
    return "cores busy: " + ", ".join(parts) + f" (of {os.cpu_count()})"


def cpu_since(before: dict[str, float], seconds: float) -> str:
    return cpu_text(cpu_delta(before, seconds))


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by one process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def kernel_dirty_mb() -> float:
    """Dirty + Writeback from /proc/meminfo, in MB: a bulk load's writes still to reach the disk."""
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return sum(int(fields[k].split()[0]) for k in ("Dirty", "Writeback")) / 1024.0
    except (OSError, KeyError, ValueError):
        return math.nan


def pressure() -> tuple[int, int] | None:
    """Pressure-stall totals (µs): time some task waited on I/O, and on CPU. None where unsupported."""
    try:
        totals = []
        for name in ("io", "cpu"):
            with open(f"/proc/pressure/{name}") as f:
                first = f.readline()  # the "some" line
            totals.append(int(first.rsplit("total=", 1)[1]))
        return totals[0], totals[1]
    except (OSError, IndexError, ValueError):
        return None


def pressure_since(before: tuple[int, int] | None) -> str:
    after = pressure()
    if before is None or after is None:
        return ""
    return f" [machine: I/O stall {(after[0] - before[0]) / 1000:.0f} ms, CPU stall {(after[1] - before[1]) / 1000:.0f} ms]"
