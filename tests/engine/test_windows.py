"""Exact sliding windows: edges, late orders, eviction, and a brute-force oracle."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream.engine.windows import Aggregate
from riskstream.engine.windows import VelocityWindow as PureWindow

try:
    import riskstream_native as native_core
except ImportError:  # built by `make install` where cargo is; without it only the pure window runs
    native_core = None


def native_window(length, *, distinct=False, grace=300.0):
    return native_core.VelocityWindow(length, Aggregate, distinct=distinct, grace=grace)


# Every test here runs on both implementations: the pure-Python window and its native twin.
IMPLEMENTATIONS = [pytest.param(PureWindow, id="pure"),
                   pytest.param(native_window, id="native",
                                marks=pytest.mark.skipif(native_core is None, reason="native core not installed"))]
pytestmark = pytest.mark.parametrize("VelocityWindow", IMPLEMENTATIONS)


def test_window_is_exclusive_at_its_start_and_inclusive_at_its_end(VelocityWindow):
    w = VelocityWindow(10)
    assert w.add("k", 100.0).count == 1
    assert w.add("k", 109.999).count == 2
    # exactly W after the first order: the first one has left (t - W, t]
    assert w.add("k", 110.0).count == 2
    assert w.add("k", 119.999).count == 2
    assert w.add("k", 120.0).count == 2  # 110 and 120 remain


def test_keys_are_independent(VelocityWindow):
    w = VelocityWindow(60)
    w.add("a", 0.0)
    w.add("a", 1.0)
    assert w.add("b", 2.0).count == 1
    assert w.add("a", 3.0).count == 3


def test_sums_and_distinct_follow_the_window(VelocityWindow):
    w = VelocityWindow(60, distinct=True)
    w.add("ip", 0.0, qty=2, amount=10.0, value="acct-1")
    w.add("ip", 30.0, qty=3, amount=5.0, value="acct-2")
    agg = w.add("ip", 59.0, qty=1, amount=1.0, value="acct-1")
    assert agg == (3, 6, 16.0, 2)
    agg = w.add("ip", 61.0, qty=1, amount=1.0, value="acct-3")  # the order at 0 left
    assert agg == (3, 5, 7.0, 3)
    agg = w.add("ip", 120.0, qty=1, amount=1.0, value="acct-3")  # 30 and 59 left too
    assert agg == (2, 2, 2.0, 1)


def test_late_order_sees_its_own_window_and_counts_for_later_ones(VelocityWindow):
    w = VelocityWindow(10, distinct=True, grace=60)
    w.add("k", 100.0, value="a")
    w.add("k", 120.0, value="b")
    late = w.add("k", 105.0, value="c")  # window (95, 105]: 100 and itself
    assert (late.count, late.distinct) == (2, 2)
    # the late entry is now part of the state: at 114 the window is (104, 114]
    assert w.peek("k", 114.0).count == 1
    # and the running window of the newest key entry (110, 120] was not disturbed
    assert w.add("k", 121.0, value="b") == (2, 2, 0.0, 1)


def test_late_order_inside_the_current_window_enters_the_running_totals(VelocityWindow):
    w = VelocityWindow(10, distinct=True)
    w.add("k", 100.0, qty=1, value="a")
    w.add("k", 108.0, qty=1, value="b")
    w.add("k", 105.0, qty=5, value="c")  # late, but inside (98, 108]
    assert w.add("k", 109.0, qty=1, value="a") == (4, 8, 0.0, 3)


def test_memory_is_bounded_by_window_plus_grace(VelocityWindow):
    w = VelocityWindow(60, grace=30)
    for i in range(10_000):
        w.add(f"key-{i % 50}", float(i))
    assert w.entries() <= 50 * 2 + (60 + 30) + 50  # what falls in W + grace, plus slack per key
    w.add("other", 20_000.0)
    w.sweep()
    assert len(w) == 1  # every quiet key was dropped


def test_sweep_keeps_what_a_late_order_may_still_need(VelocityWindow):
    w = VelocityWindow(60, grace=30)
    w.add("k", 0.0)
    w.add("other", 80.0)
    w.sweep()  # cut = 80 - 90 < 0: nothing may go yet
    assert w.peek("k", 50.0).count == 1
    w.add("other", 200.0)
    w.sweep()
    assert w.peek("k", 50.0).count == 0 and len(w) == 1


def oracle(history, t, length):
    inside = [(qty, amount, value) for (ht, qty, amount, value) in history if t - length < ht <= t]
    return (len(inside), sum(q for q, _, _ in inside), sum(a for _, a, _ in inside), len({v for _, _, v in inside}))


events = st.lists(
    st.tuples(
        st.sampled_from(["k1", "k2"]),
        st.integers(min_value=0, max_value=400),  # time
        st.integers(min_value=1, max_value=5),  # quantity
        st.sampled_from(["a", "b", "c", "d"]),  # distinct value
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(events=events, length=st.integers(min_value=1, max_value=120))
def test_matches_brute_force_for_any_arrival_order_within_grace(VelocityWindow, events, length):
    """Whatever the arrival order (lateness up to the grace), every answer is exact."""
    w = VelocityWindow(length, distinct=True, grace=10_000)
    history: dict[str, list] = {"k1": [], "k2": []}
    for key, t, qty, value in events:
        history[key].append((float(t), qty, float(qty) * 2, value))
        got = w.add(key, float(t), qty, float(qty) * 2, value)
        assert tuple(got) == oracle(history[key], float(t), length)
    for key in history:
        for t in range(0, 401, 37):
            assert tuple(w.peek(key, float(t))) == oracle(history[key], float(t), length)


@settings(max_examples=200, deadline=None)
@given(gaps=st.lists(st.integers(min_value=0, max_value=50), max_size=120), length=st.integers(1, 100))
def test_in_order_streams_stay_exact_after_eviction(VelocityWindow, gaps, length):
    """In time order with no grace, eviction never changes an answer."""
    w = VelocityWindow(length, distinct=True, grace=0)
    history, t = [], 0
    for n, gap in enumerate(gaps):
        t += gap
        history.append((float(t), 1, 1.0, n % 3))
        assert tuple(w.add("k", float(t), 1, 1.0, n % 3)) == oracle(history, float(t), length)
        if n % 10 == 0:
            w.sweep()
