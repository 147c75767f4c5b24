"""Order ids seen recently, with a fingerprint of each order's content.

An order id is the idempotency key: the same order delivered again (a
producer retry, a consumer that restarted before committing) is applied once.
A *different* order under an id already seen is not a duplicate: answering
it with the first order's decision would let a forged or buggy order ride
on an earlier decision, so it is refused (``REUSED``) and dead-lettered with
:data:`riskstream.events.REUSED_ID`.  Content is compared by
:func:`riskstream.events.order_digest`.
"""

from __future__ import annotations

__all__ = ["NEW", "REPEAT", "REUSED", "OrderIds"]

NEW = "new"  #: first time this order id is seen
REPEAT = "repeat"  #: seen before with the same content: apply once
REUSED = "reused"  #: seen before with different content: refuse


class OrderIds:
    """Order ids seen within ``horizon`` seconds of event time, each with its content digest."""

    def __init__(self, horizon: float):
        self.horizon = horizon
        self.seen: dict[str, tuple[float, bytes]] = {}  # order id -> (event time, digest)
        self._sweep_at = 0

    def __len__(self) -> int:
        return len(self.seen)

    def check(self, order_id: str, ts: float, digest: bytes) -> str:
        """:data:`NEW` the first time ``order_id`` is seen (and remembers it), else
        :data:`REPEAT` or :data:`REUSED` by comparing ``digest`` with the first one's."""
        known = self.seen.get(order_id)
        if known is not None:
            return REPEAT if known[1] == digest else REUSED
        self.seen[order_id] = (ts, digest)
        if len(self.seen) >= self._sweep_at:
            cut = max(v[0] for v in self.seen.values()) - self.horizon
            self.seen = {k: v for k, v in self.seen.items() if v[0] > cut}
            self._sweep_at = 2 * len(self.seen) + 10_000
        return NEW

    def remember(self, order_id: str, ts: float, digest: bytes) -> None:
        """Note ``order_id``'s content where another memory (the engine's) decides what is new."""
        self.seen.pop(order_id, None)
        self.check(order_id, ts, digest)

    def compare(self, order_id: str, digest: bytes) -> str:
        """:data:`REPEAT` or :data:`REUSED` for an order id known to be seen (:data:`REPEAT`
        when its content has been forgotten)."""
        known = self.seen.get(order_id)
        return REUSED if known is not None and known[1] != digest else REPEAT

    def first_time(self, order_id: str, ts: float, digest: bytes = b"") -> bool:
        """True the first time ``order_id`` is seen (whatever the content of later ones)."""
        return self.check(order_id, ts, digest) == NEW
