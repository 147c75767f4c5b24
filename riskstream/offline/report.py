"""Terminal rendering of backtest comparisons (rich tables on stdout)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from ..decisions import OUTCOME_LABELS


def print_comparison(data: dict[str, Any], show: int = 15, console: Console | None = None) -> None:
    console = console or Console()
    new, base = data["new"], data["baseline"]
    console.print(f"[bold]backtest[/] {data['orders']:,} orders: baseline {base['ruleset_version']} -> new {new['ruleset_version']}; "
                  f"{data['changed']:,} orders change action")

    outcomes = Table(title="outcomes")
    outcomes.add_column("action")
    for name in ("baseline", "new", "delta"):
        outcomes.add_column(name, justify="right")
    for action in OUTCOME_LABELS:
        b, n = base["actions"][action], new["actions"][action]
        outcomes.add_row(action, f"{b:,}", f"{n:,}", f"{n - b:+,}")
    console.print(outcomes)

    if data["moves"]:
        moves = Table(title="orders that moved (baseline -> new)")
        moves.add_column("baseline")
        moves.add_column("new")
        moves.add_column("orders", justify="right")
        for move in data["moves"]:
            if move["baseline"] != move["new"]:
                moves.add_row(move["baseline"], move["new"], f"{move['orders']:,}")
        console.print(moves)

    rules = Table(title="rule hits")
    rules.add_column("rule")
    for name in ("baseline", "new", "delta"):
        rules.add_column(name, justify="right")
    for rule, counts in sorted(data["rules"].items(), key=lambda kv: -abs(kv[1]["delta"])):
        rules.add_row(rule, f"{counts['baseline']:,}", f"{counts['new']:,}", f"{counts['delta']:+,}")
    console.print(rules)

    if "labels" in new:
        metrics = Table(title="against labels")
        metrics.add_column("metric")
        metrics.add_column("baseline", justify="right")
        metrics.add_column("new", justify="right")
        for group in ("flagged", "blocked"):
            for name in ("precision", "recall"):
                metrics.add_row(f"{group} {name}", f"{base['labels'][group][name]:.4f}", f"{new['labels'][group][name]:.4f}")
        metrics.add_row("benign flagged", f"{base['labels']['benign_flagged_share']:.2%}", f"{new['labels']['benign_flagged_share']:.2%}")
        metrics.add_row("PR-AUC", f"{base['labels']['pr_auc']:.4f}", f"{new['labels']['pr_auc']:.4f}")
        console.print(metrics)

    if data["changes"] and show:
        changes = Table(title=f"changed orders (first {min(show, len(data['changes']))} of {data['changed']:,})")
        for name in ("order", "account", "baseline", "new", "rules added", "rules removed"):
            changes.add_column(name)
        if "label" in data["changes"][0]:
            changes.add_column("label")
        for change in data["changes"][:show]:
            row = [change["order_id"], change["account_id"], change["baseline"], change["new"],
                   ", ".join(change["rules_added"]), ", ".join(change["rules_removed"])]
            if "label" in change:
                row.append(str(change["label"]))
            changes.add_row(*row)
        console.print(changes)


def print_groups(groups: dict[str, Any], console: Console | None = None) -> None:
    """Outcomes per group (e.g. per simulated scenario)."""
    console = console or Console(stderr=True)
    table = Table(title="outcomes by group")
    table.add_column("group")
    table.add_column("orders", justify="right")
    for action in OUTCOME_LABELS:
        table.add_column(action, justify="right")
    table.add_column("flagged", justify="right")
    table.add_column("blocked", justify="right")
    for name, group in groups.items():
        actions = group["actions"]
        table.add_row(name, f"{group['orders']:,}", *(f"{actions.get(a, 0):,}" for a in OUTCOME_LABELS),
                      f"{group['flagged_share']:.2%}", f"{group['blocked_share']:.2%}")
    console.print(table)
