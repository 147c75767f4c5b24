"""``riskstream model train`` and ``riskstream model evaluate``."""

from __future__ import annotations

import sys

import click
import orjson

from ..assembly import load_engine
from ..terminal import aware_time, columns_of, err, progress_bar, ticking, write_json


@click.group()
def model() -> None:
    """Train and measure the models: the unsupervised anomaly model and the supervised one."""


def _labels_file(path: str, label_field: str) -> dict[str, int]:
    """``order_id -> label`` of a labelled-orders file (``riskstream cases export-labels`` output)."""
    from ..offline.labels import parse_label

    out: dict[str, int] = {}
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise click.ClickException(f"{path}:{number}: not valid JSON ({exc})") from None
            label = parse_label(record.get(label_field)) if isinstance(record, dict) else None
            if label is None or not isinstance(record.get("order_id"), str):
                raise click.ClickException(f"{path}:{number}: expected an order with order_id and {label_field!r} 1 or 0")
            out[record["order_id"]] = label
    if not out:
        raise click.ClickException(f"{path}: no labelled orders")
    return out


def _history(inputs: list[str], rules: str | None, label_field: str | None, columns: tuple[str, ...], what: str,
             labels_path: str | None = None):
    from ..model.train import read_history
    from ..offline.history import read_records, total_bytes

    engine = load_engine(rules)
    labels = _labels_file(labels_path, label_field or "label") if labels_path else None
    counter = [0]
    records = read_records(inputs, columns_of(columns), counter)
    try:
        with progress_bar(total_bytes(inputs) or None, what) as update:
            history = read_history(engine, ticking(records, counter, update), label_field, labels_by_order=labels)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    history.inputs = list(inputs)
    if labels is not None:
        found = int((history.labels >= 0).sum())
        err(f"{found:,} of {len(labels):,} labelled orders of {labels_path} are in the history")
        if not found:
            raise click.ClickException(f"none of the labelled orders of {labels_path} is in {', '.join(inputs)}")
    return history


@model.command("train")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", help="artefact; metadata goes beside it (.json) "
              "[default: models/anomaly.skops, with --supervised models/supervised.skops]")
@click.option("--supervised", is_flag=True,
              help="learn from the labels (calibrated gradient boosting) instead of the unsupervised anomaly model")
@click.option("--label-field", help="labels: what a --supervised model learns from; for the anomaly model only used "
              "to measure it and calibrate its thresholds, never to fit it")
@click.option("--labels", "labels_path", type=click.Path(exists=True, dir_okay=False),
              help="take the labels (by order id, field --label-field, default label) from this file, such as "
              "`riskstream cases export-labels` output, and replay all of INPUT for the features")
@click.option("--unlabelled", type=click.Choice(["skip", "benign"]), default="skip", show_default=True,
              help="orders without a label: left out of training, or taken as benign (reviewers' labels cover "
              "only the flagged orders; the rest passed unchallenged)")
@click.option("--split", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="train on this share of the orders, the earliest by event time; `model evaluate` on the same "
              "input then measures the later part")
@click.option("--rules", type=click.Path(exists=True), help="rule set whose sales, windows and graph the features use")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
@click.option("--trees", type=click.IntRange(min=1), default=100, show_default=True, help="anomaly model: trees")
@click.option("--max-samples", type=click.IntRange(min=2), default=128, show_default=True,
              help="anomaly model: rows per tree")
@click.option("--iterations", type=click.IntRange(min=1), default=100, show_default=True,
              help="supervised model: boosting iterations (trees)")
@click.option("--calibration", type=click.Choice(["isotonic", "sigmoid"]), default="isotonic", show_default=True,
              help="supervised model: how scores become probabilities")
