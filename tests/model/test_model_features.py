"""Features: one function for training and scoring, on the engine's own windows."""

import math

import numpy as np
import pytest

import riskstream.model.features as features_module
from riskstream.assembly import load_engine
from riskstream.engine import DecisionEngine
from riskstream.model import FEATURES, FixedModel, Scoring, load_model
from riskstream.model.features import (
    WINDOWS,
    AccountRhythm,
    FeatureExtractor,
    cluster_of,
    ua_family,
)
from riskstream.model.train import read_history
from riskstream.offline.replay import ReplayReport, decide_records
from riskstream.rules import load_ruleset
from riskstream.testing import FakeClock, event


class Recording(FixedModel):
    """A fixed model that keeps every row it is asked to score."""

    def __init__(self, model):
        super().__init__(model)
        self.rows = []
        score = model.score

        def keep(rows):
            self.rows.extend(rows.tolist())
            return score(rows)

        model.score = keep


def test_training_rows_are_the_rows_scored_in_replay(trained, sim_lines):
    path, _ = trained
    records = lambda: ((f"l:{n}", line) for n, line in enumerate(sim_lines))  # noqa: E731
    history = read_history(load_engine("rules", clock=FakeClock()), records(), "label")
    source = Recording(load_model(path))
    engine = load_engine("rules", clock=FakeClock())
    list(decide_records(engine, records(), ReplayReport(), scoring=Scoring(engine, source, batch=64)))
    assert np.array_equal(history.rows, np.asarray(source.rows))
    assert history.rows.shape == (3000, len(FEATURES))
    assert history.rows[:, FEATURES.index("cluster_size_log")].max() > math.log1p(1)  # the graph's clusters, too
    assert history.labels.tolist() == [int(b'"label":1' in line) for line in sim_lines]


def test_features_share_the_rules_windows():
    engine = load_engine("rules")
    rule_trackers = len(engine.trackers)
    extractor = FeatureExtractor(engine)
    daily = next(i for i, t in enumerate(engine.trackers[:rule_trackers]) if t.key == ("account",) and t.window.length == 86400)
    assert extractor.windows["account_24h"] == daily
    assert len(engine.trackers) < rule_trackers + len(WINDOWS)  # some windows were already kept by rules
    trackers = len(engine.trackers)
    again = FeatureExtractor(engine)  # a second extractor adds nothing: every window is shared
    assert again.windows == extractor.windows and len(engine.trackers) == trackers


def test_every_feature_is_documented():
    documented = set()
    for line in features_module.__doc__.splitlines():
        first = line.split("  ")[0].strip()  # the table's first column
        if first and not first.startswith("="):
            documented.update(part.strip() for part in first.split(","))
    assert set(FEATURES) <= documented
    assert len(set(FEATURES)) == len(FEATURES)


def test_a_velocity_feature_reads_the_window_the_rule_reads(sim_lines):
    from riskstream.offline.replay import count_records

    engine = load_engine("rules", clock=FakeClock())
    scoring = Scoring(engine, None)
    column = FEATURES.index("device_accounts_24h")
    rule = next(c for c in engine.checks if c.id == "device-accounts")
    assert rule.tracker_id == scoring.extractor.windows["device_accounts_24h"]
    rows = [(view, touched, row) for _, view, touched, row in
            count_records(engine, ((f"l:{n}", line) for n, line in enumerate(sim_lines)), ReplayReport(), scoring)]
    tracker = scoring.extractor.windows["device_accounts_24h"]
    for view, touched, row in rows:
        expected = math.log1p(touched[tracker][0].distinct) if touched[tracker] else 0.0
        assert row[column] == expected
    assert max(row[column] for _, _, row in rows) >= math.log1p(3)  # device farms share devices


def test_account_rhythm_tells_regular_from_irregular_timing():
    rhythm = AccountRhythm()
    assert rhythm.observe("bot", 0.0) == (-1.0, -1.0)
    assert rhythm.observe("bot", 30.0) == (30.0, -1.0)
    for t in (60.0, 90.0, 120.0):
        gap, cv = rhythm.observe("bot", t)
    assert gap == 30.0 and cv == pytest.approx(0.0)
    for t in (0.0, 5.0, 600.0, 620.0, 5000.0):
        gap, cv = rhythm.observe("human", t)
    assert cv > 0.8
    assert rhythm.observe("bot", 120.0 + 2 * 86400) == (-1.0, -1.0)  # quiet for longer than a day: afresh


@pytest.mark.parametrize("agent, family", [
    (None, 0), ("", 0),
    ("ShopApp/11.2.0 (iPhone; iOS 17.4.1; Scale/3.00)", 1),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 MicroMessenger/8.0.49", 1),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0.0.0 Safari/537.36", 2),
    ("okhttp/4.9.3", 3),
    ("Dalvik/2.1.0 (Linux; U; Android 9; MuMu Build/PQ3A.190605.003)", 4),
    ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36", 4),
])
def test_user_agent_families(agent, family):
    assert ua_family(agent) == family


def cluster_columns(ruleset, orders):
    """(cluster size, new share) in the feature row of each order, counted in turn."""
    engine = DecisionEngine(ruleset, clock=FakeClock())
    scoring = Scoring(engine, None)
    size, share = FEATURES.index("cluster_size_log"), FEATURES.index("cluster_new_share")
    out = []
    for order in orders:
        row = scoring.features(*engine.count(order))
        out.append((round(math.expm1(row[size])), row[share]))
    return out


def test_cluster_features_follow_the_graph():
    orders = [event(0, account_id="new", device_id="shared", account_age=86400.0),
              event(60, account_id="old", device_id="shared")]
    rules = load_ruleset("rules")
    assert rules.graph is not None
    assert cluster_columns(rules, orders) == [(1, 1.0), (2, 0.5)]  # linked by the device
    assert cluster_columns(rules.without_graph(), orders) == [(1, 1.0), (1, 0.0)]  # each account alone


def test_cluster_features_read_only_size_and_new_share_of_the_facts():
    class Facts:  # what a stream stage may supply in place of the engine's ClusterFacts
        __slots__ = ("size",)

        def __init__(self, size):
            self.size = size

        def new_share(self, view):
            return 0.75

    engine = load_engine("rules")
    view = engine.view(event(0))
    view.cluster = Facts(4)
    assert tuple(cluster_of(view)) == (4, 0.75)
