"""The order event contract, ``riskstream.order/v1``, and its parser.

The order pipeline publishes one JSON object per order (see
``riskstream/schemas/order-v1.schema.json``).  :func:`parse_order` turns raw
bytes, text or an already decoded mapping into an :class:`OrderEvent`, or
raises :class:`EventError` naming the field at fault.  Unknown fields are
ignored so that producers can add fields before consumers know them.

Validation is hand-written rather than generated: it runs once per order on
the hot path and costs a few microseconds this way.

Stated rules for hostile input (each refusal names the field):

* an event is at most :data:`MAX_EVENT_BYTES`; JSON nested deeper than the
  parser's limit (1,024) is not valid JSON; ``NaN``/``Infinity`` are not JSON,
  and a number that overflows a double (``1e999``) is refused as such;
* amounts must be finite: an ``amount`` or a sum of ``quantity * unit_price``
  that overflows is refused;
* timestamps lie in [:data:`EARLIEST`, :data:`LATEST`) (years 2000 to 2099);
  :func:`check_not_ahead` refuses an order stamped further ahead of the
  consumer's clock than the configured limit, so one forged future timestamp
  cannot move event time past every window;
* :func:`order_digest` fingerprints an event's content: one order id with two
  different contents is refused as :data:`REUSED_ID` (same content again is a
  plain duplicate, applied once).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

import orjson

ORDER_SCHEMA = "riskstream.order/v1"
MAX_EVENT_BYTES = 1_000_000
MAX_ITEMS = 500
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()  #: no order event before 2000-01-01
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc).timestamp()  #: ... nor from 2100-01-01 on
#: The dead-letter reason of a second, different order under an order id already seen.
REUSED_ID = "order id reused with different content"

ADDRESS_PARTS = ("country", "region", "city", "district", "street", "postal_code", "recipient")
# In the order of the OrderEvent fields they fill.
OPTIONAL_TEXT = ("currency", "sale_id", "ip", "device_id", "user_agent", "phone", "payment_fingerprint")


class EventError(ValueError):
    """A bad order event: ``field`` names where (``None`` when the whole event is bad)."""

    def __init__(self, field: str | None, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


@dataclass(slots=True)
class Item:
    sku: str
    quantity: int
    unit_price: float

    @property
    def amount(self) -> float:
        return self.quantity * self.unit_price


@dataclass(slots=True)
class OrderEvent:
    """One validated order.  Times are also kept as epoch seconds (``ts``)."""

    order_id: str
    event_time: str
    ts: float
    account_id: str
    items: tuple[Item, ...]
    amount: float
    account_created_ts: float | None = None
    currency: str | None = None
    sale_id: str | None = None
    ip: str | None = None
    device_id: str | None = None
    user_agent: str | None = None
    phone: str | None = None
    payment_fingerprint: str | None = None
    shipping_address: str | Mapping[str, str] | None = None

    @property
    def quantity(self) -> int:
        return sum(i.quantity for i in self.items)

    @property
    def account_age(self) -> float | None:
        """Seconds between account creation and this order, if known."""
        if self.account_created_ts is None:
            return None
        return self.ts - self.account_created_ts


def decode(raw: bytes | bytearray | memoryview | str) -> dict[str, Any]:
    """Decode one raw event to a mapping, or raise :class:`EventError`."""
    if not raw:
        raise EventError(None, "empty event")
    if len(raw) > MAX_EVENT_BYTES:
        raise EventError(None, f"event of {len(raw)} bytes exceeds the limit of {MAX_EVENT_BYTES}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventError(None, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EventError(None, f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_order(raw: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> OrderEvent:
    """Validate one event against ``riskstream.order/v1``."""
    data = raw if type(raw) is dict or isinstance(raw, Mapping) else decode(raw)  # typing.Mapping checks are slow
    get = data.get

    order_id = get("order_id")
    account_id = get("account_id")
    event_time = get("event_time")
    if type(order_id) is not str or not order_id:
        _required_text(data, "order_id")
    if type(account_id) is not str or not account_id:
        _required_text(data, "account_id")
    if type(event_time) is not str:
        _required_text(data, "event_time")
    ts = parse_time(event_time, "event_time")

    created = get("account_created_at")
    created_ts = None if created is None else parse_time(_text(created, "account_created_at"), "account_created_at")

    items = _items(get("items", _MISSING))
    amount = get("amount")
    if amount is None:
        amount = sum(i.quantity * i.unit_price for i in items)
    elif not _is_number(amount) or amount < 0:
        raise EventError("amount", f"expected a number >= 0, got {amount!r}")
    if amount == _INF:
        raise EventError("amount" if "amount" in data else "items", "amount overflows (not a finite number)")

    text = [None] * len(OPTIONAL_TEXT)
    for n, name in enumerate(OPTIONAL_TEXT):
        value = get(name)
        if value is not None:
            if type(value) is not str:
                _text(value, name)
            text[n] = value
    address = get("shipping_address")
    if address is not None and type(address) is not str:
        address = _address(address)

    return OrderEvent(
        order_id, event_time, ts, account_id, items, float(amount), created_ts, *text, address  # type: ignore[arg-type]
    )


def parse_time(text: str, field: str) -> float:
    """RFC 3339 timestamp with an offset -> epoch seconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise EventError(field, f"not an RFC 3339 timestamp: {text!r}") from None
    if moment.tzinfo is None:
        raise EventError(field, f"timestamp needs a UTC offset (e.g. +08:00 or Z): {text!r}")
    try:
        ts = moment.timestamp()
    except (OverflowError, ValueError):  # year 1 or 9999 shifted out of range by its offset
        ts = math.nan
    if not EARLIEST <= ts < LATEST:
        raise EventError(field, f"timestamp outside 2000-01-01..2099-12-31: {text!r}")
    return ts


