"""The ``riskstream`` command line: one module per command group.

    riskstream simulate --orders N --seed S -o FILE                       (simulate.py)
    riskstream replay INPUT... | riskstream backtest INPUT --rules NEW --baseline OLD   (offline.py)
    riskstream tune INPUT --label-field F --rules DIR -o DIR                 (tune.py)
    riskstream rules check [PATH] | riskstream rules schema               (rules.py)
    riskstream cluster list --input FILE | cluster show ID --input FILE   (cluster.py)
    riskstream model train INPUT... | model evaluate INPUT --model M      (model.py)
    riskstream worker | demo | produce INPUT | decisions                  (stream.py)
    riskstream kafka up | down | status | logs                            (kafka.py)
    riskstream verdicts publish FILE                                      (verdicts.py)
    riskstream lists snooze RULE --account A --for 7d | lists deny | lists allow   (lists.py)
    riskstream cases ingest | export-labels HISTORY -o FILE | backfill HISTORY   (cases.py)
    riskstream console serve | console add-user NAME                      (console.py)
    riskstream audit verify                                               (audit.py)
    riskstream chaos [--scenario NAME]                                    (chaos.py)
    riskstream bench replay | model | memory | graph | address | kill | stream | verdicts   (bench.py)

Command modules import the domain, never each other.  Rules or a model that
cannot be used end a command with their problems on standard error and exit
status 2 (:class:`~riskstream.assembly.AssemblyError`); so does a Kafka cluster that
refuses the TLS or SASL settings (:class:`~riskstream.kafka.security.KafkaSecurityError`).  A case
store that cannot be opened ends one with its message and exit status 1
(:class:`~riskstream.console.store.StoreError`).
"""

from __future__ import annotations

import sys

import click

from .. import native
from ..assembly import AssemblyError
from ..kafka.security import KafkaSecurityError
from . import (
    audit,
    bench,
    cases,
    chaos,
    cluster,
    console,
    kafka,
    lists,
    model,
    offline,
    rules,
    simulate,
    stream,
    tune,
    verdicts,
)

__all__ = ["main"]


class _Main(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except AssemblyError as exc:
            for line in exc.lines:
                click.echo(line, err=True)
            ctx.exit(exc.status)
        except KafkaSecurityError as exc:
            click.echo(f"error: Kafka refused this client: {exc}", err=True)
            ctx.exit(2)
        except Exception as exc:
            store = sys.modules.get("riskstream.console.store")  # imported (with SQLAlchemy) by its commands only
            if store is None or not isinstance(exc, store.StoreError):
                raise
            click.echo(f"Error: {exc}", err=True)  # as a ClickException: the message, exit status 1
            ctx.exit(1)


@click.group(cls=_Main)
@click.version_option(package_name="riskstream", message=f"%(prog)s %(version)s; state core: {native.implementation()}")
def main() -> None:
    """riskstream: anti-scalper risk decisions for flash-sale orders."""


for command in (
    simulate.simulate,
    offline.replay,
    offline.backtest,
    tune.tune,
    rules.rules,
    cluster.cluster,
    model.model,
    stream.worker,
    stream.demo,
    stream.produce,
    stream.decisions,
    kafka.kafka,
    bench.bench,
    chaos.chaos,
    verdicts.verdicts,
    lists.lists,
    cases.cases,
    console.console,
    audit.audit,
):
    main.add_command(command)
