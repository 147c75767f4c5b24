"""``riskstream lists snooze`` and ``lists deny --publish`` on a real broker and a real worker: the named orders
are revised, the snoozed rule stops hitting the account until the expiry, the denied IP's next orders are
frozen, and the live decisions equal replay's with the same verdict file."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone

import orjson
import pytest
from click.testing import CliRunner

from riskstream.cli import main
from riskstream.harness import (
    DecisionTally,
    WorkerProcess,
    compressed_time_settings,
    publish_paced,
    replay_final,
    same_time_ties,
)
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.sim import simulate
from riskstream.testing import make_order
from riskstream.verdicts import read_verdicts

RULES = """
ruleset: {version: lists-live, thresholds: {review: 40, hold: 80}}
rules:
  - id: bulk-order
    match: {quantity: {ge: 5}}
    score: 80
  - id: bulk-order-review
    match: {quantity: {ge: 5}}
    score: 40
"""
DENIED_IP = "203.0.113.9"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")


def ts_of(event: dict) -> float:
    return datetime.fromisoformat(event["event_time"]).timestamp()


def wait(tally: DecisionTally, done, timeout: float) -> float:
    """Poll ``tally`` until ``done(tally.records)``; the seconds it took (fails the test after ``timeout``)."""
    started = time.monotonic()
    while not done(tally.records):
        if time.monotonic() - started > timeout:
            pytest.fail(f"{len(tally.records)} orders decided after {timeout} s")
        tally.poll()
    return time.monotonic() - started


def order_at(moment: float, order_id: str, **fields) -> dict:
    return make_order(order_id=order_id, event_time=iso(moment), **fields)


def cli(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def last_revision(records: list[dict]) -> dict:
    return max(records, key=lambda r: r["revision"])


def test_snooze_and_deny_from_the_cli_reach_a_running_worker(kafka_bootstrap, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "ruleset.yaml").write_text(RULES)
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=2)
    ensure_topics(kafka_bootstrap, topics)
    events = list(simulate(400, seed=14))
    first, second = events[:200], events[200:]
    t0 = ts_of(first[len(first) // 2])
    # Before the list entries: acct-a's bulk order is held, acct-c's order from the IP allowed.
    first += [order_at(t0, "a-held", account_id="acct-a", quantity=5),
              order_at(t0 + 0.001, "c-from-ip", account_id="acct-c", ip=DENIED_IP)]
    first.sort(key=ts_of)
    start = ts_of(first[-1]) + 0.001  # the entries take effect after the first part
    at, until = iso(start), iso(start + 3600)
    # After: inside the snooze, after it, another account, the denied IP.
    second += [order_at(start + 60, "a-snoozed", account_id="acct-a", quantity=5),
               order_at(start + 61, "b-not-snoozed", account_id="acct-b", quantity=5),
               order_at(start + 62, "d-denied-ip", account_id="acct-d", ip=DENIED_IP),
               order_at(start + 7200, "a-after-expiry", account_id="acct-a", quantity=5)]
    second.sort(key=ts_of)
    verdict_file = tmp_path / "verdicts.jsonl"
    worker = WorkerProcess(kafka_bootstrap, topics, f"rs-{suffix}", tmp_path, str(rules), compressed_time_settings())
    decisions = DecisionTally(kafka_bootstrap, topics.decisions)
    try:
        worker.start()
        worker.wait_ready()
        publish_paced(kafka_bootstrap, topics.orders, first, rate=2000)
        wait(decisions, lambda found: len(found) >= len(first), timeout=60)
        before = decisions.records
        assert before["a-held"][-1]["action"] == "hold" and before["c-from-ip"][-1]["action"] == "allow"

        common = ["--at", at, "--reviewer", "alice", "-o", verdict_file, "--publish", "-b", kafka_bootstrap,
                  "-t", topics.verdicts]
        cli("lists", "snooze", "bulk-order", "--account", "acct-a", "--order", "a-held", "--until", until,
            "--rules", rules, "--note", "wholesaler, confirmed by phone", *common)
        cli("lists", "deny", "--ip", DENIED_IP, "--order", "c-from-ip", *common)

        def revised(found) -> bool:
            return (last_revision(found["a-held"])["action"] == "allow"
                    and last_revision(found["c-from-ip"])["action"] == "freeze")

        seconds = wait(decisions, revised, timeout=15)
        print(f"list entries to revisions on risk-decisions: {seconds * 1000:.0f} ms")

        publish_paced(kafka_bootstrap, topics.orders, second, rate=2000)
        everything = len(first) + len(second)
        wait(decisions, lambda found: len(found) >= everything, timeout=60)
        time.sleep(2.0)  # revisions published after the last first decision
        decisions.poll()
    except BaseException:
        for log in sorted(tmp_path.glob("worker-*.log")):
            print(f"--- {log.name}:\n" + log.read_text(errors="replace")[-3000:])
        raise
    finally:
        worker.stop()
        decisions.close()

    live = {order: last_revision(records) for order, records in decisions.records.items()}
    assert live["a-snoozed"]["action"] == "review"  # bulk-order snoozed: only the review rule's 40 points
    assert "bulk-order" not in {r["rule"] for r in live["a-snoozed"]["reasons"]}
    assert live["b-not-snoozed"]["action"] == "hold" and live["a-after-expiry"]["action"] == "hold"
    assert live["d-denied-ip"]["action"] == "freeze"
    reason = next(r for r in live["d-denied-ip"]["reasons"] if r["kind"] == "verdict")
    assert reason["value"]["reason"] == "verdict by alice"

    # Live decisions equal replay's with the verdict file the commands appended to.
    verdicts = read_verdicts(verdict_file.read_bytes().splitlines(), str(verdict_file))
    assert [v.action.value for v in verdicts] == ["release", "freeze"] and verdicts[0].rule == "bulk-order"
    assert orjson.loads(verdict_file.read_bytes().splitlines()[1])["entities"][0]["kind"] == "ip"
    all_events = first + second
    offline = {o: d.action.label for o, d in replay_final(str(rules), all_events, verdicts).items()}
    assert sorted(live) == sorted(offline)
    differ = [o for o in offline if live[o]["action"] != offline[o]]
    assert [o for o in differ if not same_time_ties(o, all_events)] == []
