"""``riskstream rules``: validate rule files, export their schema, publish them to the workers."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from ..settings import settings_from_env
from ..terminal import err


@click.group()
def rules() -> None:
    """Validate rule files, export their schema, publish them to the workers."""


@rules.command("check")
@click.argument("path", required=False, type=click.Path())
def rules_check(path: str | None) -> None:
    """Validate a rule file or directory; exit 1 with file:line: field: problem on error."""
    from ..rules import RuleFileError, load_ruleset

    target = Path(path) if path else settings_from_env().rules_path
    try:
        ruleset = load_ruleset(target)
    except RuleFileError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        err(f"{len(exc.problems)} problem(s) in {target}")
        raise SystemExit(1)
    active = sum(r.mode == "active" for r in ruleset.rules)
    click.echo(f"{target}: ok - ruleset {ruleset.version}, {len(ruleset.rules)} rules ({active} active, "
               f"{len(ruleset.rules) - active} shadow), {len(ruleset.sales)} sales, {len(ruleset.lists)} lists")


@rules.command("schema")
def rules_schema() -> None:
    """Print the JSON Schema of a rule file (for editor autocompletion)."""
    from ..rules.model import RuleFile

    schema = RuleFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "riskstream rule file"
    click.echo(orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode())


@rules.command("publish")
@click.argument("path", type=click.Path())
@click.option("--at", "at", help="effective event time (RFC 3339, e.g. 2026-11-11T20:00:00+08:00) [default: now]")
@click.option("--bootstrap", "-b", help="Kafka bootstrap servers [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--topic", help="rules control topic [default: $RISKSTREAM_TOPIC_RULES or risk-rules]")
def rules_publish(path: str, at: str | None, bootstrap: str | None, topic: str | None) -> None:
    """Validate a rules directory and publish it; every worker decides orders from --at on with it.

    Invalid rules: the same file:line: field: problem lines as `rules check`, nothing published, exit 1."""
    from datetime import datetime

    from ..kafka.control import publish_control
    from ..rules import RuleFileError
    from ..rules.published import publish_record

    moment = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            raise click.BadParameter(f"expected an RFC 3339 time, got {at!r}", param_hint="--at") from None
        if moment.tzinfo is None:
            raise click.BadParameter("needs a UTC offset, e.g. 2026-11-11T20:00:00+08:00", param_hint="--at")
    try:
        record = publish_record(path, moment)
    except RuleFileError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        err(f"{len(exc.problems)} problem(s) in {path}: nothing published")
        raise SystemExit(1)
    partition, offset = publish_control(record["role"].encode(), orjson.dumps(record), bootstrap, topic)
    click.echo(f"published ruleset {record['version']} ({len(record['files'])} files), effective from "
               f"{record['effective_at']} (offset {offset})")


@rules.command("history")
@click.option("--bootstrap", "-b", help="Kafka bootstrap servers [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--topic", help="rules control topic [default: $RISKSTREAM_TOPIC_RULES or risk-rules]")
@click.option("-o", "--output", default="-", help="JSONL file for `riskstream replay --rulesets` [default: stdout]")
def rules_history(bootstrap: str | None, topic: str | None, output: str) -> None:
    """Write the rule sets on the control topic (as the workers read them) as JSONL."""
    from ..kafka.control import read_control
    from ..rules import RuleFileError
    from ..rules.published import parse_published

    lines = []
    for _, value, offset in read_control(bootstrap, topic):
        try:
            published = parse_published(value)
        except RuleFileError as exc:
            err(f"offset {offset}: refused (workers ignore it): {exc}")
            continue
        lines.append(orjson.dumps(published.record) + b"\n")
        err(f"offset {offset}: {published.role} {published.version} from {published.record['effective_at']}")
    data = b"".join(lines)
    if output == "-":
        click.echo(data.decode(), nl=False)
    else:
        Path(output).write_bytes(data)
