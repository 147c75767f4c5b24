"""What the rules see of one order: its sale, its flash items and its entity keys.

Entity keys are canonical (one phone written five ways is one phone) and
pseudonymous: IPs, prefixes, devices, phones, cards and addresses become
keyed-HMAC pseudonyms before they reach any window, so engine state never
holds the raw values.  Keys are computed lazily, only for the entities the
rule set uses, and cached because the same values recur across orders.

Each kind has its own keyer (:meth:`EntityKeys.keyer`): text goes straight
to that kind's cache, its canonical function and the pseudonym function with
its key made once, so the per-order cost is one dict lookup for a value seen
before and no dispatch on the kind for a new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Callable

import orjson

from .. import entities
from ..events import EventError, Item, OrderEvent
from ..rules.model import Sale

_CACHE_LIMIT = 200_000
_MISS = object()


class EntityKeys:
    """Raw entity values -> pseudonymous canonical keys (``None`` when absent)."""

    def __init__(self, secret: bytes, phone_region: str = "CN"):
        self.secret = secret
        self.phone_region = phone_region
        self._caches: dict[str, dict[object, str | None]] = {}
        self._keyers: dict[str, Callable[[object], str | None]] = {}

    def keyer(self, kind: str) -> Callable[[object], str | None]:
        """``lambda raw: self.key(kind, raw)``, made once per kind and faster: text values
        look up the kind's cache directly; a new one is made canonical and pseudonymised
        without going through the kind's name again.  Same results, same errors."""
        keyer = self._keyers.get(kind)
        if keyer is None:
            keyer = self._keyers[kind] = self._make_keyer(kind)
        return keyer

    def _make_keyer(self, kind: str) -> Callable[[object], str | None]:
        cache = self._caches.get(kind)
        if cache is None:
            cache = self._caches[kind] = {}
        key, pseudonym = self.key, entities.pseudonym_function(kind, self.secret)
        canonical = self._canonical_text(kind)
        limit = _CACHE_LIMIT

        def keyer(raw: object) -> str | None:
            if type(raw) is not str:
                return None if raw is None else key(kind, raw)
            out = cache.get(raw, _MISS)
            if out is _MISS:
                value = canonical(raw)
                out = None if value is None else pseudonym(value)
                if len(cache) >= limit:
                    cache.clear()
                cache[raw] = out
            return out  # type: ignore[return-value]

        return keyer

    def _canonical_text(self, kind: str) -> Callable[[str], str | None]:
        """:meth:`canonical` of text, for one kind."""
        if kind == "ip" or kind == "ip_prefix":
            of = entities.ip_key if kind == "ip" else entities.ip_prefix

            def ip(raw: str) -> str:
                value = of(raw)
                if value is None:
                    raise EventError("ip", f"not an IPv4 or IPv6 address: {raw!r}")
                return value

            return ip
        if kind in ("phone", "address"):
            return lambda raw: self.canonical(kind, raw)

        def text(raw: str) -> str | None:
            return raw.strip() or None

        return text

    def key(self, kind: str, raw: object) -> str | None:
        """The pseudonym of ``raw`` as an entity of ``kind`` (ip, ip_prefix, device...)."""
        if raw is None:
            return None
        if type(raw) is not str:
            if kind != "address" or not (type(raw) is dict or isinstance(raw, Mapping)):
                return self._key_of_data(kind, raw)
            # A structured address has the key of its text form (see
            # entities.address_key), which makes a compact cache key.
            raw = entities.address_text(raw)
        cache = self._caches.get(kind)
        if cache is None:
            cache = self._caches[kind] = {}
        out = cache.get(raw, _MISS)
        if out is _MISS:
            out = self._pseudonym(kind, raw)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()  # cheap and bounded; hot values come straight back
            cache[raw] = out
        return out  # type: ignore[return-value]

    def _key_of_data(self, kind: str, raw: object) -> str | None:
        """:meth:`key` of a value that is not text (a number...), cached by its JSON text."""
        cache = self._caches.setdefault(kind, {})
        cache_key = ("json", orjson.dumps(raw, option=orjson.OPT_SORT_KEYS).decode())
        out = cache.get(cache_key, _MISS)
        if out is _MISS:
            out = self._pseudonym(kind, raw)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[cache_key] = out
        return out  # type: ignore[return-value]

    def _pseudonym(self, kind: str, raw: object) -> str | None:
        """The pseudonym of the canonical value, without the cache."""
        canonical = self.canonical(kind, raw)
        return None if canonical is None else entities.pseudonym(kind, canonical, self.secret)

    def canonical(self, kind: str, raw: object) -> str | None:
        """The canonical text of a raw value, before pseudonymisation."""
        if kind == "ip" or kind == "ip_prefix":
            value = entities.ip_key(raw) if kind == "ip" else entities.ip_prefix(raw)  # type: ignore[arg-type]
            if value is None:
                raise EventError("ip", f"not an IPv4 or IPv6 address: {raw!r}")
            return value
        if kind == "phone":
            value = entities.phone_key(raw, self.phone_region)  # type: ignore[arg-type]
            if value is None:  # not a possible number: keep its digits so it still links
                digits = "".join(c for c in str(raw) if c.isdigit())
                return digits or None
            return value
        if kind == "address":
            return entities.address_key(raw)  # type: ignore[arg-type]
        text = str(raw).strip()
        return text or None