@click.option("--seed", type=int, default=0, show_default=True)
def train_command(inputs, output, supervised, label_field, labels_path, unlabelled, split, rules, columns, trees, max_samples, iterations,
                  calibration, seed) -> None:
    """Train a model on order history and write models/NAME.skops + NAME.json.

    Without --supervised: an IsolationForest that needs no labels (for a cold
    start).  With --supervised --label-field F: a classifier that learns from
    labelled history, such as `riskstream simulate` days or the reviewers'
    labels (`riskstream cases export-labels`)."""
    from ..model.train import train

    if labels_path and not label_field:
        label_field = "label"
    if supervised and not label_field:
        raise click.UsageError("--supervised learns from labels: give --label-field (or --labels FILE)")
    output = output or ("models/supervised.skops" if supervised else "models/anomaly.skops")
    history = _history(list(inputs), rules, label_field, columns, "reading features", labels_path)
    if unlabelled == "benign" and history.labels is not None:
        missing = history.labels < 0
        err(f"{int(missing.sum()):,} orders without a label taken as benign")
        history.labels[missing] = 0
    err(f"{len(history.rows):,} orders ({history.report.invalid:,} invalid), {history.rows.shape[1]} features; fitting")
    command = "riskstream model train " + " ".join(sys.argv[3:])
    try:
        if supervised:
            from ..model.supervised import train_supervised

            meta = train_supervised(history, output, label_field=label_field, split=split, iterations=iterations,
                                    calibration=calibration, seed=seed, command=command)
        else:
            meta = train(history, output, trees=trees, max_samples=max_samples, seed=seed, label_field=label_field,
                         split=split, command=command)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    trained = meta["training"]
    cut = f" before {trained['cut']}" if trained.get("cut") else ""
    err(f"wrote {output} ({meta['model_version']}, {meta['kind']}) from {trained['rows']:,} orders{cut}, "
        f"thresholds {meta['thresholds']}")
    if "training_pr_auc" in meta["metrics"]:
        err(f"training PR-AUC {meta['metrics']['training_pr_auc']:.4f} (in-sample; use `model evaluate` on other data"
            + (" or on the later part of this input" if cut else "") + ")")


def _evaluation_cut(meta: dict, input_path: str, split: float | None, after: str | None, history) -> tuple[float | None, str]:
    """The event time from which to evaluate, and a sentence saying which orders are measured."""
    from datetime import datetime, timezone
    from pathlib import Path

    if after is not None:
        return aware_time(after, "--after").timestamp(), f"orders from {after} on"
    if split is not None:
        cut = history.cut(split)
        return cut, f"the later {1 - split:.0%} of the orders (from {datetime.fromtimestamp(cut, timezone.utc).isoformat()})"
    training = meta.get("training", {})
    trained_on = {str(Path(p).resolve()) for p in training.get("inputs", [])}
    if str(Path(input_path).resolve()) in trained_on:
        if not training.get("cut"):
            raise click.ClickException(f"the model was trained on all of {input_path}; evaluate it on other history, "
                                       "or train with --split and evaluate the later part")
        return datetime.fromisoformat(training["cut"]).timestamp(), (
            f"the orders after the model's training cut {training['cut']} (it was trained on the earlier "
            f"{training['split']:.0%} of this input)")
    return None, "all orders"


@model.command("evaluate")
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--model", "model_path", required=True, type=click.Path(), help="models/NAME.skops")
@click.option("--label-field", required=True, help="field holding the ground-truth label")
@click.option("--split", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="measure only the later part: the orders after this share (earliest by event time)")
@click.option("--after", help="measure only the orders from this event time on (ISO 8601 with offset)")
@click.option("--rules", type=click.Path(exists=True), help="rule set whose sales, windows and graph the features use")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
@click.option("--report", "report_path", help="write the report JSON here; pictures go beside it (.png)")
def evaluate_command(input_path, model_path, label_field, split, after, rules, columns, report_path) -> None:
    """PR-AUC against the base rate, precision and recall at the model's thresholds, and pictures, on labelled history.

    On the input the model was trained on with --split, only the later part
    (after its training cut) is measured; on all of it, the evaluation is
    refused.  The report says plainly when the score carries no signal
    (PR-AUC within 1.5x the base rate)."""
    from pathlib import Path

    from ..model.artefact import ModelError, load_model
    from ..model.evaluate import evaluate

    if split is not None and after is not None:
        raise click.UsageError("give --split or --after, not both")
    try:
        loaded = load_model(model_path)
    except ModelError as exc:
        err(f"model refused: {exc}")
        raise SystemExit(2) from None
    history = _history([input_path], rules, label_field, columns, "reading features")
    if history.labels is None or not (history.labels >= 0).any():
        raise click.ClickException(f"no labels in field {label_field!r}")
    cut, measured = _evaluation_cut(loaded.metadata, input_path, split, after, history)
    if cut is not None:
        history = history.select(history.times >= cut)
        if not (history.labels >= 0).any():
            raise click.ClickException(f"no labelled order in {measured}")
    stem = Path(report_path).with_suffix("") if report_path else None
    report = evaluate(loaded, history, pictures=stem)
    report["measured"] = measured
    write_json(report_path, report)
    click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    err(f"{loaded.kind} model {loaded.version} on {measured}: {report['verdict']}")
