"""A ``riskstream`` command run as a process whose output is read line by line as it comes.

For long-running commands (``riskstream rules watch``) that a test or a demo
drives from outside: start it, wait for the line that says a step is done,
stop it with Ctrl-C (SIGINT) as a person would.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time


class CommandProcess:
    """``python -m riskstream.cli ARGS``, stdout and stderr merged; :meth:`until` waits for a line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "riskstream.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=os.environ | {"PYTHONWARNINGS": "error"} | (env or {}))
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []  #: every line read so far
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def until(self, prefix: str, timeout: float = 30.0) -> list[str]:
        """The lines read from now up to and including the first that starts with ``prefix``."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            got.append(line)
            self.seen.append(line)
            if line.startswith(prefix):
                return got
        raise AssertionError(f"no line starting {prefix!r} within {timeout} s; read {got}")

    def interrupt(self, timeout: float = 10.0) -> int:
        """Ctrl-C, wait for the exit, and return its code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._pump.join(timeout=5)
            self.process.stdout.close()
        return code
