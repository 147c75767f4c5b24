"""The stream stages without Kafka: routing, dead letters, and decisions equal to replay
when the work is spread over partitions and workers."""

from collections import defaultdict
from datetime import datetime

import numpy as np
import orjson
import pytest

from riskstream.engine import DecisionEngine
from riskstream.model import FeatureExtractor, FixedModel, Scoring
from riskstream.model import load_model
from riskstream.rules import load_ruleset
from riskstream.simulate import simulate
from riskstream.stream.stages import Decide, Entities, Screen, partition_of
from riskstream.testing import FakeClock

PARTITIONS = 4


class Worker:
    """One worker's three stages, each with its own engine (nothing shared between workers)."""

    def __init__(self, ruleset, owned, model=None):
        self.owned = owned
        engine = lambda: DecisionEngine(ruleset, clock=FakeClock())  # noqa: E731
        if model is None:
            self.screen = Screen(engine(), PARTITIONS, PARTITIONS)
            self.entities = Entities(engine(), PARTITIONS)
            self.decide = Decide(engine())
            return
        screen, entities, decide = engine(), engine(), engine()
        self.screen = Screen(screen, PARTITIONS, PARTITIONS, features=FeatureExtractor(screen))
        FeatureExtractor(entities)  # the same windows on every stage's engine
        self.entities = Entities(entities, PARTITIONS)
        self.decide = Decide(decide, scoring=Scoring(decide, FixedModel(model)))


def run_topology(ruleset, lines, workers=2, step=0.05, batch=None, model=None):
    """Push lines through orders -> touches -> signals with ``workers`` workers
    sharing the partitions.  Like live traffic, partitions progress together:
    each round takes every partition's orders of the next ``step`` seconds;
    with ``batch``, each round takes ``batch`` orders per partition instead,
    like a consumer catching up on history, far out of event-time order."""
    crew = [Worker(ruleset, {p for p in range(PARTITIONS) if p % workers == w}, model) for w in range(workers)]
    owner = {p: next(w for w in crew if p in w.owned) for p in range(PARTITIONS)}
    orders = defaultdict(list)
    for offset, line in enumerate(lines):
        event = orjson.loads(line)
        at = datetime.fromisoformat(event["event_time"]).timestamp()
        orders[partition_of(event["account_id"], PARTITIONS)].append((line, offset, at))
    horizon = min(at for queue in orders.values() for _, _, at in queue)
    touches, signals, plans = defaultdict(list), defaultdict(list), defaultdict(list)
    decisions, dead = {}, []
    while any(orders.values()) or any(touches.values()) or any(signals.values()) or any(plans.values()):
        waiting = [queue[0][2] for queue in orders.values() if queue]
        horizon = max(horizon + step, min(waiting) + step) if waiting else horizon + step
        for p in range(PARTITIONS):
            worker = owner[p]
            if batch:
                cut = batch
            else:
                cut = next((n for n, (_, _, at) in enumerate(orders[p]) if at >= horizon), len(orders[p]))
            taken, orders[p] = orders[p][:cut], orders[p][cut:]
            out = worker.screen.run((line, p, offset) for line, offset, _ in taken)
            dead.extend(out.dead)
            for q, items in out.touches.items():
                touches[q].extend(items)
            for q, items in out.plans.items():
                plans[q].extend(items)
        for p in range(PARTITIONS):
            taken, touches[p] = touches[p], []
            for q, items in owner[p].entities.run(taken).items():
                signals[q].extend(items)
        for p in range(PARTITIONS):
            taken_plans, plans[p] = plans[p], []
            taken_signals, signals[p] = signals[p], []
            for decision in owner[p].decide.run(taken_plans, taken_signals):
                before = decisions.get(decision.order_id)
                if before is not None:  # only an escalation may follow a decision
                    assert decision.revision == before.revision + 1 and decision.action >= before.action
                decisions[decision.order_id] = decision
    return decisions, dead


@pytest.fixture(scope="module")
def day():
    # The stages do not run the entity graph yet (it joins the topology as its
    # own stage), so both sides decide with the rules that need no graph.
    ruleset = load_ruleset("rules").without_graph()
    lines = [orjson.dumps(e) for e in simulate(6000, seed=21)]
    engine = DecisionEngine(ruleset, clock=FakeClock())
    offline = {}
    for line in lines:
        from riskstream.events import parse_order

        event = parse_order(line)
        offline[event.order_id] = engine.decide(event)
    return ruleset, lines, offline


