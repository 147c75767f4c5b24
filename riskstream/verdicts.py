"""The reviewer verdict contract, ``riskstream.verdict/v1``, and its parser.

A reviewer's verdict on a case goes to the ``risk-verdicts`` topic keyed by its
``verdict_id`` (see ``riskstream/schemas/verdict-v1.schema.json``).  Workers
turn it into list entries and new decision revisions; ``riskstream replay
--verdicts`` reads the same records from a file.

=================  ===========================================================
action             effect
=================  ===========================================================
``freeze``         its orders are frozen; the accounts and entities go on the
                   deny list, so their orders from ``event_time`` on (until
                   ``expires_at``, if given) are frozen, "verdict by <reviewer>"
``release``        its orders are allowed; a freeze on the accounts and
                   entities is lifted; with ``expires_at`` they are allowed
                   until then, or, with ``rule``, only that rule is snoozed
``false_positive`` as ``release`` (the label differs: the flag was wrong)
``escalate``       handed to a lead: recorded, no effect on decisions
=================  ===========================================================

Entity keys are the pseudonyms the workers hold (``riskstream.entities.pseudonym``
of the canonical value, keyed by ``RISKSTREAM_PSEUDONYM_KEY``), as decision records
show them, never raw IPs, phones or addresses.

:func:`parse_verdict` is strict: unknown fields are refused (a misspelt
``acounts`` would otherwise make a freeze that covers nothing), and every
problem raises :class:`VerdictError` naming the field.
"""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import orjson

VERDICT_SCHEMA = "riskstream.verdict/v1"
MAX_VERDICT_BYTES = 1_000_000
MAX_COVERED = 10_000  #: accounts, entities or orders one verdict may name (each)
MAX_TEXT = 4_000  #: characters of a note
ENTITY_KINDS = ("ip", "ip_prefix", "device", "phone", "payment", "address")
_PSEUDONYM = re.compile(r"[0-9a-f]{20}")
_FIELDS = frozenset({"schema", "verdict_id", "reviewer", "event_time", "action", "accounts", "entities", "orders",
                     "rule", "note", "expires_at", "case_id"})


class VerdictError(ValueError):
    """A bad verdict: ``field`` names where (``None`` when the whole record is bad)."""

    def __init__(self, field: str | None, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class VerdictAction(str, enum.Enum):
    """What the reviewer decided."""

    FREEZE = "freeze"
    RELEASE = "release"
    FALSE_POSITIVE = "false_positive"
    ESCALATE = "escalate"

    @property
    def releases(self) -> bool:
        """True for the actions that let orders through (release, false positive)."""
        return self is VerdictAction.RELEASE or self is VerdictAction.FALSE_POSITIVE


@dataclass(slots=True, frozen=True)
class EntityRef:
    """One entity a verdict covers: its kind and its pseudonym."""

    kind: str
    key: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "key": self.key}


