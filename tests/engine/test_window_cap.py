"""A key flood cannot grow a window without bound: the cap evicts the stalest keys and counts them."""

from riskstream.engine.windows import VelocityWindow
from riskstream.testing import IP_BURST_YAML, engine_for, event


def test_a_million_distinct_keys_stay_under_the_cap():
    window = VelocityWindow(3600.0, distinct=True, max_keys=50_000)
    for n in range(1_000_000):
        window.add(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}-{n}", n * 0.001, 1, 1.0, n)
        assert len(window) <= 50_000 or n % 100_000
    assert len(window) <= 50_000
    assert window.evicted == 1_000_000 - len(window)


def test_the_stalest_keys_go_first_and_a_busy_key_keeps_its_count():
    window = VelocityWindow(40.0, max_keys=100, grace=0.0)  # sweep buckets of 10 s
    busy = []
    for n in range(1000):
        busy.append(window.add("busy", float(n)).count)
        window.add(f"once-{n}", float(n))
    assert busy[-1] == 40  # filed again in each newer bucket, it is never among the stalest
    assert window.peek("once-999", 999.0).count == 1 and window.peek("once-0", 999.0).count == 0
    assert len(window) <= 100 and window.evicted == 1001 - len(window)


def test_one_key_cap():
    window = VelocityWindow(60.0, max_keys=1)
    for n in range(5):
        assert window.add(f"k{n}", float(n)).count == 1
    assert len(window) == 1 and window.evicted == 4


def test_the_engine_caps_each_window_and_reports_evictions():
    engine = engine_for(IP_BURST_YAML, window_key_cap=1000)
    for n in range(5000):
        engine.decide(event(n * 0.01, ip=f"10.0.{n // 250}.{n % 250}"))
    assert all(len(t.window) <= 1000 for t in engine.trackers)
    assert engine.evicted_keys() >= 4000
