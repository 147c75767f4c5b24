"""Replay speed of this tree beside a baseline commit's, in one run.

The baseline is checked out in a temporary git worktree and run from it
(``PYTHONPATH`` set to that worktree, its own bundled rules, the same Python
and installed dependencies); this tree runs twice, on its native state core
and on pure Python (``RISKSTREAM_NATIVE=0``).  Runs take turns (baseline,
native, pure, then again) so that all meet the same load of a shared machine,
and each side's rate is its best over the repeats, in orders per CPU second of
the replay process (user + system time from ``wait4``), which a busy neighbour
disturbs less than wall time.  The native and pure-Python decisions are
compared too: they must be identical but for the wall-clock ``decided_at``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

RUN = "import sys; from riskstream.cli import main; sys.argv[0] = 'riskstream'; main()"
_ORDERS = re.compile(r"orders ([\d,]+)")


def repository_root() -> Path:
    """The git checkout this riskstream package was imported from."""
    here = Path(__file__).resolve().parent
    done = subprocess.run(["git", "-C", str(here), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"riskstream is not run from a git checkout ({here}): no baseline to compare with")
    return Path(done.stdout.strip())


def same_decisions(a: str, b: str) -> tuple[bool, int]:
    """Whether two decision files are identical but for ``decided_at``; and how many lines they hold."""
    lines = 0
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for la, lb in zip(fa, fb, strict=False):
            lines += 1
            da, db = orjson.loads(la), orjson.loads(lb)
            da.pop("decided_at", None)
            db.pop("decided_at", None)
            if da != db:
                return False, lines
        if fa.readline() or fb.readline():
            return False, lines
    return True, lines


def compare_trees(path: str, baseline: str = "7e60840", repeat: int = 2) -> dict[str, Any]:
    """Replay ``path`` with the baseline commit, this tree native and this tree pure Python."""
    root = repository_root()
    work = Path(tempfile.mkdtemp(prefix="riskstream-bench-"))
    base_tree = work / "baseline"
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(base_tree), baseline],
                   check=True, capture_output=True)
    try:
        commit = subprocess.run(["git", "-C", str(base_tree), "rev-parse", "--short", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        sides = {
            "baseline": (base_tree, {"RISKSTREAM_NATIVE": "0"}),
            "native": (root, {"RISKSTREAM_NATIVE": "1"}),
            "pure": (root, {"RISKSTREAM_NATIVE": "0"}),
        }
        best: dict[str, dict[str, Any]] = {}
        for turn in range(repeat):
            for name, (tree, env) in sides.items():
                output = str(work / f"{name}.jsonl") if turn == 0 and name != "baseline" else os.devnull
                run = replay_run(tree, path, output, env)
                if name not in best or run["cpu_seconds"] < best[name]["cpu_seconds"]:
                    best[name] = run
        identical, lines = same_decisions(str(work / "native.jsonl"), str(work / "pure.jsonl"))
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(base_tree)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    rates = {name: round(run["orders"] / run["cpu_seconds"]) for name, run in best.items()}
    return {
        "input": path,
        "baseline_commit": commit,
        "conditions": f"`riskstream replay INPUT -o FILE` from each tree, one process each, taking turns; best of "
                      f"{repeat}; orders per CPU second (user + system) of the replay process; each tree's own "
                      "bundled rules, no model",
        "orders": best["native"]["orders"],
        "orders_per_cpu_second": rates,
        "wall_seconds": {name: round(run["wall_seconds"], 2) for name, run in best.items()},
        "native_to_baseline": round(rates["native"] / rates["baseline"], 2),
        "pure_to_baseline": round(rates["pure"] / rates["baseline"], 2),
        "native_to_pure": round(rates["native"] / rates["pure"], 2),
        "native_and_pure_decisions_identical": identical,
        "decision_lines_compared": lines,
    }


def replay_run(tree: Path, path: str, output: str, env: dict[str, str]) -> dict[str, Any]:
    """One ``riskstream replay`` of ``path`` from ``tree``: orders, wall and CPU seconds."""
    full = {**os.environ, **env, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN, "replay", os.path.abspath(path), "-o", output],
                            cwd=tree, env=full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"replay from {tree} failed with status {proc.returncode}")
    found = _ORDERS.search(out)
    if found is None:
        raise RuntimeError(f"replay from {tree} printed no order count: {out!r}")
    return {"orders": int(found.group(1).replace(",", "")), "wall_seconds": wall,
            "cpu_seconds": usage.ru_utime + usage.ru_stime}
