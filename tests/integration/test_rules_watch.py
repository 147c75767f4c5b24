"""`riskstream rules watch --publish` (live or shadow) on a real broker: a saved valid change reaches the rules control topic as a
record the workers accept, an invalid save publishes nothing and names its file, line and field."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest

from riskstream.harness import CommandProcess
from riskstream.kafka.control import read_control
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.rules import load_ruleset
from riskstream.rules.published import parse_published

ROOT = Path(__file__).resolve().parents[2]

BROAD = """rules:
  - id: freeze-every-flash-order
    match: {flash: true}
    outcome: freeze
"""
BAD = BROAD.replace("outcome: freeze", "outcome: obliterate")


@pytest.mark.parametrize("role", ["live", "shadow"])
def test_watch_publishes_valid_saves_only(kafka_bootstrap, tmp_path, role):
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    topic = f"risk-rules-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, Topics.from_env(rules=topic))
    shadow = ["--shadow"] if role == "shadow" else []
    watch = CommandProcess("rules", "watch", str(rules), "--publish", *shadow, "--bootstrap", kafka_bootstrap,
                           "--topic", topic)
    try:
        watch.until("watching")
        time.sleep(0.5)
        assert read_control(kafka_bootstrap, topic) == []  # the state at start is not published

        (rules / "zz-broad.yaml").write_text(BROAD)
        saved = time.perf_counter()
        lines = watch.until(f"  published {role} ruleset ")
        latency = time.perf_counter() - saved
        expected = load_ruleset(rules)
        assert lines[0].startswith(f"accepted ruleset {expected.version} ")
        records = read_control(kafka_bootstrap, topic)
        assert [key for key, _, _ in records] == [role.encode()]
        published = parse_published(records[0][1])  # what a worker does with it on arrival
        assert published.role == role and published.ruleset.digest == expected.digest
        assert "freeze-every-flash-order" in {rule.id for rule in published.ruleset.rules}
        assert latency < 5, f"save to acknowledged publish took {latency:.2f} s"
        print(f"{role}: save to acknowledged publish: {latency:.2f} s")

        (rules / "zz-broad.yaml").write_text(BAD)
        refused = watch.until("  ")
        assert refused[0] == f"rejected: 1 problem(s); still using ruleset {expected.version}"
        assert refused[1].startswith(f"  {rules / 'zz-broad.yaml'}:4: rules[0].outcome: ")
        time.sleep(1.0)
        assert len(read_control(kafka_bootstrap, topic)) == 1  # nothing published for the invalid save
    finally:
        code = watch.interrupt()
    assert code == 0
