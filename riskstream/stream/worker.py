"""Run one stream worker (any number may run; partitions spread over them)."""

from __future__ import annotations

from pathlib import Path

from ..assembly import load_engine
from ..kafka.topics import Topics, ensure_topics


def run_worker(bootstrap: str, *, web_port: int = 6066, data_dir: str | Path = "var/worker", rules: str | None = None,
               app_id: str = "riskstream", model: str | None = None, log_level: str = "warning",
               log_json: bool = False) -> None:
    """Decide orders from Kafka and publish decisions until stopped (SIGINT/SIGTERM).

    The rule set is loaded first, so a bad one stops the worker before it
    touches Kafka (:class:`~riskstream.assembly.AssemblyError`); so does a state
    directory that cannot take data (:class:`~riskstream.stream.storage.StateDirError`)."""
    from faust.worker import Worker

    from .app import create_app, ensure_internal_topics
    from .observe import configure_logging
    from .storage import check_state_dir

    configure_logging(log_json, log_level)
    path = check_state_dir(data_dir)  # before anything starts
    topics = Topics.from_env()
    graph = load_engine(rules).ruleset.graph  # a bad rule set stops here, before anything starts
    ensure_topics(bootstrap, topics)
    ensure_internal_topics(bootstrap, app_id, topics.partitions, graph.retention if graph is not None else None)
    app = create_app(bootstrap, topics=topics, data_dir=path, web_port=web_port, rules=rules, app_id=app_id,
                     model=model)
    runner = Worker(app, loglevel=log_level, override_logging=False, quiet=log_json)
    runner.spinner = None
    runner.execute_from_commandline()
