"""same_time_ties: the explanation the live-vs-replay tests accept must not accept everything."""

from riskstream.harness import same_time_ties
from riskstream.testing import make_order


def test_an_order_sharing_a_key_at_the_same_instant_is_a_tie():
    a = make_order(order_id="a", account_id="u1", event_time="2026-11-11T20:00:00.002+08:00", ip="10.0.0.1")
    b = make_order(order_id="b", account_id="u2", event_time="2026-11-11T12:00:00.002+00:00", ip="10.0.0.77")
    assert same_time_ties("a", [a, b]) == ["b"]  # the same instant written in another offset; the same /24


def test_other_times_or_no_shared_key_are_not_ties():
    a = make_order(order_id="a", account_id="u1", event_time="2026-11-11T20:00:00.002+08:00", ip="10.0.0.1",
                   device_id="d1")
    later = make_order(order_id="b", account_id="u2", event_time="2026-11-11T20:00:00.003+08:00", ip="10.0.0.1")
    unrelated = make_order(order_id="c", account_id="u3", event_time="2026-11-11T20:00:00.002+08:00",
                           ip="192.168.9.9", device_id="d2")
    assert same_time_ties("a", [a, later, unrelated]) == []
