"""``riskstream cluster list|show``: clusters of linked accounts in order history."""

from __future__ import annotations

import click

from ..assembly import load_engine
from ..terminal import err


@click.group()
def cluster() -> None:
    """Clusters of linked accounts, for reviewers (replays the input to build the graph)."""


def _review_data(input_path: str, rules: str | None):
    from ..offline.clusters import replay_for_review
    from ..offline.history import read_records

    try:
        return replay_for_review(load_engine(rules), read_records([input_path]))
    except ValueError as exc:
        raise click.ClickException(str(exc))


@cluster.command("list")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True), help="order history (JSONL or CSV)")
@click.option("--rules", type=click.Path(exists=True), help="a rule set with a graph [default: ./rules or bundled]")
@click.option("--top", type=int, default=20, show_default=True, help="clusters to list")
@click.option("--flagged", is_flag=True, help="only clusters with held or frozen orders")
def cluster_list(input_path: str, rules: str | None, top: int, flagged: bool) -> None:
    """The largest (or flagged) clusters, to find an id for `cluster show`."""
    from ..offline.clusters import print_list

    print_list(_review_data(input_path, rules), top=top, flagged_only=flagged)


@cluster.command("show")
@click.argument("cluster_id")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True), help="order history (JSONL or CSV)")
@click.option("--rules", type=click.Path(exists=True), help="a rule set with a graph [default: ./rules or bundled]")
@click.option("-o", "--output", "picture", help="write the account-entity picture here (.png or .svg)")
def cluster_show(cluster_id: str, input_path: str, rules: str | None, picture: str | None) -> None:
    """Print a cluster: members, shared entities by kind, orders and decisions; draw its graph."""
    from ..offline.clusters import draw, find, print_cluster

    data = _review_data(input_path, rules)
    found, note = find(data, cluster_id)
    if found is None:
        raise click.ClickException(f"no cluster {cluster_id} in {input_path} (riskstream cluster list shows the ids)")
    print_cluster(data, found, note)
    if picture:
        try:
            written = draw(data, found, picture)
        except ValueError as exc:
            raise click.ClickException(str(exc))
        err(f"wrote {written}")
