"""``make fuzz``: every fuzz target under atheris, one after another; prints executions and crashes.

Each target runs in its own process (``run.py``) for its share of the runs,
reading and growing its corpus under ``tests/fuzz/corpus/TARGET`` (kept in
git: the inputs that reached new code).  A crash leaves its input under
``var/fuzz/`` and makes the campaign exit non-zero.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# Shares of the total: the rule-file loader (YAML + pydantic) runs about 500 inputs a second, the
# event parser about 30,000.
SHARES = {"events": 0.30, "addresses": 0.25, "verdicts": 0.25, "phones": 0.14, "rules": 0.06}
DONE = re.compile(r"Done (\d+) runs in (\d+) second")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="executions over all targets")
    parser.add_argument("targets", nargs="*", default=list(SHARES))
    args = parser.parse_args()
    crashes = ROOT / "var" / "fuzz"
    crashes.mkdir(parents=True, exist_ok=True)
    total_runs, failed = 0, []
    print(f"{'target':<10} {'runs':>10} {'seconds':>8} {'corpus':>7}  result")
    started = time.monotonic()
    for name in args.targets:
        corpus = HERE / "corpus" / name
        corpus.mkdir(parents=True, exist_ok=True)
        runs = max(1, round(args.runs * SHARES[name] / sum(SHARES[t] for t in args.targets)))
        clock = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(HERE / "run.py"), name, f"-runs={runs}", "-max_len=4096",
             f"-artifact_prefix={crashes}/{name}-", str(corpus)],
            cwd=ROOT, capture_output=True, text=True)
        found = DONE.search(done.stderr)
        executed = int(found.group(1)) if found else 0
        total_runs += executed
        ok = done.returncode == 0 and executed == runs
        if not ok:
            failed.append(name)
            (crashes / f"{name}.log").write_text(done.stderr)
        print(f"{name:<10} {executed:>10,} {time.monotonic() - clock:>8.1f} {len(list(corpus.iterdir())):>7}  "
              f"{'ok' if ok else f'CRASH (exit {done.returncode}; log: var/fuzz/{name}.log)'}")
    print(f"{'total':<10} {total_runs:>10,} {time.monotonic() - started:>8.1f}           "
          f"{len(failed)} crashing target(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
