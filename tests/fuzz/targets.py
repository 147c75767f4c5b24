"""Fuzz targets: one function per parser, bytes in, nothing out.

Each target feeds arbitrary bytes to one of riskstream's parsers or
normalisers.  Refusing bad input with the documented error is success; any
other exception, or a result that breaks the stated contract (checked by the
asserts), is a crash.  ``tests/fuzz/run.py`` drives them with atheris
(coverage-guided, ``make fuzz``); ``test_fuzz_targets.py`` replays the corpus
and a short hypothesis run in ``make test``.
"""

from __future__ import annotations

import math
from typing import Callable

import orjson

from riskstream.entities.addresses import address_key, address_locality
from riskstream.entities.phones import phone_key
from riskstream.events import EARLIEST, LATEST, MAX_EVENT_BYTES, EventError, order_digest, parse_order
from riskstream.rules import RuleFileError, ruleset_from_sources
from riskstream.verdicts import VerdictError, parse_verdict

__all__ = ["TARGETS"]


def text_of(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def events(data: bytes) -> None:
    """Order events: parsed or refused with EventError; a parsed event keeps the contract."""
    try:
        event = parse_order(data)
    except EventError as exc:
        assert isinstance(exc.problem, str) and exc.problem
        return
    assert len(data) <= MAX_EVENT_BYTES
    assert event.order_id and event.account_id and event.items
    assert EARLIEST <= event.ts < LATEST
    assert math.isfinite(event.amount) and event.amount >= 0
    assert all(i.quantity >= 1 and math.isfinite(i.unit_price) and i.unit_price >= 0 for i in event.items)
    assert order_digest(orjson.loads(data)) == order_digest(orjson.loads(data))


def rules(data: bytes) -> None:
    """Rule files: a rule set or a RuleFileError naming file, line and field."""
    try:
        ruleset = ruleset_from_sources([("fuzz.yaml", data)])
    except RuleFileError as exc:
        assert exc.problems and all(p.file == "fuzz.yaml" for p in exc.problems)
        return
    assert ruleset.version


def addresses(data: bytes) -> None:
    """Address keys: never raise; a key is canonical (the key of a key is itself)."""
    text = text_of(data)
    key = address_key(text)
    assert key is None or (isinstance(key, str) and key)
    if key is not None:
        assert address_key(key) == key, (text, key)
    locality = address_locality(text)
    assert len(locality) == 4 and all(isinstance(part, str) for part in locality)


def phones(data: bytes) -> None:
    """Phone keys: never raise; a key is E.164 and its own key."""
    text = text_of(data)
    for region in ("CN", None, "US"):
        key = phone_key(text, region)
        assert key is None or (key.startswith("+") and key[1:].isdigit()), (text, key)
        if key is not None:
            assert phone_key(key, None) == key, (text, key)


def verdicts(data: bytes) -> None:
    """Reviewer verdicts: parsed or refused with VerdictError; a parsed one round-trips."""
    try:
        verdict = parse_verdict(data)
    except VerdictError as exc:
        assert isinstance(exc.problem, str) and exc.problem
        return
    assert parse_verdict(verdict.encode()) == verdict


TARGETS: dict[str, Callable[[bytes], None]] = {
    "events": events,
    "rules": rules,
    "addresses": addresses,
    "phones": phones,
    "verdicts": verdicts,
}
