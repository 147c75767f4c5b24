"""Rule sets switched at an event time: replay --rulesets, the published record, refusals."""

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from riskstream.cli import main
from riskstream.rules import RuleFileError, load_ruleset
from riskstream.rules.published import parse_published, publish_record

RULES_SHIPPED = Path(__file__).resolve().parents[2] / "rules"

BROAD = """
rules:
  - id: hold-every-flash-order
    description: a new rule published live
    match: {flash: true}
    outcome: hold
"""


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "orders.jsonl"
    assert run("simulate", "-n", 3000, "-s", 11, "-o", path).exit_code == 0
    return path


@pytest.fixture
def new_rules(tmp_path):
    rules = tmp_path / "new-rules"
    shutil.copytree(RULES_SHIPPED, rules)
    (rules / "zz-new.yaml").write_text(BROAD)
    return rules


def test_replay_switches_at_the_effective_time(history, new_rules, tmp_path):
    orders = [json.loads(line) for line in history.read_text().splitlines()]
    middle = sorted(o["event_time"] for o in orders)[len(orders) // 2]
    at = datetime.fromisoformat(middle)
    record = publish_record(new_rules, at)
    assert record["digest"] == load_ruleset(new_rules).digest
    (tmp_path / "rulesets.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    out = tmp_path / "d.jsonl"
    result = run("replay", history, "--rules", RULES_SHIPPED, "--rulesets", tmp_path / "rulesets.jsonl", "-o", out)
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in out.read_text().splitlines()]
    old, new = load_ruleset(RULES_SHIPPED).version, record["version"]
    assert old != new and new.endswith("+" + record["digest"][:8])
    first = [d for d in decisions if d["revision"] == 1]
    for d in first:
        after = datetime.fromisoformat(d["event_time"]) >= at
        assert d["ruleset_version"] == (new if after else old), d
        assert any(r["rule"] == "hold-every-flash-order" for r in d["reasons"]) <= after
    assert any(r["rule"] == "hold-every-flash-order" for d in first for r in d["reasons"])


def test_a_ruleset_that_changes_the_windows_is_refused(history, tmp_path):
    rules = tmp_path / "other-windows"
    shutil.copytree(RULES_SHIPPED, rules)
    (rules / "zz-window.yaml").write_text(
        "rules:\n  - id: ip-5m\n    velocity: {key: [ip], metric: count, window: 5m}\n    above: 50\n    score: 10\n")
    record = publish_record(rules, datetime(2026, 11, 11, tzinfo=timezone.utc))
    (tmp_path / "r.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    result = run("replay", history, "--rules", RULES_SHIPPED, "--rulesets", tmp_path / "r.jsonl")
    assert result.exit_code == 1
    assert "velocity windows differ from the running rule set's" in result.output


def test_a_tampered_record_is_refused_with_its_file_and_line(new_rules):
    record = publish_record(new_rules)
    record["files"]["zz-new.yaml"] = BROAD.replace("outcome: hold", "outcome: hodl")
    with pytest.raises(RuleFileError) as caught:
        parse_published(orjson.dumps(record))
    assert "zz-new.yaml:6: rules[0].outcome:" in str(caught.value)
    record["files"]["zz-new.yaml"] = BROAD.replace("hold-every", "hold-each")
    with pytest.raises(RuleFileError, match="digest: the files hash to"):
        parse_published(orjson.dumps(record))


def test_publish_refuses_invalid_rules_with_the_errors_of_check(new_rules):
    (new_rules / "zz-new.yaml").write_text(BROAD.replace("outcome: hold", "outcome: hodl"))
    check = run("rules", "check", new_rules)
    publish = run("rules", "publish", new_rules, "--bootstrap", "127.0.0.1:1")  # never reached
    assert check.exit_code == publish.exit_code == 1
    problem = check.output.splitlines()[0]
    assert problem.startswith(f"{new_rules}/zz-new.yaml:6: rules[0].outcome:")
    assert problem.split("/")[-1] in publish.output and "nothing published" in publish.output


def test_a_shadow_ruleset_runs_beside_and_diff_counts_it(history, new_rules, tmp_path):
    orders = [json.loads(line) for line in history.read_text().splitlines()]
    at = datetime.fromisoformat(sorted(o["event_time"] for o in orders)[len(orders) // 2])
    record = publish_record(new_rules, at, role="shadow")
    (tmp_path / "rulesets.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    out = tmp_path / "d.jsonl"
    result = run("replay", history, "--rules", RULES_SHIPPED, "--rulesets", tmp_path / "rulesets.jsonl", "-o", out)
    assert result.exit_code == 0, result.output
    decisions = [json.loads(line) for line in out.read_text().splitlines()]
    old = load_ruleset(RULES_SHIPPED).version
    assert all(d["ruleset_version"] == old for d in decisions)  # the live rules decide
    assert not any(r["rule"] == "hold-every-flash-order" for d in decisions for r in d["reasons"])
    judged = [d for d in decisions if d.get("shadow_ruleset")]
    assert judged and all(datetime.fromisoformat(d["event_time"]) >= at for d in judged)
    assert all(d["shadow_ruleset"]["version"] == record["version"] for d in judged)
    flash_allowed = [d for d in judged if d["action"] == "allow" and "hold-every-flash-order" in d["shadow_ruleset"]["rules"]]
    assert flash_allowed and all(d["shadow_ruleset"]["action"] == "hold" for d in flash_allowed)

    result = run("rules", "diff", "--input", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    final = {}
    for d in decisions:
        final[d["order_id"]] = d
    assert summary["orders"] == len({d["order_id"] for d in judged})
    assert summary["live"]["allow"] == sum(1 for o in {d["order_id"] for d in judged} if final[o]["action"] == "allow")
    assert summary["rules_only_in_shadow"]["hold-every-flash-order"] >= len(flash_allowed)
    crossed = {(c["live"], c["shadow"]): c["orders"] for c in summary["crossing"]}
    assert crossed[("allow", "hold")] >= len({d["order_id"] for d in flash_allowed if final[d["order_id"]]["action"] == "allow"})
    text = run("rules", "diff", "--input", out).output
    assert "orders whose outcome the shadow changes" in text and record["version"] in text
