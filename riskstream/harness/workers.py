"""Stream workers as real processes, for runs against a real broker (tests, benchmarks, the demo)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from ..kafka.security import kafka_client_options
from ..kafka.topics import Topics

__all__ = ["WorkerProcess", "compressed_time_settings", "free_port", "group_stable"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WorkerProcess:
    """A ``riskstream worker`` subprocess on its own topics and consumer group."""

    def __init__(self, bootstrap: str, topics: Topics, app_id: str, data_dir: Path, rules: str,
                 settings: dict[str, str] | None = None):
        self.bootstrap, self.topics, self.app_id = bootstrap, topics, app_id
        self.data_dir, self.rules = data_dir, rules
        self.settings = settings or {}  # extra RISKSTREAM_* environment
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def env(self) -> dict[str, str]:
        t = self.topics
        return os.environ | {
            "RISKSTREAM_TOPIC_ORDERS": t.orders, "RISKSTREAM_TOPIC_DECISIONS": t.decisions,
            "RISKSTREAM_TOPIC_REVIEW": t.review, "RISKSTREAM_TOPIC_DLQ": t.dlq,
            "RISKSTREAM_TOPIC_VERDICTS": t.verdicts, "RISKSTREAM_TOPIC_RULES": t.rules,
            "RISKSTREAM_PARTITIONS": str(t.partitions),
        } | self.settings

    def start(self) -> None:
        self.starts += 1
        self.web_port = free_port()
        log = open(self.data_dir / f"worker-{self.starts}.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "riskstream.cli", "worker", "--bootstrap", self.bootstrap,
             "--web-port", str(self.web_port), "--data-dir", str(self.data_dir / "state"),
             "--app-id", self.app_id, "--rules", self.rules, "--log-level", os.environ.get("RISKSTREAM_TEST_LOG_LEVEL", "warning")],
            env=self.env(), stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until the worker's /health answers 200 (its agents run) and its
        consumer group is stable (partitions assigned), so it consumes at once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/health", timeout=2) as reply:
                    if reply.status == 200 and self._group_stable():
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"worker not ready after {timeout:.0f} s (logs in {self.data_dir})")

    def _group_stable(self) -> bool:
        return group_stable(self.bootstrap, self.app_id)

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def group_stable(bootstrap: str, group_id: str) -> bool:
    """Is consumer group ``group_id`` stable with members (partitions assigned)?"""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **kafka_client_options())
    try:
        (group,) = admin.describe_consumer_groups([group_id])
    except KafkaError:  # e.g. no group coordinator yet on a fresh broker
        return False
    except ValueError:  # kafka-python cannot read the authorized operations of a group not formed yet (bit 31)
        return False
    finally:
        admin.close()
    return group.state == "Stable" and bool(group.members)


def compressed_time_settings() -> dict[str, str]:
    """Worker settings for simulated traffic published faster than it happened.

    The simulator's day reaches the broker in seconds, so one second of skew
    between partitions is hours of event time - far beyond the production
    grace (300 s of event time, which is 300 s of real skew).  Orders later
    than the grace are still counted but no longer see exact windows, and
    their decisions may differ from replay's.  Two days of grace keep every
    window exact for a compressed day.
    """
    return {"RISKSTREAM_LATE_GRACE_SECONDS": str(2 * 86400)}
