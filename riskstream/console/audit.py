"""The audit trail: logins, assignments, PII reveals and verdicts, in rows chained by hash.

Each row's ``hash`` is SHA-256 over the previous row's hash and the row's own
fields (id, time, actor, event, subject, detail as stored), so changing,
removing or reordering a row breaks the chain from there on.
:func:`verify_chain` walks the table and names the first row that does not
match; ``riskstream audit verify`` prints it.

Appends are serialised (a lock in the process, and on PostgreSQL a
transaction-level advisory lock), so two requests never chain onto the same row.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from .models import AuditRow
from .store import CaseStore

GENESIS = "0" * 64
EVENTS = ("login", "login-failed", "locked", "logout", "assign", "reveal", "verdict", "note", "user")
_LOCK = threading.Lock()
_PG_LOCK_ID = 0x7269736B  # "risk"


def row_hash(prev_hash: str, row_id: int, at: str, actor: str, event: str, subject: str, detail: str) -> str:
    payload = orjson.dumps([prev_hash, row_id, at, actor, event, subject, detail])
    return hashlib.sha256(payload).hexdigest()


def append(session: Session, actor: str, event: str, subject: str, detail: Mapping[str, Any] | None = None) -> AuditRow:
    """Add one row to the chain inside ``session``'s transaction (the caller commits)."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r} (expected one of {', '.join(EVENTS)})")
    with _LOCK:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
        last = session.execute(select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)).first()
        row_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        body = orjson.dumps(dict(detail or {}), option=orjson.OPT_SORT_KEYS).decode()
        row = AuditRow(id=row_id, at=at, actor=actor, event=event, subject=subject, detail=body, prev_hash=prev,
                       hash=row_hash(prev, row_id, at, actor, event, subject, body))
        session.add(row)
        session.flush()
    return row


@dataclass(slots=True, frozen=True)
class ChainReport:
    rows: int
    broken_id: int | None = None  # the first row that does not match
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify_chain(store: CaseStore, batch: int = 5000) -> ChainReport:
    """Walk the audit table in id order; the first row whose links or hash do not match ends the walk."""
    prev, expected_id, rows = GENESIS, 1, 0
    with store.session() as session:
        last_id = 0
        while True:
            chunk = session.scalars(select(AuditRow).where(AuditRow.id > last_id).order_by(AuditRow.id)
                                    .limit(batch)).all()
            if not chunk:
                return ChainReport(rows)
            for row in chunk:
                if row.id != expected_id:
                    return ChainReport(rows, row.id, f"row {expected_id} is missing (next row is {row.id})")
                if row.prev_hash != prev:
                    return ChainReport(rows, row.id, "its previous-row hash does not match the row before it")
                if row.hash != row_hash(prev, row.id, row.at, row.actor, row.event, row.subject, row.detail):
                    return ChainReport(rows, row.id, "its contents do not match its hash (the row was changed)")
                prev, expected_id, rows, last_id = row.hash, row.id + 1, rows + 1, row.id


__all__ = ["ChainReport", "EVENTS", "GENESIS", "append", "row_hash", "verify_chain"]
