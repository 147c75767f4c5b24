"""``riskstream rules``: validate rule files, export their schema, publish them to the workers."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from ..settings import settings_from_env
from ..terminal import aware_time, err


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
@click.option("--shadow", is_flag=True, help="run it in shadow beside the live rules (see `riskstream rules diff`)")
def rules_publish(path: str, at: str | None, bootstrap: str | None, topic: str | None, shadow: bool) -> None:
    """Validate a rules directory and publish it; every worker decides orders from --at on with it
    (--shadow: evaluates it beside the live rules, changing nothing).

    Invalid rules: the same file:line: field: problem lines as `rules check`, nothing published, exit 1."""

    from ..kafka.control import publish_control
    from ..rules import RuleFileError
    from ..rules.published import publish_record

    moment = None
    if at is not None:
        moment = aware_time(at, "--at")
    try:
        record = publish_record(path, moment, role="shadow" if shadow else "live")
    except RuleFileError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        err(f"{len(exc.problems)} problem(s) in {path}: nothing published")
        raise SystemExit(1)
    partition, offset = publish_control(record["role"].encode(), orjson.dumps(record), bootstrap, topic)
    click.echo(f"published {record['role']} ruleset {record['version']} ({len(record['files'])} files), effective from "
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


@rules.command("watch")
@click.argument("path", type=click.Path(exists=True))
@click.option("--replay", "history", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="history (JSONL/CSV) to replay with each accepted rule set, printing its outcome counts")
@click.option("--publish", is_flag=True, help="publish each accepted change to the rules control topic (live, from now)")
@click.option("--shadow", is_flag=True, help="with --publish: publish as the shadow rule set (see `riskstream rules diff`)")
@click.option("--bootstrap", "-b", help="Kafka bootstrap servers [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--topic", help="rules control topic [default: $RISKSTREAM_TOPIC_RULES or risk-rules]")
def rules_watch(path: str, history: tuple[str, ...], publish: bool, shadow: bool, bootstrap: str | None,
                topic: str | None) -> None:
    """Watch a rule directory (single node): each valid change is accepted, an invalid one is
    reported with file:line: field: problem and the previous rule set stays in use.

    With --publish, each accepted change (not the state at start: `rules publish` that) goes to
    the workers as `rules publish` would send it (--shadow: as `rules publish --shadow`).  With
    --replay, each accepted rule set runs in an engine of this process over the history and its
    outcome counts are printed beside the previous rule set's.  Ctrl-C stops.
    """
    from ..rules.watch import ACCEPTED, RulesWatch

    if shadow and not publish:
        raise click.BadParameter("only with --publish", param_hint="--shadow")
    watch = RulesWatch(path)
    counts = _report(watch.first, history, None)
    click.echo(f"watching {path} (Ctrl-C stops)", err=True)
    try:
        for change in watch.changes():
            counts = _report(change, history, counts)
            if publish and change.status == ACCEPTED:
                _publish_change(path, change.ruleset.digest, "shadow" if shadow else "live", bootstrap, topic)
    except KeyboardInterrupt:
        current = watch.ruleset.version if watch.ruleset is not None else "none"
        click.echo(f"stopped watching {path}; last accepted ruleset {current}", err=True)


def _publish_change(path: str, digest: str, role: str, bootstrap: str | None, topic: str | None) -> None:
    """Send the accepted rule set, unless the files moved on meanwhile (the next change sends those)."""
    from kafka.errors import KafkaError

    from ..kafka.control import publish_control
    from ..rules import RuleFileError
    from ..rules.published import publish_record

    try:
        record = publish_record(path, role=role)
    except RuleFileError:
        return  # changed again and invalid now: that reload reports it
    if record["digest"] != digest:
        return
    try:
        _, offset = publish_control(record["role"].encode(), orjson.dumps(record), bootstrap, topic)
    except (KafkaError, OSError) as exc:  # the broker is down or refuses: say so and keep watching
        err(f"not published: {type(exc).__name__}: {exc}")
        return
    click.echo(f"  published {role} ruleset {record['version']}, effective from {record['effective_at']} (offset {offset})")


def _report(change, history: tuple[str, ...], before: dict[str, int] | None) -> dict[str, int] | None:
    """Print one reload; replay the history on an accepted rule set and return its outcome counts."""
    from ..rules.watch import ACCEPTED

    click.echo(change.describe(), err=change.status != ACCEPTED)
    for problem in change.problems:
        click.echo(f"  {problem}", err=True)
    if change.status != ACCEPTED or not history:
        return before
    counts = _outcome_counts(change.ruleset, history)
    click.echo("  outcomes: " + ", ".join(
        f"{outcome} {n:,}" + (f" ({n - before.get(outcome, 0):+,})" if before is not None else "")
        for outcome, n in counts.items()))
    return counts


def _outcome_counts(ruleset, history: tuple[str, ...]) -> dict[str, int]:
    from ..engine import DecisionEngine
    from ..offline.history import read_records
    from ..offline.replay import replay

    engine = DecisionEngine(ruleset, **settings_from_env().engine_options())
    return replay(engine, read_records(list(history))).to_dict()["actions"]  # every outcome, in order


@rules.command("diff")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False),
              help="decisions as JSONL (replay -o) instead of the decisions topic")
@click.option("--bootstrap", "-b", help="Kafka bootstrap servers [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--topic", help="decisions topic [default: $RISKSTREAM_TOPIC_DECISIONS or risk-decisions]")
@click.option("--last", default=100_000, show_default=True, type=click.IntRange(min=1),
              help="the most recent decision records to read from the topic")
@click.option("--json", "as_json", is_flag=True, help="print the counts as JSON")
def rules_diff(input_path: str | None, bootstrap: str | None, topic: str | None, last: int, as_json: bool) -> None:
    """Live vs shadow outcome counts on the recent stream (orders a shadow rule set judged)."""
    from ..kafka.control import read_recent
    from ..offline.shadow import compare_shadow, format_shadow

    if input_path:
        with open(input_path, "rb") as lines:
            records = [orjson.loads(line) for line in lines if line.strip()]
    else:
        from ..kafka.topics import Topics

        records = [orjson.loads(value) for value in read_recent(bootstrap, topic or Topics.from_env().decisions, last)]
    summary = compare_shadow(records)
    if as_json:
        click.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(format_shadow(summary))
    if not summary["orders"]:
        err("no decision carries a shadow rule set's outcome (publish one with `riskstream rules publish --shadow`)")
