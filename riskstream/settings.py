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
========================  ==============================  =====================================
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
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


__all__ = ["BUNDLED_RULES", "DEV_SECRET", "Settings", "default_rules_path", "settings_from_env"]
