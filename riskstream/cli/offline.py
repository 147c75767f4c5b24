"""``riskstream replay`` and ``riskstream backtest``: the engine over order history."""

from __future__ import annotations

import click

from ..assembly import load_engine, load_scoring
from ..terminal import columns_of, err, progress_bar, ticking, write_json


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--rules", type=click.Path(exists=True), help="rule file or directory [default: ./rules or bundled]")
@click.option("--model", "model", type=click.Path(), help="anomaly model (models/NAME.skops) [default: $RISKSTREAM_MODEL, else rules alone]")
@click.option("--label-field", help="field holding the ground-truth label (1/true = abusive)")
@click.option("--group-field", help="field to break outcomes down by (e.g. scenario)")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
@click.option("-o", "--output", help="decisions as JSONL (- for stdout)")
@click.option("--report", "report_path", help="write the report JSON here")
@click.option("--verdicts", "verdicts_path", type=click.Path(exists=True, dir_okay=False),
              help="reviewers' verdicts (JSONL, riskstream.verdict/v1), merged in by time")
@click.option("--rulesets", "rulesets_path", type=click.Path(exists=True, dir_okay=False),
              help="published rule sets (JSONL, riskstream.ruleset/v1, as `riskstream rules history` writes), "
                   "each deciding from its effective time on")
def replay(inputs, rules, model, label_field, group_field, columns, output, report_path, verdicts_path,
           rulesets_path) -> None:
    """Replay order history through the engine, in order of appearance."""
    from ..offline.history import open_output, read_records, total_bytes
    from ..offline.replay import replay as run
    from ..verdicts import VerdictError, read_verdicts

    verdicts = []
    if verdicts_path:
        try:
            with open(verdicts_path, "rb") as lines:
                verdicts = read_verdicts(lines, verdicts_path)
        except VerdictError as exc:
            raise click.ClickException(str(exc)) from None
    engine = load_engine(rules)
    if rulesets_path:
        _schedule(engine, rulesets_path)
    scoring = load_scoring(engine, model)
    counter = [0]
    writer = open_output(output) if output else None
    records = read_records(list(inputs), columns_of(columns), counter)
    try:
        with progress_bar(total_bytes(list(inputs)) or None, "replaying") as update:
            report = run(engine, ticking(records, counter, update), write=writer.write if writer else None,
                         label_field=label_field, group_field=group_field, scoring=scoring, verdicts=verdicts)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    finally:
        if writer is not None:
            writer.close()
    summary = report.to_dict()
    write_json(report_path, summary)
    _print_summary(summary)


def _schedule(engine, path: str) -> None:
    """Switch ``engine`` to each live rule set of the file at its effective time (as the workers do)."""
    from ..engine.switch import schedule_published
    from ..rules import RuleFileError
    from ..rules.published import read_published_file

    try:
        for published in read_published_file(path):
            schedule_published(engine, published.role, published.ruleset, published.effective_ts)
    except RuleFileError as exc:
        raise click.ClickException(str(exc)) from None


def _print_summary(summary: dict) -> None:
    actions = ", ".join(f"{k} {v:,}" for k, v in summary["actions"].items())
    err(f"orders {summary['orders']:,}  invalid {summary['invalid']:,}  duplicates {summary['duplicates']:,}  "
        f"({summary['orders_per_second']:,} orders/s)")
    err(f"actions: {actions}")
    if summary.get("model_version"):
        err(f"model: {summary['model_version']}")
    if summary.get("verdicts"):
        err(f"verdicts: {summary['verdicts']['filed']:,} filed, {summary['verdicts']['revisions']:,} earlier orders revised")
    for example in summary.get("invalid_examples", [])[:5]:
        err(f"  invalid at {example['at']}: {example['field'] + ': ' if example['field'] else ''}{example['error']}")
    labels = summary.get("labels")
    if labels:
        err(f"labels: positives {labels['positives']:,} of {labels['labelled']:,}  "
            f"flagged P={labels['flagged']['precision']:.4f} R={labels['flagged']['recall']:.4f}  "
            f"blocked P={labels['blocked']['precision']:.4f} R={labels['blocked']['recall']:.4f}  "
            f"benign flagged {labels['benign_flagged_share']:.2%}  PR-AUC {labels['pr_auc']:.4f}")
    if summary.get("groups"):
        from ..offline.report import print_groups

        print_groups(summary["groups"])


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True))
@click.option("--rules", "new_rules", required=True, type=click.Path(exists=True), help="the proposed rule set")
@click.option("--baseline", required=True, type=click.Path(exists=True), help="the rule set in production")
@click.option("--model", "model", type=click.Path(), help="score both with this anomaly model [default: $RISKSTREAM_MODEL]")
@click.option("--label-field", help="field holding the ground-truth label")
@click.option("--column", "columns", multiple=True, metavar="FIELD=COLUMN", help="CSV column for a contract field")
@click.option("--report", "report_path", help="write the full comparison JSON here")
@click.option("--show", type=int, default=15, show_default=True, help="changed orders to print")
def backtest(input_path, new_rules, baseline, model, label_field, columns, report_path, show) -> None:
    """Compare a proposed rule set with the baseline on the same history."""
    from ..offline.backtest import backtest as run
    from ..offline.history import read_records, total_bytes
    from ..offline.report import print_comparison

    new, old = load_engine(new_rules), load_engine(baseline)
    scoring = (load_scoring(new, model), load_scoring(old, model))
    counter = [0]
    records = read_records([input_path], columns_of(columns), counter)
    with progress_bar(total_bytes([input_path]), "backtesting") as update:
        comparison = run(new, old, ticking(records, counter, update), label_field=label_field, scoring=scoring)
    data = comparison.to_dict()
    write_json(report_path, data)
    print_comparison(data, show)