def check_not_ahead(event: OrderEvent, now: float, limit: float) -> None:
    """Refuse an order stamped more than ``limit`` seconds after ``now`` (the consumer's wall clock)."""
    if event.ts - now > limit:
        raise EventError("event_time", f"{event.ts - now:.0f} s ahead of the clock (the limit is {limit:g} s): "
                                       f"{event.event_time!r}")


def order_digest(data: Mapping[str, Any]) -> bytes:
    """A fingerprint of an event's content (key order aside): equal for a re-sent order, not for another."""
    return hashlib.blake2b(orjson.dumps(data, option=orjson.OPT_SORT_KEYS), digest_size=12).digest()


_MISSING = object()
_INF = float("inf")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise EventError(field, f"expected a string, got {type(value).__name__}")
    return value


def _required_text(data: Mapping[str, Any], field: str) -> str:
    value = data.get(field)
    if value is None:
        raise EventError(field, "required field is missing")
    if not isinstance(value, str):
        raise EventError(field, f"expected a string, got {type(value).__name__}")
    if not value:
        raise EventError(field, "must not be empty")
    return value


def _items(value: Any) -> tuple[Item, ...]:
    if type(value) is not list:
        if value is _MISSING or value is None:
            raise EventError("items", "required field is missing")
        raise EventError("items", f"expected a list, got {type(value).__name__}")
    if not value:
        raise EventError("items", "needs at least one item")
    if len(value) > MAX_ITEMS:
        raise EventError("items", f"{len(value)} items exceed the limit of {MAX_ITEMS}")
    out = []
    for entry in value:
        if type(entry) is dict:
            sku = entry.get("sku")
            quantity = entry.get("quantity")
            price = entry.get("unit_price")
            if (
                type(sku) is str and sku
                and type(quantity) is int and quantity >= 1
                and (type(price) is float or type(price) is int) and 0 <= price < _INF
            ):
                out.append(Item(sku, quantity, float(price)))
                continue
        _item_error(len(out), entry)
    return tuple(out)


def _item_error(n: int, entry: Any) -> None:
    """Raise the precise error for an item that failed the fast check."""
    where = f"items[{n}]"
    if not isinstance(entry, dict):
        raise EventError(where, f"expected an object, got {type(entry).__name__}")
    sku = entry.get("sku")
    if not isinstance(sku, str) or not sku:
        raise EventError(f"{where}.sku", "expected a non-empty string")
    quantity = entry.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise EventError(f"{where}.quantity", f"expected an integer >= 1, got {quantity!r}")
    if quantity < 1:
        raise EventError(f"{where}.quantity", f"must be >= 1, got {quantity}")
    raise EventError(f"{where}.unit_price", f"expected a number >= 0, got {entry.get('unit_price')!r}")


def _address(value: Any) -> str | dict[str, str] | None:
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise EventError("shipping_address", f"expected a string or an object, got {type(value).__name__}")
    out = {}
    for part in ADDRESS_PARTS:
        text = value.get(part)
        if text is not None:
            out[part] = _text(text, f"shipping_address.{part}")
    return out
