"""The mass-freeze safety cap through `riskstream replay`: the shipped rules plus a rule that freezes everything."""

import json
import shutil
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from riskstream.cli import main

RULES_SHIPPED = Path(__file__).resolve().parents[2] / "rules"
ACCOUNTS_CAP = 4
RATE_CAP = 25

BROAD = """
rules:
  - id: freeze-every-flash-order
    description: too broad on purpose - every flash order is frozen
    match: {flash: true}
    outcome: freeze
"""


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "orders.jsonl"
    result = run("simulate", "-n", 6000, "-s", 7, "-o", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture
def broad_rules(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES_SHIPPED, rules)
    header = (rules / "ruleset.yaml").read_text()
    assert "max_cluster_accounts: 500" in header and "max_freezes_per_minute: 10000" in header
    header = header.replace("max_cluster_accounts: 500", f"max_cluster_accounts: {ACCOUNTS_CAP}")
    (rules / "ruleset.yaml").write_text(header.replace("max_freezes_per_minute: 10000", f"max_freezes_per_minute: {RATE_CAP}"))
    (rules / "zz-broad.yaml").write_text(BROAD)
    return rules


def replay(history, rules, out):
    result = run("replay", history, "--rules", rules, "-o", out)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text().splitlines()]


def last_revisions(decisions):
    out = {}
    for d in decisions:
        if d["order_id"] not in out or d["revision"] > out[d["order_id"]]["revision"]:
            out[d["order_id"]] = d
    return out


def test_a_broad_rule_cannot_freeze_a_sale(history, broad_rules, tmp_path):
    decisions = replay(history, broad_rules, tmp_path / "d1.jsonl")
    final = last_revisions(decisions)
    flash = [d for d in final.values() if any(r["rule"] == "freeze-every-flash-order" for r in d["reasons"])]
    assert len(flash) > 500
    capped = [d for d in flash if any(r["kind"] == "safety_cap" for r in d["reasons"])]
    frozen = [d for d in flash if d["action"] == "freeze"]
    assert all(d["action"] in ("hold", "freeze") for d in flash)  # still stopped
    assert capped and all(d["action"] == "hold" for d in capped)
    assert len(frozen) + len(capped) == len(flash)
    limits = Counter(next(r for r in d["reasons"] if r["kind"] == "safety_cap")["value"]["limit"] for d in capped)
    assert limits["max_cluster_accounts"] > 0 and limits["max_freezes_per_minute"] > 0, limits
    # No freeze of a cluster past the cap, and no minute of event time with more freezes than the cap.
    assert all((d.get("cluster") or {}).get("size", 1) <= ACCOUNTS_CAP for d in frozen)
    times = sorted(datetime.fromisoformat(d["event_time"]).timestamp() for d in frozen)
    assert max(sum(1 for u in times[i:] if u < t + 60) for i, t in enumerate(times)) <= RATE_CAP
    # Every freeze a reviewer never sees would be a hold they do see.
    for d in capped:
        reason = next(r for r in d["reasons"] if r["kind"] == "safety_cap")
        assert reason["outcome"] == "hold" and reason["value"]["would_be"] == "freeze"
    # Replay reproduces the cap exactly.
    again = replay(history, broad_rules, tmp_path / "d2.jsonl")
    strip = [{k: v for k, v in d.items() if k != "decided_at"} for d in decisions]
    assert strip == [{k: v for k, v in d.items() if k != "decided_at"} for d in again]


def test_the_shipped_caps_leave_the_shipped_rules_alone(history, tmp_path):
    decisions = replay(history, RULES_SHIPPED, tmp_path / "d.jsonl")
    assert any(d["action"] == "freeze" for d in decisions)
    assert not any(r["kind"] == "safety_cap" for d in decisions for r in d["reasons"])


def test_a_cap_of_zero_is_refused_with_its_place(tmp_path):
    (tmp_path / "r.yaml").write_text("ruleset:\n  safety:\n    max_freezes_per_minute: 0\n")
    result = run("rules", "check", tmp_path / "r.yaml")
    assert result.exit_code == 1
    assert "r.yaml:3: ruleset.safety.max_freezes_per_minute: Input should be greater than or equal to 1" in result.output
