"""Where a running process spends its time: py-spy samples summed by stage and by part.

:class:`Sampler` attaches py-spy (a sampling profiler that reads the target's
memory from outside, so the target runs unchanged) to a process by pid and
records its Python stacks until stopped.  :func:`summarize` adds the samples
up two ways:

* **by part** - the innermost frame's code: the engine's windows and checks,
  its entity keys, its graph, its policy and records, the model, the stream
  stages' glue, Faust, the Kafka client, the asyncio loop...  C code (orjson,
  dict operations) counts for the Python function that called it;
* **by stage** - the outermost riskstream agent on the stack (``screen_orders``,
  ``count_touches``, ``link_accounts``, ``decide_orders`` in a worker); samples
  under none of them are the Kafka client's own tasks, timers and the loop.

``riskstream bench stream --profile`` runs it on the worker during the
throughput run.  py-spy is an optional dependency (``riskstream[bench]``).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

#: (part, path fragments of the innermost frame's file), first match wins.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("engine: windows and checks", ("/riskstream/engine/windows.py", "/riskstream/engine/checks.py")),
    ("engine: entity keys", ("/riskstream/normalize.py", "/riskstream/engine/order_view.py",
                             "/phonenumbers/")),
    ("engine: graph and escalation", ("/riskstream/graph/", "/riskstream/engine/clusters.py",
                                      "/riskstream/engine/escalation.py", "/riskstream/address_match.py")),
    ("engine: policy, events, records", ("/riskstream/engine/core.py", "/riskstream/decisions.py",
                                         "/riskstream/events.py")),
    ("model", ("/riskstream/model/", "/sklearn/", "/numpy/")),
    ("stages: routing and JSON", ("/riskstream/stream/",)),
    ("Faust and mode", ("/faust/", "/mode/")),
    ("Kafka client", ("/aiokafka/", "/kafka/")),
    ("asyncio loop", ("/asyncio/", "/selectors.py")),
)
OTHER = "other"

#: Agent coroutines of a worker (riskstream/stream/app.py), outermost first.
STAGES = ("screen_orders", "count_touches", "link_accounts", "decide_orders")
NO_STAGE = "outside the agents (client tasks, timers, loop)"


class ProfilerMissing(RuntimeError):
    pass


def py_spy() -> str:
    """The py-spy executable beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise ProfilerMissing("py-spy is not installed: pip install 'riskstream[bench]' (or pip install py-spy)")
    return found


class Sampler:
    """py-spy recording one process's stacks (``rate`` samples a second) into ``out``."""

    def __init__(self, pid: int, out: Path, rate: int = 100):
        self.pid, self.out, self.rate = pid, Path(out), rate
        self.process: subprocess.Popen | None = None
        self._log = self.out.with_suffix(".log")
        self._started = 0.0
        self._cpu_start = 0.0

    def start(self) -> None:
        command = [py_spy(), "record", "--pid", str(self.pid), "--format", "raw", "--full-filenames",
                   "--nonblocking", "--rate", str(self.rate), "--output", str(self.out)]
        with open(self._log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._started = time.monotonic()
        self._cpu_start = process_cpu_seconds(self.pid)

    def stop(self) -> dict[str, Any]:
        """Stop recording; the summary (see :func:`summarize`) with the wall and CPU seconds it covered."""
        assert self.process is not None, "start() first"
        wall = time.monotonic() - self._started
        cpu = process_cpu_seconds(self.pid) - self._cpu_start
        self.process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if not self.out.exists():
            raise RuntimeError(f"py-spy wrote no samples of pid {self.pid}: {self._log.read_text(errors='replace')[-800:]}")
        summary = summarize(self.out.read_text(errors="replace"))
        summary["stacks"] = str(self.out)  # py-spy's raw stacks, for flamegraph.pl or speedscope
        summary["wall_seconds"] = round(wall, 2)
        summary["cpu_seconds"] = round(cpu, 2)
        summary["cpu_busy"] = round(cpu / wall, 3) if wall > 0 else None
        summary["rate_hz"] = self.rate
        return summary


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)


def part_of(frame: str) -> str:
    """The part a frame's code belongs to; ``frame`` is py-spy's ``function (file:line)``."""
    start = frame.rfind(" (")
    path = frame[start + 2:] if start >= 0 else frame
    for part, fragments in PARTS:
        if any(fragment in path for fragment in fragments):
            return part
    return OTHER


def stage_of(frames: list[str]) -> str:
    """The outermost agent on a stack (root first)."""
    for frame in frames:
        if "/riskstream/stream/" not in frame:
            continue
        name = frame[: frame.find(" (")] if " (" in frame else frame
        # py-spy names a function by its qualified name: create_app.<locals>.decide_orders[.<locals>.<listcomp>]
        for segment in name.split("."):
            if segment in STAGES:
                return segment
    return NO_STAGE


def summarize(raw: str, top: int = 15) -> dict[str, Any]:
    """Sum py-spy's raw (collapsed) stacks, ``frame;frame;... count`` per line, root first.

    Returns ``samples``, ``by_part`` and ``by_stage`` (shares of all samples,
    largest first), ``stage_parts`` (each stage's samples by part, as shares of
    all samples) and ``top`` (the innermost functions with most samples).
    """
    parts: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    cells: dict[str, Counter[str]] = {}
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f]
        if not frames:
            continue
        leaf = frames[-1]
        part = part_of(leaf)
        stage = stage_of(frames)
        total += count
        parts[part] += count
        stages[stage] += count
        cells.setdefault(stage, Counter())[part] += count
        leaves[_short(leaf)] += count

    def shares(counter: Counter[str]) -> dict[str, float]:
        return {name: round(n / total, 4) for name, n in counter.most_common()} if total else {}

    return {
        "samples": total,
        "by_part": shares(parts),
        "by_stage": shares(stages),
        "stage_parts": {stage: shares(cells[stage]) for stage, _ in stages.most_common()},
        "top": [{"function": name, "share": round(n / total, 4)} for name, n in leaves.most_common(top)] if total else [],
    }


def _short(frame: str) -> str:
    """``function (file:line)`` with the file's path cut to its package-relative part."""
    start = frame.rfind(" (")
    if start < 0:
        return frame
    name, where = frame[:start], frame[start + 2:].rstrip(")")
    for marker in ("/site-packages/", "/lib/python3", "/work/"):
        cut = where.find(marker)
        if cut >= 0:
            where = where[cut + len(marker):]
            break
    if "/riskstream/" in where:
        where = where[where.find("/riskstream/") + 1:]
    return f"{name} ({where})"


def format_summary(summary: dict[str, Any]) -> list[str]:
    """The summary as lines of text: shares by stage, then by part, then the top functions."""
    lines = [f"{summary['samples']:,} samples over {summary.get('wall_seconds', '?')} s; "
             f"the process used {summary.get('cpu_busy', 0) or 0:.0%} of a core"]
    if "stacks" in summary:
        lines.append(f"raw stacks (for flamegraph.pl or speedscope): {summary['stacks']}")
    lines.append("by stage (outermost agent on the stack):")
    for stage, share in summary["by_stage"].items():
        lines.append(f"  {share:6.1%}  {stage}")
        for part, cell in summary["stage_parts"][stage].items():
            if cell >= 0.005:
                lines.append(f"      {cell:6.1%}  {part}")
    lines.append("by part (innermost frame):")
    lines.extend(f"  {share:6.1%}  {part}" for part, share in summary["by_part"].items())
    lines.append("top functions (innermost frame):")
    lines.extend(f"  {row['share']:6.1%}  {row['function']}" for row in summary["top"])
    return lines
