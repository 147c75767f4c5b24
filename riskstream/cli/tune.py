"""``riskstream tune``: propose rule outcomes and thresholds from labelled history."""

from __future__ import annotations

from pathlib import Path

import click

from ..assembly import load_engine, load_scoring
from ..settings import settings_from_env
from ..terminal import columns_of, err, progress_bar, ticking, write_json


@click.command()
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--label-field", required=True, help="field holding the ground-truth label (1/true = abusive)")
@click.option("--rules", type=click.Path(exists=True), help="the rules to tune [default: ./rules or bundled]")
@click.option("-o", "--output", required=True, type=click.Path(), help="directory for the tuned rules and the report")
@click.option("--split", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.7, show_default=True,
              help="share of the orders (earliest by event time) to tune on; the rest only reports")
@click.option("--block-precision", type=click.FloatRange(0, 1), default=0.95, show_default=True,
              help="least precision of a rule that holds or freezes")
@click.option("--review-precision", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="least precision of a rule that sends to review")
@click.option("--min-hits", type=click.IntRange(1), default=20, show_default=True,
              help="fewer hits on the earlier part: the rule keeps its setting")
@click.option("--model", "model", type=click.Path(), help="anomaly model for model_score rules [default: $RISKSTREAM_MODEL]")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
@click.option("--report", "report_path", type=click.Path(), help="HTML report [default: OUTPUT/report.html]")
def tune(inputs, label_field, rules, output, split, block_precision, review_precision, min_hits, model, columns,
         report_path) -> None:
    """Tune rule outcomes and thresholds on the earlier part of labelled history, report on the later part.

    Writes a complete rules directory to OUTPUT (comments and order kept),
    OUTPUT/tune.json and an HTML report, and prints the diff against the input rules.
    """
    from ..offline.history import read_records, total_bytes
    from ..offline.tune import Targets
    from ..offline.tune_report import write_html
    from ..offline.tuning import tune_history

    rules_path = Path(rules) if rules else settings_from_env().rules_path
    load_engine(rules_path)  # invalid rules end here with their problems
    paths = list(inputs)
    mapping = columns_of(columns)

    def records():
        return read_records(paths, mapping, counter)

    counter = [0]

    def progress(stage):
        def wrap(items):
            counter[0] = 0
            with progress_bar(total_bytes(paths) or None, stage) as update:
                yield from ticking(items, counter, update)
        return wrap

    def engine_for(ruleset):
        from ..engine import DecisionEngine

        return DecisionEngine(ruleset, **settings_from_env().engine_options())

    scoring_for = (lambda engine: load_scoring(engine, model)) if model or settings_from_env().model else None
    try:
        result = tune_history(rules_path, records, label_field, output, split=split,
                              targets=Targets(block_precision, review_precision, min_hits),
                              engine_for=engine_for, scoring_for=scoring_for, progress=progress)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(str(exc))
    summary = result.summary
    overlap = _model_overlap(model or settings_from_env().model, summary["split_at"])
    if overlap:
        summary["model_warning"] = overlap
        err(f"warning: {overlap}")
    write_json(Path(output) / "tune.json", summary)
    html_path = Path(report_path) if report_path else Path(output) / "report.html"
    write_html(html_path, summary, result.tunings, result.diff)
    click.echo(result.diff or "no change proposed", nl=False)
    _print_summary(summary)
    err(f"rules written to {output} ({summary['proposed_ruleset']}); report {html_path}")


def _model_overlap(model_path, split_at: str) -> str | None:
    """A warning when the model was trained on orders of the later part the tuning reports on."""
    from datetime import datetime

    from ..model.artefact import ModelError, read_metadata

    if not model_path:
        return None
    try:
        training = read_metadata(model_path).get("training", {})
    except ModelError:
        return None
    last = (training.get("window") or {}).get("last")
    if not last or datetime.fromisoformat(last) < datetime.fromisoformat(split_at):
        return None
    return (f"the model was trained on orders up to {last}, after the split at {split_at}: the later part is not "
            "held back from it, so the figures on the later part flatter the model score rules; train the model "
            "with the same --split")


def _print_summary(summary: dict) -> None:
    err(f"\ntuned on {summary['earlier']['orders']:,} orders before {summary['split_at']} "
        f"({summary['earlier']['positives']:,} positives); later part {summary['later']['orders']:,} orders "
        f"({summary['later']['positives']:,} positives)")
    for side in ("current", "proposed"):
        t = summary["backtest"][side]
        err(f"later part, {side:8s} rules: blocked P={t['blocked']['precision']:.4f} R={t['blocked']['recall']:.4f}  "
            f"flagged P={t['flagged']['precision']:.4f} R={t['flagged']['recall']:.4f}  "
            f"benign held {t['benign_held_share']:.3%}")
    changed = [r for r in summary["rules"] if r["changed"]]
    err(f"{len(changed)} of {len(summary['rules'])} rules changed:")
    for r in changed:
        err(f"  {r['rule']}: {r['why']}")
