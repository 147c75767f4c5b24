"""``kafka`` command group: start, stop and inspect the local broker.

``up`` prints only the bootstrap address on stdout (progress goes to stderr), so
``BOOTSTRAP=$(riskstream kafka up)`` works in scripts; ``up --secure`` prints the
client settings as ``export`` lines instead, for ``eval "$(riskstream kafka up --secure)"``.
``--secure`` picks the secured broker's data directory for every command.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..kafka.local.errors import LocalKafkaError
from ..kafka.local.launcher import PORT_ENV, LocalKafka
from ..kafka.local.tls import shell_exports

EXIT_NOT_RUNNING = 3
_SECURE_PORT = 9094  # beside the plaintext broker's 9092 (and its controller's 9093)

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Broker data directory [default: <root>/var/kafka].",
)


def _progress(message: str) -> None:
    click.echo(message, err=True)


_secure_option = click.option(
    "--secure",
    is_flag=True,
    help="The SASL_SSL broker (SCRAM-SHA-512, self-signed CA) [data dir: <root>/var/kafka-secure].",
)


def _broker(ctx: click.Context, **kwargs) -> LocalKafka:
    try:
        return LocalKafka(root=ctx.obj.get("root"), log=_progress, **kwargs)
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Project root holding .cache/ and var/ [default: found from the current directory].",
)
@click.pass_context
def kafka(ctx: click.Context, root: Path | None) -> None:
    """Local single-node Kafka broker (KRaft) for development and tests."""
    ctx.ensure_object(dict)
    ctx.obj["root"] = root


@kafka.command()
@click.option(
    "--port",
    type=int,
    default=None,
    help=f"Client port [default: ${PORT_ENV} or 9092].",
)
@click.option(
    "--controller-port",
    type=int,
    default=None,
    help="KRaft controller port [default: port + 1].",
)
@_data_dir_option
@click.option(
    "--kafka-version",
    default=None,
    help="Kafka version to run [default: the pinned one].",
)
@click.option(
    "--timeout",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds to wait for the broker.",
)
@_secure_option
@click.pass_context
def up(ctx, port, controller_port, data_dir, kafka_version, timeout, secure) -> None:
    """Start the broker if needed and print its bootstrap address.

    With --secure it prints the client settings instead, as shell exports:
    eval "$(riskstream kafka up --secure)" sets them for the commands that follow."""
    broker = _broker(
        ctx,
        port=port if port is not None or not secure else _SECURE_PORT,
        controller_port=controller_port,
        data_dir=data_dir,
        version=kafka_version,
        secure=secure,
    )
    started = time.monotonic()
    try:
        bootstrap = broker.up(timeout=timeout)
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from None
    status = broker.status()
    _progress(
        f"Kafka {status['version']} ready on {bootstrap} (pid {status['pid']}, "
        f"{time.monotonic() - started:.1f}s)"
    )
    if broker.secure:
        _progress("SASL_SSL (SCRAM-SHA-512, self-signed CA); client settings:")
        click.echo(shell_exports(broker.client_environment()))
    else:
        click.echo(bootstrap)


@kafka.command()
@_data_dir_option
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds before SIGKILL.",
)
@_secure_option
@click.pass_context
def down(ctx, data_dir, timeout, secure) -> None:
    """Stop the broker (no-op when it is not running)."""
    broker = _broker(ctx, data_dir=data_dir, secure=secure)
    try:
        stopped = broker.down(timeout=timeout)
    except LocalKafkaError as exc:
        raise click.ClickException(str(exc)) from None
    _progress("stopped" if stopped else "not running")


@kafka.command()
@_data_dir_option
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port to probe when no broker state is recorded.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@_secure_option
@click.pass_context
def status(ctx, data_dir, port, as_json, secure) -> None:
    """Show the broker status; exit 0 if it runs and answers, 3 if not."""
    info = _broker(ctx, data_dir=data_dir, port=port, secure=secure).status()
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            click.echo(f"{key}: {value}")
    ctx.exit(0 if info["running"] else EXIT_NOT_RUNNING)


@kafka.command()
@_data_dir_option
@click.option(
    "-n", "--lines", type=int, default=30, show_default=True, help="Number of lines."
)
@_secure_option
@click.pass_context
def logs(ctx, data_dir, lines, secure) -> None:
    """Print the last lines of the broker log."""
    click.echo(_broker(ctx, data_dir=data_dir, secure=secure).log_tail(lines))
