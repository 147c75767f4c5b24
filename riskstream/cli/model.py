"""``riskstream model train`` and ``riskstream model evaluate``."""

from __future__ import annotations

import sys

import click
import orjson

from ..assembly import load_engine
from ..terminal import columns_of, err, progress_bar, ticking, write_json


@click.group()
def model() -> None:
    """Train and measure the anomaly model."""


def _history(inputs: list[str], rules: str | None, label_field: str | None, columns: tuple[str, ...], what: str):
    from ..model.train import read_history
    from ..offline.history import read_records, total_bytes

    engine = load_engine(rules)
    counter = [0]
    records = read_records(inputs, columns_of(columns), counter)
    try:
        with progress_bar(total_bytes(inputs) or None, what) as update:
            history = read_history(engine, ticking(records, counter, update), label_field)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    history.inputs = list(inputs)
    return history


@model.command("train")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", default="models/anomaly.skops", show_default=True, help="artefact; metadata goes beside it (.json)")
@click.option("--label-field", help="labels, if any: used to measure the model and calibrate its thresholds, never to fit it")
@click.option("--rules", type=click.Path(exists=True), help="rule set whose sales, windows and graph the features use")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
@click.option("--trees", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--max-samples", type=click.IntRange(min=2), default=128, show_default=True, help="rows per tree")
@click.option("--seed", type=int, default=0, show_default=True)
def train_command(inputs, output, label_field, rules, columns, trees, max_samples, seed) -> None:
    """Train an IsolationForest on order history and write models/NAME.skops + NAME.json."""
    from ..model.train import train

    history = _history(list(inputs), rules, label_field, columns, "reading features")
    err(f"{len(history.rows):,} orders ({history.report.invalid:,} invalid), {history.rows.shape[1]} features; fitting")
    try:
        meta = train(history, output, trees=trees, max_samples=max_samples, seed=seed, label_field=label_field,
                     command="riskstream model train " + " ".join(sys.argv[3:]))
    except ValueError as exc:
        raise click.ClickException(str(exc))
    err(f"wrote {output} ({meta['model_version']}), thresholds {meta['thresholds']}")
    if "training_pr_auc" in meta["metrics"]:
        err(f"training PR-AUC {meta['metrics']['training_pr_auc']:.4f} (in-sample; use `model evaluate` on other data)")


@model.command("evaluate")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--model", "model_path", required=True, type=click.Path(), help="models/NAME.skops")
@click.option("--label-field", required=True, help="field holding the ground-truth label")
@click.option("--rules", type=click.Path(exists=True), help="rule set whose sales, windows and graph the features use")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
@click.option("--report", "report_path", help="write the report JSON here; pictures go beside it (.png)")
def evaluate_command(input_path, model_path, label_field, rules, columns, report_path) -> None:
    """PR-AUC, precision and recall at the model's thresholds, and pictures, on labelled history."""
    from pathlib import Path

    from ..model.artefact import ModelError, load_model
    from ..model.evaluate import evaluate

    try:
        loaded = load_model(model_path)
    except ModelError as exc:
        err(f"model refused: {exc}")
        raise SystemExit(2) from None
    history = _history([input_path], rules, label_field, columns, "reading features")
    if history.labels is None or not (history.labels >= 0).any():
        raise click.ClickException(f"no labels in field {label_field!r}")
    stem = Path(report_path).with_suffix("") if report_path else None
    report = evaluate(loaded, history, pictures=stem)
    write_json(report_path, report)
    click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