@dataclass(slots=True, frozen=True)
class Verdict:
    """One validated verdict.  Times are also kept as epoch seconds (``ts``, ``expires_ts``)."""

    verdict_id: str
    reviewer: str
    event_time: str
    ts: float
    action: VerdictAction
    accounts: tuple[str, ...] = ()
    entities: tuple[EntityRef, ...] = ()
    orders: tuple[str, ...] = ()
    rule: str | None = None
    note: str | None = None
    expires_at: str | None = None
    expires_ts: float | None = None
    case_id: str | None = None

    @classmethod
    def create(cls, action: str | VerdictAction, reviewer: str, *, accounts: Iterable[str] = (),
               entities: Iterable[tuple[str, str] | EntityRef] = (), orders: Iterable[str] = (),
               rule: str | None = None, note: str | None = None, expires_at: str | None = None,
               case_id: str | None = None, event_time: str | None = None, verdict_id: str | None = None) -> "Verdict":
        """A new verdict (a fresh id, the time now unless given), validated like a parsed one."""
        data: dict[str, Any] = {
            "schema": VERDICT_SCHEMA,
            "verdict_id": verdict_id or f"v-{uuid.uuid4().hex}",
            "reviewer": reviewer,
            "event_time": event_time or datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "action": action.value if isinstance(action, VerdictAction) else action,
            "accounts": list(accounts),
            "entities": [e.to_dict() if isinstance(e, EntityRef) else {"kind": e[0], "key": e[1]} for e in entities],
            "orders": list(orders),
        }
        for name, value in (("rule", rule), ("note", note), ("expires_at", expires_at), ("case_id", case_id)):
            if value is not None:
                data[name] = value
        return parse_verdict(data)

    @property
    def reason_text(self) -> str:
        """What a decision changed by this verdict says: ``verdict by <reviewer>``."""
        return f"verdict by {self.reviewer}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": VERDICT_SCHEMA,
            "verdict_id": self.verdict_id,
            "reviewer": self.reviewer,
            "event_time": self.event_time,
            "action": self.action.value,
            "accounts": list(self.accounts),
            "entities": [e.to_dict() for e in self.entities],
            "orders": list(self.orders),
        }
        for name in ("rule", "note", "expires_at", "case_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def encode(self) -> bytes:
        """The record as JSON bytes (what goes on ``risk-verdicts``)."""
        return orjson.dumps(self.to_dict())


def decode_verdict(raw: bytes | bytearray | memoryview | str) -> dict[str, Any]:
    """Decode one raw record to a mapping, or raise :class:`VerdictError`."""
    if not raw:
        raise VerdictError(None, "empty verdict")
    if len(raw) > MAX_VERDICT_BYTES:
        raise VerdictError(None, f"verdict of {len(raw)} bytes exceeds the limit of {MAX_VERDICT_BYTES}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise VerdictError(None, f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise VerdictError(None, f"expected a JSON object, got {type(data).__name__}")
    return data


def parse_verdict(raw: bytes | bytearray | memoryview | str | Mapping[str, Any]) -> Verdict:
    """Validate one record against ``riskstream.verdict/v1``."""
    data = raw if isinstance(raw, Mapping) else decode_verdict(raw)
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise VerdictError(unknown[0], f"unknown field (expected only {', '.join(sorted(_FIELDS))})")
    schema = data.get("schema")
    if schema != VERDICT_SCHEMA:
        if schema is None:
            raise VerdictError("schema", f"required field is missing (expected {VERDICT_SCHEMA!r})")
        raise VerdictError("schema", f"expected {VERDICT_SCHEMA!r}, got {schema!r}")
    verdict_id = _text(data, "verdict_id", required=True)
    reviewer = _text(data, "reviewer", required=True)
    event_time = _text(data, "event_time", required=True)
    ts = _time(event_time, "event_time")
    action_text = _text(data, "action", required=True)
    try:
        action = VerdictAction(action_text)
    except ValueError:
        names = ", ".join(a.value for a in VerdictAction)
        raise VerdictError("action", f"unknown action {action_text!r} (expected one of {names})") from None
    accounts = _names(data, "accounts")
    orders = _names(data, "orders")
    entities = _entities(data.get("entities"))
    if not (accounts or orders or entities):
        raise VerdictError(None, "a verdict must cover at least one account, entity or order")
    rule = _text(data, "rule")
    note = _text(data, "note")
    if note is not None and len(note) > MAX_TEXT:
        raise VerdictError("note", f"{len(note)} characters exceed the limit of {MAX_TEXT}")
    case_id = _text(data, "case_id")
    expires_at = _text(data, "expires_at")
    expires_ts = None
    if expires_at is not None:
        expires_ts = _time(expires_at, "expires_at")
        if expires_ts <= ts:
            raise VerdictError("expires_at", f"must be later than event_time ({expires_at} <= {event_time})")
    if rule is not None:
        if not action.releases:
            raise VerdictError("rule", f"only a release or a false positive snoozes a rule, not {action.value!r}")
        if expires_at is None:
            raise VerdictError("expires_at", "a snoozed rule needs an expiry")
        if not (accounts or entities):
            raise VerdictError("rule", "a snoozed rule needs the accounts or entities it is snoozed for")
    return Verdict(verdict_id, reviewer, event_time, ts, action, accounts, entities, orders, rule, note,
                   expires_at, expires_ts, case_id)


def read_verdicts(lines: Iterable[bytes | str], source: str = "verdicts") -> list[Verdict]:
    """The verdicts of a JSONL file's lines (blank lines skipped), in file order.

    A bad line raises :class:`VerdictError` with ``source:line`` in front of the
    problem: a verdict file is curated, and a verdict that cannot be read must
    not be skipped quietly."""
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(parse_verdict(line))
        except VerdictError as exc:
            raise VerdictError(exc.field, f"{source}:{number}: {exc.problem}") from None
    return out


def _text(data: Mapping[str, Any], name: str, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise VerdictError(name, "required field is missing")
        return None
    if not isinstance(value, str):
        raise VerdictError(name, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise VerdictError(name, "must not be empty")
    return value


def _time(text: str, name: str) -> float:
    """RFC 3339 timestamp with an offset -> epoch seconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise VerdictError(name, f"not an RFC 3339 timestamp: {text!r}") from None
    if moment.tzinfo is None:
        raise VerdictError(name, f"timestamp needs a UTC offset (e.g. +08:00 or Z): {text!r}")
    return moment.timestamp()


def _names(data: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A list of non-empty strings, in order, each once."""
    value = data.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise VerdictError(name, f"expected a list of strings, got {type(value).__name__}")
    if len(value) > MAX_COVERED:
        raise VerdictError(name, f"{len(value)} entries exceed the limit of {MAX_COVERED}")
    for n, entry in enumerate(value):
        if not isinstance(entry, str) or not entry:
            raise VerdictError(f"{name}[{n}]", f"expected a non-empty string, got {entry!r}")
    return tuple(dict.fromkeys(value))


def _entities(value: Any) -> tuple[EntityRef, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise VerdictError("entities", f"expected a list of {{kind, key}} objects, got {type(value).__name__}")
    if len(value) > MAX_COVERED:
        raise VerdictError("entities", f"{len(value)} entries exceed the limit of {MAX_COVERED}")
    out = []
    for n, entry in enumerate(value):
        where = f"entities[{n}]"
        if not isinstance(entry, dict):
            raise VerdictError(where, f"expected an object with kind and key, got {type(entry).__name__}")
        extra = sorted(str(k) for k in entry if k not in ("kind", "key"))
        if extra:
            raise VerdictError(f"{where}.{extra[0]}", "unknown field (expected only kind and key)")
        kind, key = entry.get("kind"), entry.get("key")
        if kind not in ENTITY_KINDS:
            raise VerdictError(f"{where}.kind", f"expected one of {', '.join(ENTITY_KINDS)}, got {kind!r}")
        if not isinstance(key, str) or not _PSEUDONYM.fullmatch(key):
            raise VerdictError(f"{where}.key", f"expected a pseudonym (20 lower-case hex characters), got {key!r}")
        out.append(EntityRef(kind, key))
    return tuple(dict.fromkeys(out))


__all__ = [
    "ENTITY_KINDS",
    "VERDICT_SCHEMA",
    "EntityRef",
    "Verdict",
    "VerdictAction",
    "VerdictError",
    "decode_verdict",
    "parse_verdict",
    "read_verdicts",
]
