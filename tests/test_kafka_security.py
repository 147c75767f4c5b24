"""The RISKSTREAM_KAFKA_* settings in each client's terms (the secured broker's tests are in tests/integration)."""

from __future__ import annotations

import ssl

import faust
import pytest

from riskstream.kafka.security import KafkaSecurityError, aiokafka_options, faust_credentials, kafka_client_options
from riskstream.settings import KafkaSecurity, settings_from_env

SASL_SSL = {"RISKSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "RISKSTREAM_KAFKA_SASL_USERNAME": "riskstream",
            "RISKSTREAM_KAFKA_SASL_PASSWORD": "pw"}


def test_plaintext_by_default():
    assert kafka_client_options({}) == {} and aiokafka_options({}) == {} and faust_credentials({}) is None


def test_sasl_needs_a_user_and_password_and_a_known_mechanism():
    with pytest.raises(ValueError, match="RISKSTREAM_KAFKA_SASL_USERNAME and RISKSTREAM_KAFKA_SASL_PASSWORD"):
        KafkaSecurity.from_env({"RISKSTREAM_KAFKA_SECURITY_PROTOCOL": "sasl_ssl"})
    with pytest.raises(ValueError, match="RISKSTREAM_KAFKA_SASL_MECHANISM must be one of"):
        KafkaSecurity.from_env(SASL_SSL | {"RISKSTREAM_KAFKA_SASL_MECHANISM": "GSSAPI"})
    security = KafkaSecurity.from_env(SASL_SSL)
    assert security.sasl_mechanism == "SCRAM-SHA-512" and "pw" not in repr(security)


def test_every_client_gets_the_same_settings():
    options = aiokafka_options(SASL_SSL)
    assert isinstance(options.pop("ssl_context"), ssl.SSLContext)
    assert options == {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                       "sasl_plain_username": "riskstream", "sasl_plain_password": "pw"}
    credentials = faust_credentials(SASL_SSL)
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL" and credentials.mechanism.value == "SCRAM-SHA-512"
    assert isinstance(faust_credentials({"RISKSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL"}), faust.SSLCredentials)
    plain_sasl = faust_credentials(SASL_SSL | {"RISKSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"})
    assert plain_sasl.protocol.value == "SASL_PLAINTEXT" and plain_sasl.ssl_context is None


def test_a_missing_or_bad_ca_file_is_named(tmp_path):
    with pytest.raises(KafkaSecurityError, match="RISKSTREAM_KAFKA_SSL_CAFILE: no such file"):
        aiokafka_options(SASL_SSL | {"RISKSTREAM_KAFKA_SSL_CAFILE": str(tmp_path / "ca.pem")})
    (tmp_path / "ca.pem").write_text("not a certificate")
    with pytest.raises(KafkaSecurityError, match="is not a PEM CA bundle"):
        kafka_client_options(SASL_SSL | {"RISKSTREAM_KAFKA_SSL_CAFILE": str(tmp_path / "ca.pem")})


def test_the_settings_catalogue_reads_the_environment(monkeypatch):
    for name, value in SASL_SSL.items():
        monkeypatch.setenv(name, value)
    security = settings_from_env().kafka_security()
    assert security.security_protocol == "SASL_SSL" and security.sasl_password.get_secret_value() == "pw"
    assert kafka_client_options()["sasl_plain_password"] == "pw"
