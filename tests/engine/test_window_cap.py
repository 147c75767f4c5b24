"""A key flood cannot grow a window without bound: the cap evicts the stalest keys and counts them,
in the pure-Python window and its native twin alike."""

import random

import pytest

from riskstream.engine.windows import Aggregate, VelocityWindow
from riskstream.testing import IP_BURST_YAML, engine_for, event

try:
    import riskstream_native
except ImportError:
    riskstream_native = None

IMPLEMENTATIONS = ["python"] + (["native"] if riskstream_native is not None else [])


def window(kind: str, length: float, **options):
    cap = options.pop("max_keys")
    made = (VelocityWindow(length, **options) if kind == "python"
            else riskstream_native.VelocityWindow(length, Aggregate, **options))
    made.max_keys = cap
    return made


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_a_million_distinct_keys_stay_under_the_cap(kind):
    w = window(kind, 3600.0, distinct=True, max_keys=50_000)
    for n in range(1_000_000):
        w.add(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}-{n}", n * 0.001, 1, 1.0, n)
        assert len(w) <= 50_000 or n % 100_000
    assert len(w) <= 50_000
    assert w.evicted == 1_000_000 - len(w)


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_the_stalest_keys_go_first_and_a_busy_key_keeps_its_count(kind):
    w = window(kind, 40.0, max_keys=100, grace=0.0)  # sweep buckets of 10 s
    busy = []
    for n in range(1000):
        busy.append(w.add("busy", float(n)).count)
        w.add(f"once-{n}", float(n))
    assert busy[-1] == 40  # filed again in each newer bucket, it is never among the stalest
    assert w.peek("once-999", 999.0).count == 1 and w.peek("once-0", 999.0).count == 0
    assert len(w) <= 100 and w.evicted == 1001 - len(w)


@pytest.mark.parametrize("kind", IMPLEMENTATIONS)
def test_a_late_new_key_in_the_oldest_bucket_is_kept(kind):
    w = window(kind, 40.0, max_keys=5, grace=0.0)
    for n in range(5):
        w.add(f"k{n}", 100.0 + n)
    w.add("late", 1.0)  # the oldest bucket holds only the key just added
    assert w.peek("late", 1.0).count == 1 and len(w) <= 5 and w.evicted >= 1
    for n in range(5):
        w.add(f"j{n}", 200.0 + n)
    assert w.peek("late", 1.0).count == 0  # later it is the stalest
    assert w.sweep() >= 0


def test_one_key_cap():
    w = VelocityWindow(60.0, max_keys=1)
    for n in range(5):
        assert w.add(f"k{n}", float(n)).count == 1
    assert len(w) == 1 and w.evicted == 4


@pytest.mark.skipif(riskstream_native is None, reason="native core not installed (pip install ./native)")
def test_both_implementations_evict_the_same_keys():
    rng = random.Random(3)
    twins = [window(kind, 120.0, max_keys=200, grace=30.0, distinct=True) for kind in ("python", "native")]
    for n in range(20_000):
        key = f"k{rng.randrange(5000)}"
        t = n * 0.05 - rng.choice([0.0, 0.0, 0.0, 20.0])
        value = rng.randrange(3)
        results = [w.add(key, t, 1, 2.0, value) for w in twins]
        assert results[0] == results[1], n
        if n % 997 == 0:
            assert twins[0].sweep() == twins[1].sweep()
    assert twins[0].evicted == twins[1].evicted > 0
    assert sorted(twins[0].keys()) == sorted(twins[1].keys())


def test_the_engine_caps_each_window_and_reports_evictions():
    engine = engine_for(IP_BURST_YAML, window_key_cap=1000)
    for n in range(5000):
        engine.decide(event(n * 0.01, ip=f"10.0.{n // 250}.{n % 250}"))
    assert all(len(t.window) <= 1000 for t in engine.trackers)
    assert engine.evicted_keys() >= 4000
