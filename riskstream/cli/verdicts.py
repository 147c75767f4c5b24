"""``riskstream verdicts publish FILE``: reviewers' verdicts (JSONL) onto ``risk-verdicts``."""

from __future__ import annotations

import sys

import click

from ..terminal import err


@click.group()
def verdicts() -> None:
    """Reviewers' verdicts (riskstream.verdict/v1)."""


@verdicts.command("publish")
@click.argument("input_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--bootstrap", "-b", help="Kafka bootstrap servers [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--topic", "-t", help="verdicts topic [default: $RISKSTREAM_TOPIC_VERDICTS or risk-verdicts]")
def publish(input_path: str, bootstrap: str | None, topic: str | None) -> None:
    """Validate every verdict of FILE (JSONL, - for stdin), then publish them, keyed by verdict id.

    Nothing is sent when any line is bad: the error names the line and the field."""
    from kafka.errors import KafkaError

    from ..kafka.verdicts import VerdictPublisher
    from ..verdicts import VerdictError, read_verdicts

    try:
        if input_path == "-":
            found = read_verdicts(sys.stdin.buffer, "<stdin>")
        else:
            with open(input_path, "rb") as lines:
                found = read_verdicts(lines, input_path)
    except VerdictError as exc:
        raise click.ClickException(str(exc)) from None
    if not found:
        raise click.ClickException(f"{input_path}: no verdicts in the file")
    try:
        with VerdictPublisher(bootstrap, topic) as publisher:
            futures = [publisher.send(verdict) for verdict in found]
            publisher.flush(timeout=30)
            for future in futures:
                future.get(timeout=0)
            name = publisher.topic
    except KafkaError as exc:
        raise click.ClickException(f"publishing verdicts failed: {exc!r}") from None
    actions: dict[str, int] = {}
    for verdict in found:
        actions[verdict.action.value] = actions.get(verdict.action.value, 0) + 1
    err(f"published {len(found)} verdicts to {name}: " + ", ".join(f"{k} {v}" for k, v in sorted(actions.items())))
