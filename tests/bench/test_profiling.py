"""Where a process spends its time: py-spy's stacks summed by stage and by part."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from riskstream.bench.profiling import (
    NO_STAGE,
    OTHER,
    ProfilerMissing,
    Sampler,
    format_summary,
    part_of,
    py_spy,
    stage_of,
    summarize,
)

SITE = "/venv/lib/python3.11/site-packages"
APP = "/src/riskstream/stream/app.py"


def frame(name: str, path: str, line: int = 1) -> str:
    return f"{name} ({path}:{line})"


def test_samples_are_summed_by_outermost_agent_and_innermost_part():
    loop = frame("BaseEventLoop._run_once", "/usr/lib/python3.11/asyncio/base_events.py")
    decide = frame("create_app.<locals>.decide_orders", APP, 265)
    decode = frame("create_app.<locals>.decide_orders.<locals>.<listcomp>", APP, 268)
    window = frame("VelocityWindow.add", "/src/riskstream/engine/windows.py", 130)
    count = frame("create_app.<locals>.count_touches", APP, 251)
    fetch = frame("Fetcher._fetch_requests_routine", f"{SITE}/aiokafka/consumer/fetcher.py")
    raw = "\n".join([
        f"{loop};{decide};{decode} 30",
        f"{loop};{decide};{frame('DecisionEngine.conclude', '/src/riskstream/engine/core.py')} 20",
        f"{loop};{count};{window} 10",
        f"{loop};{fetch} 25",
        f"{loop} 15",
        "not a stack line",
    ])

    summary = summarize(raw)

    assert summary["samples"] == 100
    assert summary["by_stage"] == {"decide_orders": 0.5, NO_STAGE: 0.4, "count_touches": 0.1}
    assert summary["by_part"] == {
        "stages: routing and JSON": 0.3, "Kafka client": 0.25, "engine: policy, events, records": 0.2,
        "asyncio loop": 0.15, "engine: windows and checks": 0.1,
    }
    assert summary["stage_parts"]["decide_orders"] == {"stages: routing and JSON": 0.3,
                                                      "engine: policy, events, records": 0.2}
    assert summary["stage_parts"][NO_STAGE] == {"Kafka client": 0.25, "asyncio loop": 0.15}
    assert summary["top"][0] == {"function": "create_app.<locals>.decide_orders.<locals>.<listcomp> "
                                             "(riskstream/stream/app.py:268)", "share": 0.3}
    text = "\n".join(format_summary(summary))
    assert "50.0%  decide_orders" in text and "25.0%  Kafka client" in text


def test_frames_outside_the_known_parts_and_agents_are_named_so():
    assert part_of(frame("thing", "/opt/lib/unknown.py")) == OTHER
    assert part_of(frame("phone_key", "/src/riskstream/normalize.py")) == "engine: entity keys"
    # an agent's name outside riskstream's stream package is not an agent
    assert stage_of([frame("decide_orders", "/elsewhere/app.py")]) == NO_STAGE
    assert summarize("")["samples"] == 0


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_real_process_is_sampled_where_it_works(tmp_path):
    """py-spy attached to a subprocess that replays simulated orders: the samples land in the engine."""
    script = (
        "from riskstream.assembly import load_engine\n"
        "from riskstream.offline.replay import replay\n"
        "from riskstream.sim import simulate\n"
        "import time\n"
        "orders = [(str(n), o) for n, o in enumerate(simulate(4000, seed=3))]\n"
        "print('ready', flush=True)\n"
        "end = time.monotonic() + 6\n"
        "while time.monotonic() < end:\n"
        "    replay(load_engine(None), orders)\n"
    )
    worker = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        sampler = Sampler(worker.pid, tmp_path / "profile.txt")
        cpu_before, wall_before = cpu_seconds(worker.pid), time.monotonic()
        sampler.start()
        time.sleep(3)
        cpu_share = (cpu_seconds(worker.pid) - cpu_before) / (time.monotonic() - wall_before)
        summary = sampler.stop()
    finally:
        worker.kill()
        worker.wait()
        worker.stdout.close()
    assert summary["samples"] >= 100  # 3 s at 100 a second, less start-up
    engine = sum(share for part, share in summary["by_part"].items() if part.startswith("engine"))
    assert engine > 0.5, summary["by_part"]
    assert summary["by_stage"] == {NO_STAGE: 1.0}
    # The share of samples that found the process on a CPU follows the CPU time the kernel gave it
    # (close to 1 on an idle machine, less when other processes take the cores).
    assert abs(summary["cpu_busy"] - cpu_share) < 0.25, (summary["cpu_busy"], cpu_share)
    assert 2 <= summary["wall_seconds"] < 10
    assert summary["stacks"] == str(tmp_path / "profile.txt") and (tmp_path / "profile.txt").stat().st_size > 0


def test_a_missing_profiler_is_named_with_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProfilerMissing, match=r"riskstream\[bench\]"):
        py_spy()

