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

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import JSON, bindparam, func, insert, select, update

from ..decisions import DECISION_SCHEMA, Outcome
from .models import Case, CaseRule, Order, Revision, SaleSeen
from .store import CaseStore, JSONText, json_text

LONE_PREFIX = "order:"
_IN_CHUNK = 500  # ids per IN (...) query


class RecordError(ValueError):
    """A decision record the store cannot take; ``field`` names where."""

    def __init__(self, field: str | None, problem: str, redacted: str | None = None):
        self.field = field
        self.problem = problem
        #: the problem without the value seen (which may be anything, personal data too): for logs
        self.redacted = f"{field}: {redacted or problem}" if field else redacted or problem
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


def _kind(value: Any) -> str:
    """What a value is, without the value."""
    if isinstance(value, (str, bytes, list, dict)):
        return f"a {type(value).__name__} of length {len(value)}"
    return "null" if value is None else f"a {type(value).__name__}"


_INF = float("inf")
_STRINGS = ("order_id", "account_id", "ruleset_version", "event_time", "decided_at")
_ACTIONS = {o.label: o for o in Outcome}


def check_record(raw: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """A decision record as a mapping, checked for what the store needs, or :class:`RecordError`."""
    if isinstance(raw, (bytes, str)):  # what Kafka gives (tested first: a Mapping test is an ABC check)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise RecordError(None, f"not valid JSON: {exc}") from None
        if data.__class__ is not dict:
            raise RecordError(None, f"expected a JSON object, got {type(data).__name__}")
    else:
        data = dict(raw)
    if data.get("schema") != DECISION_SCHEMA:
        raise RecordError("schema", f"expected {DECISION_SCHEMA!r}, got {data.get('schema')!r}",
                          f"expected {DECISION_SCHEMA!r}, got {_kind(data.get('schema'))}")
    for name in _STRINGS:
        value = data.get(name)
        if value.__class__ is not str or not value:
            raise RecordError(name, f"expected a non-empty string, got {value!r}",
                              f"expected a non-empty string, got {_kind(value)}")
    action = _ACTIONS.get(data.get("action"))  # the exact labels first, then any spelling Outcome.parse takes
    if action is None:
        try:
            action = Outcome.parse(str(data.get("action")))
        except ValueError as exc:
            raise RecordError("action", str(exc), f"not an outcome: {_kind(data.get('action'))}") from None
    data["_action"] = action
    revision = data.get("revision")
    if revision.__class__ is not int or revision < 1:
        raise RecordError("revision", f"expected a positive integer, got {revision!r}",
                          f"expected a positive integer, got {_kind(revision)}")
    score = data.get("score")
    if score.__class__ is not float and score.__class__ is not int:
        raise RecordError("score", f"expected a number, got {score!r}", f"expected a number, got {_kind(score)}")
    reasons = data.get("reasons")
    if reasons.__class__ is not list or (reasons and not all(
            isinstance(r, dict) and isinstance(r.get("rule"), str) for r in reasons)):
        raise RecordError("reasons", "expected a list of objects with a rule")
    cluster_id = data.get("cluster_id")
    if cluster_id is not None and (not isinstance(cluster_id, str) or not cluster_id):
        raise RecordError("cluster_id", f"expected a non-empty string or null, got {cluster_id!r}",
                          f"expected a non-empty string or null, got {_kind(cluster_id)}")
    sale = data.get("sale")
    if sale is not None and (sale.__class__ is not str or not sale or len(sale) > 120):
        raise RecordError("sale", f"expected a sale id (1 to 120 characters) or null, got {sale!r}",
                          f"expected a sale id (1 to 120 characters) or null, got {_kind(sale)}")
    amount = data.get("amount")
    if amount is not None and ((amount.__class__ is not float and amount.__class__ is not int) or not amount >= 0
                               or amount == _INF):
        raise RecordError("amount", f"expected a finite number >= 0 or null, got {amount!r}",
                          f"expected a finite number >= 0 or null, got {_kind(amount)}")
    currency = data.get("currency")
    if currency is not None and (currency.__class__ is not str or len(currency) > 12):
        raise RecordError("currency", f"expected a currency code (at most 12 characters), got {currency!r}",
                          f"expected a currency code (at most 12 characters), got {_kind(currency)}")
    return data


def chunked(items: list, size: int = _IN_CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@contextmanager
def _cycles_collected_after() -> Iterator[None]:
    """Cyclic garbage collection paused for one batch, then run once.

    A batch holds thousands of freshly parsed records; with the collector on, its passes over them (and
    over everything else alive in the process) took more time than parsing them.  Reference counting
    still frees everything acyclic at once; only cycles wait until the batch is written."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(0)


_ORDERS = Order.__table__
_CASES = Case.__table__
_REVISIONS = Revision.__table__
_CASE_RULES = CaseRule.__table__
_SALES = SaleSeen.__table__
_ORDER_FIELDS = ("account_id", "action", "score", "revision", "reasons", "ruleset_version", "model_version",
                 "model_score", "event_time", "decided_at", "cluster", "sale", "amount", "currency")


def latest_sales(connection, case_ids: list[str]) -> dict[str, str]:
    """The sale of each case's latest order by event time that has one: the sale of a case whose orders were in
    more than one (rare; a case's orders are mostly of one sale, which needs no look-up)."""
    latest: dict[str, str] = {}
    if case_ids:
        for case_id, sale in connection.execute(
                select(_ORDERS.c.case_id, _ORDERS.c.sale)
                .where(_ORDERS.c.case_id.in_(case_ids), _ORDERS.c.sale.is_not(None))
                .order_by(_ORDERS.c.case_id, _ORDERS.c.event_time, _ORDERS.c.order_id)):
            latest[case_id] = sale
    return latest


_INSERTS: dict[tuple[str, str], tuple[str, tuple[str, ...] | None]] = {}
_JSON_COLUMNS = {table.name: {c.name for c in table.columns if isinstance(c.type, JSON)} for table in (_ORDERS, _REVISIONS)}


def _insert_many(connection, table, rows: list[dict[str, Any]]) -> None:
    """``INSERT`` of many rows of ``_ORDERS`` or ``_REVISIONS`` straight through the driver's ``executemany``.

    SQLAlchemy's per-row parameter handling took a fifth of the ingest's time; these two tables have only
    strings, numbers and JSON columns, so the rows go to the driver as they are, JSON columns encoded as
    the engine's JSON serializer would (:func:`~riskstream.console.store.json_text`).  The statement is
    compiled once per dialect: positional drivers (SQLite's ``?``) take tuples in its parameter order, named
    ones (psycopg's ``%(name)s``) the rows themselves."""
    dialect = connection.dialect
    cached = _INSERTS.get((dialect.name, table.name))
    if cached is None:
        names = [c.name for c in table.columns]
        compiled = insert(table).compile(dialect=dialect, column_keys=names)
        order = tuple(compiled.positiontup) if compiled.positional else None
        cached = _INSERTS[dialect.name, table.name] = (str(compiled), order)
    sql, order = cached
    encoded = _JSON_COLUMNS[table.name]
    for row in rows:
        for name in encoded:
            row[name] = json_text(row[name])
    params = [tuple(row[name] for name in order) for row in rows] if order else rows
    connection.exec_driver_sql(sql, params)


@dataclass(slots=True)
class _Held:
    """An order the store holds (or the batch adds), as ingest needs it."""

    case_id: str
    revision: int
    first: int  # its first stored revision: its timeline starts there
    row: dict[str, Any] | None = None  # the columns to write, when the batch changes it
    new: bool = False


class CaseIngest:
    """Writes decision records into a :class:`CaseStore`, one transaction per batch.

    Written with SQLAlchemy Core, not the ORM's unit of work: one look-up of the batch's orders (and of the
    revisions of those the store holds), then one ``executemany`` per table and kind of change.  An allowed
    record of an order the store does not hold (most of ``risk-decisions``) costs its check and its share of
    one indexed look-up."""

    def __init__(self, store: CaseStore, clock=lambda: datetime.now(timezone.utc)):
        self.store = store
        self.clock = clock

    def ingest(self, records: Iterable[bytes | str | Mapping[str, Any]]) -> IngestResult:
        with _cycles_collected_after():
            return self._ingest(records)

    def _ingest(self, records: Iterable[bytes | str | Mapping[str, Any]]) -> IngestResult:
        result = IngestResult()
        checked: dict[tuple[str, int], dict[str, Any] | bytes | str] = {}
        raw_seen: set[bytes | str] = set()  # the same record from both topics in one poll is parsed once
        flagged: set[str] = set()
        for index, raw in enumerate(records):
            is_text = isinstance(raw, (bytes, str))
            if is_text:
                if raw in raw_seen:
                    result.duplicates += 1
                    continue
                raw_seen.add(raw)
            try:
                data = check_record(raw)
            except RecordError as exc:
                result.rejected.append((index, exc))
                continue
            key = (data["order_id"], data["revision"])
            if key in checked:
                result.duplicates += 1
            elif data["_action"].flagged or not is_text:
                checked[key] = data
                flagged.add(key[0])
            else:
                checked[key] = raw  # an allowed record: most make no case, so only its text is kept
        del raw_seen
        if not checked:
            return result
        now = self.clock()
        with self.store.engine.begin() as connection:
            held: dict[str, _Held] = {}
            for chunk in chunked(sorted({key[0] for key in checked})):
                for order_id, case_id, revision in connection.execute(
                        select(_ORDERS.c.order_id, _ORDERS.c.case_id, _ORDERS.c.revision)
                        .where(_ORDERS.c.order_id.in_(chunk))):
                    held[order_id] = _Held(case_id, revision, revision)
            for key, value in checked.items():
                if not isinstance(value, dict):
                    if key[0] in held or key[0] in flagged:
                        checked[key] = check_record(value)  # an order under review: its allowed revision counts
                    else:
                        result.ignored += 1  # an allowed order nobody has to review
            checked = {key: value for key, value in checked.items() if isinstance(value, dict)}
            seen: set[tuple[str, int]] = set()
            for chunk in chunked(sorted(held)):  # only an order the store holds has stored revisions
                for order_id, revision in connection.execute(
                        select(_REVISIONS.c.order_id, _REVISIONS.c.revision).where(_REVISIONS.c.order_id.in_(chunk))):
                    seen.add((order_id, revision))
                    entry = held[order_id]
                    entry.first = min(entry.first, revision)
            fresh = [checked[key] for key in sorted(checked, key=lambda k: (k[1], k[0])) if key not in seen]
            result.duplicates += len(checked) - len(fresh)
            wanted = {case_id_for(d) for d in fresh if d["_action"].flagged or d["order_id"] in held}
            wanted |= {h.case_id for h in held.values()}
            cases: dict[str, dict[str, Any]] = {}
            for chunk in chunked(sorted(wanted)):
                for row in connection.execute(select(_CASES.c.id, _CASES.c.rules, _CASES.c.size, _CASES.c.revision)
                                              .where(_CASES.c.id.in_(chunk))).mappings():
                    known = set(filter(None, row["rules"].split(",")))
                    cases[row["id"]] = dict(row, rule_set=set(known), known=known)
            new_cases: dict[str, dict[str, Any]] = {}
            revisions: list[dict[str, Any]] = []
            touched: set[str] = set()
            for data in fresh:
                order_id = data["order_id"]
                order = held.get(order_id)
                action: Outcome = data["_action"]
                if not action.flagged and (order is None or data["revision"] < order.first):
                    # An allowed order nobody has to review, or an allowed revision from before the order was
                    # flagged: ignored whether it comes before or after the flag, so ingest twice is one row.
                    result.ignored += 1
                    continue
                reasons = JSONText(orjson.dumps(data["reasons"]).decode())  # encoded once, for both tables
                revisions.append({"order_id": order_id, "revision": data["revision"], "action": int(action),
                                  "score": float(data["score"]), "reasons": reasons,
                                  "decided_at": data["decided_at"]})
                result.added += 1
                if order is not None and order.revision > data["revision"]:
                    continue  # an older revision arriving late: kept in the timeline only
                case_id = case_id_for(data)
                case = cases.get(case_id)
                if case is None:
                    case = cases[case_id] = new_cases[case_id] = {
                        "id": case_id, "cluster_id": data.get("cluster_id"), "status": "open", "outcome": 0,
                        "risk": 0.0, "size": 1, "orders_count": 0, "rules": "", "opened_at": now, "updated_at": now,
                        "first_event": data["event_time"], "last_event": data["event_time"], "assignee": None,
                        "revision": 0, "label": None, "verdict_action": None, "verdict_at": None, "cluster": None,
                        "sale": None, "amount": None, "rule_set": set(), "known": set()}
                if order is None:
                    order = held[order_id] = _Held(case_id, data["revision"], data["revision"], new=True)
                elif order.case_id != case_id:
                    touched.add(order.case_id)  # moved into its cluster's case
                    order.case_id = case_id
                order.revision = data["revision"]
                order.row = {name: data.get(name) for name in _ORDER_FIELDS}
                order.row.update(action=int(action), score=float(data["score"]), case_id=case_id, reasons=reasons)
                case["rule_set"].update(r["rule"] for r in data["reasons"])
                cluster = data.get("cluster")
                if isinstance(cluster, dict) and int(cluster.get("size") or 0) >= case["size"]:
                    case["size"] = int(cluster.get("size") or 1)
                    case["cluster"] = cluster
                touched.add(case_id)
            sales = {d["sale"] for d in fresh if d.get("sale") is not None}
            if sales:
                sales.difference_update(connection.scalars(select(_SALES.c.id).where(_SALES.c.id.in_(sorted(sales)))))
                if sales:
                    connection.execute(insert(_SALES), [{"id": sale, "first_seen": now} for sale in sorted(sales)])
            if new_cases:
                connection.execute(insert(_CASES), [{k: v for k, v in c.items() if k not in ("rule_set", "known")}
                                                    for c in new_cases.values()])
            fired = [{"rule": rule, "case_id": case_id} for case_id in sorted(touched)
                     for rule in sorted(cases[case_id]["rule_set"] - cases[case_id]["known"])]
            if fired:
                connection.execute(insert(_CASE_RULES), fired)
            if revisions:
                _insert_many(connection, _REVISIONS, revisions)
            added = [dict(h.row, order_id=order_id) for order_id, h in held.items() if h.row is not None and h.new]
            if added:
                _insert_many(connection, _ORDERS, added)
            changed = [dict(h.row, b_order_id=order_id) for order_id, h in held.items() if h.row is not None
                       and not h.new]
            if changed:
                # executemany: the SET clause is the parameters' columns
                connection.execute(update(_ORDERS).where(_ORDERS.c.order_id == bindparam("b_order_id")), changed)
            self._summarise(connection, cases, touched, now)
            result.cases |= touched
        return result

    @staticmethod
    def _summarise(connection, cases: dict[str, dict[str, Any]], touched: set[str], now: datetime) -> None:
        """Outcome, risk, order count, event span, rules, cluster, sale and amount of each touched case, from its
        orders.  The amount is the total of its orders' amounts (orders whose records have none count for nothing,
        a case none of whose records has one has none); the sale is its orders' sale, and when they were in more
        than one, the sale of its latest order by event time that has one."""
        plain: list[dict[str, Any]] = []
        pictured: list[dict[str, Any]] = []
        merged: list[dict[str, Any]] = []
        for chunk in chunked(sorted(touched)):
            rows = connection.execute(
                select(_ORDERS.c.case_id, func.max(_ORDERS.c.action), func.max(_ORDERS.c.score), func.count(),
                       func.min(_ORDERS.c.event_time), func.max(_ORDERS.c.event_time), func.sum(_ORDERS.c.amount),
                       func.min(_ORDERS.c.sale), func.max(_ORDERS.c.sale))
                .where(_ORDERS.c.case_id.in_(chunk)).group_by(_ORDERS.c.case_id)).all()
            latest = latest_sales(connection, [case_id for case_id, *_, low, high in rows if low != high])
            counted = set()
            for case_id, outcome, risk, count, first, last, amount, low, high in rows:
                case = cases[case_id]
                rules = case["rule_set"]
                row = {"b_id": case_id, "outcome": outcome, "risk": risk, "orders_count": count, "first_event": first,
                       "last_event": last, "updated_at": now, "revision": case["revision"] + 1,
                       "rules": "," + ",".join(sorted(rules)) + "," if rules else "", "size": case["size"],
                       "amount": amount, "sale": latest.get(case_id) if low != high else low}
                if case.get("cluster") is not None:
                    pictured.append(dict(row, cluster=case["cluster"]))
                else:
                    plain.append(row)
                counted.add(case_id)
            for case_id in set(chunk) - counted:  # every order moved out: nothing left to review
                if case_id in cases:
                    merged.append({"b_id": case_id, "orders_count": 0, "status": "merged", "updated_at": now,
                                   "revision": cases[case_id]["revision"] + 1})
        for rows in (plain, pictured, merged):
            if rows:
                connection.execute(update(_CASES).where(_CASES.c.id == bindparam("b_id")), rows)


__all__ = ["CaseIngest", "IngestResult", "LONE_PREFIX", "RecordError", "case_id_for", "check_record", "chunked",
           "latest_sales"]
