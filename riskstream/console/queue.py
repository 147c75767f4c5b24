"""The reviewers' queue: filters, sorting, keyset pagination, claims; the dashboard's figures.

A page is fetched with ``WHERE (sort key, id) beyond the last row`` rather
than an offset, so page 500 costs what page 1 costs and rows do not shift
under a reviewer while others close cases.  The cursor is the last row's sort
value and id.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, defer

from ..decisions import Outcome
from .models import Case, CaseRule, SaleSeen, VerdictRow

SORTS = ("risk", "age")
PAGE = 50
MAX_PAGE = 500


class QueueError(ValueError):
    """A filter or cursor that cannot be used; the message names it."""


@dataclass(slots=True)
class QueueFilter:
    outcome: str | None = None  # the weakest outcome shown (e.g. hold: hold and freeze)
    rule: str | None = None
    sale: str | None = None  # a flash sale id (see sales_seen)
    min_amount: float | None = None  # the case's total amount, bounds included
    max_amount: float | None = None
    min_size: int | None = None
    min_age: int | None = None  # minutes since the store opened the case
    assignee: str | None = None  # a user name, or "none" for unassigned cases
    sla_breached: bool = False
    status: str = "open"
    sort: str = "risk"
    cursor: str | None = None
    limit: int = PAGE

    @classmethod
    def from_query(cls, params) -> "QueueFilter":
        """From a request's query string; a bad value raises :class:`QueueError` naming the parameter."""
        out = cls()
        outcome = params.get("outcome") or None
        if outcome:
            try:
                Outcome.parse(outcome)
            except ValueError as exc:
                raise QueueError(f"outcome: {exc}") from None
            out.outcome = outcome
        out.rule = (params.get("rule") or "").strip() or None
        if out.rule and ("," in out.rule or len(out.rule) > 120):
            raise QueueError("rule: a rule name has no commas and at most 120 characters")
        out.sale = (params.get("sale") or "").strip() or None
        if out.sale and len(out.sale) > 120:
            raise QueueError("sale: a sale id has at most 120 characters")
        out.min_amount = _amount(params, "min_amount")
        out.max_amount = _amount(params, "max_amount")
        if out.min_amount is not None and out.max_amount is not None and out.min_amount > out.max_amount:
            raise QueueError(f"max_amount: {out.max_amount:g} is below min_amount {out.min_amount:g}")
        size = params.get("min_size") or ""
        if size:
            if not size.isdigit() or int(size) < 1:
                raise QueueError(f"min_size: expected a positive whole number, got {size!r}")
            out.min_size = int(size)
        age = (params.get("min_age") or "").strip()
        if age:
            if not age.isdigit():
                raise QueueError(f"min_age: expected a whole number of minutes, got {age!r}")
            out.min_age = int(age)
        out.assignee = (params.get("assignee") or "").strip() or None
        out.sla_breached = params.get("sla") in ("1", "on", "true")
        status = params.get("status") or "open"
        if status not in ("open", "escalated", "closed"):
            raise QueueError(f"status: expected open, escalated or closed, got {status!r}")
        out.status = status
        sort = params.get("sort") or "risk"
        if sort not in SORTS:
            raise QueueError(f"sort: expected one of {', '.join(SORTS)}, got {sort!r}")
        out.sort = sort
        out.cursor = params.get("cursor") or None
        limit = params.get("limit") or ""
        if limit:
            if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
                raise QueueError(f"limit: expected a whole number from 1 to {MAX_PAGE}, got {limit!r}")
            out.limit = int(limit)
        return out

    def amount_text(self, name: str) -> str:
        """``min_amount`` or ``max_amount`` as the form shows it ("" when not given)."""
        return _text(getattr(self, name)) or ""

    def query_string(self, **changes) -> str:
        from urllib.parse import urlencode

        values = {"outcome": self.outcome, "rule": self.rule, "sale": self.sale, "min_amount": _text(self.min_amount),
                  "max_amount": _text(self.max_amount), "min_size": self.min_size, "min_age": self.min_age,
                  "assignee": self.assignee,
                  "sla": "1" if self.sla_breached else None, "status": self.status, "sort": self.sort,
                  "limit": self.limit if self.limit != PAGE else None}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


def _amount(params, name: str) -> float | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise QueueError(f"{name}: expected an amount (a number >= 0), got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise QueueError(f"{name}: expected an amount (a number >= 0), got {text!r}")
    return value


def _text(amount: float | None) -> str | None:
    """An amount as the form shows it (500, not 500.0)."""
    if amount is None:
        return None
    return str(int(amount)) if amount == int(amount) and amount < 1e15 else repr(amount)


@dataclass(slots=True)
class QueuePage:
    cases: list[Case]
    next_cursor: str | None
    breached: set[str] = field(default_factory=set)


def sla_cutoff(sla_minutes: float, now: datetime | None = None) -> datetime:
    return (now or datetime.now(timezone.utc)) - timedelta(minutes=sla_minutes)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)  # SQLite drops the zone


def is_breached(case: Case, cutoff: datetime) -> bool:
    """A held (or frozen) case still open past its SLA."""
    return case.status == "open" and case.outcome >= Outcome.HOLD and _aware(case.opened_at) < cutoff


