"""``riskstream chaos``: the fault scenarios on a local broker of their own, as one table."""

from __future__ import annotations

import socket
from pathlib import Path

import click
import orjson

from ..terminal import err

ORDER = ("worker-kill", "broker-bounce", "rebalance", "corrupt-state")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@click.command()
@click.option("--scenario", "scenarios", multiple=True, type=click.Choice(ORDER),
              help="run only these [default: all]")
@click.option("--orders", type=click.IntRange(100), default=20_000, show_default=True, help="orders per scenario")
@click.option("--faults", type=click.IntRange(1), default=5, show_default=True,
              help="faults per scenario (rebalance: this many times four)")
@click.option("--rate", type=float, default=800.0, show_default=True, help="orders per second published")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--rules", type=click.Path(exists=True), default="rules", show_default=True)
@click.option("--work-dir", type=click.Path(file_okay=False), default="var/chaos", show_default=True,
              help="the broker's data, the workers' state and logs")
@click.option("--quiet", is_flag=True, help="only the table")
def chaos(scenarios: tuple[str, ...], orders: int, faults: int, rate: float, seed: int, rules: str, work_dir: str,
          quiet: bool) -> None:
    """Kill workers and the broker mid-stream, corrupt state; print lost, conflicting and drifting orders.

    Starts its own local broker (killed and restarted by the broker-bounce scenario), real
    worker processes, and publishes simulated traffic through the producer helper.  Exits 1
    if any scenario lost an order, published conflicting decisions or drifted from replay.
    """
    import logging

    from ..bench.faults import run_scenario
    from ..kafka.local import LocalKafka

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a broker away is the point; the producer says it
    say = (lambda message: None) if quiet else err
    work = Path(work_dir)
    broker = LocalKafka(port=_free_port(), controller_port=_free_port(), data_dir=work / "kafka", log=say)
    broker.up(timeout=180)
    rows = []
    try:
        for name in scenarios or ORDER:
            count = faults * 4 if name == "rebalance" else faults
            rows.append(run_scenario(name, broker.bootstrap, orders=orders, faults=count, broker=broker, seed=seed,
                                     rules=rules, work_dir=work, rate=rate, say=say))
    finally:
        broker.down()
    header = f"{'scenario':<14} {'orders':>7} {'faults':>6} {'lost':>5} {'conflicting':>11} {'drift':>5} " \
             f"{'recovery':>9} {'seconds':>8}"
    click.echo(header)
    for row in rows:
        recovery = "-" if row.recovery is None else f"{row.recovery:.1f} s"
        click.echo(f"{row.scenario:<14} {row.orders:>7,} {row.faults:>6} {row.lost:>5} {row.conflicting:>11} "
                   f"{row.drift:>5} {recovery:>9} {row.seconds:>8.1f}")
    for row in rows:
        for note in ([f"{row.ties} orders differ by same-time ties (known, see same_time_ties)"] if row.ties else []) \
                + row.notes:
            click.echo(f"  {row.scenario}: {note}")
    report = work / "outcomes.json"
    report.write_bytes(orjson.dumps([row.to_dict() for row in rows], option=orjson.OPT_INDENT_2))
    if not all(row.ok for row in rows):
        click.echo(f"  the drifting orders, live beside replay: {report}")
        raise SystemExit(1)
