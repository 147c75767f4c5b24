"""``riskstream bench report``: the performance figures side by side, in one run.

Replay of this tree (native and pure Python) beside a baseline commit, the
engine's cost per order by step, the graph stage's rate, memory per active
entity, optionally a worker's stream drain beside an aiokafka pass-through
with latency at set rates, and a capacity model: worker processes for a
target rate from the measured costs.
"""

from __future__ import annotations

from typing import Any, Callable

from .. import native
from .capacity import capacity_model, graph_stage_rate, memory_per_entity, stage_costs
from .trees import compare_trees

Say = Callable[[str], None]


def bench_report(path: str, *, baseline: str = "7e60840", repeat: int = 2, memory_orders: int = 400_000,
                 stream: dict[str, Any] | None = None, target: float = 100_000.0,
                 say: Say = lambda line: None) -> dict[str, Any]:
    """Every figure; ``stream`` holds :func:`~riskstream.bench.stream.bench_stream` options to run it too."""
    out: dict[str, Any] = {"state_core": native.implementation()}
    say(f"replay: baseline {baseline}, this tree native and pure Python ({repeat} turns)")
    out["replay"] = compare_trees(path, baseline, repeat)
    say("engine steps, native and pure Python")
    out["stages"] = {"native": stage_costs(path, repeat=repeat)}
    with native.pure_python():
        out["stages"]["pure"] = stage_costs(path, repeat=repeat)
    say("graph stage, native and pure Python")
    out["graph_stage"] = {"native": graph_stage_rate(path, repeat=repeat + 1)}
    with native.pure_python():
        out["graph_stage"]["pure"] = graph_stage_rate(path, repeat=repeat + 1)
    say("memory per active entity, native and pure Python")
    out["memory"] = {"native": memory_per_entity(memory_orders), "pure": memory_per_entity(memory_orders, pure=True)}
    stream_micros = None
    if stream is not None:
        from .stream import bench_stream

        say("stream: worker and pass-through through the broker")
        out["stream"] = bench_stream(report=say, **stream)
        drained = _drain_rate(out["stream"])
        if drained:
            stream_micros = max(0.0, 1e6 / drained - out["stages"]["native"]["total_micros_per_order"])
    out["capacity"] = capacity_model(target, out["stages"]["native"]["total_micros_per_order"], stream_micros,
                                     out["graph_stage"]["native"]["orders_per_cpu_second"])
    return out


def _drain_rate(stream: dict[str, Any]) -> float | None:
    """The worker's sustained orders/s in the stream bench's throughput run, if it ran."""
    worker = stream.get("worker") or {}
    throughput = worker.get("throughput") or {}
    rate = throughput.get("orders_per_second")
    return float(rate) if rate else None


def summary(report: dict[str, Any]) -> list[str]:
    """The figures as lines of text, next to the targets."""
    r, lines = report["replay"], []
    rates = r["orders_per_cpu_second"]
    lines.append(f"replay ({r['orders']:,} orders, orders per CPU second): baseline {r['baseline_commit']} "
                 f"{rates['baseline']:,} | native {rates['native']:,} ({r['native_to_baseline']}x) | pure "
                 f"{rates['pure']:,} ({r['pure_to_baseline']}x)   target 4x; native and pure decisions "
                 f"{'identical' if r['native_and_pure_decisions_identical'] else 'DIFFERENT'}")
    for side in ("native", "pure"):
        st = report["stages"][side]
        parts = ", ".join(f"{k} {v}" for k, v in st["micros_per_order"].items())
        lines.append(f"engine us/order ({side}): {parts}; total {st['total_micros_per_order']}")
    for side in ("native", "pure"):
        g = report["graph_stage"][side]
        lines.append(f"graph stage ({side}): {g['orders_per_cpu_second']:,} orders/s, {g['links_per_cpu_second']:,} "
                     f"links/s   target 100,000 link events/s")
    for side in ("native", "pure"):
        m = report["memory"][side]
        lines.append(f"memory ({side}): {m['bytes_per_entity']} bytes per active entity, 10M entities "
                     f"{m['ten_million_entities_gib']} GiB   target 4 GiB")
    if "stream" in report:
        st = report["stream"]
        lines.append(f"stream drain: worker {st['worker']['throughput']['orders_per_second']:,.0f} orders/s, "
                     f"pass-through {st['passthrough']['throughput']['orders_per_second']:,.0f} orders/s, ratio "
                     f"{st['ratio_to_passthrough']}   target 0.5")
        for name, run in st["worker"].items():
            if name.startswith("latency_at_"):
                lines.append(f"stream latency at {run['published_per_second']:,.0f}/s: p50 {run['latency_ms']['p50']} "
                             f"ms, p99 {run['latency_ms']['p99']} ms, missing {run['missing']}")
    c = report["capacity"]
    cap = "" if c["graph_stage_fits_one_core"] else f", so the graph caps the whole at {c['capped_at_orders_per_second']:,}/s"
    stream = "" if c["stream_micros_per_order"] is not None else " (engine only: no stream drain measured)"
    lines.append(f"capacity for {c['target_orders_per_second']:,.0f} orders/s: {c['workers']} worker processes "
                 f"({c['worker_micros_per_order']} us per order per worker{stream}; graph stage "
                 f"{c['graph_stage_core_share']} of a core{cap})   target 8")
    return lines
