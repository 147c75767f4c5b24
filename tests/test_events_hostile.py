"""Hostile order events: each is refused with the field at fault, or handled by a stated rule; none crashes."""

import math
import time

import orjson
import pytest

from riskstream.events import (
    MAX_EVENT_BYTES,
    EventError,
    check_not_ahead,
    decode,
    order_digest,
    parse_order,
)
from riskstream.testing import make_order


def refused(raw) -> EventError:
    with pytest.raises(EventError) as caught:
        parse_order(raw)
    return caught.value


def test_json_nested_ten_thousand_deep_is_not_valid_json():
    for raw in (b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
        error = refused(raw)
        assert error.field is None and "not valid JSON" in error.problem and "depth" in error.problem


def test_an_event_over_the_size_limit_is_refused_before_parsing():
    order = make_order(user_agent="x" * MAX_EVENT_BYTES)
    error = refused(orjson.dumps(order))
    assert error.field is None and "exceeds the limit of 1000000" in error.problem


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_nan_and_infinity_are_refused(literal):
    raw = orjson.dumps(make_order())[:-1] + b',"amount":' + literal + b"}"
    assert "not valid JSON" in refused(raw).problem


def test_an_amount_that_overflows_is_refused():
    error = refused(make_order(quantity=2**62, unit_price=1e300))
    assert error.field == "items" and "overflows" in error.problem
    error = refused(make_order(amount=float("inf")))
    assert error.field == "amount"
    assert refused(make_order(amount=math.nan)).field == "amount"


@pytest.mark.parametrize("stamp", [
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1900-01-01T00:00:00Z",
    "2100-01-01T00:00:00Z", "1999-12-31T23:59:59Z",
])
def test_timestamps_far_in_the_future_or_past_are_refused(stamp):
    error = refused(make_order(event_time=stamp))
    assert error.field == "event_time" and "outside 2000-01-01..2099-12-31" in error.problem
    assert refused(make_order(account_created_at=stamp)).field == "account_created_at"


def test_the_bounds_themselves():
    assert parse_order(make_order(event_time="2000-01-01T00:00:00Z")).ts == 946684800.0
    assert parse_order(make_order(event_time="2099-12-31T23:59:59Z"))


def test_an_order_ahead_of_the_clock_is_refused():
    now = time.time()
    event = parse_order(make_order(event_time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600))))
    check_not_ahead(event, now, 7200)
    with pytest.raises(EventError) as caught:
        check_not_ahead(event, now, 300)
    assert caught.value.field == "event_time" and "ahead of the clock" in caught.value.problem


@pytest.mark.parametrize("change, field", [
    ({"order_id": ["o"]}, "order_id"), ({"account_id": {"a": 1}}, "account_id"), ({"event_time": 1.5}, "event_time"),
    ({"items": "many"}, "items"), ({"items": [7]}, "items[0]"), ({"items": [{"sku": "s", "quantity": True,
                                                                            "unit_price": 1}]}, "items[0].quantity"),
    ({"items": [{"sku": "s", "quantity": 1, "unit_price": "1"}]}, "items[0].unit_price"), ({"ip": 7}, "ip"),
    ({"shipping_address": ["x"]}, "shipping_address"), ({"shipping_address": {"city": 5}}, "shipping_address.city"),
    ({"amount": True}, "amount"), ({"account_created_at": 0}, "account_created_at"),
])
def test_wrong_types_name_their_field(change, field):
    assert refused(make_order(**change)).field == field


def test_not_an_object():
    for raw in (b"[]", b'"order"', b"7", b"null", b"\xff\xfe", b"\x00"):
        with pytest.raises(EventError):
            decode(raw)


def test_the_digest_tells_a_re_sent_order_from_another_under_its_id():
    order = make_order()
    same = dict(reversed(list(order.items())))  # the same content, keys in another order
    other = {**order, "ip": "203.0.113.9"}
    assert order_digest(order) == order_digest(same) == order_digest(orjson.loads(orjson.dumps(order)))
    assert order_digest(other) != order_digest(order)