@pytest.mark.parametrize("workers, batch", [(1, None), (2, None), (2, 200)])
def test_partitioned_decisions_equal_replay(day, workers, batch):
    ruleset, lines, offline = day
    online, dead = run_topology(ruleset, lines, workers=workers, batch=batch)
    assert not dead and set(online) == set(offline)
    differ = [o for o in offline if online[o].action != offline[o].action]
    assert len(differ) <= len(offline) * 0.001, [
        (o, offline[o].action, online[o].action, [r.rule for r in offline[o].reasons], [r.rule for r in online[o].reasons])
        for o in differ[:5]
    ]
    flagged = sum(d.action.flagged for d in online.values())
    assert flagged > 100


def test_two_workers_decide_as_one(day):
    ruleset, lines, _ = day
    one, _ = run_topology(ruleset, lines, workers=1)
    two, _ = run_topology(ruleset, lines, workers=2)
    assert {o: d.action for o, d in one.items()} == {o: d.action for o, d in two.items()}


def test_the_model_scores_the_same_online_as_offline(day, tmp_path):
    from riskstream.events import parse_order
    from riskstream.model.train import History, train
    from riskstream.replay import ReplayReport, decide_records

    ruleset, lines, _ = day
    engine = DecisionEngine(ruleset, clock=FakeClock())
    offline_scoring = Scoring(engine, None)
    rows = []
    for line in lines:
        view, touched = engine.count(parse_order(line))
        rows.append(offline_scoring.features(view, touched))
    history = History(np.asarray(rows), None, None, None, ReplayReport())
    train(history, str(tmp_path / "m.skops"), trees=10, max_samples=64)
    model = load_model(tmp_path / "m.skops")
    engine = DecisionEngine(ruleset, clock=FakeClock())
    scoring = Scoring(engine, FixedModel(model), batch=500)
    offline = {d.order_id: d for _, d in decide_records(engine, ((str(n), x) for n, x in enumerate(lines)), ReplayReport(),
                                                         scoring=scoring)}
    online, dead = run_topology(ruleset, lines, workers=2, model=model)
    assert not dead and set(online) == set(offline)
    assert all(d.model_version == model.version for d in online.values())
    same = sum(online[o].model_score == offline[o].model_score for o in offline)
    assert same >= len(offline) * 0.999, same  # late touches may grow a few windows online, as for the rules


def test_bad_events_become_dead_letters_with_their_bytes():
    ruleset = load_ruleset("rules")
    screen = Screen(DecisionEngine(ruleset, clock=FakeClock()), PARTITIONS, PARTITIONS)
    good = orjson.dumps(next(simulate(1, seed=1)))
    bad = [b"", b"\xff\xfe not json", b'{"order_id": 5}', b"[]"]
    out = screen.run([(good, 0, 0)] + [(raw, 1, n) for n, raw in enumerate(bad)])
    assert [(d.raw, d.partition, d.offset) for d in out.dead] == [(raw, 1, n) for n, raw in enumerate(bad)]
    assert out.dead[2].field == "order_id" and "string" in out.dead[2].reason
    assert sum(len(p) for p in out.plans.values()) == 1


def test_a_batch_counted_before_a_restart_is_not_counted_again():
    ruleset = load_ruleset("rules")
    screen = Screen(DecisionEngine(ruleset, clock=FakeClock()), 1, 1)
    lines = [orjson.dumps(e) for e in simulate(3000, seed=2)]
    earlier = screen.run((line, 0, n) for n, line in enumerate(lines[:2900])).touches[0]
    latest = screen.run((line, 0, n) for n, line in enumerate(lines[2900:])).touches[0]
    entities = Entities(DecisionEngine(ruleset, clock=FakeClock()), 1)
    entities.run(earlier)
    first = entities.run(latest)
    state = entities.engine.state_size()
    assert first and entities.run(latest) == {}  # the batch comes again: nothing counted, nothing sent
    assert entities.engine.state_size() == state
    restored = Entities(DecisionEngine(ruleset, clock=FakeClock()), 1)
    restored.restore(earlier + latest)  # windows rebuilt from what was counted
    assert restored.run(latest) == {}
    assert restored.engine.state_size() == state
