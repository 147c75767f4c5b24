"""A secured local broker: a self-signed CA, the broker's keystore and SCRAM users.

``riskstream kafka up --secure`` keeps these in ``<data dir>/tls`` (made once, with
the JDK's ``keytool``; the CA's key never leaves ``ca.p12``)::

    ca.pem            the CA certificate clients trust (RISKSTREAM_KAFKA_SSL_CAFILE)
    ca.p12            the CA's key pair
    broker.p12        the broker's key and its certificate (CN and SAN 127.0.0.1, localhost), signed by the CA
    truststore.p12    the CA, for the broker's own inter-broker client
    credentials.json  store password and the SCRAM-SHA-512 users: the broker's own and the clients' (mode 0600)

The users are created when the storage is formatted (``kafka-storage format --add-scram``),
so a data directory first formatted without ``--secure`` cannot become secure.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import LocalKafkaError

MECHANISM = "SCRAM-SHA-512"
CLIENT_USER = "riskstream"
BROKER_USER = "broker"
VALIDITY_DAYS = "3650"


@dataclass(frozen=True)
class SecureFiles:
    """What a secured broker and its clients need."""

    directory: Path
    store_password: str
    client_password: str
    broker_password: str

    @property
    def ca_pem(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def keystore(self) -> Path:
        return self.directory / "broker.p12"

    @property
    def truststore(self) -> Path:
        return self.directory / "truststore.p12"

    def broker_properties(self, port: int, controller_port: int, host: str) -> dict[str, str]:
        """The listener settings: SASL_SSL for clients (and the broker itself), the controller on its own port."""
        jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{BROKER_USER}" '
                f'password="{self.broker_password}";')
        return {
            "listeners": f"SASL_SSL://{host}:{port},CONTROLLER://{host}:{controller_port}",
            "advertised.listeners": f"SASL_SSL://{host}:{port}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "SASL_SSL",
            "sasl.enabled.mechanisms": MECHANISM,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            f"listener.name.sasl_ssl.{MECHANISM.lower()}.sasl.jaas.config": jaas,
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.keystore),
            "ssl.keystore.password": self.store_password,
            "ssl.key.password": self.store_password,
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.location": str(self.truststore),
            "ssl.truststore.password": self.store_password,
            "ssl.client.auth": "none",
        }

    def scram_arguments(self) -> list[str]:
        """``kafka-storage format`` arguments creating the two users."""
        return ["--add-scram", f"{MECHANISM}=[name={BROKER_USER},password={self.broker_password}]",
                "--add-scram", f"{MECHANISM}=[name={CLIENT_USER},password={self.client_password}]"]

    def client_environment(self, bootstrap: str) -> dict[str, str]:
        """The ``RISKSTREAM_*`` settings a riskstream client uses against this broker."""
        return {
            "RISKSTREAM_BOOTSTRAP": bootstrap,
            "RISKSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "RISKSTREAM_KAFKA_SASL_MECHANISM": MECHANISM,
            "RISKSTREAM_KAFKA_SASL_USERNAME": CLIENT_USER,
            "RISKSTREAM_KAFKA_SASL_PASSWORD": self.client_password,
            "RISKSTREAM_KAFKA_SSL_CAFILE": str(self.ca_pem),
        }

    def client_options(self) -> dict[str, object]:
        """kafka-python keywords for this broker (the launcher's own readiness probe)."""
        import ssl

        return {"security_protocol": "SASL_SSL", "sasl_mechanism": MECHANISM, "sasl_plain_username": CLIENT_USER,
                "sasl_plain_password": self.client_password,
                "ssl_context": ssl.create_default_context(cafile=str(self.ca_pem))}


def shell_exports(environment: dict[str, str]) -> str:
    """``export NAME=value`` lines, for ``eval "$(riskstream kafka up --secure)"``."""
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in environment.items())


