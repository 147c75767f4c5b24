"""``riskstream simulate``: a labelled flash-sale day of orders."""

from __future__ import annotations

import click

from ..terminal import err, progress_bar


@click.command()
@click.option("--orders", "-n", type=click.IntRange(min=1), default=100_000, show_default=True, help="orders to generate")
@click.option("--seed", "-s", type=int, default=0, show_default=True, help="same seed, same file")
@click.option("-o", "--output", default="-", show_default=True, help="JSONL file (- for stdout)")
def simulate(orders: int, seed: int, output: str) -> None:
    """Simulate a flash-sale day with labelled scalpers (fields `label`, `scenario`)."""
    from ..sim import write_jsonl

    with progress_bar(orders, "simulating", unit="orders") as update:
        written = write_jsonl(None if output == "-" else output, orders, seed, progress=update)
    if output != "-":
        err(f"wrote {written:,} orders to {output}")
