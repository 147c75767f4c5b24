"""Filling in the sale and amount of orders stored before migration 0004, from the order history.

Decision records carry the order's ``sale``, ``amount`` and ``currency`` since
migration 0004; orders stored before it have none, so their cases match no
sale and no amount bound in the queue's filters until a later revision comes.
The store keeps decisions, not orders, so the backfill reads the order history
(JSONL or CSV, as ``riskstream replay`` reads it): for each stored order without
an amount, the history's order gives its amount and currency, and the rule set's
flash sales give its sale the way the engine matches it (the order's
``sale_id`` when the rules know it, else a running sale selling one of its
SKUs).  The orders' cases then get their sale and total amount as ingest gives
them, and new sales join the filter's choices.

Only orders that have no amount are written (running it twice changes
nothing), one transaction per batch of history.  A history line that is not a
valid order is an error naming the line; the batches before it stay written
(each is whole), and running again after fixing the line goes on where it
stopped.  A case's revision does not change: its orders and their decisions
are the same, so a verdict a reviewer is giving on it is not refused as stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from ..engine.order_view import SaleIndex
from ..events import EventError, decode, parse_order
from ..rules import RuleSet
from ..terminal import first_few
from .ingest import chunked, latest_sales
from .models import Case, Order, SaleSeen
from .store import CaseStore

_ORDERS = Order.__table__
_CASES = Case.__table__
_SALES = SaleSeen.__table__
BATCH = 5000  # history orders per transaction


class BackfillError(ValueError):
    """The history cannot be read as orders; the message names the line."""


@dataclass
class Backfill:
    """What a backfill did."""

    wanting: int = 0  # stored orders without an amount when it started
    read: int = 0  # history records read
    filled: int = 0  # orders given their amount (and sale, when they were in one)
    in_sales: int = 0  # of those, orders matched to a flash sale
    cases: set[str] = field(default_factory=set)  # cases whose sale and amount were summed again
    missing: list[str] = field(default_factory=list)  # orders still without an amount: not in the history

    def summary(self) -> str:
        text = (f"{self.filled:,} of {self.wanting:,} orders without an amount filled from {self.read:,} history "
                f"records ({self.in_sales:,} in a flash sale); {len(self.cases):,} cases updated")
        if self.missing:
            text += f"; {len(self.missing):,} orders are not in the history: {first_few(self.missing)}"
        return text


def orders_without_amount(store: CaseStore) -> set[str]:
    """Ids of the stored orders whose records carried no amount (stored before migration 0004)."""
    with store.engine.connect() as connection:
        return set(connection.scalars(select(_ORDERS.c.order_id).where(_ORDERS.c.amount.is_(None))))


def backfill(store: CaseStore, history: Iterable[tuple[str, Any]], ruleset: RuleSet, *,
             progress: Callable[[int], None] = lambda done: None, batch: int = BATCH,
             clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
             wanting: set[str] | None = None) -> Backfill:
    """Fill in the sale and amount of stored orders that have none from ``history`` (``(source, record)``
    pairs, as :func:`riskstream.offline.history.read_records` yields them); ``progress`` is told the count
    of orders filled so far.  ``wanting``: the orders to fill, when the caller has looked them up already
    (:func:`orders_without_amount`)."""
    wanting = set(orders_without_amount(store) if wanting is None else wanting)
    result = Backfill(wanting=len(wanting))
    sales = SaleIndex(ruleset.sales)
    rows: dict[str, dict[str, Any]] = {}
    for source, record in history:
        result.read += 1
        if not wanting:
            continue  # nothing left to fill: the rest is only counted
        try:
            event = parse_order(dict(record) if isinstance(record, dict) else decode(record))
        except EventError as exc:
            raise BackfillError(f"{source}: not a valid order: {exc}") from None
        if event.order_id not in wanting:
            continue
        wanting.discard(event.order_id)
        sale = sales.resolve(event) if sales.sales else None
        rows[event.order_id] = {"b_order_id": event.order_id, "sale": sale.id if sale is not None else None,
                                "amount": event.amount, "currency": event.currency}
        if len(rows) >= batch:
            _write(store, rows, result, clock())
            progress(result.filled)
            rows = {}
    if rows:
        _write(store, rows, result, clock())
        progress(result.filled)
    result.missing = sorted(wanting)
    return result


def _write(store: CaseStore, rows: dict[str, dict[str, Any]], result: Backfill, now: datetime) -> None:
    """One batch in one transaction: the orders, then their cases' sale and amount, then new sales."""
    with store.engine.begin() as connection:
        connection.execute(update(_ORDERS).where(_ORDERS.c.order_id == bindparam("b_order_id"),
                                                 _ORDERS.c.amount.is_(None)), list(rows.values()))
        touched: set[str] = set()
        for chunk in chunked(sorted(rows)):
            touched.update(connection.scalars(select(_ORDERS.c.case_id).where(_ORDERS.c.order_id.in_(chunk))))
        summed = []
        for chunk in chunked(sorted(touched)):
            totals = connection.execute(
                select(_ORDERS.c.case_id, func.sum(_ORDERS.c.amount), func.min(_ORDERS.c.sale),
                       func.max(_ORDERS.c.sale))
                .where(_ORDERS.c.case_id.in_(chunk)).group_by(_ORDERS.c.case_id)).all()
            latest = latest_sales(connection, [case_id for case_id, _, low, high in totals if low != high])
            summed += [{"b_id": case_id, "amount": amount, "sale": latest.get(case_id) if low != high else low}
                       for case_id, amount, low, high in totals]
        if summed:
            connection.execute(update(_CASES).where(_CASES.c.id == bindparam("b_id")), summed)
        new = {row["sale"] for row in rows.values() if row["sale"] is not None}
        if new:
            new.difference_update(connection.scalars(select(_SALES.c.id).where(_SALES.c.id.in_(sorted(new)))))
            if new:
                connection.execute(insert(_SALES), [{"id": sale, "first_seen": now} for sale in sorted(new)])
    result.filled += len(rows)
    result.in_sales += sum(1 for row in rows.values() if row["sale"] is not None)
    result.cases |= touched


__all__ = ["BATCH", "Backfill", "BackfillError", "backfill", "orders_without_amount"]
