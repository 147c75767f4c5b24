"""Filling the case store from decision records (``risk-review`` and ``risk-decisions``).

Both topics carry ``riskstream.decision/v1`` records.  An order enters the
store with its first flagged revision (every ``risk-review`` record is
flagged); later revisions of an order the store holds update it, whatever
their action (a release makes it ``allow``).  Orders are grouped into cases by
cluster id: a ring is one case, an order without a cluster is a case of its
own, and an order whose later revision puts it in a cluster moves into the
cluster's case.  ``(order_id, revision)`` is seen once: the same record twice
(both topics, a replayed partition) changes nothing.

:meth:`CaseIngest.ingest` takes a batch and writes it in one transaction.  A
record that breaks the contract is not skipped quietly: it comes back in
:attr:`IngestResult.rejected` with the reason, and the Kafka consumer sends
it to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import func, select, tuple_

from ..decisions import DECISION_SCHEMA, Outcome
from .models import Case, Order, Revision
from .store import CaseStore

LONE_PREFIX = "order:"
_IN_CHUNK = 500  # ids per IN (...) query


class RecordError(ValueError):
    """A decision record the store cannot take; ``field`` names where."""

    def __init__(self, field: str | None, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


@dataclass(slots=True)
class IngestResult:
    """What one batch did."""

    added: int = 0  # revisions written
    duplicates: int = 0  # (order, revision) already in the store or twice in the batch
    ignored: int = 0  # allowed orders the store does not hold (not a case)
    cases: set[str] = field(default_factory=set)  # cases created or changed
    rejected: list[tuple[int, RecordError]] = field(default_factory=list)  # (index in the batch, problem)

    def merge(self, other: "IngestResult") -> None:
        self.added += other.added
        self.duplicates += other.duplicates
        self.ignored += other.ignored
        self.cases |= other.cases
        self.rejected.extend(other.rejected)


def case_id_for(record: Mapping[str, Any]) -> str:
    """The case an order belongs to: its cluster, or the order alone."""
    return record.get("cluster_id") or f"{LONE_PREFIX}{record['order_id']}"


def check_record(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """A decision record as a mapping, checked for what the store needs, or :class:`RecordError`."""
    if isinstance(raw, Mapping):
        data = dict(raw)
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RecordError(None, f"not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise RecordError(None, f"expected a JSON object, got {type(data).__name__}")
    if data.get("schema") != DECISION_SCHEMA:
        raise RecordError("schema", f"expected {DECISION_SCHEMA!r}, got {data.get('schema')!r}")
    for name in ("order_id", "account_id", "ruleset_version", "event_time", "decided_at"):
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise RecordError(name, f"expected a non-empty string, got {value!r}")
    try:
        data["_action"] = Outcome.parse(str(data.get("action")))
    except ValueError as exc:
        raise RecordError("action", str(exc)) from None
    revision = data.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 1:
        raise RecordError("revision", f"expected a positive integer, got {revision!r}")
    score = data.get("score")
    if not isinstance(score, (int, float)) or isinstance(score, bool):
        raise RecordError("score", f"expected a number, got {score!r}")
    reasons = data.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, dict) and isinstance(r.get("rule"), str)
                                                 for r in reasons):
        raise RecordError("reasons", "expected a list of objects with a rule")
    cluster_id = data.get("cluster_id")
    if cluster_id is not None and (not isinstance(cluster_id, str) or not cluster_id):
        raise RecordError("cluster_id", f"expected a non-empty string or null, got {cluster_id!r}")
    return data


def _chunks(items: list, size: int = _IN_CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class CaseIngest:
    """Writes decision records into a :class:`CaseStore`, one transaction per batch."""

    def __init__(self, store: CaseStore, clock=lambda: datetime.now(timezone.utc)):
        self.store = store
        self.clock = clock

    def ingest(self, records: Iterable[bytes | str | Mapping[str, Any]]) -> IngestResult:
        result = IngestResult()
        checked: dict[tuple[str, int], dict[str, Any]] = {}
        for index, raw in enumerate(records):
            try:
                data = check_record(raw)
            except RecordError as exc:
                result.rejected.append((index, exc))
                continue
            key = (data["order_id"], data["revision"])
            if key in checked:
                result.duplicates += 1
            else:
                checked[key] = data
        if not checked:
            return result
        now = self.clock()
        with self.store.session() as session:
            seen: set[tuple[str, int]] = set()
            order_ids = sorted({key[0] for key in checked})
            for chunk in _chunks(sorted(checked)):
                seen.update(session.execute(
                    select(Revision.order_id, Revision.revision).where(
                        tuple_(Revision.order_id, Revision.revision).in_(chunk))).tuples())
            orders: dict[str, Order] = {}
            first: dict[str, int] = {}  # each held order's first stored revision: its timeline starts there
            for chunk in _chunks(order_ids):
                orders.update((o.order_id, o) for o in session.scalars(select(Order).where(Order.order_id.in_(chunk))))
                first.update(session.execute(select(Revision.order_id, func.min(Revision.revision))
                                             .where(Revision.order_id.in_(chunk)).group_by(Revision.order_id)).tuples().all())
            fresh = [checked[key] for key in sorted(checked, key=lambda k: (k[1], k[0])) if key not in seen]
            result.duplicates += len(checked) - len(fresh)
            wanted = {case_id_for(d) for d in fresh} | {o.case_id for o in orders.values()}
            cases: dict[str, Case] = {}
            for chunk in _chunks(sorted(wanted)):
                cases.update((c.id, c) for c in session.scalars(select(Case).where(Case.id.in_(chunk))))
            touched: set[str] = set()
            for data in fresh:
                order = orders.get(data["order_id"])
                action: Outcome = data["_action"]
                if not action.flagged and (order is None or data["revision"] < first.get(data["order_id"], 0)):
                    # An allowed order nobody has to review, or an allowed revision from before the order was
                    # flagged: ignored whether it comes before or after the flag, so ingest twice is one row.
                    result.ignored += 1
                    continue
                first.setdefault(data["order_id"], data["revision"])
                session.add(Revision(order_id=data["order_id"], revision=data["revision"], action=int(action),
                                     score=float(data["score"]), reasons=data["reasons"],
                                     decided_at=data["decided_at"]))
                result.added += 1
                if order is not None and order.revision > data["revision"]:
                    continue  # an older revision arriving late: kept in the timeline only
                case = self._case(session, cases, case_id_for(data), data, now)
                if order is None:
                    order = Order(order_id=data["order_id"], case_id=case.id)
                    session.add(order)
                    orders[order.order_id] = order
                elif order.case_id != case.id:
                    touched.add(order.case_id)  # moved into its cluster's case
                    order.case_id = case.id
                self._apply(order, data, action)
                rules = set(filter(None, case.rules.split(","))) | {r["rule"] for r in data["reasons"]}
                case.rules = "," + ",".join(sorted(rules)) + "," if rules else ""
                cluster = data.get("cluster")
                if isinstance(cluster, dict) and int(cluster.get("size") or 0) >= case.size:
                    case.size = int(cluster.get("size") or 1)
                    case.cluster = cluster
                touched.add(case.id)
            session.flush()
            self._summarise(session, cases, touched, now)
            result.cases |= touched
        return result

    @staticmethod
    def _case(session, cases: dict[str, Case], case_id: str, data: Mapping[str, Any], now: datetime) -> Case:
        case = cases.get(case_id)  # every case the batch touches was loaded up front: missing means new
        if case is None:
            case = Case(id=case_id, cluster_id=data.get("cluster_id"), status="open", outcome=0, risk=0.0, size=1,
                        orders_count=0, rules="", opened_at=now, updated_at=now, first_event=data["event_time"],
                        last_event=data["event_time"], revision=0)
            session.add(case)
        cases[case_id] = case
        return case

    @staticmethod
    def _apply(order: Order, data: Mapping[str, Any], action: Outcome) -> None:
        order.account_id = data["account_id"]
        order.action = int(action)
        order.score = float(data["score"])
        order.revision = data["revision"]
        order.reasons = data["reasons"]
        order.ruleset_version = data["ruleset_version"]
        order.model_version = data.get("model_version")
        order.model_score = data.get("model_score")
        order.event_time = data["event_time"]
        order.decided_at = data["decided_at"]
        order.cluster = data.get("cluster")

    @staticmethod
    def _summarise(session, cases: dict[str, Case], touched: set[str], now: datetime) -> None:
        """Outcome, risk, order count and event span of each touched case, from its orders."""
        for chunk in _chunks(sorted(touched)):
            rows = session.execute(
                select(Order.case_id, func.max(Order.action), func.max(Order.score), func.count(),
                       func.min(Order.event_time), func.max(Order.event_time))
                .where(Order.case_id.in_(chunk)).group_by(Order.case_id)).all()
            counted = set()
            for case_id, outcome, risk, count, first, last in rows:
                case = cases.get(case_id) or session.get(Case, case_id)
                case.outcome, case.risk, case.orders_count = outcome, risk, count
                case.first_event, case.last_event = first, last
                case.updated_at = now
                case.revision += 1
                counted.add(case_id)
            for case_id in set(chunk) - counted:  # every order moved out: nothing left to review
                case = cases.get(case_id) or session.get(Case, case_id)
                if case is not None:
                    case.orders_count, case.status, case.updated_at = 0, "merged", now
                    case.revision += 1


__all__ = ["CaseIngest", "IngestResult", "LONE_PREFIX", "RecordError", "case_id_for", "check_record"]
