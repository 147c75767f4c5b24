"""The order event contract: valid events parse, bad ones name the field."""

import json
from pathlib import Path

import orjson
import pytest

from riskstream.events import EventError, decode, parse_order
from riskstream.testing import make_order

SCHEMA = Path(__file__).resolve().parents[1] / "riskstream" / "schemas" / "order-v1.schema.json"


def test_valid_event_parses_with_defaults():
    data = make_order(5, quantity=2, unit_price=10.5, extra_field={"ignored": True})
    event = parse_order(orjson.dumps(data))
    assert event.order_id == data["order_id"]
    assert event.amount == 21.0  # defaults to the sum of the items
    assert event.quantity == 2
    assert event.account_age == pytest.approx(400 * 86400)
    assert event.ts == pytest.approx(1794398405.0)  # 2026-11-11T20:00:05+08:00


def test_z_offset_and_address_object():
    event = parse_order(make_order(event_time="2026-11-11T12:00:00Z",
                                   shipping_address={"city": "Berlin", "street": "Hauptstr. 5", "zip": "x"}))
    assert event.ts == 1794398400.0
    assert event.shipping_address == {"city": "Berlin", "street": "Hauptstr. 5"}


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"order_id": None}, "order_id", "missing"),
        ({"order_id": 7}, "order_id", "string"),
        ({"account_id": ""}, "account_id", "empty"),
        ({"event_time": "yesterday"}, "event_time", "RFC 3339"),
        ({"event_time": "2026-11-11T20:00:00"}, "event_time", "offset"),
        ({"items": []}, "items", "at least one"),
        ({"items": "FS-PHONE-01"}, "items", "list"),
        ({"items": [{"sku": "A", "quantity": 0, "unit_price": 1}]}, "items[0].quantity", ">= 1"),
        ({"items": [{"sku": "A", "quantity": 1.5, "unit_price": 1}]}, "items[0].quantity", "integer"),
        ({"items": [{"sku": "A", "quantity": True, "unit_price": 1}]}, "items[0].quantity", "integer"),
        ({"items": [{"sku": "A", "quantity": 1, "unit_price": -1}]}, "items[0].unit_price", ">= 0"),
        ({"items": [{"quantity": 1, "unit_price": 1}]}, "items[0].sku", "string"),
        ({"amount": "12"}, "amount", "number"),
        ({"ip": 12}, "ip", "string"),
        ({"account_created_at": "soon"}, "account_created_at", "RFC 3339"),
        ({"shipping_address": ["a"]}, "shipping_address", "string or an object"),
        ({"shipping_address": {"city": 5}}, "shipping_address.city", "string"),
    ],
)
def test_bad_events_name_the_field(change, field, words):
    data = make_order()
    data.update(change)
    data = {k: v for k, v in data.items() if v is not None}
    with pytest.raises(EventError) as info:
        parse_order(orjson.dumps(data))
    assert info.value.field == field
    assert words in str(info.value)


@pytest.mark.parametrize("raw, words", [(b"", "empty"), (b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"),
                                        (b" " * 1_000_001, "exceeds")])
def test_undecodable_events(raw, words):
    with pytest.raises(EventError) as info:
        decode(raw)
    assert info.value.field is None and words in str(info.value)


def test_published_schema_matches_the_parser_on_required_fields():
    schema = json.loads(SCHEMA.read_text())
    assert schema["$id"] == "riskstream.order/v1"
    for field in schema["required"]:
        data = make_order()
        del data[field]
        with pytest.raises(EventError) as info:
            parse_order(data)
        assert info.value.field == field
    assert schema["properties"]["items"]["items"]["properties"]["quantity"]["minimum"] == 1
