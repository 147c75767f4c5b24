"""The cluster's security settings in each client's terms: kafka-python, aiokafka and Faust.

One source, :class:`riskstream.settings.KafkaSecurity` (the ``RISKSTREAM_KAFKA_*``
settings), for the workers (Faust and their own aiokafka readers), the producer
helper, the verdict publisher, the rules and control topics and the console's
ingest.  A connection that fails on TLS or SASL says which, and what to check
(:func:`explain_failure`), instead of retrying quietly until a timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ..settings import KafkaSecurity, settings_from_env

__all__ = ["KafkaSecurityError", "aiokafka_options", "check_connection", "explain_failure", "explained",
           "faust_credentials", "kafka_client_options", "security", "ssl_context", "start_explained"]

T = TypeVar("T")


class KafkaSecurityError(RuntimeError):
    """The cluster refused this client's TLS or SASL settings (or they cannot be used)."""


def security(environ: Mapping[str, str] | None = None) -> KafkaSecurity:
    """The settings from ``environ`` (default: the process environment, through :class:`Settings`)."""
    if environ is None:
        return settings_from_env().kafka_security()
    return KafkaSecurity.from_env(environ)


def kafka_client_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """kafka-python keyword arguments for the cluster's security settings.

    Only settings present appear, so the result can be splatted into
    ``KafkaProducer``, ``KafkaConsumer`` or ``KafkaAdminClient`` as is; an empty
    dict means plaintext without authentication.  With TLS, ``ssl_context`` trusts
    ``RISKSTREAM_KAFKA_SSL_CAFILE`` (else the system's CAs) and checks host names.
    """
    sec = security(environ)
    options: dict[str, str] = {}
    if sec.security_protocol != "PLAINTEXT":
        options["security_protocol"] = sec.security_protocol
    if sec.sasl:
        assert sec.sasl_mechanism and sec.sasl_username and sec.sasl_password
        options["sasl_mechanism"] = sec.sasl_mechanism
        options["sasl_plain_username"] = sec.sasl_username
        options["sasl_plain_password"] = sec.sasl_password.get_secret_value()
    if sec.tls:
        # A context of our own, not ``ssl_cafile``: kafka-python builds its own with a protocol
        # constant Python deprecates, and the message would not name the setting at fault.
        options["ssl_context"] = ssl_context(sec)  # type: ignore[assignment]
    return options


def ssl_context(sec: KafkaSecurity) -> ssl.SSLContext:
    """A client TLS context trusting ``ssl_cafile`` (else the system's CAs), checking host names."""
    cafile = sec.ssl_cafile
    if cafile is not None and not os.path.isfile(cafile):
        raise KafkaSecurityError(f"RISKSTREAM_KAFKA_SSL_CAFILE: no such file: {cafile}")
    try:
        context = ssl.create_default_context(cafile=str(cafile) if cafile is not None else None)
    except ssl.SSLError as exc:
        raise KafkaSecurityError(f"RISKSTREAM_KAFKA_SSL_CAFILE: {cafile} is not a PEM CA bundle ({exc})") from None
    return context


