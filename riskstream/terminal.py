"""What commands show on a terminal: messages, progress bars, JSON files and column options.

Progress bars (rich) appear only when standard error is a terminal, so piped
and CI runs stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, TypeVar

import orjson

__all__ = ["aware_time", "columns_of", "err", "first_few", "parse_columns", "progress_bar", "ticking", "write_json"]

T = TypeVar("T")


def err(message: str) -> None:
    """A line for the person at the terminal, on standard error."""
    print(message, file=sys.stderr, flush=True)


def first_few(names: list[str], shown: int = 5) -> str:
    """The first ``shown`` of ``names``, comma-separated, with `` ...`` when there are more."""
    return ", ".join(names[:shown]) + (" ..." if len(names) > shown else "")


@contextmanager
def progress_bar(total: int | None, description: str, unit: str = "bytes") -> Iterator[Callable[[int], None]]:
    """A rich progress bar on a terminal; silent elsewhere.  Yields ``update(done)``."""
    if not sys.stderr.isatty():
        yield lambda done: None
        return
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    counter = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    with Progress(TextColumn("{task.description}"), BarColumn(), counter, TimeRemainingColumn(),
                  transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda done: progress.update(task, completed=done)


def ticking(records: Iterable[T], counter: list[int], update: Callable[[int], None], every: int = 4096) -> Iterator[T]:
    """``records`` unchanged, telling ``update`` the byte count in ``counter[0]`` every ``every`` records."""
    for n, record in enumerate(records):
        if not n % every:
            update(counter[0])
        yield record


def write_json(path: str | Path | None, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` (creating its directory); nothing when ``path`` is None."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")


def parse_columns(pairs: Iterable[str]) -> dict[str, str]:
    """``FIELD=COLUMN`` pairs (CSV columns for contract fields) as a dict; ValueError names a bad pair."""
    out = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise ValueError(f"expected FIELD=COLUMN, got {pair!r}")
        out[field] = column
    return out


def columns_of(pairs: Iterable[str]) -> dict[str, str]:
    """:func:`parse_columns` for a command's ``--column`` options: a bad pair is a usage error."""
    import click

    try:
        return parse_columns(pairs)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--column") from None


def aware_time(text: str, option: str):
    """An RFC 3339 time given on the command line, with its UTC offset (a click usage error otherwise)."""
    from datetime import datetime

    import click

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"not an RFC 3339 time: {text!r}", param_hint=option) from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"give a UTC offset (e.g. Z or +08:00): {text!r}", param_hint=option)
    return moment
