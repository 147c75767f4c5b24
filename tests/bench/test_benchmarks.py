"""The side-by-side replay that `bench graph` compares with: chunked, it must replay exactly what replay does."""

from riskstream.assembly import load_engine
from riskstream.bench.graph import lockstep_replay
from riskstream.engine import DecisionEngine
from riskstream.offline.history import read_records
from riskstream.offline.replay import replay
from riskstream.sim import write_jsonl


def test_lockstep_replay_runs_every_order_through_each_engine_in_turns(tmp_path):
    path = tmp_path / "orders.jsonl"
    orders = write_jsonl(path, 3000, seed=7)
    ruleset = load_engine(None).ruleset
    assert ruleset.graph is not None
    engines = {"off": lambda: DecisionEngine(ruleset.without_graph()), "on": lambda: DecisionEngine(ruleset)}

    sides = lockstep_replay(str(path), engines, chunk=128)

    for name, make in engines.items():
        whole = make()
        replay(whole, read_records([str(path)]))
        side = sides[name]
        assert side["orders"] == orders
        assert len(side["chunks"]) == -(-orders // 128)  # every side took every turn
        assert all(seconds >= 0 for seconds in side["chunks"]) and side["cpu_seconds"] > 0
        assert side["state"] == whole.state_size()  # the chunked replay ends where a plain one does
    assert sides["on"]["state"]["graph_clusters"] > 0
