"""A published rule set, ``riskstream.ruleset/v1``: what travels on the rules control topic.

``riskstream rules publish DIR`` validates a rules directory and sends one
record, keyed by its role (``live``; the topic is compacted, so the last
record of each role is what a starting worker reads)::

    {"schema": "riskstream.ruleset/v1", "role": "live",
     "version": "2026.11.1+920483da", "digest": "<sha256 of the files>",
     "effective_at": "2026-11-11T12:00:00.000Z", "published_at": "...",
     "files": {"ruleset.yaml": "...", "velocity.yaml": "...", ...}}

Orders whose event time is at or after ``effective_at`` are decided with it,
on every worker and partition alike, and by ``riskstream replay --rulesets``
given the same records: the switch is a point in event time, not the moment
a worker happened to read the record.  The files are validated again on
arrival with the same file/line/field errors as ``riskstream rules check``;
a digest that does not match the files is refused too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from .errors import Problem, RuleFileError
from .loader import rule_files, ruleset_from_sources
from .ruleset import RuleSet

RULESET_SCHEMA = "riskstream.ruleset/v1"
ROLES = ("live", "shadow")
_FIELDS = frozenset({"schema", "role", "version", "digest", "effective_at", "published_at", "files"})

__all__ = ["RULESET_SCHEMA", "PublishedRuleset", "parse_published", "publish_record", "read_published_file"]


@dataclass(frozen=True)
class PublishedRuleset:
    """A validated rule set and the event time from which it decides."""

    ruleset: RuleSet
    effective_ts: float
    role: str
    record: dict[str, Any]

    @property
    def version(self) -> str:
        return self.ruleset.version


def publish_record(path: str | Path, at: datetime | None = None, role: str = "live") -> dict[str, Any]:
    """Validate the rules at ``path`` and build their record (raises :class:`RuleFileError`)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    files = {f.name: f.read_text(encoding="utf-8") for f in rule_files(path)}
    ruleset = ruleset_from_sources(sorted(files.items()))
    now = datetime.now(timezone.utc)
    return {
        "schema": RULESET_SCHEMA,
        "role": role,
        "version": ruleset.version,
        "digest": ruleset.digest,
        "effective_at": _iso(at or now),
        "published_at": _iso(now),
        "files": files,
    }


def parse_published(raw: bytes | dict[str, Any]) -> PublishedRuleset:
    """A record from the topic (or a file) back to a validated rule set; :class:`RuleFileError` when bad."""
    try:
        data = orjson.loads(raw) if isinstance(raw, (bytes, bytearray, str)) else raw
    except orjson.JSONDecodeError as exc:
        raise _bad("", f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _bad("", "a published rule set is a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise _bad(unknown[0], "unknown field")
    if data.get("schema") != RULESET_SCHEMA:
        raise _bad("schema", f"expected {RULESET_SCHEMA!r}, got {data.get('schema')!r}")
    role = data.get("role")
    if role not in ROLES:
        raise _bad("role", f"expected one of {', '.join(ROLES)}, got {role!r}")
    files = data.get("files")
    if not isinstance(files, dict) or not files or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise _bad("files", "expected an object of file name -> YAML text, with at least one file")
    try:
        at = datetime.fromisoformat(str(data.get("effective_at")))
    except ValueError:
        raise _bad("effective_at", f"expected an RFC 3339 time, got {data.get('effective_at')!r}") from None
    if at.tzinfo is None:
        raise _bad("effective_at", "needs a UTC offset (e.g. ...Z)")
    ruleset = ruleset_from_sources(sorted(files.items()))  # the same errors as `riskstream rules check`
    if data.get("digest") != ruleset.digest:
        raise _bad("digest", f"the files hash to {ruleset.digest[:12]}..., not {str(data.get('digest'))[:12]}...")
    return PublishedRuleset(ruleset, at.timestamp(), role, data)


def read_published_file(path: str | Path) -> list[PublishedRuleset]:
    """Published rule sets from a JSONL file (one record a line, as on the topic); errors name the line."""
    out = []
    for n, line in enumerate(Path(path).read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(parse_published(line))
        except RuleFileError as exc:
            raise RuleFileError([Problem(f"{path}:{n}: {p.file}", p.line, p.field, p.message) for p in exc.problems]) from None
    return out


def _bad(field: str, message: str) -> RuleFileError:
    return RuleFileError([Problem("<published rule set>", None, field, message)])


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
