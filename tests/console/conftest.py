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


PASSWORD = "correct horse battery"
SECRET = "a-test-secret-of-enough-length"


def refuse_publish(verdict):
    raise AssertionError(f"this test must not publish a verdict, got {verdict.to_dict()}")


@pytest.fixture(scope="session")
def filled_store_file(replayed, tmp_path_factory) -> Path:
    """A SQLite case store with the replayed sale's cases and one user per role (name = role), built once."""
    from riskstream.console.auth import add_user
    from riskstream.console.ingest import CaseIngest

    path = tmp_path_factory.mktemp("filled") / "cases.db"
    with CaseStore.open(path) as store:
        CaseIngest(store).ingest(replayed[1])
        with store.session() as session:
            for role in ("reviewer", "lead", "analyst", "admin"):
                add_user(session, role, PASSWORD, role)
    return path


@pytest.fixture
def filled_store(filled_store_file, tmp_path) -> Iterator[CaseStore]:
    """A fresh copy of :func:`filled_store_file` for one test."""
    copy = tmp_path / "cases.db"
    shutil.copyfile(filled_store_file, copy)
    store = CaseStore.open(copy)
    yield store
    store.close()


def make_client(store: CaseStore, publish=refuse_publish, **options):
    from starlette.testclient import TestClient

    from riskstream.console.app import ConsoleConfig, create_app

    return TestClient(create_app(ConsoleConfig(store=store, secret=SECRET, publish=publish, **options)),
                      follow_redirects=False)


def csrf_of(html: str) -> str:
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def log_in(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"username": username, "password": password, "csrf": csrf_of(page.text)})


@pytest.fixture
def console_kit():
    """Helpers for console tests: ``make_client``, ``log_in`` and ``csrf_of``."""
    return make_client, log_in, csrf_of


def _old_store(path, revision: str, *statements: str) -> None:
    """A SQLite store migrated up to ``revision`` only, with rows put in by ``statements``."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    from riskstream.console.store import MIGRATIONS

    engine = create_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


@pytest.fixture(scope="session")
def old_store():
    """``old_store(path, revision, *statements)``: a SQLite store migrated up to ``revision`` only, with rows."""
    return _old_store
