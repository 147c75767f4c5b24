"""``riskstream lists snooze | deny | allow``: list entries from the command line, as reviewers' verdicts.

Each command writes one ``riskstream.verdict/v1`` record - the record the
reviewers' console sends - so workers and ``riskstream replay --verdicts``
treat it exactly like a reviewer's verdict:

==========  ============  =====================================================
command     verdict       effect on the accounts and entities named
==========  ============  =====================================================
``snooze``  ``release``   the rule RULE does not hit them until the expiry
            with ``rule``
``deny``    ``freeze``    their orders are frozen (until the expiry, if given)
``allow``   ``release``   their orders are allowed (until the expiry, if given);
                          a freeze on them is lifted
==========  ============  =====================================================

Entities are given as raw values (``--ip 10.2.3.4``, ``--phone "+86 138 0013
8000"``, ``--address "..."``) and turned into the pseudonyms the workers hold
with the deployment's key (``RISKSTREAM_PSEUDONYM_KEY``), or as the
pseudonyms decision records show (``--entity ip:0f3a...``).  The record goes
to standard output, is appended to a verdict file (``-o FILE``, the input of
``riskstream replay --verdicts``) and/or published to ``risk-verdicts``
(``--publish``, acknowledged by the broker before the command returns).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import click

from ..terminal import aware_time, err

_RAW_KINDS = (("ip", "ip"), ("ip_prefix", "ip-prefix"), ("device", "device"), ("phone", "phone"),
              ("payment", "payment"), ("address", "address"))


@click.group()
def lists() -> None:
    """Deny, allow and snooze entries for accounts and entities (riskstream.verdict/v1 records)."""


def _targets(f):
    """The options naming what a list entry covers."""
    f = click.option("--entity", "pseudonyms", multiple=True, metavar="KIND:PSEUDONYM",
                     help="an entity by the pseudonym decision records show (kind: ip, ip_prefix, device, phone, "
                          "payment, address)")(f)
    for kind, flag in reversed(_RAW_KINDS):
        what = "IP address" if kind == "ip" else "an IP in the /24 or /64 network" if kind == "ip_prefix" else kind
        f = click.option(f"--{flag}", f"raw_{kind}", multiple=True, metavar="VALUE",
                         help=f"{what} (raw; pseudonymised with RISKSTREAM_PSEUDONYM_KEY)")(f)
    f = click.option("--order", "orders", multiple=True, metavar="ID",
                     help="an order already decided: revised now (frozen by deny, allowed by allow and snooze)")(f)
    f = click.option("--account", "accounts", multiple=True, metavar="ID", help="an account id")(f)
    return f


def _common(f):
    f = click.option("--topic", "-t", help="verdicts topic [default: $RISKSTREAM_TOPIC_VERDICTS or risk-verdicts]")(f)
    f = click.option("--bootstrap", "-b",
                     help="Kafka bootstrap servers [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")(f)
    f = click.option("--publish", is_flag=True, help="publish the record to the verdicts topic")(f)
    f = click.option("-o", "--output", type=click.Path(dir_okay=False),
                     help="append the record to this verdict file (JSONL, for `riskstream replay --verdicts`)")(f)
    f = click.option("--case-id", help="the case the entry belongs to")(f)
    f = click.option("--note", help="why (kept with the record)")(f)
    f = click.option("--at", "at", metavar="TIME", help="when the entry takes effect (RFC 3339 with offset) [default: now]")(f)
    f = click.option("--reviewer", envvar="RISKSTREAM_REVIEWER",
                     help="who decided [default: $RISKSTREAM_REVIEWER, else $USER]")(f)
    f = click.option("--until", "until", metavar="TIME", help="expiry time (RFC 3339 with offset)")(f)
    f = click.option("--for", "duration", metavar="DURATION", help="expiry after this long (30m, 12h, 7d)")(f)
    return f


def _expiry(start: datetime, duration: str | None, until: str | None, required: bool) -> str | None:
    from ..rules.model import parse_duration

    if duration is not None and until is not None:
        raise click.UsageError("give --for or --until, not both")
    if duration is not None:
        try:
            seconds = parse_duration(duration)
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(str(exc), param_hint="--for") from None
        if seconds <= 0:
            raise click.BadParameter("must be longer than zero", param_hint="--for")
        return (start + timedelta(seconds=seconds)).isoformat(timespec="milliseconds")
    if until is not None:
        return aware_time(until, "--until").isoformat(timespec="milliseconds")
    if required:
        raise click.UsageError("a snooze needs an expiry: --for DURATION or --until TIME")
    return None


def _entities(raw: dict[str, tuple[str, ...]], pseudonyms: tuple[str, ...]) -> list[tuple[str, str]]:
    from ..engine.order_view import EntityKeys
    from ..events import EventError
    from ..settings import settings_from_env

    settings = settings_from_env()
    keys = EntityKeys(settings.secret, settings.phone_region)
    out: list[tuple[str, str]] = []
    for kind, flag in _RAW_KINDS:
        for value in raw.get(kind, ()):
            try:
                key = keys.key(kind, value)
            except EventError as exc:
                raise click.BadParameter(exc.problem, param_hint=f"--{flag}") from None
            if key is None:
                raise click.BadParameter(f"{value!r} is not a usable {kind}", param_hint=f"--{flag}")
            out.append((kind, key))
    for text in pseudonyms:
        kind, sep, key = text.partition(":")
        if not sep:
            raise click.BadParameter(f"expected KIND:PSEUDONYM, got {text!r}", param_hint="--entity")
        out.append((kind, key))
    return out


def _check_rule(rule: str, rules: str | None) -> None:
    from ..rules import RuleFileError, load_ruleset
    from ..settings import settings_from_env

    path = rules or settings_from_env().rules_path
    try:
        ruleset = load_ruleset(path)
    except RuleFileError as exc:
        raise click.ClickException(f"cannot check the rule id against {path}: {exc}") from None
    ids = [r.id for r in ruleset.rules]
    if rule not in ids:
        raise click.BadParameter(f"no rule {rule!r} in {path} (rules: {', '.join(ids)}); "
                                 "--no-check snoozes it anyway", param_hint="RULE")


def _emit(action: str, *, rule: str | None, required_expiry: bool, accounts, orders, pseudonyms, duration, until, reviewer,
          at, note, case_id, output, publish, bootstrap, topic, raw) -> None:
    from ..verdicts import Verdict, VerdictError

    reviewer = reviewer or os.environ.get("USER")
    if not reviewer:
        raise click.UsageError("say who decided: --reviewer NAME (or RISKSTREAM_REVIEWER)")
    start = aware_time(at, "--at") if at else datetime.now(timezone.utc)
    expires = _expiry(start, duration, until, required_expiry)
    entities = _entities(raw, pseudonyms)
    if not accounts and not entities and (rule is not None or not orders):
        raise click.UsageError("name at least one account or entity (--account, --ip, --phone, ... or --entity)")
    try:
        verdict = Verdict.create(action, reviewer, accounts=accounts, entities=entities, orders=orders, rule=rule, note=note,
                                 expires_at=expires, case_id=case_id,
                                 event_time=start.isoformat(timespec="milliseconds"))
    except VerdictError as exc:
        raise click.ClickException(f"not a valid verdict: {exc}") from None
    line = verdict.encode().decode()
    click.echo(line)
    if output:
        with open(output, "a", encoding="utf-8") as out:
            out.write(line + "\n")
        err(f"appended {verdict.verdict_id} to {output}")
    if publish:
        from kafka.errors import KafkaError

        from ..kafka.verdicts import VerdictPublisher

        try:
            with VerdictPublisher(bootstrap, topic) as publisher:
                partition, offset = publisher.publish(verdict)
                name = publisher.topic
        except KafkaError as exc:
            raise click.ClickException(f"publishing the verdict failed: {exc!r}") from None
        err(f"published {verdict.verdict_id} to {name} (partition {partition}, offset {offset})")


@lists.command("snooze")
@click.argument("rule")
@_targets
@_common
@click.option("--rules", type=click.Path(exists=True), help="rules the RULE id is checked against [default: ./rules]")
@click.option("--no-check", is_flag=True, help="do not check that RULE is in the rules")
def snooze(rule, rules, no_check, accounts, orders, pseudonyms, duration, until, reviewer, at, note, case_id, output,
           publish, bootstrap, topic, **raw) -> None:
    """Snooze RULE for the accounts and entities named, until an expiry (--for 7d or --until TIME).

    Other rules still apply to them; after the expiry RULE hits them again."""
    if not no_check:
        _check_rule(rule, rules)
    _emit("release", rule=rule, required_expiry=True, accounts=accounts, orders=orders, pseudonyms=pseudonyms, duration=duration,
          until=until, reviewer=reviewer, at=at, note=note, case_id=case_id, output=output, publish=publish,
          bootstrap=bootstrap, topic=topic, raw=_raw(raw))


def _entry_command(name: str, action: str, doc: str) -> None:
    """``lists deny`` and ``lists allow``: the same options, another verdict action."""

    def command(accounts, orders, pseudonyms, duration, until, reviewer, at, note, case_id, output, publish, bootstrap, topic,
                **raw) -> None:
        _emit(action, rule=None, required_expiry=False, accounts=accounts, orders=orders, pseudonyms=pseudonyms,
              duration=duration, until=until, reviewer=reviewer, at=at, note=note, case_id=case_id, output=output, publish=publish,
              bootstrap=bootstrap, topic=topic, raw=_raw(raw))

    command.__doc__ = doc
    lists.command(name)(_targets(_common(command)))


_entry_command("deny", "freeze", "Freeze the orders of the accounts and entities named (until an expiry, if given).")
_entry_command("allow", "release",
               "Allow the orders of the accounts and entities named, lifting a freeze (until an expiry, if given).")


def _raw(options: dict) -> dict[str, tuple[str, ...]]:
    return {name[len("raw_"):]: values for name, values in options.items() if name.startswith("raw_")}
