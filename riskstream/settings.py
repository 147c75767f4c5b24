"""One typed catalogue of settings, each with its ``RISKSTREAM_*`` environment variable.

========================  ==============================  =====================================
setting                   environment variable            default
========================  ==============================  =====================================
rules                     RISKSTREAM_RULES                ./rules if present, else bundled
pseudonym_key             RISKSTREAM_PSEUDONYM_KEY        a development key (set it in production)
phone_region              RISKSTREAM_PHONE_REGION         CN
late_grace_seconds        RISKSTREAM_LATE_GRACE_SECONDS   300
dedup_horizon_seconds     RISKSTREAM_DEDUP_HORIZON_SECONDS 86400
model                     RISKSTREAM_MODEL                none: rules alone (models/NAME.skops)
model_reload_seconds      RISKSTREAM_MODEL_RELOAD_SECONDS 5 (workers check the model's metadata)
max_ahead_seconds         RISKSTREAM_MAX_AHEAD_SECONDS    300 (orders stamped later are refused)
window_key_cap            RISKSTREAM_WINDOW_KEY_CAP       1000000 keys per window (oldest evicted)
kafka_security_protocol   RISKSTREAM_KAFKA_SECURITY_PROTOCOL PLAINTEXT (SSL, SASL_PLAINTEXT, SASL_SSL)
kafka_sasl_mechanism      RISKSTREAM_KAFKA_SASL_MECHANISM SCRAM-SHA-512 with SASL (or -256, PLAIN)
kafka_sasl_username       RISKSTREAM_KAFKA_SASL_USERNAME  none (required with SASL)
kafka_sasl_password       RISKSTREAM_KAFKA_SASL_PASSWORD  none (required with SASL)
kafka_ssl_cafile          RISKSTREAM_KAFKA_SSL_CAFILE     the system's CAs (PEM bundle of the brokers' CA)
========================  ==============================  =====================================
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_RULES = PACKAGE_DIR / "default_rules"
#: The pseudonym key of development and tests; production sets RISKSTREAM_PSEUDONYM_KEY.
DEV_SECRET = b"riskstream-development-pseudonym-key"
DEV_PSEUDONYM_KEY = DEV_SECRET.decode()


def default_rules_path() -> Path:
    """``./rules`` where it exists (an analysts' checkout), else the bundled defaults."""
    local = Path.cwd() / "rules"
    return local if local.is_dir() else BUNDLED_RULES


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_KAFKA_ENV = {
    "security_protocol": "RISKSTREAM_KAFKA_SECURITY_PROTOCOL",
    "sasl_mechanism": "RISKSTREAM_KAFKA_SASL_MECHANISM",
    "sasl_username": "RISKSTREAM_KAFKA_SASL_USERNAME",
    "sasl_password": "RISKSTREAM_KAFKA_SASL_PASSWORD",
    "ssl_cafile": "RISKSTREAM_KAFKA_SSL_CAFILE",
}


class KafkaSecurity(BaseModel):
    """How every riskstream client (workers, producer helper, consumers, console) talks to Kafka."""

    model_config = {"frozen": True}

    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.strip().upper() or None if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> "KafkaSecurity":
        env = _KAFKA_ENV
        if self.security_protocol is None or self.security_protocol not in SECURITY_PROTOCOLS:
            raise ValueError(f"{env['security_protocol']} must be one of {', '.join(SECURITY_PROTOCOLS)}, "
                             f"got {self.security_protocol!r}")
        if self.sasl:
            if self.sasl_mechanism is None:
                object.__setattr__(self, "sasl_mechanism", "SCRAM-SHA-512")
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise ValueError(f"{env['sasl_mechanism']} must be one of {', '.join(SASL_MECHANISMS)}, "
                                 f"got {self.sasl_mechanism!r}")
            missing = [env[name] for name in ("sasl_username", "sasl_password") if not getattr(self, name)]
            if missing:
                raise ValueError(f"{self.security_protocol} needs {' and '.join(missing)}")
        return self

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_env(cls, environ) -> "KafkaSecurity":
        """From ``RISKSTREAM_KAFKA_*`` in ``environ`` (a mapping); unset or blank values are left out."""
        values = {}
        for name, variable in _KAFKA_ENV.items():
            value = environ.get(variable, "")
            if name != "sasl_password":
                value = value.strip()
            if value:
                values[name] = value
        return cls(**values)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RISKSTREAM_", frozen=True)

    rules: Path | None = Field(None, description="rule file or directory")
    pseudonym_key: str = Field(DEV_PSEUDONYM_KEY, description="secret for keyed-HMAC pseudonyms of entity values")
    phone_region: str = Field("CN", description="region assumed for phone numbers without a country code")
    late_grace_seconds: float = Field(300.0, ge=0, description="how late an order may arrive and still see exact windows")
    dedup_horizon_seconds: float = Field(86400.0, gt=0, description="how long an order id is remembered")
    model: Path | None = Field(None, description="anomaly model artefact (models/NAME.skops); none: rules alone")
    model_reload_seconds: float = Field(5.0, gt=0, description="how often workers look for a new model version")
    max_ahead_seconds: float = Field(
        300.0, ge=0, description="how far ahead of the wall clock an order's event time may be (else dead-lettered)")
    window_key_cap: int = Field(
        1_000_000, ge=1, description="keys one velocity window holds at most; beyond, the stalest are evicted")

    kafka_security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    kafka_sasl_mechanism: str | None = Field(None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (the default)")
    kafka_sasl_username: str | None = Field(None, description="SASL user")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password")
    kafka_ssl_cafile: Path | None = Field(None, description="PEM file of the CA that signed the brokers' certificates")

    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(security_protocol=self.kafka_security_protocol, sasl_mechanism=self.kafka_sasl_mechanism,
                             sasl_username=self.kafka_sasl_username, sasl_password=self.kafka_sasl_password,
                             ssl_cafile=self.kafka_ssl_cafile)

    @cached_property
    def rules_path(self) -> Path:
        return self.rules if self.rules is not None else default_rules_path()

    @property
    def secret(self) -> bytes:
        return self.pseudonym_key.encode()

    def engine_options(self) -> dict:
        return {
            "secret": self.secret,
            "phone_region": self.phone_region,
            "grace": self.late_grace_seconds,
            "dedup_horizon": self.dedup_horizon_seconds,
            "window_key_cap": self.window_key_cap,
        }


def settings_from_env() -> Settings:
    return Settings()  # type: ignore[call-arg]


__all__ = ["BUNDLED_RULES", "DEV_SECRET", "SASL_MECHANISMS", "SECURITY_PROTOCOLS", "KafkaSecurity", "Settings", "default_rules_path", "settings_from_env"]