def aiokafka_options(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """aiokafka keyword arguments (``AIOKafkaConsumer`` / ``AIOKafkaProducer``) for the same settings."""
    sec = security(environ)
    out: dict[str, Any] = {}
    if sec.security_protocol != "PLAINTEXT":
        out["security_protocol"] = sec.security_protocol
    if sec.sasl:
        assert sec.sasl_password is not None
        out.update(sasl_mechanism=sec.sasl_mechanism, sasl_plain_username=sec.sasl_username,
                   sasl_plain_password=sec.sasl_password.get_secret_value())
    if sec.tls:
        out["ssl_context"] = ssl_context(sec)
    return out


def faust_credentials(environ: Mapping[str, str] | None = None) -> Any:
    """Faust's ``broker_credentials`` for the settings (None: plaintext)."""
    import faust

    sec = security(environ)
    if sec.sasl:
        assert sec.sasl_password is not None
        return faust.SASLCredentials(username=sec.sasl_username, password=sec.sasl_password.get_secret_value(),
                                     mechanism=sec.sasl_mechanism, ssl_context=ssl_context(sec) if sec.tls else None)
    if sec.tls:
        return faust.SSLCredentials(ssl_context(sec))
    return None


def explain_failure(bootstrap: str, environ: Mapping[str, str] | None = None, timeout: float = 5.0) -> str | None:
    """Why the first broker of ``bootstrap`` refuses these settings, in a sentence (None: it does not).

    Checks the TLS handshake against the CA file, then SASL authentication, with a
    short timeout each, so a wrong CA or password is named rather than retried.
    """
    from kafka.conn import BrokerConnection
    from kafka.errors import KafkaError

    sec = security(environ)
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        raw = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as exc:
        return f"cannot reach the broker at {host}:{port}: {exc}"
    try:
        if sec.tls:
            try:
                context = ssl_context(sec)
                with context.wrap_socket(raw, server_hostname=host) as tls:
                    tls.settimeout(timeout)
            except KafkaSecurityError as exc:
                return str(exc)
            except ssl.SSLCertVerificationError as exc:
                where = sec.ssl_cafile or "the system's CAs"
                return (f"TLS: the broker's certificate at {host}:{port} is not trusted by {where} "
                        f"({exc.verify_message}); set RISKSTREAM_KAFKA_SSL_CAFILE to the CA that signed it")
            except (ssl.SSLError, OSError) as exc:
                return (f"TLS handshake with {host}:{port} failed ({exc}); "
                        f"is the listener {'SASL_SSL' if sec.sasl else 'SSL'}?")
    finally:
        raw.close()
    if not sec.sasl:
        return None
    options = kafka_client_options(environ)
    conn = BrokerConnection(host, int(port), socket.AF_UNSPEC, request_timeout_ms=int(timeout * 1000),
                            **options)
    try:
        conn.connect_blocking(timeout=timeout)
        if conn.connected():
            return None
        error = getattr(conn, "_sasl_auth_future", None)
        exc = error.exception if error is not None and error.failed() else None
    except KafkaError as failure:
        exc = failure
    finally:
        conn.close()
    detail = f" ({exc})" if exc else ""
    return (f"SASL {sec.sasl_mechanism} authentication of user {sec.sasl_username!r} at {host}:{port} failed"
            f"{detail}: check RISKSTREAM_KAFKA_SASL_USERNAME and RISKSTREAM_KAFKA_SASL_PASSWORD")


def check_connection(bootstrap: str, environ: Mapping[str, str] | None = None, timeout: float = 5.0) -> None:
    """Raise :class:`KafkaSecurityError` when the settings are refused (no-op for plaintext)."""
    if security(environ).security_protocol == "PLAINTEXT":
        return
    problem = explain_failure(bootstrap, environ, timeout)
    if problem is not None:
        raise KafkaSecurityError(problem)


def explained(factory: Callable[[], T], bootstrap: str, environ: Mapping[str, str] | None = None) -> T:
    """``factory()`` (a kafka-python client made), with a refused TLS or SASL setting named:
    kafka-python reports a wrong password as an incompatible broker version."""
    try:
        return factory()
    except Exception as exc:
        _raise_explained(exc, bootstrap, environ)
        raise


async def start_explained(client: Any, bootstrap: str, environ: Mapping[str, str] | None = None) -> None:
    """``await client.start()`` (an aiokafka client), with a refused TLS or SASL setting named:
    aiokafka reports either as "Unable to bootstrap"."""
    try:
        await client.start()
    except Exception as exc:
        await client.stop()
        if security(environ).security_protocol != "PLAINTEXT":
            loop = asyncio.get_running_loop()
            problem = await loop.run_in_executor(None, explain_failure, bootstrap, environ)
            if problem is not None:
                raise KafkaSecurityError(problem) from exc
        raise


def _raise_explained(exc: Exception, bootstrap: str, environ: Mapping[str, str] | None) -> None:
    if isinstance(exc, KafkaSecurityError) or security(environ).security_protocol == "PLAINTEXT":
        return
    problem = explain_failure(bootstrap, environ)
    if problem is not None:
        raise KafkaSecurityError(problem) from exc
