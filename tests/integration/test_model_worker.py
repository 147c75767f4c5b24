"""The supervised model in a real worker on a real broker: every decision carries its version and the
score replay gives the same order, micro-batched as the decide agent receives them."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import orjson
import pytest

from riskstream.assembly import load_engine, load_scoring
from riskstream.harness import DecisionTally, WorkerProcess, compressed_time_settings, publish_paced, same_time_ties
from riskstream.kafka.topics import Topics, ensure_topics
from riskstream.model import load_model
from riskstream.model.supervised import train_supervised
from riskstream.model.train import read_history
from riskstream.offline.replay import ReplayReport, decide_records
from riskstream.sim import simulate

ROOT = Path(__file__).resolve().parents[2]
RULES = str(ROOT / "rules")


def test_a_worker_scores_with_the_supervised_model_as_replay_does(kafka_bootstrap, tmp_path):
    training = [orjson.dumps(e) for e in simulate(3000, seed=5)]
    history = read_history(load_engine(RULES), ((f"t:{n}", line) for n, line in enumerate(training)), "label")
    artefact = tmp_path / "supervised.skops"
    train_supervised(history, str(artefact), label_field="label", iterations=30, seed=1)
    version = load_model(artefact).version

    events = list(simulate(600, seed=12))
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(orders=f"orders-{suffix}", decisions=f"decisions-{suffix}", review=f"review-{suffix}",
                    dlq=f"dlq-{suffix}", verdicts=f"verdicts-{suffix}", partitions=2)
    ensure_topics(kafka_bootstrap, topics)
    settings = compressed_time_settings() | {"RISKSTREAM_MODEL": str(artefact)}
    worker = WorkerProcess(kafka_bootstrap, topics, f"rs-{suffix}", tmp_path, RULES, settings)
    decisions = DecisionTally(kafka_bootstrap, topics.decisions)
    try:
        worker.start()
        worker.wait_ready()
        publish_paced(kafka_bootstrap, topics.orders, events, rate=2000)
        started = time.monotonic()
        while decisions.poll() < len(events):
            if time.monotonic() - started > 90:
                pytest.fail(f"{len(decisions.records)} of {len(events)} orders decided after 90 s")
        time.sleep(2.0)  # escalations published after the last first decision
        decisions.poll()
    except BaseException:
        for log in sorted(tmp_path.glob("worker-*.log")):
            print(f"--- {log.name}:\n" + log.read_text(errors="replace")[-3000:])
        raise
    finally:
        worker.stop()
        decisions.close()

    engine = load_engine(RULES)
    scoring = load_scoring(engine, str(artefact))
    lines = ((f"e:{n}", orjson.dumps(e)) for n, e in enumerate(events))
    offline_first: dict[str, object] = {}
    offline_final: dict[str, object] = {}
    for _, decision in decide_records(engine, lines, ReplayReport(), scoring=scoring):
        offline_first.setdefault(decision.order_id, decision)
        offline_final[decision.order_id] = decision
    live_first = {o: min(r, key=lambda d: d["revision"]) for o, r in decisions.records.items()}
    live_final = {o: max(r, key=lambda d: d["revision"]) for o, r in decisions.records.items()}
    assert sorted(live_first) == sorted(offline_first)
    assert {d["model_version"] for d in live_first.values()} == {version}
    same = sum(live_first[o]["model_score"] == offline_first[o].model_score for o in offline_first)
    print(f"{same} of {len(offline_first)} scores equal to replay's")
    assert same >= 0.99 * len(offline_first)  # late touches may grow a few windows online, as for the rules
    differ = [o for o in offline_final if live_final[o]["action"] != offline_final[o].action.label]
    assert len([o for o in differ if not same_time_ties(o, events)]) <= 0.01 * len(events), differ[:5]