def load(directory: Path) -> SecureFiles | None:
    """The secure files made earlier in ``directory``, or None."""
    try:
        data = json.loads((directory / "credentials.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LocalKafkaError(f"{directory / 'credentials.json'} is unreadable ({exc}); remove {directory} "
                              "and the broker's data directory to start afresh") from None
    files = SecureFiles(directory, data["store_password"], data["client_password"], data["broker_password"])
    for path in (files.ca_pem, files.keystore, files.truststore):
        if not path.is_file():
            raise LocalKafkaError(f"{path} is missing; remove {directory} and the broker's data directory "
                                  "to start afresh")
    return files


def ensure(directory: Path, keytool: str, log=lambda message: None) -> SecureFiles:
    """The CA, the broker's keystore and truststore, and the SCRAM passwords (made when missing)."""
    found = load(directory)
    if found is not None:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    files = SecureFiles(directory, secrets.token_urlsafe(18), secrets.token_urlsafe(18), secrets.token_urlsafe(18))
    password = files.store_password
    ca = directory / "ca.p12"
    csr, signed = directory / "broker.csr", directory / "broker.pem"
    for path in (ca, files.keystore, files.truststore, files.ca_pem, csr, signed):
        path.unlink(missing_ok=True)
    log(f"making a self-signed CA and the broker's certificate in {directory} (keytool)")
    key = ["-keyalg", "RSA", "-keysize", "2048", "-validity", VALIDITY_DAYS, "-storetype", "PKCS12"]
    steps = [
        ["-genkeypair", "-alias", "ca", "-dname", "CN=riskstream local CA", "-ext", "bc:c", *key,
         "-keystore", str(ca), "-storepass", password, "-keypass", password],
        ["-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca), "-storepass", password,
         "-file", str(files.ca_pem)],
        ["-genkeypair", "-alias", "broker", "-dname", "CN=127.0.0.1", *key,
         "-keystore", str(files.keystore), "-storepass", password, "-keypass", password],
        ["-certreq", "-alias", "broker", "-keystore", str(files.keystore), "-storepass", password,
         "-file", str(csr)],
        ["-gencert", "-rfc", "-alias", "ca", "-keystore", str(ca), "-storepass", password, "-infile", str(csr),
         "-outfile", str(signed), "-validity", VALIDITY_DAYS, "-ext", "SAN=ip:127.0.0.1,dns:localhost",
         "-ext", "KU=digitalSignature,keyEncipherment", "-ext", "EKU=serverAuth,clientAuth"],
        ["-importcert", "-noprompt", "-alias", "ca", "-file", str(files.ca_pem), "-keystore", str(files.keystore),
         "-storepass", password],
        ["-importcert", "-noprompt", "-alias", "broker", "-file", str(signed), "-keystore", str(files.keystore),
         "-storepass", password],
        ["-importcert", "-noprompt", "-alias", "ca", "-file", str(files.ca_pem), "-keystore", str(files.truststore),
         "-storetype", "PKCS12", "-storepass", password],
    ]
    for step in steps:
        proc = subprocess.run([keytool, *step], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise LocalKafkaError(f"keytool {step[0]} failed (exit {proc.returncode}): "
                                  f"{(proc.stdout + proc.stderr).strip()[-2000:]}")
    csr.unlink(missing_ok=True)
    credentials = directory / "credentials.json"
    fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"store_password": files.store_password, "client_password": files.client_password,
                   "broker_password": files.broker_password, "mechanism": MECHANISM, "user": CLIENT_USER}, handle,
                  indent=2)
    return files


def find_keytool(java: str) -> str:
    """The JDK's keytool beside ``java``, else on PATH."""
    beside = Path(java).resolve().parent / "keytool"
    if beside.is_file():
        return str(beside)
    from shutil import which

    found = which("keytool")
    if not found:
        raise LocalKafkaError("keytool (the JDK's) is not found beside java or on PATH; it makes the local CA")
    return found
