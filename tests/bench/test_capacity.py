"""The performance report's parts on a small simulated file: every order counted, stages that
decide what replay decides, the graph stage releasing every order, and the capacity arithmetic."""

import orjson

from riskstream.bench.capacity import capacity_model, graph_stage_rate, stage_costs
from riskstream.bench.trees import same_decisions
from riskstream.sim import write_jsonl


def test_stage_costs_and_graph_stage_take_every_order(tmp_path):
    path = tmp_path / "orders.jsonl"
    orders = write_jsonl(path, 2000, seed=5)
    costs = stage_costs(str(path), repeat=1)
    assert costs["orders"] == orders
    assert set(costs["micros_per_order"]) == {"parse and validate", "entity keys", "graph", "windows",
                                              "rules, policy and record"}
    assert all(v > 0 for v in costs["micros_per_order"].values())
    graph = graph_stage_rate(str(path), batch=300, repeat=1)
    assert graph["orders"] == graph["released"] == orders  # the last batch's watermark releases the rest
    assert graph["links"] > orders  # most orders bring several new links


def test_capacity_counts_workers_and_a_core_for_the_graph():
    model = capacity_model(100_000, engine_micros=60.0, stream_micros=20.0, graph_orders_per_second=200_000)
    assert model["workers"] == 8 + 1 and model["graph_stage_fits_one_core"]
    assert model["capped_at_orders_per_second"] is None
    slow_graph = capacity_model(100_000, engine_micros=60.0, stream_micros=None, graph_orders_per_second=50_000)
    assert slow_graph["partitioned_workers"] == 6 and not slow_graph["graph_stage_fits_one_core"]
    assert slow_graph["capped_at_orders_per_second"] == 50_000 and slow_graph["graph_stage_core_share"] == 2.0


def test_decision_files_compare_without_the_decision_clock(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(orjson.dumps({"order_id": "o1", "action": "allow", "decided_at": "x"}) + b"\n")
    b.write_bytes(orjson.dumps({"order_id": "o1", "action": "allow", "decided_at": "y"}) + b"\n")
    assert same_decisions(str(a), str(b)) == (True, 1)
    b.write_bytes(orjson.dumps({"order_id": "o1", "action": "hold", "decided_at": "y"}) + b"\n")
    assert same_decisions(str(a), str(b)) == (False, 1)
