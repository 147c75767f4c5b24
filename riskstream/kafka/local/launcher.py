"""Start, probe and stop a single-node KRaft Kafka broker for development and CI.

Layout of the data directory (default ``<root>/var/kafka``)::

    server.properties   written on every start
    log4j*.properties   console logging config
    data/               log.dirs (formatted once, holds meta.properties)
    kafka.log           broker output (the previous run's is kafka.log.1)
    kafka.pid           pid of the running broker
    state.json          port, version and cluster id of the running broker
    tls/                with ``secure``: the CA, the broker's keystore and the SCRAM users (see .tls)

A secure broker (``LocalKafka(secure=True)``, ``riskstream kafka up --secure``; default
data directory ``<root>/var/kafka-secure``) listens with SASL_SSL only: SCRAM-SHA-512 over
TLS with a certificate signed by its own CA.  :meth:`LocalKafka.client_environment` gives
the client settings.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from . import config, jars, tls
from .errors import LocalKafkaError
from .protocol import BrokerInfo, ProbeError, port_in_use, probe

PORT_ENV = "RISKSTREAM_KAFKA_PORT"
DEFAULT_PORT = 9092
LOG_TAIL_LINES = 30


def find_root(start: Path | None = None) -> Path:
    """Project root: ``$RISKSTREAM_ROOT``, else the nearest directory up from
    ``start`` (default: the current directory) holding ``pyproject.toml`` or ``.git``."""
    if os.environ.get("RISKSTREAM_ROOT"):
        return Path(os.environ["RISKSTREAM_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file() or (candidate / ".git").exists():
            return candidate
    return here


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pid_alive(pid: int) -> bool:
    """True when ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