class SaleIndex:
    """Finds the flash sale an order belongs to."""

    def __init__(self, sales: dict[str, Sale]):
        self.sales = sales
        self.start = {s.id: s.start.timestamp() for s in sales.values()}
        self.end = {s.id: s.end.timestamp() for s in sales.values()}
        self.skus = {s.id: frozenset(s.skus) for s in sales.values()}
        self.by_sku: dict[str, list[Sale]] = {}
        for sale in sales.values():
            for sku in sale.skus:
                self.by_sku.setdefault(sku, []).append(sale)
        self.longest = max((self.end[s] - self.start[s] for s in sales), default=0.0)

    def resolve(self, event: OrderEvent) -> Sale | None:
        """The order's ``sale_id`` if known, else a running sale selling one of its SKUs."""
        if event.sale_id is not None:
            sale = self.sales.get(event.sale_id)
            if sale is not None:
                return sale
        by_sku = self.by_sku
        if not by_sku:
            return None
        for item in event.items:
            for sale in by_sku.get(item.sku, ()):
                if self.start[sale.id] <= event.ts <= self.end[sale.id]:
                    return sale
        return None


class OrderView:
    """One order as the rules see it; derived values are computed once, on demand."""

    __slots__ = ("event", "sale", "flash_items", "since_sale_start", "quantity", "account_age", "cluster", "model_score",
                 "_keys", "_entity")

    def __init__(self, event: OrderEvent, sales: SaleIndex, keys: EntityKeys):
        self.event = event
        items = event.items
        self.quantity = items[0].quantity if len(items) == 1 else sum(i.quantity for i in items)  # units
        self.account_age = event.account_age
        self.model_score: float | None = None  # set by the anomaly model, when one is loaded, before rules run
        sale = sales.resolve(event) if sales.sales else None
        self.sale = sale
        if sale is None:
            self.flash_items: tuple[Item, ...] = ()
            self.since_sale_start: float | None = None
        else:
            skus = sales.skus[sale.id]
            self.flash_items = tuple(i for i in event.items if i.sku in skus)
            self.since_sale_start = event.ts - sales.start[sale.id]
        self._keys = keys
        self.cluster = None  # ClusterFacts, set by the graph step when the rule set keeps a graph
        account = event.account_id
        self._entity: dict[str, str | None] = {"account": account, "person": account}

    def set_person(self, cluster_id: str) -> None:
        """The order's ``person`` is its account's cluster (set by the graph step)."""
        self._entity["person"] = cluster_id

    def keys(self) -> dict[str, str | None]:
        """The entity pseudonyms computed so far, to hand to a later stage with the order."""
        return {name: value for name, value in self._entity.items() if name in _PSEUDONYMOUS}

    def preset(self, keys: dict[str, str | None]) -> None:
        """Take pseudonyms computed for this order elsewhere (see :meth:`keys`)."""
        self._entity.update(keys)

    def known_entities(self) -> dict[str, str | None]:
        """The entity keys computed so far, by name (read-only: :meth:`entity` computes the others)."""
        return self._entity

    def entity(self, name: str) -> str | None:
        """The key of an entity of this order (``account``, ``ip``, ``address``...)."""
        value = self._entity.get(name, _MISS)
        if value is _MISS:
            source = _PSEUDONYMOUS.get(name)
            if source is not None:
                kind, attribute = source
                value = self._keys.keyer(kind)(getattr(self.event, attribute))
            else:
                value = _ENTITY_GETTERS[name](self)
            self._entity[name] = value
        return value  # type: ignore[return-value]


# Entities keyed by the pseudonym of an event field: name -> (kind, field).
_PSEUDONYMOUS: dict[str, tuple[str, str]] = {
    "ip": ("ip", "ip"),
    "ip_prefix": ("ip_prefix", "ip"),
    "device": ("device", "device_id"),
    "phone": ("phone", "phone"),
    "payment": ("payment", "payment_fingerprint"),
    "address": ("address", "shipping_address"),
}

_ENTITY_GETTERS: dict[str, Callable[[OrderView], str | None]] = {
    "account": lambda v: v.event.account_id,
    "person": lambda v: v.event.account_id,
    "sale": lambda v: v.sale.id if v.sale is not None else None,
}
