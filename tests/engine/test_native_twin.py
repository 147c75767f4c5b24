"""The native state core against its oracle, the pure-Python implementation.

(The native ClusterIndex has its own twin test in tests/graph/test_native_index.py.)
Random operation streams (in order, late within and beyond the grace, sweeps,
peeks, tuple keys, int and float amounts) must give equal aggregates of equal
types from both windows; random order streams must give equal decisions from
an engine on either implementation (windows and graph).
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream import native
from riskstream.engine.windows import Aggregate, VelocityWindow, new_window
from riskstream.events import EventError
from riskstream.testing import FakeClock, event
from riskstream.testing import make_order as order_fields

try:
    import riskstream_native
except ImportError:
    riskstream_native = None

pytestmark = pytest.mark.skipif(riskstream_native is None, reason="native core not installed (pip install ./native)")


def typed(agg):
    """An aggregate with the type of each field, so that 3 and 3.0 differ."""
    return type(agg).__name__, tuple((type(v).__name__, v) for v in agg)


keys = st.one_of(st.sampled_from(["ip:a", "ip:b", "", "é"]),
                 st.tuples(st.sampled_from(["x", "y"]), st.sampled_from(["FS-1", "FS-2"])),
                 st.integers(-3, 3))
numbers = st.one_of(st.integers(0, 5), st.sampled_from([0.1, 0.2, 1.5, 99.9, 1e-3]))
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), keys, st.integers(0, 3000), numbers, numbers,
                  st.one_of(st.none(), st.sampled_from(["a", "b", "c"]), st.integers(0, 2))),
        st.tuples(st.just("peek"), keys, st.integers(0, 3000)),
        st.tuples(st.just("sweep"),),
    ),
    max_size=120,
)


@settings(max_examples=400, deadline=None)
@given(ops=operations, length=st.integers(1, 400), grace=st.sampled_from([0.0, 30.0, 300.0]),
       distinct=st.booleans(), step=st.sampled_from([1.0, 0.25, 7.5]))
def test_both_windows_answer_alike(ops, length, grace, distinct, step):
    pure = VelocityWindow(length, distinct=distinct, grace=grace)
    twin = riskstream_native.VelocityWindow(length, Aggregate, distinct=distinct, grace=grace)
    for op in ops:
        if op[0] == "add":
            _, key, t, qty, amount, value = op
            assert typed(twin.add(key, t * step, qty, amount, value)) == typed(pure.add(key, t * step, qty, amount, value))
        elif op[0] == "peek":
            _, key, t = op
            assert typed(twin.peek(key, t * step)) == typed(pure.peek(key, t * step))
        else:
            assert twin.sweep() == pure.sweep()
        assert (len(twin), twin.entries(), twin.watermark) == (len(pure), pure.entries(), pure.watermark)
    assert sorted(map(repr, twin.keys())) == sorted(map(repr, pure.keys()))


def test_bad_keys_and_quantities_are_refused_with_what_was_expected():
    twin = riskstream_native.VelocityWindow(60, Aggregate)
    with pytest.raises(TypeError, match="str, int, None or tuples"):
        twin.add(1.5, 0.0)
    with pytest.raises(TypeError, match="quantity must be an int or a float"):
        twin.add("k", 0.0, "2")
    with pytest.raises(ValueError, match="positive"):
        riskstream_native.VelocityWindow(0, Aggregate)


def test_pure_python_can_be_forced_within_a_block():
    assert type(new_window(60)).__module__ == "riskstream_native" or not native.available()
    with native.pure_python():
        assert type(new_window(60)) is VelocityWindow


# Orders from small pools of accounts and entities (so keys repeat and accounts link),
# a flash SKU among others, and times that go back now and then (late orders).
order_streams = st.lists(
    st.tuples(
        st.integers(0, 900),  # seconds after the sale opens
        st.integers(0, 7),  # account
        st.integers(0, 4),  # ip
        st.integers(0, 5),  # device
        st.integers(0, 3),  # address
        st.sampled_from(["FS-1", "FS-2", "SKU-000001", "SKU-000002"]),
        st.integers(1, 4),  # quantity
        st.sampled_from([9.9, 99.0, 1299.0]),
    ),
    min_size=1,
    max_size=60,
)


def decide_all(engine_factory, stream, implementation):
    engine = engine_factory()
    assert {type(t.window).__module__ for t in engine.trackers} == {implementation}
    assert type(engine.graph.index).__module__ == implementation.replace("engine.windows", "graph.index")
    out = []
    for n, (t, account, ip, device, address, sku, quantity, price) in enumerate(stream):
        fields = order_fields(float(t), order_id=f"o-{n}", account_id=f"acct-{account}", ip=f"203.0.113.{ip + 1}",
                              device_id=f"dev-{device}", shipping_address=f"上海市浦东新区世纪大道{address}号",
                              phone=f"1390000{account:04d}", payment_fingerprint=f"card-{device}", sku=sku,
                              quantity=quantity, unit_price=price, account_age=86400.0 * (account + 1))
        ev = event(0.0, **fields)
        if engine.seen(ev.order_id):
            continue
        out.append(engine.decide(ev).to_dict())
        out.extend(d.to_dict() for d in engine.take_escalations())
    return out


@settings(max_examples=60, deadline=None)
@given(stream=order_streams)
def test_engines_on_both_implementations_decide_alike(stream, bundled_engine):
    native_decisions = decide_all(bundled_engine, stream, "riskstream_native")
    with native.pure_python():
        pure_decisions = decide_all(bundled_engine, stream, "riskstream.engine.windows")
    assert native_decisions == pure_decisions


@pytest.fixture(scope="module")
def bundled_engine():
    from riskstream.engine import DecisionEngine
    from riskstream.rules import load_ruleset
    from riskstream.settings import BUNDLED_RULES

    ruleset = load_ruleset(BUNDLED_RULES)
    return lambda: DecisionEngine(ruleset, clock=FakeClock())


def touch_all(engine_factory, stream, by_tracker):
    engine = engine_factory()
    out = []
    for n, (t, account, ip, device, address, sku, quantity, price) in enumerate(stream):
        fields = order_fields(float(t), order_id=f"o-{n}", account_id=f"acct-{account}", ip=f"203.0.113.{ip + 1}",
                              device_id=f"dev-{device}", shipping_address=f"上海市浦东新区世纪大道{address}号",
                              phone=f"1390000{account:04d}" if device else None, payment_fingerprint=f"card-{device}",
                              sku=sku, quantity=quantity, unit_price=price, account_age=86400.0 * (account + 1))
        if ip == 4:
            fields["ip"] = "not-an-ip"  # its windows fail: those before it have counted the order
        view = engine.view(event(0.0, **fields))
        try:
            out.append([t.touch(view) for t in engine.trackers] if by_tracker else engine.touch(view))
        except EventError as exc:
            out.append(str(exc))
    return out


@settings(max_examples=40, deadline=None)
@given(stream=order_streams)
def test_the_engines_counting_is_each_trackers_touch(stream, bundled_engine):
    expected = touch_all(bundled_engine, stream, by_tracker=True)
    assert touch_all(bundled_engine, stream, by_tracker=False) == expected
    with native.pure_python():
        assert touch_all(bundled_engine, stream, by_tracker=False) == expected

