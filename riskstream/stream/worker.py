"""``riskstream worker``: run a stream worker (any number may run; partitions spread)."""

from __future__ import annotations

from pathlib import Path

import click

from ..topics import Topics, default_bootstrap, ensure_topics


@click.command()
@click.option("--bootstrap", default=None, help="Kafka bootstrap HOST:PORT [default: $RISKSTREAM_BOOTSTRAP or 127.0.0.1:9092]")
@click.option("--web-port", type=int, default=6066, show_default=True, help="port of the health and metrics endpoints")
@click.option("--data-dir", type=click.Path(file_okay=False), default="var/worker", show_default=True, help="local state")
@click.option("--rules", type=click.Path(exists=True), help="rule file or directory [default: ./rules or bundled]")
@click.option("--app-id", default="riskstream", show_default=True, help="consumer group and internal topic prefix")
@click.option("--model", type=click.Path(), help="anomaly model, reloaded when it changes [default: $RISKSTREAM_MODEL, else rules alone]")
@click.option("--log-level", default="warning", show_default=True)
@click.option("--log-json/--no-log-json", default=False, show_default=True, help="log JSON lines (for collectors)")
def worker(bootstrap: str | None, web_port: int, data_dir: str, rules: str | None, app_id: str, model: str | None,
           log_level: str, log_json: bool) -> None:
    """Run a stream worker: decide orders from Kafka and publish decisions."""
    from faust.worker import Worker

    from ..cli import load_engine
    from .app import create_app, ensure_internal_topics
    from .observe import configure_logging

    configure_logging(log_json, log_level)
    bootstrap = bootstrap or default_bootstrap()
    topics = Topics.from_env()
    ensure_topics(bootstrap, topics)
    graph = load_engine(rules).ruleset.graph  # a bad rule set stops here, before anything starts
    ensure_internal_topics(bootstrap, app_id, topics.partitions, graph.retention if graph is not None else None)
    path = Path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    app = create_app(bootstrap, topics=topics, data_dir=path, web_port=web_port, rules=rules, app_id=app_id,
                     model=model)
    runner = Worker(app, loglevel=log_level, override_logging=False, quiet=log_json)
    runner.spinner = None
    runner.execute_from_commandline()
