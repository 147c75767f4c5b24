"""Short fault scenarios on a real broker with real workers (``make chaos`` runs the long ones):
a broker SIGKILLed and restarted mid-stream, members of a group SIGKILLed, a corrupt state directory.
Each must lose no order, publish no conflicting decision and end equal to replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskstream.bench.faults import run_scenario

ROOT = Path(__file__).resolve().parents[2]


def check(outcome) -> None:
    print(outcome.to_dict())
    assert (outcome.lost, outcome.conflicting, outcome.drift) == (0, 0, 0), outcome.to_dict()
    assert outcome.faults >= 1 and outcome.recovery is not None and outcome.recovery < 30.0, outcome.to_dict()


def test_broker_bounce(make_local_kafka, tmp_path):
    """Down longer than the producer's request timeout: its batches fail, are retried, and it says so."""
    broker = make_local_kafka(heap="384m")
    broker.up(timeout=180)
    said: list[str] = []
    outcome = run_scenario("broker-bounce", broker.bootstrap, orders=1000, faults=1, broker=broker, seed=4,
                           rules=str(ROOT / "rules"), work_dir=tmp_path, rate=300.0, spacing=6.0,
                           outage=(11.0, 12.0), say=said.append)
    check(outcome)
    assert any("retrying in" in line for line in said), said
    assert any("sent" in note and "batches again" in note for note in outcome.notes), outcome.notes


@pytest.mark.parametrize("scenario, faults", [("rebalance", 2), ("corrupt-state", 1)])
def test_workers_killed_and_state_corrupted(kafka_bootstrap, tmp_path, scenario, faults):
    check(run_scenario(scenario, kafka_bootstrap, orders=1000, faults=faults, seed=6, rules=str(ROOT / "rules"),
                       work_dir=tmp_path, rate=300.0, spacing=6.0))
