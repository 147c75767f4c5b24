"""Console fixtures: a SQLite case store and a real PostgreSQL server.

The PostgreSQL server is Debian's (package ``postgresql``; ``make test`` installs it
when missing), started by ``initdb`` and ``pg_ctl`` in a temporary directory on a
free port on 127.0.0.1, as the ``postgres`` user when the tests run as root
(PostgreSQL refuses to run as root), and stopped after the session.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskstream.console.store import CaseStore


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[CaseStore]:
    store = CaseStore.open(tmp_path / "cases.db")
    yield store
    store.close()


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        pytest.fail(f"{name} not found: install Debian's postgresql package (make test does)", pytrace=False)
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql+psycopg://`` URL of a throw-away server with an empty ``cases`` database."""
    root = Path(tempfile.mkdtemp(prefix="riskstream-pg-"))
    data, port = root / "data", _free_port()
    as_root = os.geteuid() == 0
    if as_root:
        import pwd

        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)

    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = ["runuser", "-u", "postgres", "--", *args] if as_root else list(args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    done = run(_pg_bin("initdb"), "-D", str(data), "-U", "riskstream", "--auth=trust", "-E", "UTF8")
    if done.returncode:
        pytest.fail(f"initdb failed:\n{done.stdout}\n{done.stderr}", pytrace=False)
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} -c fsync=off"
    done = run(_pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
    if done.returncode:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        pytest.fail(f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}\n{log}", pytrace=False)
    try:
        created = run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "riskstream", "cases")
        if created.returncode:
            pytest.fail(f"createdb failed:\n{created.stderr}", pytrace=False)
        yield f"postgresql+psycopg://riskstream@127.0.0.1:{port}/cases"
    finally:
        run(_pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)
