"""The case store's tables (SQLAlchemy 2 declarative models).

A *case* is what a reviewer decides on: one cluster of linked accounts (a
ring is one case with all its orders) or one lone order.  Its id is the
cluster id, or ``order:<order_id>`` for an order without a cluster.  Every
decision revision the store has seen is kept (``revisions``), the latest one
per order is on ``orders``.  The schema itself is created and upgraded by the
Alembic migrations in ``migrations/``; these models must match them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Case(Base):
    """One reviewable case: a cluster or a lone order."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    cluster_id: Mapped[str | None] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | escalated | closed
    outcome: Mapped[int] = mapped_column(Integer, default=0)  # strongest Outcome of its orders' latest revisions
    risk: Mapped[float] = mapped_column(Float, default=0.0)  # highest decision score among its orders
    size: Mapped[int] = mapped_column(Integer, default=1)  # accounts in the cluster (1 for a lone order)
    orders_count: Mapped[int] = mapped_column(Integer, default=0)
    rules: Mapped[str] = mapped_column(Text, default="")  # ",rule-a,rule-b," for filtering by rule
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # when the store first saw it (SLA clock)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_event: Mapped[str] = mapped_column(String(40))
    last_event: Mapped[str] = mapped_column(String(40))
    assignee: Mapped[str | None] = mapped_column(String(80))
    revision: Mapped[int] = mapped_column(Integer, default=1)  # grows with every change; verdicts name it
    label: Mapped[int | None] = mapped_column(Integer)  # 1 confirmed scalper, 0 false positive, None unlabelled
    verdict_action: Mapped[str | None] = mapped_column(String(20))
    verdict_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cluster: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the largest cluster record seen (links)
    # the flash sale of its orders (of its latest order by event time when they were in several); migration 0004
    sale: Mapped[str | None] = mapped_column(String(120))
    amount: Mapped[float | None] = mapped_column(Float)  # the total amount of its orders (those whose records say)

    __table_args__ = (
        Index("ix_cases_queue_risk", "status", "risk", "id"),
        # the queue by risk with its filters read off the index (migrations 0003, 0004)
        Index("ix_cases_queue_risk_cover", "status", text("risk DESC"), "id", "outcome", "opened_at", "orders_count",
              "size", "sale", "amount"),
        Index("ix_cases_queue_age", "status", "opened_at", "id"),
        Index("ix_cases_queue_sale", "status", "sale", "opened_at", "id"),
    )


class CaseRule(Base):
    """A rule that fired in a case: the queue's rule filter looks cases up here (``Case.rules`` is for showing)."""

    __tablename__ = "case_rules"

    rule: Mapped[str] = mapped_column(String(120), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)


class Order(Base):
    """One order of a case, at its latest decision revision."""

    __tablename__ = "orders"

    order_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(120), index=True)
    action: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    revision: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    ruleset_version: Mapped[str] = mapped_column(String(120))
    model_version: Mapped[str | None] = mapped_column(String(120))
    model_score: Mapped[float | None] = mapped_column(Float)
    event_time: Mapped[str] = mapped_column(String(40))
    decided_at: Mapped[str] = mapped_column(String(40))
    cluster: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    sale: Mapped[str | None] = mapped_column(String(120))  # the flash sale the engine matched (migration 0004)
    amount: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(12))


class SaleSeen(Base):
    """A flash sale some stored order was in: the queue's sale filter offers these."""

    __tablename__ = "sales"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Revision(Base):
    """Every decision revision seen, once: ``(order_id, revision)`` is the key that makes ingest idempotent."""

    __tablename__ = "revisions"

    order_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    decided_at: Mapped[str] = mapped_column(String(40))


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    author: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class VerdictRow(Base):
    """A verdict the console published (the record itself, as sent)."""

    __tablename__ = "verdicts"

    verdict_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    record: Mapped[dict[str, Any]] = mapped_column(JSON)


class User(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked: Mapped[int] = mapped_column(Integer, default=0)  # 1 after too many failed logins; an admin unlocks
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """One audited event; ``hash`` covers the row and the previous row's hash (a chain)."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(80))
    event: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON text, hashed as stored
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


__all__ = ["AuditRow", "Base", "Case", "CaseRule", "Note", "Order", "Revision", "SaleSeen", "User", "VerdictRow"]
