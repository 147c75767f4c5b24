"""`riskstream bench fuzzy`: replay with fuzzy address linking off and on, side by side, and detection."""

import orjson
from click.testing import CliRunner

from riskstream.assembly import load_engine
from riskstream.bench.address import _without_fuzzy, bench_fuzzy
from riskstream.cli import main
from riskstream.sim import write_jsonl


def test_the_shipped_rules_link_addresses_fuzzily_and_off_means_exact_only():
    ruleset = load_engine(None).ruleset
    assert ruleset.graph.fuzzy_addresses is not None and "address" in ruleset.graph.links
    off = _without_fuzzy(ruleset)
    assert off.graph.fuzzy_addresses is None and off.graph.links == ruleset.graph.links
    assert off.rules == ruleset.rules


def test_bench_fuzzy_prints_both_rates_their_ratio_and_detection(tmp_path):
    path = tmp_path / "orders.jsonl"
    write_jsonl(path, 3000, seed=4)
    result = bench_fuzzy(str(path), repeat=1, chunk=500)
    (run,) = result["runs"]
    assert run["off_orders_per_cpu_second"] > 0 and run["on_orders_per_cpu_second"] > 0
    assert result["on_to_off_time_ratio"] == run["on_to_off_time_ratio"] > 0
    assert result["state_fuzzy_on"]["graph_clusters"] > 0
    for side in ("off", "on"):
        detection = result["detection"][side]
        assert set(detection["blocked_recall"]) >= {"ring", "aged_ring", "sim_farm", "multi_reseller"}
        assert 0.0 <= detection["benign_held_share"] <= 0.01 and detection["benign_frozen"] == 0
    assert result["detection"]["on"]["blocked_recall"]["ring"] >= 0.9


def test_bench_fuzzy_cli_refuses_rules_without_fuzzy_linking(tmp_path):
    path = tmp_path / "orders.jsonl"
    write_jsonl(path, 200, seed=4)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ruleset.yaml").write_text(
        "ruleset: {version: t, thresholds: {review: 40, hold: 80}}\ngraph: {links: [device, address]}\nrules: []\n")
    out = CliRunner().invoke(main, ["bench", "fuzzy", str(path), "--rules", str(rules), "--repeat", "1"])
    assert out.exit_code != 0 and "fuzzy_addresses is not set" in out.output
    ok = CliRunner().invoke(main, ["bench", "fuzzy", str(path), "--repeat", "1", "--no-detection"])
    assert ok.exit_code == 0, ok.output
    assert orjson.loads(ok.stdout[: ok.stdout.rindex("}") + 1])["runs"]