def queue_page(session: Session, wanted: QueueFilter, sla_minutes: float) -> QueuePage:
    cutoff = sla_cutoff(sla_minutes)
    query = select(Case).where(Case.status == wanted.status, Case.orders_count > 0)
    if wanted.outcome:
        query = query.where(Case.outcome >= int(Outcome.parse(wanted.outcome)))
    if wanted.rule:
        query = query.where(Case.id.in_(select(CaseRule.case_id).where(CaseRule.rule == wanted.rule)))
    if wanted.sale:
        query = query.where(Case.sale == wanted.sale)
    if wanted.min_amount is not None:
        query = query.where(Case.amount >= wanted.min_amount)
    if wanted.max_amount is not None:
        query = query.where(Case.amount <= wanted.max_amount)
    if wanted.min_size:
        query = query.where(Case.size >= wanted.min_size)
    if wanted.min_age:
        older = sla_cutoff(wanted.min_age)
        query = query.where((Case.opened_at if wanted.sort == "age" else func.coalesce(Case.opened_at, Case.opened_at))
                            < older)
    if wanted.assignee == "none":
        query = query.where(Case.assignee.is_(None))
    elif wanted.assignee:
        query = query.where(Case.assignee == wanted.assignee)
    if wanted.sla_breached:
        # by risk, the cutoff is checked on the risk index's entries (coalesce keeps the planner off the age
        # index, whose range would be sorted whole when most of a backlog is past its SLA)
        opened = Case.opened_at if wanted.sort == "age" else func.coalesce(Case.opened_at, Case.opened_at)
        query = query.where(Case.outcome >= int(Outcome.HOLD), opened < cutoff)
    if wanted.cursor:
        value, _, last_id = wanted.cursor.partition("|")
        if not last_id:
            raise QueueError(f"cursor: not a queue cursor: {wanted.cursor!r}")
        if wanted.sort == "risk":
            try:
                risk = float(value)
            except ValueError:
                raise QueueError(f"cursor: not a queue cursor: {wanted.cursor!r}") from None
            # the bound first (an index range), then the tie-break: rows past the cursor in (risk desc, id)
            query = query.where(Case.risk <= risk, or_(Case.risk < risk, and_(Case.risk == risk, Case.id > last_id)))
        else:
            try:
                opened = datetime.fromisoformat(value)
            except ValueError:
                raise QueueError(f"cursor: not a queue cursor: {wanted.cursor!r}") from None
            query = query.where(Case.opened_at >= opened,
                                or_(Case.opened_at > opened, and_(Case.opened_at == opened, Case.id > last_id)))
    order = (Case.risk.desc(), Case.id) if wanted.sort == "risk" else (Case.opened_at, Case.id)
    # the largest cluster record of each case is for its page, not for a queue row
    rows = session.scalars(query.options(defer(Case.cluster)).order_by(*order).limit(wanted.limit + 1)).all()
    more = len(rows) > wanted.limit
    rows = rows[:wanted.limit]
    cursor = None
    if more and rows:
        last = rows[-1]
        key = repr(last.risk) if wanted.sort == "risk" else last.opened_at.isoformat()
        cursor = f"{key}|{last.id}"
    return QueuePage(rows, cursor, {c.id for c in rows if is_breached(c, cutoff)})


def sales_seen(session: Session) -> list[str]:
    """The flash sales the store's orders were in, for the queue's sale filter."""
    return list(session.scalars(select(SaleSeen.id).order_by(SaleSeen.id)))


def claim(session: Session, case: Case, assignee: str) -> str | None:
    """Assign the case; returns the previous assignee."""
    before = case.assignee
    case.assignee = assignee
    case.revision += 1
    return before


@dataclass(slots=True)
class Dashboard:
    depth: dict[str, int]  # open cases by outcome
    verdicts: dict[str, int]  # by action
    precision: list[tuple[str, int, int]]  # (rule, confirmed, labelled)
    mean_minutes_to_verdict: float | None
    breached: int


def dashboard(session: Session, sla_minutes: float) -> Dashboard:
    depth = {Outcome(int(o)).label: n for o, n in session.execute(
        select(Case.outcome, func.count()).where(Case.status == "open", Case.orders_count > 0)
        .group_by(Case.outcome))}
    verdicts = dict(session.execute(select(VerdictRow.action, func.count()).group_by(VerdictRow.action)).all())
    confirmed: Counter = Counter()
    labelled: Counter = Counter()
    waits = []
    for rules, label, opened, decided in session.execute(
            select(Case.rules, Case.label, Case.opened_at, Case.verdict_at).where(Case.label.is_not(None))):
        for rule in filter(None, rules.split(",")):
            labelled[rule] += 1
            confirmed[rule] += label
        if decided is not None:
            waits.append((_aware(decided) - _aware(opened)).total_seconds() / 60)
    breached = session.scalar(select(func.count()).select_from(Case).where(
        Case.status == "open", Case.orders_count > 0, Case.outcome >= int(Outcome.HOLD),
        Case.opened_at < sla_cutoff(sla_minutes)))
    precision = sorted(((rule, confirmed[rule], n) for rule, n in labelled.items()), key=lambda r: (-r[2], r[0]))
    return Dashboard(depth, verdicts, precision, sum(waits) / len(waits) if waits else None, breached or 0)


__all__ = ["Dashboard", "PAGE", "QueueError", "QueueFilter", "QueuePage", "SORTS", "claim", "dashboard",
           "is_breached", "queue_page", "sales_seen", "sla_cutoff"]
