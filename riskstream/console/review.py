"""From a reviewer's verdict form to a ``riskstream.verdict/v1`` record, and the case it closes.

=====================  =========================================================
form action            verdict
=====================  =========================================================
``freeze``             confirm scalper: the chosen accounts (all of the case's by
                       default) and its held orders are frozen; label 1
``release``            the case's flagged orders are allowed; label 0
``false_positive``     as release, and with ``snooze_days`` the chosen rule is
                       snoozed for the accounts that many days; label 0
``escalate``           handed to a lead: the case waits in the escalated queue
=====================  =========================================================

A verdict names the case revision the reviewer saw; a case that changed since
(new orders, another verdict) is refused, so nobody freezes what they did not
look at.  A verdict on several accounts needs ``confirm_count`` equal to their
number.  Nothing is written to the store until the record is on ``risk-verdicts``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ..decisions import Outcome
from ..verdicts import Verdict, VerdictAction, VerdictError
from .models import Case, Order

LABELS = {VerdictAction.FREEZE: 1, VerdictAction.RELEASE: 0, VerdictAction.FALSE_POSITIVE: 0}
MAX_SNOOZE_DAYS = 365


class FormError(ValueError):
    """The verdict form is wrong; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(slots=True, frozen=True)
class VerdictForm:
    action: VerdictAction
    case_revision: int
    accounts: tuple[str, ...]
    note: str | None
    snooze_rule: str | None
    snooze_days: int | None
    confirm_count: int | None


def read_form(form: Mapping[str, str], accounts: Sequence[str]) -> VerdictForm:
    """The verdict form's fields, checked; ``accounts`` are the form's ticked accounts (all when none)."""
    try:
        action = VerdictAction(form.get("action", ""))
    except ValueError:
        raise FormError(f"action: expected one of {', '.join(a.value for a in VerdictAction)}, "
                        f"got {form.get('action')!r}") from None
    revision = form.get("case_revision", "")
    if not revision.isdigit():
        raise FormError(f"case_revision: expected the case revision shown on the page, got {revision!r}")
    days_text = (form.get("snooze_days") or "").strip()
    days = None
    if days_text:
        if not days_text.isdigit() or not 1 <= int(days_text) <= MAX_SNOOZE_DAYS:
            raise FormError(f"snooze_days: expected a whole number of days from 1 to {MAX_SNOOZE_DAYS}, got {days_text!r}")
        days = int(days_text)
        if action is not VerdictAction.FALSE_POSITIVE:
            raise FormError("snooze_days: only a false positive snoozes a rule")
    confirm_text = (form.get("confirm_count") or "").strip()
    if confirm_text and not confirm_text.isdigit():
        raise FormError(f"confirm_count: expected a number of accounts, got {confirm_text!r}")
    note = (form.get("note") or "").strip() or None
    rule = (form.get("snooze_rule") or "").strip() or None
    if days is not None and rule is None:
        raise FormError("snooze_rule: choose the rule to snooze")
    return VerdictForm(action, int(revision), tuple(accounts), note, rule, days,
                       int(confirm_text) if confirm_text else None)


def build_verdict(case: Case, orders: Sequence[Order], form: VerdictForm, reviewer: str, *,
                  now: datetime | None = None) -> Verdict:
    """The record for ``form`` on ``case``, or :class:`FormError` (409 for a stale or closed case)."""
    if form.case_revision != case.revision:
        raise FormError(f"case {case.id} changed since you opened it (you saw revision {form.case_revision}, "
                        f"it is now at revision {case.revision}); reload it and decide again", 409)
    if case.status == "closed":
        raise FormError(f"case {case.id} already has a verdict ({case.verdict_action})", 409)
    case_accounts = list(dict.fromkeys(o.account_id for o in orders))
    chosen = list(form.accounts) or case_accounts
    unknown = sorted(set(chosen) - set(case_accounts))
    if unknown:
        raise FormError(f"accounts: {unknown[0]} is not an account of case {case.id}")
    if len(chosen) > 1 and form.action is not VerdictAction.ESCALATE and form.confirm_count != len(chosen):
        raise FormError(f"confirm_count: this verdict covers {len(chosen)} accounts; confirm that number to go on")
    accounts_set = set(chosen)
    if form.action is VerdictAction.FREEZE:
        covered = [o.order_id for o in orders if o.account_id in accounts_set]
    else:
        covered = [o.order_id for o in orders if o.account_id in accounts_set and o.action >= Outcome.REVIEW]
    now = now or datetime.now(timezone.utc)
    expires = None
    rule = None
    if form.snooze_days is not None:
        rules = set(filter(None, case.rules.split(",")))
        if form.snooze_rule not in rules:
            raise FormError(f"snooze_rule: {form.snooze_rule!r} did not fire in case {case.id}")
        rule = form.snooze_rule
        expires = (now + timedelta(days=form.snooze_days)).isoformat(timespec="milliseconds")
    try:
        return Verdict.create(form.action, reviewer, accounts=chosen, orders=covered, rule=rule, note=form.note,
                              expires_at=expires, case_id=case.id,
                              event_time=now.isoformat(timespec="milliseconds"))
    except VerdictError as exc:
        raise FormError(f"the verdict is not valid: {exc}") from None


def close_case(case: Case, verdict: Verdict, now: datetime | None = None) -> None:
    """What a published verdict does to its case in the store."""
    now = now or datetime.now(timezone.utc)
    if verdict.action is VerdictAction.ESCALATE:
        case.status = "escalated"
    else:
        case.status = "closed"
        case.label = LABELS[verdict.action]
        case.verdict_at = now
    case.verdict_action = verdict.action.value
    case.revision += 1


__all__ = ["FormError", "LABELS", "VerdictForm", "build_verdict", "close_case", "read_form"]
