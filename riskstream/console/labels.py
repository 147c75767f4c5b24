"""Human labels out of the case store, as labelled order events for training and precision reports.

A case a reviewer confirmed as scalping labels its orders 1; a false positive
or a release labels them 0; open and escalated cases give no label.  A freeze
of *chosen* accounts labels only those accounts' orders 1 (the rest of the
case stays unlabelled: nobody said they were innocent).

The case store keeps decisions, not the orders themselves (the order pipeline
holds the raw order), so the export reads the order history (JSONL or CSV, as
``riskstream replay`` does) and writes each labelled order as it was, in the
``riskstream.order/v1`` contract, with the label in ``label_field``: the input
``riskstream model train --label-field label`` and ``riskstream replay
--label-field label`` expect.  A history line that is not a valid order is an
error naming the line; labelled orders missing from the history are counted
and reported, never dropped quietly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select

from ..events import EventError, decode, parse_order
from ..terminal import first_few
from .models import Case, Order, VerdictRow
from .store import CaseStore

CONFIRMED, NOT_SCALPING = 1, 0


class LabelExportError(ValueError):
    """The history cannot be read as orders; the message names the line."""


@dataclass
class LabelExport:
    """What an export wrote."""

    labelled: int = 0  # orders the store labels
    written: int = 0
    positives: int = 0
    read: int = 0  # history records read
    missing: list[str] = field(default_factory=list)  # labelled order ids not found in the history

    def summary(self) -> str:
        text = (f"{self.written:,} labelled orders written ({self.positives:,} confirmed, "
                f"{self.written - self.positives:,} not scalping) from {self.read:,} orders read")
        if self.missing:
            text += f"; {len(self.missing):,} labelled orders are not in the history: {first_few(self.missing)}"
        return text


def _chosen_accounts(record: dict[str, Any] | None) -> set[str]:
    return set((record or {}).get("accounts") or ())


def order_labels(store: CaseStore) -> dict[str, int]:
    """``order_id -> label`` for every order of a labelled case."""
    labels: dict[str, int] = {}
    with store.session() as session:
        chosen: dict[str, set[str]] = {}
        freezes = session.execute(select(VerdictRow.case_id, VerdictRow.record, VerdictRow.action)
                                  .order_by(VerdictRow.created_at)).all()
        for case_id, record, action in freezes:
            if action == "freeze":
                chosen[case_id] = _chosen_accounts(record)  # the last freeze of a case says which accounts
        rows = session.execute(select(Order.order_id, Order.account_id, Case.id, Case.label)
                               .join(Case, Order.case_id == Case.id).where(Case.label.is_not(None)))
        for order_id, account_id, case_id, label in rows:
            if label == CONFIRMED and chosen.get(case_id) and account_id not in chosen[case_id]:
                continue
            labels[order_id] = CONFIRMED if label == CONFIRMED else NOT_SCALPING
    return labels


def export_labels(store: CaseStore, history: Iterable[tuple[str, Any]], write: Callable[[bytes], None], *,
                  label_field: str = "label") -> LabelExport:
    """Write each labelled order of ``history`` (``(source, record)`` pairs, as
    :func:`riskstream.offline.history.read_records` yields them) as one JSON line."""
    labels = order_labels(store)
    result = LabelExport(labelled=len(labels))
    found: set[str] = set()
    for source, record in history:
        result.read += 1
        try:
            data = dict(record) if isinstance(record, dict) else decode(record)
            event = parse_order(data)
        except EventError as exc:
            raise LabelExportError(f"{source}: not a valid order: {exc}") from None
        label = labels.get(event.order_id)
        if label is None or event.order_id in found:
            continue
        found.add(event.order_id)
        data[label_field] = label
        write(orjson.dumps(data) + b"\n")
        result.written += 1
        result.positives += label
    result.missing = sorted(set(labels) - found)
    return result


__all__ = ["LabelExport", "LabelExportError", "export_labels", "order_labels"]