class LocalKafka:
    """A Kafka broker (KRaft, broker + controller in one JVM) on 127.0.0.1."""

    def __init__(
        self,
        root: Path | str | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        data_dir: Path | str | None = None,
        version: str | None = None,
        heap: str | None = None,
        overrides: dict[str, str] | None = None,
        log: Callable[[str], None] = _stderr,
        secure: bool = False,
    ) -> None:
        self.root = Path(root).resolve() if root else find_root()
        env_port = os.environ.get(PORT_ENV)
        self._port_explicit = port is not None or bool(env_port)
        self.port = int(port if port is not None else env_port or DEFAULT_PORT)
        self.controller_port = controller_port or self.port + 1
        if self.controller_port == self.port:
            raise LocalKafkaError(
                f"client and controller ports must differ (both {self.port})"
            )
        self.data_dir = (
            Path(data_dir).resolve() if data_dir
            else self.root / "var" / ("kafka-secure" if secure else "kafka")
        )
        self.tls_dir = self.data_dir / "tls"
        # A data directory made secure stays secure: its storage holds the SCRAM users.
        self.secure_files = tls.load(self.tls_dir)
        self.secure = secure or self.secure_files is not None
        self.version = (
            version
            or os.environ.get("RISKSTREAM_KAFKA_VERSION")
            or jars.DEFAULT_KAFKA_VERSION
        )
        self.major = jars.major_version(self.version)
        self.heap = heap or os.environ.get("RISKSTREAM_KAFKA_HEAP") or "512m"
        self.overrides = dict(overrides or {})
        self.log = log
        self.log_dir = self.data_dir / "data"
        self.properties_file = self.data_dir / "server.properties"
        self.log_file = self.data_dir / "kafka.log"
        self.pid_file = self.data_dir / "kafka.pid"
        self.state_file = self.data_dir / "state.json"

    # -- public API -------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``HOST:PORT`` clients connect to."""
        return f"{config.HOST}:{self.port}"

    def up(self, timeout: float = 120) -> str:
        """Start the broker unless it already runs; return its bootstrap address."""
        with self._locked():
            pid, state = self._running()
            if pid is not None:
                return self._adopt(pid, state, timeout)
            self._clear_run_files()
            java = jars.find_java()
            jars.check_java(java, self.version)
            lib = jars.ensure_jars(self.root, self.version, log=self.log)
            if self.secure and self.secure_files is None:
                if config.read_meta_cluster_id(self.log_dir):
                    raise LocalKafkaError(
                        f"{self.log_dir} was formatted without --secure (it has no SCRAM users); "
                        "use another --data-dir for a secure broker")
                self.secure_files = tls.ensure(self.tls_dir, tls.find_keytool(java), log=self.log)
            self._check_ports()
            self._write_config()
            cluster_id = self._format(java, lib)
            pid = self._spawn(java, lib)
            self._write_state(pid, cluster_id)
            self._wait_ready(pid, cluster_id, timeout)
            return self.bootstrap

    def client_environment(self) -> dict[str, str]:
        """The ``RISKSTREAM_*`` client settings for this broker (just the bootstrap when not secure)."""
        if self.secure_files is None:
            return {"RISKSTREAM_BOOTSTRAP": self.bootstrap}
        return self.secure_files.client_environment(self.bootstrap)

    def down(self, timeout: float = 30) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout``); True if it ran."""
        with self._locked():
            pid, _ = self._running()
            if pid is None:
                self._clear_run_files()
                return False
            self.log(f"stopping Kafka broker (pid {pid})")
            _signal(pid, signal.SIGTERM)
            if not self._wait_exit(pid, timeout):
                self.log(f"broker did not stop within {timeout:g}s; sending SIGKILL")
                _signal(pid, signal.SIGKILL)
                if not self._wait_exit(pid, 10):
                    raise LocalKafkaError(f"broker pid {pid} survived SIGKILL")
            self._clear_run_files()
            return True

    def kill(self) -> bool:
        """SIGKILL the broker at once, as a crash would (fault tests); True if it ran.
        Its data stays: :meth:`up` starts it again on the same log."""
        with self._locked():
            pid, _ = self._running()
            if pid is None:
                return False
            _signal(pid, signal.SIGKILL)
            if not self._wait_exit(pid, 10):
                raise LocalKafkaError(f"broker pid {pid} survived SIGKILL")
            self._clear_run_files()
            return True

    def status(self) -> dict:
        """Broker status: ``running`` is True only when the process lives *and*
        answers; ``pid`` is set whenever our broker process lives (maybe still
        starting)."""
        pid, state = self._running()
        port = int(state.get("port", self.port)) if pid else self.port
        info = self._probe(port) if pid else None
        return {
            "running": info is not None,
            "pid": pid,
            "bootstrap": f"{config.HOST}:{port}",
            "version": state.get("version", self.version) if pid else self.version,
            "cluster_id": state.get("cluster_id")
            if pid
            else config.read_meta_cluster_id(self.log_dir),
            "data_dir": str(self.data_dir),
            "log_file": str(self.log_file),
            "secure": self.secure,
        }

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the broker log (empty if there is none)."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- running-state bookkeeping ---------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _running(self) -> tuple[int | None, dict]:
        """Pid and state of a live broker started from this data dir, if any."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None, {}
        if not self._is_our_broker(pid):
            return None, {}
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            state = {}
        return pid, state

    def _is_our_broker(self, pid: int) -> bool:
        if not pid_alive(pid):
            return False
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            return not Path("/proc/self").exists()  # no procfs: trust the pid file
        except OSError:
            return False
        return b"kafka.Kafka" in args and str(self.properties_file).encode() in args

    def _adopt(self, pid: int, state: dict, timeout: float) -> str:
        running_port = int(state.get("port", self.port))
        if running_port != self.port:
            if self._port_explicit:
                raise LocalKafkaError(
                    f"the broker in {self.data_dir} already runs on {config.HOST}:{running_port} "
                    f"(pid {pid}); stop it first to move it to port {self.port}"
                )
            self.port = running_port
            self.controller_port = int(state.get("controller_port", running_port + 1))
        self._wait_ready(pid, state.get("cluster_id"), timeout)
        return self.bootstrap

    def _write_state(self, pid: int, cluster_id: str) -> None:
        self.pid_file.write_text(f"{pid}\n")
        state = {
            "pid": pid,
            "port": self.port,
            "controller_port": self.controller_port,
            "bootstrap": self.bootstrap,
            "version": self.version,
            "cluster_id": cluster_id,
            "started_at": time.time(),
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")

    def _clear_run_files(self) -> None:
        for path in (self.pid_file, self.state_file):
            path.unlink(missing_ok=True)

    # -- starting ----------------------------------------------------------

    def _probe(self, port: int, timeout: float = 2.0) -> BrokerInfo | None:
        try:
            if self.secure_files is not None:
                return _probe_secure(config.HOST, port, self.secure_files.client_options(), timeout)
            return probe(config.HOST, port, timeout=timeout)
        except OSError:
            return None

    def _check_ports(self) -> None:
        for name, port in (("client", self.port), ("controller", self.controller_port)):
            if not port_in_use(config.HOST, port):
                continue
            info = self._probe(port, timeout=1.0)
            if info is None:
                who = "another process"
            elif info.cluster_id == config.read_meta_cluster_id(self.log_dir):
                who = f"a broker of {self.data_dir} whose pid file is gone (stop it by hand)"
            else:
                who = f"another Kafka broker (cluster {info.cluster_id}) not started from {self.data_dir}"
            raise LocalKafkaError(
                f"{name} port {config.HOST}:{port} is already in use by {who}; "
                f"pick another port (--port / ${PORT_ENV}) or stop it "
                f"(see: ss -ltnp 'sport = :{port}')"
            )

    def _write_config(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        overrides = {}
        if self.secure_files is not None:
            overrides.update(self.secure_files.broker_properties(self.port, self.controller_port, config.HOST))
        overrides.update(self.overrides)
        props = config.broker_properties(
            self.port, self.controller_port, self.log_dir, self.major, overrides
        )
        self.properties_file.write_text(
            config.render_properties(props), encoding="utf-8"
        )
        name, content = config.logging_config(self.major)
        (self.data_dir / name).write_text(content, encoding="utf-8")

    def _java_base(self, java: str, lib: Path, heap: str) -> list[str]:
        name, _ = config.logging_config(self.major)
        return [
            java,
            f"-Xmx{heap}",
            config.logging_jvm_flag(self.major, self.data_dir / name),
            "-cp",
            str(lib / "*"),
        ]

    def _format(self, java: str, lib: Path) -> str:
        """Format the storage directory on first use; return the cluster id."""
        existing = config.read_meta_cluster_id(self.log_dir)
        if existing:
            return existing
        cluster_id = config.random_cluster_id()
        self.log(f"formatting {self.log_dir} (cluster id {cluster_id})")
        cmd = self._java_base(java, lib, "256m") + [
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(self.properties_file),
        ]
        if self.secure_files is not None:
            cmd += self.secure_files.scram_arguments()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, cwd=self.data_dir, check=False
        )
        if (
            proc.returncode != 0
            or config.read_meta_cluster_id(self.log_dir) != cluster_id
        ):
            output = "\n".join(
                (proc.stdout + proc.stderr).strip().splitlines()[-LOG_TAIL_LINES:]
            )
            raise LocalKafkaError(
                f"formatting {self.log_dir} failed (exit {proc.returncode}):\n{output}"
            )
        return cluster_id

    def _spawn(self, java: str, lib: Path) -> int:
        """Launch the broker detached (own session, reparented) and return its pid."""
        if self.log_file.exists():
            self.log_file.replace(self.log_file.with_name(self.log_file.name + ".1"))
        cmd = self._java_base(java, lib, self.heap)
        cmd[2:2] = config.JVM_OPTIONS
        cmd += ["kafka.Kafka", str(self.properties_file)]
        # sh starts the JVM in the background and exits, so the broker is not our
        # child: it outlives this process and never lingers as our zombie.
        script = '"$@" </dev/null >>"$0" 2>&1 &\necho $!'
        self.log(
            f"starting Kafka {self.version} on {self.bootstrap} (log: {self.log_file})"
        )
        proc = subprocess.run(
            ["sh", "-c", script, str(self.log_file), *cmd],
            capture_output=True,
            text=True,
            cwd=self.data_dir,
            start_new_session=True,
            check=False,
        )
        try:
            return int(proc.stdout.strip())
        except ValueError:
            raise LocalKafkaError(
                f"could not start the JVM: {proc.stderr.strip()}"
            ) from None

    def _wait_ready(self, pid: int, cluster_id: str | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not pid_alive(pid):
                self._clear_run_files()
                raise LocalKafkaError(
                    f"Kafka broker (pid {pid}) exited during startup; last lines of "
                    f"{self.log_file}:\n{self.log_tail()}"
                )
            info = self._probe(self.port)
            if info is not None and (
                cluster_id is None or info.cluster_id == cluster_id
            ):
                return
            if time.monotonic() >= deadline:
                tail = self.log_tail()
                self.log(f"broker not answering after {timeout:g}s; stopping it")
                _signal(pid, signal.SIGKILL)
                self._wait_exit(pid, 10)
                self._clear_run_files()
                raise LocalKafkaError(
                    f"Kafka broker did not answer on {self.bootstrap} within {timeout:g}s; "
                    f"last lines of {self.log_file}:\n{tail}"
                )
            time.sleep(0.25)

    @staticmethod
    def _wait_exit(pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while pid_alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


def _probe_secure(host: str, port: int, options: dict[str, object], timeout: float) -> BrokerInfo:
    """:func:`.protocol.probe` for a SASL_SSL listener, through kafka-python (TLS and SCRAM)."""
    import logging

    from kafka import KafkaAdminClient

    quiet = logging.getLogger("kafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # refused connections while the broker starts are expected
    try:
        # Any failure is "not answering yet": an exception escaping the wait would leave the broker running.
        try:
            admin = KafkaAdminClient(bootstrap_servers=f"{host}:{port}", client_id="riskstream-localkafka",
                                     request_timeout_ms=int(timeout * 1000),
                                     api_version_auto_timeout_ms=int(timeout * 1000), **options)
        except Exception as exc:
            raise ProbeError(f"secure probe of {host}:{port} failed: {exc}") from None
        try:
            info = admin.describe_cluster()
        except Exception as exc:
            raise ProbeError(f"secure probe of {host}:{port} failed: {exc}") from None
        finally:
            admin.close()
    finally:
        quiet.setLevel(level)
    brokers = tuple((b["node_id"], b["host"], b["port"]) for b in info.get("brokers", ()))
    if not brokers:
        raise ProbeError("broker answered but lists no live brokers yet")
    return BrokerInfo(info.get("cluster_id"), info.get("controller_id", -1), brokers, 0)
