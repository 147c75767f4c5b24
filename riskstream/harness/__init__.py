"""Helpers for live runs against a real broker: worker processes, paced traffic, comparison with replay.

The integration tests, the benchmarks, the kill test and the demo all run
workers as real processes (:class:`WorkerProcess`), publish simulated orders at
a pace (:func:`publish_paced`), read back every decision
(:func:`first_and_final`, :class:`DecisionTally`) and compare the final
decisions with replay's (:func:`replay_final`, :func:`same_time_ties`); long-running
commands run as processes read line by line (:class:`CommandProcess`).
"""

from .command import CommandProcess
from .compare import describe_difference, replay_final, same_time_ties
from .traffic import DecisionTally, first_and_final, first_records, publish_paced, read_records
from .workers import WorkerProcess, compressed_time_settings, free_port, group_stable

__all__ = [
    "CommandProcess",
    "DecisionTally",
    "WorkerProcess",
    "compressed_time_settings",
    "describe_difference",
    "first_and_final",
    "first_records",
    "free_port",
    "group_stable",
    "publish_paced",
    "read_records",
    "replay_final",
    "same_time_ties",
]
