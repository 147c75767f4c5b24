"""Order ids with content fingerprints: a repeat is applied once, a reused id is told apart."""

from riskstream.engine.order_ids import NEW, REPEAT, REUSED, OrderIds


def test_repeat_and_reuse():
    ids = OrderIds(horizon=3600)
    assert ids.check("o1", 0.0, b"a") is NEW
    assert ids.check("o1", 0.0, b"a") is REPEAT
    assert ids.check("o1", 5.0, b"b") is REUSED
    assert ids.check("o1", 0.0, b"a") is REPEAT  # the first content stays the reference
    assert ids.compare("o1", b"b") is REUSED and ids.compare("o2", b"z") is REPEAT


def test_ids_older_than_the_horizon_are_forgotten():
    ids = OrderIds(horizon=10)
    for n in range(20_000):
        ids.check(f"o{n}", float(n), b"x")
    assert len(ids) <= 10_020 and ids.check("o0", 0.0, b"y") is NEW
